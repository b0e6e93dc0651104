"""The embedded work queue: an asyncio queue inside `canonry serve`.

Durability comes from the database (a restart queues every unfinished ingest again), so a
message lost with the process is never an article lost. The dead-letter record of the embedded
default is the ingest row itself (status `failed`, with its error).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from canonry.workers.ports import DeadLetter, Delivery


class InProcessQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._retries: dict[int, asyncio.TimerHandle] = {}
        self._retry_number = 0
        # Messages queued, in flight or waiting for a retry: zero means drained.
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def enqueue(self, ingest_ids: Sequence[str]) -> None:
        for ingest_id in ingest_ids:
            self._put(Delivery(ingest_id))

    async def receive(self, max_count: int, wait: float) -> list[Delivery]:
        try:
            first = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            try:
                first = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                return []
        batch = [first]
        with contextlib.suppress(asyncio.QueueEmpty):
            while len(batch) < max_count:
                batch.append(self._queue.get_nowait())
        return batch

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._finish(len(deliveries))

    async def release(self, deliveries: Sequence[tuple[Delivery, float]]) -> None:
        loop = asyncio.get_running_loop()
        for delivery, delay in deliveries:
            self._retry_number += 1
            self._retries[self._retry_number] = loop.call_later(
                max(0.0, delay), self._requeue, self._retry_number, delivery)

    def _requeue(self, number: int, delivery: Delivery) -> None:
        del self._retries[number]
        self._queue.put_nowait(delivery)  # still counted as unfinished meanwhile

    async def dead_letter(self, deliveries: Sequence[tuple[Delivery, str]]) -> None:
        self._finish(len(deliveries))

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        return []  # the failed ingest rows are the embedded dead letters

    async def replay(self, ingest_ids: Sequence[str] | None = None) -> list[str]:
        # Only a live `canonry serve` consumes this queue; it dispatches requeued ingests when
        # it next starts (or `canonry worker --burst` does).
        await self.enqueue(ingest_ids or [])
        return list(ingest_ids or [])

    async def drained(self) -> bool:
        return self._unfinished == 0

    async def wait_drained(self) -> None:
        await self._idle.wait()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()

    def _put(self, delivery: Delivery) -> None:
        self._unfinished += 1
        self._idle.clear()
        self._queue.put_nowait(delivery)

    def _finish(self, count: int) -> None:
        self._unfinished -= count
        if self._unfinished <= 0:
            self._unfinished = 0
            self._idle.set()
