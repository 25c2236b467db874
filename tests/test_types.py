"""Size buckets (hpcfold.types)."""

from __future__ import annotations

import numpy as np

from hpcfold.types import BUCKETS, bucket_for, bucket_indices


def _first_fit(a, t, p):
    """The bucket rule, spelled out: the first bucket whose three limits all hold."""
    for b in BUCKETS:
        if a <= b.n_atoms and t <= b.n_torsions and p <= b.n_pairs:
            return b.index
    return -1


def test_bucket_indices_and_bucket_for_follow_the_first_fit_rule():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.integers(1, 450, 3000), [b.n_atoms for b in BUCKETS]])
    t = np.concatenate([rng.integers(0, 100, 3000), [b.n_torsions for b in BUCKETS]])
    p = np.concatenate([rng.integers(0, 62000, 3000), [b.n_pairs for b in BUCKETS]])
    p[: len(p) // 2] = np.minimum(p[: len(p) // 2], a[: len(p) // 2] ** 2 // 3)  # realistic
    got = bucket_indices(a, t, p)
    want = [_first_fit(*x) for x in zip(a.tolist(), t.tolist(), p.tolist(), strict=True)]
    assert got.tolist() == want and got.dtype == np.int8
    assert len(set(want)) == len(BUCKETS) + 1  # every bucket and "none" occur
    for x, w in zip(zip(a.tolist(), t.tolist(), p.tolist(), strict=True), want, strict=True):
        b = bucket_for(*x)
        assert (b is None and w == -1) or b.index == w
    # boundaries: atoms, then torsions push a ligand into the next bucket
    names = {(24, 8, 276): "a24t8", (25, 8, 276): "a32t8", (24, 9, 100): "a40t10",
             (40, 10, 650): "a40t10", (40, 10, 651): "a48t12", (33, 11, 300): "a48t12"}  # fmt: skip
    for x, name in names.items():
        assert bucket_for(*x).name == name, x
    assert bucket_for(401, 0, 0) is None


def test_buckets_grow_in_every_dimension():
    for small, big in zip(BUCKETS, BUCKETS[1:]):
        assert small.n_atoms < big.n_atoms and small.n_torsions <= big.n_torsions
        assert small.n_pairs < big.n_pairs and big.index == small.index + 1
    assert BUCKETS[0].n_pairs >= BUCKETS[0].n_atoms * (BUCKETS[0].n_atoms - 1) // 2
