"""Choosing the adapters: the embedded default or the production backends, one code path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from canonry.service.config import Settings
from canonry.service.migrations import check_schema, upgrade
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.redis.queue import RedisStreamQueue
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.ports import DedupIndex, Store, WorkQueue


@dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    queue: WorkQueue
    index: DedupIndex
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


@asynccontextmanager
async def open_backends(settings: Settings) -> AsyncIterator[Backends]:
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
            queue = RedisStreamQueue(
                client, keys, claim_idle_seconds=settings.claim_idle_seconds,
                # The database counts attempts (and survives Redis); this guard only catches
                # a message whose consumers keep dying before they reach the database.
                max_deliveries=settings.max_attempts * 2,
            )
            try:
                yield Backends(store, queue, RedisIndex(client, keys), store.engine, client,
                               keys)
            finally:
                await client.aclose()
        else:
            queue = InProcessQueue()
            try:
                yield Backends(store, queue, MemoryIndex(), store.engine)
            finally:
                await queue.close()
    finally:
        await store.close()
