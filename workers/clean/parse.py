"""Turn what arrived (HTML or plain text) into blocks of display text plus page metadata.

A block is one line of text; `group` numbers the blank-line separated paragraphs it came from, so
a caption and its credit printed on consecutive lines stay recognisable as one unit.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from urllib.parse import urljoin, urlsplit

import lxml.html
import trafilatura
from htmldate import find_date
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_meta_json, extract_title, extract_url
from trafilatura.utils import load_html

from canonry.workers.clean.normalize import (
    normalize_line,
    normalize_lines,
    normalized_offsets,
    tidy_line,
)
from canonry.workers.clean.sentences import paragraph_spans

# Measured on extraction-dev (4-gram F1 / pages per second, one core, trafilatura 2.3.1), alone:
# defaults 0.953 / 29; without comments 0.960 / 38; + favor_precision 0.965 / 32;
# + favor_recall 0.960; without tables 0.958; + fast (no readability/jusText fallback) 0.963 / 40.
# In the whole pipeline: fast 0.965, favor_precision 0.963, both 0.942, neither 0.962.
# (resiliparse main-content: 0.918 raw, 0.925 with our cleaning, at ~10x the speed.)
# `fast` won on those 179 pages and lost on the 709 WCXB pages (other sites and page shapes):
# alone, defaults 0.926, without comments 0.931, + fast 0.916 (recall 0.938 -> 0.910: without
# the readability fallback long listicles and how-tos keep a fraction of their body). In the
# pipeline, fast -> not fast: extraction-dev 0.967 -> 0.963, WCXB 0.913 -> 0.928; dedup on
# syndication-wcxb R 0.891 -> 0.903. Never below the peer on either set wins over the 0.004.
TRAFILATURA_OPTIONS: dict[str, bool] = {
    "include_comments": False,
    "include_tables": True,
    "fast": False,
}
# htmldate's extensive search (scanning every date-like string) doubles the metadata cost and
# found 2 more dates out of 179 on the dev pages.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}

_WORD = re.compile(r"\w+")
# Whitespace, controls and the characters no URL carries: such a "link" is markup gone wrong.
_UNSAFE_LINK = re.compile(r"[\x00-\x20\x7f<>\"\\`{}|^]")


@dataclass(frozen=True, slots=True)
class Block:
    """`text` as the publisher wrote it (spaces tidied); `norm` its normalised form
    (`normalize_line`), which every rule compares. Without `norm`, `text` is normalised."""

    text: str
    group: int
    # Cut from one long line between sentences (see `sentences.py`), not a line as sent.
    pseudo: bool = False
    norm: str = ""

    def __post_init__(self) -> None:
        if not self.norm:
            object.__setattr__(self, "norm", normalize_line(self.text))


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """Blocks of a page in reading order, with the metadata the markup declared."""

    blocks: list[Block]
    title: str | None = None
    published_at: datetime | None = None
    from_html: bool = False
    links: tuple[tuple[str, str], ...] = ()
    # An HTML page's whole visible text as `parse_text` reads a text page: the second candidate
    # for the body when the HTML extractor kept only part of it (see `extract.py`).
    visible: list[Block] = field(default_factory=list)


# A text that is one line (RSS `content` often is) is one block the line rules cannot judge:
# it is cut into pseudo-paragraphs of whole sentences first (`sentences.py`). So is a text of
# sentence lines only (one sentence a line, no blank line, SENTENCE_LINES_SHARE of its lines
# ending like a sentence), read as one line, and any line of at least SPLIT_LINE_WORDS words: a
# body pasted as one line between a page's chrome lines (measured on the text pages of both dev
# sets: 150 words and up changes extraction-dev by < 0.0001, WCXB +0.0016 F1).
SPLIT_LINE_WORDS: float = 150
SENTENCE_LINES_SHARE = 0.8
_SENTENCE_LINE_END = re.compile(r"""[.!?…。！？।]["'”’»)\]]*$""")
_UNSPACED_STOP = re.compile(r"""[。！？]["'”’」』)）]*$""")


def _line_words(line: str) -> float:
    return len(_WORD.findall(line))


def _sentence_lines(lines: list[str]) -> bool:
    if len(lines) < 2 or not all(lines):
        return False
    ends = sum(1 for line in lines if _SENTENCE_LINE_END.search(line))
    return ends >= SENTENCE_LINES_SHARE * len(lines)


def _join_lines(lines: list[str], keys: list[str]) -> str:
    """Lines as one: a space between them, none after a full stop of a script without spaces
    (as the normalised `keys` of the lines end)."""
    parts = [lines[0]]
    for previous, line in zip(keys, lines[1:], strict=False):
        parts.append(line if _UNSPACED_STOP.search(previous) else f" {line}")
    return "".join(parts)


def _pseudo_paragraphs(line: str) -> list[str]:
    """`pseudo_paragraphs` of a line as written, cut where they cut its normalised form: the
    splitter reads closing quotes, ellipses and abbreviations ("204 °F." from "204 ℉.") as the
    rules do."""
    normalized, offsets, starts = normalized_offsets(line)
    pieces = []
    for a, b in paragraph_spans(normalized):
        # A cut inside what one character became (℉ → °F) falls after that character.
        start = starts[i] if (i := bisect_left(offsets, a)) < len(starts) else len(line)
        end = len(line)
        if b < len(normalized) and (j := bisect_left(offsets, b)) < len(starts):
            end = starts[j]
        if piece := line[start:end].strip():
            pieces.append(piece)
    return pieces


# A paragraph hard-wrapped into lines (a plain-text mail or feed, a page that breaks its
# paragraphs with <br>) arrives as one short line per row, each of which the line rules read
# as a fragment. A line of WRAPPED_LINE_WORDS words or more that stops mid-sentence (on a
# letter or a comma), followed (blank lines between or not) by one that starts in lower case,
# continues it. One such pair is as often a headline above its byline or a label above a
# link; a wrapped text is made of them: only when WRAPPED_SHARE of a page's lines (and at least
# WRAPPED_MIN_LINES) continue the one before are they joined again.
WRAPPED_LINE_WORDS = 5
WRAPPED_SHARE = 0.1
WRAPPED_MIN_LINES = 3
_MID_SENTENCE_END = re.compile(r"[^\W\d_,]$|,$")


def _continues(previous: str, key: str) -> bool:
    """`key` continues the line `previous` was cut from (see above)."""
    return (key[:1].islower() and "://" not in key
            and bool(_MID_SENTENCE_END.search(previous))
            and _line_words(previous) >= WRAPPED_LINE_WORDS)


def _unwrap(lines: list[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """`lines` (and their normalised `keys`) with hard-wrapped paragraphs joined again; blank
    lines stay where they separate paragraphs. A wrap that fell before a capital (a new
    sentence, a name) stays a line break: a heading or a menu starts the same way (joining
    those too took chrome into the body of the one wrapped WCXB page)."""
    present = [n for n, key in enumerate(keys) if key]
    continuing = {n for m, n in pairwise(present) if _continues(keys[m], keys[n])}
    if len(continuing) < max(WRAPPED_MIN_LINES, WRAPPED_SHARE * len(present)):
        return lines, keys
    out_lines: list[str] = []
    out_keys: list[str] = []
    last = -1  # the last line that is not blank, in `out_*`
    joined: set[int] = set()  # lines of `out_*` that took a continuation (keyed again below)
    for n, (line, key) in enumerate(zip(lines, keys, strict=True)):
        if n in continuing:
            del out_lines[last + 1 :], out_keys[last + 1 :]
            out_lines[last] = f"{out_lines[last]} {line}"
            joined.add(last)
            continue
        out_lines.append(line)
        out_keys.append(key)
        if key:
            last = len(out_lines) - 1
    for n in joined:
        out_keys[n] = normalize_line(out_lines[n])
    return out_lines, out_keys


def parse_text(text: str, split: bool = True) -> ParsedPage:
    """Plain text as given: one block a line, blank lines separate groups; a one-line text, a
    text of sentence lines and any line of SPLIT_LINE_WORDS words or more are cut into
    pseudo-paragraphs, each its own group. `split=False`: lines as they are (an HTML
    extractor's output)."""
    raw = text.splitlines()
    keys = normalize_lines(raw)
    # A line is blank when its normalised form is (spaces, invisible characters only).
    lines = [tidy_line(line) if key else "" for line, key in zip(raw, keys, strict=True)]
    if split:
        lines, keys = _unwrap(lines, keys)
    if split and _sentence_lines(keys):
        kept = [n for n, key in enumerate(keys) if key]
        lines = [_join_lines([lines[n] for n in kept], [keys[n] for n in kept])]
        keys = [normalize_line(lines[0])]
    one_line = split and sum(1 for key in keys if key) == 1
    blocks: list[Block] = []
    group = 0
    for line, key in zip(lines, keys, strict=True):
        if not key:
            group += 1
            continue
        if split and (one_line or _line_words(key) >= SPLIT_LINE_WORDS):
            for paragraph in _pseudo_paragraphs(line):
                if norm := normalize_line(paragraph):
                    blocks.append(Block(paragraph, group, pseudo=True, norm=norm))
                    group += 1
            continue
        blocks.append(Block(line, group, norm=key))
    return ParsedPage(blocks)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _title_and_date(tree: HtmlElement, url: str | None) -> tuple[str | None, str | None]:
    """The page's title and publication date, as trafilatura's metadata step finds them, without
    the rest of that step (author, sitename, tags, license: ~40 % of an HTML page's cost, and
    nothing here uses them). Same calls in the same order on the same tree, so the same answers;
    it runs before the extraction, which prunes its own copy of the tree."""
    metadata = examine_meta(tree)
    with suppress(Exception):  # trafilatura guards its JSON-LD reader the same way
        metadata = extract_meta_json(tree, metadata)
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    metadata.date = find_date(tree, url=metadata.url, **_DATE_PARAMS)
    metadata.clean_and_trim()
    return metadata.title, metadata.date


def parse_html(
    html: str, url: str | None = None, options: dict[str, bool] | None = None
) -> ParsedPage:
    """Main content of an HTML page via trafilatura, one block per extracted line, and the
    page's whole visible text (`visible_lines`) as a text page's blocks."""
    opts = TRAFILATURA_OPTIONS if options is None else options
    links: tuple[tuple[str, str], ...] = ()
    visible: list[Block] = []
    try:
        tree = load_html(html)
        if tree is None:
            return ParsedPage([], from_html=True)
        title, date = _title_and_date(tree, url)
        links = declared_links(tree, url)
        # trafilatura works on its own copy of a tree it is given, so this one is still whole.
        doc = trafilatura.bare_extraction(tree, url=url, with_metadata=False, **opts)
        with suppress(ValueError, TypeError):  # the second candidate never costs the first
            visible = parse_text("\n\n".join(visible_lines_of(tree))).blocks
    except (ValueError, TypeError):  # malformed markup trafilatura cannot tree-ify
        doc = None
    if doc is None:
        return ParsedPage([], from_html=True, links=links, visible=visible)
    page = parse_text(doc.text or "", split=False)
    # trafilatura separates paragraphs by single newlines: every line is its own group.
    blocks = [Block(b.text, i, norm=b.norm) for i, b in enumerate(page.blocks)]
    title = tidy_line(title) if title and normalize_line(title) else None
    if blocks and title and _words(blocks[0].norm) == _words(normalize_line(title)):
        blocks = blocks[1:]  # the headline printed above the body is the title, not the body
    return ParsedPage(blocks, title=title, published_at=_parse_date(date), from_html=True,
                      links=links, visible=visible)


# Elements whose text a browser does not show.
_HIDDEN = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
# Elements that start a new line of visible text.
_BLOCK_TAGS = frozenset((
    "address", "article", "aside", "blockquote", "br", "button", "caption", "dd", "details",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "label", "li", "main", "nav", "ol", "option", "p", "pre",
    "section", "summary", "table", "td", "th", "tr", "ul",
))


def visible_lines(html: str) -> list[str]:
    """The page's visible text, one line per block element (roughly what a reader sees)."""
    try:
        tree = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    return visible_lines_of(tree)


def visible_lines_of(tree: HtmlElement) -> list[str]:
    """`visible_lines` of a parsed page. Rewrites `tree` (hidden elements go, block elements
    get line breaks): give it a tree nothing else reads afterwards."""
    etree.strip_elements(tree, *_HIDDEN, with_tail=False)
    for element in tree.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            element.text = "\n" + (element.text or "")
    text = tree.text_content()
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


# Where a page names its own address: <link rel="canonical">, <meta property="og:url">, and the
# AMP version a canonical page points to. Each becomes an alias of the page's document.
_LINK_RELS = ("canonical", "amphtml")
MAX_LINK_CHARS = 2048


def declared_links(tree: HtmlElement, page_url: str | None) -> tuple[tuple[str, str], ...]:
    """(kind, absolute URL) of the addresses the page declares for itself, the first of each
    kind. A link to the site's root from a page below it is dropped: it is the common template
    mistake (every article "canonical" to the home page), and no article lives there."""
    candidates: list[tuple[str, str]] = []
    for element in tree.iter("link", "meta"):
        if element.tag == "link":
            rels = (element.get("rel") or "").lower().split()
            kinds = [rel for rel in _LINK_RELS if rel in rels]
            value = element.get("href")
        else:
            name = (element.get("property") or element.get("name") or "").strip().lower()
            kinds = ["og:url"] if name == "og:url" else []
            value = element.get("content")
        candidates.extend((kind, value) for kind in kinds if value)
    found: dict[str, str] = {}
    for kind, value in candidates:
        if kind not in found and (link := _absolute_link(value, page_url)) is not None:
            found[kind] = link
    return tuple(found.items())


def _absolute_link(value: str, page_url: str | None) -> str | None:
    value = value.strip()
    if not value or len(value) > MAX_LINK_CHARS or _UNSAFE_LINK.search(value):
        return None
    try:
        link = urljoin(page_url or "", value)
        parts = urlsplit(link)
        page = urlsplit(page_url or "")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.path in ("", "/") and not parts.query and page.path not in ("", "/"):
        return None
    return link

