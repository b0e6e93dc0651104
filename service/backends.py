"""Choosing the adapters: the embedded default or the production backends, one code path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from canonry.service.config import Settings
from canonry.service.migrations import check_schema, upgrade
from canonry.workers.index import DedupIndex, MemoryIndex
from canonry.workers.queue import InProcessQueue, WorkQueue
from canonry.workers.store import Store


@dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    queue: WorkQueue
    index: DedupIndex


@asynccontextmanager
async def open_backends(settings: Settings) -> AsyncIterator[Backends]:
    store = Store.connect(settings.database_url)
    queue: WorkQueue
    index: DedupIndex
    try:
        if settings.database_url.startswith("sqlite"):
            # The embedded default must work right after install: migrate it in place.
            await upgrade(settings.database_url)
        else:
            await check_schema(settings.database_url)
        if settings.redis_url:
            raise SystemExit("CANONRY_REDIS_URL: the Redis backends are not built yet")
        queue, index = InProcessQueue(), MemoryIndex()
        try:
            yield Backends(store=store, queue=queue, index=index)
        finally:
            await queue.close()
            await index.close()
    finally:
        await store.close()
