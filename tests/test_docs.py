"""The docs stay honest: every setting is in the README, every route in /openapi.json, the CLI
documents every setting, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp.test_utils import TestClient

from canonry.service.cli import build_parser
from canonry.service.config import SETTINGS
from canonry.service.docs import STATIC_PREFIX

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(CANONRY_\w+)`", README, flags=re.MULTILINE))
    assert documented == {s.env for s in SETTINGS}


def test_cli_help_documents_every_setting() -> None:
    help_text = build_parser().format_help()
    for setting in SETTINGS:
        assert setting.env in help_text


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"```sh\n# test\n(.+?)\n```", README, flags=re.DOTALL)
    assert command, "README lacks the test command block"
    assert command.group(1).strip() in ci


async def test_every_route_is_in_openapi(client: TestClient) -> None:
    spec = await (await client.get("/openapi.json")).json()
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
        and route.resource.canonical != STATIC_PREFIX  # the docs page's own assets
    }
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served == documented
