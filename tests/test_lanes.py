"""The backfill lane (issue 12): workers take live messages first and backfill ones only to
fill a batch, so a live article posted during a large backfill is processed next, not after the
archive. The lane composition on both queue kinds, then the whole path on Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import select

from canonry.schemas.tables import ingests
from canonry.service.backends import Backends, open_backends
from canonry.service.backfill import BackfillOptions, backfill
from canonry.service.config import Settings
from canonry.workers.adapters.lanes import LanedQueue
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.redis.queue import RedisStreamQueue
from canonry.workers.pool import InlineAnalyser
from canonry.workers.worker import Worker, WorkerOptions
from tests import synthetic
from tests.test_backfill import write_archive
from tests.test_documents_api import ingest
from tests.test_production import api, run_worker_until_drained, store

__all__ = ["api", "store"]  # fixtures


@pytest.fixture(params=["memory", "redis"])
async def lanes(request: pytest.FixtureRequest, redis: Redis, keys: RedisKeys
                ) -> AsyncIterator[LanedQueue]:
    if request.param == "memory":
        queue = LanedQueue(InProcessQueue(), InProcessQueue())
    else:
        queue = LanedQueue(*(RedisStreamQueue(redis, keys, lane=lane)
                             for lane in (None, "backfill")))
    yield queue
    await queue.close()


async def test_live_messages_come_first_and_backfill_fills_the_batch(lanes: LanedQueue) -> None:
    await lanes.backfill.enqueue([f"b{n}" for n in range(5)])
    await lanes.enqueue(["live1", "live2"])
    first = await lanes.receive(4, 0)
    assert [d.ingest_id for d in first] == ["live1", "live2", "b0", "b1"]
    await lanes.enqueue(["live3"])
    second = await lanes.receive(4, 0)
    assert [d.ingest_id for d in second] == ["live3", "b2", "b3", "b4"]
    assert (await lanes.stats()).depth == 8  # all delivered, none answered

    # Each answer goes back to the lane its message came from.
    await lanes.ack(first)
    await lanes.release([(second[1], 0.0)])  # b2 retried at once
    await lanes.dead_letter([(second[2], "poison")])
    await lanes.ack([second[0], second[3]])
    assert await lanes.live.drained()
    assert not await lanes.backfill.drained()  # b2 waits for its retry in the backfill lane
    retried: list = []
    async with asyncio.timeout(30):
        while not retried:  # the retry's due time has passed; a receive may race it
            retried = await lanes.receive(4, 0.05)
    assert [d.ingest_id for d in retried] == ["b2"]
    await lanes.ack(retried)
    assert await lanes.drained()


async def test_waiting_receive_wakes_for_either_lane(lanes: LanedQueue) -> None:
    assert await lanes.receive(2, 0) == []
    waiting = asyncio.create_task(lanes.receive(2, 0.2))
    await lanes.backfill.enqueue(["b"])
    assert [d.ingest_id for d in await waiting] == ["b"]


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_live_post_during_a_backfill_is_processed_before_the_archive(
    settings: Settings, api: TestClient, tmp_path: Path
) -> None:
    articles = synthetic.articles(120, copies=(1, 1))
    archive = write_archive(tmp_path / "archive.jsonl", articles)
    summary = await backfill(settings, [str(archive)], BackfillOptions(batch_size=40))
    assert summary.accepted == len(articles) and summary.outcomes is None  # only enqueued

    options = WorkerOptions(batch_size=10, concurrency=1, max_attempts=3, retry_backoff=0.01)
    async with open_backends(settings) as backends:
        worker = Worker(backends.store, backends.queue, backends.index, options,
                        InlineAnalyser())
        running = asyncio.create_task(run_worker_until_drained(worker, backends.queue))
        # Once the worker is into the archive, a feed posts a live article.
        async with asyncio.timeout(120):
            while await finished_count(backends) < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        live = await ingest(api, "https://live.example/breaking", synthetic.story(9999))
        await running
        async with backends.store.engine.connect() as conn:
            done_at = dict((await conn.execute(select(ingests.c.id, ingests.c.updated_at))).all())
    before_live = sum(1 for i, at in done_at.items()
                      if i != live["ingest_id"] and at <= done_at[live["ingest_id"]])
    # The live article waited for the batches in flight when it arrived, not for the archive.
    assert before_live < 40, before_live
    assert len(done_at) == len(articles) + 1


async def finished_count(backends: Backends) -> int:
    async with backends.store.engine.connect() as conn:
        rows = await conn.execute(select(ingests.c.id).where(ingests.c.status == "done"))
        return len(rows.all())
