"""RedisStreamQueue against a real Redis: every test under its own key prefix, removed after.

No sleeps: "a consumer died long ago" is `claim_idle_seconds=0` on the consumer taking over,
"the retry is due" is the delayed entry's score set in the past.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.redis.queue import RedisStreamQueue, default_consumer_name
from canonry.workers.ports import Delivery

NEVER = 10 * 365 * 86400.0  # claim_idle_seconds of a consumer that never takes over


def queue(redis: Redis, keys: RedisKeys, name: str, **options: float) -> RedisStreamQueue:
    options.setdefault("claim_idle_seconds", NEVER)
    return RedisStreamQueue(redis, keys, consumer=name, **options)  # type: ignore[arg-type]


async def take(q: RedisStreamQueue, wait: float) -> Delivery | None:
    """One message, as a batch of one."""
    batch = await q.receive(1, wait)
    assert len(batch) <= 1
    return batch[0] if batch else None


async def test_a_batch_is_received_in_order_and_acked_at_once(
    redis: Redis, keys: RedisKeys
) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue([f"i{n}" for n in range(7)])
    first = await q.receive(5, 0)
    assert [d.ingest_id for d in first] == ["i0", "i1", "i2", "i3", "i4"]
    rest = await q.receive(5, 0)
    assert [d.ingest_id for d in rest] == ["i5", "i6"]
    assert await q.pending_count() == 7
    await q.ack(first + rest)
    assert await q.drained()


async def test_taken_over_messages_fill_a_batch_before_new_ones(
    redis: Redis, keys: RedisKeys
) -> None:
    dying = queue(redis, keys, "dying")
    await dying.enqueue(["i1", "i2", "i3"])
    assert len(await dying.receive(2, 0)) == 2  # its consumer dies with i1, i2 pending
    taker = queue(redis, keys, "taker", claim_idle_seconds=0)
    batch = await taker.receive(10, 0)
    assert [d.ingest_id for d in batch] == ["i1", "i2", "i3"]
    await taker.ack(batch)
    assert await taker.drained()


async def test_enqueue_receive_ack_leaves_nothing(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1", "i2", "i3"])
    assert await q.stream_length() == 3
    got = []
    while (delivery := await take(q, 0)) is not None:
        got.append(delivery.ingest_id)
        assert await q.pending_count() == 1
        await q.ack([delivery])
    assert got == ["i1", "i2", "i3"]
    assert (await q.stream_length(), await q.pending_count(), await q.delayed_count()) == (0, 0, 0)
    assert await q.drained()


async def test_receive_waits_for_an_enqueue(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    assert await take(q, 0.01) is None  # nothing there: None once the wait is over
    waiting = asyncio.create_task(take(q, 30))
    await q.enqueue(["late"])
    delivery = await waiting  # XREADGROUP BLOCK returns as soon as the entry arrives
    assert delivery is not None and delivery.ingest_id == "late"


async def test_enqueue_large_batch_is_pipelined_in_chunks(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue([f"i{n}" for n in range(2500)])
    await q.enqueue([])
    assert await q.stream_length() == 2500
    assert not await q.drained()


async def test_release_without_delay_comes_straight_back(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1"])
    first = await take(q, 0)
    assert first is not None
    await q.release([(first, 0)])
    assert await q.pending_count() == 0  # the released entry is acked and deleted
    again = await take(q, 0)
    assert again is not None
    assert again.ingest_id == "i1" and again.token != first.token
    await q.ack([again])
    assert await q.drained()


async def test_release_with_delay_comes_back_when_due(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1"])
    delivery = await take(q, 0)
    assert delivery is not None
    await q.release([(delivery, 3600)])
    assert await take(q, 0) is None  # not due for an hour
    assert (await q.delayed_count(), await q.stream_length(), await q.pending_count()) == (1, 0, 0)
    assert not await q.drained()  # a retry still waiting is work left
    # An hour passes: the due time is in the past.
    await redis.zadd(keys.delayed, {"i1": 0}, xx=True)
    back = await take(q, 0)
    assert back is not None and back.ingest_id == "i1"
    assert await q.delayed_count() == 0
    await q.ack([back])
    assert await q.drained()


async def test_a_second_release_keeps_the_earlier_due_time(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1", "i1"])  # the same ingest dispatched twice
    one, two = await take(q, 0), await take(q, 0)
    assert one is not None and two is not None
    await q.release([(one, 0)])
    await q.release([(two, 3600)])
    assert await q.delayed_count() == 1  # one retry per ingest, not two
    back = await take(q, 0)
    assert back is not None and back.ingest_id == "i1"


async def test_dead_consumers_message_is_claimed_by_another(redis: Redis, keys: RedisKeys) -> None:
    dying = queue(redis, keys, "dying")
    await dying.enqueue(["i1"])
    lost = await take(dying, 0)
    assert lost is not None  # ... and its consumer dies without acking
    patient = queue(redis, keys, "patient")  # waits the default idle time: not yet
    assert await take(patient, 0) is None
    taker = queue(redis, keys, "taker", claim_idle_seconds=0)
    taken = await take(taker, 0)
    assert taken == lost
    pending = await redis.xpending_range(keys.stream, taker.group, "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"taker"]
    await taker.ack([taken])
    assert await taker.drained()


async def test_delivery_count_guard_dead_letters(redis: Redis, keys: RedisKeys) -> None:
    first = queue(redis, keys, "first", max_deliveries=2)
    await first.enqueue(["poison", "fine"])
    assert (await take(first, 0)).ingest_id == "poison"  # type: ignore[union-attr]
    second = queue(redis, keys, "second", claim_idle_seconds=0, max_deliveries=2)
    assert (await take(second, 0)).ingest_id == "poison"  # type: ignore[union-attr]
    # Both consumers died with it: a third delivery would be one more than max_deliveries.
    third = queue(redis, keys, "third", claim_idle_seconds=0, max_deliveries=2)
    nxt = await take(third, 0)
    assert nxt is not None and nxt.ingest_id == "fine"
    [dead] = await third.dead_letters()
    assert dead.ingest_id == "poison"
    assert dead.error == "delivered 2 times without an ack"
    await third.ack([nxt])
    assert await third.drained()


async def test_dead_letter_is_listed_and_replayed(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1", "i2", "i3"])
    deliveries = [await take(q, 0) for _ in range(3)]
    server_now, _ = await redis.time()
    for delivery in deliveries:
        assert delivery is not None
        await q.dead_letter([(delivery, f"boom {delivery.ingest_id}")])
    assert await q.drained()  # dead letters are not work left
    dead = await q.dead_letters()
    assert [(d.ingest_id, d.error) for d in dead] == [
        ("i1", "boom i1"), ("i2", "boom i2"), ("i3", "boom i3")]
    assert all(d.failed_at >= server_now for d in dead)
    assert [d.id for d in dead] == sorted(d.id for d in dead) and all(d.id for d in dead)
    assert [d.ingest_id for d in await q.dead_letters(limit=2)] == ["i1", "i2"]

    assert await q.replay(["i2", "unknown"]) == ["i2"]  # an unknown id is skipped
    assert [d.ingest_id for d in await q.dead_letters()] == ["i1", "i3"]
    again = await take(q, 0)
    assert again is not None and again.ingest_id == "i2"
    await q.ack([again])

    assert sorted(await q.replay()) == ["i1", "i3"]
    assert await q.dead_letters() == []
    assert await q.dead_letter_count() == 0
    assert await q.stream_length() == 2


async def test_dead_letter_stream_is_capped(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a", dead_letter_maxlen=10)
    await q.enqueue([f"i{n}" for n in range(300)])
    while (delivery := await take(q, 0)) is not None:
        await q.dead_letter([(delivery, "boom")])
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default): near 10, never 300.
    assert await q.dead_letter_count() < 300


async def test_group_is_recreated_after_a_redis_restart(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["before"])
    in_flight = await take(q, 0)
    assert in_flight is not None
    # Redis restarts without persistence: every key, the group with the stream, is gone.
    await redis.delete(keys.stream, keys.delayed, keys.dead)
    assert await take(q, 0) is None  # no NOGROUP error: the group is simply recreated
    await q.ack([in_flight])  # acking a message lost with the restart is a no-op
    await redis.delete(keys.stream)
    # The API enqueues first: XADD recreates the stream, but not the group.
    await q.enqueue(["after"])
    assert await q.pending_count() == 0
    assert not await q.drained()
    delivery = await take(q, 0)  # the group is recreated at id 0: "after" is not skipped
    assert delivery is not None and delivery.ingest_id == "after"
    await q.ack([delivery])
    assert await q.drained()


async def test_release_and_dead_letter_survive_a_lost_group(
        redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1", "i2"])
    one, two = await take(q, 0), await take(q, 0)
    assert one is not None and two is not None
    await redis.delete(keys.stream)
    await q.release([(one, 0)])  # the retry is scheduled even though its entry is gone
    await q.dead_letter([(two, "boom")])
    assert [d.ingest_id for d in await q.dead_letters()] == ["i2"]
    back = await take(q, 0)
    assert back is not None and back.ingest_id == "i1"


async def test_ping_and_consumer_name(redis: Redis, keys: RedisKeys) -> None:
    q = RedisStreamQueue(redis, keys)
    await q.ping()  # raises when Redis does not answer
    assert q.consumer.count("-") >= 2
    assert default_consumer_name() != default_consumer_name()
    await q.close()
    assert await redis.ping()  # the queue does not close the caller's client


async def test_a_delivery_holds_the_stream_entry_id(redis: Redis, keys: RedisKeys) -> None:
    q = queue(redis, keys, "a")
    await q.enqueue(["i1"])
    [(entry_id, _)] = await redis.xrange(keys.stream)
    assert await take(q, 0) == Delivery("i1", entry_id.decode())
