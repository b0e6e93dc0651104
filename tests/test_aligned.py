"""Copies whose words were edited here and there: their signatures leave them in doubt (a word
in seven changed breaks most 5-grams), their texts read in order are one story. Stories that
share a template passage are not."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from canonry.schemas.tables import ingests
from canonry.service.acceptance import accept_and_dispatch
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests, validate_articles
from canonry.service.ui.compare import compared, shingle_set, verifies
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.article import RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.dedup.align import align
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import (
    DEFAULT_MATCH,
    aligned_candidates,
    aligned_score,
    decide,
    in_doubt,
    nearest_in_doubt,
    score,
    verified_similarity,
)
from canonry.workers.dedup.shingle import shingles
from canonry.workers.identity import document_id_for
from canonry.workers.ports import Claim
from canonry.workers.worker import Worker, WorkerOptions
from tests import synthetic
from tests.test_batch_engine import run

STORY, OTHER = synthetic.story(31, paragraphs=8), synthetic.story(32, paragraphs=8)
THIRD = synthetic.story(34, paragraphs=8)
# A company's terms or an outlet's standard notice: the same passage under different stories.
TEMPLATE = synthetic.story(33, paragraphs=3)


def edited(text: str, every: int = 7) -> str:
    """Every `every`-th word replaced, paragraphs kept."""
    paragraphs = []
    position = 0
    for paragraph in text.split("\n\n"):
        words = []
        for word in paragraph.split():
            position += 1
            words.append(f"edit{position}" if position % every == 0 else word)
        paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs)


def entry(document_id: str, text: str) -> IndexEntry:
    fp = fingerprint(text)
    return IndexEntry(document_id, fp.text_hash, fp.hashvalues, fp.size, 0.0)


COPY = edited(STORY)
TEMPLATED_A, TEMPLATED_B = THIRD + "\n\n" + TEMPLATE, OTHER + "\n\n" + TEMPLATE


def test_the_signatures_leave_both_pairs_in_doubt() -> None:
    """The precondition: neither pair verifies on its signature, and neither is ruled out."""
    assert in_doubt(score(fingerprint(COPY), entry("s", STORY)))
    assert in_doubt(score(fingerprint(TEMPLATED_B), entry("a", TEMPLATED_A)))


def verifies_in_order(text: str, other: str) -> bool:
    return verified_similarity(aligned_score(text, other), DEFAULT_MATCH) is not None


def test_in_order_the_edited_copy_verifies_and_the_shared_template_does_not() -> None:
    same = aligned_score(STORY, STORY)
    assert (same.jaccard, same.a_in_b, same.b_in_a, same.size_ratio) == (1.0, 1.0, 1.0, 1.0)
    copy = aligned_score(COPY, STORY)
    assert copy.jaccard >= 0.7 and verifies_in_order(COPY, STORY)
    assert not verifies_in_order(TEMPLATED_B, TEMPLATED_A)
    assert aligned_score(OTHER, STORY).jaccard < 0.15  # stock phrases of the generator only
    # Order counts: the same paragraphs in reverse align one paragraph (of eight) and the
    # generator's stock phrases. (Their shingles verify them: this tier never sees them.)
    reversed_story = "\n\n".join(reversed(STORY.split("\n\n")))
    assert aligned_score(reversed_story, STORY).containment < 0.5


def test_half_of_a_story_is_not_the_story() -> None:
    """Half shared in order, half another story's: the containment tier needs 70 % of the
    smaller text, in order as on the shingles."""
    half = "\n\n".join(STORY.split("\n\n")[:4] + OTHER.split("\n\n")[4:])
    s = aligned_score(half, STORY)
    assert 0.4 < s.containment < 0.6 and not verifies_in_order(half, STORY)


def test_a_cut_copy_is_covered_whole_and_its_original_in_part() -> None:
    cut = edited("\n\n".join(STORY.split("\n\n")[:5]))
    s = aligned_score(cut, STORY)
    assert s.a_in_b >= 0.8 and 0.5 < s.b_in_a < 0.7 and verifies_in_order(cut, STORY)


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_unedited_text_counts_as_its_shingles_do() -> None:
    """Only edits are forgiven: on a pair without any (two stories sharing a template) the
    text tier's Jaccard is at most the exact shingle sets' (shared phrases out of order count
    there, not here), so it is no more lenient than the signatures without estimation noise.
    (Two releases of one company sharing half their words, an "About" section and a
    safe-harbour notice, meet Jaccard 0.4 on exact shingles too: the tiers' bar, not this
    tier's.)"""
    templated = aligned_score(TEMPLATED_B, TEMPLATED_A).jaccard
    assert 0.1 < templated <= exact_jaccard(TEMPLATED_B, TEMPLATED_A)
    assert aligned_score(COPY, STORY).jaccard > exact_jaccard(COPY, STORY) + 0.3


def test_scattered_phrases_and_overlapping_anchors_count_nothing_twice() -> None:
    """Four-word pieces of a text scattered in order through another hold no 5-gram: nothing
    is covered on either side, however the anchors overlap."""
    words = [f"word{letter}" for letter in "abcdefghijklmnopqrst"]
    scattered = " ".join(" ".join(words[k:k + 4]) + " filler other words here" for k in range(17))
    al = align(" ".join(words), scattered)
    assert al.covered == al.other_covered == 0
    doubled = align(STORY, STORY + "\n\n" + STORY)
    assert doubled.covered == doubled.shingles and doubled.other_covered <= doubled.shingles


def test_a_digest_holding_an_edited_copy_joins_it_but_never_replaces_it() -> None:
    """A digest of five stories, one of them edited, holds that story nearly whole: the text
    tier joins it to the story, and the signature alone would call it the fuller version (it
    holds 80 % of the story's shingles at twice its size), but a text-tier match is an edited
    version and never becomes the canonical text."""
    story = synthetic.story(41, paragraphs=6)
    others = [synthetic.story(50 + k, paragraphs=2) for k in range(4)]
    digest = "\n\n".join([*others[:2], edited(story, every=30), *others[2:]])
    candidate = entry("s", story)
    signature = score(fingerprint(digest), candidate)
    assert in_doubt(signature) and signature.b_in_a >= DEFAULT_MATCH.upgrade_containment
    verdict = decide(fingerprint(digest), [candidate], text=digest, text_of=lambda e: story)
    assert (verdict.kind, verdict.document_id, verdict.upgrade) == ("near", "s", False)


def test_a_passage_repeated_throughout_is_no_anchor() -> None:
    """Anchors that recur more than a few times are left out (they would make the chain's
    search quadratic): a text of one line pasted over and over aligns on nothing."""
    blob = "\n\n".join(["Click here to claim your prize now"] * 3000)
    assert align(blob, blob + "\n\nextra").covered == 0


def test_unspaced_scripts_are_aligned_by_characters() -> None:
    text = "".join(f"今日は東京{k}区で大きな会議が開かれ、多くの専門家が新しい計画について"
                   "議論しました。" for k in "一二三四五")
    copy = text.replace("会議", "集会", 1)
    assert aligned_score(copy, text).jaccard >= 0.8
    assert aligned_score("まったく別の話題についての短い記事がここに書かれています。" * 3,
                         text).jaccard < 0.1
    # A few Latin words added do not change the unit: still compared by characters.
    assert aligned_score(text + " Tokyo", text).jaccard >= 0.9


def test_decide_compares_the_texts_of_candidates_in_doubt() -> None:
    fp = fingerprint(COPY)
    candidates = [entry("s", STORY), entry("o", OTHER)]
    texts = {"s": STORY, "o": OTHER}
    assert decide(fp, candidates, text=COPY).kind == "new"  # signatures alone
    verdict = decide(fp, candidates, text=COPY, text_of=lambda e: texts[e.document_id])
    assert (verdict.kind, verdict.document_id, verdict.upgrade) == ("near", "s", False)
    assert verdict.similarity == pytest.approx(
        verified_similarity(aligned_score(COPY, STORY), DEFAULT_MATCH))
    # A text not at hand (another worker's uncommitted claim) is not compared.
    assert decide(fp, candidates, text=COPY, text_of=lambda e: None).kind == "new"
    # The same-site check still has the last word.
    assert decide(fp, candidates, text=COPY, text_of=lambda e: texts[e.document_id],
                  confirm=lambda e: False).kind == "new"


def test_at_most_the_nearest_few_in_doubt_are_read() -> None:
    """A site whose chrome puts every story in doubt with the newcomer costs a bounded number
    of text reads: the nearest `aligned_max_candidates`, ties by document id."""
    fp = fingerprint(COPY)
    pool = [entry(f"d{k:02}", STORY) for k in range(12)]
    nearest = nearest_in_doubt(fp, pool)
    assert [e.document_id for e in nearest] == [f"d{k:02}" for k in range(8)]
    read: list[str] = []

    def text_of(e: IndexEntry) -> str:
        read.append(e.document_id)
        return STORY

    verdict = decide(fp, list(reversed(pool)), text=COPY, text_of=text_of)
    assert (verdict.kind, verdict.document_id) == ("near", "d00")
    assert sorted(read) == [f"d{k:02}" for k in range(DEFAULT_MATCH.aligned_max_candidates)]


def test_a_shared_template_is_not_one_story() -> None:
    fp = fingerprint(TEMPLATED_B)
    assert aligned_candidates(fp, TEMPLATED_B, [entry("a", TEMPLATED_A)],
                              lambda e: TEMPLATED_A) == []
    assert decide(fp, [entry("a", TEMPLATED_A)], text=TEMPLATED_B,
                  text_of=lambda e: TEMPLATED_A).kind == "new"


def test_the_story_viewer_says_what_the_matcher_decides() -> None:
    """Its "Verifies now?" applies the text tier too, where the shingles leave the pair in doubt
    (and only there: the share is not measured for a pair they decide)."""
    copy = compared(shingle_set(STORY), STORY, COPY)
    assert copy.aligned is not None and verifies(copy)
    templated = compared(shingle_set(TEMPLATED_A), TEMPLATED_A, TEMPLATED_B)
    assert templated.aligned is not None and not verifies(templated)
    assert compared(shingle_set(STORY), STORY, STORY).aligned is None


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_the_engine_joins_an_edited_copy_and_keeps_templated_stories_apart(
        settings: Settings, batch_size: int) -> None:
    """One at a time (the stored canonical texts are read) and in one batch (this batch's
    own texts), through the real cleaner."""
    articles = [
        {"url": "https://wire.example/story", "text": STORY},
        {"url": "https://reprint.example/story", "text": COPY},
        {"url": "https://brand.example/terms-a", "text": TEMPLATED_A},
        {"url": "https://shop.example/terms-b", "text": TEMPLATED_B},
    ]
    rows = await run(settings, articles, WorkerOptions(concurrency=1, batch_size=batch_size))
    document = {url: row["document_id"] for url, row in rows.items()}
    assert {row["status"] for row in rows.values()} == {"done"}
    assert document["https://reprint.example/story"] == document["https://wire.example/story"]
    assert document["https://shop.example/terms-b"] != document["https://brand.example/terms-a"]
    assert document["https://brand.example/terms-a"] != document["https://wire.example/story"]


async def test_a_rival_in_doubt_is_waited_for_not_passed_over(settings: Settings) -> None:
    """Another worker has claimed the original and not committed it yet: its text is not at
    hand, so the copy (in doubt on the signatures) cannot be compared. It is not decided "new"
    past it: it waits, and once the original is stored it joins it."""
    store, queue, index = SqlStore.connect(settings.database_url), InProcessQueue(), MemoryIndex()
    worker = Worker(store, queue, index, WorkerOptions(batch_size=1, retry_backoff=0.001))
    try:
        articles = [{"url": "https://wire.example/story", "text": STORY},
                    {"url": "https://reprint.example/story", "text": COPY}]
        await accept_and_dispatch(store, queue, new_ingests(validate_articles(articles,
                                                                              batch=True)))
        [original], [copy] = await queue.receive(1, 1.0), await queue.receive(1, 1.0)
        # The other worker's claim, as its `_decide` makes it before committing.
        text = extract_page(RawArticle(url=articles[0]["url"], text=STORY), ChromeModel())[0]
        fp = fingerprint(text.match_text)
        claimed = IndexEntry(document_id_for(original.ingest_id), fp.text_hash, fp.hashvalues,
                             fp.size, 0.0)
        assert await index.claim([Claim(claimed, set())]) == [[]]

        await worker.handle_batch([copy])
        status = await statuses(store)
        assert status[copy.ingest_id] != "done"  # not decided past the unread rival
        assert status[original.ingest_id] == "queued"  # precondition: still uncommitted

        await worker.handle_batch([original])  # the other worker commits
        [retry] = await queue.receive(1, 1.0)
        assert retry.ingest_id == copy.ingest_id
        await worker.handle_batch([retry])
        rows = await ingest_rows(store)
        assert rows[copy.ingest_id]["status"] == "done"
        assert rows[copy.ingest_id]["document_id"] == rows[original.ingest_id]["document_id"]
    finally:
        await queue.close()
        await store.close()


async def statuses(store: SqlStore) -> dict[str, str]:
    return {ingest_id: row["status"] for ingest_id, row in (await ingest_rows(store)).items()}


async def ingest_rows(store: SqlStore) -> dict[str, dict]:
    async with store.engine.connect() as conn:
        return {row["id"]: dict(row) for row in (await conn.execute(select(ingests))).mappings()}
