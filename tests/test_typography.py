"""Text as the publisher wrote it (issue 9): the stored text and title keep their characters,
while everything that compares text (cleaning rules, fingerprint, matching) compares the
normalised form, so a copy that differs only in typography is still the same text."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract
from canonry.workers.dedup.fingerprint import fingerprint

TITLE = "Water’s “H₂O” test – a ½ measure…"
PARAGRAPHS = [
    "The council’s new report, published on Tuesday, says the lake covers 12\u00a0km² and that "
    "“the water is as clean as it has been in a decade” — a claim the opposition disputes.",
    "Officials said the samples were taken between March and June – at six points along the "
    "shore – and that each one held less than ½ a gram of sediment per litre of H₂O.",
    "A sign at the visitor centre reads “欢迎，朋友” in Chinese, and the guides say that most "
    "of the people who come to the lake in summer are families from the nearby towns…",
    "“We have waited years for this,” said one resident, who asked not to be named. “It’s the "
    "first time the figures have been published in full, and we want to know what they mean.”",
]
TEXT = "\n\n".join(PARAGRAPHS)
KEPT = ["’", "“", "”", "–", "—", "…", "\u00a0", "km²", "½", "H₂O", "，"]


def ascii_copy(text: str) -> str:
    """The same text with straight quotes, hyphens and three dots, as a syndicator retypes it."""
    table = str.maketrans({"’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
    return text.translate(table).replace("…", "...")


def test_extract_keeps_the_characters() -> None:
    out = extract(RawArticle(url="https://lake.example/report", text=TEXT, title=TITLE))
    assert out.text == TEXT
    assert out.title == TITLE
    assert all(c in out.text for c in KEPT)


def test_fingerprint_ignores_typography() -> None:
    assert fingerprint(ascii_copy(TEXT)) == fingerprint(TEXT)


async def test_api_keeps_characters_and_matches_ascii_copy(client: TestClient) -> None:
    first = await client.post("/ingest", json={
        "url": "https://lake.example/report", "text": TEXT, "title": TITLE})
    assert first.status == 202, await first.text()
    await drained(client.app[QUEUE])
    copy = await client.post("/ingest", json={
        "url": "https://other.example/lake", "text": ascii_copy(TEXT),
        "title": ascii_copy(TITLE)})
    assert copy.status == 202, await copy.text()
    await drained(client.app[QUEUE])
    original = await (await client.get((await first.json())["status_url"])).json()
    copied = await (await client.get((await copy.json())["status_url"])).json()
    assert original["status"] == copied["status"] == "done"
    assert original["match"] == "new"
    assert copied["match"] == "exact"
    assert copied["document_id"] == original["document_id"]
    document = await (await client.get(f"/documents/{original['document_id']}")).json()
    assert document["text"] == TEXT
    assert document["title"] == TITLE
    assert all(c in document["text"] for c in KEPT)
