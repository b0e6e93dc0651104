"""Extraction: parse → normalise → clean, plus title, language and date. Pure and deterministic.

`extract` is what the worker calls. With a learned `ChromeModel`, `extract_and_observe` extracts
and feeds the page to the model in one parse (or: `chrome.observe(source_key(a), page_lines(a))`).
"""

from __future__ import annotations

from functools import partial

from canonry.workers.article import Extracted, RawArticle
from canonry.workers.chrome import ChromeModel
from canonry.workers.clean import (
    DEFAULT_OPTIONS,
    HTML_OPTIONS,
    WHOLE_PAGE_BLOCKS,
    CleanOptions,
    clean_blocks,
)
from canonry.workers.language import detect_language
from canonry.workers.normalize import normalize_line
from canonry.workers.parse import ParsedPage, parse_html, parse_text
from canonry.workers.title import title_from_lines

# Detect the language on the page's longer lines first: menus say little about it.
_LANGUAGE_SAMPLE_LINES = 40


def parse(article: RawArticle) -> ParsedPage:
    """HTML when there is some (markup carries structure and metadata), else the text."""
    if article.html and article.html.strip():
        page = parse_html(article.html, article.url or None)
        if page.blocks or not article.text:
            return page
    return parse_text(article.text or "")


def page_lines(article: RawArticle) -> list[str]:
    """The normalised lines of a page, as the chrome model should observe them."""
    return [b.text for b in parse(article).blocks]


def source_key(article: RawArticle) -> str | None:
    """The publisher whose chrome a page shares: the declared source, else the URL's host."""
    if article.source:
        return article.source
    host = article.url.split("://", 1)[-1].split("/", 1)[0].lower()
    return host.removeprefix("www.") or None


def _guess_language(page: ParsedPage) -> str | None:
    longest = sorted((b.text for b in page.blocks), key=len, reverse=True)
    return detect_language(" ".join(longest[:_LANGUAGE_SAMPLE_LINES]))


def extract(
    article: RawArticle,
    chrome: ChromeModel | None = None,
    options: CleanOptions | None = None,
) -> Extracted:
    """The clean article body with its title, language and publication date."""
    return _extract_page(article, parse(article), chrome, options)


def extract_and_observe(article: RawArticle, chrome: ChromeModel) -> Extracted:
    """Extract with what `chrome` learned so far, then let it observe this page: one parse.

    The page is observed after its own extraction, so it never counts as evidence against itself.
    """
    page = parse(article)
    extracted = _extract_page(article, page, chrome, None)
    source = source_key(article)
    if source is not None:
        chrome.observe(source, [b.text for b in page.blocks])
    return extracted


def _extract_page(
    article: RawArticle,
    page: ParsedPage,
    chrome: ChromeModel | None,
    options: CleanOptions | None,
) -> Extracted:
    if options is None:
        # trafilatura's output is the body already; find the run only in whole pages.
        trusted = page.from_html and len(page.blocks) < WHOLE_PAGE_BLOCKS
        options = HTML_OPTIONS if trusted else DEFAULT_OPTIONS
    declared = detect_language("", article.language) if article.language else None
    # The stopword signal needs a language before the body is known: guess it from the page.
    page_language = declared or _guess_language(page)
    is_chrome = partial(chrome.is_chrome, source_key(article)) if chrome is not None else None
    cleaned = clean_blocks(page.blocks, page_language, options, is_chrome)
    text = "\n\n".join(cleaned.paragraphs)
    title = normalize_line(article.title) if article.title else None
    if not title:
        title = page.title or (title_from_lines(cleaned.before, text) if text else None)
    # An HTML extractor's output is the body already: its language was detected above.
    body_language = detect_language(text) if text and not page.from_html else None
    language = declared or body_language or page_language
    return Extracted(text=text, title=title, language=language, published_at=page.published_at)
