"""Every seed page against its hand-made expectation."""

import json

import pytest

from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.blocks import Verdict, key
from canonry.workers.clean.extract import explain, extract
from canonry.workers.clean.normalize import tidy_line
from canonry.workers.eval.extraction import f1, ngram_prf
from tests.shared_data import shared_dir

SEEDS_DIR = shared_dir() / "seeds"
SEEDS = [
    json.loads(line)
    for line in (SEEDS_DIR / "expected.jsonl").read_text().splitlines()
    if line.strip()
]


def _extract(seed: dict) -> Extracted:
    text = (SEEDS_DIR / seed["file"]).read_text(encoding="utf-8")
    return extract(RawArticle(url=f"https://seed.example/{seed['file']}", text=text))


@pytest.mark.parametrize("seed", SEEDS, ids=[s["file"] for s in SEEDS])
def test_seed_body_and_title(seed: dict) -> None:
    out = _extract(seed)
    p, r = ngram_prf(out.text, seed["expected_body"])
    assert f1(p, r) >= 0.95, (p, r)
    assert out.title == seed["expected_title"]
    assert out.language == "en"


def _tidy(text: str) -> str:
    """The labels' whitespace tidying: spaces collapsed and trimmed in each line, paragraphs
    separated by one blank line."""
    paragraphs = ("\n".join(tidy_line(line) for line in p.splitlines()) for p in
                  text.split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p.strip())


@pytest.mark.parametrize("seed", SEEDS, ids=[s["file"] for s in SEEDS])
def test_seed_body_as_written(seed: dict) -> None:
    """The stored body is the labelled one character for character: curly quotes, dashes,
    ellipses and no-break spaces as the publisher wrote them (issue 9)."""
    assert _extract(seed).text == _tidy(seed["expected_body"])


def test_seed_002_has_no_paragraph_twice() -> None:
    seed = next(s for s in SEEDS if s["file"].startswith("002_"))
    paragraphs = _extract(seed).text.split("\n\n")
    assert len(paragraphs) == len(set(paragraphs))
    assert not any("AFP/File" in p or p.endswith("...") for p in paragraphs)


def test_extract_is_deterministic() -> None:
    seed = SEEDS[0]
    assert _extract(seed) == _extract(seed)


def test_nothing_to_extract() -> None:
    assert extract(RawArticle(url="https://x.example/a", text="")) == Extracted(text="")
    assert extract(RawArticle(url="https://x.example/a", html="<html></html>")).text == ""


def test_declared_metadata_wins() -> None:
    seed = SEEDS[0]
    text = (SEEDS_DIR / seed["file"]).read_text(encoding="utf-8")
    out = extract(RawArticle(url="https://x.example/a", text=text, title="Given", language="EN_us"))
    assert (out.title, out.language) == ("Given", "en-US")


def test_html_metadata() -> None:
    body = " ".join(["The council approved the new budget on Tuesday after a long debate."] * 4)
    html = (
        "<html><head><title>Budget passes | Town News</title>"
        '<meta property="og:title" content="Budget passes">'
        '<meta property="article:published_time" content="2019-11-18T10:00:00Z"></head>'
        f"<body><nav>Home News Sport</nav><article><h1>Budget passes</h1><p>{body}</p>"
        f"<p>{body}</p></article></body></html>"
    )
    out = extract(RawArticle(url="https://town.example/budget", html=html))
    assert out.title == "Budget passes"
    assert out.published_at is not None and out.published_at.year == 2019
    assert out.text.startswith("The council approved") and "Home News" not in out.text
    assert out.language == "en"


@pytest.mark.parametrize("seed", SEEDS, ids=[s["file"] for s in SEEDS])
def test_explain_gives_every_block_its_verdict(seed: dict) -> None:
    """The verdicts are the cleaner's own: the kept blocks are exactly the stored body."""
    text = (SEEDS_DIR / seed["file"]).read_text(encoding="utf-8")
    explained = explain(RawArticle(url=f"https://seed.example/{seed['file']}", text=text))
    assert len(explained.verdicts) == len(explained.blocks)
    kept = [b.text for b, v in zip(explained.blocks, explained.verdicts, strict=True)
            if v is Verdict.KEPT]
    assert "\n\n".join(kept) == explained.extracted.text == _extract(seed).text


def test_explain_marks_the_pasted_second_body_as_a_repeat() -> None:
    """Seed 002 pastes its AFP body twice: the second copy is labelled a repeat, not chrome."""
    [seed] = [s for s in SEEDS if s["file"].startswith("002_")]
    text = (SEEDS_DIR / seed["file"]).read_text(encoding="utf-8")
    explained = explain(RawArticle(url="https://seed.example/002", text=text))
    pairs = list(zip(explained.blocks, explained.verdicts, strict=True))
    kept = [key(b.norm) for b, v in pairs if v is Verdict.KEPT and len(b.text.split()) >= 25]
    repeats = {key(b.norm) for b, v in pairs if v is Verdict.REPEAT}
    assert len(kept) >= 10
    # Every long paragraph of the body is said again, and the second saying is the repeat.
    assert set(kept) <= repeats


def test_a_list_page_keeps_what_the_html_extractor_chose() -> None:
    """An HTML page that is mostly a list (steps, specs) is kept as the extractor returned it:
    the prose rules cost there (`canonry eval extraction --peer`, by page shape). The same
    credit line on a page of paragraphs is removed as a photo credit."""
    from canonry.workers.clean.blocks import is_list_page

    steps = "".join(f"<li>Fold the {part} edge twice</li>" for part in
                    ("top", "bottom", "left", "right", "inner", "outer", "front", "back"))
    credit = "<p>Photo: Jane Doe/Reuters</p>"
    intro = ("<p>Folding a fitted sheet is the chore everyone hates, and there is a simple way "
             "to do it that takes less than a minute once you have practised it twice.</p>")
    listy = f"<html><body><article>{intro}{credit}<ul>{steps}</ul></article></body></html>"
    explained = explain(RawArticle(url="https://example.org/steps", html=listy))
    assert is_list_page(explained.blocks)
    assert set(explained.verdicts) == {Verdict.KEPT}
    assert "Photo: Jane Doe/Reuters" in explained.extracted.text
    prose = "".join(intro.replace("twice", f"twice ({n})") for n in range(6))
    page = f"<html><body><article>{prose}{credit}</article></body></html>"
    explained = explain(RawArticle(url="https://example.org/prose", html=page))
    assert not is_list_page(explained.blocks)
    assert "Photo: Jane Doe/Reuters" not in explained.extracted.text
