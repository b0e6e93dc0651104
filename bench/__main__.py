"""Run every benchmark figure with its peer; write JSON and a markdown table (see __init__)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench import core, e2e, load, report
from bench.corpus import Corpus, describe
from bench.naive import naive_loop
from tests.servers import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plan:
    """How big each figure's run is."""

    corpus: int  # articles of the end-to-end corpus (generation 0 holds 2,065)
    text_pages: int
    html_pages: int
    load_seconds: float
    cost_sizes: tuple[int, int]
    cost_slice: int


FULL = Plan(corpus=2065, text_pages=400, html_pages=200, load_seconds=10.0,
            cost_sizes=(10_000, 100_000), cost_slice=2000)
QUICK = Plan(corpus=200, text_pages=40, html_pages=20, load_seconds=3.0,
             cost_sizes=(500, 2000), cost_slice=200)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def step(name: str, run: Callable[[], Awaitable[T]]) -> T:
    log(f"[bench] {name} …")
    started = time.perf_counter()
    result = await run()
    log(f"[bench] {name}: {time.perf_counter() - started:.1f} s")
    return result


async def measure(plan: Plan, seed: int, prefill_kind: str) -> dict[str, Any]:
    corpus = Corpus(seed)
    articles = corpus.take(plan.corpus)
    shape = describe(articles)
    figures: dict[str, Any] = {"corpus": {
        "value": shape["articles"], "unit": "articles", **shape, "seed": seed,
        "peer": {"name": "distinct stories", "value": shape["stories"], "unit": "stories"}}}
    text_pages = [a for a in articles if a.html is None][:plan.text_pages]
    html_pages = [a for a in articles if a.html is not None][:plan.html_pages]

    async def core_step() -> dict[str, Any]:
        return core.core_figures(text_pages, html_pages)

    async def naive_step() -> dict[str, Any]:
        return naive_loop([a.plain_text for a in articles])

    figures.update(await step("fingerprint and core pipeline", core_step))
    naive = await step("naive loop on the corpus", naive_step)
    figures["e2e_embedded"] = await step("end to end, embedded",
                                         lambda: e2e.embedded(articles, naive))
    admin = os.environ.get("CANONRY_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis = os.environ.get("CANONRY_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    for workers in (1, 2):
        figures[f"e2e_pg_redis_{workers}"] = await step(
            f"end to end, PostgreSQL + Redis, {workers} worker(s)",
            lambda w=workers: e2e.production(articles, naive, w, admin, redis))  # type: ignore[misc]
    figures.update(await step("POST /ingest under load",
                              lambda: load.load_figures(articles, plan.load_seconds)))
    figures["per_article_cost"] = await step(
        f"per-article cost at {plan.cost_sizes[0]:,} and {plan.cost_sizes[1]:,}",
        lambda: e2e.per_article_cost(corpus, plan.cost_sizes, plan.cost_slice, prefill_kind))
    return figures


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    return done.stdout.strip() or "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small corpus, short load (~1 min)")
    parser.add_argument("--readme", action="store_true",
                        help="replace the table between the bench-table markers in README.md")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--seed", type=int, default=20240601, help="corpus seed")
    parser.add_argument("--cost-prefill", choices=["synthetic", "corpus"], default="synthetic",
                        help="what fills the store before the per-article cost slice: "
                             "synthetic short stories (default) or the corpus itself (a full "
                             "run then takes well over an hour on two cores)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started, load_before = time.perf_counter(), os.getloadavg()
    figures = asyncio.run(measure(plan, args.seed, args.cost_prefill))
    generator = figures["ingest_single"]["generator"]
    results = {"meta": {
        "quick": args.quick, "plan": asdict(plan),
        "date": datetime.date.today().isoformat(), "commit": _commit(),
        "cores": os.cpu_count(), "cpu": _cpu(), "python": platform.python_version(),
        "load_generator": generator, "load_seconds": plan.load_seconds,
        "seconds": time.perf_counter() - started,
        # Other work on the machine shows here: every figure shares the same cores.
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "cost_prefill": args.cost_prefill}, "figures": figures}
    table = report.write(results, args.out)
    if args.readme:
        report.replace_readme_table(ROOT / "README.md", report.markdown(results))
    print(report.summary(results))
    print(f"\nresults: {args.out}  table: {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
