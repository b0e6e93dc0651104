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
from canonry.workers.adapters.redis.index import RedisIndex, blocks_of
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.buckets import BucketLayout
from canonry.workers.dedup.lsh import BandIndex, IndexEntry
from canonry.workers.ports import Claim, DedupIndex

# 32-bit fields: a false candidate (another band in the same bucket and field) is ~1e-8 per
# lookup, so a query answers exactly what `BandIndex` answers. The default 16-bit layout's
# false candidates are measured by bench/index_recall.py.
EXACT = BucketLayout(field_bits=32)


class Signatures:
    """The committed entries, answered as the store's `index_entries_of` answers them."""

    def __init__(self) -> None:
        self.entries: dict[str, IndexEntry] = {}
        self.queries = 0

    def commit(self, *entries: IndexEntry) -> None:
        self.entries.update((e.document_id, e) for e in entries)

    async def index_entries_of(self, document_ids: Collection[str]) -> list[IndexEntry]:
        self.queries += 1
        return [self.entries[d] for d in document_ids if d in self.entries]


@pytest.fixture
def store() -> Signatures:
    return Signatures()


@pytest.fixture
def index(redis: Redis, keys: RedisKeys, store: Signatures) -> RedisIndex:
    return RedisIndex(redis, keys, signatures=store, layout=EXACT)


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
    assert await candidates_of(index, a.hashvalues) == [again]  # one document, its last entry


async def test_reclaim_under_a_new_signature_answers_the_new_entry(index: RedisIndex) -> None:
    """The old signature's postings stay until their generation goes, but they lead to the
    same document, answered with its current entry (what verification must judge)."""
    rng = random.Random(4)
    old = entry("a", signature(rng))
    new = entry("a", signature(rng))  # unrelated: no band in common
    assert await claim_one(index, old, set()) == []
    assert await claim_one(index, new, set()) == []
    assert await candidates_of(index, new.hashvalues) == [new]
    assert await candidates_of(index, old.hashvalues) == [new]


async def test_committed_entries_come_from_the_store(
        redis: Redis, keys: RedisKeys, store: Signatures, index: RedisIndex) -> None:
    """A claimed entry stays in Redis only until its commit; after that a rival's claim and
    a query read it from the store, all candidates of a batch in one store query."""
    rng = random.Random(12)
    a, c = entry("a", signature(rng)), entry("c", signature(rng))
    assert await index.claim([Claim(a, set()), Claim(c, set())]) == [[], []]
    assert await redis.exists(keys.pending("a"), keys.pending("c")) == 2
    store.commit(a, c)
    await index.committed(["a", "c"])
    assert await redis.exists(keys.pending("a"), keys.pending("c")) == 0
    b, d = entry("b", near(a.hashvalues, rng, 5)), entry("d", near(c.hashvalues, rng, 5))
    before = store.queries
    assert await index.claim([Claim(b, set()), Claim(d, set())]) == [[a], [c]]
    assert store.queries == before + 1
    assert await candidates_of(index, b.hashvalues) == [a]


async def test_a_claim_that_died_uncommitted_does_not_block(
        store: Signatures, index: RedisIndex) -> None:
    """Its pending entry gone (TTL) and never committed: nothing can verify against it, so a
    copy's claim goes past it instead of waiting for ever; it is a new story."""
    rng = random.Random(13)
    ghost = entry("ghost", signature(rng))
    assert await claim_one(index, ghost, set()) == []
    await index.committed(["ghost"])  # what the TTL does; the store never got it
    copy = entry("copy", near(ghost.hashvalues, rng, 5))
    assert await claim_one(index, copy, set()) == []
    assert await candidates_of(index, copy.hashvalues) == [copy]


async def test_remove_hides_the_document_until_claimed_again(
        store: Signatures, index: RedisIndex) -> None:
    rng = random.Random(7)
    a, b = entry("a", signature(rng)), entry("b", signature(rng))
    store.commit(a, b)
    await index.load([a, b])
    await index.remove(["a", "missing"])
    assert await candidates_of(index, a.hashvalues) == []
    assert await candidates_of(index, b.hashvalues) == [b]
    x = entry("x", near(a.hashvalues, rng, 5))
    assert await claim_one(index, x, set()) == []
    assert await claim_one(index, a, {"x"}) == []  # the retried claim brings it back
    assert await candidates_of(index, a.hashvalues) == [a, x]


async def test_evict_drops_whole_generations(
        redis: Redis, keys: RedisKeys, store: Signatures) -> None:
    index = RedisIndex(redis, keys, signatures=store, layout=EXACT, generation_seconds=2.0,
                       chunk_size=3)
    rng = random.Random(8)
    entries = [entry(f"d{n}", signature(rng), seen_at=float(n)) for n in range(10)]
    store.commit(*entries)
    await index.load(entries)
    await index.remove(["d1", "d7"])
    assert await index.evict_older_than(6.0) == 6  # generations 0-2: seen_at 0..5
    assert await index.size() == 4
    assert [e.document_id for e in entries if await candidates_of(index, e.hashvalues)] == [
        "d6", "d8", "d9"]
    assert await index.evict_older_than(7.0) == 0  # generation 3 (6, 7) is not over at 7
    # A tombstone names the newest generation at its removal (4): it outlives every posting.
    assert set(await redis.hkeys(keys.tombstones)) == {b"d1", b"d7"}
    assert await index.evict_older_than(100.0) == 4
    assert await index_keys(redis, keys) == []


async def test_an_interrupted_eviction_is_finished_next_time(
        redis: Redis, keys: RedisKeys, store: Signatures, index: RedisIndex) -> None:
    rng = random.Random(14)
    entries = [entry(f"d{n}", signature(rng)) for n in range(5)]
    await index.load(entries)
    [segment] = await redis.hkeys(keys.segments)
    # What a crash after detaching the segment leaves: out of the queries, keys still there.
    assert await index._detach(keys=[keys.segments, keys.counts, keys.dropping],
                               args=[segment]) == 5
    assert await candidates_of(index, entries[0].hashvalues) == []
    assert len(await index_keys(redis, keys)) > 1
    assert await index.evict_older_than(0.0) == 0
    assert await index_keys(redis, keys) == []


async def test_a_full_segment_opens_one_twice_as_large(
        redis: Redis, keys: RedisKeys, store: Signatures) -> None:
    """Buckets are sized when a segment opens; more documents than that (a first generation,
    a burst) go to a new part with twice the buckets instead of overfilling these."""
    layout = BucketLayout(field_bits=32, fill=64, min_buckets=4)  # 3 documents per 4 buckets
    index = RedisIndex(redis, keys, signatures=store, layout=layout)
    rng = random.Random(15)
    docs = [entry(f"d{n}", signature(rng)) for n in range(12)]
    for e in docs:
        assert await claim_one(index, e, set()) == []
    segments = {k.decode(): int(v) for k, v in (await redis.hgetall(keys.segments)).items()}
    assert segments == {"0.0": 4, "0.1": 8, "0.2": 16}  # 3 + 6 + 3 documents
    assert await index.size() == 12
    for e in docs:
        assert await candidates_of(index, e.hashvalues) == [e]
    encodings = {await redis.object("encoding", k) for k in await index_keys(redis, keys)
                 if b":b:" in k}
    assert encodings == {b"listpack"}


async def test_a_new_generation_is_sized_by_the_previous_one(
        redis: Redis, keys: RedisKeys, store: Signatures) -> None:
    index = RedisIndex(redis, keys, signatures=store, layout=EXACT, generation_seconds=10.0)
    rng = random.Random(16)
    await index.load([entry(f"d{n}", signature(rng), seen_at=1.0) for n in range(300)])
    assert await claim_one(index, entry("next", signature(rng), seen_at=15.0), set()) == []
    segments = {k.decode(): int(v) for k, v in (await redis.hgetall(keys.segments)).items()}
    assert segments == {"0.0": EXACT.buckets_for(300), "1.0": EXACT.buckets_for(300)}


async def test_a_rebuilt_newest_generation_has_room_for_live_writers(
        redis: Redis, keys: RedisKeys, store: Signatures) -> None:
    """The load's newest generation is sized as a live writer would have opened it (for as
    many documents as the generation before), not for the few loaded: the claims after the
    rebuild go on filling that part instead of opening another that every query reads."""
    index = RedisIndex(redis, keys, signatures=store, layout=EXACT, generation_seconds=10.0)
    rng = random.Random(18)
    older = [entry(f"d{n}", signature(rng), seen_at=1.0) for n in range(300)]
    newest = [entry(f"n{n}", signature(rng), seen_at=15.0) for n in range(10)]
    await index.load([*older, *newest])
    segments = {k.decode(): int(v) for k, v in (await redis.hgetall(keys.segments)).items()}
    assert segments == {"0.0": EXACT.buckets_for(300), "1.0": EXACT.buckets_for(300)}
    assert EXACT.capacity(EXACT.buckets_for(10)) < 90 <= EXACT.capacity(EXACT.buckets_for(300))
    for n in range(80):  # 90 in the generation: more than room for the 10 alone
        assert await claim_one(index, entry(f"live{n}", signature(rng), seen_at=16.0),
                               set()) == []
    assert set(await redis.hkeys(keys.segments)) == {b"0.0", b"1.0"}


async def test_memory_per_document_has_no_signature_in_it(
        redis: Redis, keys: RedisKeys, store: Signatures) -> None:
    """2,000 committed documents: the index keys hold about a kilobyte per document (a
    signature alone is 1,024 bytes; the previous layout took ~21 KB), buckets in listpacks."""
    index = RedisIndex(redis, keys, signatures=store)
    rng = random.Random(17)
    await index.load([entry(f"doc_{n:026x}", signature(rng)) for n in range(2000)])
    names = await index_keys(redis, keys)
    total = 0
    for name in names:
        total += int(await redis.memory_usage(name, samples=0))
        if b":b:" in name or b":i:" in name:
            assert await redis.object("encoding", name) == b"listpack"
    assert total / 2000 < 1024


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
    indexes = [RedisIndex(client, keys, layout=EXACT) for client in clients]

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


async def test_agrees_with_the_pure_band_index(
        redis: Redis, keys: RedisKeys, store: Signatures) -> None:
    """Families of signatures at every similarity, loaded in small chunks, then replaced,
    removed and evicted: every query answers what `BandIndex` answers, except that a replaced
    document is also found through its old signature's bands (answered with its new entry)."""
    rng = random.Random(9)
    index = RedisIndex(redis, keys, signatures=store, layout=EXACT, chunk_size=7,
                       generation_seconds=10.0)
    entries: list[IndexEntry] = []
    for family in range(20):
        base = signature(rng)
        for member, changed in enumerate((0, 20, 80, 160, 230)):
            entries.append(entry(f"f{family}-m{member}", near(base, rng, changed),
                                 seen_at=float(rng.randrange(100))))
    pure = BandIndex.from_entries(entries)
    store.commit(*entries)
    await index.load(entries)
    probes = [near(e.hashvalues, rng, rng.choice((0, 10, 100, 200))) for e in entries[::2]]
    replaced: set[str] = set()

    async def agree() -> None:
        for probe in probes:
            found = await candidates_of(index, probe)
            expected = pure.query(probe)
            extra = [e for e in found if e not in expected]
            assert [e for e in found if e in expected] == expected
            assert all(e.document_id in replaced and e in pure._entries.values()
                       for e in extra)

    await agree()
    assert await index.size() == len(pure)
    for e in entries[:15]:
        changed = entry(e.document_id, near(e.hashvalues, rng, 100), seen_at=e.seen_at)
        pure.replace(changed)
        store.commit(changed)
        replaced.add(e.document_id)
        await index.replace([changed])
    await agree()
    for e in entries[30:40]:
        pure.remove(e.document_id)
        await index.remove([e.document_id])
    await agree()
    pure.evict_older_than(50.0)
    await index.evict_older_than(50.0)  # generations end at multiples of 10: exactly < 50
    await agree()


async def test_claims_agree_with_the_memory_index(redis: Redis, keys: RedisKeys) -> None:
    rng = random.Random(10)
    redis_index, memory = RedisIndex(redis, keys, layout=EXACT), MemoryIndex()
    bases = [signature(rng) for _ in range(10)]
    for n in range(60):
        e = entry(f"d{n}", near(rng.choice(bases), rng, rng.choice((3, 60, 150))))
        candidates = await candidates_of(memory, e.hashvalues)
        assert await candidates_of(redis_index, e.hashvalues) == candidates
        seen = {c.document_id for c in candidates if rng.random() < 0.7}
        assert await claim_one(redis_index, e, seen) == await claim_one(memory, e, seen)
    assert await redis_index.size() == await memory.size()


async def test_clear_drops_the_whole_index_and_the_old_layout(
        redis: Redis, keys: RedisKeys, index: RedisIndex) -> None:
    await redis.set(keys.reconciler_lock, "token")  # not part of the index: kept
    await redis.sadd(f"{keys.root}:lsh:b:xyz", "doc")  # the layout before lsh2
    await index.load([entry(f"d{n}", signature(random.Random(n))) for n in range(3)])
    made = len(await index_keys(redis, keys))
    assert await index.clear() == made + 1
    assert await index.size() == 0
    assert await redis.keys(f"{keys.root}:lsh*") == []
    assert await redis.get(keys.reconciler_lock) == b"token"


async def test_an_old_layout_is_not_taken_for_a_loaded_index(
        redis: Redis, keys: RedisKeys, index: RedisIndex) -> None:
    """A Redis upgraded in place holds the old keys and the old marker: the index is not
    ready (so it is rebuilt from the database), and the rebuild's `drop_legacy` frees them."""
    await redis.set(keys.legacy_index_loaded, "1")
    await redis.sadd(f"{keys.root}:lsh:b:xyz", "doc")
    await redis.hset(f"{keys.root}:lsh:e:doc", "hv", b"x")
    assert not await index.ready()
    assert await index.drop_legacy() == 3
    assert await redis.keys(f"{keys.root}:*") == []


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
    answers = await RedisIndex(redis, keys, layout=EXACT).claim(batch)
    assert [[e.document_id for e in found] for found in answers] == [[], ["a"], [], []]
    assert answers == await MemoryIndex().claim(batch)


async def restore_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_restore", {}).get("calls", 0))


async def dumps(redis: Redis, keys: RedisKeys) -> dict[bytes, bytes]:
    """Every index key (its name after the prefix) -> DUMP: content and encoding."""
    root = keys.root.encode()
    return {k[len(root):]: await redis.dump(k) for k in await index_keys(redis, keys)}


def load_with_live_writers(rng: random.Random) -> tuple[list[IndexEntry], list[IndexEntry]]:
    """What a rebuild meets: documents claimed by live writers first (their buckets and id
    map exist), then 1,500 stored ones, copies among them (fields shared within the load)."""
    live = [entry(f"live{n}", signature(rng)) for n in range(3)]
    stored = [entry(f"doc_{n:026x}", signature(rng)) for n in range(1400)]
    stored += [entry(f"copy{n}", near(e.hashvalues, rng, 3)) for n, e in enumerate(stored[:100])]
    return live, stored


@pytest.mark.parametrize("loaded", [20, 1500])
async def test_ready_listpacks_make_the_keys_field_writes_make(
        redis: Redis, keys: RedisKeys, loaded: int) -> None:
    """The bulk load's two ways (RESTORE of serialised buckets and id maps, or HSET field by
    field) give the same keys byte for byte, and every document is found through its own
    bands. 20 documents fit in the live writers' segment part: their buckets and id map are
    there first, and are merged into; 1,500 get a part of their own."""
    rng = random.Random(21)
    live, stored = load_with_live_writers(rng)
    stored = stored[:loaded]
    fields_keys = RedisKeys(keys.prefix + "-fields")
    try:
        written = {}
        for restore, where in ((True, keys), (False, fields_keys)):
            index = RedisIndex(redis, where, restore=restore, signatures=_served([*live, *stored]))
            for e in live:
                await index.replace([e])
            live_buckets = len([k for k in await index_keys(redis, where) if b":b:" in k])
            before = await restore_calls(redis)
            assert await index.fill(blocks_of(stored, size=400), "", "", 0) == len(stored)
            written[restore] = await restore_calls(redis) - before
            assert await index.size() == len(live) + len(stored)
            for e in [*live, *stored[::15]]:
                assert e in await candidates_of(index, e.hashvalues)
        assert written[False] == 0
        segments = await redis.hkeys(keys.segments)
        if loaded == 20:
            # the live part: only buckets no live document had were new (the id map existed)
            assert segments == [b"0.0"] and live_buckets > 56
            assert written[True] == BucketLayout().min_buckets - live_buckets
        else:
            assert sorted(segments) == [b"0.0", b"0.1"]
            fresh = [k for k in await index_keys(redis, keys) if b":0.1:b:" in k]
            assert written[True] > 0.9 * len(fresh)
        assert await dumps(redis, keys) == await dumps(redis, fields_keys)
    finally:
        await RedisIndex(redis, fields_keys).clear()


async def test_a_refused_restore_falls_back_to_writing_fields(
        redis: Redis, redis_server_url: str, keys: RedisKeys) -> None:
    """A Redis account without RESTORE (an ACL, or a Redis before 7): the load goes on field by
    field and ends with the same keys."""
    rng = random.Random(22)
    _, stored = load_with_live_writers(rng)
    user = f"canonry-test-{keys.prefix}"
    await redis.execute_command("ACL", "SETUSER", user, "on", f">{user}", "~*", "&*", "+@all",
                                "-restore")
    limited = Redis.from_url(redis_server_url, username=user, password=user)
    reference = RedisKeys(keys.prefix + "-reference")
    try:
        index = RedisIndex(limited, keys)
        assert await index.fill(blocks_of(stored), "", "", 0) == len(stored)
        assert not index._restore_ok  # refused once, not tried again
        await RedisIndex(redis, reference, restore=False).load(stored)
        assert await dumps(redis, keys) == await dumps(redis, reference)
        for e in stored[:50]:
            assert e in await candidates_of(RedisIndex(redis, keys, signatures=_served(stored)),
                                            e.hashvalues)
    finally:
        await RedisIndex(redis, reference).clear()
        await limited.aclose()
        await redis.execute_command("ACL", "DELUSER", user)


def _served(entries: Sequence[IndexEntry]) -> Signatures:
    store = Signatures()
    store.commit(*entries)
    return store
