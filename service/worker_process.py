"""`canonry worker`: a worker process without the HTTP API.

With Redis it consumes the shared stream until SIGTERM (or, with --burst, until the stream is
drained). With the embedded backends there is no shared queue to consume, so only --burst makes
sense: process every unfinished ingest in the database, then exit (recovery after a crash, or
a batch job).

With CANONRY_METRICS_PORT set, it serves Prometheus GET /metrics on CANONRY_HOST:that port (its
processed, failed, batch and ingest-to-done metrics, and the queue gauges), so each worker
process can be scraped like the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from canonry.service.backends import Backends, open_backends
from canonry.service.config import Settings
from canonry.service.engine import running_engine
from canonry.service.observability import metrics_app
from canonry.workers.ports import WorkQueue

log = structlog.get_logger("canonry.worker")


async def run_worker(settings: Settings, *, burst: bool) -> int:
    if settings.redis_url is None and not burst:
        raise SystemExit("without CANONRY_REDIS_URL the queue lives inside `canonry serve`; "
                         "use `canonry worker --burst` to finish unfinished ingests and exit")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with open_backends(settings) as backends, metrics_server(settings, backends), \
            running_engine(settings, backends, run_workers=True):
        waiters = [asyncio.create_task(stop.wait())]
        if burst:
            waiters.append(asyncio.create_task(drained(backends.queue)))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    log.info("worker_stopped", signalled=stop.is_set())
    return 0


async def drained(queue: WorkQueue) -> None:
    """Return once no work is left: queued, in flight, or waiting for a retry."""
    await queue.wait_drained()


@contextlib.asynccontextmanager
async def metrics_server(settings: Settings, backends: Backends) -> AsyncIterator[None]:
    """GET /metrics on settings.host:settings.metrics_port while the worker runs (none when the
    port is unset). Up before the engine starts, so a scrape sees the worker while it loads."""
    if settings.metrics_port is None:
        yield
        return
    runner = web.AppRunner(metrics_app(backends, settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.metrics_port)
        try:
            await site.start()
        except OSError as exc:
            raise SystemExit(f"CANONRY_METRICS_PORT: cannot listen on {settings.host}:"
                             f"{settings.metrics_port}: {exc.strerror or exc}") from None
        log.info("metrics_serving", host=settings.host, port=settings.metrics_port)
        yield
    finally:
        await runner.cleanup()
