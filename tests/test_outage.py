"""Outages of the production backends (part of issue 10): Redis killed and restarted empty, the
database unreachable.

What must hold: no story becomes a second document because the index was empty (nothing is
decided until it is rebuilt, and the rebuild starts at once), no accepted article is lost (the
open ingests are dispatched again as soon as Redis is back), a worker logs an outage once,
not once per failed try, and every route answers 503 + Retry-After, never a 500 or SQL.

Real servers only: a private redis-server per test (the one killed), the suite's PostgreSQL
(behind a proxy where a test plays its outage), real `canonry worker` processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import random
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from canonry.service.app import create_app
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.engine import reconciler
from canonry.service.keys import STORE
from canonry.service.operations import reindex
from canonry.workers.adapters.redis.index import RebuildInterrupted, RedisIndex, blocks_of
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.ports import Claim, IndexNotReady
from tests import synthetic
from tests.servers import PrivateRedis, TcpProxy, api_client
from tests.test_production import (
    document_count,
    documents_by_cluster,
    post_all,
    status_counts,
    wait_for,
    worker_env,
)
from tests.test_redis_index import Signatures

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
def outage_settings(settings: Settings, redis_server: PrivateRedis) -> Settings:
    # The reconcile tick is set far away, so whatever recovers here recovers because of the
    # outage handling itself (the issue saw nothing move for a whole interval).
    return dataclasses.replace(settings, redis_url=redis_server.url, reconcile_seconds=3600.0,
                               allow_open=True)


@pytest.fixture
async def store(outage_settings: Settings) -> AsyncIterator[SqlStore]:
    store = SqlStore.connect(outage_settings.database_url)
    yield store
    await store.close()


async def until(condition: Callable[[], bool | Awaitable[bool]], limit: float = 120) -> None:
    """Poll a condition other processes make true (no event to await), for at most `limit`."""
    async with asyncio.timeout(limit):
        while True:
            answer = condition()
            if await answer if inspect.isawaitable(answer) else answer:
                return
            await asyncio.sleep(0.05)


class ProcessLog:
    """Every line a process writes, read as it comes (so its pipe never fills); JSON lines
    (CANONRY_LOG_FORMAT=json) are looked up by their structlog event."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read(process.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())

    def events(self, event: str) -> list[dict]:
        found = []
        for line in self.lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == event:
                found.append(record)
        return found

    async def wait_for(self, event: str, count: int = 1, limit: float = 60) -> None:
        await until(lambda: len(self.events(event)) >= count, limit)

    def tail(self) -> str:
        return "\n".join(self.lines[-40:])


async def start_logged_worker(settings: Settings) -> tuple[asyncio.subprocess.Process,
                                                            ProcessLog]:
    env = worker_env(settings, CANONRY_LOG_LEVEL="debug", CANONRY_LOG_FORMAT="json",
                     CANONRY_RECONCILE_SECONDS=str(settings.reconcile_seconds),
                     CANONRY_CPU_WORKERS="0")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "worker", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    return process, ProcessLog(process)


async def stop_worker(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def readiness(api: TestClient) -> tuple[int, str]:
    response = await api.get("/readyz")
    return response.status, await response.text()


def second_copies(stories: list[dict]) -> list[dict]:
    """Another site's near-identical copy of each story: only the LSH index can tell it is
    one (its text hash and URL are new), which is what an empty index gets wrong."""
    return [{"url": f"https://mirror.example/{a['cluster']}",
             "text": synthetic.syndicated_copy(a["text"], 1), "cluster": a["cluster"]}
            for a in stories]


async def test_redis_restarted_empty_doubles_no_story_and_loses_none(
    outage_settings: Settings, redis_server: PrivateRedis, store: SqlStore
) -> None:
    """The issue's scenario, scaled down: 80 stories done, Redis killed, restarted empty, a
    second copy of each story posted (half accepted just before the crash, so lost from the
    stream; half after the restart, before any rebuild) → 80 documents, 160 done."""
    stories = synthetic.articles(80, copies=(1, 1))
    copies = second_copies(stories)
    before_crash, after_restart = copies[:40], copies[40:]
    worker, log = await start_logged_worker(outage_settings)
    try:
        async with api_client(create_app(outage_settings, run_workers=False)) as api:
            await post_all(api, stories)

            async def first_done() -> bool:
                return await status_counts(store) == {"done": len(stories)}

            await until(first_done)
            worker.send_signal(signal.SIGSTOP)  # hold the worker while the stream fills
            await post_all(api, before_crash)
            await redis_server.kill()
            worker.send_signal(signal.SIGCONT)
            # The worker meets the outage: one line for it, however many tries fail.
            await log.wait_for("queue_unavailable_again", count=3)
            worker.send_signal(signal.SIGSTOP)  # so the check below sees Redis as it came back
            await redis_server.start()
            async with Redis.from_url(redis_server.url) as fresh:
                keys = RedisKeys(outage_settings.redis_prefix)
                assert await fresh.dbsize() == 0  # precondition: Redis really came back empty
                assert not await fresh.exists(keys.index_loaded)

            async def index_not_ready() -> bool:  # the API's first command may still fail
                status, body = await readiness(api)
                return status == 503 and "index rebuilding" in body

            await until(index_not_ready, limit=30)
            await post_all(api, after_restart)  # accepted, but nothing may decide them yet
            worker.send_signal(signal.SIGCONT)

            async def all_done() -> bool:
                return await status_counts(store) == {"done": len(stories) + len(copies)}

            await until(all_done)
            status, body = await readiness(api)
            assert status == 200, body
    finally:
        await stop_worker(worker)
    clusters = await documents_by_cluster(store, stories + copies)
    doubled = sorted(c for c, docs in clusters.items() if len(docs) != 1)
    assert doubled == [], f"{len(doubled)} stories became two documents"
    assert await document_count(store) == len(stories)
    # One line per change of state, and the rebuild done once, at once, by the worker. The
    # outage starts and ends once; a pooled connection to the killed server can fail once more
    # after the restart ("Connection closed by server"), a second short outage, also ended.
    down, up = log.events("queue_unavailable"), log.events("queue_available")
    assert 1 <= len(down) <= 2 and len(up) == len(down), log.tail()
    assert up[0]["failures"] >= 3
    [rebuilt] = log.events("index_rebuilt")
    assert rebuilt["entries"] == len(stories)
    assert rebuilt["redispatched"] >= len(after_restart)
    assert log.events("queue_receive_failed") == []


async def test_readyz_is_503_until_the_index_is_rebuilt(
    outage_settings: Settings, redis_server: PrivateRedis
) -> None:
    async with api_client(create_app(outage_settings, run_workers=False)) as api:
        status, body = await readiness(api)
        assert status == 200, body  # the engine loaded the (empty) index at start
        await redis_server.kill()
        await redis_server.start()

        async def rebuilding() -> bool:
            status, body = await readiness(api)
            return status == 503 and "index rebuilding" in body

        await until(rebuilding, limit=30)
        response = await api.get("/readyz")
        assert response.headers["Retry-After"] and response.content_type == PROBLEM
        # What a worker does before it takes work: finds the marker missing and rebuilds.
        async with open_backends(outage_settings) as backends:
            assert await reconciler(outage_settings, backends).ensure_ready()

        async def ready() -> bool:
            return (await readiness(api))[0] == 200

        await until(ready, limit=30)


async def test_every_route_answers_503_while_redis_is_down(
    outage_settings: Settings, redis_server: PrivateRedis
) -> None:
    async with api_client(create_app(outage_settings, run_workers=False)) as api:
        await redis_server.kill()
        story = synthetic.story(1)
        requests = {
            "POST /similar": lambda: api.post("/similar", json={"text": story}),
            "GET /readyz": lambda: api.get("/readyz"),
            "POST /ingest": lambda: api.post("/ingest", json={"url": "https://a.example/1",
                                                              "text": story}),
        }
        for name, request in requests.items():
            await assert_unavailable(await request(), name)
        # The read side needs only the database: it keeps serving through a Redis outage.
        response = await api.get("/documents")
        assert response.status == 200, await response.text()


async def test_every_route_answers_503_while_the_database_is_down(
    outage_settings: Settings,
) -> None:
    parts = urlsplit(outage_settings.database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    through_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    settings = dataclasses.replace(outage_settings, database_url=through_proxy)
    try:
        async with api_client(create_app(settings, run_workers=False)) as api:
            assert (await api.get("/documents")).status == 200
            await proxy.cut()
            story, hex_id = synthetic.story(2), "0" * 26
            requests = {
                "GET /documents": lambda: api.get("/documents"),
                "GET /documents/{id}": lambda: api.get(f"/documents/doc_{hex_id}"),
                "GET /documents/{id}/provenance":
                    lambda: api.get(f"/documents/doc_{hex_id}/provenance"),
                "GET /ingest/{id}": lambda: api.get(f"/ingest/ing_{hex_id}"),
                "GET /lookup": lambda: api.get("/lookup", params={"url": "https://a.example/1"}),
                "POST /ingest": lambda: api.post("/ingest", json={"url": "https://a.example/2",
                                                                  "text": story}),
                "GET /readyz": lambda: api.get("/readyz"),
            }
            for name, request in requests.items():
                await assert_unavailable(await request(), name)
    finally:
        await proxy.cut()


async def assert_unavailable(response, name: str) -> None:
    body = await response.text()
    assert response.status == 503, f"{name}: {response.status} {body}"
    assert response.headers.get("Retry-After"), name
    assert response.content_type == PROBLEM, name
    problem = json.loads(body)
    assert problem["status"] == 503
    for leak in ("SELECT", "INSERT", "Traceback", "File \""):
        assert leak not in body, f"{name}: {body}"


# -- the rebuild's guards, one at a time --------------------------------------------------------


def entry(n: int) -> IndexEntry:
    rng = random.Random(n)
    return IndexEntry(document_id=f"doc_{n}", text_hash=f"h{n}",
                      hashvalues=tuple(rng.getrandbits(32) for _ in range(256)), size=100,
                      seen_at=float(n))


@pytest.fixture
async def index(redis: Redis, keys: RedisKeys) -> RedisIndex:
    return RedisIndex(redis, keys, chunk_size=2)


async def test_a_guarded_index_refuses_claims_until_loaded(
    redis: Redis, keys: RedisKeys, index: RedisIndex
) -> None:
    index.require_loaded()
    with pytest.raises(IndexNotReady):
        await index.claim([Claim(entry(1), set())])
    assert await index.size() == 0  # nothing written
    await redis.set(keys.index_loaded, "1")
    assert await index.claim([Claim(entry(1), set())]) == [[]]


async def test_fill_keeps_newer_entries_and_stops_when_the_lock_is_lost(
    redis: Redis, keys: RedisKeys
) -> None:
    store = Signatures()
    index = RedisIndex(redis, keys, signatures=store, chunk_size=2)
    store.commit(*(entry(n) for n in range(8)))  # the database snapshot being loaded
    newer = dataclasses.replace(entry(1), text_hash="newer")
    store.commit(newer)  # an upgrade committed after the restart, indexed by its writer
    await index.replace([newer])
    await redis.set(keys.rebuild_lock, "mine")
    await index.fill(blocks_of([entry(n) for n in range(4)]), keys.rebuild_lock, "mine", 10_000)
    found = await index.candidates([entry(n).hashvalues for n in range(8)])
    assert [[e.document_id for e in f] for f in found] == [
        ["doc_0"], ["doc_1"], ["doc_2"], ["doc_3"], [], [], [], []]
    assert found[1][0].text_hash == "newer"  # the index answers what the store holds now
    # Redis restarted (or another process took over): the lock is not this rebuild's.
    await redis.set(keys.rebuild_lock, "someone else")
    with pytest.raises(RebuildInterrupted):
        await index.fill(blocks_of([entry(n) for n in range(4, 8)]), keys.rebuild_lock, "mine",
                         10_000)
    assert await index.candidates([entry(n).hashvalues for n in range(4, 8)]) == [[]] * 4
    await redis.delete(keys.rebuild_lock)  # and a restart leaves no lock at all
    with pytest.raises(RebuildInterrupted):
        await index.fill(blocks_of([entry(9)]), keys.rebuild_lock, "mine", 10_000)
    assert not await redis.exists(keys.rebuild_lock)  # nothing recreated it


async def test_only_the_lock_holder_rebuilds_and_the_marker_comes_last(
    settings: Settings, redis: Redis, keys: RedisKeys
) -> None:
    async with open_backends(settings) as backends:
        repair = reconciler(settings, backends)
        await redis.delete(keys.index_loaded)
        await redis.set(keys.rebuild_lock, "another process", px=10_000)
        assert not await repair.ensure_ready()  # another process is rebuilding: wait
        assert await repair.rebuild() is None
        assert not await redis.exists(keys.index_loaded)
        await redis.delete(keys.rebuild_lock)  # it died, or its lock expired
        assert await repair.ensure_ready()
        assert await redis.exists(keys.index_loaded)
        assert not await redis.exists(keys.rebuild_lock)  # released when done


async def test_a_redis_holding_the_old_layout_is_rebuilt_and_freed(
    settings: Settings, redis: Redis, keys: RedisKeys
) -> None:
    """Upgraded in place: the old marker must not pass for the new layout's, so the index is
    rebuilt from the database, and the old layout's keys are deleted after the marker."""
    async with open_backends(settings) as backends:
        await redis.delete(keys.index_loaded)
        await redis.set(keys.legacy_index_loaded, "1")
        await redis.sadd(f"{keys.root}:lsh:b:xyz", "doc_1")
        await redis.hset(f"{keys.root}:lsh:e:doc_1", "hv", b"x")
        repair = reconciler(settings, backends)
        assert not await backends.index.ready()
        assert await repair.ensure_ready()
        assert await redis.exists(keys.index_loaded)
        assert await redis.keys(f"{keys.root}:lsh:*") == []
        assert not await redis.exists(keys.legacy_index_loaded)


async def test_reindex_replaces_a_stale_index_under_the_rebuild_lock(
    settings: Settings, redis: Redis, keys: RedisKeys
) -> None:
    async with api_client(create_app(settings)) as client:
        await post_all(client, synthetic.articles(6, copies=(1, 1)))
        store = client.app[STORE]

        async def all_done() -> bool:
            return await status_counts(store) == {"done": 6}

        await wait_for(all_done)
        stored = await store.index_entries(0.0)
    assert len(stored) == 6
    async with open_backends(settings) as backends:
        index = backends.index
        await index.replace([entry(99)])  # a stale entry no document backs
        assert await index.size() == 7
        # While another process holds the rebuild lock, a reindex neither clears nor loads.
        await redis.set(keys.rebuild_lock, "another process", px=10_000)
        assert await reconciler(settings, backends).rebuild(clear=True) is None
        assert await index.size() == 7 and await redis.exists(keys.index_loaded)
        await redis.delete(keys.rebuild_lock)
    assert await reindex(settings) == 6
    async with open_backends(settings) as backends:
        assert await backends.index.size() == 6
        assert await redis.exists(keys.index_loaded)
        assert not await redis.exists(keys.rebuild_lock)
