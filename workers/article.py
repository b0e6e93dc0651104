"""The values that flow through the pure core: an article as it arrived, and what extraction made
of it. Plain frozen dataclasses, so the core stays free of HTTP, database and queue types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class RawArticle:
    """One article as a feed or backfill sent it: `html` and/or `text`, chrome included."""

    url: str
    text: str | None = None
    html: str | None = None
    title: str | None = None
    source: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Extracted:
    """What parse → normalise → clean produced: the article body and the metadata found.

    `text` is the clean body: paragraphs separated by one blank line ("\\n\\n"), no chrome, no
    repeated blocks, no captions or credits. It is empty when nothing article-like was found.
    `links` are the addresses an HTML page declares for itself, as (kind, absolute URL):
    kind "canonical", "og:url" or "amphtml".
    `untrimmed` is the body before the boilerplate learned from the source's other pages
    trimmed lines out of it (None: nothing was trimmed). Every match decision reads
    `match_text`, a function of the page alone, so a story's documents do not depend on what
    the model had learned when its copies were processed (timing, batch boundaries).
    """

    text: str
    title: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    links: tuple[tuple[str, str], ...] = ()
    untrimmed: str | None = None

    @property
    def match_text(self) -> str:
        """The body the fingerprint and the same-site check read: the page's alone."""
        return self.text if self.untrimmed is None else self.untrimmed


def source_of(article: RawArticle) -> str:
    """The publisher whose chrome a page shares: the declared source, else the URL's host
    (lower-cased, without a leading "www."). The one definition: stored, counted and judged."""
    return article.source or publisher_of(article.url)


def publisher_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")
