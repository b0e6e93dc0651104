import random

import pytest

from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.lsh import DEFAULT_LSH, BandIndex, IndexEntry, LSHConfig, band_keys


def _article(seed: int, n: int = 400) -> str:
    rng = random.Random(seed)
    # Letters only: digits all normalise to "0".
    return " ".join("".join(rng.choices("abcdefghij", k=6)) for _ in range(n))


def _entry(doc: str, text: str, seen_at: float = 0.0) -> IndexEntry:
    fp = fingerprint(text)
    return IndexEntry(doc, fp.text_hash, fp.hashvalues, fp.size, seen_at)


def test_s_curve_numbers_of_the_default():
    c = DEFAULT_LSH
    assert (c.bands, c.rows) == (85, 3)
    assert c.bands * c.rows <= 256
    assert c.candidate_probability(0.4) > 0.995  # the Jaccard threshold
    assert c.candidate_probability(0.36) > 0.98
    assert c.candidate_probability(0.3) == pytest.approx(0.902, abs=0.001)  # containment's floor
    assert c.candidate_probability(0.1) < 0.1  # same-topic pairs rarely come back
    assert c.candidate_probability(0.02) < 0.001  # unrelated texts almost never
    assert c.knee == pytest.approx(0.228, abs=0.001)
    assert LSHConfig(128, 2).candidate_probability(0.1) == pytest.approx(0.72, abs=0.01)
    # datasketch's optimum for threshold 0.8 with 128 permutations (b=9, r=13) misses most
    # pairs at exactly 0.8: the reason we pick our own.
    assert LSHConfig(9, 13).candidate_probability(0.8) == pytest.approx(0.40, abs=0.02)


def test_band_keys_compact_stable_and_band_numbered():
    hv = tuple(range(256))
    keys = band_keys(hv, LSHConfig(bands=2, rows=3))
    assert list(keys) == [
        b"\x00\x00" + b"\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00",
        b"\x00\x01" + b"\x03\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x00",
    ]
    # Equal values in different bands give different keys.
    same = band_keys((7,) * 6, LSHConfig(bands=2, rows=3))
    assert same[0] != same[1]
    assert len(band_keys(hv)) == DEFAULT_LSH.bands
    with pytest.raises(ValueError):
        band_keys((1, 2, 3), LSHConfig(bands=2, rows=2))


def test_config_validation():
    with pytest.raises(ValueError):
        LSHConfig(bands=0, rows=3)


def test_query_finds_near_duplicate_not_unrelated():
    base = _article(1)
    index = BandIndex()
    index.add(_entry("a", base))
    index.add(_entry("b", _article(2)))
    words = base.split()
    words[100] = "changed"
    near = fingerprint(" ".join(words))
    assert [e.document_id for e in index.query(near.hashvalues)] == ["a"]
    assert index.query(fingerprint(_article(3)).hashvalues) == []
    assert len(index) == 2


def test_query_order_is_by_document_id():
    text = _article(1)
    index = BandIndex()
    for doc in ["c", "a", "b"]:
        index.add(_entry(doc, text))
    assert [e.document_id for e in index.query(fingerprint(text).hashvalues)] == ["a", "b", "c"]


def test_add_twice_is_an_error_and_remove():
    index = BandIndex()
    index.add(_entry("a", _article(1)))
    with pytest.raises(KeyError):
        index.add(_entry("a", _article(2)))
    assert index.remove("a") is True
    assert index.remove("a") is False
    assert len(index) == 0
    assert index.query(fingerprint(_article(1)).hashvalues) == []
    assert index._buckets == {}  # no empty buckets left behind


def test_replace_moves_the_document_to_its_new_signature():
    old, new = _article(1), _article(2)
    index = BandIndex()
    index.add(_entry("a", old, seen_at=1.0))
    index.replace(_entry("a", new, seen_at=2.0))
    assert len(index) == 1
    assert index.query(fingerprint(old).hashvalues) == []
    [hit] = index.query(fingerprint(new).hashvalues)
    assert (hit.document_id, hit.seen_at) == ("a", 2.0)
    index.replace(_entry("z", old))  # replace of an unknown document inserts it
    assert "z" in index


def test_window_eviction():
    index = BandIndex()
    for i in range(10):
        index.add(_entry(f"d{i}", _article(i), seen_at=float(i)))
    assert index.evict_older_than(5.0) == 5
    assert len(index) == 5
    assert index.query(fingerprint(_article(0)).hashvalues) == []
    assert [e.document_id for e in index.query(fingerprint(_article(7)).hashvalues)] == ["d7"]
    assert index.evict_older_than(5.0) == 0


def test_eviction_uses_the_replaced_entrys_time():
    index = BandIndex()
    index.add(_entry("a", _article(1), seen_at=1.0))
    index.replace(_entry("a", _article(2), seen_at=10.0))
    index.add(_entry("b", _article(3), seen_at=2.0))
    index.remove("b")
    assert index.evict_older_than(5.0) == 0  # neither the stale "a" time nor removed "b"
    assert "a" in index
    assert index.evict_older_than(11.0) == 1
    assert len(index) == 0


def test_memory_stays_bounded_under_an_endless_feed():
    index = BandIndex(LSHConfig(bands=8, rows=2))
    for i in range(300):
        index.add(_entry(f"d{i}", _article(i, 30), seen_at=float(i)))
        index.evict_older_than(i - 49.0)
    assert len(index) == 50
    assert len(index._clock) <= 50
    assert len(index._buckets) <= 50 * 8
