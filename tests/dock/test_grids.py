"""Grid maps: values equal explicit sums, Vina's grid score, out-of-box penalty, disk cache."""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
import pytest

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, energy, grids, tables
from hpcfold.types import Box


@pytest.fixture(scope="module")
def setup(shared_data):
    d = shared_data / "vina-example"
    lig = parse_ligand_pdbqt((d / "1iep_ligand.pdbqt").read_text(), "imatinib", "x")
    rec = read_receptor(d / "1iep_receptor.pdbqt")
    box = read_vina_config(d / "1iep_receptor.box.txt")
    params = tables.make_params("vina")
    tb = tables.build_tables(params)
    grid = grids.compute_grid(batch.receptor_arrays(rec, box), box, tb)
    return lig, rec, box, params, tb, grid


def test_grid_points_equal_explicit_sums(setup):
    lig, rec, box, params, tb, grid = setup
    lo, _, n = box_bounds(box)
    assert grid.maps.shape == (19, *(n + 1))
    ra = batch.receptor_arrays(rec, box)
    fast = np.asarray(tb.fast)
    rng = np.random.default_rng(0)
    for _ in range(20):
        i = rng.integers(0, n + 1)
        t = int(rng.integers(0, 19))
        p = lo + i * 0.375
        r2 = np.sum((ra.coords.astype(np.float64) - p) ** 2, axis=1)
        ok = (r2 < 64) & (ra.xs >= 0)
        ref = fast[t, ra.xs[ok], np.floor(r2[ok] * 32).astype(int)].sum()
        assert float(grid.maps[t, i[0], i[1], i[2]]) == pytest.approx(ref, abs=1e-3, rel=1e-5)


def test_grid_score_of_crystal_pose(setup):
    lig, rec, box, params, tb, grid = setup
    la = batch.ligand_arrays(lig)
    x = jnp.asarray(lig.coords)
    e = energy.inter_grid(x, la, grid)
    ei = energy.intra(x, la, tb)
    # reference: 0.375 A grid instead of explicit atoms on the crystal pose gives -11.5574
    assert float(energy.affinity(e, ei, ei, la.n_rot, tb)) == pytest.approx(-11.5574, abs=2e-3)


def test_out_of_box_penalty(setup):
    lig, rec, box, params, tb, grid = setup
    la = batch.ligand_arrays(lig)
    x = np.asarray(lig.coords).copy()
    base = float(energy.inter_grid(jnp.asarray(x), la, grid))
    lo, hi, _ = box_bounds(box)
    k = int(np.argmax(x[:, 0] * (la.xs >= 0)))
    inside = x.copy()
    inside[k, 0] = hi[0] - 1e-4
    x[k, 0] = hi[0] + 1.0  # 1 A outside along x
    e_in = float(energy.inter_grid(jnp.asarray(inside), la, grid))
    e_out = float(energy.inter_grid(jnp.asarray(x), la, grid))
    assert e_out - e_in == pytest.approx(1.0e6, rel=1e-4)
    assert np.isfinite(base)


def test_padded_grid_gives_bitwise_equal_energies_and_gradients(setup):
    import jax

    lig, rec, box, params, tb, grid = setup
    padded = grids.pad_grid(grid)
    assert padded.maps.shape[0] == 19 and all(
        n % grids.PAD_POINTS == 0 for n in padded.maps.shape[1:]
    )
    assert tuple(np.asarray(padded.dims)) == grid.maps.shape[1:]
    assert grids.pad_grid(padded) is padded
    la = batch.ligand_arrays(lig)
    lo, hi, _ = box_bounds(box)
    rng = np.random.default_rng(3)
    x0 = np.asarray(lig.coords)
    fun = jax.jit(jax.value_and_grad(lambda x, g: energy.inter_grid(x, la, g)))
    for shift in ([0, 0, 0], hi - x0.max(0) + 0.7, lo - x0.min(0) - 1.3, rng.normal(size=3)):
        x = jnp.asarray(x0 + np.asarray(shift) + rng.normal(scale=0.3, size=x0.shape))
        (e1, g1), (e2, g2) = fun(x, grid), fun(x, padded)
        assert np.asarray(e1).tobytes() == np.asarray(e2).tobytes()  # inside and outside the box
        assert np.asarray(g1).tobytes() == np.asarray(g2).tobytes()


def test_cache_roundtrip(setup, tmp_path):
    lig, rec, box, params, tb, grid = setup
    small = Box(center=box.center, size=(6.0, 6.0, 6.0))
    g1 = grids.cached_grid(rec, small, params, tmp_path)
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].startswith("grid-") and files[0].endswith(".npz")
    with np.load(tmp_path / files[0], allow_pickle=False) as z:
        assert set(z.files) == {"origin", "spacing", "maps"}
    g2 = grids.cached_grid(rec, small, params, tmp_path)
    np.testing.assert_array_equal(np.asarray(g1.maps), np.asarray(g2.maps))
    assert len(os.listdir(tmp_path)) == 1  # loaded, not rewritten
    grids.cached_grid(rec, small, tables.make_params("vinardo"), tmp_path)
    assert len(os.listdir(tmp_path)) == 2  # params are part of the key
    k1 = grids.grid_key(rec.sha256, small, params, 0.375)
    assert k1 != grids.grid_key(rec.sha256, Box(box.center, (6.0, 6.0, 6.5)), params, 0.375)
    # a corrupt cache file is recomputed, not trusted
    (tmp_path / f"grid-{k1}.npz").write_bytes(b"garbage")
    g3 = grids.cached_grid(rec, small, params, tmp_path)
    np.testing.assert_allclose(np.asarray(g3.maps), np.asarray(g1.maps))


def test_grid_gradient_in_closed_form_equals_autodiff(setup):
    """The custom JVP of ``inter_grid`` (Vina's derivative, one pass) equals autodiff of the
    value formula: inside the grid, on capped (positive) atoms, and outside it on each side."""
    import jax

    lig, rec, box, params, tb, grid = setup
    grid = grids.pad_grid(grid)
    la = batch.ligand_arrays(lig)
    ok = jnp.asarray(la.atom_mask) & (jnp.asarray(la.xs) >= 0)
    t = jnp.maximum(jnp.asarray(la.xs), 0)
    lo, hi, _ = box_bounds(box)
    x0 = np.asarray(lig.coords)
    rng = np.random.default_rng(11)
    shifts = [[0, 0, 0], hi - x0.max(0) + 0.7, lo - x0.min(0) - 1.3, rng.normal(size=3)]
    for cap, slope in ((1000.0, 1.0e6), (1.5, 1.0), (10.0, 100.0)):

        def plain(x, cap=cap, slope=slope):
            return energy._grid_terms(x, t, ok, grid, cap, slope, False)[0]

        closed = jax.jit(jax.value_and_grad(lambda x, c=cap, s=slope: energy.inter_grid(
            x, la, grid, c, s)))  # fmt: skip
        auto = jax.jit(jax.value_and_grad(plain))
        for shift in shifts:
            x = jnp.asarray(x0 + np.asarray(shift) + rng.normal(scale=0.4, size=x0.shape))
            (e1, g1), (e2, g2) = closed(x), auto(x)
            assert float(e1) == float(e2)
            assert np.all(np.isfinite(np.asarray(g1)))
            scale = max(1.0, float(np.abs(np.asarray(g2)).max()))
            np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-4,
                                       atol=1e-5 * scale)  # fmt: skip
