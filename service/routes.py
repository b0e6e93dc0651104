"""The route table: one list drives both the router and /openapi.json, so a route cannot be
served without being documented."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from canonry.schemas import api
from canonry.service import docs, documents, events, health, ingest
from canonry.service.auth import ANY_KEY
from canonry.service.ui import handlers as ui

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    scope: str | None = "read"  # the API-key scope it needs (service/auth.py); None: open
    request: tuple[type[BaseModel], ...] = ()  # alternatives: a body matches one of them
    response: tuple[type[BaseModel], ...] = ()
    ndjson: bool = False  # also takes application/x-ndjson, one request model a line
    sse: bool = False  # with Accept: text/event-stream, answers a stream of Server-Sent Events
    html: bool = False  # answers a text/html page
    # A page of the story viewer: also takes the key from the viewer's cookie, and sends a
    # browser without a key to the key form (service/auth.py).
    browser: bool = False
    # A browser asking for a page (Accept: text/html) is sent here (303) first.
    browser_redirect: str | None = None
    form: dict[str, Any] | None = None  # JSON Schema of an x-www-form-urlencoded body
    see_other: bool = False  # may answer 303 See Other (a redirect)
    query: dict[str, documents.QueryParam] = field(default_factory=dict)
    errors: tuple[int, ...] = ()


ROUTES: tuple[Route, ...] = (
    Route("POST", "/ingest", ingest.post_ingest,
          "Accept one article, a batch {articles: [...]} or NDJSON; 202 with receipts",
          status=202, scope="ingest", request=(api.ArticleIn, api.ArticleBatchIn),
          response=(api.IngestReceipt, api.IngestBatchReceipt), ndjson=True,
          errors=(400, 408, 413, 415, 422, 503)),
    Route("GET", "/ingest/{ingest_id}", documents.get_ingest, "Processing status of one ingest",
          response=(api.IngestStatus,), errors=(404, 503)),
    Route("GET", "/documents", documents.list_documents,
          "Change feed: documents changed after the cursor, oldest change first",
          response=(api.DocumentPage,), query={"after": documents.CURSOR,
                                              "limit": documents.PAGE_SIZE,
                                              "source": documents.FEED_SOURCE,
                                              "language": documents.FEED_LANGUAGE,
                                              "since": documents.FEED_SINCE},
          errors=(422, 503)),
    Route("GET", "/documents/{document_id}", documents.get_document,
          "A canonical document with its first provenance entries", response=(api.DocumentOut,),
          query={"provenance_limit": documents.PROVENANCE_LIMIT},
          errors=(404, 422, 503)),
    Route("GET", "/documents/{document_id}/provenance", documents.get_provenance,
          "Every copy of the story, paginated", response=(api.ProvenancePage,),
          query={"after": documents.CURSOR, "limit": documents.PAGE_SIZE},
          errors=(404, 422, 503)),
    Route("GET", "/events", events.get_events,
          "Push events (document.created, document.updated, duplicate.added) in commit order: "
          "Server-Sent Events with Accept: text/event-stream (resume with Last-Event-ID), "
          "else one JSON page", response=(api.EventPage,), sse=True,
          query={"after": documents.CURSOR, "limit": documents.PAGE_SIZE},
          errors=(422, 503)),
    Route("GET", "/lookup", documents.lookup, "Which canonical document a URL belongs to",
          response=(api.LookupOut,), query={"url": documents.LOOKUP_URL},
          errors=(404, 422, 503)),
    Route("POST", "/similar", documents.post_similar,
          "Canonical documents nearest to a text, with estimated similarity",
          request=(api.SimilarIn,), response=(api.SimilarOut,),
          errors=(400, 408, 413, 415, 422, 503)),
    Route("GET", "/", docs.index, "Where to start: links to the docs, the spec and the health "
          "routes; a browser (Accept: text/html) is sent to the story viewer", scope=ANY_KEY,
          browser_redirect="/ui/", see_other=True),
    Route("GET", "/ui/", ui.stories_page,
          "Story viewer: the latest stories, searched by title words, source or any URL",
          html=True, browser=True, query=ui.STORIES_QUERY, see_other=True, errors=(404, 422, 503)),
    Route("GET", "/ui/stories/{document_id}", ui.story_page,
          "Story viewer: one story, its canonical text, every copy with its similarity, and "
          "its near misses", html=True, browser=True, query=ui.STORY_QUERY,
          see_other=True, errors=(404, 422, 503)),
    Route("GET", "/ui/stories/{document_id}/copies/{ingest_id}", ui.copy_page,
          "Story viewer: a copy beside the canonical text, shared and differing passages "
          "marked", html=True, browser=True, query=ui.COPY_QUERY, see_other=True,
          errors=(404, 503)),
    Route("GET", "/ui/ingests/{ingest_id}/stripped", ui.stripped_page,
          "Story viewer: an ingest's raw page, each removed line labelled with the rule that "
          "removed it", html=True, browser=True, see_other=True, errors=(404, 503)),
    Route("GET", "/ui/key", ui.key_form, "Story viewer: the form a browser enters its API key "
          "in", scope=None, html=True, query=ui.KEY_FORM_QUERY),
    Route("POST", "/ui/key", ui.post_key, "Story viewer: keep an API key (read scope) in this "
          "browser's session cookie; 303 back, or the form again with the reason",
          scope=None, html=True, form=ui.KEY_FORM_BODY, see_other=True, errors=(403, 415)),
    Route("POST", "/ui/logout", ui.post_logout, "Story viewer: forget the browser's API key",
          status=303, scope=None, errors=(403,)),
    Route("GET", "/docs", docs.docs, "This API, rendered (Swagger UI)", scope=ANY_KEY,
          html=True),
    Route("GET", "/healthz", health.healthz, "Liveness", scope=None),
    Route("GET", "/readyz", health.readyz, "Readiness: database and queue answer", scope=None,
          errors=(503,)),
    # Open unless CANONRY_METRICS_SCOPE names a scope (the app applies it).
    Route("GET", "/metrics", health.metrics, "Prometheus metrics", scope=None),
)
METRICS_PATH = "/metrics"


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)  # and HEAD, as HTTP expects
        else:
            app.router.add_route(route.method, route.path, route.handler)
