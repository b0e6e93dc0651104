"""The HTTP edges (service/http.py) over a real socket, against the server `canonry serve`
runs: aiohttp's own parser errors as Problem Details, idle, half-sent and slow clients closed,
a client vanishing mid-body logged at info without a traceback. On the embedded default and on
PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.http import runner
from tests.servers import TEST_API_KEY, free_port

DEADLINE = 60.0  # only bounds a hung test; nothing here measures time


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[tuple[str, int]]:
    """`canonry serve`'s server (CanonryRunner) on a free loopback port, with short idle and
    read timeouts so the tests need not wait long for them."""
    settings = dataclasses.replace(settings, keepalive_seconds=0.5, read_timeout_seconds=0.5,
                                   port=free_port())
    app_runner = runner(create_app(settings), settings)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", settings.port)
    await site.start()
    try:
        yield "127.0.0.1", settings.port
    finally:
        await app_runner.cleanup()


async def exchange(address: tuple[str, int], data: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes; the response head and body, read until the server closes."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), DEADLINE)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def assert_problem(head: bytes, body: bytes, status: int) -> dict:
    assert head.split(b" ")[1] == str(status).encode(), head
    assert b"content-type: application/problem+json" in head.lower(), head
    problem = json.loads(body)
    assert problem["status"] == status
    return problem


async def test_a_request_line_past_the_limit_is_a_problem_document(
    server: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = "/documents?after=" + "9" * 9000
    head, body = await exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    problem = assert_problem(head, body, 400)
    assert "999" not in problem["detail"]  # the client's bytes are not echoed back
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # not our error


async def test_a_malformed_method_or_header_is_a_problem_document(
    server: tuple[str, int]
) -> None:
    head, body = await exchange(server, b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_problem(head, body, 400)
    head, body = await exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert_problem(head, body, 400)
    head, body = await exchange(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(b"4") and b"problem+json" in head, head


async def test_idle_and_half_sent_connections_are_closed(server: tuple[str, int]) -> None:
    # Precondition: a served request leaves the connection open (keep-alive) ...
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)).startswith(
        b"HTTP/1.1 200")
    assert not reader.at_eof()
    # ... until it has been idle for the keep-alive time.
    await asyncio.wait_for(reader.read(), DEADLINE)
    assert reader.at_eof()
    writer.close()
    # A connection that never finishes its request head is closed the same way.
    head, body = await exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert head == b"" and body == b""


async def test_a_body_slower_than_the_read_timeout_is_408_and_closed(
    server: tuple[str, int]
) -> None:
    head, body = await exchange(server, (
        "POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TEST_API_KEY}\r\nContent-Length: 1000\r\n\r\n"
        '{"url": "https://example.org/slow", ').encode())
    problem = assert_problem(head, body, 408)
    assert problem["type"].endswith("/request-timeout")
    assert b"connection: close" in head.lower()


async def test_a_client_vanishing_mid_body_is_logged_at_info_without_traceback(
    server: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with capture_logs() as logs:
        for _ in range(5):
            _, writer = await asyncio.open_connection(*server)
            writer.write((
                "POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {TEST_API_KEY}\r\nContent-Length: 100000\r\n\r\n"
                '{"url": "https://example.org/gone", "text": "').encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def all_logged() -> None:
            while sum(e["event"] == "client_disconnected" for e in logs) < 5:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        await asyncio.wait_for(all_logged(), DEADLINE)
    assert all(e["log_level"] == "info" for e in logs if e["event"] == "client_disconnected")
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
