"""Language of an article: what the sender declared, else py3langid on the body.

py3langid answers for any input, however short; below a few words its guess is noise, so the
answer is then None rather than a confident-looking code.
"""

from __future__ import annotations

import re

import py3langid

_WORD = re.compile(r"\w+")
MIN_WORDS = 5
MIN_CHARS = 20
# The model reads character n-grams; a few thousand characters decide as well as a whole book.
SAMPLE_CHARS = 1500


def normalize_tag(tag: str) -> str | None:
    """A declared tag in BCP 47 shape: "EN_us" -> "en-US"; None for an empty tag."""
    parts = [p for p in re.split(r"[-_]", tag.strip()) if p]
    if not parts:
        return None
    head, *rest = parts
    tail = [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower() for p in rest]
    return "-".join([head.lower(), *tail])


def detect_language(text: str, declared: str | None = None) -> str | None:
    """The declared language if given, else the detected one; None for too little text."""
    if declared and declared.strip():
        return normalize_tag(declared)
    sample = text[:SAMPLE_CHARS]
    words = _WORD.findall(sample)
    if len(sample.strip()) < MIN_CHARS or (
        len(words) < MIN_WORDS and sum(len(w) for w in words) < 4 * MIN_CHARS
    ):
        # Scripts without spaces pack a sentence into one "word": judge them by characters.
        return None
    code, _score = py3langid.classify(sample)
    return code
