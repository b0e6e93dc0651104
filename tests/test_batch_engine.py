"""The batch engine: a batch decides exactly as one article at a time would, each article fails
alone, the process pool gives the same results as a thread, and the pure core stays pure."""

from __future__ import annotations

import ast
import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from canonry.schemas.tables import ingests
from canonry.service.acceptance import accept_and_dispatch
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests, validate_articles
from canonry.service.migrations import upgrade
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.analysis import Analysis, AnalysisBatch, AnalysisError
from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.pool import InlineAnalyser, ProcessAnalyser
from canonry.workers.worker import Worker, WorkerOptions
from tests import synthetic
from tests.test_durability import seed_articles

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def run(settings: Settings, articles: list[dict], options: WorkerOptions,
              analyser: InlineAnalyser | None = None) -> dict[str, dict]:
    """Accept the articles, process them to the end; each ingest row by URL."""
    store, queue = SqlStore.connect(settings.database_url), InProcessQueue()
    worker = Worker(store, queue, MemoryIndex(), options, analyser)
    try:
        await accept_and_dispatch(store, queue, new_ingests(validate_articles(
            [{k: v for k, v in a.items() if k != "cluster"} for a in articles], batch=True)))
        running = asyncio.create_task(worker.run())
        await queue.wait_drained()
        worker.stop()
        await running
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(ingests))).mappings().all()
        return {row["url"]: dict(row) for row in rows}
    finally:
        await queue.close()
        await store.close()


def asyncio_task(coro):
    import asyncio

    return asyncio.create_task(coro)


async def test_a_batch_decides_as_one_at_a_time_would(settings: Settings, tmp_path: Path) -> None:
    # A story's copies adjacent in one batch: they must become one document, with the same
    # verdicts as articles taken one by one.
    articles = synthetic.articles(40, copies=(2, 4))
    batched = await run(settings, articles, WorkerOptions(concurrency=1, batch_size=100))
    one_at_a_time = Settings.from_env({}, database_url=f"sqlite+aiosqlite:///{tmp_path}/1.db")
    await upgrade(one_at_a_time.database_url)
    single = await run(one_at_a_time, articles, WorkerOptions(concurrency=1, batch_size=1))
    assert {row["status"] for row in batched.values()} == {"done"}
    by_cluster: dict[int, set[str]] = {}
    for article in articles:
        by_cluster.setdefault(article["cluster"], set()).add(batched[article["url"]]["document_id"])
    assert all(len(docs) == 1 for docs in by_cluster.values())
    assert len({row["document_id"] for row in batched.values()}) == 40
    for url, row in batched.items():
        assert (row["document_id"], row["match"]) == (single[url]["document_id"],
                                                      single[url]["match"])
    assert [row["attempts"] for row in batched.values()] == [1] * len(articles)


def explode_on_poison(article: RawArticle, chrome: ChromeModel | None
                      ) -> tuple[Extracted, list[str]]:
    if "poison" in article.url:
        raise RuntimeError("pipeline bug triggered by this article")
    return extract_page(article, chrome)


async def test_one_failing_article_does_not_hold_back_its_batch(settings: Settings) -> None:
    articles = [*synthetic.articles(5, copies=(1, 1)),
                {"url": "https://bad.example/poison", "text": synthetic.story(77)},
                {"url": "https://empty.example/1", "text": "Home\n\nSubscribe now\n\nMenu"}]
    rows = await run(settings, articles, WorkerOptions(batch_size=100, max_attempts=3,
                                                       retry_backoff=0.001),
                     InlineAnalyser(explode_on_poison))
    poison, empty = rows.pop("https://bad.example/poison"), rows.pop("https://empty.example/1")
    # The neighbours committed on their first attempt, in the poison's batch.
    assert {(row["status"], row["attempts"]) for row in rows.values()} == {("done", 1)}
    assert (poison["status"], poison["attempts"], poison["error_code"]) == (
        "failed", 3, "pipeline_error")
    # Nothing to retry about a page that is all chrome: failed at once, with its reason.
    assert (empty["status"], empty["attempts"], empty["error_code"]) == (
        "failed", 1, "empty_after_cleaning")


async def test_several_final_failures_in_one_batch_are_recorded_together(
    settings: Settings,
) -> None:
    # One executemany marks them all failed (an expanding IN in it once broke that).
    empties = [{"url": f"https://empty.example/{n}", "text": f"Home\n\nSubscribe now {n}\n\nMenu"}
               for n in range(4)]
    rows = await run(settings, [*synthetic.articles(2, copies=(1, 1)), *empties],
                     WorkerOptions(batch_size=100, max_attempts=3, retry_backoff=0.001))
    failed = [rows.pop(article["url"]) for article in empties]
    assert [(r["status"], r["attempts"], r["error_code"]) for r in failed] == [
        ("failed", 1, "empty_after_cleaning")] * 4
    assert {row["status"] for row in rows.values()} == {"done"}


def die_on_poison(article: RawArticle, chrome: ChromeModel | None
                  ) -> tuple[Extracted, list[str]]:
    if "poison" in article.url:
        os._exit(3)  # a segfault in a parser, the OOM killer: the process is gone
    return extract_page(article, chrome)


async def test_the_process_pool_agrees_with_a_thread_and_survives_a_dying_process() -> None:
    pages = [RawArticle(url=a["url"], text=a.get("text"), html=a.get("html"))
             for a in seed_articles()]
    batch = AnalysisBatch(pages, {}, {})
    inline = await InlineAnalyser().analyse(batch)
    pool = ProcessAnalyser(2, die_on_poison)
    try:
        await pool.start()
        assert await pool.analyse(batch) == inline
        assert all(isinstance(result, Analysis) for result in inline)
        poisoned = AnalysisBatch([*pages[:2], RawArticle(url="https://x.example/poison",
                                                         text="text"), *pages[2:]], {}, {})
        results = await pool.analyse(poisoned)
        assert results[:2] + results[3:] == inline  # the neighbours, as before
        assert isinstance(results[2], AnalysisError) and results[2].code == "worker_crashed"
        assert await pool.analyse(batch) == inline  # and the pool works on
    finally:
        await pool.close()


CORE = ["workers/clean", "workers/dedup", "workers/analysis.py", "workers/article.py",
        "workers/identity.py", "workers/scripts.py"]
FORBIDDEN = ("sqlalchemy", "redis", "aiohttp", "asyncio", "asyncpg", "aiosqlite",
             "canonry.workers.adapters", "canonry.service")


def test_the_core_imports_no_io_library_and_no_adapter() -> None:
    files = [p for entry in CORE for p in (REPO / entry).parent.glob(Path(entry).name)
             for p in (p.rglob("*.py") if p.is_dir() else [p])]
    assert len(files) > 10
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(REPO)}: {name}" for name in names
                          if name.split(".")[0] in FORBIDDEN or name.startswith(FORBIDDEN)]
    assert offenders == []


async def test_a_second_delivery_of_an_ingest_in_flight_is_not_a_second_attempt(
    settings: Settings,
) -> None:
    # A re-post of a still-queued article dispatches it again: two deliveries of one ingest,
    # taken by two batches at once. One attempt, one decision.
    store, queue = SqlStore.connect(settings.database_url), InProcessQueue()
    worker = Worker(store, queue, MemoryIndex(), WorkerOptions(concurrency=2, batch_size=1))
    try:
        article = synthetic.articles(1)[0]
        new = new_ingests(validate_articles([{"url": article["url"], "text": article["text"]}],
                                            batch=False))
        await accept_and_dispatch(store, queue, new)
        await accept_and_dispatch(store, queue, new)  # the re-post: dispatched again
        first, second = await queue.receive(1, 1.0), await queue.receive(1, 1.0)
        assert first[0].ingest_id == second[0].ingest_id  # precondition: two deliveries
        await asyncio.gather(worker.handle_batch(first), worker.handle_batch(second))
        async with store.engine.connect() as conn:
            row = (await conn.execute(select(ingests))).mappings().one()
        assert (row["status"], row["attempts"]) == ("done", 1)
        assert await queue.drained()
    finally:
        await queue.close()
        await store.close()
