"""`EventBus` of one process: wakes the event readers (GET /events) when this process commits.

The embedded default keeps no stream of its own: the outbox in the database is the stream, and
readers take events from it; this only tells them when to look.
"""

from __future__ import annotations

import asyncio
import contextlib


class LocalEvents:
    def __init__(self) -> None:
        self._changed = asyncio.Event()

    async def committed(self) -> None:
        # Wake everyone waiting now, then arm a fresh event for the next wait.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def relay(self) -> int:
        return 0  # nothing to carry further: readers read the outbox

    async def wait(self, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), at_most)
