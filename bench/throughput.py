"""End-to-end throughput of the production backends: N synthetic articles (stories with 2-3
syndicated copies each) accepted by the API, then processed by W `canonry worker --burst`
processes against PostgreSQL and Redis. Prints docs/s for the processing phase.

    .venv/bin/python bench/throughput.py --stories 400 --workers 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.migrations import upgrade
from tests import synthetic
from tests.servers import create_database, delete_prefix, drop_database

ADMIN = os.environ.get("CANONRY_TEST_DATABASE_URL",
                       "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("CANONRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def run(stories: int, workers: int) -> None:
    name = f"canonry_bench_{uuid.uuid4().hex[:8]}"
    url = await create_database(ADMIN, name)
    await upgrade(url)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env({}, database_url=url, redis_url=REDIS, redis_prefix=prefix,
                                 log_level="warning")
    articles = synthetic.articles(stories)
    try:
        started = time.perf_counter()
        async with TestClient(TestServer(create_app(settings, run_workers=False))) as api:
            for i in range(0, len(articles), 250):
                body = {"articles": [{"url": a["url"], "text": a["text"]}
                                     for a in articles[i:i + 250]]}
                assert (await api.post("/ingest", json=body)).status == 202
        accepted = time.perf_counter()
        env = {**os.environ, "CANONRY_DATABASE_URL": url, "CANONRY_REDIS_URL": REDIS,
               "CANONRY_REDIS_PREFIX": prefix, "CANONRY_LOG_LEVEL": "warning"}
        processes = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "canonry.service.cli", "worker", "--burst", env=env)
            for _ in range(workers)]
        for process in processes:
            assert await process.wait() == 0
        done = time.perf_counter()
        n = len(articles)
        print(f"{n} articles, {workers} worker process(es): accept {n / (accepted - started):.0f}"
              f"/s; process {done - accepted:.1f} s = {n / (done - accepted):.1f} docs/s")
    finally:
        await drop_database(ADMIN, name)
        await delete_prefix(REDIS, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stories", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for workers in args.workers:
        asyncio.run(run(args.stories, workers))


if __name__ == "__main__":
    main()
