"""Scripts written without spaces between words: the one table, for shingling (character
n-grams instead of words) and for body selection (characters counted as words)."""

from __future__ import annotations

import re

UNSPACED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)

# One character of those scripts: a regex scan runs in C, where a per-character range test in
# Python cost ~1.6 ms on an average page.
UNSPACED_CHAR = re.compile(
    "[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in UNSPACED_RANGES) + "]")
