"""Turn what arrived (HTML or plain text) into blocks of display text plus page metadata.

A block is one line of text; `group` numbers the blank-line separated paragraphs it came from, so
a caption and its credit printed on consecutive lines stay recognisable as one unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import trafilatura

from canonry.workers.normalize import normalize_line

# Measured on extraction-dev (see the report in eval_extraction): comments are not the article;
# favor_precision / favor_recall / tables off each scored lower than these defaults.
TRAFILATURA_OPTIONS: dict[str, bool] = {
    "include_comments": False,
    "include_tables": True,
    "favor_precision": False,
    "favor_recall": False,
}


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    group: int


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """Blocks of a page in reading order, with the metadata the markup declared."""

    blocks: list[Block]
    title: str | None = None
    published_at: datetime | None = None
    from_html: bool = False
    headings: frozenset[str] = field(default_factory=frozenset)


def parse_text(text: str) -> ParsedPage:
    """Plain text as given: one block a line, blank lines separate groups."""
    blocks: list[Block] = []
    group = 0
    for raw in text.splitlines():
        line = normalize_line(raw)
        if not line:
            group += 1
            continue
        blocks.append(Block(line, group))
    return ParsedPage(blocks)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_html(
    html: str, url: str | None = None, options: dict[str, bool] | None = None
) -> ParsedPage:
    """Main content of an HTML page via trafilatura, one block per extracted line."""
    opts = TRAFILATURA_OPTIONS if options is None else options
    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, **opts)
    except (ValueError, TypeError):  # malformed markup trafilatura cannot tree-ify
        doc = None
    if doc is None:
        return ParsedPage([], from_html=True)
    page = parse_text(doc.text or "")
    # trafilatura separates paragraphs by single newlines: every line is its own group.
    blocks = [Block(b.text, i) for i, b in enumerate(page.blocks)]
    title = normalize_line(doc.title) if doc.title else None
    return ParsedPage(blocks, title=title, published_at=_parse_date(doc.date), from_html=True)
