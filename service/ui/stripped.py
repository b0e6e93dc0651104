"""The stripped view of one ingest: every line of the raw page in order, each with the verdict
`extract.explain` gave it (the worker's own code path), and for an HTML page also the visible
text the HTML extractor (trafilatura) did not choose as the main content.

Pure: the caller loads the ingest and its source's chrome model.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from canonry.workers.clean.blocks import Verdict, key
from canonry.workers.clean.extract import Explanation
from canonry.workers.clean.parse import visible_lines

NOT_MAIN_CONTENT = "not-main-content"

# What each verdict means, for the page's legend and labels.
VERDICTS: dict[str, tuple[str, str]] = {
    Verdict.KEPT.value: ("kept", "part of the stored body"),
    Verdict.REPEAT.value: ("repeat", "the page already said this (a pasted second copy)"),
    Verdict.TEASER.value: ("teaser", "a truncated teaser of the line that follows"),
    Verdict.CAPTION.value: ("caption", "a photo caption or credit"),
    Verdict.BEFORE_BODY.value: ("before the body", "above the article's run of prose: "
                                "navigation, headline, standfirst"),
    Verdict.AFTER_BODY.value: ("after the body", "below it: comments, related stories, bios, "
                               "footers"),
    Verdict.LEARNED_CHROME.value: ("learned chrome", "a line this source prints on many pages"),
    Verdict.BOILERPLATE.value: ("boilerplate", "share bars, newsletter prompts, “Read more”"),
    Verdict.END_MARKER.value: ("end marker", "“Comments”, “You may also like”: the article "
                               "is over"),
    Verdict.LINKS.value: ("links", "a box of links opens"),
    Verdict.META.value: ("meta", "a dateline or a reading time"),
    Verdict.NOT_PROSE.value: ("not prose", "inside the body's run but neither prose nor "
                              "enclosed by it"),
    NOT_MAIN_CONTENT: ("not main content (HTML extractor)", "visible on the page, but the HTML "
                       "extractor did not choose it as the main content"),
}


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    verdict: str  # a Verdict value, or NOT_MAIN_CONTENT

    @property
    def kept(self) -> bool:
        return self.verdict == Verdict.KEPT.value


def stripped_lines(explanation: Explanation, html: str | None) -> list[Line]:
    """The blocks with their verdicts; for an HTML page, the visible lines the extractor left
    out interleaved where they stand (aligned on their comparison keys)."""
    lines = [Line(block.text, verdict.value)
             for block, verdict in zip(explanation.blocks, explanation.verdicts, strict=True)]
    if not explanation.from_html or not html:
        return lines
    visible = visible_lines(html)
    chosen_keys = [key(block.norm) for block in explanation.blocks]
    chosen_text = f" {' '.join(chosen_keys)} "
    visible_keys = [key(line) for line in visible]
    out: list[Line] = []
    matcher = SequenceMatcher(None, visible_keys, chosen_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        out.extend(lines[j1:j2])
        if tag == "equal":
            continue
        for i in range(i1, i2):
            # The extractor may split or join lines: text it chose in another shape is not
            # "left out", only what appears nowhere in its output is.
            if visible_keys[i] and f" {visible_keys[i]} " not in chosen_text:
                out.append(Line(visible[i], NOT_MAIN_CONTENT))
    return out


def counts(lines: list[Line]) -> dict[str, int]:
    """Lines per verdict, in the legend's order, only those that occur."""
    found: dict[str, int] = {}
    for line in lines:
        found[line.verdict] = found.get(line.verdict, 0) + 1
    return {verdict: found[verdict] for verdict in VERDICTS if verdict in found}
