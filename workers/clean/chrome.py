"""Site chrome learned from the corpus: lines a source prints on many of its pages.

A pure counter. The database keeps the counts (`adapters/sql/chrome_store.py`): each page's
`line_keys` are counted in its decision's transaction, and the worker loads, per source, the part
that can change a decision. In memory (the evaluation), `observe(source, lines)` counts a page.
`clean` asks `is_chrome(source, line)`.

Two guards keep the article text safe:
- per source, a line is chrome once it was seen on `min_pages` pages making up at least
  `min_share` of that source's pages; a prose-like line (a sentence of `prose_words` words or more)
  needs `prose_min_pages` pages — so a story re-sent a few times keeps its paragraphs;
- across sources, a line counts as chrome for everyone (even a source seen for the first time)
  only when it is short and not prose ("Share this", "Advertisement"). Wire-agency paragraphs
  (the same AFP text on many sites) are prose, so the cross-source table never removes them, and
  they appear once per story on any one site, below the per-source prose threshold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from canonry.workers.clean.rules import line_lower_words, line_words


@lru_cache(maxsize=1 << 16)
def line_key(line: str) -> str:
    """Stable key of a line: a hash of its lower-cased words (quote/dash/space styles ignored).
    Cached: a page's lines are keyed for the model and again when asked about, and a source's
    chrome lines recur on each of its pages."""
    words = " ".join(line_lower_words(line))
    return hashlib.blake2b(words.encode("utf-8"), digest_size=8).hexdigest() if words else ""


def line_keys(lines: Iterable[str]) -> list[str]:
    """The distinct keys of a page's lines, sorted: what one page adds to the model."""
    return sorted({k for k in map(line_key, lines) if k})


def is_prose(line: str, prose_words: int = 12) -> bool:
    """A sentence-like line: long enough, and not a title-cased label or a link list."""
    return len(line_words(line)) >= prose_words


@dataclass
class ChromeModel:
    """Per-source and cross-source line frequencies."""

    min_pages: int = 3
    min_share: float = 0.3
    prose_min_pages: int = 20
    min_sources: int = 5
    max_short_words: int = 8
    max_lines_per_source: int = 5000
    pages: dict[str, int] = field(default_factory=dict)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    sources_per_line: dict[str, int] = field(default_factory=dict)

    def observe(self, source: str, lines: Iterable[str]) -> None:
        """Count one page of `source`; each distinct line once."""
        self.count_page(source, line_keys(lines))

    def count_page(self, source: str, keys: Iterable[str]) -> None:
        """Count one page of `source` by its distinct line keys (`line_keys`)."""
        self.pages[source] = self.pages.get(source, 0) + 1
        counts = self.lines.setdefault(source, {})
        for k in keys:
            if k not in counts:
                self.sources_per_line[k] = self.sources_per_line.get(k, 0) + 1
            counts[k] = counts.get(k, 0) + 1
        if len(counts) > self.max_lines_per_source:
            self._prune(source)

    def _prune(self, source: str) -> None:
        # Keep memory bounded: forget the lines seen least (ties: by key, for determinism).
        counts = self.lines[source]
        keep = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = keep[: self.max_lines_per_source // 2]
        self.lines[source] = dict(keep)

    def is_chrome(self, source: str | None, line: str) -> bool:
        k = line_key(line)
        if not k:
            return False
        prose = is_prose(line)
        if source is not None:
            seen = self.lines.get(source, {}).get(k, 0)
            pages = self.pages.get(source, 0)
            needed = self.prose_min_pages if prose else self.min_pages
            if seen >= needed and seen >= self.min_share * pages:
                return True
        if prose or len(line_words(line)) > self.max_short_words:
            return False
        return self.sources_per_line.get(k, 0) >= self.min_sources
