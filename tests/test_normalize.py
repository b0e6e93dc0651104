from canonry.workers.clean.normalize import normalize_line


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
