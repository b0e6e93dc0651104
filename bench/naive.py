"""The naive loop, the peer of every end-to-end figure: what a first attempt at deduplication
looks like. datasketch `MinHash.update` per word 5-gram of the text as sent, then an in-memory
`MinHashLSH` query and insert; no cleaning, no storage, one process."""

from __future__ import annotations

import time
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

NUM_PERM = 256  # as Canonry's signatures
THRESHOLD = 0.5  # the datatrove / text-dedup recipe's (README, Quality)
SHINGLE = 5


def naive_shingles(text: str) -> set[bytes]:
    words = text.lower().split()
    if len(words) <= SHINGLE:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i:i + SHINGLE]).encode("utf-8")
            for i in range(len(words) - SHINGLE + 1)}


def naive_loop(texts: Sequence[str]) -> dict[str, float]:
    """Docs/s of the loop over `texts`, and how many stories it kept (no near match found)."""
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    kept = 0
    started = time.perf_counter()
    for number, text in enumerate(texts):
        signature = MinHash(num_perm=NUM_PERM)
        for shingle in naive_shingles(text):
            signature.update(shingle)
        if not lsh.query(signature):
            kept += 1
        lsh.insert(str(number), signature)
    elapsed = time.perf_counter() - started
    return {"docs_per_s": len(texts) / elapsed, "seconds": elapsed, "docs": len(texts),
            "kept": kept}
