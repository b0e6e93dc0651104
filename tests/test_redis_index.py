"""RedisIndex against a real Redis, checked against the pure `BandIndex`/`MemoryIndex`.

Signatures are synthetic (random 32-bit values; a "near copy" changes a few positions), so a
test controls exactly how many bands two signatures share.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Sequence

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.lsh import DEFAULT_LSH, BandIndex, IndexEntry, band_keys
from canonry.workers.ports import Claim, DedupIndex


@pytest.fixture
def index(redis: Redis, keys: RedisKeys) -> RedisIndex:
    return RedisIndex(redis, keys)


def signature(rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.getrandbits(32) for _ in range(256))


def near(hashvalues: tuple[int, ...], rng: random.Random, changed: int) -> tuple[int, ...]:
    """A copy with `changed` random positions altered (most bands intact when few)."""
    values = list(hashvalues)
    for position in rng.sample(range(len(values)), changed):
        values[position] = rng.getrandbits(32)
    return tuple(values)


def entry(doc: str, hashvalues: tuple[int, ...], seen_at: float = 0.0) -> IndexEntry:
    return IndexEntry(doc, f"hash-{doc}", hashvalues, len(doc) + 100, seen_at)


async def claim_one(index: DedupIndex, e: IndexEntry, seen: Collection[str]) -> list[IndexEntry]:
    [answer] = await index.claim([Claim(e, seen)])
    return answer


async def candidates_of(index: DedupIndex, hashvalues: Sequence[int]) -> list[IndexEntry]:
    [answer] = await index.candidates([hashvalues])
    return answer


async def index_keys(redis: Redis, keys: RedisKeys) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=keys.index_pattern)]


async def test_claim_inserts_when_alone(index: RedisIndex) -> None:
    a = entry("a", signature(random.Random(1)), seen_at=1700000000.25)
    assert await claim_one(index, a, set()) == []
    assert await index.size() == 1
    assert await candidates_of(index, a.hashvalues) == [a]  # every field survives the round trip


async def test_second_claim_gets_the_first_back(index: RedisIndex) -> None:
    rng = random.Random(2)
    a = entry("a", signature(rng))
    b = entry("b", near(a.hashvalues, rng, 5))
    assert await claim_one(index, a, set()) == []
    assert await claim_one(index, b, set()) == [a]  # a rival: b is not inserted
    assert await index.size() == 1
    assert await claim_one(index, b, {"a"}) == []  # a judged (not a match): b is a new story
    assert await index.size() == 2
    assert await candidates_of(index, b.hashvalues) == [a, b]


async def test_claim_ignores_the_entrys_own_document(index: RedisIndex) -> None:
    rng = random.Random(3)
    a = entry("a", signature(rng))
    assert await claim_one(index, a, set()) == []
    again = entry("a", near(a.hashvalues, rng, 5), seen_at=5.0)  # a retried attempt
    assert await claim_one(index, again, set()) == []
    assert await candidates_of(index, again.hashvalues) == [again]
    assert await index.size() == 1


async def test_reclaim_under_a_new_signature_drops_the_old_bands(
        redis: Redis, keys: RedisKeys, index: RedisIndex) -> None:
    rng = random.Random(4)
    old = entry("a", signature(rng))
    new = entry("a", signature(rng))  # unrelated: no band in common
    assert await claim_one(index, old, set()) == []
    assert await claim_one(index, new, set()) == []
    assert await candidates_of(index, old.hashvalues) == []
    assert await candidates_of(index, new.hashvalues) == [new]
    # Its band sets, one entry hash, the clock: nothing left over from the old signature.
    assert len(await index_keys(redis, keys)) == DEFAULT_LSH.bands + 2


async def test_concurrent_claims_make_one_canonical_per_story(
        redis_server_url: str, redis: Redis, keys: RedisKeys) -> None:
    """200 stories x 3 near-identical copies, all claimed at once from 8 connections' worth of
    clients each: whoever loses a race must get the winner back, so exactly one copy of each
    story is inserted."""
    rng = random.Random(5)
    stories = [signature(rng) for _ in range(200)]
    copies = [entry(f"s{s}-c{c}", near(hv, rng, 4)) for s, hv in enumerate(stories)
              for c in range(3)]
    clients = [Redis(connection_pool=BlockingConnectionPool.from_url(
        redis_server_url, max_connections=8, timeout=None)) for _ in range(8)]
    indexes = [RedisIndex(client, keys) for client in clients]

    async def worker_claim(index: RedisIndex, e: IndexEntry) -> tuple[str, list[str]]:
        rivals = await claim_one(index, e, set())  # the worker would now verify and match
        return e.document_id, [r.document_id for r in rivals]

    order = list(range(len(copies)))
    rng.shuffle(order)
    try:
        results = dict(await asyncio.gather(*(
            worker_claim(indexes[n % len(indexes)], copies[i]) for n, i in enumerate(order))))
        winners = {doc for doc, rivals in results.items() if not rivals}
        assert len(winners) == 200
        assert {w.split("-")[0] for w in winners} == {f"s{s}" for s in range(200)}
        for doc, rivals in results.items():
            if rivals:  # the loser was handed its own story's winner, and only that
                assert len(rivals) == 1 and rivals[0] in winners
                assert rivals[0].split("-")[0] == doc.split("-")[0]
        assert await RedisIndex(redis, keys).size() == 200
    finally:
        for client in clients:
            await client.aclose()


async def test_replace_moves_band_memberships(
        redis: Redis, keys: RedisKeys, index: RedisIndex) -> None:
    rng = random.Random(6)
    old = entry("a", signature(rng), seen_at=1.0)
    new = entry("a", near(old.hashvalues, rng, 60), seen_at=2.0)  # some bands shared
    await index.replace([old])
    await index.replace([new])
    assert await candidates_of(index, new.hashvalues) == [new]
    gone = set(band_keys(old.hashvalues)) - set(band_keys(new.hashvalues))
    assert gone, "the test needs bands that changed"
    assert not await redis.exists(*(keys.band(k) for k in gone))
    assert await index.size() == 1


async def test_remove_leaves_no_key_behind(
        redis: Redis, keys: RedisKeys, index: RedisIndex) -> None:
    rng = random.Random(7)
    a, b = entry("a", signature(rng)), entry("b", signature(rng))
    await index.load([a, b])
    await index.remove(["a"])
    await index.remove(["missing"])
    assert await index.size() == 1
    assert await candidates_of(index, a.hashvalues) == []
    await index.remove(["b"])
    assert await index_keys(redis, keys) == []


async def test_evict_by_seen_at_in_chunks(redis: Redis, keys: RedisKeys) -> None:
    index = RedisIndex(redis, keys, chunk_size=3)
    rng = random.Random(8)
    entries = [entry(f"d{n}", signature(rng), seen_at=float(n)) for n in range(10)]
    await index.load(entries)
    assert await index.evict_older_than(6.0) == 6  # seen_at 0..5; 6 itself stays
    assert await index.size() == 4
    assert [e.document_id for e in entries if await candidates_of(index, e.hashvalues)] == [
        "d6", "d7", "d8", "d9"]
    assert await index.evict_older_than(6.0) == 0
    assert await index.evict_older_than(100.0) == 4
    assert await index_keys(redis, keys) == []


async def test_agrees_with_the_pure_band_index(redis: Redis, keys: RedisKeys) -> None:
    """Families of signatures at every similarity, loaded in small chunks, then replaced,
    removed and evicted: every query answers what `BandIndex` answers."""
    rng = random.Random(9)
    index = RedisIndex(redis, keys, chunk_size=7)
    entries: list[IndexEntry] = []
    for family in range(20):
        base = signature(rng)
        for member, changed in enumerate((0, 20, 80, 160, 230)):
            entries.append(entry(f"f{family}-m{member}", near(base, rng, changed),
                                 seen_at=float(rng.randrange(100))))
    pure = BandIndex.from_entries(entries)
    await index.load(entries)
    probes = [near(e.hashvalues, rng, rng.choice((0, 10, 100, 200))) for e in entries[::2]]

    async def agree() -> None:
        assert await index.size() == len(pure)
        for probe in probes:
            assert await candidates_of(index, probe) == pure.query(probe)

    await agree()
    for e in entries[:15]:
        changed = entry(e.document_id, near(e.hashvalues, rng, 100), seen_at=e.seen_at + 50)
        pure.replace(changed)
        await index.replace([changed])
    await index.load(entries[15:25])  # a reload replaces what is there
    for e in entries[15:25]:
        pure.replace(e)
    await agree()
    for e in entries[30:40]:
        pure.remove(e.document_id)
        await index.remove([e.document_id])
    await agree()
    assert await index.evict_older_than(50.0) == pure.evict_older_than(50.0)
    await agree()


async def test_claims_agree_with_the_memory_index(redis: Redis, keys: RedisKeys) -> None:
    rng = random.Random(10)
    redis_index, memory = RedisIndex(redis, keys), MemoryIndex()
    bases = [signature(rng) for _ in range(10)]
    for n in range(60):
        e = entry(f"d{n}", near(rng.choice(bases), rng, rng.choice((3, 60, 150))))
        candidates = await candidates_of(memory, e.hashvalues)
        assert await candidates_of(redis_index, e.hashvalues) == candidates
        seen = {c.document_id for c in candidates if rng.random() < 0.7}
        assert await claim_one(redis_index, e, seen) == await claim_one(memory, e, seen)
    assert await redis_index.size() == await memory.size()


async def test_clear_drops_the_whole_index(
        redis: Redis, keys: RedisKeys, index: RedisIndex) -> None:
    await redis.set(keys.reconciler_lock, "token")  # not part of the index: kept
    await index.load([entry(f"d{n}", signature(random.Random(n))) for n in range(3)])
    assert await index.clear() == 3 * DEFAULT_LSH.bands + 3 + 1
    assert await index.size() == 0
    assert await redis.get(keys.reconciler_lock) == b"token"


async def test_needs_a_binary_client(redis_server_url: str, keys: RedisKeys) -> None:
    client = Redis.from_url(redis_server_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisIndex(client, keys)
    finally:
        await client.aclose()


async def test_a_batch_of_claims_is_judged_in_order(redis: Redis, keys: RedisKeys) -> None:
    """One round trip for a batch, each claim atomic and seeing the ones before it."""
    rng = random.Random(11)
    base = signature(rng)
    batch = [
        Claim(entry("a", near(base, rng, 3)), set()),
        Claim(entry("b", near(base, rng, 3)), set()),  # a is there now: a rival, not inserted
        Claim(entry("c", near(base, rng, 3)), {"a"}),  # a judged (not a match), b never was in
        Claim(entry("d", signature(rng)), set()),  # another story
    ]
    answers = await RedisIndex(redis, keys).claim(batch)
    assert [[e.document_id for e in found] for found in answers] == [[], ["a"], [], []]
    assert answers == await MemoryIndex().claim(batch)
