"""Verification of LSH candidates and the dedup decision.

LSH candidates are only likely matches; every one is verified here on its signature and set
size. Canonical policy: the first version seen is the document's canonical text; a later,
fuller version (one that contains the canonical and is clearly larger) upgrades it — if it is
shaped like an article (`may_replace`): not one passage repeated, not many times the canonical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from canonry.workers.dedup.align import align
from canonry.workers.dedup.fingerprint import DEFAULT as DEFAULT_MINHASH
from canonry.workers.dedup.fingerprint import Fingerprint, MinHashConfig, estimate_jaccard
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.shingle import is_unspaced, normalize, shingles


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Verification thresholds, on estimates from 256-value signatures of word 5-gram sets.

    - `jaccard`: a pair whose shingle sets overlap this much is one story however it was edited
      (quotes, datelines, a few changed words, merged paragraphs, a note, a doubled body).
    - `containment` with `min_size_ratio`: a truncated copy (60–90 % of the original) or an
      extended one has a low Jaccard, but the smaller side lies mostly inside the larger one:
      |A∩B| = J(|A|+|B|)/(1+J). Containment alone would let a long roundup that quotes a short
      article swallow it, so the smaller side must be at least `min_size_ratio` of the larger.
    - `upgrade_containment`, `upgrade_ratio`: a match becomes the canonical text when it holds
      that much of the canonical and has at least `upgrade_ratio` times its shingles.
    - `upgrade_max_ratio`, `upgrade_min_distinct`: ... but never with more than
      `upgrade_max_ratio` times the canonical's shingles, nor when fewer than
      `upgrade_min_distinct` of its shingle positions are distinct shingles (one sentence or
      paragraph pasted over and over: a 187 k-character blob of one 19-shingle article repeated
      matched it at 0.97 and upgraded it). Measured through the real extract: the upgrades the
      in-order evaluation makes reach 2.55x (syndication-dev, 38 upgrades) and 3.29x
      (syndication-wcxb-dev, 146), and the verification tiers already cap a copy's upgrade at
      1/near_total_min_size_ratio = 3.33x, so 4x binds only the URL paths (a known URL's new
      version, `updates.py`), which have no size ratio of their own. The distinct share of
      every article in both sets is at least 0.25 (a recipe of repeated lines; 0.59 on dev),
      upgraders' at least 0.71; 0.1 (each shingle ten times on average) keeps a margin of
      2.5x below the lowest real article.

    Measured on syndication-dev through the real extract (eval_dedup.sweep; full table in the
    README), with min_size_ratio 0.5, precision was 1.0 at every Jaccard 0.3–0.8 and
    containment 0.7–0.8; recall rose as either fell (J 0.5 / C 0.8: 0.92; J 0.4 / C 0.7: 0.96).
    Different stories peaked at Jaccard 0.25 and containment 0.53 (leftover site chrome), real
    copies mostly sit above 0.6, and combined edits (truncated + reworded + a note) reach down to
    0.3–0.5. The chosen 0.4 / 0.7 keep a margin of ~0.15 over the worst different-story pair
    rather than sitting on the best dev score, so held-out chrome does not tip pairs over.
    """

    jaccard: float = 0.4
    containment: float = 0.7
    min_size_ratio: float = 0.5
    # A second, stricter tier: nearly all (`near_total_containment`) of a smaller text inside a
    # larger one down to `near_total_min_size_ratio`: a copy that kept only the article's prose
    # while the original's extraction also kept its list or table (a shopping list, a results
    # box). Different stories reach ~0.5 containment through shared chrome, never ~0.9.
    near_total_containment: float = 0.9
    near_total_min_size_ratio: float = 0.3
    upgrade_containment: float = 0.8
    upgrade_ratio: float = 1.1
    upgrade_max_ratio: float = 4.0
    upgrade_min_distinct: float = 0.1
    # A candidate the signatures leave in doubt (estimated Jaccard at least
    # `aligned_min_jaccard`, no tier above met) when none verifies is compared on the texts read
    # in order (`aligned_score`), by the same tiers: a copy with words edited here and there
    # keeps long runs in order, while each changed word breaks five shingles. At most
    # `aligned_max_candidates` of them, the nearest first: a site whose leftover chrome puts
    # its stories in doubt with each other costs a bounded number of text reads per article.
    aligned_min_jaccard: float = 0.15
    aligned_max_candidates: int = 8


DEFAULT_MATCH = MatchConfig()


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Literal["new", "exact", "near"]
    document_id: str | None  # the matched document; None when new
    similarity: float | None  # the verifying score (see `Score`); 1.0 for exact, None when new
    upgrade: bool  # the newcomer should replace the matched document's canonical text
    # A copy verified by containment or on its text, not by its Jaccard with the entry it
    # matched (cut, boxed, edited): it told the story differently, and a later copy may resemble
    # it rather than the canonical, so it is indexed too, as an alias of its document. A copy
    # the Jaccard tier verified adds nothing the index does not find already: the common case,
    # a wire story reprinted nearly verbatim, costs no entry. (syndication-wcxb, 1,671
    # articles: recall 0.9595 with the upgrades' former canonicals indexed, 0.9608 with these
    # 23 aliases too, the same with every copy an alias, 816 of them.)
    alias: bool = False

    def __post_init__(self) -> None:
        if self.upgrade and self.alias:
            raise ValueError("an upgrade replaces the canonical; only a copy is an alias")


NEW = Verdict(kind="new", document_id=None, similarity=None, upgrade=False)


@dataclass(frozen=True, slots=True)
class Score:
    """What the signatures and sizes say about newcomer A against indexed B."""

    jaccard: float
    a_in_b: float  # estimated |A∩B| / |A|
    b_in_a: float  # estimated |A∩B| / |B|
    size_ratio: float  # min(|A|,|B|) / max(|A|,|B|)

    @property
    def containment(self) -> float:
        """Containment of the smaller set in the larger one."""
        return max(self.a_in_b, self.b_in_a)


def score(fp: Fingerprint, entry: IndexEntry) -> Score:
    jaccard = estimate_jaccard(fp.hashvalues, entry.hashvalues)
    # |A∩B| from Jaccard and the sizes; min() absorbs estimation noise past the smaller set.
    inter = min(jaccard * (fp.size + entry.size) / (1.0 + jaccard), fp.size, entry.size)
    return Score(
        jaccard=jaccard,
        a_in_b=inter / fp.size,
        b_in_a=inter / entry.size,
        size_ratio=min(fp.size, entry.size) / max(fp.size, entry.size),
    )


def similarity(fp: Fingerprint, entry: IndexEntry) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller text in the larger)."""
    s = score(fp, entry)
    return s.jaccard, s.containment


def verified_similarity(s: Score, config: MatchConfig) -> float | None:
    """The score that verifies the pair as one story, or None when it does not."""
    contained = s.containment if s.size_ratio >= config.min_size_ratio else 0.0
    if s.jaccard >= config.jaccard or contained >= config.containment:
        return max(s.jaccard, contained)
    if (
        s.size_ratio >= config.near_total_min_size_ratio
        and s.containment >= config.near_total_containment
    ):
        return s.containment
    return None


def distinct_share(fp: Fingerprint, text: str, minhash: MinHashConfig = DEFAULT_MINHASH
                   ) -> float:
    """Distinct shingles per shingle position of `text` (whose fingerprint is `fp`): ~1 for
    prose, 1/k for one passage pasted k times. Shingled as `shingles` does (words or chars)."""
    normalized = normalize(text)
    if is_unspaced(normalized):
        positions = len(normalized.replace(" ", "")) - minhash.char_size + 1
    else:
        positions = len(normalized.split()) - minhash.word_size + 1
    return min(1.0, fp.size / max(1, positions))


def may_replace(fp: Fingerprint, current: IndexEntry, config: MatchConfig = DEFAULT_MATCH,
                text: str | None = None) -> bool:
    """Whether a text that qualifies as a fuller version of `current` (the canonical's entry)
    is also shaped like an article: bounded in size against it, and (when `text` is given; the
    evaluation keeps fingerprints only) not one passage repeated."""
    if fp.size > config.upgrade_max_ratio * current.size:
        return False
    return text is None or distinct_share(fp, text) >= config.upgrade_min_distinct


# A line whose shingles lie this much inside the other text is shared, though the two split it
# differently: an HTML extractor joins paragraphs a text page keeps apart, so word-for-word
# equal lines missed one host page's review carried in both (syndication-wcxb).
SHARED_LINE_INSIDE = 0.9


def still_one_story(text: str, other: str, config: MatchConfig = DEFAULT_MATCH) -> bool:
    """Whether two texts of one site (URL host) are one story once the lines they share are
    set aside.

    Two stories of one site keep the same leftover chrome (menus, product blurbs, sign-up
    boxes the cleaner did not recognise), and chrome matches chrome: on syndication-wcxb
    every false merge was such a pair. Shared lines say nothing then, so the rest decides: two
    different bodies have almost no shingle in common; a copy's rest is its edited lines (a
    dateline, a note, changed quotes or words) against the original's, which mostly agree, or
    nothing at all (a cut copy, an identical republication). The size ratio is not asked for:
    the rests are small and uneven exactly when the texts are nearly the same. A line is
    shared when `SHARED_LINE_INSIDE` of its shingles (each line shingled on its own, so a short
    line is one shingle) are the other text's."""
    own, theirs = _line_shingles(text), _line_shingles(other)
    # With the whole text's shingles too: a line joining several of the other's lines holds
    # shingles that cross their ends.
    own_all = set().union(shingles(text), *own.values())
    theirs_all = set().union(shingles(other), *theirs.values())
    a = _rest(own, theirs_all)
    b = _rest(theirs, own_all)
    if not a or not b:  # one of them lies wholly inside the other
        return True
    common = len(a & b)
    return (common / len(a | b) >= config.jaccard
            or common / min(len(a), len(b)) >= config.containment)


def _line_shingles(text: str) -> dict[str, set[str]]:
    lines = (line.strip() for line in text.split("\n"))
    return {line: shingles(line) for line in lines if line}


def _rest(lines: dict[str, set[str]], other: set[str]) -> set[str]:
    """The shingles of the lines that do not lie inside `other`, the rest read as one text (a
    line without shingles, punctuation only, says nothing and is set aside)."""
    rest = [line for line, own in lines.items()
            if len(own & other) < SHARED_LINE_INSIDE * len(own)]
    return shingles("\n".join(rest))


def decide(
    fp: Fingerprint, candidates: Iterable[IndexEntry], config: MatchConfig = DEFAULT_MATCH,
    *, text: str | None = None, confirm: Callable[[IndexEntry], bool] | None = None,
    text_of: Callable[[IndexEntry], str | None] | None = None,
) -> Verdict:
    """Match a newcomer against the LSH candidates.

    Exact (same text hash) wins; otherwise the verified candidate with the highest similarity,
    ties broken by the smallest key, so the verdict does not depend on candidate order. A
    candidate may be an alias of a document (`IndexEntry.alias_of`): a match joins its
    document, and is never an upgrade (it measured the newcomer against another text than
    the canonical). A match verified by containment or on the texts is an alias itself
    (`Verdict.alias`).
    An empty text (no shingles) is always new: emptiness is not a story. `text` is the
    newcomer's clean text: without it an upgrade is not checked for repetition. `confirm`, when
    given, has the last word on a verified candidate (the same-site check, `still_one_story`):
    one it refuses is passed over for the next best. `text_of` gives a candidate's text (None
    when it is not at hand): when no candidate verifies on its signature, those in doubt are
    compared on the texts (`aligned_candidates`).
    """
    if fp.size == 0:
        return NEW
    pool = [c for c in candidates if c.size > 0]
    exact = sorted(c.document for c in pool if c.text_hash == fp.text_hash)
    if exact:
        return Verdict(kind="exact", document_id=exact[0], similarity=1.0, upgrade=False)
    verified = [(sim, entry) for entry in pool
                if (sim := verified_similarity(score(fp, entry), config)) is not None]
    best = _first_confirmed(verified, confirm)
    if best is None and text is not None and text_of is not None:
        found = _first_confirmed(aligned_candidates(fp, text, pool, text_of, config), confirm)
        # Joined by the text tier: an edited version, never the fuller text that replaces the
        # canonical (a digest holding an edited copy whole would otherwise take its place); in
        # doubt on its signature, so an alias.
        return NEW if found is None else Verdict(kind="near", document_id=found[1].document,
                                                 similarity=found[0], upgrade=False, alias=True)
    if best is None:
        return NEW
    sim, entry = best
    s = score(fp, entry)
    # The fuller version: holds (nearly) all of the canonical and is clearly larger than it.
    # Measured against an alias, that says nothing of the canonical.
    upgrade = (
        entry.alias_of is None
        and s.b_in_a >= config.upgrade_containment and fp.size >= config.upgrade_ratio * entry.size
        and may_replace(fp, entry, config, text)
    )
    return Verdict(kind="near", document_id=entry.document, similarity=sim, upgrade=upgrade,
                   alias=not upgrade and s.jaccard < config.jaccard)


def _first_confirmed(scored: list[tuple[float, IndexEntry]],
                     confirm: Callable[[IndexEntry], bool] | None
                     ) -> tuple[float, IndexEntry] | None:
    """The highest-scoring candidate (ties: the smallest key) that `confirm` accepts."""
    scored = sorted(scored, key=lambda pair: (-pair[0], pair[1].document_id))
    return next((pair for pair in scored if confirm is None or confirm(pair[1])), None)


def in_doubt(s: Score, config: MatchConfig = DEFAULT_MATCH) -> bool:
    """A candidate the signatures neither verify nor rule out: its texts are worth comparing."""
    return s.jaccard >= config.aligned_min_jaccard and verified_similarity(s, config) is None


def aligned_score(text: str, other: str) -> Score:
    """The figures `verified_similarity` judges, measured on the shingles of `text` (A) and
    `other` (B) that lie in runs the two share in order, single edits forgiven (`align.align`),
    instead of on MinHash estimates: the share of each text covered, the Jaccard of the covered
    shingles (their mean over both sides, M: M / (|A| + |B| - M)) and the size ratio."""
    al = align(text, other)
    if not (al.shingles and al.other_shingles):
        return Score(jaccard=0.0, a_in_b=0.0, b_in_a=0.0, size_ratio=0.0)
    common = (al.covered + al.other_covered) / 2
    return Score(
        jaccard=common / (al.shingles + al.other_shingles - common),
        a_in_b=al.covered / al.shingles,
        b_in_a=al.other_covered / al.other_shingles,
        size_ratio=min(al.shingles, al.other_shingles) / max(al.shingles, al.other_shingles),
    )


def nearest_in_doubt(fp: Fingerprint, pool: Iterable[IndexEntry],
                     config: MatchConfig = DEFAULT_MATCH) -> list[IndexEntry]:
    """The candidates in doubt worth comparing on the texts: the `aligned_max_candidates` with
    the highest estimated Jaccard (ties by document id, so the choice is reproducible)."""
    scored = [(s.jaccard, entry) for entry in pool if in_doubt(s := score(fp, entry), config)]
    scored.sort(key=lambda pair: (-pair[0], pair[1].document_id))
    return [entry for _, entry in scored[:config.aligned_max_candidates]]


def aligned_candidates(
    fp: Fingerprint, text: str, pool: Iterable[IndexEntry],
    text_of: Callable[[IndexEntry], str | None], config: MatchConfig = DEFAULT_MATCH,
) -> list[tuple[float, IndexEntry]]:
    """The nearest candidates in doubt (`nearest_in_doubt`) that verify on the texts read in
    order (`aligned_score`), each with its verifying score."""
    out = []
    for entry in nearest_in_doubt(fp, pool, config):
        other = text_of(entry)
        if other is None:
            continue
        if (sim := verified_similarity(aligned_score(text, other), config)) is not None:
            out.append((sim, entry))
    return out
