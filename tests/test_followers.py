"""Consumers following Canonry while it works (issue 11): with 2 worker processes committing
2,000 articles with duplicates and upgrades, a reader of GET /events (Server-Sent Events), a
reader of the Redis event stream (its own consumer group) and a reader of the change feed,
all from the start, see every change exactly once, in order, and end with the view GET
/documents/{id} serves. Production backends: PostgreSQL, Redis Streams, the Redis LSH index."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from canonry.service.config import Settings
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.sql.store import SqlStore as Store
from tests import synthetic
from tests.test_production import api, finished, post_all, start_worker, store, worker_env

pytestmark = pytest.mark.slow
__all__ = ["api", "store"]  # fixtures

STORIES = 800  # 2-3 copies each: about 2,000 articles
DEADLINE = 600.0


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def follow_sse(client: TestClient, last: asyncio.Future[int]) -> list[dict[str, Any]]:
    """Events from the start until the one at sequence `last` (known once the workers end)."""
    response = await client.get("/events", headers={"Accept": "text/event-stream"})
    assert response.status == 200 and response.content_type == "text/event-stream"
    events: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    try:
        while not (last.done() and events and events[-1]["seq"] >= last.result()):
            line = (await response.content.readline()).decode()
            if line == "\n":
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert int(fields["id"]) == event["seq"]
                    events.append(event)
                fields = {}
            elif not line.startswith(":"):  # ":" lines are heartbeats
                name, _, value = line.rstrip("\n").partition(": ")
                fields[name] = value
    finally:
        response.close()
    return events


async def follow_stream(redis: Redis, key: str, last: asyncio.Future[int]) -> list[int]:
    """The Redis event stream through a consumer group of its own, acknowledging as it goes."""
    await redis.xgroup_create(key, "test-follower", id="0", mkstream=True)
    seqs: list[int] = []
    while not (last.done() and seqs and seqs[-1] >= last.result()):
        reply = await redis.xreadgroup("test-follower", "c1", {key: ">"}, count=200, block=500)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                seq, _, zero = entry_id.decode().partition("-")  # the entry id is "<seq>-0"
                assert zero == "0" and fields[b"type"]
                seqs.append(int(seq))
                await redis.xack(key, "test-follower", entry_id)
    return seqs


async def follow_feed(client: TestClient, last: asyncio.Future[int]) -> list[dict[str, Any]]:
    """Feed pages from the start, polling at the head, until the head passes `last`."""
    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await client.get(f"/documents?after={after}&limit=50")
        assert response.status == 200
        page = await response.json()
        seen += page["documents"]
        after = int(page["next"])
        if not page["documents"]:
            if last.done() and after >= last.result():
                return seen
            await asyncio.sleep(0.05)  # at the head: poll again, as a feed reader does


async def test_followers_see_every_change_once_and_end_with_the_served_view(
    settings: Settings, api: TestClient, store: Store, redis: Redis, keys: RedisKeys
) -> None:
    articles = synthetic.articles(STORIES)
    assert 1900 <= len(articles) <= 2500
    last: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    followers = asyncio.gather(follow_sse(api, last), follow_stream(redis, keys.events, last),
                               follow_feed(api, last))
    await post_all(api, articles, batch=500)
    env = worker_env(settings)
    workers = [await start_worker(env, "--burst") for _ in range(2)]
    await asyncio.gather(*(finished(w) for w in workers))
    last_seq = await store.last_event_seq()
    assert last_seq >= STORIES  # something to follow: a change per story at least
    last.set_result(last_seq)
    events, stream, feed = await asyncio.wait_for(followers, DEADLINE)

    # Events: every change once, in commit order, gap-free.
    assert [e["seq"] for e in events] == list(range(1, last_seq + 1))
    assert stream == list(range(1, last_seq + 1))
    kinds = Counter(e["type"] for e in events)
    assert kinds["document.created"] == STORIES
    assert kinds["duplicate.added"] > 0 and kinds["document.updated"] > 0  # upgrades happened
    assert sum(kinds.values()) == len(articles)  # one change per article

    # The feed: no change twice. A document reappears only after a later change: a new
    # version (upgrade) or another copy, and neither count ever goes back.
    state: dict[str, tuple[int, int]] = {}
    for document in feed:
        now = (document["version"], document["provenance_count"])
        before = state.get(document["id"], (0, 0))
        assert now != before and now[0] >= before[0] and now[1] >= before[1], document["id"]
        state[document["id"]] = now
    final = {d["id"]: d for d in feed}  # a document's last appearance is its latest change
    assert len(final) == STORIES

    # Both end with the served view.
    last_event = {e["document_id"]: e for e in events}
    for document_id, view in final.items():
        response = await api.get(f"/documents/{document_id}?provenance_limit=0")
        served = await response.json()
        served.pop("provenance")
        view.pop("provenance", None)
        assert view == served, document_id
        assert last_event[document_id]["version"] == served["version"]
        assert Counter(e["document_id"] for e in events)[document_id] == served[
            "provenance_count"]
