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
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench import core, e2e, index, load, report
from bench.corpus import Article, Corpus, describe
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
    index_documents: int  # the Redis LSH index's figures
    index_peer_documents: int
    index_claims: int


FULL = Plan(corpus=2065, text_pages=400, html_pages=200, load_seconds=10.0,
            cost_sizes=(10_000, 100_000), cost_slice=2000, index_documents=100_000,
            index_peer_documents=10_000, index_claims=4000)
QUICK = Plan(corpus=200, text_pages=40, html_pages=20, load_seconds=3.0,
             cost_sizes=(500, 2000), cost_slice=200, index_documents=5000,
             index_peer_documents=1000, index_claims=500)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def step(name: str, run: Callable[[], Awaitable[T]]) -> T:
    log(f"[bench] {name} …")
    started = time.perf_counter()
    result = await run()
    log(f"[bench] {name}: {time.perf_counter() - started:.1f} s")
    return result


@dataclass(frozen=True, slots=True)
class Options:
    seed: int
    cost_prefill: str  # "synthetic" or "corpus"
    cost_production: bool


def corpus_figure(articles: list[Article], seed: int) -> dict[str, Any]:
    shape = describe(articles)
    return {"value": shape["articles"], "unit": "articles", **shape, "seed": seed,
            "peer": {"name": "distinct stories", "value": shape["stories"], "unit": "stories"}}


def production(workers: int) -> e2e.Backend:
    """PostgreSQL + Redis: the suite's servers (CANONRY_TEST_*), as tests/servers.py."""
    admin = os.environ.get("CANONRY_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis = os.environ.get("CANONRY_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    return partial(e2e.production_service, workers, admin, redis)


async def single_process_figures(articles: list[Article], plan: Plan) -> dict[str, Any]:
    text_pages = [a for a in articles if a.html is None][:plan.text_pages]
    html_pages = [a for a in articles if a.html is not None][:plan.html_pages]
    return core.core_figures(text_pages, html_pages)


async def end_to_end_figures(articles: list[Article]) -> dict[str, Any]:
    async def naive_step() -> dict[str, Any]:
        return naive_loop([a.plain_text for a in articles])

    # One naive loop over the corpus: the peer of every end-to-end figure of the run.
    naive = await step("naive loop on the corpus", naive_step)
    figures = {"e2e_embedded": await step("end to end, embedded", partial(
        e2e.end_to_end, e2e.embedded_service, articles, naive))}
    for workers in (1, 2):
        figures[f"e2e_pg_redis_{workers}"] = await step(
            f"end to end, PostgreSQL + Redis, {workers} worker(s)",
            partial(e2e.end_to_end, production(workers), articles, naive))
    # Consumers' read rates, on the stores those runs filled (the 2-worker one in production).
    figures["reads_embedded"] = figures["e2e_embedded"].pop("reads")
    figures["e2e_pg_redis_1"].pop("reads")
    figures["reads_pg_redis"] = figures["e2e_pg_redis_2"].pop("reads")
    return figures


async def cost_figures(corpus: Corpus, plan: Plan, options: Options) -> dict[str, Any]:
    sizes = f"{plan.cost_sizes[0]:,} and {plan.cost_sizes[1]:,}"
    backends = {"per_article_cost": ("embedded", e2e.embedded_service)}
    if options.cost_production:
        backends["per_article_cost_pg_redis"] = ("PostgreSQL + Redis", production(1))
    figures = {}
    for key, (name, backend) in backends.items():
        figures[key] = await step(f"per-article cost at {sizes}, {name}", partial(
            e2e.per_article_cost, backend, corpus, plan.cost_sizes, plan.cost_slice,
            options.cost_prefill))
    return figures


async def measure(plan: Plan, options: Options) -> dict[str, Any]:
    corpus = Corpus(options.seed)
    articles = corpus.take(plan.corpus)
    figures: dict[str, Any] = {"corpus": corpus_figure(articles, options.seed)}
    figures.update(await step("fingerprint and core pipeline",
                              partial(single_process_figures, articles, plan)))
    figures.update(await end_to_end_figures(articles))
    figures.update(await step("POST /ingest under load",
                              partial(load.load_figures, articles, plan.load_seconds)))
    figures.update(await cost_figures(corpus, plan, options))
    figures.update(await step("Redis LSH index: memory, claims, rebuild", partial(
        index.index_figures, os.environ.get("CANONRY_TEST_REDIS_URL", DEFAULT_REDIS_URL),
        os.environ.get("CANONRY_TEST_DATABASE_URL", DEFAULT_DATABASE_URL),
        plan.index_documents, plan.index_peer_documents, plan.index_claims)))
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
    parser.add_argument("--cost-production", action="store_true",
                        help="also the per-article cost on PostgreSQL + Redis (1 worker); a "
                             "full run then takes about 10 minutes more")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started, load_before = time.perf_counter(), os.getloadavg()
    options = Options(args.seed, args.cost_prefill, args.cost_production)
    figures = asyncio.run(measure(plan, options))
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
