"""Quality measured through the running service, as acceptance measures it: every article of a
labelled file posted to a fresh embedded instance, then each document read back over HTTP.

    .venv/bin/python bench/service_eval.py extraction ../shared/data/extraction-dev.jsonl.gz
    .venv/bin/python bench/service_eval.py dedup ../shared/data/syndication-dev.jsonl.gz
    .venv/bin/python bench/service_eval.py seeds ../shared/seeds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from canonry.workers.eval.dedup import adjusted_rand_index, load_articles, pairwise_prf
from canonry.workers.eval.extraction import f1, ngram_prf, read_jsonl

ARTICLE_FIELDS = ("url", "text", "html", "title", "source", "published_at", "language")


async def _client(directory: str) -> TestClient:
    settings = Settings.from_env({}, database_url=f"sqlite+aiosqlite:///{directory}/eval.db",
                                 log_level="warning")
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


async def _post(client: TestClient, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post every row; the receipt (or the 422 problem) of each."""
    results = []
    for row in rows:
        article = {k: row[k] for k in ARTICLE_FIELDS if row.get(k) is not None}
        response = await client.post("/ingest", json=article)
        results.append({**(await response.json()), "http_status": response.status})
    await drained(client.app[QUEUE])
    return results


async def _document(client: TestClient, receipt: dict[str, Any]) -> dict[str, Any] | None:
    if receipt["http_status"] != 202:
        return None
    status = await (await client.get(receipt["status_url"])).json()
    if status["status"] != "done":
        return None
    return await (await client.get(f"/documents/{status['document_id']}")).json()


async def extraction(path: str) -> None:
    rows = list(read_jsonl(path))
    for mode in ("html", "text"):
        subset = [r for r in rows if r["mode"] == mode]
        with tempfile.TemporaryDirectory() as directory:
            client = await _client(directory)
            started = time.perf_counter()
            receipts = await _post(client, subset)
            elapsed = time.perf_counter() - started
            precisions, recalls = [], []
            for row, receipt in zip(subset, receipts, strict=True):
                document = await _document(client, receipt)
                p, r = ngram_prf(document["text"] if document else "", row["expected_body"])
                precisions.append(p)
                recalls.append(r)
            await client.close()
        p, r = sum(precisions) / len(subset), sum(recalls) / len(subset)
        print(f"{mode}: pages {len(subset)}  P {p:.3f}  R {r:.3f}  F1 {f1(p, r):.3f}  "
              f"({len(subset) / elapsed:.1f} pages/s through the service)")


async def dedup(path: str) -> None:
    rows = load_articles(path)
    with tempfile.TemporaryDirectory() as directory:
        client = await _client(directory)
        receipts = await _post(client, rows)
        predicted = []
        for n, receipt in enumerate(receipts):
            document = await _document(client, receipt)
            predicted.append(document["id"] if document else f"rejected-{n}")
        await client.close()
    truth = [row["cluster"] for row in rows]
    p, r, f = pairwise_prf(predicted, truth)[:3]
    print(f"dedup: articles {len(rows)}  documents {len(set(predicted))}  P {p:.3f}  R {r:.3f}"
          f"  F1 {f:.3f}  ARI {adjusted_rand_index(predicted, truth):.3f}")


async def seeds(directory_path: str) -> None:
    directory = Path(directory_path)
    labels = [json.loads(line) for line in (directory / "expected.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        client = await _client(tmp)
        started = time.perf_counter()
        rows = [{"url": f"https://seeds.example/{label['file']}",
                 "text": (directory / label["file"]).read_text()} for label in labels]
        receipts = await _post(client, rows)
        elapsed = time.perf_counter() - started
        for label, receipt in zip(labels, receipts, strict=True):
            document = await _document(client, receipt)
            assert document is not None
            score = f1(*ngram_prf(document["text"], label["expected_body"]))
            print(f"{label['file']}: F1 {score:.3f}  title ok: "
                  f"{document['title'] == label['expected_title']}")
        await client.close()
    print(f"five seeds, POST to done: {elapsed * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["extraction", "dedup", "seeds"])
    parser.add_argument("path")
    args = parser.parse_args()
    asyncio.run({"extraction": extraction, "dedup": dedup, "seeds": seeds}[args.what](args.path))


if __name__ == "__main__":
    sys.exit(main())
