"""The story viewer's pure pieces: escaping by construction, the exact shingle overlap, the
sentence comparison and the stripped view's rows."""

from __future__ import annotations

import pytest

from canonry.service.ui.compare import overlap, shingle_set, side_by_side
from canonry.service.ui.markup import Markup, el, render
from canonry.service.ui.stripped import NOT_MAIN_CONTENT, stripped_lines, visible_lines
from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import explain
from canonry.workers.dedup.shingle import shingles
from tests import synthetic


def test_every_string_is_escaped_and_only_markup_passes() -> None:
    hostile = '<script>alert("x")</script>'
    built = el("p", hostile, title=hostile, data_x='"><b>')
    assert "<script>" not in built and "&lt;script&gt;" in built
    assert 'title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in built
    assert 'data-x="&quot;&gt;&lt;b&gt;"' in built
    assert render([hostile, el("b", "ok")]) == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<b>ok</b>")
    assert render(Markup("<i>trusted</i>")) == "<i>trusted</i>"
    assert el("input", disabled=True, value=None) == "<input disabled>"
    with pytest.raises(ValueError):
        el("p", **{"onclick x": "1"})


def test_overlap_is_exact_on_the_fingerprint_shingles() -> None:
    a = synthetic.story(1)
    paragraphs = a.split("\n\n")
    b = "\n\n".join(paragraphs[: len(paragraphs) // 2])
    sa, sb = shingles(a, 5, 5), shingles(b, 5, 5)
    figures = overlap(shingle_set(a), shingle_set(b))
    assert figures.shared == len(sa & sb) and figures.sizes == (len(sa), len(sb))
    assert figures.jaccard == pytest.approx(len(sa & sb) / len(sa | sb))
    assert figures.containment == pytest.approx(len(sa & sb) / len(sb)) == 1.0  # b is inside a
    assert overlap(shingle_set(a), shingle_set(a)).jaccard == 1.0
    empty = overlap(frozenset(), shingle_set(a))
    assert empty.jaccard == empty.containment == 0.0
    # Typography does not count, as in the fingerprint.
    assert overlap(shingle_set('He said "yes" to it all.'),
                   shingle_set("He said “yes” to it all.")).jaccard == 1.0


def test_side_by_side_marks_shared_edited_and_missing_sentences() -> None:
    canonical = ("The mayor opened the new bridge on Monday. Thousands came to watch."
                 "\n\nTraffic will start next week.")
    copy = ("Thousands came to watch. The mayor opened the new bridge on Monday.\n\n"
            "Traffic will begin next week. Shared under licence.")
    left, right = side_by_side(canonical, copy)
    # Moved sentences are still shared; a reworded one is an edit; the note is the copy's own.
    assert [[p.state for p in para] for para in left] == [["same", "same"], ["edited"]]
    assert [[p.state for p in para] for para in right] == [["same", "same"],
                                                           ["edited", "only"]]
    assert right[1][1].text == "Shared under licence."
    edited_left, edited_right = side_by_side("The mayor opened the new bridge on Monday.",
                                             "The mayor opened the old bridge on Monday.")
    assert edited_left[0][0].state == edited_right[0][0].state == "edited"
    assert [t for t, differs in edited_right[0][0].pieces if differs] == ["old "]
    assert "".join(t for t, _ in edited_right[0][0].pieces) == (
        "The mayor opened the old bridge on Monday.")


def test_stripped_lines_keep_the_blocks_order_and_add_what_the_extractor_left_out() -> None:
    body = "".join(f"<p>{p}</p>" for p in synthetic.story(5).split("\n\n"))
    html = (f"<html><head><title>T</title><script>var hidden = 1;</script></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/w'>World</a></nav><article>{body}</article>"
            f"<footer>Copyright Example News Group</footer></body></html>")
    assert "var hidden = 1;" not in visible_lines(html)
    assert "Copyright Example News Group" in visible_lines(html)
    explanation = explain(RawArticle(url="https://example.org/a", html=html))
    lines = stripped_lines(explanation, html)
    chosen = [line for line in lines if line.verdict != NOT_MAIN_CONTENT]
    assert [line.text for line in chosen] == [b.text for b in explanation.blocks]
    left_out = [line.text for line in lines if line.verdict == NOT_MAIN_CONTENT]
    assert "Copyright Example News Group" in left_out
    assert not any(p[:50] in " ".join(left_out) for p in synthetic.story(5).split("\n\n"))
    # A text page has no extractor: its lines are its blocks.
    text = explain(RawArticle(url="https://example.org/b", text=synthetic.story(5)))
    assert [line.text for line in stripped_lines(text, None)] == [b.text for b in text.blocks]
