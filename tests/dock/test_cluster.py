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


def test_select_distinct_matches_the_pairwise_greedy():
    """The vectorised pass per kept pose keeps exactly what testing every candidate against
    every kept pose keeps (sym_rmsd, Vina's greedy), with and without automorphisms, ties and
    non-finite energies included."""
    rng = np.random.default_rng(7)
    ref = ring()
    for trial in range(30):
        n = int(rng.integers(1, 60))
        poses = ref + rng.normal(0, 1.0, (n, 1, 3)) + rng.normal(0, 0.4, (n, 6, 3))
        poses[rng.random(n) < 0.3] = np.roll(poses[0], 3, axis=0)  # symmetric copies
        energies = np.round(rng.normal(-7, 1, n), 1)  # ties
        energies[rng.random(n) < 0.1] = np.nan
        auts = ring_automorphisms() if trial % 2 else None
        max_keep = int(rng.integers(1, 12))
        expected: list[int] = []
        order = np.argsort(np.where(np.isfinite(energies), energies, np.inf), kind="stable")
        for i in order:
            if not np.isfinite(energies[i]) or len(expected) >= max_keep:
                break
            if expected and np.any(cluster.sym_rmsd(poses[expected], poses[i], auts) < 1.0):
                continue
            expected.append(int(i))
        assert cluster.select_distinct(energies, poses, auts, 1.0, max_keep) == expected


def test_final_modes_energy_range_and_count():
    aff = np.array([-9.0, -8.5, -5.9, -7.0, -6.1])
    kept = [0, 1, 3, 4, 2]
    assert cluster.final_modes(aff, kept, 9, 3.0) == [0, 1, 3, 4]
    assert cluster.final_modes(aff, kept, 2, 3.0) == [0, 1]
    assert cluster.final_modes(aff, [], 9, 3.0) == []


def _vina_models(path):
    """(coords (M, n, 3), AD type codes (n,), REMARK VINA RESULT (M, 3)) of a Vina output."""
    from hpcfold.types import AD_INDEX

    models, remarks, cur, types = [], [], [], []
    for line in open(path).read().splitlines():
        if line.startswith("REMARK VINA RESULT:"):
            remarks.append([float(v) for v in line.split()[3:6]])
        elif line.startswith(("ATOM", "HETATM")):
            cur.append([float(line[30:38]), float(line[38:46]), float(line[46:54])])
            if not models:
                types.append(AD_INDEX[line[77:79].strip()])
        elif line.startswith("ENDMDL"):
            models.append(cur)
            cur = []
    return np.array(models), np.array(types), np.array(remarks)


def test_vina_rmsd_bounds_reproduce_vinas_output(shared_data):
    """l.b. and u.b. to the best mode, recomputed from Vina 1.2's own docked imatinib output,
    equal the values Vina wrote in its REMARK VINA RESULT lines (to its 3 printed decimals)."""
    coords, types, remarks = _vina_models(
        shared_data / "vina-example" / "1iep_ligand_vina_out.pdbqt"
    )
    assert len(coords) == 4
    lb, ub = cluster.vina_rmsd_bounds(coords, coords[0], types)
    np.testing.assert_allclose(lb, remarks[:, 1], atol=2e-3)
    np.testing.assert_allclose(ub, remarks[:, 2], atol=2e-3)
    assert np.all(lb <= ub + 1e-9) and np.any(lb < ub - 1.0)


def test_vina_rmsd_lower_bound_ignores_symmetry_and_hydrogens():
    from hpcfold.types import AD_INDEX

    ref = ring()
    types = np.full(6, AD_INDEX["A"])
    rotated = np.roll(ref, 1, axis=0)  # every atom on its neighbour's place, 1.4 A away
    lb, ub = cluster.vina_rmsd_bounds(rotated[None], ref, types)
    assert lb[0] == pytest.approx(0.0, abs=1e-9) and ub[0] == pytest.approx(1.4)
    # a hydrogen that moves changes neither bound; an N never pairs with a C
    ref_h = np.vstack([ref, [[5.0, 0.0, 0.0]]])
    moved = np.vstack([ref, [[9.0, 0.0, 0.0]]])
    lb, ub = cluster.vina_rmsd_bounds(moved[None], ref_h, np.append(types, AD_INDEX["HD"]))
    assert lb[0] == pytest.approx(0.0) and ub[0] == pytest.approx(0.0)
    mixed = types.copy()
    mixed[0] = AD_INDEX["NA"]
    lb, _ = cluster.vina_rmsd_bounds(rotated[None], ref, mixed)
    assert lb[0] > 0.5
