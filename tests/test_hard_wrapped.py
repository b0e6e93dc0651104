"""A text whose paragraphs were hard-wrapped into short lines is read as those paragraphs."""

from __future__ import annotations

import textwrap

from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract
from canonry.workers.clean.parse import parse_text
from tests import synthetic

BODY = synthetic.story(52, paragraphs=6).split("\n\n")
NAV = ["Home", "News", "Sport", "Contact us"]
FOOTER = ["About us", "Terms of use", "Privacy policy"]


def _wrapped(paragraphs: list[str], between: str) -> list[str]:
    return [between.join(textwrap.wrap(p, 72)) for p in paragraphs]


def test_a_hard_wrapped_article_is_its_paragraphs_again() -> None:
    for between in ("\n", "\n\n"):  # wrapped lines in one paragraph, or each its own
        text = "\n\n".join([*NAV, *_wrapped(BODY, between), *FOOTER])
        # The precondition: as sent, no line of the body is a whole paragraph.
        assert not set(BODY) & set(text.split("\n"))
        kept = extract(RawArticle(url="https://example.com/a", text=text)).text
        # Every word of the body, in order, and nothing else; a wrap that fell between two
        # sentences may stay a paragraph break.
        assert kept.split() == " ".join(BODY).split()
        assert len(kept.split("\n\n")) < sum(len(textwrap.wrap(p, 72)) for p in BODY)


def test_a_headline_above_its_byline_stays_two_lines() -> None:
    lines = ["Rain is back in the valley after a dry month", "by Ana Lopez", *BODY]
    blocks = [b.text for b in parse_text("\n\n".join(lines)).blocks]
    # A wrapped page would join them; one such pair among whole paragraphs is not one.
    assert blocks[:2] == lines[:2]
