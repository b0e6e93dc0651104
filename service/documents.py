"""Read routes: ingest status, canonical documents, provenance, the change feed, URL lookup and
similar-document search."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from canonry.schemas.api import (
    BCP47_PATTERN,
    DATE_TIME_HELP,
    DATE_TIME_PATTERN,
    SimilarHit,
    SimilarIn,
    SimilarOut,
    parse_date_time,
)
from canonry.service.ingest import field_errors
from canonry.service.keys import INDEX, READS, SETTINGS
from canonry.service.problems import ProblemError
from canonry.service.reads import FeedFilter
from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.match import similarity

T = TypeVar("T")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_CURSOR = 2**62
_DIGITS = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query parameter as /openapi.json documents it; the handlers check exactly this."""

    description: str
    schema: dict[str, Any]
    required: bool = False


def _integer(description: str, low: int, high: int, default: int) -> QueryParam:
    return QueryParam(description, {"type": "integer", "minimum": low, "maximum": high,
                                    "default": default})


CURSOR = _integer("cursor: the `next` of the previous page", 0, MAX_CURSOR, 0)
PAGE_SIZE = _integer("items per page", 1, MAX_PAGE, DEFAULT_PAGE)
PROVENANCE_LIMIT = _integer("provenance entries embedded", 0, MAX_PAGE, DEFAULT_PAGE)
LOOKUP_URL = QueryParam("the article URL, in any spelling (see LookupOut.normalized_url), or an "
                        "address a page declared as its own", {"type": "string", "minLength": 1},
                        required=True)
# No control characters: no stored source holds one (PostgreSQL text cannot even hold NUL).
_SOURCE_PATTERN = r"^[^\x00-\x1f\x7f]{1,500}$"
FEED_SOURCE = QueryParam("only documents whose founding copy came from this source (the "
                         "declared `source`, else the URL's host without `www.`)",
                         {"type": "string", "minLength": 1, "maxLength": 500,
                          "pattern": _SOURCE_PATTERN})
FEED_LANGUAGE = QueryParam("only documents in this language (BCP 47; `en` includes `en-GB`)",
                           {"type": "string", "pattern": BCP47_PATTERN})
FEED_SINCE = QueryParam("only documents first seen at or after this instant (" +
                        DATE_TIME_HELP.removeprefix("must be ") + ")",
                        {"type": "string", "pattern": DATE_TIME_PATTERN})


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    # Plain decimal digits only: int() would also take "+5", " 5", "5_000" and other scripts'
    # digits, none of which the documented integer is.
    value = int(raw) if _DIGITS.fullmatch(raw) else low - 1
    if not low <= value <= high:
        raise _invalid(name, f"must be an integer from {low} to {high}")
    return value


def _json(model: object) -> web.Response:
    return web.json_response(text=model.model_dump_json())  # type: ignore[attr-defined]


async def get_ingest(request: web.Request) -> web.Response:
    status = await request.app[READS].ingest(request.match_info["ingest_id"])
    if status is None:
        raise ProblemError(404, "no such ingest", slug="ingest-not-found")
    return _json(status)


async def get_document(request: web.Request) -> web.Response:
    limit = int_param(request, "provenance_limit", DEFAULT_PAGE, 0, MAX_PAGE)
    document = await request.app[READS].document(request.match_info["document_id"], limit)
    if document is None:
        raise ProblemError(404, "no such document", slug="document-not-found")
    return _json(document)


async def get_provenance(request: web.Request) -> web.Response:
    reads = request.app[READS]
    document_id = request.match_info["document_id"]
    after = int_param(request, "after", 0, 0, MAX_CURSOR)
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    page = await reads.provenance(document_id, after, limit,
                                  request.app[SETTINGS].max_response_bytes)
    if not page.provenance and after == 0 and await reads.document(document_id, 0) is None:
        raise ProblemError(404, "no such document", slug="document-not-found")
    return _json(page)


async def list_documents(request: web.Request) -> web.Response:
    after = int_param(request, "after", 0, 0, MAX_CURSOR)
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    return _json(await request.app[READS].feed(after, limit,
                                               request.app[SETTINGS].max_response_bytes,
                                               feed_filter(request)))


def feed_filter(request: web.Request) -> FeedFilter | None:
    """The feed's filters, checked as /openapi.json describes them; None when there are none."""
    source, language, since = (request.query.get(n) for n in ("source", "language", "since"))
    if source is not None and not re.fullmatch(_SOURCE_PATTERN, source):
        raise _invalid("source", "must be 1 to 500 characters, without control characters")
    if language is not None and not re.fullmatch(BCP47_PATTERN, language):
        raise _invalid("language", "must be a BCP 47 language tag such as en or pt-BR")
    instant = None
    if since is not None:
        try:
            instant = parse_date_time(since)
        except ValueError as exc:
            raise _invalid("since", str(exc)) from None
    if source is None and language is None and instant is None:
        return None
    return FeedFilter(source=source, language=language, since=instant)


def _invalid(name: str, why: str) -> ProblemError:
    return ProblemError(422, f"query parameter `{name}` {why}", slug="validation-error")


async def lookup(request: web.Request) -> web.Response:
    url = request.query.get("url")
    if not url:
        raise ProblemError(422, "query parameter `url` is required", slug="validation-error")
    found = await request.app[READS].lookup(url)
    if found is None:
        raise ProblemError(404, "no document carries this URL", slug="url-not-found")
    return _json(found)


async def post_similar(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise ProblemError(415, "send application/json", slug="unsupported-media-type")
    try:
        query = SimilarIn.model_validate_json(await request.read())
    except ValidationError as exc:
        raise ProblemError(422, "invalid query", slug="validation-error",
                           errors=field_errors("", exc)) from None
    raw = RawArticle(url="http://query.invalid/", text=query.text, html=query.html)
    fp = await asyncio.to_thread(lambda: fingerprint(extract(raw).text))
    [candidates] = await request.app[INDEX].candidates([fp.hashvalues])
    scored = best_per_document(((similarity(fp, c), c.document) for c in candidates),
                               key=lambda pair: (-pair[0][0], pair[1]))[: query.limit]
    titles = await request.app[READS].titles([doc for _, doc in scored])
    hits = [
        SimilarHit(document_id=doc, similarity=round(jaccard, 4),
                   containment=round(containment, 4), title=titles.get(doc))
        for (jaccard, containment), doc in scored
    ]
    return _json(SimilarOut(results=hits))


def best_per_document(scored: Iterable[tuple[T, str]], key: Callable[[tuple[T, str]], Any]
                      ) -> list[tuple[T, str]]:
    """(score, document) pairs in `key` order, each document once (its best): the index finds
    a document by its canonical text and by its aliases (`IndexEntry.alias_of`)."""
    ranked = sorted(scored, key=key)
    seen: set[str] = set()
    return [pair for pair in ranked if not (pair[1] in seen or seen.add(pair[1]))]
