"""The viewer's routes (listed in service/routes.py). Every page is a read: GET, no side
effect; the two POSTs only set or clear the browser's key cookie.

Copies are re-cleaned from their raw payload (the `ingests` table) with the source's
boilerplate model as it stands now — the worker's own `extract` — since only the canonical
text is stored. That costs an extraction per copy shown, so a story page shows COPIES_PAGE
copies at a time and runs the extractions off the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Iterable
from functools import wraps

from aiohttp import web

from canonry.service.auth import UI_COOKIE, prefers_html
from canonry.service.documents import (
    CURSOR,
    MAX_CURSOR,
    QueryParam,
    best_per_document,
    int_param,
)
from canonry.service.keys import AUTHENTICATOR, INDEX, READS, STORE, UI_QUERIES
from canonry.service.problems import ProblemError
from canonry.service.ui import pages
from canonry.service.ui.compare import compared, shingle_set, side_by_side
from canonry.service.ui.markup import Markup
from canonry.service.ui.queries import IngestRecord, title_words
from canonry.service.ui.session import forget_key, keep_key, safe_next, same_origin
from canonry.service.ui.stripped import counts, stripped_lines
from canonry.workers.analysis import chrome_model
from canonry.workers.article import source_of
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import explain, extract
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.match import DEFAULT_MATCH, score, verified_similarity
from canonry.workers.ports import IndexNotReady, Store

COPIES_PAGE = 20
NEAR_SHOWN = 5
# No control characters (PostgreSQL text cannot hold NUL); empty means "not given" (a form
# sends every field).
_TEXT = r"^[^\x00-\x1f\x7f]{0,500}$"
TITLE_WORDS = QueryParam("words the story's title contains (all of them, case-insensitive)",
                         {"type": "string", "maxLength": 500, "pattern": _TEXT})
STORY_SOURCE = QueryParam("only stories whose founding copy came from this source",
                          {"type": "string", "maxLength": 500, "pattern": _TEXT})
STORY_URL = QueryParam("open the story a URL belongs to (any variant of it, as GET /lookup)",
                       {"type": "string", "pattern": r"^[^\x00-\x1f\x7f]*$"})
BEFORE = QueryParam("cursor: the `older` link of the previous page",
                    {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR})
# A path with its query, as the auth middleware wrote it (percent-encoded: ASCII).
NEXT = QueryParam("the viewer's page to return to", {"type": "string", "pattern": "^[!-~]*$"})
KEY_FORM_BODY = {"type": "object", "required": ["key"], "properties": {
    "key": {"type": "string", "description": "an API key with the `read` scope"},
    "next": {"type": "string", "description": "the viewer's page to return to"}}}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html(markup: Markup, status: int = 200) -> web.Response:
    response = web.Response(text=markup, status=status, content_type="text/html")
    response.headers.update({
        "Content-Security-Policy": pages.CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Pages behind a key are not to be kept by a shared cache or the back button's disk.
        "Cache-Control": "no-store",
    })
    return response


def _keyed(request: web.Request) -> bool:
    return request.app[AUTHENTICATOR] is not None and UI_COOKIE in request.cookies


def page_route(handler: Handler) -> Handler:
    """A viewer route: its errors are pages for a browser, Problem Details for the rest."""

    @wraps(handler)
    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ProblemError as exc:
            if not prefers_html(request):
                raise
            return html(pages.error(exc.status, exc.detail, _keyed(request)), exc.status)

    return serve


def _text_param(request: web.Request, name: str, pattern: str = _TEXT) -> str | None:
    value = request.query.get(name, "").strip()
    if not value:
        return None
    if not re.fullmatch(pattern, value):
        raise ProblemError(422, f"query parameter `{name}` must be text without control "
                                "characters" + (", at most 500 of them" if pattern == _TEXT
                                                else ""), slug="validation-error")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a malformed %-escape
        raise ProblemError(422, f"query parameter `{name}` is not valid text",
                           slug="validation-error") from None
    return value


async def chrome_models(store: Store, sources: Collection[str]) -> dict[str, ChromeModel]:
    """The boilerplate model each source's pages are cleaned with, built as the worker builds
    it (`analysis.chrome_model`) from what the store has learned."""
    if not sources:
        return {}
    known = await store.source_chrome(set(sources))
    cross = await store.cross_source_chrome()
    return {source: chrome_model(source, known.get(source), cross) for source in sources}


def _clean_texts(records: Iterable[IngestRecord], models: dict[str, ChromeModel]
                 ) -> dict[str, str]:
    return {r.id: extract(r.article, models.get(source_of(r.article))).text for r in records}


@page_route
async def stories_page(request: web.Request) -> web.Response:
    url = _text_param(request, "url", STORY_URL.schema["pattern"])
    words, source = _text_param(request, "q"), _text_param(request, "source")
    notice = None
    if url is not None:
        found = await request.app[READS].lookup(url)
        if found is not None:
            raise web.HTTPSeeOther(pages.story_url(found.document_id))
        notice = "No document carries this URL (in any spelling of it)."
    before = int_param(request, "before", 0, 0, MAX_CURSOR) or None
    listing = await request.app[UI_QUERIES].stories(before, source, title_words(words or ""))
    filters = pages.StoryFilters(words=words, source=source, url=url)
    return html(pages.stories(listing, filters, notice, _keyed(request)))


def _thresholds() -> str:
    c = DEFAULT_MATCH
    return (f"A pair is verified as one story at Jaccard ≥ {c.jaccard:g}, or containment ≥ "
            f"{c.containment:g} when the smaller text is at least {c.min_size_ratio:.0%} of "
            f"the larger, or containment ≥ {c.near_total_containment:g} down to "
            f"{c.near_total_min_size_ratio:.0%}. When no candidate verifies, those at Jaccard "
            f"≥ {c.aligned_min_jaccard:g} are judged by the same thresholds on the 5-grams of "
            f"the runs the two texts share in the same order, a changed word inside a run "
            f"forgiven (a copy with words edited here and there).")


async def _near_misses(request: web.Request, document_id: str, text: str
                       ) -> list[pages.NearMiss]:
    """The other documents POST /similar would return for this text, nearest first."""
    fp = await asyncio.to_thread(fingerprint, text)
    try:
        [candidates] = await request.app[INDEX].candidates([fp.hashvalues])
    except IndexNotReady:
        return []
    scored = best_per_document(
        ((score(fp, c), c.document) for c in candidates
         if c.document != document_id and c.size > 0),
        key=lambda pair: (-max(pair[0].jaccard, pair[0].containment), pair[1]))[:NEAR_SHOWN]
    titles = await request.app[READS].titles([doc for _, doc in scored])
    return [pages.NearMiss(doc, titles.get(doc), s.jaccard, s.containment,
                           verified_similarity(s, DEFAULT_MATCH) is not None)
            for s, doc in scored]


@page_route
async def story_page(request: web.Request) -> web.Response:
    document_id = request.match_info["document_id"]
    after = int_param(request, "after", 0, 0, MAX_CURSOR)
    reads = request.app[READS]
    document = await reads.document(document_id, 0)
    if document is None:
        raise ProblemError(404, "no such document", slug="document-not-found")
    copies = await reads.provenance(document_id, after, COPIES_PAGE)
    canonical_ingest = await request.app[UI_QUERIES].canonical_ingest(document_id)
    records = await request.app[UI_QUERIES].ingests([c.ingest_id for c in copies.provenance])
    models = await chrome_models(request.app[STORE],
                                 {source_of(r.article) for r in records.values()})

    def measure() -> list[pages.CopyRow]:
        canonical = shingle_set(document.text)
        texts = _clean_texts(records.values(), models)
        return [pages.CopyRow(c, compared(canonical, document.text, texts[c.ingest_id])
                              if texts.get(c.ingest_id) else None,
                              c.ingest_id == canonical_ingest)
                for c in copies.provenance]

    rows = await asyncio.to_thread(measure)
    near = await _near_misses(request, document_id, document.text)
    return html(pages.story(document, rows, copies.next, near, _thresholds(),
                            _keyed(request)))


@page_route
async def copy_page(request: web.Request) -> web.Response:
    document_id, ingest_id = request.match_info["document_id"], request.match_info["ingest_id"]
    reads = request.app[READS]
    document = await reads.document(document_id, 0)
    copy = await reads.copy(document_id, ingest_id) if document is not None else None
    records = await request.app[UI_QUERIES].ingests([ingest_id]) if copy is not None else {}
    if document is None or copy is None or ingest_id not in records:
        raise ProblemError(404, "no such copy of this document", slug="copy-not-found")
    record = records[ingest_id]
    learned = request.query.get("learned", "1") != "0"
    models = (await chrome_models(request.app[STORE], {source_of(record.article)})
              if learned else {})

    def measure() -> tuple:
        text = _clean_texts([record], models)[ingest_id]
        figures = compared(shingle_set(document.text), document.text, text) if text else None
        return figures, *side_by_side(document.text, text)

    figures, left, right = await asyncio.to_thread(measure)
    return html(pages.compare(document, copy, figures, left, right, learned, _keyed(request)))


@page_route
async def stripped_page(request: web.Request) -> web.Response:
    ingest_id = request.match_info["ingest_id"]
    record = (await request.app[UI_QUERIES].ingests([ingest_id])).get(ingest_id)
    if record is None:
        raise ProblemError(404, "no such ingest", slug="ingest-not-found")
    source = source_of(record.article)
    model = (await chrome_models(request.app[STORE], {source}))[source]

    def explained() -> tuple:
        explanation = explain(record.article, model)
        return explanation, stripped_lines(explanation, record.article.html)

    explanation, lines = await asyncio.to_thread(explained)
    story = pages.story_url(record.document_id) if record.document_id else None
    return html(pages.stripped(ingest_id, record.article.url, source, lines, counts(lines),
                               explanation.from_html, story, _keyed(request)))


async def key_form(request: web.Request) -> web.Response:
    authenticator = request.app[AUTHENTICATOR]
    next_path = safe_next(request.query.get("next"))
    if authenticator is None:
        return html(pages.key_form(next_path, open_service=True))
    error = ("That key is not valid (any more): enter it again."
             if request.query.get("reason") == "invalid" else None)
    return html(pages.key_form(next_path, error))


@page_route
async def post_key(request: web.Request) -> web.Response:
    if not same_origin(request):
        raise ProblemError(403, "a key is entered from this service's own page only",
                           slug="cross-site-request")
    if request.content_type != "application/x-www-form-urlencoded":
        raise ProblemError(415, "send the form (application/x-www-form-urlencoded)",
                           slug="unsupported-media-type")
    form = await request.post()
    next_path = safe_next(str(form.get("next") or ""))
    authenticator = request.app[AUTHENTICATOR]
    if authenticator is None:
        raise web.HTTPSeeOther(next_path)
    presented = str(form.get("key") or "").strip()
    key = authenticator.find(presented) if presented else None
    if key is None or "read" not in key.scopes:
        # Re-shown with the reason (a form's answer), never echoing what was typed.
        why = ("Enter an API key." if not presented else "That key is not valid."
               if key is None else "That key lacks the `read` scope the viewer needs.")
        return html(pages.key_form(next_path, why))
    response = web.HTTPSeeOther(next_path)
    keep_key(response, request, presented)
    raise response


@page_route
async def post_logout(request: web.Request) -> web.Response:
    if not same_origin(request):
        raise ProblemError(403, "the key is forgotten from this service's own page only",
                           slug="cross-site-request")
    response = web.HTTPSeeOther(pages.KEY_FORM)
    forget_key(response, request)
    raise response


STORY_QUERY = {"after": CURSOR}
COPY_QUERY = {"learned": QueryParam("0: clean the copy without learned boilerplate",
                                    {"type": "string", "enum": ["0", "1"], "default": "1"})}
STORIES_QUERY = {"q": TITLE_WORDS, "source": STORY_SOURCE, "url": STORY_URL, "before": BEFORE}
KEY_FORM_QUERY = {"next": NEXT, "reason": QueryParam("why the key is asked again",
                                                     {"type": "string", "enum": ["invalid"]})}
