"""Nothing accepted is ever lost: not across a restart, not across SIGKILL; a poison message
ends dead-lettered instead of retrying forever."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from canonry.schemas.tables import documents, ingests
from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.keys import INDEX, QUEUE, STORE
from canonry.service.migrations import upgrade
from canonry.service.worker_process import drained
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.sql.store import SqlStore as Store
from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.pool import InlineAnalyser
from canonry.workers.ports import Claim
from canonry.workers.worker import Worker, WorkerOptions
from tests.servers import api_client, free_port, wait_until_serving
from tests.shared_data import seeds


def seed_articles() -> list[dict]:
    return [{"url": f"https://seeds.example/{path.stem}", "text": path.read_text()}
            for path, _ in seeds()]


async def statuses(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(ingests.c.status, func.count()).group_by(ingests.c.status))
        return {status: count for status, count in rows}


async def test_restart_processes_what_was_accepted(settings: Settings) -> None:
    # First life: the API accepts, but no worker runs (as if the process died right after 202).
    async with api_client(create_app(settings, run_workers=False)) as client:
        response = await client.post("/ingest", json={"articles": seed_articles()})
        assert response.status == 202
        assert await statuses(client.app[STORE]) == {"queued": 5}
    # Second life: on start, every unfinished ingest is dispatched again.
    async with api_client(create_app(settings)) as client:
        await drained(client.app[QUEUE])
        assert await statuses(client.app[STORE]) == {"done": 5}


@pytest.fixture
def serve_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "CANONRY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
           "CANONRY_PORT": str(free_port()), "CANONRY_LOG_LEVEL": "warning"}
    env.pop("CANONRY_REDIS_URL", None)
    yield env


def _canonry(*args: str, env: dict[str, str]):
    return asyncio.create_subprocess_exec(sys.executable, "-m", "canonry.service.cli", *args,
                                          env=env, stderr=asyncio.subprocess.PIPE)


async def test_sigkill_loses_nothing(serve_env: dict[str, str]) -> None:
    port = int(serve_env["CANONRY_PORT"])
    articles = seed_articles() + [
        {"url": f"https://copies.example/{n}", "text": article["text"]}
        for n, article in enumerate(seed_articles() * 4)
    ]
    server = await _canonry("serve", env=serve_env)
    try:
        await wait_until_serving(f"http://127.0.0.1:{port}/healthz", server)
        async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/ingest", json={"articles": articles}
        ) as response:
            assert response.status == 202
            receipts = (await response.json())["receipts"]
    finally:
        server.send_signal(signal.SIGKILL)
        await server.wait()
    # After the crash, a burst worker finishes whatever the dead process had accepted.
    recovery = await _canonry("worker", "--burst", env=serve_env)
    _, stderr = await recovery.communicate()
    assert recovery.returncode == 0, stderr.decode()
    store = Store.connect(serve_env["CANONRY_DATABASE_URL"])
    try:
        assert await statuses(store) == {"done": len(receipts)}
        async with store.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(documents)) == 5
    finally:
        await store.close()


async def test_poison_message_is_dead_lettered(settings: Settings) -> None:
    def explode_on_poison(article: RawArticle,
                          chrome: ChromeModel | None) -> tuple[Extracted, list[str]]:
        if "poison" in article.url:
            raise RuntimeError("pipeline bug triggered by this article")
        return extract_page(article, chrome)

    await upgrade(settings.database_url)
    store = Store.connect(settings.database_url)
    queue = InProcessQueue()
    worker = Worker(store, queue, MemoryIndex(),
                    WorkerOptions(concurrency=2, max_attempts=3, retry_backoff=0.001),
                    InlineAnalyser(explode_on_poison))
    try:
        async with api_client(create_app(settings, run_workers=False)) as client:
            articles = [*seed_articles()[:2],
                        {"url": "https://bad.example/poison", "text": seed_articles()[3]["text"]}]
            response = await client.post("/ingest", json={"articles": articles})
            receipts = (await response.json())["receipts"]
        await worker.redispatch_open()
        runner = asyncio.create_task(worker.run())
        await queue.wait_drained()
        worker.stop()
        await runner
        async with store.engine.connect() as conn:
            poison = (await conn.execute(
                select(ingests).where(ingests.c.id == receipts[2]["ingest_id"])
            )).mappings().one()
        assert poison["status"] == "failed"
        assert poison["attempts"] == 3
        assert "pipeline bug" in poison["error"]
        assert poison["error_code"] == "pipeline_error"
        assert await statuses(store) == {"done": 2, "failed": 1}
        # Replaying it (after the bug is fixed) processes it.
        assert await store.requeue(receipts[2]["ingest_id"])
        fixed = Worker(store, queue, MemoryIndex(), WorkerOptions(concurrency=1))
        await fixed.rebuild_index()
        await fixed.redispatch_open()
        runner = asyncio.create_task(fixed.run())
        await queue.wait_drained()
        fixed.stop()
        await runner
        assert await statuses(store) == {"done": 3}
    finally:
        await queue.close()
        await store.close()


async def test_a_dead_lettered_ingest_withdraws_its_index_claim(settings: Settings) -> None:
    """A claim made by an attempt that then failed for good must not keep standing for a
    document that will never exist (its copies would wait for it until they failed too)."""
    from canonry.workers.dedup.fingerprint import fingerprint
    from canonry.workers.dedup.lsh import IndexEntry

    async with api_client(create_app(settings, run_workers=False)) as client:
        receipt = await (await client.post("/ingest", json=seed_articles()[0])).json()
        store, index, queue = client.app[STORE], client.app[INDEX], client.app[QUEUE]
        worker = Worker(store, queue, index, WorkerOptions(max_attempts=1))
        [delivery] = await queue.receive(10, 5.0)
        assert delivery.ingest_id == receipt["ingest_id"]
        ingest = (await store.start_attempts([delivery.ingest_id]))[delivery.ingest_id]
        fp = fingerprint(extract_page(ingest.raw, ChromeModel())[0].text)
        entry = IndexEntry(ingest.own_document_id, fp.text_hash, fp.hashvalues, fp.size, 0.0)
        assert await index.claim([Claim(entry, set())]) == [[]]
        [found] = await index.candidates([fp.hashvalues])
        assert [e.document_id for e in found] == [entry.document_id]

        await worker._give_up([(delivery, ingest, "pipeline_error", "failed for good")])

        assert await index.candidates([fp.hashvalues]) == [[]]
        assert (await (await client.get(receipt["status_url"])).json())["status"] == "failed"
