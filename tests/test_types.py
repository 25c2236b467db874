"""Size buckets (hpcfold.types)."""

from __future__ import annotations

import numpy as np

from hpcfold.types import BUCKETS, bucket_for, bucket_indices


def test_bucket_indices_match_bucket_for():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.integers(1, 450, 3000), [b.n_atoms for b in BUCKETS]])
    t = np.concatenate([rng.integers(0, 100, 3000), [b.n_torsions for b in BUCKETS]])
    p = np.concatenate([rng.integers(0, 62000, 3000), [b.n_pairs for b in BUCKETS]])
    p[: len(p) // 2] = np.minimum(p[: len(p) // 2], a[: len(p) // 2] ** 2 // 3)  # realistic
    got = bucket_indices(a, t, p)
    want = [
        -1 if bucket_for(*x) is None else bucket_for(*x).index
        for x in zip(a.tolist(), t.tolist(), p.tolist(), strict=True)
    ]
    assert got.tolist() == want and got.dtype == np.int8
    assert len(set(want)) == len(BUCKETS) + 1  # every bucket and "none" occur


def test_buckets_grow_in_every_dimension():
    for small, big in zip(BUCKETS, BUCKETS[1:]):
        assert small.n_atoms < big.n_atoms and small.n_torsions <= big.n_torsions
        assert small.n_pairs < big.n_pairs and big.index == small.index + 1
    assert BUCKETS[0].n_pairs >= BUCKETS[0].n_atoms * (BUCKETS[0].n_atoms - 1) // 2
