"""The fallback load generator (when wrk is missing): N aiohttp connections for a bounded
time, each body unique, latency percentiles computed from every request. Prints one
`BENCH_JSON {...}` line with wrk's fields (see load.py).

    python -m bench.loadgen --url http://127.0.0.1:8080/ingest --batch 1 --seconds 3 \
        --templates templates.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import aiohttp

from bench.service import AUTH_HEADERS


def body(run: str, number: int, batch: int, templates: list[str]) -> bytes:
    """The same bodies the wrk script makes: a unique URL and a unique first line."""

    def article(key: str, k: int) -> str:
        return (f'{{"url":"https://load.example/{key}","text":"Ref {key}\\n\\n'
                f'{templates[k % len(templates)]}"}}')

    key = f"{run}-{number}"
    if batch == 1:
        return article(key, number).encode()
    parts = ",".join(article(f"{key}-{j}", number + j) for j in range(1, batch + 1))
    return f'{{"articles":[{parts}]}}'.encode()


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


async def generate(url: str, batch: int, connections: int, seconds: float,
                   templates: list[str]) -> dict[str, float]:
    run, counter = uuid.uuid4().hex[:10], iter(range(1 << 62))
    latencies: list[float] = []
    status_errors = socket_errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json", **AUTH_HEADERS}

    async def one_connection(session: aiohttp.ClientSession) -> None:
        nonlocal status_errors, socket_errors
        while time.perf_counter() < deadline:
            data = body(run, next(counter), batch, templates) if batch else None
            started = time.perf_counter()
            try:
                if data is None:
                    response = await session.get(url)
                else:
                    response = await session.post(url, data=data, headers=headers)
                async with response:
                    await response.read()
                    if response.status >= 400:
                        status_errors += 1
            except aiohttp.ClientError:
                socket_errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, headers=AUTH_HEADERS) as session:
        await asyncio.gather(*(one_connection(session) for _ in range(connections)))
    duration = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "duration_s": duration, "status_errors": status_errors,
            "socket_errors": socket_errors, "p50_ms": 1000 * percentile(latencies, 0.50),
            "p99_ms": 1000 * percentile(latencies, 0.99),
            "mean_ms": 1000 * sum(latencies) / max(1, len(latencies))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--batch", type=int, default=1, help="0: GET; 1: one article; N: N")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--templates", required=True)
    args = parser.parse_args()
    with open(args.templates, encoding="utf-8") as handle:
        templates = [line.rstrip("\n") for line in handle if line.strip()]
    stats = asyncio.run(generate(args.url, args.batch, args.connections, args.seconds,
                                 templates))
    print("BENCH_JSON " + json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
