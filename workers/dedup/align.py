"""How much of two texts is the same text in the same order, forgiving words edited here and
there: the check for copies whose shingles an editor's changes broke.

A syndicated copy often changes a word here and there (a synonym, a house style, a typo fixed).
Each changed word breaks the five word 5-grams around it: on syndication-wcxb a copy with one
word in twenty changed keeps a Jaccard of 0.57 with its original and 0.38 with another such
copy, where the signatures cannot tell it from two stories that share a template passage.

The texts are aligned patience-diff style: runs of `ANCHOR_WORDS` words found in both texts
are anchors (an anchor that recurs more than `MAX_ANCHOR_REPEATS` times in either text is left
out, so a passage pasted over and over costs nothing), the longest chain of anchors advancing
in both texts is the alignment (a longest increasing subsequence), and each anchor is extended
over the equal words around it. Consecutive anchors with at most `BRIDGE` word between them on
each side are one run: the edit between them is forgiven. Each run of L words then counts
L - 4 shingles (`SHINGLE_WORDS`), as the exact shingle sets would count an unedited passage:
so a shared template (one long run) counts exactly what its shingles count, stray common
phrases count nothing, and only the edits inside a run are forgiven. O(n log n) in the texts'
lengths; texts are compared on their first `MAX_TOKENS` words.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

from canonry.workers.dedup.fingerprint import DEFAULT as DEFAULT_MINHASH
from canonry.workers.dedup.shingle import is_unspaced, normalize

ANCHOR_WORDS = 4
# Texts in scripts without spaces are compared by characters: 8 characters are about 4 words.
ANCHOR_CHARS = 8
MAX_ANCHOR_REPEATS = 4
# One word replaced, inserted or dropped between two anchors is forgiven. (2 gains nothing on
# either syndication set; 0 forgives nothing: syndication-wcxb R 0.954 -> 0.935.)
BRIDGE = 1
# The signature's shingle size (word or character 5-grams): a run of L tokens holds L - 4.
SHINGLE_WORDS = DEFAULT_MINHASH.word_size
# A text's first 20,000 words (characters, unspaced) are compared: 8 candidates of that length
# cost well under a second; longer texts are rare and their start decides anyway.
MAX_TOKENS = 20_000


def _tokens(text: str, other: str) -> tuple[list[str], list[str], int]:
    """Both texts' tokens and the anchor length: characters when either text is in a script
    without spaces (so the two are compared in one unit), words otherwise."""
    a, b = normalize(text), normalize(other)
    if is_unspaced(a) or is_unspaced(b):
        return (list(a.replace(" ", ""))[:MAX_TOKENS], list(b.replace(" ", ""))[:MAX_TOKENS],
                ANCHOR_CHARS)
    return a.split()[:MAX_TOKENS], b.split()[:MAX_TOKENS], ANCHOR_WORDS


def _grams(tokens: list[str], n: int) -> dict[tuple[str, ...], list[int]]:
    positions: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in range(len(tokens) - n + 1):
        positions[tuple(tokens[i:i + n])].append(i)
    return positions


@dataclass(frozen=True, slots=True)
class Alignment:
    """Shingles of each text inside the aligned runs, and each text's shingle count (positions:
    a text of L tokens has L - 4)."""

    covered: int
    shingles: int
    other_covered: int
    other_shingles: int


def _shingle_count(length: int) -> int:
    return max(1, length - SHINGLE_WORDS + 1) if length else 0


def _chain(a: list[str], b: list[str], n: int) -> list[tuple[int, int]]:
    """The longest chain of anchors (i in `a`, j in `b`) increasing in both."""
    in_a, in_b = _grams(a, n), _grams(b, n)
    pairs = [
        (i, j)
        for gram, positions in in_a.items()
        if len(positions) <= MAX_ANCHOR_REPEATS
        and 0 < len(theirs := in_b.get(gram, ())) <= MAX_ANCHOR_REPEATS
        for i in positions
        for j in theirs
    ]
    # By i ascending, j descending within one i, so that one position of `a` is used once.
    pairs.sort(key=lambda p: (p[0], -p[1]))
    tails: list[int] = []  # the smallest j ending a chain of each length
    tail_pair: list[int] = []  # the index in `pairs` of that chain's last anchor
    previous = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        length = bisect_left(tails, j)
        if length == len(tails):
            tails.append(j)
            tail_pair.append(k)
        else:
            tails[length] = j
            tail_pair[length] = k
        previous[k] = tail_pair[length - 1] if length else -1
    chain: list[tuple[int, int]] = []
    k = tail_pair[-1] if tail_pair else -1
    while k >= 0:
        chain.append(pairs[k])
        k = previous[k]
    chain.reverse()
    return chain


def _runs(a: list[str], b: list[str], n: int,
          chain: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """The chain as runs [a_start, a_end) x [b_start, b_end): each anchor extended over equal
    tokens up to its neighbours (the words of a phrase too frequent to anchor are still the same
    text where a run holds them), anchors at most `BRIDGE` tokens apart on both sides joined."""
    runs: list[tuple[int, int, int, int]] = []
    floor_a = floor_b = 0
    for index, (i, j) in enumerate(chain):
        # An anchor overlapping the previous run on either side starts past it, on both sides
        # together (so no token is counted twice); one clear of it extends backwards.
        start = max(0, floor_a - i, floor_b - j)
        while (start <= 0 and i + start > floor_a and j + start > floor_b
               and a[i + start - 1] == b[j + start - 1]):
            start -= 1
        ceiling_a, ceiling_b = chain[index + 1] if index + 1 < len(chain) else (len(a), len(b))
        end = n
        while i + end < ceiling_a and j + end < ceiling_b and a[i + end] == b[j + end]:
            end += 1
        if end <= start:
            continue  # wholly inside the previous run
        a_start, b_start, a_end, b_end = i + start, j + start, i + end, j + end
        if runs and a_start - runs[-1][1] <= BRIDGE and b_start - runs[-1][3] <= BRIDGE:
            runs[-1] = (runs[-1][0], a_end, runs[-1][2], b_end)
        else:
            runs.append((a_start, a_end, b_start, b_end))
        floor_a, floor_b = a_end, b_end
    return runs


def align(text: str, other: str) -> Alignment:
    """How many of each text's shingles lie in runs the two share in order, edits forgiven: a
    copy with one word in twenty changed is nearly all covered on both sides, a copy cut to
    60 % wholly while its original 60 %, two stories sharing a template passage as much as
    their shingles share, two different stories next to nothing."""
    a, b, n = _tokens(text, other)
    if len(a) < n or len(b) < n:
        equal = _shingle_count(len(a)) if a == b else 0
        return Alignment(equal, _shingle_count(len(a)), equal, _shingle_count(len(b)))
    covered_a = covered_b = 0
    for a_start, a_end, b_start, b_end in _runs(a, b, n, _chain(a, b, n)):
        covered_a += max(0, a_end - a_start - SHINGLE_WORDS + 1)
        covered_b += max(0, b_end - b_start - SHINGLE_WORDS + 1)
    return Alignment(covered_a, _shingle_count(len(a)), covered_b, _shingle_count(len(b)))
