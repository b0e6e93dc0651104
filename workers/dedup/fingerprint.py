"""MinHash fingerprints of clean article text, and their compact byte form.

The signature is datasketch's `MinHash` with its default scheme ("affine32": SHA-1-32 of each
shingle, pre-mixed with the MurmurHash3 finalizer, then `num_perm` odd affine permutations mod
2^32) and a fixed seed, computed here with numpy over the whole shingle set at once (datasketch
hashes each shingle through a Python call and a struct unpack; the values are identical, and a
test holds them to `MinHash.update`). Changing
`num_perm`, `seed`, the shingle sizes, the normalisation in `shingle.py`, or the datasketch
scheme/hash function changes every hash value: signatures stored in the database or the Redis
band index then no longer compare with new ones and must be recomputed.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datasketch import MinHash

from canonry.workers.clean.normalize import compare_text
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
    # sha256 hex of the clean text's normalised form (`compare_text`, utf-8): a copy that differs
    # only in typography is the same text; the hash of a text stored normalised is unchanged.
    text_hash: str
    hashvalues: tuple[int, ...]  # MinHash signature, num_perm values < 2^32
    size: int  # number of distinct shingles


# affine32 arithmetic: uint32 products and sums wrap mod 2^32, which is the scheme's modulus.
_EMPTY_VALUE = np.uint32(2**32 - 1)
# Shingles permuted per numpy pass: bounds the n x num_perm scratch (1 MiB at 256 permutations)
# so that very long texts stay in cache instead of allocating one huge matrix.
_CHUNK = 1024


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own draw of the permutation parameters, so stored signatures stay valid."""
    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, datasketch's pre-mix before the permutations."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def _shingle_hashes(shingle_set: set[str]) -> np.ndarray:
    """datasketch's sha1_hash32 of every shingle: the first 4 digest bytes, little-endian."""
    sha1 = hashlib.sha1
    digests = b"".join([sha1(s.encode()).digest()[:4] for s in shingle_set])
    return np.frombuffer(digests, dtype="<u4").astype(np.uint32)


def _signature(shingle_set: set[str], config: MinHashConfig) -> np.ndarray:
    a, b = _permutations(config.num_perm, config.seed)
    signature = np.full(config.num_perm, _EMPTY_VALUE, dtype=np.uint32)
    mixed = _fmix32(_shingle_hashes(shingle_set))
    for start in range(0, len(mixed), _CHUNK):
        permuted = np.multiply.outer(mixed[start : start + _CHUNK], a)
        permuted += b
        np.minimum(signature, permuted.min(axis=0), out=signature)
    return signature


def fingerprint(text: str, config: MinHashConfig = DEFAULT) -> Fingerprint:
    """Fingerprint of a clean article body. An empty text gets the empty signature (all values
    2^32 - 1) and size 0; `match.decide` never matches it."""
    shingle_set = shingles(text, config.word_size, config.char_size)
    values = _signature(shingle_set, config)
    return Fingerprint(
        text_hash=hashlib.sha256(compare_text(text).encode("utf-8")).hexdigest(),
        hashvalues=tuple(values.tolist()),
        size=len(shingle_set),
    )


def estimate_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """Share of equal signature positions: the MinHash estimate of the shingle sets' Jaccard."""
    if len(a) != len(b) or not a:
        raise ValueError("signatures of different lengths do not compare")
    # map(operator.eq) over the tuples: measured 2x faster than a generator, and faster than
    # converting two 256-int tuples to arrays for numpy.
    return sum(map(operator.eq, a, b)) / len(a)


def encode_hashvalues(hashvalues: Sequence[int]) -> bytes:
    """4 bytes per value, little-endian: 1 KiB for 256 permutations."""
    return np.asarray(hashvalues, dtype=_WIRE_DTYPE).tobytes()


def decode_hashvalues(blob: bytes) -> tuple[int, ...]:
    if len(blob) % _WIRE_DTYPE.itemsize:
        raise ValueError(f"signature blob of {len(blob)} bytes is not whole uint32 values")
    return tuple(np.frombuffer(blob, dtype=_WIRE_DTYPE).tolist())


def decode_hashvalue_rows(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored signatures of equal length as one uint32 matrix (a row each), in one copy."""
    joined = b"".join(blobs)
    width = len(blobs[0]) if blobs else 0
    if width % _WIRE_DTYPE.itemsize or len(joined) != width * len(blobs):
        raise ValueError("signature blobs of different or partial lengths do not stack")
    rows = np.frombuffer(joined, dtype=_WIRE_DTYPE).reshape(len(blobs), -1 if width else 0)
    return rows.astype(np.uint32)
