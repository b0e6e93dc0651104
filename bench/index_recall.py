"""Recall and false candidates of the shared Redis index (`RedisIndex`), on the labelled dev
sets and on a synthetic set of template-alike stories with planted near-duplicates.

    CANONRY_SHARED_DIR=/work/shared .venv/bin/python -m bench.index_recall \\
        [--url redis://127.0.0.1:6379/0] [-n 100000] [--copies 3000] [--queries 2000]

Recall: of the pairs the verifier accepts (`match.verified_similarity`: Jaccard >= 0.4,
containment >= 0.7, or the near-total tier; identical texts are left out, the exact lookup
finds those), the share where one side is a candidate of the other's query. Counted for the
Redis layout (what a worker gets) and for the pure `BandIndex` (the banding alone): the layout
can only add candidates, so the two agree unless something is wrong.

- dev sets: every article, through the real extract and fingerprint, indexed; every article
  queried; every accepted pair among all pairs counted.
- synthetic: `tests/synthetic.story` texts (one small vocabulary and sentence template, so
  different stories overlap at Jaccard ~0.05, p99 ~0.09: the worst case for false candidates),
  `n` of them indexed; `copies` of them edited (cut to 35-100 % of the words, 0-8 % of words
  replaced, chrome added) and queried. False candidates per query (mean, p99) are counted on
  `queries` unseen stories, and split into the banding's (they share a band) and the layout's
  (they share only a bucket and a 16-bit field).

Signatures are resolved from memory, standing in for the store. Keys go under a throwaway
prefix and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from redis.asyncio import Redis

from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.fingerprint import DEFAULT, Fingerprint, fingerprint
from canonry.workers.dedup.lsh import DEFAULT_LSH, BandIndex, IndexEntry, LSHConfig, band_keys
from canonry.workers.dedup.match import DEFAULT_MATCH, score, verified_similarity
from canonry.workers.eval.dedup import _prepare
from tests import synthetic

DEV_SETS = ("syndication-dev.jsonl.gz", "syndication-wcxb-dev.jsonl.gz")
CHUNK = 200  # queries per pipeline


class Entries:
    """The store's `index_entries_of`, from memory."""

    def __init__(self, entries: Sequence[IndexEntry]) -> None:
        self.by_id = {e.document_id: e for e in entries}

    async def index_entries_of(self, document_ids: Collection[str]) -> list[IndexEntry]:
        return [self.by_id[d] for d in document_ids if d in self.by_id]


def as_entry(doc: str, fp: Fingerprint) -> IndexEntry:
    return IndexEntry(doc, fp.text_hash, fp.hashvalues, fp.size, 0.0)


def accepted(fp: Fingerprint, other: IndexEntry) -> bool:
    if fp.size == 0 or other.size == 0 or fp.text_hash == other.text_hash:
        return False
    return verified_similarity(score(fp, other), DEFAULT_MATCH) is not None


async def query_all(index: RedisIndex, signatures: Sequence[Sequence[int]]
                    ) -> list[list[IndexEntry]]:
    out: list[list[IndexEntry]] = []
    for start in range(0, len(signatures), CHUNK):
        out.extend(await index.candidates(signatures[start:start + CHUNK]))
    return out


LSH = DEFAULT_LSH  # --lsh: another banding, to compare


async def fresh_index(client: Redis, entries: Sequence[IndexEntry]) -> RedisIndex:
    keys = RedisKeys(f"canonry-recall-{secrets.token_hex(6)}")
    index = RedisIndex(client, keys, LSH, signatures=Entries(entries), chunk_size=1000)
    await index.load(entries)
    return index


async def dev_set(client: Redis, path: Path) -> None:
    prepared = _prepare(path, None, None, DEFAULT)
    fps = prepared.fingerprints
    entries = [as_entry(f"a{i:05d}", fp) for i, fp in enumerate(fps)]
    pairs = {(i, j) for i in range(len(fps)) for j in range(i + 1, len(fps))
             if accepted(fps[i], entries[j])}
    pure = BandIndex.from_entries(entries, LSH)
    index = await fresh_index(client, entries)
    try:
        found = await query_all(index, [fp.hashvalues for fp in fps])
    finally:
        await index.clear()
    ids = {e.document_id: n for n, e in enumerate(entries)}

    def hit(sets: Sequence[Collection[int]]) -> int:
        return sum(1 for i, j in pairs if j in sets[i] or i in sets[j])

    redis_sets = [{ids[c.document_id] for c in cands} for cands in found]
    pure_sets = [{ids[c.document_id] for c in pure.query(fp.hashvalues)} for fp in fps]
    low = [(i, j) for i, j in pairs
           if score(fps[i], entries[j]).jaccard < DEFAULT_MATCH.jaccard]
    print(f"{path.name}: {len(fps)} articles, {len(pairs)} accepted pairs "
          f"({len(low)} below Jaccard {DEFAULT_MATCH.jaccard}, by containment)")
    print(f"  recall: Redis layout {_share(hit(redis_sets), len(pairs))}, "
          f"pure banding {_share(hit(pure_sets), len(pairs))}; containment pairs "
          f"{_share(sum(1 for i, j in low if j in redis_sets[i] or i in redis_sets[j]), len(low))}")


def edited(text: str, rng: random.Random) -> str:
    """A copy: a prefix of 35-100 % of the words, 0-8 % of them replaced, maybe chrome."""
    words = text.split(" ")
    words = words[: max(10, int(len(words) * rng.uniform(0.35, 1.0)))]
    for _ in range(int(len(words) * rng.uniform(0.0, 0.08))):
        words[rng.randrange(len(words))] = rng.choice(["reportedly", "also", "still", "now"])
    parts = [" ".join(words)]
    if rng.random() < 0.5:
        parts = [*rng.choice(synthetic.CHROME), *parts, *rng.choice(synthetic.TAIL_CHROME)]
    return "\n\n".join(parts)


def story_fingerprints(n: int, cache: Path) -> list[Fingerprint]:
    """Fingerprints of stories 0..n-1 (cached: 100 k take ~2 minutes)."""
    if cache.exists():
        data = np.load(cache)
        if len(data["sizes"]) >= n:
            return [Fingerprint(str(h), tuple(int(v) for v in hv), int(s))
                    for h, hv, s in zip(data["hashes"][:n], data["values"][:n],
                                        data["sizes"][:n], strict=True)]
    fps = [fingerprint(synthetic.story(i)) for i in range(n)]
    np.savez(cache, hashes=np.array([f.text_hash for f in fps]),
             values=np.array([f.hashvalues for f in fps], dtype=np.uint32),
             sizes=np.array([f.size for f in fps]))
    return fps


async def synthetic_set(client: Redis, n: int, copies: int, queries: int, cache: Path) -> None:
    rng = random.Random(13)
    started = time.perf_counter()
    fps = story_fingerprints(n + queries, cache)
    stories, unseen = fps[:n], fps[n:]
    entries = [as_entry(f"s{i:07d}", fp) for i, fp in enumerate(stories)]
    originals = rng.sample(range(n), copies)
    copy_fps = [fingerprint(edited(synthetic.story(i), rng)) for i in originals]
    print(f"synthetic: {n} stories indexed, {copies} planted copies, {queries} unseen stories "
          f"({time.perf_counter() - started:.0f} s to fingerprint)")
    index = await fresh_index(client, entries)
    try:
        started = time.perf_counter()
        found = await query_all(index, [fp.hashvalues for fp in copy_fps])
        unseen_found = await query_all(index, [fp.hashvalues for fp in unseen])
        elapsed = time.perf_counter() - started
    finally:
        await index.clear()
    planted = [(k, i) for k, i in enumerate(originals) if accepted(copy_fps[k], entries[i])]
    hit = sum(1 for k, i in planted if any(c.document_id == entries[i].document_id
                                           for c in found[k]))
    jaccards = [score(copy_fps[k], entries[i]).jaccard for k, i in planted]
    print(f"  planted pairs the verifier accepts: {len(planted)} of {copies} "
          f"(Jaccard {min(jaccards):.2f}-{max(jaccards):.2f}, "
          f"{sum(j < DEFAULT_MATCH.jaccard for j in jaccards)} below {DEFAULT_MATCH.jaccard})")
    print(f"  recall: {_share(hit, len(planted))}")
    false, banded, layout = [], [], []
    for fp, cands in zip(unseen, unseen_found, strict=True):
        mine = set(band_keys(fp.hashvalues, LSH))
        wrong = [c for c in cands if not accepted(fp, c)]
        false.append(len(wrong))
        shared = [c for c in wrong if mine & set(band_keys(c.hashvalues, LSH))]
        banded.append(len(shared))
        layout.append(len(wrong) - len(shared))
    for name, counts in (("all", false), ("banding", banded), ("layout", layout)):
        print(f"  false candidates per query ({name}): mean {np.mean(counts):.2f}, "
              f"p99 {np.percentile(counts, 99):.0f}, max {max(counts)}")
    print(f"  queries: {(copies + queries) / elapsed:,.0f}/s (pipelined by {CHUNK}, "
          f"candidates resolved from memory)")


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100.0 * part / whole:.2f} %" if whole else "n/a (no pairs)"


async def main(url: str, n: int, copies: int, queries: int, skip_dev: bool) -> None:
    client = Redis.from_url(url)
    shared = Path(os.environ.get("CANONRY_SHARED_DIR", "/work/shared")) / "data"
    try:
        if not skip_dev:
            for name in DEV_SETS:
                await dev_set(client, shared / name)
        cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"canonry-stories-{n + queries}.npz"
        await synthetic_set(client, n, copies, queries, cache)
    finally:
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CANONRY_REDIS_URL",
                                                         "redis://127.0.0.1:6379/0"))
    parser.add_argument("-n", type=int, default=100_000, help="synthetic stories indexed")
    parser.add_argument("--copies", type=int, default=3_000, help="planted near-duplicates")
    parser.add_argument("--queries", type=int, default=2_000, help="unseen stories queried")
    parser.add_argument("--skip-dev", action="store_true", help="only the synthetic set")
    parser.add_argument("--lsh", default="85x3", help="bands x rows, e.g. 64x4")
    args = parser.parse_args()
    bands, rows = (int(x) for x in args.lsh.split("x"))
    LSH = LSHConfig(bands, rows)
    print(f"LSH {bands} bands x {rows} rows")
    asyncio.run(main(args.url, args.n, args.copies, args.queries, args.skip_dev))
