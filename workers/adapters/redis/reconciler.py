"""Periodic repair for the production backends, run by every worker process, done by one.

Redis here may keep nothing on disk. After a restart the work stream and the LSH index are
gone while the database still holds every accepted article and every signature; the reconciler
puts both back:
- ingests still open and untouched for a whole interval are dispatched again (a duplicate
  dispatch is harmless: the worker's first step finds a finished ingest and just acks);
- when the index's `index-loaded` marker is missing, the index is rebuilt from the stored
  signatures, then the marker is set.
A lock with a TTL of one interval (SET NX PX, never released) makes one process per interval
do the work across the whole fleet.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from redis.asyncio import Redis

from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.ports import DedupIndex, Store, WorkQueue

log = structlog.get_logger("canonry.reconciler")


@dataclass
class Reconciler:
    """store, queue, index: the backends to repair; redis, keys: where the lock and marker live;
    interval: seconds between runs, and how long an ingest must sit untouched to be re-sent;
    window_seconds: the dedup window (what a rebuild loads)."""

    store: Store
    queue: WorkQueue
    index: DedupIndex
    redis: Redis
    keys: RedisKeys
    interval: float
    window_seconds: float

    async def run_once(self) -> tuple[int, int] | None:
        """(ingests re-dispatched, signatures loaded) when there was anything to repair;
        None when nothing was, or another process holds this interval's lock."""
        token = f"{os.getpid()}-{time.time()}"
        if not await self.redis.set(self.keys.reconciler_lock, token, nx=True,
                                    px=max(int(self.interval * 1000), 1)):
            return None
        loaded = await self.ensure_index()
        cutoff = datetime.now(UTC) - timedelta(seconds=self.interval)
        stale = await self.store.open_ingest_ids(untouched_since=cutoff)
        await self.queue.enqueue(stale)
        if stale or loaded:
            log.info("reconciled", redispatched=len(stale), index_loaded=loaded)
            return len(stale), loaded
        return None

    async def ensure_index(self) -> int:
        """Rebuild the index from the database if Redis lost it; the number of entries loaded."""
        if await self.redis.exists(self.keys.index_loaded):
            return 0
        entries = await self.store.index_entries(time.time() - self.window_seconds)
        await self.index.load(entries)
        await self.redis.set(self.keys.index_loaded, str(time.time()))
        return len(entries)
