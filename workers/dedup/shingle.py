"""Shingles: the set a text is fingerprinted as.

Normalisation removes what syndication changes without changing the story (case, quote style,
punctuation, digit forms, spacing), so those edits do not cost shared shingles. Texts in scripts
written without spaces between words (CJK, Thai, ...) are shingled by characters, because
splitting on spaces would give one "word" per sentence and almost no shared shingles.
"""

from __future__ import annotations

import re
import unicodedata

from canonry.workers.clean.normalize import compare_text
from canonry.workers.scripts import UNSPACED_CHAR

# Apostrophes join the word they sit in ("don't" == "don’t" == "dont") instead of splitting it.
_APOSTROPHES = frozenset("'’‘`´ʼʹ′")
_SPACES = re.compile(r"\s+")

# Scripts whose text has no spaces between words (ranges are inclusive). Hangul is absent on
# purpose: Korean puts spaces between words.
# Share of letters from those scripts above which a text is shingled by characters. A few
# Latin brand names in a Japanese article do not make it a spaced text, nor the reverse.
UNSPACED_SHARE = 0.3


def _map_char(ch: str) -> str:
    if ch in _APOSTROPHES:
        return ""
    if ch.isdigit():
        # All digits are one: "12" and "١٢" and "2" (a changed count) cost no more than
        # a changed word would. Dates and counts are too weak to tell stories apart anyway.
        return "0"
    category = unicodedata.category(ch)
    # Punctuation (quotes, dashes, brackets), symbols and control/format characters (zero-width
    # joiners, soft hyphens) separate words; combining marks (M*) are kept: Thai vowels are marks.
    if category[0] in "PSCZ":
        return " "
    return ch


class _CharMap(dict[int, str]):
    """str.translate table filled on first sight of each character: a memo of `_map_char`."""

    def __missing__(self, cp: int) -> str:
        mapped = self[cp] = _map_char(chr(cp))
        return mapped


_CHAR_MAP = _CharMap()
# The same map for ASCII text as a bytes table: bytes.translate is one pass in C, where
# str.translate consults the dict a character at a time.
_ASCII_DELETE = bytes(i for i in range(128) if not _map_char(chr(i)))
_ASCII_TABLE = bytes(ord(_map_char(chr(i)) or chr(i)) if i < 128 else i for i in range(256))


def _map_chars(folded: str) -> str:
    if folded.isascii():
        return folded.encode().translate(_ASCII_TABLE, _ASCII_DELETE).decode()
    return folded.translate(_CHAR_MAP)


def normalize(text: str) -> str:
    """Lower-cased text with punctuation, symbols and quotes removed, every digit mapped to "0"
    and every run of whitespace made one space. The cleaner's comparison form first
    (`compare_text`: NFKC, one quote and dash style, invisible characters dropped), so a text as
    the publisher wrote it shingles as its normalised form did (what was stored before texts
    kept their characters), and full-width and compatibility forms (e.g. "Ｈｅｌｌｏ", "①")
    fold into their plain forms."""
    folded = unicodedata.normalize("NFKC", compare_text(text)).casefold()
    mapped = _map_chars(folded)
    return _SPACES.sub(" ", mapped).strip()


def is_unspaced(text: str) -> bool:
    """True when most of the text's letters are in a script written without word spaces.

    Decided from the characters, not a language tag: tags are often missing or wrong on feeds.
    """
    unspaced = sum(1 for ch in UNSPACED_CHAR.findall(text) if ch.isalpha())
    if not unspaced:  # most texts: one scan in C decides
        return False
    return unspaced >= UNSPACED_SHARE * sum(1 for ch in text if ch.isalpha())


def word_shingles(normalized: str, size: int) -> set[str]:
    """Distinct word n-grams; a text shorter than `size` words is one shingle."""
    words = normalized.split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    # zip of the shifted lists stops at the shortest: the n-grams, built in C.
    return set(map(" ".join, zip(*(words[i:] for i in range(size)), strict=False)))


def char_shingles(normalized: str, size: int) -> set[str]:
    """Distinct character n-grams with spaces removed (they mark only punctuation there)."""
    chars = normalized.replace(" ", "")
    if len(chars) <= size:
        return {chars} if chars else set()
    return {chars[i : i + size] for i in range(len(chars) - size + 1)}


def shingles(text: str, word_size: int = 5, char_size: int = 5) -> set[str]:
    """The shingle set of `text`: word `word_size`-grams, or character `char_size`-grams when
    the text is mostly in a script without word spaces."""
    normalized = normalize(text)
    if is_unspaced(normalized):
        return char_shingles(normalized, char_size)
    return word_shingles(normalized, word_size)
