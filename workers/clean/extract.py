"""Extraction: parse → normalise → clean, plus title, language and date. Pure and deterministic.

`extract_page` is what the worker runs: the clean article and the page's line keys (what the
learned boilerplate model counts for this page), from one parse. `extract` is the article alone.
An HTML page has two candidate bodies: the HTML extractor's, and the page's whole visible text
cleaned as a text page is; the second wins only when it is the article the first is part of
(`fuller_body`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from canonry.workers.article import Extracted, RawArticle, source_of
from canonry.workers.clean.blocks import (
    AS_EXTRACTED,
    DEFAULT_OPTIONS,
    HTML_OPTIONS,
    WHOLE_PAGE_BLOCKS,
    Cleaned,
    CleanOptions,
    Verdict,
    clean_blocks,
    is_list_page,
    word_grams,
)
from canonry.workers.clean.chrome import ChromeModel, line_keys
from canonry.workers.clean.language import SAMPLE_CHARS, detect_language
from canonry.workers.clean.normalize import normalize_line, tidy_line
from canonry.workers.clean.parse import Block, ParsedPage, parse_html, parse_text
from canonry.workers.clean.rules import line_lower_words
from canonry.workers.clean.title import title_index

_LANGUAGE_SAMPLE_LINES = 40


def parse(article: RawArticle) -> ParsedPage:
    """HTML when there is some (markup carries structure and metadata), else the text."""
    if article.html and article.html.strip():
        page = parse_html(article.html, article.url or None)
        if page.blocks or not article.text:
            return page
        # The text is the body, but the markup still names the page's own address.
        return replace(parse_text(article.text), links=page.links)
    return parse_text(article.text or "")


def _language_sample(lines: Iterable[str]) -> str:
    """What the language is read from: the longest lines (menus say little about it)."""
    longest = sorted(lines, key=len, reverse=True)[:_LANGUAGE_SAMPLE_LINES]
    return " ".join(longest)[:SAMPLE_CHARS]


def extract(
    article: RawArticle,
    chrome: ChromeModel | None = None,
    options: CleanOptions | None = None,
) -> Extracted:
    """The clean article body with its title, language and publication date."""
    return _extract_page(article, parse(article), chrome, options)[0]


@dataclass(frozen=True, slots=True)
class Explanation:
    """What `extract` did to one page: the blocks the parser made (for HTML, the lines the HTML
    extractor chose as the main content), the verdict on each, and the result."""

    blocks: list[Block]
    verdicts: list[Verdict]
    extracted: Extracted
    from_html: bool


def explain(
    article: RawArticle,
    chrome: ChromeModel | None = None,
    options: CleanOptions | None = None,
) -> Explanation:
    """`extract`, with the verdict on every block: the same code path, not a re-enactment."""
    page = parse(article)
    extracted, chosen, cleaned = _extract_page(article, page, chrome, options)
    return Explanation(list(chosen.blocks), cleaned.verdicts, extracted, chosen.from_html)


def extract_page(
    article: RawArticle, chrome: ChromeModel | None = None
) -> tuple[Extracted, list[str]]:
    """The clean article (with what `chrome` learned so far) and the page's line keys, sorted:
    what the boilerplate model counts for this page once its decision commits. The page is
    counted after its own extraction, so it never counts as evidence against itself."""
    page = parse(article)
    extracted, _, _ = _extract_page(article, page, chrome, None)
    return extracted, line_keys(b.norm for b in page.blocks)


# When the page's whole visible text, cleaned as a text page is, gives a body that holds
# FULLER_CONTAINMENT of the HTML extractor's body (word 4-grams) and FULLER_RATIO times as
# many, the extractor kept only part of the article (a long guide cut at its first table, a
# listicle cut to its intro) and the visible text's body is kept instead. Below that
# containment (the extractor also kept a line of chrome or a caption the visible body left
# out), where the extra lies decides: text between two passages both bodies share is the
# article's own middle, which the extractor skipped (a table, a boxed section), and with
# GAP_CONTAINMENT of the extractor's body held and GAP_RATIO as much again inside, the visible
# body is the article. Extra beyond the extractor's ends is as often the site's related posts
# or FAQ as the article's continuation: there only "holds" counts. An extractor output laid
# out in short lines (kept as extracted) is a candidate like any other.
# Measured (html pages, `canonry eval extraction`; trafilatura alone 0.926 / 0.953): with
# "holds" only and list pages apart, WCXB 0.939, ARB 0.969; with both rules and list pages
# judged alike, WCXB 0.942 (14 pages better by 0.02 or more, 6 worse; list-shaped outputs
# 0.920 -> 0.926), ARB 0.969 (no page changed). Gap ratios 0.25-0.5 and containments 0.5-0.8
# gave WCXB 0.941-0.942, ARB the same; a ratio of 0.2 or less cost ARB (a caption or an ad
# between two paragraphs is a gap too: 0.1 gave 0.965). The cost:
# a copy cut near such a page's end may fall back to the extractor's body (WCXB html pages
# below 90 % when cut to 80 % / 60 %: 15 / 18 -> 21 / 25, `canonry eval truncation`).
FULLER_RATIO = 1.3
FULLER_CONTAINMENT = 0.9
GAP_RATIO = 0.3
GAP_CONTAINMENT = 0.7
# The visible text's body is cut strictly: every short line between two prose blocks costs
# (with `enclosed_short_lines` free the bigger visible bodies won more often, and ARB HTML fell
# 0.968 -> 0.965, its list-shaped pages below the peer). The visible text holds every menu
# and sidebar, so prose joined to the run must be worth 3 words per short line crossed (a
# mega-menu with a sentence per section is not the article's intro), and a box of links after
# a body-sized run counts as an end marker (testimonials or teasers under "More videos" are
# the site's). Measured (html pages, F1 per page): WCXB 5 pages better by 0.02 or more (0.61
# -> 1.00, 0.65 -> 0.97 by the links box; 0.65 -> 0.95, 0.80 -> 0.97 by the words per line),
# none worse; ARB unchanged. At 4 words a line one WCXB page lost 0.40; 2 gave nothing.
VISIBLE_OPTIONS = replace(DEFAULT_OPTIONS, body=replace(
    DEFAULT_OPTIONS.body, enclosed_short_lines=sys.maxsize, join_words_per_line=3.0,
    links_discount=DEFAULT_OPTIONS.body.tail_discount))


@dataclass(frozen=True, slots=True)
class Overlap:
    """Where a candidate body's words lie against a body's: in paragraphs the body holds
    (`shared`), between the first and last of those (`inside`) or beyond them (`beyond`);
    and the body's word 4-grams the candidate holds (`contained`) and has (`ratio`)."""

    shared: int
    inside: int
    beyond: int
    contained: float
    ratio: float


def overlap(candidate: Sequence[str], body: Sequence[str]) -> Overlap:
    """How the paragraphs `candidate` lie against the paragraphs `body` (both as
    `Cleaned.paragraph_keys`). A paragraph is the body's when half its 4-grams are (a line
    of under four words: when it is one of the body's lines)."""
    words = [line_lower_words(p) for p in candidate]
    ours = word_grams([w for p in body for w in line_lower_words(p)])
    theirs = word_grams([w for ws in words for w in ws])
    lines = set(body)
    held = []
    for paragraph, ws in zip(candidate, words, strict=True):
        grams = word_grams(ws)
        held.append(len(grams & ours) >= 0.5 * len(grams) if grams else paragraph in lines)
    where = [n for n, h in enumerate(held) if h]
    first, last = (where[0], where[-1]) if where else (len(words), -1)
    shared = sum(len(ws) for ws, h in zip(words, held, strict=True) if h)
    inside = sum(len(words[n]) for n in range(first, last + 1) if not held[n])
    beyond = sum(len(ws) for ws in words) - shared - inside
    return Overlap(shared, inside, beyond,
                   contained=len(ours & theirs) / len(ours) if ours else 1.0,
                   ratio=len(theirs) / max(1, len(ours)))


def fuller_body(candidate: Sequence[str], body: Sequence[str]) -> bool:
    """Whether the candidate is the article `body` is part of (see FULLER_RATIO)."""
    found = overlap(candidate, body)
    mostly_inside = found.inside >= found.beyond
    if mostly_inside and found.contained >= GAP_CONTAINMENT \
            and found.inside >= GAP_RATIO * max(1, found.shared):
        return True
    return found.ratio >= FULLER_RATIO and found.contained >= FULLER_CONTAINMENT


def _extract_page(
    article: RawArticle,
    page: ParsedPage,
    chrome: ChromeModel | None,
    options: CleanOptions | None,
) -> tuple[Extracted, ParsedPage, Cleaned]:
    # Ablations pass their own options: the visible-text candidate belongs to the defaults.
    defaults = options is None
    if options is None:
        # trafilatura's output is the body already; find the run only in whole pages.
        trusted = page.from_html and len(page.blocks) < WHOLE_PAGE_BLOCKS
        if trusted and is_list_page(page.blocks):
            options = AS_EXTRACTED
        else:
            options = HTML_OPTIONS if trusted else DEFAULT_OPTIONS
    declared = detect_language("", article.language) if article.language else None
    # The stopword signal needs a language before the body is known: guess it from the page.
    page_sample = "" if declared else _language_sample(b.norm for b in page.blocks)
    page_language = declared or detect_language(page_sample)
    is_chrome = partial(chrome.is_chrome, source_of(article)) if chrome is not None else None
    cleaned = clean_blocks(page.blocks, page_language, options, is_chrome)
    if page.visible and defaults:
        whole = clean_blocks(page.visible, page_language, VISIBLE_OPTIONS, is_chrome)
        if fuller_body(whole.paragraph_keys, cleaned.paragraph_keys):
            page, cleaned = replace(page, blocks=page.visible, from_html=False), whole
    untrimmed = "\n\n".join(cleaned.paragraphs)
    text = "\n\n".join(cleaned.published) if cleaned.learned else untrimmed
    title = tidy_line(article.title) if article.title and normalize_line(article.title) else None
    if not title:
        title = page.title
    if not title and text:
        found = title_index(cleaned.before_keys, "\n\n".join(cleaned.paragraph_keys))
        title = cleaned.before[found] if found is not None else None
    language = declared or page_language
    if not declared and text and not page.from_html:
        # The body's own sample; usually the page's longest lines were the body's already, and
        # the detection (the costliest step of cleaning a text page) need not run twice.
        # (An HTML extractor's output is the body already: its language was detected above.)
        body_sample = _language_sample(cleaned.paragraph_keys)
        if body_sample != page_sample:
            language = detect_language(body_sample) or page_language
    extracted = Extracted(text=text, title=title, language=language,
                          published_at=page.published_at, links=page.links,
                          untrimmed=untrimmed if cleaned.learned else None)
    return extracted, page, cleaned
