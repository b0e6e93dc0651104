"""List routes stop a page early before its JSON body passes CANONRY_MAX_RESPONSE_BYTES, and
their `next` cursor goes on exactly where the page stopped (conftest's `backend` runs each
test on the embedded default, PostgreSQL, and PostgreSQL + Redis)."""

from __future__ import annotations

import dataclasses
import json

from aiohttp.test_utils import TestClient

from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from tests import synthetic
from tests.servers import api_client

MAX_BYTES = 6000


async def post_all(client: TestClient, articles: list[dict]) -> list[str]:
    """Post, wait until processed; the ingest ids, each done."""
    response = await client.post("/ingest", json={"articles": articles})
    assert response.status == 202, await response.text()
    receipts = (await response.json())["receipts"]
    await drained(client.app[QUEUE])
    for receipt in receipts:
        status = await (await client.get(receipt["status_url"])).json()
        assert status["status"] == "done", status
    return [receipt["ingest_id"] for receipt in receipts]


async def get_page(client: TestClient, path: str) -> tuple[dict, int]:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    body = await response.read()
    return json.loads(body), len(body)


async def test_the_feed_stops_pages_early_and_loses_nothing(settings: Settings) -> None:
    settings = dataclasses.replace(settings, max_response_bytes=MAX_BYTES)
    # Stories of 1 to 6 paragraphs (~0.4-2.6 kB of JSON each), and one past the limit alone.
    articles = [{"url": f"https://feed.example/{n}", "text": synthetic.story(n, 1 + n % 6)}
                for n in range(14)]
    articles.append({"url": "https://feed.example/long", "text": synthetic.story(99, 20)})
    async with api_client(create_app(settings)) as client:
        await post_all(client, articles)
        seen: list[str] = []
        sizes: list[tuple[int, int]] = []  # (documents, bytes) per page
        cursor = "0"
        while True:
            page, size = await get_page(client, f"/documents?after={cursor}&limit=1000")
            if not page["documents"]:
                assert page["next"] == cursor  # nothing newer: the cursor stays
                break
            seen += [document["id"] for document in page["documents"]]
            sizes.append((len(page["documents"]), size))
            cursor = page["next"]
    assert len(seen) == len(articles) and len(set(seen)) == len(seen)  # each exactly once
    for documents, size in sizes:
        assert size <= MAX_BYTES or documents == 1, sizes
    # Preconditions: the whole feed is larger than one page may be, pages held several
    # documents, and the long story was served although it alone passes the limit.
    assert sum(size for _, size in sizes) > 2 * MAX_BYTES
    assert max(documents for documents, _ in sizes) > 1
    assert any(documents == 1 and size > MAX_BYTES for documents, size in sizes), sizes


async def test_provenance_pages_stop_early_and_lose_nothing(settings: Settings) -> None:
    settings = dataclasses.replace(settings, max_response_bytes=2000)
    text = synthetic.story(7)
    # One story at 40 URLs (long ones: ~330 bytes of JSON per copy).
    articles = [{"url": f"https://copy{n}.example/{'path/' * 30}{n}", "text": text}
                for n in range(40)]
    async with api_client(create_app(settings)) as client:
        ingest_ids = await post_all(client, articles)
        receipt = await (await client.get(f"/ingest/{ingest_ids[0]}")).json()
        path = f"/documents/{receipt['document_id']}/provenance?limit=1000"
        seen: list[str] = []
        sizes: list[tuple[int, int]] = []
        page, size = await get_page(client, path)
        while True:
            seen += [copy["ingest_id"] for copy in page["provenance"]]
            sizes.append((len(page["provenance"]), size))
            if page["next"] is None:
                break
            page, size = await get_page(client, f"{path}&after={page['next']}")
    assert sorted(seen) == sorted(ingest_ids) and len(set(seen)) == len(seen)
    assert all(size <= 2000 for _, size in sizes), sizes
    assert len(sizes) > 1 and max(copies for copies, _ in sizes) > 1, sizes
