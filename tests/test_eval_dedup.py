import gzip
import json
import random

import pytest

from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.eval.dedup import (
    adjusted_rand_index,
    evaluate_dedup,
    format_report,
    format_sweep,
    pair_counts,
    pairwise_prf,
    sweep,
)
from tests import synthetic


def test_pair_counts_by_hand():
    # pred {0,1,2} {3}; truth {0,1} {2,3}: together in pred 3 pairs, in truth 2, in both 1.
    c = pair_counts(["a", "a", "a", "b"], [1, 1, 2, 2])
    assert (c.both, c.predicted, c.true, c.total) == (1, 3, 2, 6)


def test_pairwise_prf_by_hand():
    p, r, f = pairwise_prf(["a", "a", "a", "b"], [1, 1, 2, 2])
    assert (p, r) == (pytest.approx(1 / 3), 0.5)
    assert f == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert pairwise_prf(["a", "b"], [1, 2]) == (1.0, 1.0, 1.0)  # no pairs anywhere
    assert pairwise_prf(["a", "b"], [1, 1]) == (1.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        pairwise_prf(["a"], [1, 2])


def test_adjusted_rand_index_by_hand():
    # expected = 3*2/6 = 1; max = (3+2)/2 = 2.5; ARI = (1-1)/(2.5-1) = 0.
    assert adjusted_rand_index(["a", "a", "a", "b"], [1, 1, 2, 2]) == 0.0
    assert adjusted_rand_index(["x", "x", "y", "y"], [1, 1, 2, 2]) == 1.0  # labels are names
    # pred {0,1} {2} {3}; truth {0,1,2} {3}: both 1, pred 1, true 3, total 6
    # expected 0.5, max 2 → (1-0.5)/(2-0.5) = 1/3
    assert adjusted_rand_index(["a", "a", "b", "c"], [1, 1, 1, 2]) == pytest.approx(1 / 3)
    assert adjusted_rand_index(["a", "b", "c"], [1, 2, 3]) == 1.0


def _body(seed: int) -> str:
    rng = random.Random(seed)
    return " ".join("".join(rng.choices("abcdefghij", k=6)) for _ in range(300))


def _stub_extract(raw: RawArticle) -> Extracted:
    return Extracted(text=raw.text or "")


def test_evaluate_dedup_end_to_end_on_a_tiny_file(tmp_path):
    a, b = _body(1), _body(2)
    rows = [
        {"url": "u1", "text": a[:1200], "cluster": "A", "kind": "copy:truncate"},
        {"url": "u2", "text": b, "cluster": "B", "kind": "original-text"},
        {"url": "u3", "text": a, "cluster": "A", "kind": "original-text"},
        {"url": "u4", "text": a, "cluster": "A", "kind": "copy:quotes+double"},
    ]
    path = tmp_path / "set.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    result = evaluate_dedup(path, extract_fn=_stub_extract)
    assert (result["precision"], result["recall"], result["f1"], result["ari"]) == (1, 1, 1, 1)
    assert result["documents"] == 2
    assert result["verdicts"] == {"new": 2, "near": 1, "exact": 1, "upgrade": 1}
    assert result["per_kind"]["edit:truncate"]["recall"] == 1.0
    assert "F1 1.0000" in format_report(result)
    assert evaluate_dedup(path, limit=2, extract_fn=_stub_extract)["articles"] == 2
    rows = sweep(path, jaccards=(0.5, 0.99), containments=(None,), extract_fn=_stub_extract)
    assert [r["jaccard"] for r in rows] == [0.5, 0.99]
    assert rows[0]["f1"] == 1.0
    assert "| 0.99 | — |" in format_sweep(rows)


def test_learned_chrome_trims_the_text_but_decides_nothing(tmp_path):
    """Four stories of one site print the same short line inside the body; the site's first
    page sent again is then published without it, but it is still the exact text of its first
    sending to the matcher: decisions read the page alone, whatever the model had learned."""
    promo = "Support local news today"
    rows = []
    for n in range(4):
        body = synthetic.story(4100 + n).split("\n\n")
        rows.append({"url": f"https://courier.example/{n}", "source": "courier",
                     "text": "\n\n".join([*body[:3], promo, *body[3:]]),
                     "cluster": f"S{n}", "kind": "original-text"})
    rows.append({**rows[0], "url": "https://courier.example/0-again", "kind": "copy:same"})
    path = tmp_path / "site.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    plain = evaluate_dedup(path)
    assert plain["verdicts"] == {"new": 4, "exact": 1}
    learned = evaluate_dedup(path, learned_chrome=True)
    assert learned["verdicts"] == plain["verdicts"]
    assert learned["recall"] == plain["recall"] == 1.0
    # The precondition: by the fifth page the model does trim the line from the text.
    model = ChromeModel()
    for row in rows[:4]:
        model.count_page("courier", extract_page(RawArticle(row["url"], row["text"],
                                                            source="courier"), None)[1])
    again = extract_page(RawArticle(rows[4]["url"], rows[4]["text"], source="courier"), model)[0]
    assert promo not in again.text and promo in again.match_text


def test_misses_are_told_by_reason():
    """Each missed pair (one story, two documents) gets one reason, on the exact shingles."""
    from canonry.workers.dedup.fingerprint import DEFAULT
    from canonry.workers.dedup.match import DEFAULT_MATCH
    from canonry.workers.eval.dedup import MISS_REASONS, _misses_by_reason
    from tests import synthetic

    story = [synthetic.story(k, paragraphs=4) for k in range(6)]
    texts = [
        story[0], "",  # one side lost its body
        story[1], story[1] + "\n\nA note from the editors.",  # would verify
        story[2], "\n\n".join(story[2:6]),  # the smaller inside a page 4 times its size
        *(" ".join("".join(rng.choices("abcdefghij", k=6)) for _ in range(80))
          for rng in (random.Random(6), random.Random(7))),  # nothing in common
    ]
    rows = [{"cluster": f"c{k // 2}", "url": f"https://e{k}.example/"} for k in range(8)]
    docs = [f"d{k}" for k in range(8)]  # every article its own document: every pair missed
    reasons = _misses_by_reason(rows, docs, texts, DEFAULT_MATCH, DEFAULT)
    assert reasons == {MISS_REASONS[0]: 1, MISS_REASONS[1]: 1, MISS_REASONS[2]: 1,
                       MISS_REASONS[4]: 1}
    docs[3] = docs[2]  # found: no longer a miss
    assert MISS_REASONS[1] not in _misses_by_reason(rows, docs, texts, DEFAULT_MATCH, DEFAULT)
