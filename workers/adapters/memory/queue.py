"""The work queue port and its embedded implementation.

A message is only an ingest id: the article itself is already committed to the database before
the API answers 202, so the queue dispatches work but never holds the only copy of anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a worker. `token` is the backend's message id ("" in-process)."""

    ingest_id: str
    token: str = ""


class WorkQueue(Protocol):
    async def enqueue(self, ingest_ids: Sequence[str]) -> None:
        """Dispatch accepted ingests to the workers."""

    async def receive(self, wait: float) -> Delivery | None:
        """The next message, or None when none arrived within `wait` seconds."""

    async def ack(self, delivery: Delivery) -> None:
        """The message's work is committed: never deliver it again."""

    async def release(self, delivery: Delivery, delay: float) -> None:
        """Hand the message back for another try after `delay` seconds."""

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Give up on the message: keep it, with its error, where operators can replay it."""

    async def close(self) -> None: ...


class InProcessQueue:
    """An asyncio queue for the embedded default: one process, API and workers together.

    Durability comes from the database (a restart queues every unfinished ingest again), so a
    message lost with the process is never an article lost. `join()` waits until every message,
    retries included, has been acked or dead-lettered: the embedded "burst" synchronisation.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._retry_handles: set[asyncio.TimerHandle] = set()

    async def enqueue(self, ingest_ids: Sequence[str]) -> None:
        for ingest_id in ingest_ids:
            self._queue.put_nowait(Delivery(ingest_id))

    async def receive(self, wait: float) -> Delivery | None:
        try:
            return await asyncio.wait_for(self._queue.get(), wait)
        except TimeoutError:
            return None

    async def ack(self, delivery: Delivery) -> None:
        self._queue.task_done()

    async def release(self, delivery: Delivery, delay: float) -> None:
        def requeue() -> None:
            self._retry_handles.discard(handle)
            # Put before task_done, so join() never sees an empty queue in between.
            self._queue.put_nowait(delivery)
            self._queue.task_done()

        handle = asyncio.get_running_loop().call_later(delay, requeue)
        self._retry_handles.add(handle)

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        # The ingest row (status `failed`, with its error) is the embedded dead-letter record.
        self._queue.task_done()

    async def join(self) -> None:
        await self._queue.join()

    def qsize(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        for handle in self._retry_handles:
            handle.cancel()
        self._retry_handles.clear()
