"""Extraction: parse → normalise → clean, plus title, language and date. Pure and deterministic.

`extract` is what the worker calls; `page_lines` is what it feeds to `ChromeModel.observe`.
"""

from __future__ import annotations

from canonry.workers.article import Extracted, RawArticle
from canonry.workers.chrome import ChromeModel
from canonry.workers.clean import DEFAULT_OPTIONS, CleanOptions, clean_blocks
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


def _source(article: RawArticle) -> str | None:
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
    options: CleanOptions = DEFAULT_OPTIONS,
) -> Extracted:
    """The clean article body with its title, language and publication date."""
    page = parse(article)
    declared = article.language.strip() if article.language else None
    # The stopword signal needs a language before the body is known: guess it from the page.
    page_language = detect_language("", declared) if declared else _guess_language(page)
    is_chrome = None
    if chrome is not None:
        source = _source(article)
        is_chrome = lambda line: chrome.is_chrome(source, line)  # noqa: E731
    cleaned = clean_blocks(page.blocks, page_language, options, is_chrome)
    text = "\n\n".join(cleaned.paragraphs)
    title = normalize_line(article.title) if article.title else None
    if not title:
        title = page.title or (title_from_lines(cleaned.before, text) if text else None)
    language = detect_language(text, declared) or page_language if text else declared
    return Extracted(text=text, title=title, language=language, published_at=page.published_at)
