"""`canonry worker`: a worker process without the HTTP API.

With Redis it consumes the shared stream until SIGTERM (or, with --burst, until the stream is
drained). With the embedded backends there is no shared queue to consume, so only --burst makes
sense: process every unfinished ingest in the database, then exit (recovery after a crash, or
a batch job).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from canonry.service.app import worker_options
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.workers.queue import InProcessQueue
from canonry.workers.worker import Worker

log = structlog.get_logger("canonry.worker")


async def run_worker(settings: Settings, *, burst: bool) -> int:
    if settings.redis_url is None and not burst:
        raise SystemExit("without CANONRY_REDIS_URL the queue lives inside `canonry serve`; "
                         "use `canonry worker --burst` to finish unfinished ingests and exit")
    async with open_backends(settings) as backends:
        worker = Worker(backends.store, backends.queue, backends.index, worker_options(settings))
        indexed = await worker.rebuild_index()
        requeued = (await worker.redispatch_open()
                    if isinstance(backends.queue, InProcessQueue) else 0)
        log.info("worker_started", indexed=indexed, requeued=requeued, burst=burst)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        runner = asyncio.create_task(worker.run())
        if burst:
            await _until_drained(backends.queue, runner)
            worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    log.info("worker_stopped")
    return 0


async def _until_drained(queue: object, runner: asyncio.Task[None]) -> None:
    join = getattr(queue, "join", None)
    if join is not None:
        waiter = asyncio.create_task(join())
        await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return
    drained = queue.drained  # type: ignore[attr-defined]
    # A remote queue offers no event to await: poll its emptiness.
    while not runner.done() and not await drained():  # noqa: ASYNC110
        await asyncio.sleep(0.2)
