"""Progress of a long evaluation, on standard error: a tqdm bar on a terminal, elsewhere (a CI
log, a pipe) one plain line every `EVERY_SECONDS`, so a run of many minutes is never silent.
The reports themselves go to standard output, untouched.

`canonry eval … --no-progress` turns it off for the process (`configure`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

EVERY_SECONDS = 10.0
_enabled: bool | None = None  # None: a bar on a terminal, plain lines elsewhere


def configure(enabled: bool | None) -> None:
    """False: no progress at all; True: a bar even without a terminal; None: decide by it."""
    global _enabled
    _enabled = enabled


def progress(items: Iterable[T], label: str, total: int | None = None, *,
             out: TextIO | None = None, every: float = EVERY_SECONDS) -> Iterator[T]:
    """Yield `items`, reporting how many went by (of `total` when known) and the rate."""
    out = out or sys.stderr
    if _enabled is False:
        yield from items
        return
    if _enabled or out.isatty():
        with tqdm(items, desc=label, total=total, unit=" pages", file=out,
                  dynamic_ncols=True, smoothing=0.1) as bar:
            yield from bar
        return
    started = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every:
            last = now
            of = f" of {total:,}" if total is not None else ""
            print(f"{label}: {done:,}{of} pages ({done / (now - started):,.1f}/s)", file=out,
                  flush=True)
    print(f"{label}: {done:,} pages in {time.monotonic() - started:,.1f} s", file=out,
          flush=True)
