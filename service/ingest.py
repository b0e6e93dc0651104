"""POST /ingest: parse and validate the body, commit the articles, dispatch them, answer 202.

The order matters for "nothing lost, nothing let in": every article is validated before
anything is written; the batch is committed to the database before the queue sees it; the 202
is sent only after both. Acceptance is cheap — no cleaning here: an article that turns out to
have no text once its boilerplate is removed ends `failed` with `error.code =
"empty_after_cleaning"` on `GET /ingest/{id}`, found by the worker that cleans it anyway.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from canonry.schemas.api import ArticleIn, FieldError, IngestReceipt
from canonry.service.keys import ACCEPTANCE, SETTINGS
from canonry.service.problems import BACKEND_ERRORS, ProblemError, is_unavailable, unavailable
from canonry.workers import metrics
from canonry.workers.adapters.sql.store import utcnow
from canonry.workers.identity import content_hash, ingest_id_for
from canonry.workers.ports import NewIngest

JSON_TYPES = {"application/json"}
NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/jsonl"}
log = structlog.get_logger("canonry.api")


def _decode(raw: bytes) -> str:
    # Undecodable bytes become lone surrogates, so the field that carries them gets a precise
    # 422 from validation instead of the whole body a vague 400.
    return raw.decode("utf-8", "surrogateescape")


def _parse_json(raw: bytes) -> tuple[list[Any], bool]:
    """The articles in a JSON body, and whether it was a batch."""
    try:
        body = json.loads(_decode(raw))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProblemError(400, f"body is not valid JSON: {exc}", slug="invalid-json") from None
    if isinstance(body, dict) and "articles" in body:
        if not isinstance(body["articles"], list):
            raise ProblemError(422, "`articles` must be a list", slug="validation-error",
                               errors=[FieldError(field="articles", message="must be a list")])
        return body["articles"], True
    if isinstance(body, list):
        return body, True
    return [body], False


def _parse_ndjson(raw: bytes) -> list[Any]:
    articles = []
    for number, line in enumerate(_decode(raw).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            articles.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ProblemError(400, f"line {number} is not valid JSON: {exc}",
                               slug="invalid-json") from None
    return articles


def field_errors(prefix: str, exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}.{path}" if prefix and path else (prefix or path or "body")
        message = error["msg"].removeprefix("Value error, ")
        errors.append(FieldError(field=field, message=message))
    return errors


def validate_articles(items: list[Any], batch: bool) -> list[ArticleIn]:
    articles: list[ArticleIn] = []
    errors: list[FieldError] = []
    for position, item in enumerate(items):
        prefix = f"articles[{position}]" if batch else ""
        if not isinstance(item, dict):
            errors.append(FieldError(field=prefix or "body", message="must be a JSON object"))
            continue
        try:
            articles.append(ArticleIn.model_validate(item))
        except ValidationError as exc:
            errors.extend(field_errors(prefix, exc))
    if errors:
        raise ProblemError(422, "invalid article(s); nothing was accepted",
                           slug="validation-error", errors=errors)
    return articles


def new_ingests(articles: list[ArticleIn]) -> list[NewIngest]:
    """The rows to commit, received now, a microsecond apart in the order they came: the
    order a restart queues open ingests again in (received_at, then id) must be the order
    they were sent in. With one timestamp for a batch, a resumed backfill processed the
    rest of its batch in id (hash) order, and a story whose copies arrived in another order
    could end as two documents (matching is not transitive)."""
    received_at = utcnow()
    return [new_ingest(article, received_at + timedelta(microseconds=number))
            for number, article in enumerate(articles)]


def new_ingest(article: ArticleIn, received_at: Any) -> NewIngest:
    digest = content_hash(article.text, article.html)
    return NewIngest(
        id=ingest_id_for(article.url, digest), url=article.url,
        source=article.effective_source, content_hash=digest, title=article.title,
        text=article.text, html=article.html, language=article.language,
        published_at=article.published_at, metadata=article.metadata, received_at=received_at,
    )


async def post_ingest(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    content_type = request.content_type
    raw = await request.read()  # read (and bounded) by service/http.body_deadline already
    if content_type in JSON_TYPES:
        items, batch = _parse_json(raw)
    elif content_type in NDJSON_TYPES:
        items, batch = _parse_ndjson(raw), True
    else:
        raise ProblemError(415, f"Content-Type {content_type!r} is not supported; send "
                                "application/json or application/x-ndjson",
                           slug="unsupported-media-type")
    if not items:
        raise ProblemError(422, "no articles in the body", slug="validation-error",
                           errors=[FieldError(field="articles", message="must not be empty")])
    if len(items) > settings.max_batch:
        raise ProblemError(413, f"{len(items)} articles in one request; the limit is "
                                f"{settings.max_batch}", slug="batch-too-large")
    articles = validate_articles(items, batch)

    new = new_ingests(articles)
    try:
        accepted = await request.app[ACCEPTANCE].accept(new)
    except BACKEND_ERRORS as exc:
        if not is_unavailable(exc):
            raise  # a 500 without details (logged by the problem middleware)
        # Never a 202 we cannot keep. Whatever was committed before the failure is safe: a
        # retry returns the same ids, and the reconciler dispatches anything left queued.
        # The error stays in the log: it may carry SQL and the article's text.
        log.warning("ingest_unavailable", error=f"{type(exc).__name__}: {exc}"[:500])
        raise unavailable("storage or queue unavailable") from exc
    metrics.ACCEPTED.inc(len(accepted.created))
    receipts = [
        IngestReceipt(ingest_id=item.id, status=status, status_url=f"/ingest/{item.id}")
        for item, status in zip(new, accepted.statuses, strict=True)
    ]
    if batch:
        body: Any = {"receipts": [r.model_dump() for r in receipts]}
    else:
        body = receipts[0].model_dump()
    return web.json_response(body, status=202)
