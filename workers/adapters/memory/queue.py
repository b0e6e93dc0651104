"""The embedded work queue: an asyncio queue inside `canonry serve`.

Durability comes from the database (a restart queues every unfinished ingest again), so a
message lost with the process is never an article lost. The dead-letter record of the embedded
default is the ingest row itself (status `failed`, with its error).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence

from canonry.workers.ports import DeadLetter, Delivery, QueueStats


class InProcessQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._retries: dict[int, asyncio.TimerHandle] = {}
        self._retry_number = 0
        # Messages queued, in flight or waiting for a retry: zero means drained.
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # For stats() only: when each waiting message entered the FIFO (in its order: every
        # put and get goes through this class), and when each delivered one did. Deliveries
        # are equal by ingest id here (no token), so a delivery maps to a list of times.
        self._waiting_since: deque[float] = deque()
        self._delivered_since: dict[Delivery, list[float]] = {}

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
        for delivery in batch:
            self._delivered_since.setdefault(delivery, []).append(self._waiting_since.popleft())
        return batch

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._answered(deliveries)
        self._finish(len(deliveries))

    async def release(self, deliveries: Sequence[tuple[Delivery, float]]) -> None:
        loop = asyncio.get_running_loop()
        self._answered([delivery for delivery, _ in deliveries])
        for delivery, delay in deliveries:
            self._retry_number += 1
            self._retries[self._retry_number] = loop.call_later(
                max(0.0, delay), self._requeue, self._retry_number, delivery)

    def _requeue(self, number: int, delivery: Delivery) -> None:
        del self._retries[number]
        # Still counted as unfinished meanwhile; its age restarts, as a Redis retry's does.
        self._waiting_since.append(time.monotonic())
        self._queue.put_nowait(delivery)

    async def dead_letter(self, deliveries: Sequence[tuple[Delivery, str]]) -> None:
        self._answered([delivery for delivery, _ in deliveries])
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

    async def stats(self) -> QueueStats:
        pending = sum(len(times) for times in self._delivered_since.values())
        entered = [min(t) for t in self._delivered_since.values()]
        if self._waiting_since:
            entered.append(self._waiting_since[0])  # the FIFO's head is its oldest
        return QueueStats(
            depth=self._queue.qsize() + pending, pending=pending, delayed=len(self._retries),
            oldest_age_seconds=max(0.0, time.monotonic() - min(entered)) if entered else None,
            dead_letters=None)  # the failed ingest rows are the embedded dead letters

    async def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()

    def _put(self, delivery: Delivery) -> None:
        self._unfinished += 1
        self._idle.clear()
        self._waiting_since.append(time.monotonic())
        self._queue.put_nowait(delivery)

    def _answered(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            times = self._delivered_since.get(delivery)
            if times:
                times.pop(0)  # the oldest: equal deliveries are interchangeable here
                if not times:
                    del self._delivered_since[delivery]

    def _finish(self, count: int) -> None:
        self._unfinished -= count
        if self._unfinished <= 0:
            self._unfinished = 0
            self._idle.set()
