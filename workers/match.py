"""Verification of LSH candidates and the dedup decision.

LSH candidates are only likely matches; every one is verified here on its signature and set
size. Canonical policy: the first version seen is the document's canonical text; a later,
fuller version (one that contains the canonical and is clearly larger) upgrades it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from canonry.workers.fingerprint import Fingerprint, estimate_jaccard
from canonry.workers.lsh import IndexEntry


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Verification thresholds (estimated from 256-value signatures).

    - `jaccard`: a pair whose shingle sets overlap this much is one story however it was edited
      (quotes, datelines, a few changed words, merged paragraphs, a note, a doubled body).
    - `containment` with `min_size_ratio`: a truncated copy (60–90 % of the original) or an
      extended one has a low Jaccard but its smaller side is almost wholly inside the larger,
      |A∩B| = J(|A|+|B|)/(1+J). Containment alone would let a roundup that quotes a short article
      swallow it, so the smaller side must be at least `min_size_ratio` of the larger.
    - `upgrade_ratio`: a match upgrades the canonical when it contains the canonical (by
      `containment`) and has at least this many times its shingles.

    Measured on syndication-dev (pairwise, through extraction; see README / eval_dedup.sweep):
    see the table in the README. Jaccard 0.5 and containment 0.8 sit in the wide gap between
    real copies (Jaccard mostly > 0.6, containment > 0.9) and different stories (< 0.2).
    """

    jaccard: float = 0.5
    containment: float = 0.8
    min_size_ratio: float = 0.5
    upgrade_ratio: float = 1.1


DEFAULT_MATCH = MatchConfig()


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Literal["new", "exact", "near"]
    document_id: str | None  # the matched document; None when new
    similarity: float | None  # the verifying score (see `Score`); 1.0 for exact, None when new
    upgrade: bool  # the newcomer should replace the matched document's canonical text


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
    return None


def decide(
    fp: Fingerprint, candidates: Iterable[IndexEntry], config: MatchConfig = DEFAULT_MATCH
) -> Verdict:
    """Match a newcomer against the LSH candidates.

    Exact (same text hash) wins; otherwise the verified candidate with the highest similarity,
    ties broken by the smallest document id, so the verdict does not depend on candidate order.
    An empty text (no shingles) is always new: emptiness is not a story.
    """
    if fp.size == 0:
        return NEW
    pool = [c for c in candidates if c.size > 0]
    exact = sorted(c.document_id for c in pool if c.text_hash == fp.text_hash)
    if exact:
        return Verdict(kind="exact", document_id=exact[0], similarity=1.0, upgrade=False)
    best: tuple[float, str, Score, IndexEntry] | None = None
    for entry in pool:
        s = score(fp, entry)
        sim = verified_similarity(s, config)
        if sim is None:
            continue
        if best is None or (-sim, entry.document_id) < (-best[0], best[1]):
            best = (sim, entry.document_id, s, entry)
    if best is None:
        return NEW
    sim, document_id, s, entry = best
    # The fuller version: holds (nearly) all of the canonical and is clearly larger than it.
    upgrade = s.b_in_a >= config.containment and fp.size >= config.upgrade_ratio * entry.size
    return Verdict(kind="near", document_id=document_id, similarity=sim, upgrade=upgrade)
