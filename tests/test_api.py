"""The HTTP contract end to end, through the real app on each store backend."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from tests.shared_data import seeds

Seed = tuple[str, str, dict]


async def drain(client: TestClient) -> None:
    """Wait until every accepted article has been processed (or dead-lettered)."""
    await drained(client.app[QUEUE])


async def post_seed(client: TestClient, path: Path, **extra: object) -> dict:
    body = {"url": f"https://seeds.example/{path.stem}", "text": path.read_text(), **extra}
    response = await client.post("/ingest", json=body)
    assert response.status == 202, await response.text()
    return await response.json()


async def test_five_seeds_become_five_documents(client: TestClient) -> None:
    receipts = [await post_seed(client, path) for path, _ in seeds()]
    await drain(client)
    document_ids = set()
    for receipt in receipts:
        status = await (await client.get(receipt["status_url"])).json()
        assert status["status"] == "done", status
        assert status["match"] == "new"
        document_ids.add(status["document_id"])
    assert len(document_ids) == 5


async def test_repost_returns_same_ingest_id(client: TestClient) -> None:
    path, _ = seeds()[2]
    first = await post_seed(client, path)
    again = await post_seed(client, path)
    assert again["ingest_id"] == first["ingest_id"]
    await drain(client)
    status = await (await client.get(first["status_url"])).json()
    document = await (await client.get(f"/documents/{status['document_id']}")).json()
    assert len(document["provenance"]) == 1


async def test_ndjson_and_batch_bodies(client: TestClient) -> None:
    (a, _), (b, _) = seeds()[0], seeds()[1]
    lines = [{"url": f"https://nd.example/{p.stem}", "text": p.read_text()} for p in (a, b)]
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    response = await client.post("/ingest", data=body,
                                  headers={"Content-Type": "application/x-ndjson"})
    assert response.status == 202
    receipts = (await response.json())["receipts"]
    assert len(receipts) == 2
    # The same two as a JSON batch are re-posts: same ids, in order.
    again = await client.post("/ingest", json={"articles": lines})
    assert [r["ingest_id"] for r in (await again.json())["receipts"]] == [
        r["ingest_id"] for r in receipts]
    await drain(client)
    for receipt in receipts:
        assert (await (await client.get(receipt["status_url"])).json())["status"] == "done"
