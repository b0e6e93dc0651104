"""POST /ingest under load: 64 connections from another process, bounded in time, loopback.

The generator is `wrk` (installed with apt-get when missing and we are root), driven by a Lua
script that makes every request body unique: ingest ids hash (url, content), so identical
bodies would only be deduplicated. Without wrk, `bench/loadgen.py` (aiohttp) runs in a
subprocess instead. Both print one `BENCH_JSON {...}` line with the same fields.

Peers: single-article POSTs beside `GET /healthz` on the same server with the same generator
(the HTTP floor: what the framework costs with no work at all); batches of 100 beside the
single-article figure in articles/s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.corpus import Article
from bench.service import AUTH_HEADERS, service_env, serving

CONNECTIONS = 64
MARKER = "BENCH_JSON "
TEMPLATES = 50  # distinct article texts the bodies are made from
# A batch of 100 at 64 connections waits seconds for its first answer: a shorter run would
# count almost none.
BATCH_MIN_SECONDS = 5.0
DISCARD_GRACE = 3.0  # a server left with a load test's backlog is thrown away, not drained

LUA = r"""
local templates = {}
local thread_count = 0
local counter = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  for line in io.lines(TEMPLATES_FILE) do templates[#templates + 1] = line end
end

local function article(key, k)
  return '{"url":"https://load.example/' .. key .. '","text":"Ref ' .. key .. '\\n\\n'
    .. templates[(k % #templates) + 1] .. '"}'
end

if BATCH > 0 then
  function request()
    counter = counter + 1
    local key = RUN .. "-" .. thread_id .. "-" .. counter
    local body
    if BATCH == 1 then
      body = article(key, counter)
    else
      local parts = {}
      for j = 1, BATCH do parts[j] = article(key .. "-" .. j, counter + j) end
      body = '{"articles":[' .. table.concat(parts, ",") .. ']}'
    end
    return wrk.format("POST", "/ingest", {["Content-Type"] = "application/json",
                                          ["Authorization"] = AUTHORIZATION}, body)
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_s": %.6f, "status_errors": %d, "socket_errors": %d,'
    .. ' "p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def ensure_wrk() -> str | None:
    """wrk's path; installed from Debian when missing and we may (root), else None."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0:
        return found
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return None
    return shutil.which("wrk")


def write_templates(articles: Sequence[Article], directory: Path) -> Path:
    """One JSON-escaped article text a line (escaped, so a line holds a whole text)."""
    texts = [a.text for a in articles if a.text][:TEMPLATES]
    path = directory / "templates.txt"
    path.write_text("".join(json.dumps(t, ensure_ascii=False)[1:-1] + "\n" for t in texts),
                    encoding="utf-8")
    return path


def _lua(directory: Path, templates: Path, batch: int) -> Path:
    header = (f"TEMPLATES_FILE = {json.dumps(str(templates))}\nBATCH = {batch}\n"
              f"RUN = {json.dumps(uuid.uuid4().hex[:10])}\n"
              f"AUTHORIZATION = {json.dumps(AUTH_HEADERS['Authorization'])}\n")
    path = directory / f"load-{batch}.lua"
    path.write_text(header + LUA, encoding="utf-8")
    return path


def _parse(output: str, generator: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(MARKER):
            stats = json.loads(line[len(MARKER):])
            ok = stats["requests"] - stats["status_errors"]
            return {**stats, "ok_requests": ok, "req_per_s": ok / stats["duration_s"],
                    "generator": generator}
    raise RuntimeError(f"{generator} printed no result:\n{output[-2000:]}")


def run_generator(url: str, path: str, batch: int, seconds: float, templates: Path,
                  directory: Path, wrk: str | None) -> dict[str, Any]:
    """One bounded run: batch 0 is GET `path`, 1 single-article bodies, N batches of N."""
    if wrk:
        command = [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
                   "--timeout", "30s", "-s", str(_lua(directory, templates, batch)), url + path]
        generator = "wrk"
    else:
        command = [sys.executable, "-m", "bench.loadgen", "--url", url + path, "--batch",
                   str(batch), "--connections", str(CONNECTIONS), "--seconds", str(seconds),
                   "--templates", str(templates)]
        generator = "asyncio (bench/loadgen.py)"
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120,
                          cwd=Path(__file__).resolve().parents[1], check=False)
    return {**_parse(done.stdout, generator), "seconds_requested": seconds}


async def load_figures(articles: Sequence[Article], seconds: float) -> dict[str, Any]:
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="canonry-bench-load-") as name:
        directory = Path(name)
        templates = write_templates(articles, directory)
        # Each ingest run starts on an empty server: a backlog left by one run would slow
        # the next. GET /healthz leaves none, so it shares the single-article run's server.
        single_dir, batch_dir = directory / "single", directory / "batch"
        single_dir.mkdir()
        batch_dir.mkdir()
        async with serving(single_dir, service_env(
                f"sqlite+aiosqlite:///{single_dir}/bench.db"), stop_grace=DISCARD_GRACE) as server:
            floor = run_generator(server.base_url, "/healthz", 0, seconds, templates,
                                  directory, wrk)
            single = run_generator(server.base_url, "/ingest", 1, seconds, templates,
                                   directory, wrk)
        async with serving(batch_dir, service_env(
                f"sqlite+aiosqlite:///{batch_dir}/bench.db"), stop_grace=DISCARD_GRACE) as server:
            batch = run_generator(server.base_url, "/ingest", 100,
                                  max(seconds, BATCH_MIN_SECONDS), templates,
                                  directory, wrk)
    batch["articles_per_s"] = batch["req_per_s"] * 100
    single["articles_per_s"] = single["req_per_s"]
    return {
        "ingest_single": {"value": single["req_per_s"], "unit": "req/s", **single,
                          "peer": {"name": "GET /healthz (same server, same generator)",
                                   "value": floor["req_per_s"], "unit": "req/s", **floor}},
        "ingest_batch100": {"value": batch["articles_per_s"], "unit": "articles/s", **batch,
                            "peer": {"name": "single-article POST /ingest",
                                     "value": single["articles_per_s"], "unit": "articles/s"}},
    }
