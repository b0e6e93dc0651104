"""The production backends under stress: worker processes racing, crashing and losing Redis.

Every scenario runs real `canonry worker` processes against real PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from canonry.schemas.tables import documents, ingests
from canonry.service.app import create_app
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from canonry.workers.adapters.redis.queue import RedisStreamQueue
from canonry.workers.adapters.sql.store import SqlStore as Store
from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.pool import InlineAnalyser
from canonry.workers.ports import WorkQueue
from canonry.workers.worker import Worker, WorkerOptions
from tests import synthetic
from tests.servers import api_client, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CANONRY_DATABASE_URL": settings.database_url,
           "CANONRY_REDIS_URL": settings.redis_url or "", "CANONRY_REDIS_PREFIX":
           settings.redis_prefix, "CANONRY_LOG_LEVEL": "warning", "CANONRY_RETRY_BACKOFF": "0.05",
           "CANONRY_CLAIM_IDLE_SECONDS": "2", "CANONRY_RECONCILE_SECONDS": "1"}
    env.update(extra)
    return env


async def start_worker(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "worker", *args, env=env,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> None:
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-3000:]


async def post_all(client: TestClient, articles: list[dict], batch: int = 250) -> list[str]:
    """Post like a well-behaved poller: batches, retrying a 503 after its Retry-After."""
    ids: list[str] = []
    for start in range(0, len(articles), batch):
        body = {"articles": [{k: v for k, v in a.items() if k != "cluster"}
                             for a in articles[start:start + batch]]}
        for _ in range(100):
            response = await client.post("/ingest", json=body)
            if response.status != 503:
                break
            await asyncio.sleep(0.1)  # honouring Retry-After, shortened for the test
        assert response.status == 202, await response.text()
        ids.extend(r["ingest_id"] for r in (await response.json())["receipts"])
    return ids


async def wait_for(condition: Callable[[], Awaitable[bool]], limit: float = 300) -> None:
    """Poll a condition that has no event to await (other processes' progress)."""
    async with asyncio.timeout(limit):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def status_counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(ingests.c.status, func.count()).group_by(ingests.c.status))
        return {status: count for status, count in rows}


async def documents_by_cluster(store: Store, articles: list[dict]) -> dict[int, set[str]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(ingests.c.url, ingests.c.document_id))
        by_url = {url: doc for url, doc in rows}
    clusters: dict[int, set[str]] = {}
    for article in articles:
        clusters.setdefault(article["cluster"], set()).add(by_url[article["url"]])
    return clusters


async def document_count(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(documents)) or 0)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[TestClient]:
    """An API-only node: processing is left to the worker processes under test."""
    async with api_client(create_app(settings, run_workers=False)) as client:
        yield client


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    store = Store.connect(settings.database_url)
    yield store
    await store.close()


async def test_race_four_workers_one_canonical_per_story(
    settings: Settings, api: TestClient, store: Store
) -> None:
    articles = synthetic.articles(500)
    await post_all(api, articles)
    env = worker_env(settings)
    workers = [await start_worker(env, "--burst") for _ in range(4)]
    await asyncio.gather(*(finished(w) for w in workers))

    assert await status_counts(store) == {"done": len(articles)}
    assert await document_count(store) == 500
    clusters = await documents_by_cluster(store, articles)
    assert all(len(docs) == 1 for docs in clusters.values())
    assert len(set().union(*clusters.values())) == 500


async def test_crash_sigkill_loses_nothing_and_splits_nothing(
    settings: Settings, api: TestClient, store: Store
) -> None:
    articles = synthetic.articles(2000)  # about 5,000 articles
    await post_all(api, articles, batch=500)
    env = worker_env(settings)
    victim, survivor = await start_worker(env), await start_worker(env)

    async def some_done() -> bool:
        return (await status_counts(store)).get("done", 0) >= len(articles) // 5

    await wait_for(some_done)
    victim.send_signal(signal.SIGKILL)
    await victim.wait()
    # A replacement takes over, including what the dead consumer held (XAUTOCLAIM).
    await finished(await start_worker(env, "--burst"))
    survivor.send_signal(signal.SIGTERM)
    await finished(survivor)

    counts = await status_counts(store)
    assert set(counts) <= {"done", "failed"} and sum(counts.values()) == len(articles)
    queue = api.app[QUEUE].live
    assert isinstance(queue, RedisStreamQueue)
    assert counts.get("failed", 0) == await queue.dead_letter_count()
    clusters = await documents_by_cluster(store, articles)
    assert all(len(docs) == 1 for docs in clusters.values())
    assert await document_count(store) == 2000


async def run_worker_until_drained(worker: Worker, queue: WorkQueue) -> None:
    runner = asyncio.create_task(worker.run())
    await drained(queue)
    worker.stop()
    await runner


async def canonry_cli(settings: Settings, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", *args, env=worker_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_poison_ends_in_dead_letter_stream_and_replays(
    settings: Settings, api: TestClient, store: Store
) -> None:
    good = synthetic.articles(3, copies=(1, 1))
    poison = {"url": "https://poison.example/1", "text": synthetic.story(99), "cluster": 99}
    await post_all(api, [*good, poison])

    def explode_on_poison(article: RawArticle,
                          chrome: ChromeModel | None) -> tuple[Extracted, list[str]]:
        if article.url == poison["url"]:
            raise RuntimeError("pipeline bug triggered by this article")
        return extract_page(article, chrome)

    async with open_backends(settings) as backends:
        worker = Worker(backends.store, backends.queue, backends.index,
                        WorkerOptions(max_attempts=3, retry_backoff=0.01),
                        InlineAnalyser(explode_on_poison))
        await run_worker_until_drained(worker, backends.queue)
    assert await status_counts(store) == {"done": 3, "failed": 1}

    lines = (await canonry_cli(settings, "dlq", "list")).splitlines()
    assert len(lines) == 1 and "RuntimeError: pipeline bug" in lines[0]
    ingest_id = lines[0].split("\t")[0]
    async with store.engine.connect() as conn:
        attempts = await conn.scalar(select(ingests.c.attempts).where(ingests.c.id == ingest_id))
    assert attempts == 3

    assert ingest_id in await canonry_cli(settings, "dlq", "replay", ingest_id)
    assert await canonry_cli(settings, "dlq", "list") == ""
    await finished(await start_worker(worker_env(settings), "--burst"))
    assert await status_counts(store) == {"done": 4}


async def _redis_server(port: int, directory: Path) -> asyncio.subprocess.Process:
    server = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(directory), stdout=asyncio.subprocess.PIPE)
    assert server.stdout is not None
    while b"Ready to accept connections" not in await server.stdout.readline():
        assert server.returncode is None, "redis-server did not start"
    return server


async def test_redis_outage_loses_no_accepted_article(
    settings: Settings, tmp_path: Path, store: Store
) -> None:
    port = free_port()
    redis = await _redis_server(port, tmp_path)
    settings = Settings.from_env({}, **{**settings_dict(settings),
                                        "redis_url": f"redis://127.0.0.1:{port}/0"})
    articles = synthetic.articles(90, copies=(1, 2))
    first, second, third = articles[:60], articles[60:120], articles[120:]
    worker = await start_worker(worker_env(settings))
    try:
        async with api_client(create_app(settings, run_workers=False)) as api:
            await post_all(api, first)
            redis.terminate()  # Redis goes away; it keeps nothing on disk
            await redis.wait()
            body = {"articles": [{"url": a["url"], "text": a["text"]} for a in second]}
            refused = await api.post("/ingest", json=body)
            assert refused.status == 503 and "Retry-After" in refused.headers
            redis = await _redis_server(port, tmp_path)  # back, empty
            await post_all(api, second + third)

        async def all_done() -> bool:
            return await status_counts(store) == {"done": len(articles)}

        await wait_for(all_done)
    finally:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()
        redis.terminate()
        await redis.wait()
    clusters = await documents_by_cluster(store, articles)
    assert all(len(docs) == 1 for docs in clusters.values())


def settings_dict(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}
