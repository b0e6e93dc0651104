from hypothesis import given, settings
from hypothesis import strategies as st

from canonry.workers.clean.normalize import normalize_line, normalize_lines


def test_quotes_become_straight() -> None:
    assert normalize_line("“Turkey is violating Syrian sovereignty,” he said") == (
        '"Turkey is violating Syrian sovereignty," he said'
    )
    assert normalize_line("Russia’s ‘Plan B’ «non»") == "Russia's 'Plan B' \"non\""


def test_dashes_and_ellipsis() -> None:
    assert normalize_line("– ‘Russia destabilising the West’ –") == (
        "- 'Russia destabilising the West' -"
    )
    assert normalize_line("rebels — who still") == "rebels - who still"
    assert normalize_line("There is no question… that") == "There is no question... that"


def test_spaces_and_invisible_characters() -> None:
    assert normalize_line("Astana:\xa0Syria’s warring sides are set to\xa0meet") == (
        "Astana: Syria's warring sides are set to meet"
    )
    assert normalize_line("zero\u200bwidth\ufeff soft\u00adhyphen") == "zerowidth softhyphen"
    assert normalize_line("  many \t  spaces\u2003here  ") == "many spaces here"
    # ZWNJ is spelling in Persian: kept.
    assert normalize_line("می\u200cخواهم") == "می\u200cخواهم"


def test_nfkc_folds_compatibility_forms() -> None:
    assert normalize_line("ﬁnal Ｆｕｌｌｗｉｄｔｈ") == "final Fullwidth"


def test_both_quote_styles_of_seed_002_normalise_alike() -> None:
    straight = 'Russia\'s deputy foreign minister Gennady Gatilov said Moscow was "ready"'
    curly = "Russia’s deputy foreign minister Gennady Gatilov said Moscow was “ready”"
    assert normalize_line(straight) == normalize_line(curly)


# Line breaks, separators, controls, combining marks, compatibility forms, quotes and spaces:
# everything `normalize_line` changes, and everything that could interact across a newline.
_TRICKY = (
    "ab e\t\xa0\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85\r\n\u0301\u0308\u0323\u0344\ufb01"
    "\u2019\u201c\u200b\x00\x07\x7f\x9f\u3000\u1100\u1161\uac00\u0f73\u1e9b"
)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TRICKY), max_size=40))
def test_a_page_normalised_at_once_equals_line_by_line(text: str) -> None:
    lines = text.splitlines()
    assert normalize_lines(lines) == [normalize_line(line) for line in lines]
