"""URL identity (issue 11): one normal form for every spelling of a page's address, and the
addresses an HTML page declares for itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trafilatura.utils import load_html

from canonry.workers.clean.parse import declared_links, parse_html
from canonry.workers.urls import normalize_url, url_key

BASE = "https://example.com/news/2021/story"


@pytest.mark.parametrize("variant", [
    "https://example.com/news/2021/story",
    "HTTPS://EXAMPLE.COM/news/2021/story",
    "http://example.com/news/2021/story",
    "https://www.example.com/news/2021/story",
    "https://example.com:443/news/2021/story",
    "http://example.com:80/news/2021/story",
    "https://example.com./news/2021/story",
    "https://example.com/news/2021/story/",
    "https://example.com/news/2021/story#comments",
    "https://example.com/news/2021/story?utm_source=newsletter&utm_medium=email",
    "https://example.com/news/2021/story?fbclid=IwAR0abc&gclid=xyz&mc_cid=1&mc_eid=2&ocid=msn",
    "https://example.com/news/2021/./story",
    "https://example.com/news/x/../2021/story",
    "https://example.com/%6Eews/2021/story",
    "  https://example.com/news/2021/story  ",
])
def test_every_spelling_of_one_address_has_one_normal_form(variant: str) -> None:
    assert normalize_url(variant) == BASE
    assert url_key(variant) == url_key(BASE)


@pytest.mark.parametrize("a, b", [
    ("https://ex.com/a?b=2&a=1", "https://ex.com/a?a=1&b=2"),  # query order
    ("https://ex.com/a?q=a+b", "https://ex.com/a?q=a%20b"),  # form encoding of a space
    ("https://ex.com/%e2%82%ac", "https://ex.com/%E2%82%AC"),  # escape case
    ("https://ex.com/€", "https://ex.com/%E2%82%AC"),  # an IRI's character, UTF-8 encoded
    ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),  # IDNA
    ("https://ex.com/a?x&utm_campaign=y", "https://ex.com/a?x="),
])
def test_equivalent_spellings_are_equal(a: str, b: str) -> None:
    assert normalize_url(a) == normalize_url(b)


@pytest.mark.parametrize("a, b", [
    ("https://ex.com/Story", "https://ex.com/story"),  # paths are case-sensitive
    ("https://ex.com/a?id=1", "https://ex.com/a?id=2"),  # a parameter that names the page
    ("https://ex.com/a?q=%2B", "https://ex.com/a?q=+"),  # an encoded "+" is not a space
    ("https://ex.com/a%2Fb", "https://ex.com/a/b"),  # an encoded slash is not a separator
    ("https://ex.com:8080/a", "https://ex.com/a"),  # a port that is not the default
    ("https://ex.com/#!/story/1", "https://ex.com/#!/story/2"),  # an AJAX route
    ("https://ex.com/a?q=%FF", "https://ex.com/a?q=%FE"),  # bytes that are not UTF-8
    ("https://news.ex.com/a", "https://ex.com/a"),  # another host
])
def test_different_addresses_stay_different(a: str, b: str) -> None:
    assert normalize_url(a) != normalize_url(b)


def test_what_is_not_an_http_url_is_only_equal_to_itself() -> None:
    assert normalize_url("ftp://ex.com/a") == "ftp://ex.com/a"
    assert normalize_url("https://ex.com:99999/a") == "https://ex.com:99999/a"


_URLS = st.builds(
    lambda scheme, host, path, query, fragment: f"{scheme}://{host}{path}{query}{fragment}",
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["ex.com", "WWW.Ex.Com", "bücher.de", "ex.com:8080", "ex.com:443"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30).map(lambda s: "/" + s),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30).map(
        lambda s: "?" + s if s else ""),
    st.sampled_from(["", "#top", "#!/r"]),
)


@given(_URLS)
def test_the_normal_form_is_a_fixed_point(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once


def _links(head: str, page_url: str = "https://m.example.com/news/a") -> dict[str, str]:
    tree = load_html(f"<html><head>{head}</head><body><p>Text.</p></body></html>")
    return dict(declared_links(tree, page_url))


def test_a_page_declares_its_canonical_og_url_and_amp_addresses() -> None:
    links = _links('<LINK REL="Canonical" HREF="/news/a">'
                   '<meta property="og:url" content="https://example.com/news/a?ref=og">'
                   '<link rel="amphtml" href="https://amp.example.com/news/a/amp">')
    assert links == {"canonical": "https://m.example.com/news/a",  # relative: resolved
                     "og:url": "https://example.com/news/a?ref=og",
                     "amphtml": "https://amp.example.com/news/a/amp"}


@pytest.mark.parametrize("head", [
    '<link rel="canonical" href="https://example.com/">',  # the template's home page
    '<link rel="canonical" href="javascript:void(0)">',
    '<link rel="canonical" href="https://exa mple.com/a">',
    '<link rel="canonical" href="">',
    '<link rel="canonical" href="https://' + "a" * 3000 + '.com/x">',
])
def test_links_that_name_no_article_are_ignored(head: str) -> None:
    assert _links(head) == {}


def test_the_first_link_of_each_kind_counts() -> None:
    links = _links('<link rel="canonical" href="https://example.com/one">'
                   '<link rel="canonical" href="https://example.com/two">')
    assert links == {"canonical": "https://example.com/one"}


def test_parse_html_carries_the_links() -> None:
    html = ('<html><head><link rel="canonical" href="https://example.com/news/a"></head><body>'
            "<article><p>" + "A sentence of the article body that is long enough. " * 20 +
            "</p></article></body></html>")
    page = parse_html(html, "https://example.com/news/a?utm_source=x")
    assert page.blocks
    assert page.links == (("canonical", "https://example.com/news/a"),)
