import gzip
import json
from pathlib import Path

import pytest

from canonry.workers.eval.extraction import evaluate_extraction, f1, format_report, ngram_prf


def test_identical_texts_score_one() -> None:
    assert ngram_prf("a b c d e", "A, b; c d e!") == (1.0, 1.0)


def test_both_empty_is_perfect() -> None:
    assert ngram_prf("", "") == (1.0, 1.0)
    assert ngram_prf("...", "") == (1.0, 1.0)  # no \w tokens at all


def test_nothing_shared_scores_zero() -> None:
    assert ngram_prf("", "a b c d") == (0.0, 0.0)
    assert ngram_prf("w x y z", "a b c d") == (0.0, 0.0)


def test_partial_overlap_by_hand() -> None:
    # truth 5 tokens -> 4-grams: abcd, bcde (2). pred 6 tokens -> abcd, bcde, cdef (3).
    p, r = ngram_prf("a b c d e f", "a b c d e")
    assert (p, r) == pytest.approx((2 / 3, 1.0))
    # pred is the truth cut short: one of the two truth grams.
    p, r = ngram_prf("a b c d", "a b c d e")
    assert (p, r) == pytest.approx((1.0, 1 / 2))


def test_multisets_count_repeats() -> None:
    # The body pasted twice: 4 + 4 grams predicted (abcd, bcda, cdab, dabc, abcd, bcda, cdab...)
    truth = "a b c d"
    pred = "a b c d a b c d"
    p, r = ngram_prf(pred, truth)
    # pred grams: abcd, bcda, cdab, dabc, abcd -> 5, of which one matches the single truth gram.
    assert (p, r) == pytest.approx((1 / 5, 1.0))


def test_short_texts_count_as_one_gram() -> None:
    assert ngram_prf("hello world", "hello world") == (1.0, 1.0)
    assert ngram_prf("hello there", "hello world") == (0.0, 0.0)


def test_f1_of_averages() -> None:
    assert f1(1.0, 0.5) == pytest.approx(2 / 3)
    assert f1(0.0, 0.0) == 0.0


def test_evaluate_extraction_over_a_tiny_file(tmp_path: Path) -> None:
    body = "The council approved the new budget on Tuesday after a long debate about schools."
    rows = [
        {"id": "1", "mode": "text", "url": "https://example.org/a",
         "text": body, "expected_body": body},
        {"id": "2", "mode": "html", "url": "https://example.org/b",
         "html": f"<html><body><article><p>{body}</p></article></body></html>",
         "expected_body": body},
    ]  # fmt: skip
    path = tmp_path / "tiny.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    result = evaluate_extraction(path)
    assert set(result) == {"html", "text"}
    assert result["text"]["pages"] == 1
    assert result["text"]["f1"] == pytest.approx(1.0)
    assert evaluate_extraction(path, modes=["text"]).keys() == {"text"}
    report = format_report(result)
    assert "text" in report and "pages/s" in report
