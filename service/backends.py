"""Choosing the adapters: the embedded default or the production backends, one code path.

The embedded backends keep the queue and the LSH index in the process's memory, so two
processes writing one SQLite file would each dedup against only what they saw themselves (a
copy posted to `canonry serve` became a new document although a `canonry backfill` beside it
had stored its story). Every command opens its backends here, so here the first process to open
an embedded database file takes an exclusive lock on `<file>.lock` for as long as it runs, and
any other refuses to start.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from canonry.service.config import Settings
from canonry.service.migrations import check_schema, upgrade
from canonry.workers.adapters.lanes import LanedQueue
from canonry.workers.adapters.memory.events import LocalEvents
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.redis.events import RedisEventStream
from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.redis.queue import RedisStreamQueue
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.ports import DedupIndex, EventBus, Store


@dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    queue: LanedQueue  # live first; `canonry backfill` enqueues to `queue.backfill`
    index: DedupIndex
    events: EventBus
    database: AsyncEngine  # the read side (service/reads.py) queries it directly
    redis: Redis | None = None
    keys: RedisKeys | None = None

    @property
    def embedded(self) -> bool:
        return self.redis is None


def redis_client(settings: Settings) -> Redis:
    # Binary responses: band keys and signatures are bytes. Timeouts keep an outage from
    # hanging a request; health checks replace connections a Redis restart broke.
    return Redis.from_url(settings.redis_url or "", decode_responses=False,
                          socket_connect_timeout=5, socket_timeout=30,
                          health_check_interval=15, retry_on_timeout=False)


class DatabaseInUse(SystemExit):
    """Another process holds the embedded database. A SystemExit: the command line prints the
    one-line message and exits 1 instead of a traceback."""


def embedded_database_file(settings: Settings) -> Path | None:
    """The SQLite file the embedded backends write, or None: PostgreSQL, an in-memory database,
    or a shared Redis queue and index (which keep separate processes consistent)."""
    url = make_url(settings.database_url)
    if settings.redis_url or url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(url.database).resolve()


# Locks this process holds: lock file → (descriptor, openers). One process may open its own
# database more than once (an operator command in-process, the tests); flock would refuse a
# second open file description even within the process.
_held: dict[Path, tuple[int, int]] = {}
_held_guard = threading.Lock()


@contextmanager
def writer_lock(database: Path) -> Iterator[None]:
    """Hold `<database>.lock` exclusively, or raise DatabaseInUse. flock: released by the kernel
    when the process ends however it ends (SIGKILL included), so no stale lock is left; the
    file itself stays (deleting it would race a process opening it)."""
    lock_path = database.with_name(database.name + ".lock")
    with _held_guard:
        fd, openers = _held.get(lock_path, (-1, 0))
        if not openers:
            fd = _lock(lock_path, database)
        _held[lock_path] = (fd, openers + 1)
    try:
        yield
    finally:
        with _held_guard:
            fd, openers = _held.pop(lock_path)
            if openers > 1:
                _held[lock_path] = (fd, openers - 1)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _lock(lock_path: Path, database: Path) -> int:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited across exec
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        raise DatabaseInUse(
            f"canonry: {database} is in use by another canonry process"
            f"{f' (pid {holder})' if holder.isdigit() else ''}: the embedded database has one "
            "writer at a time. Stop that process first (e.g. the running `canonry serve`), or "
            "post the articles to the running server's POST /ingest instead.") from None
    # Who holds it, for the message a refused process prints.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


@asynccontextmanager
async def open_backends(settings: Settings, *, writer: bool = True) -> AsyncIterator[Backends]:
    """The backends of `settings`. `writer=False`: a read-only look (e.g. `canonry dlq list`),
    which may run beside the process that holds an embedded database."""
    database = embedded_database_file(settings)
    if database is None or not writer:
        async with _open_backends(settings) as backends:
            yield backends
        return
    with writer_lock(database):  # before migrating: that writes too
        async with _open_backends(settings) as backends:
            yield backends

# The shared index drops whole generations: a document stays up to a quarter window past the
# window (memory: up to 1.25 windows), and a query reads the buckets of about 5 of them.
GENERATIONS_PER_WINDOW = 4


@asynccontextmanager
async def _open_backends(settings: Settings) -> AsyncIterator[Backends]:
    if settings.database_url.startswith("sqlite"):
        # The embedded default must work right after install: migrate it in place.
        await upgrade(settings.database_url)
    else:
        await check_schema(settings.database_url)
    store = SqlStore.connect(settings.database_url)
    try:
        if settings.redis_url:
            client = redis_client(settings)
            keys = RedisKeys(settings.redis_prefix)
            queue = LanedQueue(*(RedisStreamQueue(
                client, keys, claim_idle_seconds=settings.claim_idle_seconds,
                # The database counts attempts (and survives Redis); this guard only catches
                # a message whose consumers keep dying before they reach the database.
                max_deliveries=settings.max_attempts * 2, lane=lane,
            ) for lane in (None, "backfill")))
            try:
                events = RedisEventStream(client, keys, store, settings.events_maxlen)
                index = RedisIndex(client, keys, signatures=store,
                                   generation_seconds=settings.dedup_window_seconds
                                   / GENERATIONS_PER_WINDOW)
                yield Backends(store, queue, index, events, store.engine, client, keys)
            finally:
                await client.aclose()
        else:
            # In-process lanes: a live article never shares this process's workers with a
            # backfill (the embedded database is locked by one process; beside PostgreSQL a
            # backfill runs its own workers), so its batches need no cap.
            queue = LanedQueue(InProcessQueue(), InProcessQueue(), backfill_batch=sys.maxsize)
            try:
                yield Backends(store, queue, MemoryIndex(), LocalEvents(), store.engine)
            finally:
                await queue.close()
    finally:
        await store.close()
