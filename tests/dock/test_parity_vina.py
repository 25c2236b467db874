"""Score parity with the real AutoDock Vina 1.2.7 (``vina`` package) on the same PDBQT text.

Default (CI): crystal + 3 perturbed poses of four complexes (SUBSET) for ``score()`` and three
poses of 1iep for ``optimize()``: Vina's ``set_ligand_from_string`` costs 0.03-5 s per pose here
(it rebuilds its pair tables), so the full sweep is opt-in. ``HPCFOLD_PARITY_FULL=1``: every
redock42 complex + the Vina example, crystal + 25 perturbed poses (translation <= 2 A, rotation
<= 30 deg, torsions +-60 deg, redrawn until inside the box), vina and vinardo; ``--local-only``
against ``vina.optimize()`` on every 4th complex. Criteria (issue 3): >= 99 % of poses within
0.01 kcal/mol, all within 0.05; local optimisation ends <= Vina + 0.05 on >= 95 %.
"""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from hpcfold.dock import batch, grids, kinematics, local, tables
from tests.dock.vina_cases import complexes, make_case, padded

vina = pytest.importorskip("vina")

FULL = os.environ.get("HPCFOLD_PARITY_FULL") == "1"
SUBSET = ("1iep", "1hnn", "5wlo", "1owe")
N_PERTURBED = 25 if FULL else 3
SPACING = 1.0  # Vina's map spacing here only fixes the box edges (score() uses explicit atoms)


@pytest.fixture(scope="module")
def cases(shared_data):
    out = []
    for name, r, lig, box in complexes(shared_data):
        if FULL or name in SUBSET:
            out.append(make_case(name, r, lig, box, N_PERTURBED))
    return out


def _vina_scores(case, scoring, local=False):
    v = vina.Vina(sf_name=scoring, verbosity=0)
    v.set_receptor(case.receptor_path)
    v.compute_vina_maps(center=list(case.box.center), box_size=list(case.box.size), spacing=SPACING)
    res = []
    for text in case.texts:
        v.set_ligand_from_string(text)
        if local:
            e = v.optimize()  # rounded to 3 decimals by the wrapper
        else:
            e = v._vina.score()  # full precision (Vina.score() rounds to 3 decimals)
        res.append((e[0], e[1], e[5]))
    return np.asarray(res)


def _ours(case, tb):
    coords, lig, rec, lo, hi = padded(case, SPACING)
    hi_part, lo_part = batch.split_coords(coords)  # the texts' 3-decimal coordinates, exactly
    aff, inter, intra, _ = local.score_poses(hi_part, lig, rec, tb, lo, hi, lo_part)
    return np.stack([np.asarray(aff), np.asarray(inter), np.asarray(intra)], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("scoring", ["vina", "vinardo"])
def test_score_matches_vina(cases, scoring):
    tb = tables.build_tables(tables.make_params(scoring))
    diffs, worst = [], ("", 0.0)
    for case in cases:
        ref = _vina_scores(case, scoring)
        ours = _ours(case, tb)
        d = np.abs(ours - ref)
        diffs.append(d[:, 0])
        assert np.all(d[:, 1:] < 0.05), (case.name, ours, ref)
        if FULL:
            print(f"{scoring} {case.name}: max |diff| {d[:, 0].max():.5f}", flush=True)
        if d[:, 0].max() > worst[1]:
            worst = (case.name, float(d[:, 0].max()))
    d = np.concatenate(diffs)
    print(
        f"{scoring}: {d.size} poses, max |diff| {d.max():.4f} ({worst[0]}), "
        f"within 0.01: {np.mean(d <= 0.01):.4f}"
    )
    assert np.mean(d <= 0.01) >= 0.99
    assert d.max() <= 0.05, worst


def test_local_only_not_worse_than_vina(cases):
    """``--local-only`` (Vina's grid BFGS + explicit-atom polish) vs ``vina.optimize()`` from the
    same poses, both with 0.375 A maps over the complex's box."""
    tb = tables.build_tables(tables.make_params("vina"))
    # the full sweep optimises every 4th complex (Vina's 0.375 A maps cost ~10 s per complex)
    chosen = cases[::4] if FULL else [c for c in cases if c.name == "1iep"]
    gaps = []
    for case in chosen:
        v = vina.Vina(sf_name="vina", verbosity=0)
        v.set_receptor(case.receptor_path)
        v.compute_vina_maps(center=list(case.box.center), box_size=list(case.box.size))
        ref = []
        for text in case.texts:
            v.set_ligand_from_string(text)
            ref.append(v.optimize()[0])
        coords, lig, rec, lo, hi = padded(case, 0.375)
        grid = grids.compute_grid(batch.receptor_arrays(case.receptor, case.box), case.box, tb)
        poses = jax.vmap(kinematics.identity_pose)(lig)
        steps = local.default_max_steps(lig.n_atoms)
        _, xyz = local.local_only(poses, lig, grid, rec, tb, lo, hi, steps)
        aff = np.asarray(local.score_poses(xyz, lig, rec, tb, lo, hi)[0])
        assert np.all(np.isfinite(aff))
        gaps.append(aff - np.asarray(ref))
        if FULL:
            print(f"local {case.name}: worst hpcfold - vina {gaps[-1].max():.3f}", flush=True)
    g = np.concatenate(gaps)
    print(
        f"local-only: {g.size} poses, hpcfold - vina: median {np.median(g):.3f}, "
        f"max {g.max():.3f}, <= +0.05: {np.mean(g <= 0.05):.3f}"
    )
    assert np.mean(g <= 0.05) >= 0.95
