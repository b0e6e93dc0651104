import hashlib
import random

import pytest

from canonry.workers.dedup.fingerprint import (
    DEFAULT,
    MinHashConfig,
    decode_hashvalues,
    encode_hashvalues,
    estimate_jaccard,
    fingerprint,
)
from canonry.workers.dedup.shingle import shingles

# Letters only: every digit normalises to "0", so "word1" and "word2" would be one word.
TEXT = " ".join("".join(random.Random(i).choices("abcdefghij", k=6)) for i in range(300))


def test_fingerprint_shape_and_hash():
    fp = fingerprint("Hello world, this is a short article body.")
    assert len(fp.hashvalues) == DEFAULT.num_perm
    assert all(0 <= v < 2**32 for v in fp.hashvalues)
    assert fp.size == len(shingles("Hello world, this is a short article body."))
    # sha256 of the text as given
    assert fp.text_hash == hashlib.sha256(b"Hello world, this is a short article body.").hexdigest()


def test_fingerprint_deterministic_and_regression_pinned():
    # Pinned values: if this fails, stored signatures are invalid (seed/num_perm/scheme changed).
    fp = fingerprint("the quick brown fox jumps over the lazy dog")
    assert fp == fingerprint("the quick brown fox jumps over the lazy dog")
    assert fp.size == 5
    assert fp.hashvalues[:4] == (844717388, 4085808, 1542446998, 150318713)


def test_typography_does_not_change_signature():
    a = fingerprint("“Quotes” don’t matter — at ALL, said 3 people.")
    b = fingerprint('"quotes" don\'t matter - at all said 4 people')
    assert a.hashvalues == b.hashvalues
    assert a.text_hash != b.text_hash


def test_estimated_jaccard_tracks_true_jaccard():
    words = TEXT.split()
    a = fingerprint(" ".join(words[:200]))
    b = fingerprint(" ".join(words[100:300]))
    true = len(shingles(" ".join(words[:200])) & shingles(" ".join(words[100:300]))) / len(
        shingles(" ".join(words[:200])) | shingles(" ".join(words[100:300]))
    )
    assert abs(estimate_jaccard(a.hashvalues, b.hashvalues) - true) < 0.1
    assert estimate_jaccard(a.hashvalues, a.hashvalues) == 1.0


def test_empty_text():
    fp = fingerprint("  ...  ")
    assert fp.size == 0
    assert set(fp.hashvalues) == {2**32 - 1}


def test_config_changes_signature():
    small = MinHashConfig(num_perm=64)
    assert len(fingerprint(TEXT, small).hashvalues) == 64
    assert fingerprint(TEXT, MinHashConfig(seed=2)).hashvalues != fingerprint(TEXT).hashvalues


def test_serialisation_round_trip():
    fp = fingerprint(TEXT)
    blob = encode_hashvalues(fp.hashvalues)
    assert isinstance(blob, bytes)
    assert len(blob) == 4 * DEFAULT.num_perm
    assert decode_hashvalues(blob) == fp.hashvalues
    assert encode_hashvalues((1, 2**32 - 1))[:4] == b"\x01\x00\x00\x00"  # little-endian
    with pytest.raises(ValueError):
        decode_hashvalues(b"\x00\x01\x02")


def test_estimate_jaccard_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        estimate_jaccard((1, 2), (1, 2, 3))


def test_vectorised_signature_equals_datasketch_update_per_shingle() -> None:
    """Stored signatures stay valid: the numpy MinHash gives datasketch's values exactly."""
    from datasketch import MinHash

    from canonry.workers.dedup.shingle import shingles
    from tests import synthetic

    texts = [synthetic.story(n) for n in range(60)]
    texts += ["", "one", "日本語のテキストです。" * 30, "word " * 3000, "Ünïcödé ≠ ascii, ①②"]
    for text in texts:
        naive = MinHash(num_perm=256, seed=1)
        for shingle in shingles(text):
            naive.update(shingle.encode("utf-8"))
        assert fingerprint(text).hashvalues == tuple(int(v) for v in naive.hashvalues)
