"""`canonry reindex` over N stored signatures: how long the shared index takes to rebuild.

    .venv/bin/python -m bench.reindex [--database postgresql://postgres@127.0.0.1:5432/test]
        [--redis redis://127.0.0.1:6379/0] [-n 100000]

Creates a throwaway PostgreSQL database (migrated), COPYs N documents with random signatures
into it, runs `canonry reindex` as a subprocess against a throwaway Redis prefix and reports
its wall time and the rebuild's own `index_rebuilt` seconds (the database read and the load).
Drops the database and deletes the keys at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from canonry.service.migrations import upgrade
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.fingerprint import encode_hashvalues


async def fill_database(url: str, n: int) -> None:
    rng = random.Random(1)
    now = datetime.now(UTC)
    ids = ["doc_" + secrets.token_hex(13) for _ in range(n)]
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "documents",
            columns=["id", "title", "text", "language", "url", "source", "published_at",
                     "first_seen_at", "updated_at", "version", "canonical_ingest_id",
                     "provenance_count", "change_seq"],
            records=[(d, None, "text", None, f"https://example.org/{d}", "bench", None, now, now,
                      1, "ing_" + d[4:], 1, i + 1) for i, d in enumerate(ids)])
        await conn.copy_records_to_table(
            "signatures", columns=["document_id", "text_hash", "hashvalues", "size", "seen_at"],
            records=[(d, secrets.token_hex(32),
                      encode_hashvalues(tuple(rng.getrandbits(32) for _ in range(256))),
                      rng.randrange(100, 5000), time.time()) for d in ids])
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def stored_signatures(database: str, n: int) -> AsyncIterator[str]:
    """A throwaway database (migrated) holding n documents with random signatures: its
    SQLAlchemy URL; dropped at the end. `database`: a server's admin URL (asyncpg form)."""
    name = f"canonry_reindex_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = database.rsplit("/", 1)[0] + "/" + name
    sqlalchemy_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade(sqlalchemy_url)
        started = time.perf_counter()
        await fill_database(url, n)
        print(f"{n:,} documents stored in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        yield sqlalchemy_url
    finally:
        admin = await asyncpg.connect(database)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(database: str, redis_url: str, n: int) -> None:
    keys = RedisKeys(f"canonry-reindex-{secrets.token_hex(6)}")
    try:
        async with stored_signatures(database, n) as sqlalchemy_url:
            env = {**os.environ, "CANONRY_DATABASE_URL": sqlalchemy_url,
                   "CANONRY_REDIS_URL": redis_url, "CANONRY_REDIS_PREFIX": keys.prefix}
            canonry = Path(sys.executable).with_name("canonry")
            started = time.perf_counter()
            done = await asyncio.to_thread(subprocess.run, [str(canonry), "reindex"], env=env,
                                           capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            rebuilt = re.search(r"index_rebuilt.*?seconds=([\d.]+)", done.stdout + done.stderr)
            print(f"canonry reindex: {wall:.1f} s wall (process start included); the rebuild "
                  f"itself {rebuilt.group(1) if rebuilt else '?'} s")
            async with Redis.from_url(redis_url) as client:
                counts = await client.hvals(keys.counts)
                print(f"indexed: {sum(int(c) for c in counts):,} documents")
    finally:
        async with Redis.from_url(redis_url) as client:
            batch = [k async for k in client.scan_iter(match=keys.pattern, count=5000)]
            for start in range(0, len(batch), 5000):
                await client.unlink(*batch[start:start + 5000])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default=os.environ.get("CANONRY_REDIS_URL",
                                                           "redis://127.0.0.1:6379/0"))
    parser.add_argument("-n", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.database, args.redis, args.n))
