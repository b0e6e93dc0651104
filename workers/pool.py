"""Running the pure analysis on every core, so the event loop only does I/O.

`ProcessAnalyser` feeds a batch to a process pool in one chunk per process; `InlineAnalyser`
runs it in a thread of this process (the pool of size 0: tests, and small machines). Both give
the same results: the same `analyse_batch` runs either way.

A worker process that dies (a segfault in a parser, the OOM killer) breaks the whole pool. The
batch is then retried one article per task in a fresh pool, so only the article that kills its
process fails — and ends in the dead-letter queue after its attempts — while its neighbours go on.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Protocol

import structlog

from canonry.workers.analysis import (
    AnalysisBatch,
    AnalysisError,
    AnalysisResult,
    ExtractFn,
    analyse_batch,
)
from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract_page

log = structlog.get_logger("canonry.pool")

WORKER_CRASHED = "worker_crashed"
WARM_UP = RawArticle(url="https://warm-up.invalid/", text=(
    "The council approved the new budget on Tuesday after a long debate about schools, roads "
    "and the library, which will open on Sundays from next spring."))
# Below this many articles per process, shipping a chunk costs more than it saves.
MIN_CHUNK = 4


class Analyser(Protocol):
    async def analyse(self, batch: AnalysisBatch) -> list[AnalysisResult]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


class InlineAnalyser:
    def __init__(self, extract_fn: ExtractFn = extract_page) -> None:
        self.extract_fn = extract_fn

    async def analyse(self, batch: AnalysisBatch) -> list[AnalysisResult]:
        return await asyncio.to_thread(analyse_batch, batch, self.extract_fn)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class ProcessAnalyser:
    """A pool of `processes` processes started by a forkserver: children fork from a clean
    process that never ran the event loop or opened a connection (forking this one could copy
    a lock some thread holds), with the pipeline imported once, before the fork."""

    def __init__(self, processes: int, extract_fn: ExtractFn = extract_page) -> None:
        if processes < 1:
            raise ValueError("a process pool needs at least one process")
        self.processes = processes
        # A module-level function: it travels to the processes by reference.
        self._analyse = partial(analyse_batch, extract_fn=extract_fn)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["canonry.workers.analysis"])
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.processes, mp_context=self._context,
                                   initializer=_prepare_process, initargs=(os.getpid(),))

    async def start(self) -> None:
        """Start every process now, not on the first batch."""
        empty = AnalysisBatch([], {}, {})
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, self._analyse, empty)
                               for _ in range(self.processes)))

    async def analyse(self, batch: AnalysisBatch) -> list[AnalysisResult]:
        parts = max(1, min(self.processes, len(batch.articles) // MIN_CHUNK))
        try:
            return await self._run(batch.split(parts))
        except BrokenProcessPool:
            log.warning("analysis_pool_broken", articles=len(batch.articles))
            self._restart()
        # One article per task: only the one that kills its process fails.
        singles = [AnalysisBatch([a], batch.sources, batch.cross_source)
                   for a in batch.articles]
        results: list[AnalysisResult] = []
        for single in singles:
            try:
                results += await self._run([single])
            except BrokenProcessPool:
                self._restart()
                results.append(AnalysisError(
                    WORKER_CRASHED, "the analysis process died on this article", False))
        return results

    async def _run(self, chunks: list[AnalysisBatch]) -> list[AnalysisResult]:
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(*(loop.run_in_executor(self._executor, self._analyse, c)
                                         for c in chunks))
        return [result for answer in answers for result in answer]

    def _restart(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)


# Analysis is background work: on a busy host the request path (the API in the same process
# tree, the engine's own event loop) goes first and a backlog waits, instead of every
# request waiting behind CPU-bound cleaning. An idle host still gives the pool every core.
POOL_NICENESS = 10


def quiet_parsers() -> None:
    """trafilatura logs an error for every page it cannot parse ("parsed tree length: 0");
    that outcome is ours to report (empty_after_cleaning), once, in our log format."""
    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _prepare_process(engine_pid: int) -> None:
    """In each pool process, before its first batch: yield the CPU to the request path, load
    what the pipeline loads lazily (the language model takes about a second), and exit with the
    engine."""
    os.nice(POOL_NICENESS)
    quiet_parsers()
    analyse_batch(AnalysisBatch([WARM_UP], {}, {}))
    _exit_with(engine_pid)


def _exit_with(engine_pid: int, poll: float = 1.0) -> None:
    """A pool process outlives a SIGKILLed engine (nothing tells it): watch the engine and
    exit with it, so a crashed worker leaves no orphans behind."""

    def watch() -> None:
        while True:
            time.sleep(poll)
            try:
                os.kill(engine_pid, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-engine", daemon=True).start()


def make_analyser(processes: int) -> Analyser:
    """`processes` 0: in a thread of this process; otherwise a pool of that many processes."""
    return ProcessAnalyser(processes) if processes > 0 else InlineAnalyser()
