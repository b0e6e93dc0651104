"""GET /events: every change to a document, in commit order, from the transactional outbox.

Two ways to read, one sequence: `Accept: text/event-stream` gets Server-Sent Events that stay
open (`id:` is the event's seq, so a reconnecting EventSource resumes with `Last-Event-ID`;
a comment line every HEARTBEAT seconds keeps proxies from closing an idle stream); any other
Accept gets one JSON page, like the change feed. Both read the database, on every backend, so
an event exists exactly when its change committed. In production the same events are also on
the Redis stream (workers/adapters/redis/events.py) for consumers with their own groups.
"""

from __future__ import annotations

import time

from aiohttp import web

from canonry.schemas.api import EventOut, EventPage
from canonry.service.documents import DEFAULT_PAGE, MAX_CURSOR, MAX_PAGE, int_param
from canonry.service.keys import BACKENDS, STOPPING
from canonry.workers.ports import Event

STREAM_BATCH = 500
POLL_SECONDS = 1.0  # how often a stream looks for events other processes committed
HEARTBEAT = 15.0


def _out(event: Event) -> EventOut:
    return EventOut(seq=event.seq, type=event.type, document_id=event.document_id,
                    version=event.version, ingest_id=event.ingest_id, at=event.at)


async def get_events(request: web.Request) -> web.StreamResponse:
    after = int_param(request, "after", 0, 0, MAX_CURSOR)
    store = request.app[BACKENDS].store
    if "text/event-stream" not in request.headers.get("Accept", ""):
        limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        events = await store.events_after(after, limit)
        page = EventPage(events=[_out(e) for e in events],
                         next=events[-1].seq if events else after)
        return web.json_response(text=page.model_dump_json())
    last_id = request.headers.get("Last-Event-ID", "")
    if last_id.isdigit() and last_id.isascii():
        after = max(after, min(int(last_id), MAX_CURSOR))
    return await _stream(request, after)


async def _stream(request: web.Request, after: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    store, bus = request.app[BACKENDS].store, request.app[BACKENDS].events
    stopping = request.app[STOPPING]
    await response.write(b"retry: 2000\n\n")
    quiet_since = time.monotonic()
    while not stopping.is_set():
        events = await store.events_after(after, STREAM_BATCH)
        if events:
            await response.write(b"".join(
                f"id: {e.seq}\nevent: {e.type}\ndata: {_out(e).model_dump_json()}\n\n".encode()
                for e in events))
            after, quiet_since = events[-1].seq, time.monotonic()
            continue
        if time.monotonic() - quiet_since >= HEARTBEAT:
            await response.write(b": keep-alive\n\n")  # also finds a client that has gone
            quiet_since = time.monotonic()
        await bus.wait(POLL_SECONDS)
    return response
