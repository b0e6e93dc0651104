"""The second candidate body of an HTML page: its whole visible text, cleaned as a text page.

It replaces the HTML extractor's body only when it is the article that body is part of: it
holds that body and clearly more, or it fills gaps inside it (`fuller_body`); these tests build
both sides by hand where the choice is made, and run real pages through `extract` for the side
where the extractor's body must stay.
"""

from __future__ import annotations

from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import (
    FULLER_CONTAINMENT,
    FULLER_RATIO,
    GAP_CONTAINMENT,
    GAP_RATIO,
    _extract_page,
    explain,
    extract,
    fuller_body,
    overlap,
)
from canonry.workers.clean.parse import Block, ParsedPage, parse_text, visible_lines
from tests import synthetic

BODY = synthetic.story(41, paragraphs=8).split("\n\n")
OTHER = synthetic.story(43, paragraphs=3).split("\n\n")
CHROME = ["Subscribe to our newsletter for the latest stories from our newsroom every week "
          "and special offers from our partners delivered straight to your inbox.",
          "We use cookies to give you the best experience on our website, to measure how it is "
          "used and to show you offers; by continuing to browse you agree to our use of them."]
NAV = ["Home", "World", "Business", "Sport", "Contact us"]
FOOTER = ["About us", "Terms of use", "Privacy policy", "All rights reserved."]


def _page(extracted: list[str], visible: list[str]) -> ParsedPage:
    blocks = [Block(line, n) for n, line in enumerate(extracted)]
    return ParsedPage(blocks, title="A story", from_html=True,
                      visible=parse_text("\n\n".join(visible)).blocks)


def test_a_fuller_body_holds_the_body_and_clearly_more() -> None:
    assert fuller_body(BODY, BODY[:2])
    # As much again is not clearly more: the extractor's body stands.
    assert not fuller_body(BODY[:2], BODY[:2])
    # Much more, but not the extractor's body: another part of the page.
    assert not fuller_body(BODY[2:], BODY[:2])
    # An extractor that kept nothing is held by anything.
    assert fuller_body(BODY[:1], [])
    assert FULLER_RATIO > 1 and 0 < GAP_CONTAINMENT < FULLER_CONTAINMENT <= 1 and GAP_RATIO > 0


def test_where_the_extra_lies_decides_below_full_containment() -> None:
    """The extractor skipped the middle of the article (a table, a boxed section) and kept a
    line of chrome: the visible body holds less of it than "holds" asks, but its extra lies
    between passages both bodies share, so it is the article. The same extra past the
    extractor's end is another story (related posts, teaser cards) and the body stands."""
    skipped_middle = [*BODY[:2], *BODY[5:], *CHROME]
    found = overlap(BODY, skipped_middle)
    assert GAP_CONTAINMENT <= found.contained < FULLER_CONTAINMENT
    assert found.beyond == 0 and found.inside >= GAP_RATIO * found.shared
    assert fuller_body(BODY, skipped_middle)
    with_other_story = [*BODY[:2], *BODY[5:], *OTHER]
    found = overlap(with_other_story, skipped_middle)
    assert found.inside == 0 and found.beyond > 0
    assert not fuller_body(with_other_story, skipped_middle)


def test_the_visible_body_wins_when_the_extractor_kept_a_part_of_it() -> None:
    article = RawArticle(url="https://example.com/a", html="<html></html>")
    page = _page(BODY[:2], [*NAV, *BODY, *FOOTER])
    extracted, chosen, cleaned = _extract_page(article, page, None, None)
    assert extracted.text.split("\n\n") == BODY
    # The explanation describes the blocks that were judged: the visible text's.
    assert chosen.blocks == page.visible and not chosen.from_html
    assert len(cleaned.verdicts) == len(page.visible)
    assert extracted.title == "A story"


def test_the_extractor_body_stays_when_the_visible_text_holds_no_more() -> None:
    article = RawArticle(url="https://example.com/a", html="<html></html>")
    page = _page(BODY, [*NAV, *BODY, *FOOTER])
    extracted, chosen, _ = _extract_page(article, page, None, None)
    assert extracted.text.split("\n\n") == BODY
    assert chosen.blocks == page.blocks and chosen.from_html


def test_a_whole_html_article_keeps_the_html_extractor_body() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY)
    links = "".join(f"<li><a href='/{n}'>{n}</a></li>" for n in NAV)
    html = (f"<html><head><title>A story</title></head><body><nav><ul>{links}</ul></nav>"
            f"<article><h1>A story</h1>{paragraphs}</article>"
            f"<footer>{''.join(f'<p>{f}</p>' for f in FOOTER)}</footer></body></html>")
    article = RawArticle(url="https://example.com/a", html=html)
    assert visible_lines(html)[: len(NAV)] == NAV  # the candidate saw the whole page
    assert extract(article).text.split("\n\n") == BODY
    assert explain(article).from_html


def test_a_page_the_extractor_finds_nothing_in_still_has_its_body() -> None:
    article = RawArticle(url="https://example.com/a", html="<html></html>")
    page = _page([], [*NAV, *BODY, *FOOTER])
    extracted, _, _ = _extract_page(article, page, None, None)
    assert extracted.text.split("\n\n") == BODY



def test_a_list_the_extractor_kept_alone_is_judged_like_any_body() -> None:
    """An extractor's output laid out in short lines is kept as extracted, but it is a
    candidate like any other: the steps of a guide, without the guide's prose around them,
    give way to the guide; steps beside another story's prose stay (WCXB dev, the 182 pages
    whose extractor output is list-shaped: F1 0.920 -> 0.926, trafilatura alone 0.917)."""
    steps = [f"Step {n}: {word}" for n, word in enumerate(["mix", "knead", "rest", "bake"] * 3)]
    article = RawArticle(url="https://example.com/a", html="<html></html>")
    guide = [*NAV, *BODY[:4], *steps, *BODY[4:], *FOOTER]
    extracted, chosen, _ = _extract_page(article, _page(steps, guide), None, None)
    assert extracted.text.split("\n\n") == [*BODY[:4], *steps, *BODY[4:]]
    assert not chosen.from_html
    elsewhere = [*NAV, *steps, *FOOTER, *OTHER]
    # The precondition: the visible text's body is that prose, not the steps.
    assert _extract_page(article, _page([], elsewhere), None, None)[0].text.split("\n\n") \
        == OTHER
    extracted, chosen, _ = _extract_page(article, _page(steps, elsewhere), None, None)
    assert extracted.text.split("\n\n") == steps and chosen.from_html


def test_a_link_box_after_the_body_ends_the_visible_body() -> None:
    """The visible text holds every sidebar and footer: past a body-sized run, a box of links
    ("More videos") and the testimonials after it are the page's, not the article's, even when
    they would outweigh their discount (frontierpediatrics.com, WCXB dev: F1 0.61 -> 1.00)."""
    reviews = synthetic.story(97, paragraphs=5).split("\n\n")
    testimonials = [line for n, review in enumerate(reviews) for line in (review, f"Parent {n}.")]
    visible = [*NAV, *BODY, "More videos", "Summer safety tips", *testimonials, *FOOTER]
    article = RawArticle(url="https://example.com/a", html="<html></html>")
    extracted, chosen, _ = _extract_page(article, _page(BODY, visible), None, None)
    assert extracted.text.split("\n\n") == BODY and chosen.from_html
    # The precondition: cleaned as a text page is, the visible text keeps the testimonials.
    as_text = extract(RawArticle(url="https://example.com/a", text="\n\n".join(visible)))
    assert testimonials[0] in as_text.text


def test_a_mega_menu_with_descriptions_is_not_joined_to_the_visible_body() -> None:
    """A clinic's menu: a heading, three services and a one-sentence description per section,
    fourteen times. Its descriptions hold a quarter of the body's worth of prose, but spread
    over some sixty short lines: in the visible text that is a menu, not the article's intro
    (spinemd.com, WCXB dev)."""
    menu = [line for k in range(14) for line in (
        f"Section {k}",
        f"Our team number {k} helps each patient recover from pain with care made for them.",
        f"Therapy {k}a", f"Therapy {k}b", f"Therapy {k}c")]
    visible = [*menu, *BODY, *FOOTER]
    article = RawArticle(url="https://example.com/a", html="<html></html>")
    extracted, chosen, _ = _extract_page(article, _page(BODY[:5], visible), None, None)
    assert extracted.text.split("\n\n") == BODY and not chosen.from_html
    # The precondition: cleaned as a text page is (no lines-per-word bar), the menu joins.
    as_text = extract(RawArticle(url="https://example.com/a", text="\n\n".join(visible)))
    assert menu[1] in as_text.text
