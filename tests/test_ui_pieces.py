"""The story viewer's pure pieces: escaping by construction, the exact shingle overlap, the
sentence comparison and the stripped view's rows."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from canonry.service.ui.compare import Overlap, overlap, shingle_set, side_by_side, verifies
from canonry.service.ui.markup import Markup, el, render
from canonry.service.ui.stripped import NOT_MAIN_CONTENT, stripped_lines
from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import explain
from canonry.workers.clean.parse import visible_lines
from canonry.workers.dedup.match import DEFAULT_MATCH
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
    assert empty.jaccard == empty.containment == 0.0 and not verifies(empty)
    assert verifies(figures)  # the first half of the story
    assert not verifies(overlap(shingle_set(a), shingle_set(synthetic.story(2))))
    # The matcher's own tiers on exact figures: a cut copy of half the size verifies by
    # containment below the Jaccard threshold; a smaller one needs nearly all of it inside.
    cut = Overlap(jaccard=38 / 112, containment=38 / 50, shared=38, sizes=(100, 50))
    assert cut.jaccard < DEFAULT_MATCH.jaccard and verifies(cut)
    assert not verifies(Overlap(jaccard=30 / 110, containment=30 / 40, shared=30,
                                sizes=(100, 40)))
    # Typography does not count, as in the fingerprint.
    assert overlap(shingle_set('He said "yes" to it all.'),
                   shingle_set("He said “yes” to it all.")).jaccard == 1.0


def test_side_by_side_marks_the_words_outside_the_shared_shingles() -> None:
    shared = ("The mayor opened the new bridge over the river on Monday morning, and thousands "
              "of residents came to watch the ceremony.")
    canonical = f"{shared}\n\nTraffic will start to cross it from next week, the city said."
    # Re-paragraphed, curly quotes, one word changed, a note appended.
    copy = (f"{shared} Traffic will begin to cross it from next week, the city said.\n\n"
            "“Shared under licence.”")
    left, right = side_by_side(canonical, copy)

    def unshared(paragraphs: list[list]) -> list[str]:
        return [t.text.strip() for p in paragraphs for t in p if not t.shared]

    assert [len(p) for p in left] == [len(p.split()) for p in canonical.split("\n\n")]
    assert [len(p) for p in right] == [len(p.split()) for p in copy.split("\n\n")]
    # A word is shared when any 5-gram through it is: only the changed word and the note
    # are marked, not the paragraph break nor the quote style.
    assert unshared(left) == ["start"]
    assert unshared(right) == ["begin", "“Shared", "under", "licence.”"]
    assert "".join(t.text for p in right for t in p).split() == copy.split()
    # An identical text is all shared; an unrelated one all marked.
    same, _ = side_by_side(canonical, canonical)
    assert all(t.shared for p in same for t in p)
    other, _ = side_by_side(canonical, synthetic.story(3))
    assert not any(t.shared for p in other for t in p)
    # Scripts without spaces are marked by characters, as they are shingled.
    cjk, _ = side_by_side("今日は東京で大きな会議が開かれました。",
                          "今日は東京で大きな会議が開かれた。")
    assert "".join(t.text for p in cjk for t in p if not t.shared) in "かれました。"


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


def test_the_viewer_ships_in_the_wheel() -> None:
    """Every file of service/ui is in a plain `pip install .`: its modules through the listed
    package, its stylesheet through a package-data glob (no build step, no CDN)."""
    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    directory = root / "service" / "ui"
    assert "canonry.service.ui" in setuptools["packages"]
    globs = setuptools["package-data"]["canonry.service.ui"]
    data = {path for g in globs for path in directory.glob(g)}
    files = [p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert directory / "static" / "ui.css" in data
    assert all((p.parent == directory and p.suffix == ".py") or p in data for p in files), files
