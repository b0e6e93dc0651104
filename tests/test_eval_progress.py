"""`canonry eval` progress: a bar on a terminal, plain lines in a log, nothing when off; the
report on standard output stays the same."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from canonry.workers.eval import progress as progress_module
from canonry.workers.eval.progress import configure, progress
from tests.shared_data import shared_dir

ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def decide_by_terminal() -> Iterator[None]:
    configure(None)
    yield
    configure(None)


def test_plain_lines_outside_a_terminal() -> None:
    out = io.StringIO()
    assert list(progress(range(3), "eval x", 3, out=out, every=0.0)) == [0, 1, 2]
    lines = out.getvalue().splitlines()
    assert [line.split(" pages")[0] for line in lines] == [
        "eval x: 1 of 3", "eval x: 2 of 3", "eval x: 3 of 3", "eval x: 3"]
    assert lines[-1].startswith("eval x: 3 pages in ")


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    assert list(progress(range(5), "eval x", 5, out=out)) == list(range(5))
    assert "eval x" in out.getvalue() and "5/5" in out.getvalue()


def test_off_means_silent() -> None:
    configure(False)
    out = Terminal()
    assert list(progress(range(5), "eval x", out=out, every=0.0)) == list(range(5))
    assert out.getvalue() == ""
    assert progress_module._enabled is False


def test_the_command_reports_progress_on_stderr_only() -> None:
    seeds = shared_dir() / "seeds"
    canonry = Path(sys.executable).with_name("canonry")
    runs = [subprocess.run([str(canonry), "eval", "oneblock", *flags, str(seeds)],
                           capture_output=True, text=True, check=True, cwd=ROOT)
            for flags in ([], ["--no-progress"])]
    assert runs[0].stdout == runs[1].stdout and "seeds" in runs[0].stdout
    assert "eval oneblock seeds: 5 pages in" in runs[0].stderr
    assert "eval oneblock" not in runs[1].stderr
