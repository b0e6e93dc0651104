"""`/docs` renders the spec in a real headless browser (Chromium), from the packaged Swagger UI:
every documented route shows up as an operation. Chromium comes from tests/browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from canonry.service.routes import ROUTES
from tests.browser import Browser
from tests.servers import embedded_serve

pytestmark = pytest.mark.slow


async def test_docs_renders_every_route_in_a_headless_browser(tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    async with embedded_serve(tmp_path / "docs.db", cpu_workers=0, ready_path="/") as base:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/") as response:
            assert (await response.json())["docs"] == "/docs"
        dom = await browser.dom(f"{base}/docs", "--virtual-time-budget=20000")
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert rendered >= {route.path for route in ROUTES}, sorted(rendered)
    assert "Canonry" in dom
