"""Two work queues served as one: the live lane first, the backfill lane when live is empty.

A backfill of millions of archived articles must not stand between a feed's new article and
the workers. So the backfill enqueues to a lane of its own (a second Redis stream, or a second
in-process queue), and every `receive` takes from the live lane first and fills the rest of the
batch from the backfill lane, at most BACKFILL_BATCH of them: live work waits at most for the
(small) batches already being processed. Under a constant live load the backfill waits — by
design: archives can wait, news cannot.

Any pair of `WorkQueue`s composes; a delivery from the backfill lane carries its lane in its
token, so its answer (ack, retry, dead letter) goes back to the queue it came from. The lanes
share one dead-letter store (the Redis lane is built that way), and a replay goes to the live
lane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from canonry.workers.ports import DeadLetter, Delivery, QueueStats, WorkQueue

_BACKFILL = "backfill:"  # the token prefix of deliveries from the backfill lane
T = TypeVar("T")


# Most backfill messages one receive takes. A live article waits for the batches in flight
# when it arrives; with whole batches (100) of archive pages in flight, 2 processes x 2
# batches, that was up to 23 s on two cores (bench/backfill.py); with 20 it is a few seconds.
BACKFILL_BATCH = 20


class LanedQueue:
    def __init__(self, live: WorkQueue, backfill: WorkQueue,
                 backfill_batch: int = BACKFILL_BATCH) -> None:
        self.live = live
        self.backfill = backfill
        self.backfill_batch = backfill_batch

    async def enqueue(self, ingest_ids: Sequence[str]) -> None:
        await self.live.enqueue(ingest_ids)

    async def receive(self, max_count: int, wait: float) -> list[Delivery]:
        batch = await self._take(max_count)
        if batch or wait <= 0:
            return batch
        # Nothing in either lane: wait on the live one (a backfill message arriving meanwhile
        # waits at most `wait` seconds), then look at the backfill lane again.
        batch = await self.live.receive(max_count, wait)
        return batch or await self._take(max_count)

    async def _take(self, max_count: int) -> list[Delivery]:
        batch = await self.live.receive(max_count, 0)
        room = min(max_count - len(batch), self.backfill_batch)
        if room > 0:
            batch += [replace(d, token=_BACKFILL + d.token)
                      for d in await self.backfill.receive(room, 0)]
        return batch

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        live, backfill = _split(deliveries)
        await self.live.ack(live)
        await self.backfill.ack(backfill)

    async def release(self, deliveries: Sequence[tuple[Delivery, float]]) -> None:
        live, backfill = _split_pairs(deliveries)
        await self.live.release(live)
        await self.backfill.release(backfill)

    async def dead_letter(self, deliveries: Sequence[tuple[Delivery, str]]) -> None:
        live, backfill = _split_pairs(deliveries)
        await self.live.dead_letter(live)
        await self.backfill.dead_letter(backfill)

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        return await self.live.dead_letters(limit)  # one store for both lanes

    async def replay(self, ingest_ids: Sequence[str] | None = None) -> list[str]:
        return await self.live.replay(ingest_ids)

    async def drained(self) -> bool:
        return await self.live.drained() and await self.backfill.drained()

    async def wait_drained(self) -> None:
        while not await self.drained():
            await self.live.wait_drained()
            await self.backfill.wait_drained()

    async def ping(self) -> None:
        await self.live.ping()

    async def stats(self) -> QueueStats:
        live, backfill = await self.live.stats(), await self.backfill.stats()
        ages = [a for a in (live.oldest_age_seconds, backfill.oldest_age_seconds) if a is not None]
        return QueueStats(depth=live.depth + backfill.depth,
                          pending=live.pending + backfill.pending,
                          delayed=live.delayed + backfill.delayed,
                          oldest_age_seconds=max(ages) if ages else None,
                          dead_letters=live.dead_letters)

    async def close(self) -> None:
        await self.live.close()
        await self.backfill.close()


def _split(deliveries: Sequence[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
    live, backfill = _split_pairs([(d, None) for d in deliveries])
    return [d for d, _ in live], [d for d, _ in backfill]


def _split_pairs(deliveries: Sequence[tuple[Delivery, T]]
                 ) -> tuple[list[tuple[Delivery, T]], list[tuple[Delivery, T]]]:
    """By lane, the backfill deliveries with their own queue's token again."""
    live: list[tuple[Delivery, T]] = []
    backfill: list[tuple[Delivery, T]] = []
    for delivery, value in deliveries:
        if delivery.token.startswith(_BACKFILL):
            backfill.append((replace(delivery, token=delivery.token.removeprefix(_BACKFILL)),
                             value))
        else:
            live.append((delivery, value))
    return live, backfill
