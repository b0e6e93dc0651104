"""The shared LSH index's figures for `python -m bench`, each beside a peer in the same run:

- memory per indexed document (Redis used_memory delta) against datasketch's `MinHashLSH` on
  its Redis storage, the same 85 x 3 bands (the peer is loaded with fewer documents: at
  ~40 KB a document it would take GBs; per-document memory is flat by then);
- query + claim throughput (a new story's path: candidates, then the atomic claim) against
  datasketch's query + insert, which has no claim;
- the rebuild from the database (the store's streamed signatures into an empty index, as
  `canonry reindex` does) against the same rebuild writing every bucket field by field.

Everything runs under throwaway key prefixes (and a throwaway database) deleted at the end;
used_memory is the whole server's, so other clients of the same Redis blur it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from typing import Any

import numpy as np
import redis as sync_redis
from datasketch import LeanMinHash, MinHashLSH
from redis.asyncio import BlockingConnectionPool, Redis

from bench.redis_index_memory import Entries, delete_all, doc_id, synthetic, timed, used_memory
from bench.reindex import stored_signatures
from canonry.workers.adapters.redis.index import RedisIndex
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.dedup.lsh import DEFAULT_LSH

_BATCH, _CONCURRENCY = 32, 16  # claims as the workers send them


async def index_figures(redis_url: str, database_url: str, documents: int, peer_documents: int,
                        claims: int) -> dict[str, Any]:
    figures = await _memory_and_claims(redis_url, documents, claims)
    # the peer's query + insert runs at ~30/s: a few hundred stories measure it
    peer = await asyncio.to_thread(_datasketch, redis_url, peer_documents, min(claims, 300))
    figures["index_memory"]["peer"] = {
        "name": f"datasketch MinHashLSH, Redis storage ({peer_documents:,} documents)",
        "value": peer["bytes_per_document"], "unit": "B/document"}
    figures["index_claims"]["peer"] = {
        "name": "datasketch MinHashLSH, Redis storage: query + insert",
        "value": peer["query_insert_per_s"], "unit": "articles/s"}
    figures["index_rebuild"] = await _rebuild(redis_url, database_url, documents)
    return figures


async def _memory_and_claims(url: str, n: int, claims: int) -> dict[str, Any]:
    rng = random.Random(1)
    keys = RedisKeys(f"canonry-bench-{secrets.token_hex(6)}")
    client = Redis.from_url(url)
    pools = [Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=4))
             for _ in range(_CONCURRENCY // 4)]
    source = Entries()
    try:
        entries = [synthetic(rng, doc_id(rng)) for _ in range(n)]
        source.by_id.update((e.document_id, e) for e in entries)
        before = await used_memory(client)
        await RedisIndex(client, keys, signatures=source).load(entries)
        per_document = (await used_memory(client) - before) / n
        fresh = [synthetic(rng, doc_id(rng)) for _ in range(claims)]
        indexes = [RedisIndex(c, keys, signatures=source) for c in pools]
        rate, inserted = await timed(indexes, fresh, _BATCH, _CONCURRENCY, "query+claim",
                                     retries=[0])
        assert inserted == claims, f"{inserted} of {claims} new stories inserted"
    finally:
        await delete_all(client, keys)
        for c in pools:
            await c.aclose()
        await client.aclose()
    return {
        "index_memory": {"value": per_document, "unit": "B/document", "documents": n},
        "index_claims": {"value": rate, "unit": "articles/s", "documents": n,
                         "batch": _BATCH, "concurrency": _CONCURRENCY}}


def _datasketch(url: str, n: int, claims: int) -> dict[str, float]:
    """datasketch's own Redis-backed LSH: memory per document after n inserts, then new
    stories queried and inserted one at a time (its client is synchronous)."""
    client = sync_redis.Redis.from_url(url)
    pool = client.connection_pool.connection_kwargs
    base = f"canonry-bench-datasketch-{secrets.token_hex(6)}".encode()
    lsh = MinHashLSH(num_perm=256, params=(DEFAULT_LSH.bands, DEFAULT_LSH.rows),
                     storage_config={"type": "redis", "basename": base, "redis": {
                         "host": pool.get("host", "127.0.0.1"), "port": pool.get("port", 6379),
                         "db": pool.get("db", 0)}})
    values = np.random.default_rng(1).integers(0, 2**32, (n + claims, 256), dtype=np.uint64)

    def sketch(i: int) -> LeanMinHash:
        return LeanMinHash(seed=1, hashvalues=values[i], scheme="legacy")

    try:
        before = int(client.info("memory")["used_memory"])
        with lsh.insertion_session(buffer_size=5000) as session:
            for i in range(n):
                session.insert(f"doc_{i:026x}", sketch(i))
        per_document = (int(client.info("memory")["used_memory"]) - before) / n
        started = time.perf_counter()
        for i in range(n, n + claims):
            if not lsh.query(sketch(i)):
                lsh.insert(f"doc_{i:026x}", sketch(i))
        rate = claims / (time.perf_counter() - started)
    finally:
        batch = list(client.scan_iter(match=base + b"*", count=5000))
        for start in range(0, len(batch), 5000):
            client.unlink(*batch[start:start + 5000])
        client.close()
    return {"bytes_per_document": per_document, "query_insert_per_s": rate}


async def _rebuild(redis_url: str, admin_url: str, n: int) -> dict[str, Any]:
    """Seconds to rebuild an empty index from n stored signatures, both ways."""
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    seconds: dict[bool, float] = {}
    async with stored_signatures(plain, n) as store_url:
        store = SqlStore.connect(store_url)
        client = Redis.from_url(redis_url)
        try:
            for restore in (True, False):
                keys = RedisKeys(f"canonry-bench-{secrets.token_hex(6)}")
                index = RedisIndex(client, keys, restore=restore)
                started = time.perf_counter()
                assert await index.fill(store.signature_blocks(0.0), "", "", 0) == n
                seconds[restore] = time.perf_counter() - started
                await delete_all(client, keys)
        finally:
            await client.aclose()
            await store.close()
    return {"value": n / seconds[True], "unit": "documents/s", "documents": n,
            "seconds": seconds[True],
            "peer": {"name": "the same rebuild, bucket fields written one by one",
                     "value": n / seconds[False], "unit": "documents/s",
                     "seconds": seconds[False]}}
