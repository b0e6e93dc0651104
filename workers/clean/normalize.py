"""Comparison-text normalisation: one spelling for characters that look alike.

Two copies of one story often differ only in typography (seed 002 carries its body twice, once
with straight and once with curly quotes), so everything that compares text (the cleaning rules,
chrome line keys, title matching, the fingerprint) compares normalised text. The stored text is
the publisher's: `tidy_line` only collapses spaces and trims line ends; `normalize_line` is the
key computed beside it. Case, punctuation and digits are kept in both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Applied after NFKC, which already folds NBSP and typographic spaces to " " and "…" to "...".
_TRANSLATE = str.maketrans(
    {
        # One form of quotes: straight ' and ".
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u2039": "'", "\u203a": "'", "\u02bc": "'", "\uff07": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"', "\uff02": '"',
        # One form of dashes: the ASCII hyphen-minus.
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\ufe58": "-", "\ufe63": "-", "\uff0d": "-",
        # Invisible characters that only break matching. ZWNJ/ZWJ are kept: they are spelling in
        # Persian and Indic scripts.
        "\u200b": None, "\u2060": None, "\ufeff": None, "\u00ad": None, "\u180e": None,
        # Tabs and the Unicode line/paragraph separators become plain whitespace.
        "\t": " ", "\u2028": "\n", "\u2029": "\n", "\x0b": "\n", "\x0c": "\n",
    }
)  # fmt: skip

# str.translate with a dict walks a non-ASCII text a character at a time through the dict;
# finding the few characters to replace with a character class is ~10x faster.
_REPLACE = {chr(code): value or "" for code, value in _TRANSLATE.items()}
_REPLACEABLE = re.compile("[" + re.escape("".join(_REPLACE)) + "]")


def _translate(text: str) -> str:
    return _REPLACEABLE.sub(lambda match: _REPLACE[match.group()], text)


# C0/C1 control characters other than newline: junk from scrapers.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")


def normalize_line(line: str) -> str:
    """Normalise one line: NFKC, quotes, dashes, invisible characters, collapsed spaces."""
    line = _translate(unicodedata.normalize("NFKC", line))
    line = _CONTROL.sub(" ", line)
    return _SPACES.sub(" ", line).strip()


def normalize_lines(lines: Sequence[str]) -> list[str]:
    """`normalize_line` of each line (as `str.splitlines` gives them: none holds a line break),
    in one pass over the joined text: no step changes or crosses a newline, so the lines come out
    the same, at a fraction of the per-call cost."""
    if not lines:
        return []
    text = _translate(unicodedata.normalize("NFKC", "\n".join(lines)))
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text))
    return [line.strip() for line in text.split("\n")]


# Display text: ASCII spaces, tabs and controls collapse; other spaces (NBSP, thin and
# ideographic spaces) are the publisher's and stay, as do all other characters.
_DISPLAY_SPACES = re.compile(r"[ \x00-\x09\x0b-\x1f\x7f-\x9f]+")


def tidy_line(line: str) -> str:
    """The line as written, with runs of ASCII spaces, tabs and control characters made one
    space and the ends trimmed: what the stored text keeps of a line."""
    return _DISPLAY_SPACES.sub(" ", line).strip()


def compare_text(text: str) -> str:
    """The normalised form of a whole text, line by line: what fingerprints and exact-text
    hashes are computed on, so a copy that differs only in typography is the same text. The
    identity on a text that is normalised already (what older versions stored)."""
    return "\n".join(normalize_lines(text.splitlines()))


def normalized_offsets(line: str) -> tuple[str, list[int], list[int]]:
    """The line normalised piece by piece (a character with the combining marks after it), with
    where each piece starts in the normalised text and in `line`: so that cuts decided on the
    normalised form (between sentences) can be made in the text as written. Spaces are not
    collapsed here; otherwise each piece is what `normalize_line` makes of it."""
    pieces: list[str] = []
    starts: list[int] = []
    for i, ch in enumerate(line):
        if pieces and unicodedata.combining(ch):
            pieces[-1] += ch
        else:
            pieces.append(ch)
            starts.append(i)
    normalized: list[str] = []
    offsets: list[int] = []
    at = 0
    for piece in pieces:
        offsets.append(at)
        folded = _CONTROL.sub(" ", _translate(unicodedata.normalize("NFKC", piece)))
        normalized.append(folded)
        at += len(folded)
    return "".join(normalized), offsets, starts
