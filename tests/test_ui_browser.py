"""The story viewer in a real headless Chromium, against a real `canonry serve` holding the
seeds and the syndication dev set (posted through POST /ingest): a story with three or more
copies shows each copy with the similarity the API reports, a copy opens beside the canonical
text, seed 002's stripped view marks its pasted second AFP body as a repeat, and the pages are
photographed at 1280×800 and at a phone's width (kept in tests/artifacts/)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import lxml.html
import pytest

from canonry.workers.clean.blocks import key
from canonry.workers.jsonl import read_jsonl
from tests.browser import Browser, png_size
from tests.servers import embedded_serve
from tests.shared_data import seeds, shared_dir

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FIELDS = ("url", "text", "html", "title", "published_at", "source", "language")
DESKTOP, PHONE = (1280, 800), (390, 844)


def classed(node: lxml.html.HtmlElement, name: str, tag: str = "*"
            ) -> list[lxml.html.HtmlElement]:
    return node.xpath(f".//{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]")


def cell(node: lxml.html.HtmlElement, name: str) -> str:
    [found] = classed(node, name)
    return found.text_content()


async def ingest_all(session: aiohttp.ClientSession, base: str, articles: list[dict]
                     ) -> list[dict]:
    """Post the articles in batches, then poll each ingest until it is done or failed."""
    receipts = []
    for start in range(0, len(articles), 100):
        async with session.post(f"{base}/ingest",
                                json={"articles": articles[start:start + 100]}) as response:
            assert response.status == 202, await response.text()
            receipts += (await response.json())["receipts"]
    statuses: dict[str, dict] = {}
    async with asyncio.timeout(600):
        while len(statuses) < len(receipts):
            for receipt in receipts:
                if receipt["ingest_id"] in statuses:
                    continue
                async with session.get(f"{base}{receipt['status_url']}") as response:
                    status = await response.json()
                if status["status"] in ("done", "failed"):
                    statuses[receipt["ingest_id"]] = status
            if len(statuses) < len(receipts):
                await asyncio.sleep(0.5)  # the worker is still at it: poll again
    return [statuses[r["ingest_id"]] for r in receipts]


async def test_the_story_viewer_in_a_headless_browser(tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    rows = list(read_jsonl(shared_dir() / "data" / "syndication-dev.jsonl.gz"))
    articles = [{k: v for k, v in row.items() if k in FIELDS} for row in rows]
    seed_labels = seeds()
    articles += [{"url": f"https://seeds.example/{path.stem}", "text": path.read_text()}
                 for path, _ in seed_labels]

    async with embedded_serve(tmp_path / "viewer.db", cpu_workers=2) as base:
        async with aiohttp.ClientSession() as session:
            statuses = await ingest_all(session, base, articles)
            assert sum(s["status"] == "done" for s in statuses) > 300
            async with session.get(f"{base}/documents", params={"limit": "1000"}) as response:
                feed = (await response.json())["documents"]
            story_id = max(feed, key=lambda d: (d["provenance_count"], d["id"]))["id"]
            async with session.get(f"{base}/documents/{story_id}") as response:
                story = await response.json()
        assert story["provenance_count"] >= 3

        # `/` sends a browser to the viewer; the story list links to the story.
        listing = lxml.html.document_fromstring(await browser.dom(f"{base}/"))
        assert listing.findtext(".//h1") == "Stories"
        assert listing.xpath(f"//a[@href='/ui/stories/{story_id}']")

        # The story: every copy, with the API's match and similarity, and exact figures.
        page = lxml.html.document_fromstring(await browser.dom(f"{base}/ui/stories/{story_id}"))
        assert page.findtext(".//h1") == (story["title"] or "(untitled)")
        shown = {tr.get("data-ingest-id"): tr
                 for tr in page.xpath("//table[@id='copies']/tbody/tr")}
        assert set(shown) == {p["ingest_id"] for p in story["provenance"]}
        for copy in story["provenance"]:
            row = shown[copy["ingest_id"]]
            assert cell(row, "match") == copy["match"]
            expected = "—" if copy["similarity"] is None else f"{copy['similarity']:.3f}"
            assert cell(row, "similarity") == expected
            assert copy["source"] in row.text_content()
            assert 0 <= float(cell(row, "jaccard")) <= float(cell(row, "containment")) <= 1
        assert "\n\n".join(p.text_content() for p in classed(page, "prose", "div")[0]
                           .xpath("./p")) == story["text"]

        # A copy beside the canonical: both texts, shared passages left plain.
        near = next(p for p in story["provenance"] if p["match"] == "near"
                    and cell(shown[p["ingest_id"]], "verifies") == "yes")
        compare = lxml.html.document_fromstring(await browser.dom(
            f"{base}/ui/stories/{story_id}/copies/{near['ingest_id']}"))
        left, right = compare.xpath("//div[@class='compare']/section")
        for side in (left, right):
            text = side.text_content()
            marked = sum(len(m.text_content()) for m in side.xpath("./p/mark"))
            assert marked < 0.5 * len(text)  # a copy that verifies is mostly the shared story

        # Seed 002: its AFP body is pasted twice; the second paste is marked a repeat.
        seed_002 = statuses[len(rows) + 2]
        label = seed_labels[2][1]
        stripped = lxml.html.document_fromstring(await browser.dom(
            f"{base}/ui/ingests/{seed_002['ingest_id']}/stripped"))
        lines = stripped.xpath("//ol[@id='lines']/li")
        repeated = {key(cell(li, "text")) for li in lines if li.get("data-verdict") == "repeat"}
        assert all("removed: repeat" in li.text_content() for li in lines
                   if li.get("data-verdict") == "repeat")
        body = [key(p) for p in label["expected_body"].split("\n\n") if p.strip()]
        assert sum(p in repeated for p in body) >= 0.8 * len(body)
        kept = [cell(li, "text") for li in lines if li.get("data-verdict") == "kept"]
        assert [key(p) for p in kept] == body or len(kept) >= 0.8 * len(body)

        shots = {
            "story-1280x800": (f"/ui/stories/{story_id}", DESKTOP),
            "story-phone": (f"/ui/stories/{story_id}", PHONE),
            "compare-1280x800": (f"/ui/stories/{story_id}/copies/{near['ingest_id']}", DESKTOP),
            "compare-phone": (f"/ui/stories/{story_id}/copies/{near['ingest_id']}", PHONE),
            "stripped-002-1280x800": (f"/ui/ingests/{seed_002['ingest_id']}/stripped",
                                      DESKTOP),
            "stripped-002-phone": (f"/ui/ingests/{seed_002['ingest_id']}/stripped", PHONE),
        }
        for name, (path, (width, height)) in shots.items():
            shot = await browser.screenshot(f"{base}{path}", ARTIFACTS / f"ui-{name}.png",
                                            width, height)
            assert png_size(shot) == (width, height), name
