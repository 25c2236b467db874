"""Symmetry-corrected RMSD, Vina-style de-duplication and the output filter (dock.cluster)."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.dock import cluster


def ring(n=6, r=1.4):
    a = np.arange(n) * 2 * np.pi / n
    return np.stack([r * np.cos(a), r * np.sin(a), np.zeros(n)], axis=1)


def ring_automorphisms(n=6):
    rows = [np.roll(np.arange(n), k) for k in range(n)]
    rows += [np.roll(np.arange(n)[::-1], k) for k in range(n)]
    return np.array(rows)


def test_sym_rmsd_sees_through_symmetry():
    ref = ring()
    rotated = np.roll(ref, 1, axis=0)  # same shape, atoms relabelled by the symmetry
    plain = cluster.sym_rmsd(rotated, ref, None)
    assert plain > 1.0
    assert cluster.sym_rmsd(rotated, ref, ring_automorphisms()) == pytest.approx(0.0, abs=1e-9)
    shifted = ref + [0.0, 0.0, 2.0]
    assert cluster.sym_rmsd(shifted, ref, ring_automorphisms()) == pytest.approx(2.0)
    batch = np.stack([ref, shifted, rotated])
    np.testing.assert_allclose(
        cluster.sym_rmsd(batch, ref, ring_automorphisms()), [0.0, 2.0, 0.0], atol=1e-9
    )
    with pytest.raises(ValueError):
        cluster.sym_rmsd(ref[:5], ref, None)


def test_select_distinct_keeps_best_of_each_cluster():
    ref = ring()
    poses = np.stack([ref, np.roll(ref, 2, axis=0) + 0.1, ref + [5.0, 0, 0], ref + [0, 0, 0.5]])
    energies = np.array([-5.0, -7.0, -6.0, np.nan])
    kept = cluster.select_distinct(energies, poses, ring_automorphisms(), 1.0, 9)
    assert kept == [1, 2]  # 0 is a symmetric duplicate of 1 (worse); NaN dropped
    kept_plain = cluster.select_distinct(energies, poses, None, 1.0, 9)
    assert kept_plain == [1, 2, 0]
    assert cluster.select_distinct(energies, poses, None, 1.0, 2) == [1, 2]


def test_final_modes_energy_range_and_count():
    aff = np.array([-9.0, -8.5, -5.9, -7.0, -6.1])
    kept = [0, 1, 3, 4, 2]
    assert cluster.final_modes(aff, kept, 9, 3.0) == [0, 1, 3, 4]
    assert cluster.final_modes(aff, kept, 2, 3.0) == [0, 1]
    assert cluster.final_modes(aff, [], 9, 3.0) == []
