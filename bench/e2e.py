"""End-to-end figures: the corpus through a running service, first POST to last ingest final."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from bench.corpus import Article, Corpus, synthetic_filler
from bench.reads import read_figures
from bench.service import (
    Run,
    Server,
    service_env,
    serving,
    timed_ingest,
    unique_name,
    worker_processes,
    workers_ready,
)
from canonry.service.migrations import upgrade
from tests.servers import create_database, delete_prefix, drop_database

# The fixed slice of the per-article cost figure comes from a generation of its own, far past
# any prefill: the same articles are measured at every store size.
SLICE_GENERATION = 10_000


@dataclass(frozen=True, slots=True)
class Running:
    """A service taking ingests; `database_url` is watched for completion when the workers
    run in processes of their own (their counters are not the API's)."""

    server: Server
    backend: str
    store_url: str
    database_url: str | None = None
    worker_pids: tuple[int, ...] = ()
    redis: tuple[str, str] | None = None  # (url, prefix) in production

    async def ingest(self, articles: Iterable[Article], verify: bool = True) -> Run:
        return await timed_ingest(self.server, articles, database_url=self.database_url,
                                  worker_pids=self.worker_pids, verify=verify)


Backend = Callable[[], AbstractAsyncContextManager[Running]]


@asynccontextmanager
async def embedded_service() -> AsyncIterator[Running]:
    """`canonry serve` on its defaults: SQLite file, in-process queue and index, workers."""
    with tempfile.TemporaryDirectory(prefix="canonry-bench-") as directory:
        store_url = f"sqlite+aiosqlite:///{directory}/bench.db"
        env = service_env(store_url)
        async with serving(Path(directory), env) as server:
            yield Running(server, "embedded (SQLite, in-process queue and index)", store_url)


@asynccontextmanager
async def production_service(workers: int, admin_url: str, redis_url: str
                             ) -> AsyncIterator[Running]:
    """`canonry serve --no-workers` + `workers` `canonry worker` processes, against a fresh
    PostgreSQL database and a fresh Redis prefix (both removed afterwards); each worker's
    analysis pool gets cores / workers processes."""
    name, prefix = unique_name("e2e"), f"canonry-bench-{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, name)
    try:
        await upgrade(database_url)
        with tempfile.TemporaryDirectory(prefix="canonry-bench-") as directory:
            # As an operator sizes a host: the worker processes share its cores between their
            # analysis pools (each defaults to every core, which oversubscribes with several).
            env = {**service_env(database_url, redis_url, prefix),
                   "CANONRY_CPU_WORKERS": str(max(1, (os.cpu_count() or 1) // workers))}
            async with worker_processes(Path(directory), env, workers) as processes, \
                    serving(Path(directory), env, workers=False) as server:
                await workers_ready(processes)
                yield Running(server, f"PostgreSQL + Redis, {workers} worker process(es)",
                              database_url, database_url, tuple(p.popen.pid for p in processes),
                              (redis_url, prefix))
    finally:
        await drop_database(admin_url, name)
        await delete_prefix(redis_url, prefix)


async def end_to_end(backend: Backend, articles: Sequence[Article], naive: dict[str, Any]
                     ) -> dict[str, Any]:
    """articles/s from the first POST to the last ingest final, beside the naive loop; then
    (under "reads") how fast consumers read back what it stored."""
    async with backend() as running:
        run = await running.ingest(articles)
        redis_url, prefix = running.redis or (None, None)
        reads = await read_figures(running.server.base_url, running.store_url, redis_url, prefix)
    reads["backend"] = running.backend
    return {"value": run.articles_per_s, "unit": "articles/s", "backend": running.backend,
            **run.as_dict(), "reads": reads,
            "peer": {"name": "naive loop (same texts, one process)",
                     "value": naive["docs_per_s"], "unit": "docs/s"}}


def prefill_articles(corpus: Corpus, count: int, kind: str) -> Iterator[Article]:
    """The articles the store is filled with before the slice: the corpus itself (faithful,
    ~25 ms of CPU each here) or the synthetic filler (~5x cheaper: what keeps a full run with
    a 100k store within half an hour on two cores)."""
    if kind == "corpus":
        return islice(corpus.iterate(), count)  # generated as posted: 100k are GBs of text
    return synthetic_filler(count)


async def cost_at_size(backend: Backend, corpus: Corpus, size: int, slice_size: int,
                       prefill_kind: str) -> dict[str, Any]:
    """ms/article of a fixed slice processed after the store already holds size - slice
    articles (prefilled through the engine itself, over HTTP, and waited for)."""
    chosen = corpus.take(slice_size, start=SLICE_GENERATION * corpus.generation_size)
    async with backend() as running:
        filled = await running.ingest(
            prefill_articles(corpus, size - slice_size, prefill_kind), verify=False)
        run = await running.ingest(chosen)
    return {"size": size, "prefill": filled.articles, "prefill_seconds": filled.total_s,
            "prefill_outcomes": filled.outcomes, "slice": run.articles,
            "ms_per_article": 1000.0 * run.total_s / run.articles, "seconds": run.total_s,
            "cpu_ms_per_article": 1000.0 * run.cpu_s / run.articles,
            "slice_outcomes": run.outcomes, "backend": running.backend}


async def per_article_cost(backend: Backend, corpus: Corpus, sizes: tuple[int, int],
                           slice_size: int, prefill_kind: str) -> dict[str, Any]:
    small, large = [await cost_at_size(backend, corpus, size, slice_size, prefill_kind)
                    for size in sizes]
    return {"value": large["ms_per_article"], "unit": "ms/article",
            "name": f"at {sizes[1]:,} articles", "ratio": large["ms_per_article"]
            / small["ms_per_article"], "backend": large["backend"],
            "cpu_ms_per_article": large["cpu_ms_per_article"],
            "cpu_ratio": large["cpu_ms_per_article"] / small["cpu_ms_per_article"],
            "prefill_kind": prefill_kind, "small": small, "large": large,
            "peer": {"name": f"at {sizes[0]:,} articles", "value": small["ms_per_article"],
                     "unit": "ms/article", "cpu_ms_per_article": small["cpu_ms_per_article"]}}
