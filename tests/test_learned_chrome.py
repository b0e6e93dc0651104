"""Boilerplate learned from the corpus, through the running service: a source's repeated
promo paragraph disappears once the source has shown it on enough pages, `canonry reclean`
removes it from the documents stored before, and a wire paragraph carried by many sites
survives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from canonry.schemas.tables import documents, signatures
from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.migrations import upgrade
from canonry.service.operations import reclean
from canonry.service.worker_process import drained
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.worker import WorkerOptions
from tests import synthetic
from tests.test_batch_engine import run

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
    assert (await reclean(settings, "The Valley Courier"))[1] == 0  # nothing left to change

    # A document stored before schema 0007 had its signature taken from the trimmed text: a
    # reclean moves the signature to the page's own text, but readers see the same text, so
    # there is no new version.
    last_text, last_version = await document_text(client, articles[-1]["url"])
    found = await (await client.get("/lookup", params={"url": articles[-1]["url"]})).json()
    async with opened_store(settings) as store:
        async with store.engine.begin() as conn:
            await conn.execute(update(signatures)
                               .where(signatures.c.document_id == found["document_id"])
                               .values(text_hash="0" * 64, match_text=None))
        assert (await reclean(settings, "The Valley Courier"))[1] == 0
        async with store.engine.connect() as conn:
            row = (await conn.execute(select(signatures.c.text_hash, signatures.c.match_text)
                   .where(signatures.c.document_id == found["document_id"]))).one()
        assert row.text_hash != "0" * 64 and PROMO in (row.match_text or "")
    assert await document_text(client, articles[-1]["url"]) == (last_text, last_version)


async def test_wire_paragraph_across_sources_survives(client: TestClient) -> None:
    for n in range(8):
        body = synthetic.story(2000 + n).split("\n\n")
        article = {"url": f"https://site{n}.example/story", "source": f"site{n}",
                   "text": "\n\n".join([*body[:2], WIRE, *body[2:]])}
        assert (await client.post("/ingest", json=article)).status == 202
        await drained(client.app[QUEUE])
    text, _ = await document_text(client, "https://site7.example/story")
    assert WIRE in text


async def test_copies_of_one_story_do_not_teach_its_lines_as_chrome(settings: Settings) -> None:
    """Eight sites carry one story, subheadings and all. Were every copy counted, its short
    lines would be cross-source chrome from the sixth site on (five sources), cut from the
    later copies, which would then no longer be exact copies of the first."""
    body = synthetic.story(3000, paragraphs=6).split("\n\n")
    headings = ["What happened next", "How the town reacted", "Why it matters now"]
    story = "\n\n".join([body[0], headings[0], *body[1:3], headings[1], *body[3:5],
                         headings[2], body[5]])
    articles = [{"url": f"https://paper{n}.example/story", "source": f"paper{n}", "text": story}
                for n in range(8)]
    # The precondition: five or more sources is what makes a short line everyone's chrome.
    assert ChromeModel().min_sources <= 5
    options = WorkerOptions(concurrency=1, batch_size=1)
    await run(settings, articles[:6], options)
    # A second worker: it reads the cross-source lines afresh (a running one caches them).
    rows = await run(settings, articles[6:], options)
    matches = [rows[a["url"]]["match"] for a in articles]
    assert matches == ["new"] + ["exact"] * 7
    assert len({rows[a["url"]]["document_id"] for a in articles}) == 1


async def test_decisions_do_not_depend_on_what_the_model_had_learned(
    settings: Settings, tmp_path: Path
) -> None:
    """The same articles decided in one batch (the model knows nothing yet) and one at a time
    (it learns the site's promo line on the way) get the same verdicts and documents: matching
    reads the page alone, and the learned line is only trimmed from the published text. A
    resumed backfill or another worker count changes batch boundaries the same way; before,
    the page sent again was no longer its own exact copy once the model had learned."""
    promo = "Support local news today"
    articles = []
    for n in range(6):
        body = synthetic.story(5000 + n).split("\n\n")
        articles.append({"url": f"https://courier.example/{n}", "source": "courier",
                         "text": "\n\n".join([*body[:3], promo, *body[3:]])})
    articles.append({**articles[0], "url": "https://courier.example/0-again"})
    batched = await run(settings, articles, WorkerOptions(concurrency=1, batch_size=100))
    one_at_a_time = Settings.from_env({}, database_url=f"sqlite+aiosqlite:///{tmp_path}/1.db")
    await upgrade(one_at_a_time.database_url)
    single = await run(one_at_a_time, articles, WorkerOptions(concurrency=1, batch_size=1))

    # The precondition: taken one at a time, the model learned the line and trimmed it.
    last = single[articles[5]["url"]]["document_id"]
    assert promo not in (await stored_texts(one_at_a_time))[last]
    assert promo in (await stored_texts(settings))[batched[articles[5]["url"]]["document_id"]]
    async with opened_store(one_at_a_time) as store:
        # What the same-site check compares is the untrimmed body, as the signature's.
        assert promo in (await store.canonical_texts([last]))[last][1]
    verdicts = {url: (row["match"], row["similarity"]) for url, row in batched.items()}
    assert verdicts == {url: (row["match"], row["similarity"]) for url, row in single.items()}
    assert verdicts[articles[-1]["url"]] == ("exact", 1.0)
    for rows in (batched, single):
        assert rows[articles[-1]["url"]]["document_id"] == rows[articles[0]["url"]]["document_id"]
        assert len({row["document_id"] for row in rows.values()}) == 6


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[SqlStore]:
    store = SqlStore.connect(settings.database_url)
    try:
        yield store
    finally:
        await store.close()


async def stored_texts(settings: Settings) -> dict[str, str]:
    async with opened_store(settings) as store, store.engine.connect() as conn:
        return dict((await conn.execute(select(documents.c.id, documents.c.text))).all())
