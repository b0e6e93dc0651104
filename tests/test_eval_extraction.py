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


def test_explain_counts_each_verdict_and_scores_the_rule_undone(tmp_path: Path) -> None:
    """A page whose body is followed by a comment section: the tail is counted as after-body,
    and undoing it scores lower, since the label is the article alone. A labelled body that
    includes what a rule removed shows the rule as a loss (undone scores higher)."""
    topics = ["schools", "roads", "the library", "parks", "buses", "housing", "water", "police"]
    paragraphs = [
        f"Paragraph {n} of the story: the council spent most of the evening on {topic}, and the "
        f"members who spoke about {topic} said the money for {topic} was still far too little."
        for n, topic in enumerate(topics)
    ]
    tail = ["Comments", "Great article, thanks for writing it, I agree with every single word "
            "of it and I will share it with all of my friends and family today."]
    text = "\n\n".join([*paragraphs, *tail])
    body = "\n\n".join(paragraphs)
    rows = [{"id": "1", "mode": "text", "url": "https://example.org/a", "text": text,
             "expected_body": body},
            {"id": "2", "mode": "text", "url": "https://example.org/b", "text": text,
             "expected_body": text}]
    path = tmp_path / "tail.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for row in rows[:1]:
            fh.write(json.dumps(row) + "\n")
    right = evaluate_extraction(path, explain_rules=True)["text"]
    assert right["rules"]["kept"]["blocks"] == len(paragraphs)
    removed = {v: t for v, t in right["rules"].items() if v != "kept"}
    assert sum(t["blocks"] for t in removed.values()) == len(tail)
    assert all(t["f1_undone"] < right["f1"] for t in removed.values())
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(rows[1]) + "\n")
    wrong = evaluate_extraction(path, explain_rules=True)["text"]
    assert any(t["f1_undone"] > wrong["f1"] for v, t in wrong["rules"].items() if v != "kept")
    assert "F1 undone" in format_report({"text": right})


def test_peer_is_scored_on_the_same_pages(tmp_path: Path) -> None:
    body = " ".join(f"The council approved budget line {n} after a long debate about schools."
                    for n in range(12))
    row = {"id": "1", "mode": "html", "url": "https://example.org/b",
           "html": f"<html><body><nav>Home | World | Sport</nav><article><p>{body}</p>"
                   "</article></body></html>", "expected_body": body}
    path = tmp_path / "peer.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    result = evaluate_extraction(path, peer=True)["html"]
    assert result["peer"]["pages"] == 1
    assert result["peer"]["f1"] > 0.9
    assert "peer_p" in result["per_page"][0]
    assert "trafilatura alone" in format_report({"html": result})


def test_truncation_cuts_the_body_tail_and_keeps_the_chrome(tmp_path: Path) -> None:
    """Each page minus the last 20 % / 40 % of its body: the copies are scored against the
    original's first paragraphs, on text and on HTML (cut out of the markup)."""
    from canonry.workers.clean.parse import parse_text
    from canonry.workers.eval.truncation import _text_of, evaluate_truncation, format_report

    topics = ["schools", "roads", "the library", "parks", "buses", "housing", "water", "police",
              "tax", "the harbour"]
    paragraphs = [
        f"Paragraph {n} of the story: the council spent most of the evening on {topic}, and the "
        f"members who spoke about {topic} said the money for {topic} was still far too little."
        for n, topic in enumerate(topics)
    ]
    text = "\n\n".join(["Home", "World", *paragraphs, "Comments", "Share this story"])
    html = ("<html><body><nav><a href='/'>Home</a></nav><article>"
            + "".join(f"<p>{p}</p>" for p in paragraphs)
            + "</article><footer>Share this story</footer></body></html>")
    rows = [{"id": "t", "mode": "text", "url": "https://example.org/t", "text": text,
             "expected_body": ""},
            {"id": "h", "mode": "html", "url": "https://example.org/h", "html": html,
             "expected_body": ""}]
    path = tmp_path / "trunc.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    cuts = evaluate_truncation([path])["trunc.jsonl.gz"]["cuts"]
    assert set(cuts) == {"html 60%", "html 80%", "text 60%", "text 80%"}
    assert all(c["pages"] == 1 and c["keep"] == pytest.approx(1.0) for c in cuts.values())
    # The cut copy really is shorter: precision against the cut body stays 1, so nothing of
    # the cut tail came back.
    assert all(c["precision"] == pytest.approx(1.0) for c in cuts.values())
    assert _text_of(parse_text(text).blocks) == text
    assert "text 80%" in format_report({"trunc.jsonl.gz": {"cuts": cuts, "short": {},
                                                           "skipped": {}}})


def test_page_shape_reads_length_and_layout_of_the_body() -> None:
    from canonry.workers.eval.extraction import page_shape

    paragraph = " ".join(["word"] * 60)
    assert page_shape("\n\n".join([paragraph] * 3)) == "short"
    assert page_shape("\n\n".join([paragraph] * 10)) == "medium"
    assert page_shape("\n\n".join([paragraph] * 30)) == "long"
    steps = "\n".join(f"Step {n} here" for n in range(10))
    assert page_shape(paragraph + "\n" + steps) == "short+lists"
