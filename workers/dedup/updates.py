"""Updates: the same URL posted again with changed content.

Sites edit stories after publishing (a correction, a new paragraph, a changed headline). A new
version of a known URL is the same story when it still shares a clear part of its text with the
document the URL belongs to — a much lower bar than a syndicated copy must clear, because the
URL itself is strong evidence. Below that bar the URL now carries a different story (a reused
live page, a recycled slug) and the content is judged on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from canonry.workers.dedup.fingerprint import Fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import DEFAULT_MATCH, MatchConfig, Verdict, may_replace, similarity


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """jaccard: estimated Jaccard of the new text with the URL's document at or above which it
    is an update; containment: or this share of the smaller text found in the larger. Copies of
    different stories measured on syndication-dev stay below 0.25 / 0.53."""

    jaccard: float = 0.25
    containment: float = 0.5


DEFAULT_UPDATE = UpdateConfig()


def decide_update(
    fp: Fingerprint, prior: IndexEntry, url_is_canonical: bool,
    config: UpdateConfig = DEFAULT_UPDATE, *, text: str | None = None,
    match: MatchConfig = DEFAULT_MATCH,
) -> Verdict | None:
    """The verdict for a changed text at a known URL, or None when it is another story.

    When the URL is the one whose text is canonical, the new version replaces that text (the
    publisher's latest word) if it is shaped like an article by the rules any upgrade obeys
    (`match.may_replace` on `text`, the new clean text): the URL is evidence of the story, not
    of the text's worth, and anyone can post it. A copy's URL changing only adds to the
    provenance.
    """
    jaccard, containment = similarity(fp, prior)
    if jaccard < config.jaccard and containment < config.containment:
        return None
    return Verdict(kind="near", document_id=prior.document_id, similarity=round(jaccard, 4),
                   upgrade=url_is_canonical and may_replace(fp, prior, match, text))
