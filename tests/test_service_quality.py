"""What a newcomer checks through the running service: clean seeds, a syndicated copy of seed
002 joining its story, provenance and the change feed."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from canonry.workers.eval.extraction import f1, ngram_prf
from tests import synthetic
from tests.shared_data import seeds


async def ingest_and_wait(client: TestClient, article: dict) -> dict:
    response = await client.post("/ingest", json=article)
    assert response.status == 202, await response.text()
    receipt = await response.json()
    await drained(client.app[QUEUE])
    return await (await client.get(receipt["status_url"])).json()


def curly(text: str) -> str:
    """Typographic quotes, as another site's CMS would render them."""
    text = re.sub(r'"(\w)', "“\\1", text)
    text = text.replace('"', "”")
    return text.replace("'", "’")


def syndicated_copy_of_002() -> str:
    """002's article as another site republishes it: its chrome, curly quotes, last three
    paragraphs cut."""
    label = seeds()[2][1]
    paragraphs = [p for p in label["expected_body"].split("\n\n") if p.strip()][:-3]
    chrome_head = ["Skip to content", "Home | World | Politics | Business", "Subscribe",
                   label["expected_title"], "By Agence France-Presse", "February 11, 2016"]
    chrome_tail = ["Share this:", "Twitter", "Facebook", "Related Posts",
                   "Sign up for our daily newsletter",
                   "© 2016 The Daily Example. All rights reserved."]
    return "\n\n".join(chrome_head + [curly(p) for p in paragraphs] + chrome_tail)


async def test_seed_bodies_through_the_service(client: TestClient) -> None:
    for path, label in seeds():
        status = await ingest_and_wait(
            client, {"url": f"https://seeds.example/{path.stem}", "text": path.read_text()}
        )
        document = await (await client.get(f"/documents/{status['document_id']}")).json()
        score = f1(*ngram_prf(document["text"], label["expected_body"]))
        assert score >= 0.95, (path.name, score)
        assert document["title"] == label["expected_title"]
        paragraphs = [p for p in document["text"].split("\n\n") if p.strip()]
        assert len(paragraphs) == len(set(paragraphs)), f"{path.name}: a paragraph repeats"


async def test_syndicated_copy_joins_the_story(client: TestClient) -> None:
    path = seeds()[2][0]
    original = await ingest_and_wait(
        client, {"url": "https://www.digitaljournal.example/world/russia-ready",
                 "text": path.read_text(), "published_at": "2016-02-11T10:00:00Z"})
    copy = await ingest_and_wait(
        client, {"url": "https://daily.example/2016/02/11/russia-syria-ceasefire",
                 "text": syndicated_copy_of_002(), "source": "The Daily Example"})
    assert copy["status"] == "done", copy
    assert copy["match"] == "near"
    assert copy["document_id"] == original["document_id"]
    assert 0 < copy["similarity"] <= 1

    document = await (await client.get(f"/documents/{original['document_id']}")).json()
    assert [p["match"] for p in document["provenance"]] == ["new", "near"]
    assert {p["source"] for p in document["provenance"]} == {"digitaljournal.example",
                                                             "The Daily Example"}
    assert document["provenance_count"] == 2
    looked_up = await (await client.get(
        "/lookup", params={"url": "https://daily.example/2016/02/11/russia-syria-ceasefire"}
    )).json()
    assert looked_up["document_id"] == original["document_id"]


async def test_change_feed_pages_through_every_document(client: TestClient) -> None:
    for path, _ in seeds():
        await ingest_and_wait(client, {"url": f"https://seeds.example/{path.stem}",
                                       "text": path.read_text()})
    seen: list[str] = []
    cursor = "0"
    while True:
        page = await (await client.get("/documents", params={"after": cursor, "limit": "2"})).json()
        if not page["documents"]:
            break
        seen.extend(d["id"] for d in page["documents"])
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 5
    # Polling from the last cursor returns nothing new, and the same cursor.
    tail = await (await client.get("/documents", params={"after": cursor})).json()
    assert tail == {"documents": [], "next": cursor}


async def test_provenance_pages(client: TestClient) -> None:
    path = seeds()[4][0]
    text = path.read_text()
    first = await ingest_and_wait(client, {"url": "https://a.example/1", "text": text})
    for n in range(2, 6):
        await ingest_and_wait(client, {"url": f"https://a.example/{n}", "text": text})
    doc_id = first["document_id"]
    page = await (await client.get(f"/documents/{doc_id}/provenance", params={"limit": "3"})).json()
    assert len(page["provenance"]) == 3 and page["next"]
    rest = await (await client.get(f"/documents/{doc_id}/provenance",
                                   params={"after": page["next"], "limit": "3"})).json()
    assert len(rest["provenance"]) == 2 and rest["next"] is None
    assert [p["match"] for p in page["provenance"] + rest["provenance"]] == ["new"] + ["exact"] * 4
    summary = await (await client.get(f"/documents/{doc_id}",
                                      params={"provenance_limit": "0"})).json()
    assert summary["provenance"] == [] and summary["provenance_count"] == 5


async def test_similar_finds_the_story(client: TestClient) -> None:
    path = seeds()[2][0]
    status = await ingest_and_wait(client, {"url": "https://a.example/002",
                                            "text": path.read_text()})
    response = await client.post("/similar", json={"text": syndicated_copy_of_002(), "limit": 3})
    assert response.status == 200
    results = (await response.json())["results"]
    assert results[0]["document_id"] == status["document_id"]
    assert results[0]["containment"] > 0.5


async def test_same_url_with_changed_content_is_a_new_version(client: TestClient) -> None:
    url = "https://publisher.example/2024/story"
    paragraphs = synthetic.story(501).split("\n\n")
    first = await ingest_and_wait(client, {"url": url, "text": "\n\n".join(paragraphs)})
    # The publisher rewrites half of the story: too changed to pass as a copy, same URL.
    rewritten = paragraphs[:3] + synthetic.story(502).split("\n\n")[:3]
    update = await ingest_and_wait(client, {"url": url, "text": "\n\n".join(rewritten)})
    assert update["document_id"] == first["document_id"]
    assert update["ingest_id"] != first["ingest_id"]
    document = await (await client.get(f"/documents/{first['document_id']}")).json()
    assert document["version"] == 2
    assert rewritten[-1] in document["text"]

    # A different story at that URL (a recycled slug) is a new document.
    other = await ingest_and_wait(client, {"url": url, "text": synthetic.story(503)})
    assert other["match"] == "new" and other["document_id"] != first["document_id"]


async def test_a_correction_at_the_canonical_url_replaces_the_text(client: TestClient) -> None:
    url = "https://publisher.example/2024/corrected"
    original = synthetic.story(601)
    first = await ingest_and_wait(client, {"url": url, "text": original})
    corrected = original.replace("according to", "as reported by", 1)
    again = await ingest_and_wait(client, {"url": url, "text": corrected})
    assert again["document_id"] == first["document_id"] and again["match"] == "near"
    document = await (await client.get(f"/documents/{first['document_id']}")).json()
    assert document["version"] == 2 and "as reported by" in document["text"]
