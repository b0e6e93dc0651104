"""One writer per embedded database: beside a running embedded `canonry serve`, `canonry
backfill` and `canonry worker --burst` on the same SQLite file refuse to start (each would keep
an index of its own, and copies would become second documents); once the server is gone —
even killed — they run. Real processes, a real server on a free port."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from canonry.service.backends import embedded_database_file, writer_lock
from canonry.service.config import Settings
from tests.servers import free_port

ARTICLE = {"url": "https://example.org/story", "text": (
    "A sentence long enough to be an article body survives cleaning. It has two sentences, "
    "and a third one too, for good measure.")}
WAIT = 60.0  # bound on every wait below; a healthy run takes about a second per step


def wait_for(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)  # polling interval of a bounded wait, not a stand-in for one
    raise AssertionError(f"gave up waiting for {what}")


def environment(database: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANONRY_")}
    return {**env, "CANONRY_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "CANONRY_HOST": "127.0.0.1", "CANONRY_PORT": str(port), "CANONRY_CPU_WORKERS": "0"}


def canonry(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "canonry.service.cli", *args], env=env,
                          capture_output=True, text=True, timeout=WAIT)


def http(port: int, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def healthy(port: int) -> bool:
    try:
        return http(port, "/healthz")[0] == 200
    except OSError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str], Path]]:
    database, port = tmp_path / "canonry.db", free_port()
    env = environment(database, port)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "canonry.service.cli", "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: healthy(port) or process.poll() is not None, "the server")
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        yield process, env, database
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WAIT)
        log.close()


def test_a_second_writer_is_refused_while_the_server_runs(
    server: tuple[subprocess.Popen[bytes], dict[str, str], Path], tmp_path: Path
) -> None:
    process, env, database = server
    port = int(env["CANONRY_PORT"])
    archive = tmp_path / "archive.jsonl"
    archive.write_text(json.dumps({**ARTICLE, "url": "https://archive.example/story"}) + "\n")

    for args in (("backfill", str(archive)), ("worker", "--burst")):
        refused = canonry(env, *args)
        assert refused.returncode != 0, refused
        message = refused.stderr.strip().splitlines()[-1]
        assert str(database) in message and "POST /ingest" in message, refused.stderr
        assert "canonry serve" in message and f"pid {process.pid}" in message, message
        # Precondition: it was refused because the server was there, alive and serving.
        assert process.poll() is None and healthy(port)

    # A read-only look is no second writer: it runs beside the server.
    listed = canonry(env, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert process.poll() is None

    # The server still works: the story posted to it is processed.
    status, receipt = http(port, "/ingest", ARTICLE)
    assert status == 202
    done = wait_for(lambda: http(port, f"/ingest/{receipt['ingest_id']}")[1]["status"]
                    in ("done", "failed"), "the ingest")
    assert done and http(port, f"/ingest/{receipt['ingest_id']}")[1]["status"] == "done"

    # Killed, not stopped: the kernel releases the lock with the process.
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=WAIT)
    finished = canonry(env, "backfill", str(archive))
    assert finished.returncode == 0, finished.stderr
    # One writer saw both: the archive's copy joined the server's story instead of doubling it.
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone() == (1,)
        assert conn.execute("SELECT status, count(*) FROM ingests GROUP BY status"
                            ).fetchall() == [("done", 2)]


def test_only_embedded_sqlite_files_are_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def file_of(database_url: str, redis_url: str | None = None) -> Path | None:
        return embedded_database_file(Settings.from_env({}, database_url=database_url,
                                                        redis_url=redis_url))

    monkeypatch.chdir(tmp_path)  # a relative path is the file SQLite opens: resolved from the cwd
    assert file_of("sqlite+aiosqlite:///./c.db") == tmp_path / "c.db"
    assert file_of("sqlite+aiosqlite:///:memory:") is None
    assert file_of("sqlite+aiosqlite://") is None
    assert file_of("postgresql+asyncpg://postgres@127.0.0.1:5432/test") is None
    # A shared Redis queue and index keep several processes consistent: no lock.
    assert file_of("sqlite+aiosqlite:///./c.db", "redis://127.0.0.1:6379/0") is None


def test_one_process_may_open_its_own_database_again(tmp_path: Path) -> None:
    """An operator command run in-process beside the app (as the tests do) shares the lock;
    the lock is released when the last opener closes."""
    database = tmp_path / "c.db"
    probe = [sys.executable, "-c", (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError: sys.exit(3)"), str(tmp_path / "c.db.lock")]
    with writer_lock(database):
        with writer_lock(database):
            pass
        assert subprocess.run(probe, timeout=WAIT).returncode == 3  # still held
    assert subprocess.run(probe, timeout=WAIT).returncode == 0  # released
