"""Riding out an outage in a loop that keeps trying: exponential backoff between tries, and
one log line when the outage starts and one when it ends, instead of one per failed try (a
receive loop without this wrote ~20 lines a second for as long as Redis was down)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

FIRST_DELAY = 0.1
MAX_DELAY = 5.0


@dataclass
class Outage:
    """One dependency as one loop (or the loops of one process) sees it.

    log:         a structlog logger.
    down, up:    the events logged when the outage starts (warning) and ends (info, with its
                 duration and the number of failed tries); every try in between is a debug line.
    first_delay, max_delay: the backoff, doubling per failed try.
    """

    log: Any
    down: str
    up: str
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    since: float | None = None
    failures: int = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, reason: BaseException | str) -> float:
        """Count a failed try; the seconds to wait before the next one."""
        error = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        self.failures += 1
        delay = min(self.first_delay * 2 ** min(self.failures - 1, 30), self.max_delay)
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning(self.down, error=error[:300], retry_in=delay)
        else:
            self.log.debug(self.down + "_again", error=error[:300], failures=self.failures,
                           retry_in=delay)
        return delay

    def recovered(self) -> None:
        """A try succeeded: end the outage, if there was one."""
        if self.since is None:
            return
        self.log.info(self.up, outage_seconds=round(time.monotonic() - self.since, 3),
                      failures=self.failures)
        self.since, self.failures = None, 0
