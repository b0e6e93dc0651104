"""Push events from the transactional outbox: GET /events (a JSON page, or Server-Sent Events)
on every backend, and the Redis event stream in production. Every committed change is one
event, gap-free and in commit order, and the last event of each document names the version
GET /documents/{id} serves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from canonry.service.keys import BACKENDS
from canonry.workers.adapters.redis.keys import RedisKeys
from tests import synthetic

DEADLINE = 120.0


async def ingest_all(client: TestClient, articles: list[dict]) -> list[str]:
    body = {"articles": [{k: v for k, v in a.items() if k != "cluster"} for a in articles]}
    response = await client.post("/ingest", json=body)
    assert response.status == 202, await response.text()
    ids = [r["ingest_id"] for r in (await response.json())["receipts"]]

    async def finished(ingest_id: str) -> bool:
        status = (await (await client.get(f"/ingest/{ingest_id}")).json())["status"]
        return status in ("done", "failed")

    async def all_done() -> None:
        for ingest_id in ids:
            while not await finished(ingest_id):  # noqa: ASYNC110 - polling over HTTP
                await asyncio.sleep(0.02)

    await asyncio.wait_for(all_done(), DEADLINE)
    return ids


async def all_events(client: TestClient, after: int = 0) -> list[dict]:
    events: list[dict] = []
    while True:
        page = await (await client.get(f"/events?after={after}&limit=7")).json()
        events += page["events"]
        if page["next"] == after:
            return events
        after = page["next"]


async def sse(client: TestClient, count: int, headers: dict[str, str] | None = None,
              query: str = "") -> AsyncIterator[dict]:
    """The first `count` events of a Server-Sent Events stream, as (id, event, data) dicts."""
    response = await client.get(f"/events{query}",
                                headers={"Accept": "text/event-stream", **(headers or {})})
    assert response.status == 200 and response.content_type == "text/event-stream"
    seen = 0
    fields: dict[str, str] = {}
    try:
        while seen < count:
            line = (await asyncio.wait_for(response.content.readline(), DEADLINE)).decode()
            if line == "\n":
                if "data" in fields:
                    seen += 1
                    yield fields
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.rstrip("\n").partition(": ")
                fields[name] = value
    finally:
        response.close()


async def test_every_change_is_one_event_in_commit_order(client: TestClient) -> None:
    articles = synthetic.articles(6, copies=(1, 3))
    ingest_ids = await ingest_all(client, articles)
    events = await all_events(client)
    assert len(events) == len(ingest_ids)  # one decision, one event
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # gap-free, in order
    assert {e["ingest_id"] for e in events} == set(ingest_ids)
    created = [e for e in events if e["type"] == "document.created"]
    assert len(created) == 6 and all(e["version"] == 1 for e in created)
    assert {e["type"] for e in events} <= {"document.created", "duplicate.added",
                                           "document.updated"}
    last_of: dict[str, dict] = {}
    for event in events:
        previous = last_of.get(event["document_id"])
        # a document is created before anything else happens to it; versions never go back
        assert (previous is None) == (event["type"] == "document.created")
        assert previous is None or event["version"] >= previous["version"]
        last_of[event["document_id"]] = event
    for document_id, event in last_of.items():
        document = await (await client.get(f"/documents/{document_id}")).json()
        assert document["version"] == event["version"]
    # Resuming after a seq gives exactly the rest.
    assert await all_events(client, after=events[3]["seq"]) == events[4:]


async def test_server_sent_events_stream_then_follow_new_commits(client: TestClient) -> None:
    first = await ingest_all(client, synthetic.articles(3, copies=(1, 2)))
    page = await all_events(client)
    streamed = [f async for f in sse(client, len(first))]
    assert [int(f["id"]) for f in streamed] == [e["seq"] for e in page]
    assert [f["event"] for f in streamed] == [e["type"] for e in page]
    assert [json.loads(f["data"]) for f in streamed] == page

    # A reconnecting EventSource sends Last-Event-ID: it gets only what came after, including
    # changes committed while it is connected.
    reader = sse(client, 2, headers={"Last-Event-ID": str(page[-1]["seq"])})
    later = asyncio.ensure_future(anext(reader))
    more = await ingest_all(client, [{"url": "https://later.example/1", "text":
                                      synthetic.story(9001)},
                                     {"url": "https://later.example/2", "text":
                                      synthetic.story(9002)}])
    got = [await later, await anext(reader)]
    await reader.aclose()
    assert {json.loads(f["data"])["ingest_id"] for f in got} == set(more)
    assert [int(f["id"]) for f in got] == [page[-1]["seq"] + 1, page[-1]["seq"] + 2]


@pytest.mark.parametrize("backend", ["redis"])
async def test_the_redis_stream_carries_the_outbox_once_and_again_after_a_restart(
    client: TestClient, redis: Redis, keys: RedisKeys, backend: str
) -> None:
    await ingest_all(client, synthetic.articles(4, copies=(1, 3)))
    events = await all_events(client)
    entries = await redis.xrange(keys.events)
    assert [entry_id.decode() for entry_id, _ in entries] == [f"{e['seq']}-0" for e in events]
    assert [fields[b"type"].decode() for _, fields in entries] == [e["type"] for e in events]
    bus = client.app[BACKENDS].events
    assert await bus.relay() == 0  # relaying again adds nothing: no duplicates
    # Redis restarted empty (or a process died between commit and publish): the relay
    # publishes the outbox again, each event once, with the same ids.
    await redis.delete(keys.events)
    assert await bus.relay() == len(events)
    again = await redis.xrange(keys.events)
    assert [entry_id for entry_id, _ in again] == [entry_id for entry_id, _ in entries]
