"""Read rates of what consumers follow, on a store the end-to-end run has just filled: the change
feed (GET /documents pages), the event pages (GET /events) and stream (Server-Sent Events), and
in production the Redis event stream. The peer, from the same run and the same rows: the
database read alone (the feed's SELECT through SQLAlchemy, no HTTP, no JSON) — what the HTTP
layer costs on top of the floor."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench.service import AUTH_HEADERS
from canonry.schemas.tables import documents
from canonry.service.reads import Reads
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.sql.database import make_engine

PAGE = 100


async def _pages(session: aiohttp.ClientSession, url: str, key: str) -> tuple[int, float]:
    """Items read from the start to the head, page by page, and the seconds it took."""
    count, after, started = 0, 0, time.perf_counter()
    while True:
        async with session.get(url, params={"after": after, "limit": PAGE}) as response:
            response.raise_for_status()
            page = await response.json()
        count += len(page[key])
        if not page[key]:
            return count, time.perf_counter() - started
        after = int(page["next"])


async def _sse(session: aiohttp.ClientSession, base_url: str, total: int) -> float:
    started = time.perf_counter()
    seen = 0
    async with session.get(f"{base_url}/events",
                           headers={"Accept": "text/event-stream"}) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"id: "):
                seen += 1
                if seen >= total:
                    break
    return time.perf_counter() - started


async def _database_floor(database_url: str) -> tuple[int, float]:
    engine = make_engine(database_url)
    try:
        reads = Reads(engine)
        count, after, started = 0, 0, time.perf_counter()
        async with engine.connect() as conn:  # warm the pool and the page cache alike
            await conn.execute(documents.select().limit(1))
        while True:
            page = await reads.feed(after, PAGE)
            count += len(page.documents)
            if not page.documents:
                return count, time.perf_counter() - started
            after = int(page.next or after)
    finally:
        await engine.dispose()


async def _redis_stream(redis_url: str, prefix: str) -> tuple[int, float]:
    client = Redis.from_url(redis_url)
    try:
        key = RedisKeys(prefix).events
        count, last, started = 0, "0", time.perf_counter()
        while True:
            reply = await client.xread({key: last}, count=1000)
            if not reply:
                return count, time.perf_counter() - started
            entries = reply[0][1]
            count += len(entries)
            last = entries[-1][0]
    finally:
        await client.aclose()


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


async def read_figures(base_url: str, database_url: str, redis_url: str | None = None,
                       prefix: str | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=AUTH_HEADERS) as session:
        feed_count, feed_s = await _pages(session, f"{base_url}/documents", "documents")
        events_count, events_s = await _pages(session, f"{base_url}/events", "events")
        sse_s = await _sse(session, base_url, events_count)
    floor_count, floor_s = await _database_floor(database_url)
    figures: dict[str, Any] = {
        "value": _rate(feed_count, feed_s), "unit": "documents/s", "name": "change feed",
        "documents": feed_count, "page": PAGE,
        "events_pages": {"value": _rate(events_count, events_s), "unit": "events/s",
                         "events": events_count},
        "events_sse": {"value": _rate(events_count, sse_s), "unit": "events/s"},
        "peer": {"name": "the feed's database read alone (Reads.feed, no HTTP)",
                 "value": _rate(floor_count, floor_s), "unit": "documents/s"},
    }
    if redis_url and prefix:
        count, seconds = await _redis_stream(redis_url, prefix)
        figures["redis_stream"] = {"value": _rate(count, seconds), "unit": "events/s",
                                   "events": count}
    return figures
