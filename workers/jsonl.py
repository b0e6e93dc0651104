"""The one JSONL reader: archives for `canonry backfill`, labelled data for the evaluation and
the benchmark. Plain or gzip-compressed (by the `.gz` suffix); blank lines are skipped."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, raw line) of each non-blank line. Undecodable bytes become lone
    surrogates, so one bad line is reported by whoever parses it instead of ending the file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Each line parsed: for trusted files (the labelled data)."""
    for _, line in jsonl_lines(path):
        yield json.loads(line)
