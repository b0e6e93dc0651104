"""One-block articles (issue 9): a body without line breaks is cut into pseudo-paragraphs of
whole sentences before the line rules judge it, so a clean article is never empty."""

from __future__ import annotations

import pytest

from canonry.service.cli import main
from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract
from canonry.workers.clean.normalize import normalize_line
from canonry.workers.clean.parse import parse_text
from canonry.workers.clean.sentences import pseudo_paragraphs, split_sentences
from canonry.workers.eval.extraction import ngram_prf
from canonry.workers.eval.oneblock import evaluate_oneblock, labelled_bodies, one_line
from tests.shared_data import shared_dir

# Dev pages whose one-line body came out empty before the split (each recall 1.000 after).
FORMERLY_EMPTY = (
    "arb-06e5123e4ef7cfb4533250dc45d1e03d0838fc66223f45c583c4d12f48b4da85",
    "arb-11ea381ad92b5448cf66eae62f52ac565361a244c8881615fc6a7bb523cc0c32",
    "arb-30b771a40a4e96156d398716c877deef54b05d091770d2717c98e4c6b670010c",
    "arb-3ce1c8fdf6ad2ded9e48a68be71eb069fc453ef1b75f47698428a1fdda0deb24",
    "arb-55bb6340e3d7dd8632ba45179ae43c39f8ad0cfcecb4719e3b9cf6106ffb70a3",
)


def test_sentences_end_at_marks_not_at_abbreviations_or_initials() -> None:
    text = ('Mr. Smith met the U.S. envoy in Washington, D.C. on Jan. 5. "It went well," he '
            "said. Then J. K. Rowling spoke! Was it 3 p.m.? Yes. No. 3 won, e.g. by a length.")
    assert split_sentences(text) == [
        "Mr. Smith met the U.S. envoy in Washington, D.C. on Jan. 5.",
        '"It went well," he said.', "Then J. K. Rowling spoke!", "Was it 3 p.m.?", "Yes.",
        "No. 3 won, e.g. by a length."]


def test_scripts_without_spaces_and_without_case() -> None:
    assert split_sentences("北京是首都。上海很大！你好吗？") == [
        "北京是首都。", "上海很大！", "你好吗？"]
    assert split_sentences("Это первое. Это второе.") == ["Это первое.", "Это второе."]
    assert split_sentences("هذا أول. هذا ثان.") == ["هذا أول.", "هذا ثان."]


def test_pseudo_paragraphs_keep_the_text_as_written() -> None:
    text = " ".join(f"The council approved budget number {n} on Tuesday after a long debate."
                    for n in range(12))
    paragraphs = pseudo_paragraphs(text, min_words=40)
    assert len(paragraphs) == 3  # 12 sentences of 12 words: 4, 4, 4
    assert " ".join(paragraphs) == text
    assert pseudo_paragraphs("北京是首都。上海很大！") == ["北京是首都。上海很大！"]


def test_a_sentence_said_again_in_one_line_is_left_out() -> None:
    body = " ".join(f"Sentence {n} of the story says something new about the vote." for n in
                    range(8))
    pasted_twice = f"{body} {body}"
    assert " ".join(pseudo_paragraphs(pasted_twice)) == body
    blob = " ".join(["The same sentence, again and again, as a spammer sends it."] * 500)
    assert pseudo_paragraphs(blob) == ["The same sentence, again and again, as a spammer sends it."]


def test_what_is_split_and_what_is_not() -> None:
    line = " ".join(f"Sentence {n} of the body goes on for a while." for n in range(30))
    assert len(parse_text(line).blocks) > 1
    assert all(block.pseudo for block in parse_text(line).blocks)
    # One sentence a line: read as one line.
    lines = parse_text("\n".join(split_sentences(line)))
    assert [b.text for b in lines.blocks] == [b.text for b in parse_text(line).blocks]
    # A page laid out in paragraphs keeps them (its rules were measured on them) ...
    short = "A paragraph of the article, as the page laid it out."
    page = parse_text(f"Home | News\n\n{short}\n\n{short} Two.\n\nShare this")
    assert [block.pseudo for block in page.blocks] == [False] * 4
    # ... but a line of 150 words or more between them is cut.
    page = parse_text(f"Home | News\n\n{line}\n\nShare this")
    assert [block.pseudo for block in page.blocks][:2] == [False, True]
    assert not page.blocks[-1].pseudo and len(page.blocks) > 3
    assert len(parse_text(line, split=False).blocks) == 1


WIRE_STORY = one_line("""
(Reuters) - The New York State Attorney General is investigating the office-sharing company,
according to two people familiar with the matter, adding to a mounting list of inquiries into
its finances. The office sent subpoenas to the firm in recent weeks, the people said, asking for
records of its dealings with former executives and with the banks that underwrote its failed
listing. A spokeswoman for the attorney general declined to comment. The company did not
respond to a request for comment on Tuesday. Mr. Neumann, who stepped down as chief executive in
September, has not been accused of wrongdoing. The inquiry follows a letter from U.S. Senator
Elizabeth Warren, who asked in October why the board had approved a payout of more than $1
billion to him. The company, once valued at $47 billion, has since cut thousands of jobs and
sold several of the businesses it had bought during its rapid expansion. Its largest
shareholder, SoftBank Group Corp., took control of the board as part of a rescue package worth
roughly $9.5 billion. Analysts said the investigation could complicate efforts to stabilise the
business before it tries again to sell shares to the public. "Regulators are looking closely at
how the company was run, and that will weigh on any new listing," said one analyst at a New
York investment bank, who asked not to be named because he was not authorised to speak to the
press. Separately, the company said on Monday it had agreed to sell its stake in a
Chinese joint venture, and that it expected to complete the sale by the end of the first
quarter. The terms of the deal were not disclosed. Shares of SoftBank fell 1.2 percent in
Tokyo trading after the news was reported, extending their losses this year.""")


def test_a_wire_story_in_one_paragraph_is_not_empty() -> None:
    assert len(WIRE_STORY.split()) > 250 and "\n" not in WIRE_STORY
    text = extract(RawArticle(url="https://wire.example/a", text=WIRE_STORY)).text
    assert ngram_prf(text, WIRE_STORY) == pytest.approx((1.0, 1.0))
    assert " ".join(text.split()) == WIRE_STORY  # the sentences as written, cut into paragraphs
    assert text.count("\n\n") >= 3


def test_real_one_line_bodies_keep_what_they_said() -> None:
    directory = shared_dir()
    result = evaluate_oneblock([directory / "seeds"])["seeds"]
    assert result["pages"] == 5 and result["min"] == pytest.approx(1.0)
    bodies = [page for page in labelled_bodies(directory / "data" / "extraction-dev.jsonl.gz")
              if page["id"] in FORMERLY_EMPTY]
    assert len(bodies) == len(FORMERLY_EMPTY)
    for page in bodies:
        text = extract(RawArticle(url=page["url"], text=one_line(page["body"]))).text
        assert ngram_prf(text, page["body"])[1] >= 0.95, page["id"]


def test_eval_oneblock_command(capsys: pytest.CaptureFixture[str]) -> None:
    seeds = shared_dir() / "seeds"
    assert main(["eval", "oneblock", str(seeds), "--worst", "1"]) == 0
    out = capsys.readouterr().out
    assert "seeds" in out and "p10" in out and "<0.95" in out
    assert main(["eval", "oneblock", str(seeds), "--shape", "sentences"]) == 0
    assert " 1.000 " in capsys.readouterr().out


def test_one_line_text_is_cut_as_its_normalised_form_and_kept_as_written() -> None:
    """A one-line text is split where its normalised form splits (a German closing “ reads as a
    closing quote, "204 ℉." as "204 °F.", an initial), and each piece keeps its characters."""
    text = " ".join(f"Die Ärzte sagen „das ist gut {n}.“ Danach kam der Bericht {n} über 204 ℉. "
                    f"Es wird warm, Tag {n}." for n in range(8))
    blocks = parse_text(text).blocks
    assert all(b.pseudo for b in blocks) and len(blocks) > 1
    assert " ".join(b.text for b in blocks) == text
    assert [b.norm for b in blocks] == [normalize_line(p) for p in pseudo_paragraphs(
        normalize_line(text))]
    assert [b.text for b in blocks] != pseudo_paragraphs(text)  # cut elsewhere as written
