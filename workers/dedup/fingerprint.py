"""MinHash fingerprints of clean article text, and their compact byte form.

The signature is datasketch's `MinHash` with its default scheme ("affine32": SHA-1-32 of each
shingle, pre-mixed, then `num_perm` odd affine permutations mod 2^32) and a fixed seed. Changing
`num_perm`, `seed`, the shingle sizes, the normalisation in `shingle.py`, or the datasketch
scheme/hash function changes every hash value: signatures stored in the database or the Redis
band index then no longer compare with new ones and must be recomputed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datasketch import MinHash

from canonry.workers.dedup.shingle import shingles

# Stored little-endian uint32 whatever the host: affine32 hash values are < 2^32.
_WIRE_DTYPE = np.dtype("<u4")


@dataclass(frozen=True, slots=True)
class MinHashConfig:
    """How a text becomes a signature. Part of the stored format: see the module docstring.

    num_perm 256: the Jaccard estimate's standard error is sqrt(J(1-J)/256) ≈ 0.03 at J = 0.5
    (0.044 with 128), which keeps verification noise well inside the margins in `match.py`, and
    leaves room for 85 bands of 3 rows (`lsh.py`). Word 5-grams are the usual near-duplicate
    shingle; character 5-grams span about one to three CJK words.
    """

    num_perm: int = 256
    seed: int = 1
    word_size: int = 5
    char_size: int = 5


DEFAULT = MinHashConfig()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    text_hash: str  # sha256 hex of the clean text, as given (utf-8)
    hashvalues: tuple[int, ...]  # MinHash signature, num_perm values < 2^32
    size: int  # number of distinct shingles


@lru_cache(maxsize=8)
def _template(num_perm: int, seed: int) -> MinHash:
    # Drawing the permutations is the costly part of MinHash(); copies share them.
    return MinHash(num_perm=num_perm, seed=seed)


def _signature(shingle_set: set[str], config: MinHashConfig) -> np.ndarray:
    minhash = _template(config.num_perm, config.seed).copy()
    # One vectorised batch; the minimum per permutation does not depend on set order.
    minhash.update_batch([s.encode("utf-8") for s in shingle_set])
    return minhash.hashvalues


def fingerprint(text: str, config: MinHashConfig = DEFAULT) -> Fingerprint:
    """Fingerprint of a clean article body. An empty text gets the empty signature (all values
    2^32 - 1) and size 0; `match.decide` never matches it."""
    shingle_set = shingles(text, config.word_size, config.char_size)
    values = _signature(shingle_set, config)
    return Fingerprint(
        text_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        hashvalues=tuple(int(v) for v in values),
        size=len(shingle_set),
    )


def estimate_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """Share of equal signature positions: the MinHash estimate of the shingle sets' Jaccard."""
    if len(a) != len(b) or not a:
        raise ValueError("signatures of different lengths do not compare")
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


def encode_hashvalues(hashvalues: Sequence[int]) -> bytes:
    """4 bytes per value, little-endian: 1 KiB for 256 permutations."""
    return np.asarray(hashvalues, dtype=_WIRE_DTYPE).tobytes()


def decode_hashvalues(blob: bytes) -> tuple[int, ...]:
    if len(blob) % _WIRE_DTYPE.itemsize:
        raise ValueError(f"signature blob of {len(blob)} bytes is not whole uint32 values")
    return tuple(int(v) for v in np.frombuffer(blob, dtype=_WIRE_DTYPE))
