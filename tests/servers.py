"""Real PostgreSQL and Redis for the suite.

The suite reads CANONRY_TEST_DATABASE_URL and CANONRY_TEST_REDIS_URL (defaulting to the
machine's servers on 127.0.0.1). Where nothing answers, it starts a throwaway server from the
machine's binaries (initdb + pg_ctl, redis-server) in a temporary directory; where that is
impossible too, it stops the run with a message saying so. It never skips silently.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port),
                                      timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@dataclass
class Throwaways:
    """Servers this test run started itself; stopped at the end of the session."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="canonry-")))
    stops: list[list[str]] = field(default_factory=list)

    def postgres(self) -> str:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not (initdb and pg_ctl):
            pytest.exit("PostgreSQL does not answer at CANONRY_TEST_DATABASE_URL and no initdb/"
                        "pg_ctl binaries were found to start a throwaway one", returncode=3)
        data, port = self.directory / "pg", free_port()
        user = ["-U", "postgres"]
        run_as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.directory, "postgres")
            run_as = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", *user],
                       check=True, capture_output=True)
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                        f"-p {port} -k {self.directory} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
        self.stops.append([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"])
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"

    def redis(self) -> str:
        binary = shutil.which("redis-server")
        if not binary:
            pytest.exit("Redis does not answer at CANONRY_TEST_REDIS_URL and no redis-server "
                        "binary was found to start a throwaway one", returncode=3)
        port = free_port()
        subprocess.run([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--daemonize", "yes",
                        "--dir", str(self.directory),
                        "--pidfile", str(self.directory / "redis.pid")], check=True)
        self.stops.append(["redis-cli", "-p", str(port), "shutdown", "nosave"])
        return f"redis://127.0.0.1:{port}/0"

    def stop_all(self) -> None:
        for command in self.stops:
            subprocess.run(command, capture_output=True, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def database_url(throwaways: Throwaways) -> str:
    url = os.environ.get("CANONRY_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    return url if _answers(url, 5432) else throwaways.postgres()


def redis_url(throwaways: Throwaways) -> str:
    url = os.environ.get("CANONRY_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    return url if _answers(url, 6379) else throwaways.redis()


async def create_database(admin_url: str, name: str) -> str:
    """A fresh database for one test; returns its URL."""
    import asyncpg

    parts = urlsplit(admin_url.replace("postgresql+asyncpg", "postgresql"))
    conn = await asyncpg.connect(parts.geturl())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()



async def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key a test created under its own prefix."""
    from redis.asyncio import Redis

    from canonry.workers.adapters.redis.keys import RedisKeys

    client = Redis.from_url(url)
    try:
        batch = [key async for key in client.scan_iter(match=RedisKeys(prefix).pattern, count=1000)]
        for start in range(0, len(batch), 1000):
            await client.delete(*batch[start:start + 1000])
    finally:
        await client.aclose()


# The suite's API key: every scope, so tests of other features are not about authentication.
# tests/test_auth.py builds its own keys.
TEST_API_KEY = "canonry-test-key-all-scopes"
TEST_API_KEYS = f"{TEST_API_KEY}=ingest+read+admin"
AUTH_HEADERS = {"Authorization": f"Bearer {TEST_API_KEY}"}


def api_client(app: web.Application) -> TestClient:
    """The aiohttp test client of `app`, sending the suite's API key."""
    return TestClient(TestServer(app), headers=AUTH_HEADERS)


class PrivateRedis:
    """A redis-server of one test's own, which the test may kill and start again: without
    persistence it comes back empty, as a Redis without a volume does. Only this server is
    ever killed (never the suite's shared one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.process is None, "already running"
        self.process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.directory), stdout=asyncio.subprocess.PIPE)
        assert self.process.stdout is not None
        while b"Ready to accept connections" not in await self.process.stdout.readline():
            assert self.process.returncode is None, "redis-server did not start"
        # Nobody reads its log from here on; let it go to a drain so the pipe never fills.
        self._drain = asyncio.create_task(self._discard(self.process.stdout))

    async def kill(self) -> None:
        """SIGKILL: gone at once, with everything it held."""
        if self.process is None:
            return
        self.process.kill()
        await self.process.wait()
        await self._drain
        self.process = None

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.read(65536):
            pass


class TcpProxy:
    """A TCP forwarder in front of a real server that a test can cut (every connection
    closed, new ones refused) and restore: an outage of that server as its clients see it,
    without stopping a server other tests and engineers share."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)
        self._writers.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def wait_until_serving(url: str, process: asyncio.subprocess.Process,
                             attempts: int = 600) -> None:
    """Poll `url` (a child process's port: no event to await) until it answers 200, failing
    at once if the process exits first."""
    async with aiohttp.ClientSession() as session:
        for _ in range(attempts):
            assert process.returncode is None, "the server process exited early"
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200")


@asynccontextmanager
async def embedded_serve(database: Path, cpu_workers: int, ready_path: str = "/readyz"
                         ) -> AsyncIterator[str]:
    """A real `canonry serve` on the embedded default (SQLite at `database`), in a child
    process on a free port, with no CANONRY_ setting of ours leaking in: its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANONRY_")}
    env.update(CANONRY_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
               CANONRY_LOG_LEVEL="warning", CANONRY_CPU_WORKERS=str(cpu_workers))
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "serve", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(f"{base}{ready_path}", server)
        yield base
    finally:
        server.terminate()
        await server.wait()
