"""The engine around a set of backends: index rebuild, recovery of unfinished work, the worker
tasks and the periodic chores. `serve`, `worker` and `backfill` all run it the same way.

With Redis, the workers ask the reconciler before every receive whether the index is loaded
(`Reconciler.ensure_ready`): after a Redis restart the first worker to ask rebuilds it and
re-dispatches the open ingests at once, the others wait for it, and nothing is decided until
it is done."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog

from canonry.service.backends import Backends
from canonry.service.config import Settings
from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.reconciler import Reconciler
from canonry.workers.pool import make_analyser
from canonry.workers.worker import Worker, WorkerOptions

log = structlog.get_logger("canonry.engine")

EVICTION_INTERVAL = 3600.0
SHUTDOWN_GRACE = 20.0
EVENT_RELAY_INTERVAL = 5.0


def worker_options(settings: Settings) -> WorkerOptions:
    return WorkerOptions(
        concurrency=settings.worker_concurrency,
        batch_size=settings.worker_batch,
        max_attempts=settings.max_attempts,
        retry_backoff=settings.retry_backoff,
        window_seconds=settings.dedup_window_seconds,
        max_text_chars=settings.max_text_chars,
    )


def reconciler(settings: Settings, backends: Backends) -> Reconciler:
    assert backends.redis is not None and backends.keys is not None
    assert isinstance(backends.index, RedisIndex)
    return Reconciler(backends.store, backends.queue, backends.index, backends.redis,
                      backends.keys, settings.reconcile_seconds, settings.dedup_window_seconds)


@asynccontextmanager
async def running_engine(
    settings: Settings, backends: Backends, *, run_workers: bool
) -> AsyncIterator[Worker]:
    # Only a node that runs workers cleans articles: an API-only node starts no processes.
    analyser = make_analyser(settings.cpu_processes if run_workers else 0)
    await analyser.start()
    repair = None if backends.embedded else reconciler(settings, backends)
    worker = Worker(backends.store, backends.queue, backends.index, worker_options(settings),
                    analyser, gate=repair.ensure_ready if repair is not None else None,
                    events=backends.events)
    tasks: list[asyncio.Task[None]] = []
    stop_chores = asyncio.Event()
    if repair is None:
        # Nothing survives a restart but the database: rebuild the index and dispatch every
        # accepted-but-unfinished ingest again.
        indexed = await worker.rebuild_index()
        requeued = await worker.redispatch_open()
    else:
        indexed, requeued = await repair.ensure_index(), 0
        tasks.append(asyncio.create_task(
            every(settings.reconcile_seconds, repair.run_once, "reconcile", stop_chores),
            name="reconciler"))
        # Publishes what a process that died between its commit and its publish left behind.
        tasks.append(asyncio.create_task(
            every(EVENT_RELAY_INTERVAL, backends.events.relay, "events_relay", stop_chores),
            name="events-relay"))
    log.info("engine_started", indexed=indexed, requeued=requeued, workers=run_workers,
             backend="embedded" if backends.embedded else "redis")
    if run_workers:
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
    tasks.append(asyncio.create_task(
        every(EVICTION_INTERVAL, worker.evict_expired, "evict", stop_chores), name="eviction"))
    try:
        yield worker
    finally:
        worker.stop()  # stop taking work; in-flight messages finish (or are handed back)
        stop_chores.set()
        _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
        for task in pending:
            log.warning("shutdown_grace_exceeded", task=task.get_name(),
                        frames=[str(frame) for frame in task.get_stack(limit=8)])
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await analyser.close()


async def every(
    interval: float, chore: Callable[[], Awaitable[object]], name: str, stop: asyncio.Event
) -> None:
    """Run a periodic chore until `stop` is set; a failure (an outage) waits for the next turn.
    An outage is logged when it starts (`<name>_failed`) and ends (`<name>_recovered`), not at
    every turn it lasts.

    Stopping is an event, not only a cancellation: some clients swallow a cancellation that
    lands mid-command, which would leave this task asleep through the shutdown grace.
    """
    failing_since: float | None = None
    while not stop.is_set():
        try:
            result = await chore()
            if failing_since is not None:
                log.info(f"{name}_recovered",
                         outage_seconds=round(time.monotonic() - failing_since, 3))
                failing_since = None
            if result:
                log.info(name, result=result)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            if failing_since is None:
                failing_since = time.monotonic()
                log.warning(f"{name}_failed", error=error)
            else:
                log.debug(f"{name}_failed_again", error=error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
