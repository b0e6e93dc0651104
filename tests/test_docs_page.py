"""`/docs` renders the spec in a real headless browser (Chromium), from the packaged Swagger UI:
every documented route shows up as an operation. Chromium comes from tests/browser.py."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import pytest

from canonry.service.routes import ROUTES
from tests.browser import chromium
from tests.servers import free_port, wait_until_serving

pytestmark = pytest.mark.slow


async def test_docs_renders_every_route_in_a_headless_browser(tmp_path: Path) -> None:
    browser = chromium()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANONRY_")}
    env.update(CANONRY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/docs.db",
               CANONRY_LOG_LEVEL="warning", CANONRY_CPU_WORKERS="0")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "serve", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(f"{base}/", server)
        async with aiohttp.ClientSession() as session, session.get(f"{base}/") as response:
            assert (await response.json())["docs"] == "/docs"
        rendering = await asyncio.create_subprocess_exec(
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000",
            "--dump-dom", f"{base}/docs",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        dom = (await asyncio.wait_for(rendering.communicate(), 180))[0].decode()
    finally:
        server.terminate()
        await server.wait()
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert rendered >= {route.path for route in ROUTES}, sorted(rendered)
    assert "Canonry" in dom
