import random

from canonry.workers.dedup.fingerprint import Fingerprint, fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import DEFAULT_MATCH, MatchConfig, decide, score, similarity
from canonry.workers.eval.dedup import assign_documents
from tests.shared_data import seeds


def _words(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices("abcdefghijklmnop", k=7)) for _ in range(n)]


def _paragraphs(words: list[str], per: int = 40) -> str:
    return "\n\n".join(" ".join(words[i : i + per]) for i in range(0, len(words), per))


def _entry(doc: str, text: str) -> IndexEntry:
    fp = fingerprint(text)
    return IndexEntry(doc, fp.text_hash, fp.hashvalues, fp.size, 0.0)


ORIGINAL = _words(1, 600)
TEXT = _paragraphs(ORIGINAL)


def test_exact_by_text_hash():
    v = decide(fingerprint(TEXT), [_entry("b", TEXT), _entry("a", TEXT)])
    assert (v.kind, v.document_id, v.similarity, v.upgrade) == ("exact", "a", 1.0, False)


def test_new_without_candidates_or_with_unrelated_ones():
    assert decide(fingerprint(TEXT), []).kind == "new"
    v = decide(fingerprint(TEXT), [_entry("x", _paragraphs(_words(2, 600)))])
    assert (v.kind, v.document_id, v.similarity, v.upgrade) == ("new", None, None, False)


def test_near_by_jaccard_typography_and_changed_words():
    words = list(ORIGINAL)
    for i in range(0, len(words), 50):  # 2 % of words changed
        words[i] = "changed"
    copy = "DATELINE (Wire) — " + _paragraphs(words, per=80).replace("a", "A")
    v = decide(fingerprint(copy), [_entry("orig", TEXT)])
    assert v.kind == "near" and v.document_id == "orig"
    assert v.similarity is not None and v.similarity >= DEFAULT_MATCH.jaccard
    assert not v.upgrade


def test_body_pasted_twice_is_near_not_upgrade():
    v = decide(fingerprint(TEXT + "\n\n" + TEXT), [_entry("orig", TEXT)])
    assert (v.kind, v.upgrade) == ("near", False)


def _edited_cut(share: float) -> str:
    """The first `share` of the original with every 20th word changed."""
    words = ORIGINAL[: int(len(ORIGINAL) * share)]
    return _paragraphs([w if i % 20 else "edited" for i, w in enumerate(words)])


def test_truncated_copy_matches_by_containment():
    cut = _edited_cut(0.55)
    fp = fingerprint(cut)
    s = score(fp, _entry("orig", TEXT))
    assert s.jaccard < DEFAULT_MATCH.jaccard  # Jaccard alone would miss it
    v = decide(fp, [_entry("orig", TEXT)])
    assert (v.kind, v.document_id, v.upgrade) == ("near", "orig", False)
    jaccard, containment = similarity(fp, _entry("orig", TEXT))
    assert jaccard == s.jaccard and containment > 0.7


def test_fuller_version_upgrades_the_truncated_canonical():
    cut = _paragraphs(ORIGINAL[:420])
    v = decide(fingerprint(TEXT), [_entry("first", cut)])
    assert (v.kind, v.document_id, v.upgrade) == ("near", "first", True)
    # An extended copy (a note appended) is a fuller version too, when clearly larger.
    extended = TEXT + "\n\n" + _paragraphs(_words(9, 120))
    assert decide(fingerprint(extended), [_entry("orig", TEXT)]).upgrade
    # ...but a little extra (a dateline) is not worth an upgrade.
    assert not decide(fingerprint("LONDON (AP) " + TEXT), [_entry("orig", TEXT)]).upgrade


def test_long_roundup_quoting_a_short_article_is_not_a_match():
    short = _paragraphs(ORIGINAL[:150])
    roundup = "\n\n".join(
        [_paragraphs(_words(3, 300)), short, _paragraphs(_words(4, 300))]
    )
    s = score(fingerprint(short), _entry("roundup", roundup))
    assert s.containment > 0.9 and s.size_ratio < DEFAULT_MATCH.min_size_ratio
    assert decide(fingerprint(short), [_entry("roundup", roundup)]).kind == "new"
    assert decide(fingerprint(roundup), [_entry("short", short)]).kind == "new"


def test_best_candidate_wins_and_ties_break_by_document_id():
    words = list(ORIGINAL)
    words[300] = "edited"
    closer, farther = _paragraphs(words), _paragraphs(ORIGINAL[:500])
    cands = [_entry("b", farther), _entry("z", closer)]
    assert decide(fingerprint(TEXT), cands).document_id == "z"
    assert decide(fingerprint(TEXT), list(reversed(cands))).document_id == "z"
    twins = [_entry("m", closer), _entry("k", closer)]
    assert decide(fingerprint(TEXT), twins).document_id == "k"


def test_empty_text_never_matches():
    empty = fingerprint("")
    assert decide(empty, [_entry("e", "")]).kind == "new"
    assert decide(fingerprint(TEXT), [_entry("e", "")]).kind == "new"


def test_thresholds_are_configurable():
    cut = _edited_cut(0.55)
    strict = MatchConfig(containment=1.01)
    assert decide(fingerprint(cut), [_entry("orig", TEXT)], strict).kind == "new"


def test_score_containment_from_jaccard_and_sizes():
    # |A∩B| = J(|A|+|B|)/(1+J): J=0.5, |A|=100, |B|=200 → 100, so A is wholly inside B.
    fp = Fingerprint("x", (1, 2, 3, 4), 100)
    entry = IndexEntry("d", "y", (1, 2, 9, 9), 200, 0.0)
    s = score(fp, entry)
    assert (s.jaccard, s.a_in_b, s.b_in_a, s.size_ratio) == (0.5, 1.0, 0.5, 0.5)


def test_related_seed_stories_stay_apart():
    # Five Syria stories on one topic, none a copy of another: five documents, as pages and
    # as their hand-labelled bodies.
    pages = [fingerprint(path.read_text()) for path, _ in seeds()]
    bodies = [fingerprint(label["expected_body"]) for _, label in seeds()]
    for fps in (pages, bodies):
        docs, verdicts = assign_documents(fps)
        assert len(set(docs)) == 5 and verdicts["new"] == 5


def test_prose_copy_of_an_original_that_also_kept_its_list_matches():
    # The copy kept only the article's prose (250 words); the original's extraction also kept
    # a shopping list twice as long: too unequal for `min_size_ratio`, but wholly contained.
    prose = _paragraphs(ORIGINAL[:250])
    original = prose + "\n\n" + "\n".join(" ".join(_words(k, 12)) for k in range(10, 45))
    s = score(fingerprint(prose), _entry("orig", original))
    assert s.size_ratio < DEFAULT_MATCH.min_size_ratio
    assert s.size_ratio >= DEFAULT_MATCH.near_total_min_size_ratio
    assert decide(fingerprint(prose), [_entry("orig", original)]).kind == "near"
    # Only near-total containment qualifies: a third of the prose edited away does not.
    edited = _paragraphs([w if i % 3 else "edited" for i, w in enumerate(ORIGINAL[:250])])
    assert decide(fingerprint(edited), [_entry("orig", original)]).kind == "new"
