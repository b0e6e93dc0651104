"""A title for an article that came without one.

HTML declares it (og:title, <title>, h1: trafilatura's metadata). Plain text does not: there the
title is the heading-like line shortly before the body that shares the most words with the body
(site names, section labels and datelines above the body share few).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from canonry.workers.clean import rules

LOOKBACK = 12
MIN_WORDS, MAX_WORDS = 3, 30
MIN_OVERLAP = 0.4
_CONTENT = re.compile(r"\w{3,}")
_BYLINE = re.compile(r"^(?:by|von|par|por|di|door|av|af)\s", re.IGNORECASE)
MIN_MATCHED = 2


def _content_words(text: str) -> list[str]:
    return [w for w in _CONTENT.findall(text.lower()) if not w.isdigit()]


def _heading_like(line: str) -> bool:
    words = rules.WORD.findall(line)
    if not MIN_WORDS <= len(words) <= MAX_WORDS or len(line) > 250:
        return False
    if line.endswith((".", ":", ",", ";")) and not line.endswith("..."):
        return False
    if _BYLINE.match(line):
        return False
    return not (
        rules.is_boilerplate(line) or rules.is_end_marker(line) or rules.is_date_line(line)
    )


def title_from_lines(before: Sequence[str], body: str) -> str | None:
    """Pick the title among the lines `before` the body (nearest last)."""
    found = title_index(before, body)
    return before[found] if found is not None else None


def title_index(before: Sequence[str], body: str) -> int | None:
    """The index in `before` of the title `title_from_lines` picks (compare normalised lines,
    then take the line as written at that index)."""
    body_words = set(_content_words(body))
    if not body_words:
        return None
    best: tuple[float, int] | None = None
    offset = max(0, len(before) - LOOKBACK)
    candidates = list(before)[offset:]
    for pos, line in enumerate(candidates):
        if not _heading_like(line):
            continue
        words = _content_words(line)
        if not words:
            continue
        matched = sum(w in body_words for w in words)
        overlap = matched / len(words)
        if overlap < MIN_OVERLAP or matched < MIN_MATCHED:
            continue
        # A long line that the body echoes well beats a short one; ties go nearer the body.
        score = (matched * overlap, pos)
        if best is None or score >= best:
            best = score
    return offset + best[1] if best is not None else None
