"""Split a text that arrived as one block (RSS `content` without line breaks) into sentences and
group them into pseudo-paragraphs, so the line rules judge paragraphs, not one huge line.

A small rule splitter, not a library: a sentence ends at . ! ? … (and the closing quotes or
brackets after them) followed by whitespace and something that is not a lower-case letter, or
at a full stop of a script without spaces (。！？ and the Devanagari danda) wherever it is. It
does not end after an abbreviation ("Mr.", "U.S.", "e.g.", "Jan."), a single letter ("J. K.
Rowling") or a number ("No. 3"). A wrong split costs little: sentences are grouped again into
pseudo-paragraphs of at least `PSEUDO_PARAGRAPH_WORDS` words.
"""

from __future__ import annotations

import re
from itertools import pairwise

from canonry.workers.clean import rules
from canonry.workers.scripts import UNSPACED_CHAR

# Ends of sentences in spaced scripts: the mark, closing quotes/brackets, then whitespace.
_SPACED_END = re.compile(r"""[.!?…]+["'”’»)\]]*\s+""")
# Full stops of scripts without spaces (CJK, Devanagari): a sentence ends right after them.
_UNSPACED_END = re.compile(r"""[。！？।]+["'”’」』)）\]]*\s*""")
# Words after which a full stop rarely ends the sentence (compared lower-cased, without dots).
_ABBREVIATIONS = (
    "mr mrs ms mx dr prof sr jr st sen rep gov gen col lt sgt capt cmdr adm maj rev hon pres "
    "supt insp det cpl pvt fr sra sr srta dra ing mme mlle hr fig figs no nos vol vols p pp ed "
    "eds al etc vs v cf ca approx est dept univ assn bros co corp inc ltd llc plc mt ft ave "
    "blvd rd hwy jan feb mar apr jun jul aug sep sept oct nov dec nr eg ie"
)
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
_LAST_WORD = re.compile(r"([\w.]+)[.!?…]*[\"'”’»)\]]*\s*$")

PSEUDO_PARAGRAPH_WORDS = 40
# Measured (`canonry eval oneblock`): leaving out repeated sentences of 6+ words costs WCXB's
# one-line bodies 0.997 -> 0.996 mean recall (8 -> 11 of 709 pages under 0.95: bodies that do
# repeat a sentence; p10 stays 1.000); extraction-dev 0.995 -> 0.994. Shorter repeats (table
# cells, refrains) are kept. The gain: a spam blob or a body pasted twice into one line no
# longer becomes a document's text with its sentences doubled.
REPEAT_WORDS = 6


def _ends_sentence(before: str, after: str) -> bool:
    """Whether a spaced-script sentence mark between `before` and `after` ends a sentence."""
    if not after or after[0].islower():
        return False
    if not before.endswith("."):  # ! ? … end sentences whatever precedes them
        return True
    match = _LAST_WORD.search(before[-40:])
    if match is None:
        return True
    word = match.group(1).rstrip(".")
    if "." in word:  # U.S., e.g., a.m.: an abbreviation with inner dots
        return False
    if len(word) == 1 and word.isalpha():  # an initial
        return False
    if word.isdigit() and len(word) <= 2 and after[:1].isdigit():  # "Act No. 3", "1. 2."
        return False
    return word.lower() not in ABBREVIATIONS


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of the sentences of `text`, in order, covering it."""
    cuts = {0, len(text)}
    for match in _SPACED_END.finditer(text):
        if _ends_sentence(text[: match.end()].rstrip(), text[match.end() : match.end() + 1]):
            cuts.add(match.end())
    for match in _UNSPACED_END.finditer(text):
        cuts.add(match.end())
    bounds = sorted(cuts)
    return list(pairwise(bounds))


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, each stripped."""
    return [piece for a, b in sentence_spans(text) if (piece := text[a:b].strip())]


def _words(text: str) -> float:
    unspaced = len(UNSPACED_CHAR.findall(text))
    return len(rules.line_words(UNSPACED_CHAR.sub(" ", text))) + unspaced / 2.0


def pseudo_paragraphs(text: str, min_words: int = PSEUDO_PARAGRAPH_WORDS) -> list[str]:
    """`text` cut between sentences into paragraphs of at least `min_words` words (in scripts
    without spaces, two characters count as one word), each as it was written; a short last one
    joins the one before it."""
    return [piece for a, b in paragraph_spans(text, min_words) if (piece := text[a:b].strip())]


def paragraph_spans(text: str, min_words: int = PSEUDO_PARAGRAPH_WORDS) -> list[tuple[int, int]]:
    """[start, end) of the pseudo-paragraphs `pseudo_paragraphs` cuts `text` into. A sentence
    of REPEAT_WORDS words or more said again (same words, any case or spacing) is left out, and
    the paragraph ends before it: within one line that is a body pasted twice or a blob of
    repeats, which the repeated-block rule would catch if the line had been laid out in
    paragraphs. (Shorter repeats are table cells and refrains: kept.)"""
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    start: int | None = None
    end = 0
    size = 0.0
    for a, b in sentence_spans(text):
        key = " ".join(text[a:b].split()).casefold()
        if key in seen and _words(key) >= REPEAT_WORDS:
            if start is not None:
                spans.append((start, end))
                start, size = None, 0.0
            continue
        seen.add(key)
        start = a if start is None else start
        end = b
        size += _words(text[a:b])
        if size >= min_words:
            spans.append((start, end))
            start, size = None, 0.0
    if start is not None:
        if spans and spans[-1][1] == start and size < min_words / 2:
            spans[-1] = (spans[-1][0], end)  # a short last one joins the one before it
        else:
            spans.append((start, end))
    return spans
