"""The app factory: `create_app(settings)` wires the backends, the worker and the routes.

Resources are acquired and released in `cleanup_ctx`, in order: backends (database, queue,
index), then the engine (index rebuild, re-dispatch of unfinished ingests, worker tasks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from canonry.service import keys
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.openapi import openapi
from canonry.service.problems import problem_middleware
from canonry.service.reads import Reads
from canonry.service.routes import add_routes
from canonry.workers.worker import Worker, WorkerOptions

log = structlog.get_logger("canonry.app")

EVICTION_INTERVAL = 3600.0
SHUTDOWN_GRACE = 20.0


def create_app(settings: Settings, *, run_workers: bool = True) -> web.Application:
    app = web.Application(middlewares=[problem_middleware], client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(_backends)
    app.cleanup_ctx.append(_engine(run_workers))
    add_routes(app)
    app.router.add_get("/openapi.json", openapi)
    return app


async def _backends(app: web.Application) -> AsyncIterator[None]:
    async with open_backends(app[keys.SETTINGS]) as backends:
        app[keys.STORE] = backends.store
        app[keys.QUEUE] = backends.queue
        app[keys.INDEX] = backends.index
        app[keys.READS] = Reads(backends.store.engine)
        yield


def worker_options(settings: Settings) -> WorkerOptions:
    return WorkerOptions(
        concurrency=settings.worker_concurrency,
        max_attempts=settings.max_attempts,
        retry_backoff=settings.retry_backoff,
        window_seconds=settings.dedup_window_seconds,
    )


def _engine(run_workers: bool):
    async def engine(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        worker = Worker(app[keys.STORE], app[keys.QUEUE], app[keys.INDEX],
                        worker_options(settings))
        app[keys.WORKER] = worker
        tasks: list[asyncio.Task[None]] = []
        app[keys.WORKER_TASKS] = tasks
        indexed = await worker.rebuild_index()
        # Embedded queue: nothing survives a restart but the database, so dispatch every
        # accepted-but-unfinished ingest again. (The Redis queue redelivers on its own.)
        requeued = await worker.redispatch_open() if settings.redis_url is None else 0
        log.info("engine_started", indexed=indexed, requeued=requeued, workers=run_workers)
        if run_workers:
            tasks.append(asyncio.create_task(worker.run(), name="worker"))
        tasks.append(asyncio.create_task(_evict_periodically(worker), name="eviction"))
        yield
        worker.stop()
        for task in tasks:
            if task.get_name() != "worker":
                task.cancel()
        _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return engine


async def _evict_periodically(worker: Worker) -> None:
    while True:
        evicted = await worker.evict_expired()
        if evicted:
            log.info("index_evicted", entries=evicted)
        await asyncio.sleep(EVICTION_INTERVAL)
