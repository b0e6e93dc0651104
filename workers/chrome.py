"""Site chrome learned from the corpus: lines a source prints on many of its pages.

A pure, serialisable counter. The worker calls `observe(source, lines)` once per page (the lines
`extract.page_lines` returns) and persists `to_dict()`; `clean` asks `is_chrome(source, line)`.

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
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"\w+")
FORMAT_VERSION = 1


def line_key(line: str) -> str:
    """Stable key of a line: a hash of its lower-cased words (quote/dash/space styles ignored)."""
    words = " ".join(_WORD.findall(line.lower()))
    return hashlib.blake2b(words.encode("utf-8"), digest_size=8).hexdigest() if words else ""


def is_prose(line: str, prose_words: int = 12) -> bool:
    """A sentence-like line: long enough, and not a title-cased label or a link list."""
    words = _WORD.findall(line)
    return len(words) >= prose_words


@dataclass
class ChromeModel:
    """Per-source and cross-source line frequencies; JSON-able through `to_dict`/`from_dict`."""

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
        keys = {k for k in map(line_key, lines) if k}
        self.pages[source] = self.pages.get(source, 0) + 1
        counts = self.lines.setdefault(source, {})
        for k in sorted(keys):
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
        if prose or len(_WORD.findall(line)) > self.max_short_words:
            return False
        return self.sources_per_line.get(k, 0) >= self.min_sources

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "params": {
                "min_pages": self.min_pages,
                "min_share": self.min_share,
                "prose_min_pages": self.prose_min_pages,
                "min_sources": self.min_sources,
                "max_short_words": self.max_short_words,
                "max_lines_per_source": self.max_lines_per_source,
            },
            "pages": dict(self.pages),
            "lines": {s: dict(c) for s, c in self.lines.items()},
            "sources_per_line": dict(self.sources_per_line),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChromeModel:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported chrome model version {data.get('version')!r}")
        return cls(
            **data.get("params", {}),
            pages={s: int(n) for s, n in data.get("pages", {}).items()},
            lines={s: {k: int(n) for k, n in c.items()} for s, c in data.get("lines", {}).items()},
            sources_per_line={k: int(n) for k, n in data.get("sources_per_line", {}).items()},
        )
