"""Extraction: parse → normalise → clean, plus title, language and date. Pure and deterministic.

`extract_page` is what the worker runs: the clean article and the page's line keys (what the
learned boilerplate model counts for this page), from one parse. `extract` is the article alone.
An HTML page has two candidate bodies: the HTML extractor's, and the page's whole visible text
cleaned as a text page is; the second wins only when it holds the first and clearly more
(`holds_more`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
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
# listicle cut to its intro) and the visible text's body is kept instead. Measured on both dev
# sets (html pages, `canonry eval extraction`): the rule picks the visible text on ~5 % of
# pages and F1 rises on each; looser ratios lose on extraction-dev, where the cut-off extra is
# more often comments and related stories. An extractor's output laid out in short lines (a
# list page, kept as extracted) keeps its body: there the visible text's prose run was the
# wrong region (WCXB "medium+lists" pages 0.923 -> 0.918 with it, below the peer's 0.920).
FULLER_RATIO = 1.3
FULLER_CONTAINMENT = 0.9
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


def holds_more(candidate: Iterable[str], body: Iterable[str]) -> bool:
    """Whether paragraphs `candidate` hold (nearly) all of `body` and clearly more."""
    theirs, ours = (word_grams([w for p in paragraphs for w in line_lower_words(p)])
                    for paragraphs in (candidate, body))
    if len(theirs) < FULLER_RATIO * max(1, len(ours)):
        return False
    return len(ours & theirs) >= FULLER_CONTAINMENT * len(ours)


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
    if page.visible and defaults and options is not AS_EXTRACTED:
        whole = clean_blocks(page.visible, page_language, VISIBLE_OPTIONS, is_chrome)
        if holds_more(whole.paragraph_keys, cleaned.paragraph_keys):
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
