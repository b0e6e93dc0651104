"""Boilerplate learned from the corpus, through the running service: a source's repeated
promo paragraph disappears once the source has shown it on enough pages, `canonry reclean`
removes it from the documents stored before, and a wire paragraph carried by many sites
survives."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.operations import reclean
from canonry.service.worker_process import drained
from tests import synthetic

PROMO = ("The Valley Courier relies on readers like you, and every contribution helps our "
         "reporters keep covering the towns and farms of the valley.")
WIRE = ("The agency said in a statement on Monday that talks between the two delegations would "
        "resume in Geneva next week, after a pause of almost three months.")


def page(number: int) -> str:
    paragraphs = synthetic.story(1000 + number).split("\n\n")
    return "\n\n".join([*paragraphs[:3], PROMO, *paragraphs[3:]])


async def document_text(client: TestClient, url: str) -> tuple[str, int]:
    found = await (await client.get("/lookup", params={"url": url})).json()
    document = await (await client.get(f"/documents/{found['document_id']}")).json()
    return document["text"], document["version"]


async def test_repeated_promo_is_learned_and_recleaned(
    client: TestClient, settings: Settings
) -> None:
    pages = 26
    articles = [{"url": f"https://courier.example/{n}", "text": page(n),
                 "source": "The Valley Courier"} for n in range(pages)]
    for article in articles:  # one at a time: each page learns from the ones before
        assert (await client.post("/ingest", json=article)).status == 202
        await drained(client.app[QUEUE])

    first, first_version = await document_text(client, articles[0]["url"])
    last, _ = await document_text(client, articles[-1]["url"])
    assert PROMO in first  # the first page had no evidence against its own paragraph
    assert PROMO not in last
    assert "Valley" in last or len(last) > 500  # the story itself is still there

    seen, changed = await reclean(settings, "The Valley Courier")
    assert seen == pages and changed > 0
    recleaned, version = await document_text(client, articles[0]["url"])
    assert PROMO not in recleaned and version == first_version + 1
    assert recleaned in first.replace("\n\n" + PROMO, "")  # nothing else was lost


async def test_wire_paragraph_across_sources_survives(client: TestClient) -> None:
    for n in range(8):
        body = synthetic.story(2000 + n).split("\n\n")
        article = {"url": f"https://site{n}.example/story", "source": f"site{n}",
                   "text": "\n\n".join([*body[:2], WIRE, *body[2:]])}
        assert (await client.post("/ingest", json=article)).status == 202
        await drained(client.app[QUEUE])
    text, _ = await document_text(client, "https://site7.example/story")
    assert WIRE in text
