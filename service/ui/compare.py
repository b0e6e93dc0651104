"""How a copy compares with the canonical text: the exact shingle overlap (the sets the
fingerprint is a MinHash of, from `workers/dedup`), and each text's words marked where they
lie outside every shingle the other text shares.

Pure and deterministic: no I/O, so it is tested apart from the pages that show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from canonry.workers.dedup.fingerprint import DEFAULT as MINHASH
from canonry.workers.dedup.match import (
    DEFAULT_MATCH,
    MatchConfig,
    Score,
    aligned_score,
    in_doubt,
    verified_similarity,
)
from canonry.workers.dedup.shingle import is_unspaced, normalize, shingles


@dataclass(frozen=True, slots=True)
class Overlap:
    """Exact figures on the shingle sets (the matcher works on MinHash estimates of these)."""

    jaccard: float  # |A∩B| / |A∪B|
    containment: float  # |A∩B| / the smaller set: how much of the smaller text the other holds
    shared: int  # |A∩B|
    sizes: tuple[int, int]  # |A|, |B|
    # The same figures on the shingles in runs both texts share in order, single edits forgiven
    # (`match.aligned_score`), measured only when the shingles leave the pair in doubt.
    aligned: Score | None = None


def _score(figures: Overlap) -> Score | None:
    a, b = figures.sizes
    if not (a and b):
        return None
    return Score(jaccard=figures.jaccard, a_in_b=figures.shared / a, b_in_a=figures.shared / b,
                 size_ratio=min(a, b) / max(a, b))


def verifies(figures: Overlap, config: MatchConfig = DEFAULT_MATCH) -> bool:
    """Whether the matcher's verification passes on these exact figures (it sees estimates):
    on the shingles, or for a pair they leave in doubt on the texts read in order."""
    s = _score(figures)
    if s is None:
        return False
    return (verified_similarity(s, config) is not None
            or (figures.aligned is not None
                and verified_similarity(figures.aligned, config) is not None))


def compared(canonical_set: frozenset[str], canonical: str, text: str) -> Overlap:
    """The figures of a copy's `text` against the canonical text (and its shingle set)."""
    figures = overlap(canonical_set, shingle_set(text))
    s = _score(figures)
    if s is not None and in_doubt(s):
        return replace(figures, aligned=aligned_score(text, canonical))
    return figures


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


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # as written, with the whitespace after it
    shared: bool  # inside a shingle the other text has too


def _tokens(text: str, unspaced: bool) -> tuple[list[re.Match[str]], list[str], list[int]]:
    """The text's tokens as written (words, or characters of a script without spaces), the
    normalised units the shingles are made of, and the token each unit came from."""
    tokens = list((_CHAR if unspaced else _WORD).finditer(text))
    units: list[str] = []
    owner: list[int] = []
    for n, token in enumerate(tokens):
        normalized = normalize(token.group())
        pieces = list(normalized.replace(" ", "")) if unspaced else normalized.split()
        units.extend(pieces)
        owner.extend([n] * len(pieces))
    return tokens, units, owner


def marked(text: str, other: frozenset[str]) -> list[list[Token]]:
    """`text`'s paragraphs as tokens, each flagged when it lies inside a shingle (word or
    character 5-gram, as `fingerprint` makes them) that `other` — the other text's shingle
    set — holds: the very overlap Jaccard and containment count, so re-paragraphing, merged
    lines and quote styles do not show as differences, and a changed word shows as a gap of a
    few marked words around it."""
    unspaced = is_unspaced(normalize(text))
    size = MINHASH.char_size if unspaced else MINHASH.word_size
    joiner = "" if unspaced else " "
    tokens, units, owner = _tokens(text, unspaced)
    shared = [False] * len(tokens)
    if 0 < len(units) <= size and joiner.join(units) in other:  # a short text: one shingle
        shared = [True] * len(tokens)
    for i in range(len(units) - size + 1):
        if joiner.join(units[i:i + size]) in other:
            for n in owner[i:i + size]:
                shared[n] = True
    paragraphs: list[list[Token]] = []
    ends = [m.end() for m in re.finditer(r"\n\s*\n", text)]
    current: list[Token] = []
    boundary = 0
    for n, token in enumerate(tokens):
        while boundary < len(ends) and token.start() >= ends[boundary]:
            boundary += 1
            if current:
                paragraphs.append(current)
                current = []
        current.append(Token(token.group(), shared[n]))
    if current:
        paragraphs.append(current)
    return paragraphs


_WORD = re.compile(r"\S+\s*")
_CHAR = re.compile(r"\S\s*")


def side_by_side(left: str, right: str) -> tuple[list[list[Token]], list[list[Token]]]:
    """Both texts as paragraphs of tokens, each flagged when the other text shares it."""
    return marked(left, shingle_set(right)), marked(right, shingle_set(left))
