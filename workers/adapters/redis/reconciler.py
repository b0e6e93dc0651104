"""Repair for the production backends, run by every process.

Redis here may keep nothing on disk. After a restart the work stream and the LSH index are
gone while the database still holds every accepted article and every signature. Deciding an
article against the empty index would make every copy of a known story a second document, so:

- `ensure_ready` is asked by every worker before it takes work. While the `index-loaded` marker
  is missing, one process of the fleet (the holder of the rebuild lock) rebuilds at once: it
  loads the stored signatures, dispatches every open ingest again (the restart lost the stream,
  its pending entries and the delayed retries; a duplicate dispatch is harmless, the worker's
  first step finds a finished ingest and just acks) and only then sets the marker. Every other
  process waits for the marker; until it is there no article is decided (the guarded claim
  refuses, `/readyz` is 503).
- `run_once`, every interval (one process per interval, by a lock with a TTL of one interval,
  SET NX PX, never released): ingests still open and untouched for a whole interval are
  dispatched again, and the index is rebuilt if nobody did.

The races of a rebuild, and what answers each:
- workers writing while the load runs: claims are refused without the marker (in the claim's
  own atomic script); anything written anyway (an upgrade's `replace`) is newer than the
  database snapshot, and `fill` never overwrites an entry;
- the marker set before the load finished: it is set after the last chunk, by a script that
  first checks that the rebuild lock still holds this rebuild's token;
- Redis restarting again mid-rebuild: the new instance has no lock, so the next chunk (or the
  marker script) finds the token gone and stops writing; a process then rebuilds anew;
- the rebuilder dying: its lock (renewed per chunk) expires after `REBUILD_LOCK_TTL` and
  another process takes the rebuild over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis

from canonry.workers.adapters.redis.index import RebuildInterrupted, RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.ports import Store, WorkQueue

log = structlog.get_logger("canonry.reconciler")

# How long a rebuilder may stay silent before another process takes the rebuild over. It is
# renewed at every chunk, so it only has to cover the slowest single step (the database read
# of the signatures, one chunk's round trip). A module constant: no operator should need it.
REBUILD_LOCK_TTL = 30.0
REBUILD_POLL = 0.2  # seconds between looks at the marker while another process rebuilds

# KEYS: rebuild lock, loaded marker. ARGV: token, marker value. The marker is set (and the lock
# released) only if the lock still holds this rebuild's token; answers 1 if it did.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: rebuild lock. ARGV: token. Releases the lock if it is still this rebuild's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Reconciler:
    """store, queue, index: the backends to repair; redis, keys: where the locks and the marker
    live; interval: seconds between runs, and how long an ingest must sit untouched to be
    re-sent; window_seconds: the dedup window (what a rebuild loads).

    Making one guards the index's claims with the loaded marker (`RedisIndex.require_loaded`).
    """

    store: Store
    queue: WorkQueue
    index: RedisIndex
    redis: Redis
    keys: RedisKeys
    interval: float
    window_seconds: float
    _finish: Any = field(init=False, repr=False)
    _release: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index.require_loaded()
        self._finish = self.redis.register_script(_FINISH)
        self._release = self.redis.register_script(_RELEASE)

    async def run_once(self) -> tuple[int, int] | None:
        """(ingests re-dispatched, signatures loaded) when there was anything to repair;
        None when nothing was, or another process holds this interval's lock."""
        token = f"{os.getpid()}-{time.time()}"
        if not await self.redis.set(self.keys.reconciler_lock, token, nx=True,
                                    px=max(int(self.interval * 1000), 1)):
            return None
        loaded = 0 if await self.index.ready() else (await self.rebuild() or 0)
        cutoff = datetime.now(UTC) - timedelta(seconds=self.interval)
        stale = await self.store.open_ingest_ids(untouched_since=cutoff)
        await self.queue.enqueue(stale)
        if stale or loaded:
            log.info("reconciled", redispatched=len(stale), index_loaded=loaded)
            return len(stale), loaded
        return None

    async def ensure_ready(self) -> bool:
        """Whether articles may be decided now. When the index is not loaded, this process
        rebuilds it unless another one is doing so: True once the rebuild here finished,
        False while another process's rebuild runs (ask again soon)."""
        if await self.index.ready():
            return True
        return await self.rebuild() is not None

    async def ensure_index(self) -> int:
        """Return once the index is loaded, rebuilding it here or waiting for the process that
        does; the number of entries this process loaded."""
        loaded = 0
        while not await self.index.ready():
            done = await self.rebuild()
            if done is None:  # another process is rebuilding, or a restart interrupted it
                await asyncio.sleep(REBUILD_POLL)
            else:
                loaded += done
        return loaded

    async def reindex(self) -> int:
        """`canonry reindex`: empty the index and load it again from the database, under the
        rebuild lock (waiting for it), so no worker's rebuild interleaves with the clearing."""
        while True:
            loaded = await self.rebuild(clear=True)
            if loaded is not None:
                return loaded
            await asyncio.sleep(REBUILD_POLL)  # another process is rebuilding

    async def rebuild(self, *, clear: bool = False) -> int | None:
        """Under the fleet-wide rebuild lock: load the stored signatures, dispatch the open
        ingests, set the marker. The entries loaded (0: it was loaded meanwhile), or None when
        another process holds the lock or this rebuild was interrupted. `clear`: drop the
        marker and every entry first, even when the index is loaded."""
        lock, token = self.keys.rebuild_lock, f"{os.getpid()}-{secrets.token_hex(8)}"
        ttl_ms = int(REBUILD_LOCK_TTL * 1000)
        if not await self.redis.set(lock, token, nx=True, px=ttl_ms):
            return None
        started, finished = time.monotonic(), False
        try:
            if clear:  # workers stop deciding (no marker) before the entries go
                await self.redis.delete(self.keys.index_loaded)
                await self.index.clear()
            elif await self.index.ready():  # another process finished just before we locked
                return 0
            log.info("index_rebuild_started")
            blocks = self.store.signature_blocks(time.time() - self.window_seconds)
            loaded = await self.index.fill(blocks, lock, token, ttl_ms)
            open_ids = await self.store.open_ingest_ids()
            await self.queue.enqueue(open_ids)
            if not await self._finish(keys=[lock, self.keys.index_loaded],
                                      args=[token, repr(time.time())]):
                raise RebuildInterrupted("lost the rebuild lock before setting the marker")
            finished = True
        except RebuildInterrupted as exc:
            log.warning("index_rebuild_interrupted", error=str(exc))
            return None
        finally:
            if not finished:  # let another process start over at once (best effort)
                with contextlib.suppress(Exception):
                    await self._release(keys=[lock], args=[token])
        log.info("index_rebuilt", entries=loaded, redispatched=len(open_ids),
                 seconds=round(time.monotonic() - started, 3))
        # A Redis that held the previous layout (upgraded in place): its keys are dead weight
        # now. Deleted after the marker, so work resumes first; idempotent, so no lock.
        try:
            if legacy := await self.index.drop_legacy():
                log.info("index_legacy_layout_dropped", keys=legacy)
        except Exception as exc:  # `canonry reindex` (clear) deletes them as well
            log.warning("index_legacy_drop_failed", error=str(exc))
        return loaded
