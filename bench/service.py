"""Running Canonry as users run it: `canonry serve` and `canonry worker` as subprocesses on
loopback, fed over HTTP, watched through what the service exposes.

Completion is watched cheaply, so that watching does not slow what is measured: on the
embedded default through `GET /metrics` (one request per poll: the engine's processed and
dead-lettered counters live in the serve process), with separate worker processes through one
indexed `count(*)` of the open ingests per poll (their counters live in their own processes).
Polls are 50 ms apart near the end, 0.5 s while more than `FAR` ingests are left.
Afterwards a sample of ingests is read back through `GET /ingest/{id}` to check that they are
really final.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench.corpus import Article
from tests.servers import free_port

BATCH = 100  # articles per POST /ingest, as a feed poller would send them
POLL_SECONDS = 0.05
START_TIMEOUT = 90.0
FINAL_STATES = ("done", "failed")
OPEN_STATES = ("queued", "processing")
FAR = 1000  # unfinished ingests above which completion is polled slowly
VERIFY_SAMPLE = 200
_METRIC = re.compile(
    r"^canonry_ingests_(processed|failed)_total(?:\{match=\"(\w+)\"\})? ([0-9.e+]+)$", re.M)
_ACCEPTED = re.compile(r"^canonry_ingests_accepted_total ([0-9.e+]+)$", re.M)
STALL_SECONDS = 300.0  # no ingest finished for this long: something is broken, stop waiting


def canonry_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "canonry.service.cli", *args]


@dataclass
class Process:
    """A child process with its output in a log file, stopped by its own pid only."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, grace: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return int(self.popen.returncode)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of `root` and every live descendant (the pool processes
    hang below serve's forkserver). Unlike wall time, barely moved by other work on the
    machine."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) is not None:
            # fields[1] is ppid; [11], [12] are utime, stime (stat fields 4, 14, 15)
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICKS
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def spawn(name: str, command: Sequence[str], env: dict[str, str], directory: Path) -> Process:
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=directory)
    return Process(name, popen, log)


# The bench runs keyed, as production must: the cost of checking a key is in every number.
BENCH_API_KEY = "canonry-bench-key-all-scopes"
AUTH_HEADERS = {"Authorization": f"Bearer {BENCH_API_KEY}"}


def service_env(database_url: str, redis_url: str | None = None, prefix: str | None = None,
                log_level: str = "warning") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANONRY_")}
    env.update(CANONRY_DATABASE_URL=database_url, CANONRY_LOG_LEVEL=log_level,
               CANONRY_API_KEYS=f"{BENCH_API_KEY}=ingest+read+admin")
    if redis_url:
        env.update(CANONRY_REDIS_URL=redis_url, CANONRY_REDIS_PREFIX=prefix or "canonry")
    return env


async def wait_healthy(base_url: str, process: Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            try:
                async with session.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer within {START_TIMEOUT} s")


async def wait_logged(process: Process, marker: str) -> None:
    """A worker process is ready once its engine started (pool processes up, model loaded)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        if process.log.exists() and marker in process.log.read_text(errors="replace"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{process.name} did not log {marker!r} within {START_TIMEOUT} s")


@dataclass
class Server:
    process: Process
    base_url: str

    @property
    def port(self) -> int:
        return int(urlsplit(self.base_url).port or 0)


@asynccontextmanager
async def serving(directory: Path, env: dict[str, str], *, workers: bool = True,
                  name: str = "serve", stop_grace: float = 30.0) -> AsyncIterator[Server]:
    """`canonry serve` on a free loopback port, healthy before yielding. `stop_grace`: how
    long SIGTERM may take (finishing in-flight batches) before SIGKILL."""
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    process = spawn(name, canonry_command(*args, *([] if workers else ["--no-workers"])),
                    env, directory)
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        await wait_healthy(server.base_url, process)
        yield server
    finally:
        await asyncio.to_thread(process.stop, stop_grace)


@asynccontextmanager
async def worker_processes(directory: Path, env: dict[str, str], count: int
                           ) -> AsyncIterator[list[Process]]:
    """`count` long-running `canonry worker` processes (as deployed), stopped with SIGTERM
    after. Not waited for: see `workers_ready` (they start while the API does)."""
    worker_env = {**env, "CANONRY_LOG_LEVEL": "info"}  # for the engine_started line
    processes = [spawn(f"worker-{n}", canonry_command("worker"), worker_env, directory)
                 for n in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            process.popen.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.to_thread(process.stop, 30.0)


async def workers_ready(processes: Sequence[Process]) -> None:
    await asyncio.gather(*(wait_logged(p, "engine_started") for p in processes))


def batches(articles: Iterable[Article], size: int = BATCH) -> Iterator[list[Article]]:
    batch: list[Article] = []
    for article in articles:
        batch.append(article)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def post_all(session: aiohttp.ClientSession, base_url: str,
                   articles: Iterable[Article]) -> list[str]:
    """POST every article in batches of `BATCH`, one request after another; the ingest ids."""
    ids: list[str] = []
    for batch in batches(articles):
        body = {"articles": [a.payload() for a in batch]}
        async with session.post(f"{base_url}/ingest", json=body) as response:
            if response.status != 202:
                raise RuntimeError(f"POST /ingest: {response.status} {await response.text()}")
            ids.extend(r["ingest_id"] for r in (await response.json())["receipts"])
    return ids


async def _metrics_text(session: aiohttp.ClientSession, base_url: str) -> str:
    async with session.get(f"{base_url}/metrics") as response:
        return await response.text()


async def metric_counts(session: aiohttp.ClientSession, base_url: str) -> dict[str, float]:
    """The engine's outcome counters: processed per match kind, and dead-lettered."""
    counts: dict[str, float] = {}
    for kind, match, value in _METRIC.findall(await _metrics_text(session, base_url)):
        key = match if kind == "processed" else "failed"
        counts[key] = counts.get(key, 0.0) + float(value)
    return counts


async def accepted_count(session: aiohttp.ClientSession, base_url: str) -> float:
    """New ingests the API accepted (a re-post of a known article is not new work)."""
    found = _ACCEPTED.search(await _metrics_text(session, base_url))
    return float(found.group(1)) if found else 0.0


def _poll_interval(remaining: float) -> float:
    """Often near the end (that moment is the measurement), rarely while far from it."""
    return POLL_SECONDS if remaining < FAR else 0.5


@dataclass
class StallGuard:
    """Raises when the watched count has not moved for `STALL_SECONDS`."""

    what: str
    last: float = -1.0
    since: float = field(default_factory=time.monotonic)

    def check(self, value: float) -> None:
        if value != self.last:
            self.last, self.since = value, time.monotonic()
        elif time.monotonic() - self.since > STALL_SECONDS:
            raise RuntimeError(f"{self.what} stuck at {value} for {STALL_SECONDS:.0f} s")


async def wait_metrics(session: aiohttp.ClientSession, base_url: str, target: float,
                       baseline: float) -> float:
    """perf_counter time at which the serve process had finished `target` more ingests."""
    guard = StallGuard("finished ingests")
    while True:
        finished = sum((await metric_counts(session, base_url)).values()) - baseline
        if finished >= target:
            return time.perf_counter()
        guard.check(finished)
        await asyncio.sleep(_poll_interval(target - finished))


async def wait_sql(database_url: str) -> float:
    """perf_counter time at which no ingest was open (queued, processing or awaiting a retry)
    in the database; the count walks the status index, so it is cheapest near the end."""
    import asyncpg

    guard = StallGuard("open ingests")
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        while True:
            open_ingests = await conn.fetchval(
                "SELECT count(*) FROM ingests WHERE status = ANY($1::text[])", list(OPEN_STATES))
            if open_ingests == 0:
                return time.perf_counter()
            guard.check(open_ingests)
            await asyncio.sleep(_poll_interval(open_ingests))
    finally:
        await conn.close()


async def verify_final(session: aiohttp.ClientSession, base_url: str, ids: Sequence[str],
                       rng: random.Random) -> dict[str, int]:
    """Read back the last ingests posted and a random sample through GET /ingest/{id}."""
    sample = list(dict.fromkeys([*ids[-VERIFY_SAMPLE:],
                                 *rng.sample(list(ids), min(VERIFY_SAMPLE, len(ids)))]))
    states: dict[str, int] = {}
    for ingest_id in sample:
        async with session.get(f"{base_url}/ingest/{ingest_id}") as response:
            status = (await response.json())["status"]
        states[status] = states.get(status, 0) + 1
    unfinished = sum(n for s, n in states.items() if s not in FINAL_STATES)
    if unfinished:
        raise RuntimeError(f"{unfinished} sampled ingests not final: {states}")
    return states


@dataclass
class Run:
    """One timed pass: first POST to the last ingest final."""

    articles: int
    posted_s: float
    total_s: float
    cpu_s: float  # of the service's process trees: serve (API, engine, pool), the workers
    outcomes: dict[str, float] = field(default_factory=dict)

    @property
    def articles_per_s(self) -> float:
        return self.articles / self.total_s

    def as_dict(self) -> dict[str, Any]:
        return {"articles": self.articles, "seconds": self.total_s,
                "post_seconds": self.posted_s, "service_cpu_seconds": self.cpu_s,
                "outcomes": self.outcomes}


async def timed_ingest(server: Server, articles: Iterable[Article], *,
                       database_url: str | None = None, worker_pids: Sequence[int] = (),
                       verify: bool = True) -> Run:
    """POST `articles` and wait until every one is final; timed from the first POST.
    `database_url`: watch the database (workers in other processes), else /metrics;
    `worker_pids`: those processes, whose CPU counts with serve's."""
    pids = [server.process.popen.pid, *worker_pids]
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(timeout=timeout, headers=AUTH_HEADERS) as session:
        baseline = await metric_counts(session, server.base_url)
        accepted_before = await accepted_count(session, server.base_url)
        cpu_before = sum(map(tree_cpu_seconds, pids))
        started = time.perf_counter()
        ids = await post_all(session, server.base_url, articles)
        posted = time.perf_counter()
        unique = len(set(ids))
        if database_url:
            finished = await wait_sql(database_url)
        else:
            new = await accepted_count(session, server.base_url) - accepted_before
            finished = await wait_metrics(session, server.base_url, new,
                                          sum(baseline.values()))
        cpu = sum(map(tree_cpu_seconds, pids)) - cpu_before
        if verify:
            await verify_final(session, server.base_url, ids, random.Random(len(ids)))
        after = await metric_counts(session, server.base_url)
        outcomes = {k: v - baseline.get(k, 0.0) for k, v in after.items()}
        if database_url:
            outcomes = await _outcomes(database_url, ids)
    return Run(unique, posted - started, finished - started, cpu, outcomes)


async def _outcomes(database_url: str, ids: Sequence[str]) -> dict[str, float]:
    """Final state per match kind of these ingests (their workers' counters are elsewhere)."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch("SELECT status, match, count(*) AS n FROM ingests "
                                "WHERE id = ANY($1::text[]) GROUP BY 1, 2", list(set(ids)))
    finally:
        await conn.close()
    return {(r["match"] if r["status"] == "done" else r["status"]): float(r["n"]) for r in rows}


def unique_name(kind: str) -> str:
    return f"canonry_bench_{kind}_{uuid.uuid4().hex[:8]}"
