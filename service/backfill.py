"""`canonry backfill INPUT...`: archives through the same validation and store as POST
/ingest, into the queue's backfill lane: workers serve it only when the live lane is empty, so
live articles keep their latency during a large backfill. The lane is bounded
(CANONRY_BACKFILL_MAX_QUEUED): the reader waits while it is full.

Resumable: each input's checkpoint (records read from its start) commits in the transaction
that accepts the articles it covers, so a killed run, run again, reads on from there — and
because an ingest's id is a hash of its URL and content, a record read twice is the same
ingest, never a second one. Invalid records are reported with file, line and field and
skipped, not fatal (`--max-errors` stops the run past a limit). With the embedded backends the
command also runs the workers until everything is processed; with Redis it enqueues for the
worker fleet, and `--wait` waits for the fleet to finish the records of the inputs.

The outcomes are counted by input, not by ingest id: each ingest names the input that read it
first (`ingests.backfill_input`, committed with it), and the wait asks the store for counts of
its inputs' ingests, so neither memory nor a poll grows with the archive. They cover every
ingest of the inputs — what an earlier, killed run of them accepted too.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

from canonry.service.acceptance import accept_and_dispatch
from canonry.service.archives import Input, open_input
from canonry.service.backends import Backends, open_backends
from canonry.service.config import Settings
from canonry.service.engine import running_engine
from canonry.service.ingest import ProblemError, new_ingests, validate_articles
from canonry.service.worker_process import drained
from canonry.workers.ports import ONE_RUN_INPUT, OPEN_STATES, Checkpoint

# Plain progress lines (not a terminal) this often; a terminal gets a live bar instead.
PROGRESS_EVERY_SECONDS = 10.0
WAIT_POLL_SECONDS = 1.0
LANE_POLL_SECONDS = 0.2
EXIT_OK, EXIT_SKIPPED, EXIT_TOO_MANY_ERRORS = 0, 1, 3


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    batch_size: int = 500
    dry_run: bool = False
    max_errors: int | None = None
    wait: bool = False
    restart: bool = False
    url_template: str | None = None
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise


@dataclass
class Summary:
    """What a run did. `accepted`: new ingests; `already`: records whose ingest existed (a
    re-run, or the same article twice); `resumed`: records skipped by checkpoints; `outcomes`
    (once processed): of the inputs' ingests (earlier runs' too, see the module docstring),
    documents created, copies by match kind, failures by code."""

    read: int = 0
    accepted: int = 0
    already: int = 0
    invalid: int = 0
    resumed: int = 0
    dry_run: bool = False
    aborted: str | None = None
    seconds: float = 0.0
    inputs: list[str] = field(default_factory=list)
    outcomes: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        if self.aborted:
            return EXIT_TOO_MANY_ERRORS
        return EXIT_SKIPPED if self.invalid else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}

    def lines(self) -> list[str]:
        rate = self.read / self.seconds if self.seconds else 0.0
        out = [f"read {self.read:,} records in {self.seconds:.1f} s ({rate:,.0f}/s): "
               f"{'valid' if self.dry_run else 'accepted'} {self.accepted:,}, already known "
               f"{self.already:,}, invalid {self.invalid:,}"
               + (f"; skipped {self.resumed:,} read by an earlier run" if self.resumed else "")]
        if self.outcomes is not None:
            o = self.outcomes
            duplicates = ", ".join(f"{kind} {n:,}" for kind, n in o["duplicates"].items())
            out.append(f"processed: {o['new_documents']:,} new documents, duplicates "
                       + (duplicates or "0") + f", failed {sum(o['failed'].values()):,}"
                       + (" (" + ", ".join(f"{code} {n:,}" for code, n in o["failed"].items())
                          + ")" if o["failed"] else ""))
        if self.aborted:
            out.append(f"stopped: {self.aborted}")
        return out


class _Progress:
    """A tqdm bar on a terminal; elsewhere a plain line every PROGRESS_EVERY_SECONDS."""

    def __init__(self, summary: Summary, enabled: bool | None, out: TextIO) -> None:
        self.summary, self.out = summary, out
        self.bar = tqdm(unit=" records", file=out, dynamic_ncols=True, smoothing=0.1) \
            if (enabled if enabled is not None else out.isatty()) else None
        self.started = self.last = time.monotonic()

    def update(self, records: int) -> None:
        s = self.summary
        if self.bar is not None:
            self.bar.update(records)
            self.bar.set_postfix(accepted=s.accepted, known=s.already, invalid=s.invalid,
                                 refresh=False)
            return
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            rate = s.read / (now - self.started)
            print(f"backfill: read {s.read:,} ({rate:,.0f}/s), accepted {s.accepted:,}, "
                  f"already known {s.already:,}, invalid {s.invalid:,}", file=self.out,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def backfill(settings: Settings, paths: Sequence[str],
                   options: BackfillOptions = BackfillOptions(),
                   report: TextIO | None = None) -> Summary:
    """Read every input (after its checkpoint), accept and enqueue; see the module docstring.
    `report`: where skipped records and progress go (standard error by default)."""
    report = report or sys.stderr
    inputs = [open_input(path, options.url_template) for path in paths]
    summary = Summary(dry_run=options.dry_run, inputs=[i.name for i in inputs])
    # Standard input has no name that outlives the run: its ingests get one of this run's own.
    stdin = f"{ONE_RUN_INPUT}{uuid.uuid4().hex}"
    tags = {source.name: source.name if source.resumable else stdin for source in inputs}
    started = time.monotonic()
    progress = _Progress(summary, options.progress, report)
    async with open_backends(settings) as backends, running_engine(
        settings, backends, run_workers=backends.embedded and not options.dry_run
    ):
        reached: list[str] = []  # inputs read (or found read): not those after a stop
        try:
            for source in inputs:
                reached.append(tags[source.name])
                if not await _read(source, tags[source.name], backends, options, summary,
                                   progress, report, settings.backfill_max_queued):
                    break
        finally:
            progress.close()
        summary.seconds = time.monotonic() - started
        if not options.dry_run and (backends.embedded or options.wait):
            if backends.embedded:
                await drained(backends.queue)
            summary.outcomes = await _outcomes(backends, sorted(set(reached)), report)
    return summary


async def _room_in_lane(backends: Backends, bound: int) -> None:
    """Back-pressure: wait while the backfill lane holds `bound` messages or more, so a
    10-million-record archive never sits in Redis (or in memory) all at once."""
    # Other processes drain it (the worker fleet): no event to await, so it is polled.
    while (await backends.queue.backfill.stats()).depth >= bound:  # noqa: ASYNC110
        await asyncio.sleep(LANE_POLL_SECONDS)


async def _read(source: Input, tag: str, backends: Backends, options: BackfillOptions,
                summary: Summary, progress: _Progress, report: TextIO,
                settings_bound: int) -> bool:
    """One input to its end (False: stopped by --max-errors); its ingests are tagged `tag`."""
    skip = 0
    if source.resumable and not options.restart and not options.dry_run:
        skip = await backends.store.checkpoint(source.name)
    batch: list[Any] = []
    last = skip

    async def commit() -> None:
        nonlocal batch
        if options.dry_run:
            summary.accepted += len(batch)
        else:
            await _room_in_lane(backends, settings_bound)
            items = new_ingests(batch)
            accepted = await accept_and_dispatch(
                backends.store, backends.queue.backfill, items,
                Checkpoint(source.name, last) if source.resumable else None, tag)
            summary.accepted += len(accepted.created)
            summary.already += len(items) - len(accepted.created)
        progress.update(len(batch))
        batch = []

    for record in source.records(skip):
        if record.number <= skip:
            summary.resumed += 1
            continue
        summary.read += 1
        last = record.number
        try:
            if record.error is not None:
                raise ProblemError(400, record.error)
            batch.append(validate_articles([record.article], batch=False)[0])
        except ProblemError as exc:
            summary.invalid += 1
            reasons = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
            print(f"{record.where}: skipped: {reasons or exc.detail}", file=report)
            if options.max_errors is not None and summary.invalid > options.max_errors:
                await commit()  # what was valid so far stays accepted, and its checkpoint
                summary.aborted = f"more than {options.max_errors} invalid records"
                return False
        if len(batch) >= options.batch_size:
            await commit()
    await commit()  # the rest, and the checkpoint at the input's end
    return True


async def _outcomes(backends: Backends, inputs: list[str], report: TextIO) -> dict[str, Any]:
    """Once every ingest of these inputs is done or failed: what became of them. A poll while
    some are open counts only those (an index range as large as what is left, not as the run);
    everything is counted at the start and once more at the end."""
    store = backends.store
    counts = await store.backfill_outcomes(inputs)
    total, left = sum(counts.values()), _open(counts)
    while left:
        print(f"backfill: waiting for {left:,} of {total:,} to be processed", file=report,
              flush=True)
        await asyncio.sleep(WAIT_POLL_SECONDS)
        left = sum((await store.backfill_outcomes(inputs, open_only=True)).values())
        if not left:
            counts = await store.backfill_outcomes(inputs)
            total, left = sum(counts.values()), _open(counts)  # another run may have added
    duplicates = {kind: n for (status, kind), n in sorted(counts.items())
                  if status == "done" and kind != "new"}
    return {"new_documents": counts.get(("done", "new"), 0), "duplicates": duplicates,
            "failed": {code or "unknown": n for (status, code), n in sorted(counts.items())
                       if status == "failed"}}


def _open(counts: dict[tuple[str, str], int]) -> int:
    return sum(n for (status, _), n in counts.items() if status in OPEN_STATES)


def print_summary(summary: Summary, as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        print(json.dumps(summary.as_json(), indent=2), file=out)
    else:
        for line in summary.lines():
            print(line, file=out)
