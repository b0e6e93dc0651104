"""`python -m bench.backfill [--articles N]`: `canonry backfill` beside its peer, the same
articles posted over HTTP, on both backends — and a live article's latency during a backfill.

- embedded: `canonry backfill FILE` on a fresh SQLite database (it runs its own workers; a
  server cannot run beside it on the same file), against `canonry serve` taking the same
  articles by POST /ingest;
- PostgreSQL + Redis, 2 worker processes: `canonry backfill FILE --wait` into the backfill
  lane, against the same articles posted to `canonry serve --no-workers`; then the same
  backfill again while a live article is posted every LIVE_EVERY seconds, each timed until
  done (beside the same live article's latency on the idle service), and that run's rate.
Prints JSON; the corpus is the bench's (real pages and their syndicated copies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench import e2e
from bench.__main__ import production
from bench.corpus import Article, Corpus
from bench.service import AUTH_HEADERS, canonry_command, service_env
from canonry.service.migrations import upgrade

LIVE_EVERY = 2.0


def write_archive(articles: list[Article], path: Path) -> Path:
    path.write_text("".join(json.dumps(a.payload()) + "\n" for a in articles))
    return path


async def run_backfill(archive: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *canonry_command("backfill", str(archive), "--json", "--no-progress", *extra), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"canonry backfill: {process.returncode} {err.decode()[-2000:]}")
    summary = json.loads(out)
    seconds = time.perf_counter() - started
    return {"value": summary["read"] / seconds, "unit": "articles/s", "seconds": seconds,
            "outcomes": summary["outcomes"]}


async def live_latency(session: aiohttp.ClientSession, base_url: str, number: int) -> float:
    """Seconds from POST to done of one new live article."""
    article = {"url": f"https://live.example/{uuid.uuid4().hex}/{number}",
               "text": f"Breaking {number}. " + " ".join(
                   f"Reporters at the scene {number} said the situation number {i} was "
                   f"changing quickly, according to officials." for i in range(12))}
    started = time.perf_counter()
    async with session.post(f"{base_url}/ingest", json=article) as response:
        status_url = (await response.json())["status_url"]
    while True:
        async with session.get(f"{base_url}{status_url}") as response:
            if (await response.json())["status"] in ("done", "failed"):
                return time.perf_counter() - started
        await asyncio.sleep(0.05)


async def embedded(articles: list[Article], directory: Path) -> dict[str, Any]:
    database = f"sqlite+aiosqlite:///{directory / 'backfill.db'}"
    await upgrade(database)
    figure = await run_backfill(write_archive(articles, directory / "a.jsonl"),
                                service_env(database))
    async with e2e.embedded_service() as running:
        posted = await running.ingest(articles, verify=False)
    figure["peer"] = {"name": "the same articles by POST /ingest", "value":
                      posted.articles_per_s, "unit": "articles/s"}
    return figure


async def with_redis(articles: list[Article], directory: Path) -> dict[str, Any]:
    archive = write_archive(articles, directory / "p.jsonl")
    # The backfill alone (no live traffic: the lanes take whole batches) ...
    async with production(2)() as running:
        assert running.redis is not None
        figure = await run_backfill(archive, service_env(running.store_url, *running.redis),
                                    "--wait")
    # ... and again with a live article posted every LIVE_EVERY seconds (the lanes take
    # small backfill batches while live news flows), each timed until done.
    async with production(2)() as running:
        assert running.redis is not None
        env = service_env(running.store_url, *running.redis)
        base_url = running.server.base_url
        async with aiohttp.ClientSession(headers=AUTH_HEADERS) as session:
            idle = [await live_latency(session, base_url, n) for n in range(3)]
            backfilling = asyncio.create_task(run_backfill(archive, env, "--wait"))
            during: list[float] = []
            while not backfilling.done():
                during.append(await live_latency(session, base_url, 100 + len(during)))
                await asyncio.sleep(LIVE_EVERY)
            with_live = await backfilling
    async with production(2)() as running:
        posted = await running.ingest(articles, verify=False)
    figure["peer"] = {"name": "the same articles by POST /ingest", "value":
                      posted.articles_per_s, "unit": "articles/s"}
    figure["with_live_traffic"] = {"value": with_live["value"], "unit": "articles/s"}
    figure["live_latency_s"] = {"during_backfill_median": statistics.median(during),
                                "during_backfill_max": max(during), "samples": len(during),
                                "idle_median": statistics.median(idle)}
    return figure


async def main(count: int) -> dict[str, Any]:
    articles = Corpus().take(count)
    with tempfile.TemporaryDirectory(prefix="canonry-bench-backfill-") as name:
        directory = Path(name)
        return {"articles": count, "embedded": await embedded(articles, directory),
                "pg_redis_2": await with_redis(articles, directory)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    json.dump(asyncio.run(main(args.articles)), sys.stdout, indent=2)
    print()
