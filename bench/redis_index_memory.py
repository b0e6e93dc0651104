"""Redis memory per indexed document, and claims per second, of `RedisIndex`.

    .venv/bin/python bench/redis_index_memory.py [--url redis://127.0.0.1:6379/0] [-n 20000]

Loads N synthetic entries (random signatures: every band set has one member, the worst case
for memory and close to real news, where few documents share a band) under a throwaway
prefix, reads INFO memory used_memory before and after, then times claims: new stories
(the insert path) and near copies (the rival path), one at a time and concurrently. Every key
it made is deleted at the end. used_memory is the whole server's, so other clients writing at
the same time blur it; the MEMORY USAGE sum over a sample of documents is the cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time
from collections.abc import Sequence

from redis.asyncio import BlockingConnectionPool, Redis

from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.lsh import DEFAULT_LSH, IndexEntry, band_keys


def synthetic(rng: random.Random, doc: str, base: Sequence[int] | None = None) -> IndexEntry:
    """A random signature, or a near copy of `base` (4 of 256 values changed)."""
    values = list(base) if base is not None else [rng.getrandbits(32) for _ in range(256)]
    if base is not None:
        for position in rng.sample(range(256), 4):
            values[position] = rng.getrandbits(32)
    return IndexEntry(doc, secrets.token_hex(32), tuple(values), rng.randrange(100, 5000),
                      time.time())


async def used_memory(client: Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def sampled_usage(client: Redis, keys: RedisKeys,
                        entries: Sequence[IndexEntry]) -> tuple[float, float]:
    """Mean MEMORY USAGE of one document's band sets, and of its entry hash."""
    bands = entry = 0
    for e in entries:
        for band in band_keys(e.hashvalues, DEFAULT_LSH):
            bands += int(await client.memory_usage(keys.band(band), samples=0) or 0)
        entry += int(await client.memory_usage(keys.entry(e.document_id), samples=0) or 0)
    return bands / len(entries), entry / len(entries)


async def delete_all(client: Redis, keys: RedisKeys) -> int:
    """UNLINK every key under the prefix, 5000 per call (one key per call takes minutes)."""
    removed, batch = 0, []
    async for key in client.scan_iter(match=keys.pattern, count=5000):
        batch.append(key)
        if len(batch) == 5000:
            removed += int(await client.unlink(*batch))
            batch = []
    if batch:
        removed += int(await client.unlink(*batch))
    return removed


async def timed_claims(indexes: Sequence[RedisIndex], entries: Sequence[IndexEntry],
                       concurrency: int) -> tuple[float, int]:
    """Claims per second over `entries` with `concurrency` in flight; and how many inserted."""
    queue = list(entries)
    inserted = 0

    async def run(index: RedisIndex) -> None:
        nonlocal inserted
        while queue:
            if not await index.claim(queue.pop(), set()):
                inserted += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(indexes[n % len(indexes)]) for n in range(concurrency)))
    return len(entries) / (time.perf_counter() - started), inserted


async def main(url: str, n: int, claims: int, concurrency: int) -> None:
    rng = random.Random(1)
    keys = RedisKeys(f"canonry-bench-{secrets.token_hex(6)}")
    client = Redis.from_url(url)
    pools = [Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=4))
             for _ in range(max(1, concurrency // 4))]
    index = RedisIndex(client, keys)
    try:
        entries = [synthetic(rng, f"doc-{i:08d}") for i in range(n)]
        before = await used_memory(client)
        started = time.perf_counter()
        await index.load(entries)
        load_rate = n / (time.perf_counter() - started)
        after = await used_memory(client)
        per_doc = (after - before) / n
        sample_bands, sample_entry = await sampled_usage(client, keys, entries[:200])
        encoding = await client.object("encoding", keys.entry(entries[0].document_id))

        fresh = [synthetic(rng, f"new-{i:08d}") for i in range(claims)]
        copies = [synthetic(rng, f"copy-{i:08d}", rng.choice(entries).hashvalues)
                  for i in range(claims)]
        solo = [RedisIndex(client, keys)]
        many = [RedisIndex(c, keys) for c in pools]
        new_1, ins_1 = await timed_claims(solo, fresh[: claims // 2], 1)
        new_c, ins_c = await timed_claims(many, fresh[claims // 2 :], concurrency)
        copy_1, cins_1 = await timed_claims(solo, copies[: claims // 2], 1)
        copy_c, cins_c = await timed_claims(many, copies[claims // 2 :], concurrency)
        assert ins_1 + ins_c == claims and cins_1 + cins_c == 0, "unexpected claim results"

        cfg = DEFAULT_LSH
        print(f"LSH {cfg.bands} bands x {cfg.rows} rows; {n} documents; Redis at {url}")
        print(f"used_memory delta: {after - before:,} B = {per_doc:,.0f} B per document "
              f"({per_doc * 1e6 / 2**30:.2f} GiB per million)")
        print(f"MEMORY USAGE, mean of 200 documents: {sample_bands + sample_entry:,.0f} B = "
              f"{sample_bands:,.0f} B in {cfg.bands} band sets "
              f"({sample_bands / cfg.bands:,.0f} B each) + {sample_entry:,.0f} B entry hash "
              f"({encoding.decode()})")
        print(f"load: {load_rate:,.0f} documents/s (pipelined, chunk {index.chunk_size})")
        print(f"claim, new story:  {new_1:,.0f}/s sequential, {new_c:,.0f}/s with "
              f"{concurrency} in flight")
        print(f"claim, near copy:  {copy_1:,.0f}/s sequential, {copy_c:,.0f}/s with "
              f"{concurrency} in flight")
    finally:
        removed = await delete_all(client, keys)
        print(f"cleanup: {removed:,} keys deleted, used_memory now {await used_memory(client):,}")
        for c in pools:
            await c.aclose()
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CANONRY_REDIS_URL",
                                                         "redis://127.0.0.1:6379/0"))
    parser.add_argument("-n", type=int, default=10_000, help="documents loaded")
    parser.add_argument("--claims", type=int, default=4_000, help="claims timed per kind")
    parser.add_argument("--concurrency", type=int, default=16, help="claims in flight")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n, args.claims, args.concurrency))
