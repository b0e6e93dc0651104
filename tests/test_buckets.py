"""The bucketed layout's arithmetic: a band always lands where its twin does."""

from __future__ import annotations

import random

from canonry.workers.dedup.buckets import BucketLayout, band_addresses, generation_of
from canonry.workers.dedup.lsh import DEFAULT_LSH


def test_equal_bands_share_an_address_and_fields_fit_their_width() -> None:
    rng = random.Random(1)
    a = tuple(rng.getrandbits(32) for _ in range(256))
    b = (*a[:3], *(rng.getrandbits(32) for _ in range(253)))  # only band 0 in common
    layout = BucketLayout(field_bits=13)
    ours, theirs = band_addresses(a, layout=layout), band_addresses(b, layout=layout)
    assert len(ours) == DEFAULT_LSH.bands
    assert ours[0] == theirs[0]
    assert sum(x == y for x, y in zip(ours, theirs, strict=True)) == 1
    assert all(0 <= u < 2**32 and -(2**12) <= f < 2**12 for u, f in ours)


def test_segments_are_sized_for_their_fill() -> None:
    layout = BucketLayout(fill=64, min_buckets=64)
    assert layout.buckets_for(0) == 64
    assert layout.buckets_for(100_000) == 132_813  # 8.5 M bands / 64
    assert layout.capacity(layout.buckets_for(100_000)) >= 100_000


def test_generations_are_whole_spans() -> None:
    assert [generation_of(t, 10.0) for t in (0.0, 9.99, 10.0, -0.5)] == [0, 0, 1, -1]
