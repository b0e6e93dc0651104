"""A real headless browser for the suite: Debian's Chromium, driven from its command line
(`--dump-dom`, `--screenshot`), with no browser download and no driver. Installed from Debian
when missing and we may (root); otherwise the test fails saying so, it never skips."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

# Per page: start, load, render, exit. Far above the few seconds it takes.
RENDER_TIMEOUT = 180


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(command, check=False, env=env, capture_output=True, timeout=900)
    found = shutil.which("chromium")
    assert found, "no Chromium here and it could not be installed (apt-get install chromium)"
    return found


class Browser:
    """One Chromium profile (a directory of its own); each call is one headless run."""

    def __init__(self, profile: Path) -> None:
        self.binary = chromium()
        self.profile = profile

    async def _run(self, *args: str) -> bytes:
        process = await asyncio.create_subprocess_exec(
            self.binary, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={self.profile}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            out, _ = await asyncio.wait_for(process.communicate(), RENDER_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode == 0, f"chromium exited with {process.returncode}"
        return out

    async def dom(self, url: str, *args: str) -> str:
        """The page's DOM once loaded (after its scripts, when it has any)."""
        return (await self._run(*args, "--dump-dom", url)).decode()

    async def screenshot(self, url: str, path: Path, width: int, height: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        await self._run(f"--window-size={width},{height}", f"--screenshot={path}", url)
        assert path.is_file(), f"no screenshot of {url}"
        return path


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
