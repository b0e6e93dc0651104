"""Redis memory per indexed document, and query + claim throughput, of `RedisIndex`.

    .venv/bin/python bench/redis_index_memory.py [--url redis://127.0.0.1:6379/0] [-n 100000]
        [--claims 4000] [--concurrency 16] [--batch 32] [--field-bits 16] [--fill 64]

Loads N synthetic entries (random signatures: every band value has one document, the worst
case for memory and close to real news, where few documents share a band) under a throwaway
prefix, reads INFO memory used_memory before and after, samples MEMORY USAGE per key type,
then times the worker's two index steps: new stories (query, then claim: the insert path),
near copies (query: the original is found), and copies claimed without having seen their
original (the rival path), one at a time and in batches of `--batch` (one pipeline each, as
the worker sends them) with `--concurrency` batches in flight. Candidates' signatures are
resolved from memory (the store's one batched query per batch is not timed). Every key it made
is deleted at the end. used_memory is the whole server's: run it against a Redis of its own
(`redis-server --port 6390 --save ''`), or other clients blur it.

Measured on 2026-12-03 (2 cores shared with other jobs, load ~3-4, so rates are rough;
Redis 7.0, 100 k documents; false: the layout's own false candidates per query and segment,
~85 * fill / 2**field_bits):

    layout                        used_memory/doc  MEMORY USAGE/doc  false   claim new, 1 / 16
    band sets + entry hashes      27,062 B         22,952 B          0       586/s / 693/s
    lsh2 16-bit fields, fill 64    1,034 B            995 B          0.08
    lsh2 16-bit fields, fill 96      940 B            922 B          0.12    244/s / 279/s
    lsh2 24-bit fields, fill 96    1,055 B          1,033 B          0.0005
    lsh2 13-bit fields, fill 96      864 B            843 B          1.0

lsh2 claims do one HGET per band and live segment (2 here: the loaded one and the next part)
where the old layout did one SUNION, hence the slower claims.
The layout before lsh2 is measured by running this file against that commit's package.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.lsh import DEFAULT_LSH, IndexEntry, band_keys
from canonry.workers.ports import Claim

try:  # the bucketed layout; absent when this runs against the layout before it
    from canonry.workers.dedup.buckets import BucketLayout
except ImportError:  # pragma: no cover - only the "before" measurement
    BucketLayout = None  # type: ignore[assignment,misc]


class Entries:
    """Committed entries, as the store's `index_entries_of` would answer them."""

    def __init__(self) -> None:
        self.by_id: dict[str, IndexEntry] = {}

    async def index_entries_of(self, document_ids: Collection[str]) -> list[IndexEntry]:
        return [self.by_id[d] for d in document_ids if d in self.by_id]


def synthetic(rng: random.Random, doc: str, base: Sequence[int] | None = None) -> IndexEntry:
    """A random signature, or a near copy of `base` (4 of 256 values changed)."""
    values = list(base) if base is not None else [rng.getrandbits(32) for _ in range(256)]
    if base is not None:
        for position in rng.sample(range(256), 4):
            values[position] = rng.getrandbits(32)
    return IndexEntry(doc, secrets.token_hex(32), tuple(values), rng.randrange(100, 5000),
                      time.time())


def doc_id(rng: random.Random) -> str:
    return "doc_" + "".join(rng.choice("0123456789abcdef") for _ in range(26))  # as in prod


def make_index(client: Redis, keys: RedisKeys, source: Entries, options: dict[str, Any]
               ) -> RedisIndex:
    accepted = inspect.signature(RedisIndex).parameters
    return RedisIndex(client, keys, **{k: v for k, v in options.items() if k in accepted})


async def used_memory(client: Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def usage_by_type(client: Redis, keys: RedisKeys, entries: Sequence[IndexEntry],
                        n: int, rng: random.Random) -> list[tuple[str, int, float, str]]:
    """(key type, how many, mean MEMORY USAGE, encodings) from samples of each type."""

    async def sample(names: Sequence[str | bytes]) -> tuple[float, str]:
        total, encodings = 0, Counter()
        for name in names:
            total += int(await client.memory_usage(name, samples=0) or 0)
            encodings[(await client.object("encoding", name) or b"?").decode()] += 1
        return total / max(1, len(names)), ", ".join(f"{e} {c}" for e, c in encodings.items())

    rows = []
    if hasattr(keys, "segments"):  # lsh2
        segments = {k.decode(): int(v) for k, v in (await client.hgetall(keys.segments)).items()}
        counts = {k.decode(): int(v) for k, v in (await client.hgetall(keys.counts)).items()}
        buckets = [(s, i) for s, b in segments.items() for i in range(b)]
        maps = [(s, i) for s, c in counts.items() for i in range(c // 128 + 1)]
        mean, enc = await sample([keys.bucket(s, i) for s, i in rng.sample(buckets, 2000)])
        rows.append(("bucket hash", len(buckets), mean, enc))
        mean, enc = await sample([keys.id_map(s, i) for s, i in
                                  rng.sample(maps, min(200, len(maps)))])
        rows.append(("id map hash", len(maps), mean, enc))
        mean, enc = await sample([keys.segments, keys.counts])
        rows.append(("segments, counts", 2, mean, enc))
    else:  # the layout before: a set per band, an entry hash per document, the clock
        picked = rng.sample(list(entries), 200)
        mean, enc = await sample([keys.band(b) for e in picked
                                  for b in band_keys(e.hashvalues, DEFAULT_LSH)])
        rows.append(("band set", n * DEFAULT_LSH.bands, mean, enc))
        mean, enc = await sample([keys.entry(e.document_id) for e in picked])
        rows.append(("entry hash", n, mean, enc))
        mean, enc = await sample([keys.seen_at])
        rows.append(("seen_at zset", 1, mean, enc))
    return rows


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


async def timed(indexes: Sequence[RedisIndex], entries: Sequence[IndexEntry], batch: int,
                concurrency: int, step: str, judge: bool = True,
                retries: list[int] | None = None) -> tuple[float, int]:
    """Articles per second through `step` over `entries`, `batch` per call, `concurrency`
    calls in flight; and how many claims inserted.

    step "query+claim": candidates, then a claim with them as seen (a new story's path);
    "query": candidates only; "claim": a claim having seen nothing (the rival path)."""
    queue = [list(entries[i:i + batch]) for i in range(0, len(entries), batch)]
    inserted = 0

    async def run(index: RedisIndex) -> None:
        nonlocal inserted
        while queue:
            chunk = queue.pop()
            seen: list[set[str]] = [set() for _ in chunk]
            if step != "claim":
                found = await index.candidates([e.hashvalues for e in chunk])
                seen = [{c.document_id for c in cands} for cands in found]
            while step != "query" and chunk:
                answers = await index.claim([Claim(e, s) for e, s in
                                             zip(chunk, seen, strict=True)])
                inserted += sum(1 for a in answers if not a)
                if not judge:
                    break
                # A new story met a false candidate: verified (not a match), claimed again.
                again = [(e, s | {c.document_id for c in a})
                         for e, s, a in zip(chunk, seen, answers, strict=True) if a]
                retries[0] += len(again)
                chunk, seen = [e for e, _ in again], [s for _, s in again]

    started = time.perf_counter()
    await asyncio.gather(*(run(indexes[n % len(indexes)]) for n in range(concurrency)))
    return len(entries) / (time.perf_counter() - started), inserted


async def main(url: str, n: int, claims: int, concurrency: int, batch: int,
               field_bits: int, fill: int) -> None:
    rng = random.Random(1)
    keys = RedisKeys(f"canonry-bench-{secrets.token_hex(6)}")
    client = Redis.from_url(url)
    pools = [Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=4))
             for _ in range(max(1, concurrency // 4))]
    source = Entries()
    options: dict[str, Any] = {"signatures": source}
    if BucketLayout is not None:
        options["layout"] = BucketLayout(field_bits=field_bits, fill=fill)
    index = make_index(client, keys, source, options)
    try:
        entries = [synthetic(rng, doc_id(rng)) for _ in range(n)]
        source.by_id.update((e.document_id, e) for e in entries)
        before = await used_memory(client)
        started = time.perf_counter()
        await index.load(entries)
        load_rate = n / (time.perf_counter() - started)
        after = await used_memory(client)
        per_doc = (after - before) / n
        rows = await usage_by_type(client, keys, entries, n, rng)

        fresh = [synthetic(rng, doc_id(rng)) for _ in range(3 * claims)]
        copies = [synthetic(rng, doc_id(rng), rng.choice(entries).hashvalues)
                  for _ in range(2 * claims)]
        solo = [make_index(client, keys, source, options)]
        many = [make_index(c, keys, source, options) for c in pools]
        half = claims // 2
        retries = [0]
        results = {
            "claim new, 1 at a time": await timed(solo, fresh[:half], 1, 1, "claim",
                                                  retries=retries),
            f"claim new, 1 x {concurrency} in flight":
                await timed(many, fresh[half:claims], 1, concurrency, "claim", retries=retries),
            f"query+claim new, batches of {batch} x {concurrency}":
                await timed(many, fresh[claims:3 * claims], batch, concurrency, "query+claim",
                            retries=retries),
            f"query copy, batches of {batch} x {concurrency}":
                await timed(many, copies[:claims], batch, concurrency, "query"),
            "claim copy (rival), 1 at a time": await timed(solo, copies[claims:claims + half],
                                                           1, 1, "claim", judge=False),
            f"claim copy (rival), batches of {batch} x {concurrency}":
                await timed(many, copies[claims + half:], batch, concurrency, "claim",
                            judge=False),
        }
        inserted_new = sum(ins for name, (_, ins) in results.items() if "new" in name)
        inserted_copies = sum(ins for name, (_, ins) in results.items() if "rival" in name)
        assert inserted_new == 3 * claims and inserted_copies == 0, (
            f"unexpected claim results: {inserted_new} new, {inserted_copies} copies")

        cfg = DEFAULT_LSH
        layout = (f"lsh2, {field_bits}-bit fields, fill {fill}" if BucketLayout is not None
                  else "band sets + entry hashes (before lsh2)")
        print(f"LSH {cfg.bands} bands x {cfg.rows} rows; {layout}; {n} documents; {url}")
        print(f"used_memory delta: {after - before:,} B = {per_doc:,.0f} B per document "
              f"({per_doc * 1e6 / 2**30:.2f} GiB per million)")
        total = 0.0
        for name, count, mean, enc in rows:
            total += count * mean / n
            print(f"  MEMORY USAGE {name}: {count:,} keys x {mean:,.0f} B = "
                  f"{count * mean / n:,.1f} B per document ({enc})")
        print(f"  MEMORY USAGE total: {total:,.0f} B per document")
        print(f"load: {load_rate:,.0f} documents/s (pipelined, chunk {index.chunk_size})")
        for name, (rate, _) in results.items():
            print(f"{name}: {rate:,.0f} articles/s")
        print(f"new stories claimed again after a false candidate: {retries[0]} of "
              f"{3 * claims}")
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
    parser.add_argument("-n", type=int, default=100_000, help="documents loaded")
    parser.add_argument("--claims", type=int, default=4_000, help="articles timed per kind")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    parser.add_argument("--batch", type=int, default=32, help="articles per call, batched")
    parser.add_argument("--field-bits", type=int, default=16, help="bits of a band's field")
    parser.add_argument("--fill", type=int, default=96, help="fields per bucket")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n, args.claims, args.concurrency, args.batch,
                     args.field_bits, args.fill))
