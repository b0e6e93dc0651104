from canonry.workers.dedup.shingle import (
    char_shingles,
    is_unspaced,
    normalize,
    shingles,
    word_shingles,
)


def test_normalize_case_punctuation_quotes_and_spaces():
    assert normalize("  He said:\t“Don’t — GO!”\n\n") == "he said dont go"
    assert normalize('He said: "Don\'t - go!"') == normalize("He said: «Don’t – go!»")


def test_normalize_unifies_digits_and_compatibility_forms():
    assert normalize("12:30 on 3 May") == "00 00 on 0 may"
    assert normalize("Ｈｅｌｌｏ ①") == "hello 0"
    assert normalize("٣ killed") == "0 killed"  # Arabic-Indic digit


def test_normalize_drops_invisible_and_keeps_letters_with_marks():
    # Dropped as the cleaner's comparison form drops them (the word they sit in stays one word):
    # what the fingerprint saw when stored texts were normalised.
    assert normalize("zero\u200bwidth soft\u00adhyphen") == "zerowidth softhyphen"
    assert normalize("don’t – “quoted” …") == normalize("don't - \"quoted\" ...") == "dont quoted"
    assert normalize("Café Zürich") == "café zürich"
    thai = "ภาษาไทย"  # vowel signs are combining marks: kept
    assert normalize(thai) == thai


def test_script_detection_not_language_tag():
    assert is_unspaced("東京都は12日、新型コロナウイルスの感染者を確認したと発表した。")
    assert is_unspaced("北京时间周一，国家统计局发布了最新数据。")
    assert is_unspaced("กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย")
    assert not is_unspaced("서울은 대한민국의 수도이다")  # Korean is written with spaces
    assert not is_unspaced("The iPhone launch in Tokyo (東京) drew crowds on Monday morning.")
    assert not is_unspaced("12 34 !!")


def test_word_shingles():
    assert word_shingles("a b c d", 3) == {"a b c", "b c d"}
    assert word_shingles("a b", 3) == {"a b"}
    assert word_shingles("", 3) == set()


def test_char_shingles_ignore_spaces():
    assert char_shingles("ab cd", 3) == {"abc", "bcd"}
    assert char_shingles("ab", 3) == {"ab"}


def test_shingles_chinese_japanese_thai_by_characters():
    zh = "国家统计局发布了最新数据"
    assert shingles(zh, char_size=4) == {zh[i : i + 4] for i in range(len(zh) - 3)}
    ja = "東京都は新型ウイルスの感染者を確認した。"
    assert "東京都は新" in shingles(ja)
    th = "กรุงเทพมหานครเป็นเมืองหลวง"
    assert all(len(s) == 5 for s in shingles(th))
    # A punctuation-only edit leaves the shingles unchanged.
    assert shingles("東京都は、新型ウイルス") == shingles("東京都は新型ウイルス")


def test_shingles_robust_to_syndication_typography():
    a = "The minister said: “We won’t stop.” Talks resume on 12 June in Geneva."
    b = 'THE MINISTER SAID: "We won\'t stop." Talks resume on 13 June in  Geneva'
    assert shingles(a) == shingles(b)


def test_ascii_fast_path_maps_every_character_as_the_unicode_path() -> None:
    from canonry.workers.dedup.shingle import _CHAR_MAP, _map_chars

    every_ascii = "".join(chr(i) for i in range(128))
    assert every_ascii.isascii()
    assert _map_chars(every_ascii) == every_ascii.translate(_CHAR_MAP)
    assert _map_chars("It's 10:45, `ok`") == "Its 00 00  ok"
