"""How a copy compares with the canonical text: the exact shingle overlap (the sets the
fingerprint is a MinHash of, from `workers/dedup`), and the two texts' sentences marked as
shared, edited or found on one side only.

Pure and deterministic: no I/O, so it is tested apart from the pages that show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from canonry.workers.clean.blocks import key
from canonry.workers.clean.sentences import split_sentences
from canonry.workers.dedup.fingerprint import DEFAULT as MINHASH
from canonry.workers.dedup.shingle import shingles


@dataclass(frozen=True, slots=True)
class Overlap:
    """Exact figures on the shingle sets (the matcher works on MinHash estimates of these)."""

    jaccard: float  # |A∩B| / |A∪B|
    containment: float  # |A∩B| / the smaller set: how much of the smaller text the other holds
    shared: int  # |A∩B|
    sizes: tuple[int, int]  # |A|, |B|


def shingle_set(text: str) -> frozenset[str]:
    """The set `fingerprint` hashes: word (or, for unspaced scripts, character) 5-grams."""
    return frozenset(shingles(text, MINHASH.word_size, MINHASH.char_size))


def overlap(a: frozenset[str], b: frozenset[str]) -> Overlap:
    shared = len(a & b)
    union = len(a) + len(b) - shared
    smaller = min(len(a), len(b))
    return Overlap(jaccard=shared / union if union else 0.0,
                   containment=shared / smaller if smaller else 0.0,
                   shared=shared, sizes=(len(a), len(b)))


State = Literal["same", "edited", "only"]


@dataclass(frozen=True, slots=True)
class Passage:
    """One sentence of a text. `same`: the other text has it (in its comparison form: case,
    quotes and punctuation do not count); `edited`: it stands where the other text has a
    sentence that shares most of its words; `only`: the other text has nothing like it.
    `pieces` is the sentence in order, each piece flagged when it differs from the other side."""

    state: State
    pieces: tuple[tuple[str, bool], ...]

    @property
    def text(self) -> str:
        return "".join(piece for piece, _ in self.pieces)


# A sentence counts as an edit of its counterpart when this share of their words line up.
EDITED_RATIO = 0.6
# Sentence pairs compared at most within one replaced run (each a word-level SequenceMatcher).
MAX_PAIRINGS = 2500
_TOKEN = re.compile(r"\S+\s*")


def _sentences(text: str) -> list[list[str]]:
    """Paragraphs (blank-line separated) of sentences, as written."""
    return [split_sentences(p) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _word_pieces(sentence: str, other: str) -> tuple[tuple[str, bool], ...]:
    mine, theirs = _TOKEN.findall(sentence), _TOKEN.findall(other)
    matcher = SequenceMatcher(None, [key(t) for t in mine], [key(t) for t in theirs],
                              autojunk=False)
    pieces: list[tuple[str, bool]] = []
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if i1 < i2:
            pieces.append(("".join(mine[i1:i2]), tag != "equal"))
    return tuple(pieces)


def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, key(a).split(), key(b).split(), autojunk=False).ratio()


def _passages(mine: list[str], theirs: list[str], mine_keys: list[str],
              theirs_keys: list[str]) -> list[Passage]:
    """The passages of `mine`, judged against `theirs` (both flat lists of sentences)."""
    theirs_set = set(theirs_keys)
    out: list[Passage | None] = [None] * len(mine)
    matcher = SequenceMatcher(None, mine_keys, theirs_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            continue
        # Pair each sentence of a replaced run with the most alike of the other side's run
        # (each used once): a reworded sentence is an edit, not a removal and an addition.
        if (i2 - i1) * (j2 - j1) > MAX_PAIRINGS:
            continue  # two unrelated texts: nothing to pair, and too costly to try
        free = set(range(j1, j2))
        for i in range(i1, i2):
            if mine_keys[i] in theirs_set or not free:
                continue
            ratio, j = max((_ratio(mine[i], theirs[j]), -j) for j in free)
            if ratio >= EDITED_RATIO:
                free.discard(-j)
                out[i] = Passage("edited", _word_pieces(mine[i], theirs[-j]))
    for i, sentence in enumerate(mine):
        if out[i] is None:
            # A sentence the other text has anywhere is shared, even moved or re-paragraphed.
            same = bool(mine_keys[i]) and mine_keys[i] in theirs_set
            out[i] = Passage("same" if same else "only", ((sentence, not same),))
    return [p for p in out if p is not None]


def _regroup(passages: list[Passage], shape: list[list[str]]) -> list[list[Passage]]:
    grouped, n = [], 0
    for paragraph in shape:
        grouped.append(passages[n:n + len(paragraph)])
        n += len(paragraph)
    return grouped


def side_by_side(left: str, right: str) -> tuple[list[list[Passage]], list[list[Passage]]]:
    """Both texts as paragraphs of passages, each side judged against the other."""
    left_shape, right_shape = _sentences(left), _sentences(right)
    left_flat = [s for p in left_shape for s in p]
    right_flat = [s for p in right_shape for s in p]
    left_keys, right_keys = [key(s) for s in left_flat], [key(s) for s in right_flat]
    return (_regroup(_passages(left_flat, right_flat, left_keys, right_keys), left_shape),
            _regroup(_passages(right_flat, left_flat, right_keys, left_keys), right_shape))
