"""Energies on explicit atoms: Vina's checked numbers, padding, caps, NaN-freedom."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, energy, kinematics, optimize, tables
from hpcfold.types import BUCKETS


@pytest.fixture(scope="module")
def imatinib(shared_data):
    d = shared_data / "vina-example"
    lig = parse_ligand_pdbqt((d / "1iep_ligand.pdbqt").read_text(), "imatinib", "x")
    rec = read_receptor(d / "1iep_receptor.pdbqt")
    box = read_vina_config(d / "1iep_receptor.box.txt")
    return lig, rec, box


def _score(lig_arrays, rec_arrays, box, name="vina"):
    tb = tables.build_tables(tables.make_params(name))
    lo, hi, _ = box_bounds(box)
    x = kinematics.pose_to_coords(kinematics.identity_pose(lig_arrays), lig_arrays)
    return optimize.score_coords(x, lig_arrays, rec_arrays, tb, lo, hi)


def test_checked_numbers_1iep(imatinib):
    lig, rec, box = imatinib
    la, ra = batch.ligand_arrays(lig), batch.receptor_arrays(rec, box)
    aff, inter, intra, terms = _score(la, ra, box)
    assert float(aff) == pytest.approx(-12.5131, abs=2e-4)
    assert float(inter) == pytest.approx(-17.6337, abs=2e-4)
    assert float(intra) == pytest.approx(-0.4845, abs=2e-4)
    assert terms.shape == (5,) and float(terms[1]) > float(terms[0]) > 0
    aff_vinardo = _score(la, ra, box, "vinardo")[0]
    assert float(aff_vinardo) == pytest.approx(-9.1796, abs=2e-4)


def test_padded_equals_unpadded(imatinib):
    lig, rec, box = imatinib
    plain = _score(batch.ligand_arrays(lig), batch.receptor_arrays(rec, box), box)
    bucket = next(b for b in BUCKETS if b.n_atoms >= lig.n_atoms and b.n_pairs >= 498)
    padded = batch.pad_ligands([lig, lig], bucket)
    one = jax.tree.map(lambda a: a[1], padded)
    ra = batch.receptor_arrays(rec, box, pad_multiple=1000)
    full = _score(one, ra, box)
    for a, b in zip(plain, full):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-5)
    # padded atoms carry zero gradient
    tb = tables.build_tables(tables.make_params("vina"))
    g = jax.grad(
        lambda x: (
            energy.intra(x, one, tb, smooth=True)
            + energy.inter_atoms(x, one, ra, tb, smooth=True)[0]
        )
    )(jnp.asarray(one.coords))
    assert np.all(np.asarray(g)[lig.n_atoms :] == 0)


def test_terms_are_unweighted_sums(imatinib):
    lig, rec, box = imatinib
    la, ra = batch.ligand_arrays(lig), batch.receptor_arrays(rec, box)
    params = tables.make_params("vina")
    tb = tables.build_tables(params)
    x = jnp.asarray(lig.coords)
    e_nocap, terms = energy.inter_atoms(x, la, ra, tb, cap=1e30)
    w = np.asarray(params.resolved_weights[:5])
    assert float(e_nocap) == pytest.approx(float(np.dot(w, np.asarray(terms))), abs=1e-3)


def test_curl_caps_and_is_nan_free():
    e = jnp.array([-5.0, 0.0, 3.0, 1e6, -1000.0])
    c = np.asarray(energy.curl(e, 1000.0))
    assert c[0] == -5 and c[1] == 0 and c[2] == pytest.approx(3 * 1000 / 1003)
    assert c[3] < 1000 and c[4] == -1000
    g = jax.grad(lambda v: jnp.sum(energy.curl(v, 1000.0)))(e)
    assert np.all(np.isfinite(np.asarray(g)))


def test_1000_random_poses_are_finite(imatinib):
    lig, rec, box = imatinib
    bucket = next(b for b in BUCKETS if b.n_atoms >= lig.n_atoms and b.n_pairs >= 498)
    one = jax.tree.map(lambda a: a[0], batch.pad_ligands([lig], bucket))
    ra = batch.receptor_arrays(rec, box, pad_multiple=256)
    tb = tables.build_tables(tables.make_params("vina"))
    lo, hi, _ = box_bounds(box)
    rng = np.random.default_rng(0)
    n = 1000
    pos = rng.uniform(lo - 3, hi + 3, size=(n, 3))
    quat = rng.normal(size=(n, 4))
    quat[:5] = 0.0  # degenerate quaternions must not produce NaN
    tors = rng.uniform(-np.pi, np.pi, size=(n, bucket.n_torsions))
    poses = jnp.asarray(np.concatenate([pos, quat, tors], axis=1), jnp.float32)

    def f(p):
        x = kinematics.pose_to_coords(p, one)
        e = energy.inter_atoms(x, one, ra, tb, 1000.0, lo, hi, smooth=True)[0]
        return e + energy.intra(x, one, tb, smooth=True)

    e, g = jax.jit(jax.vmap(jax.value_and_grad(f)))(poses)
    aff = jax.jit(
        jax.vmap(
            lambda p: optimize.score_coords(kinematics.pose_to_coords(p, one), one, ra, tb, lo, hi)[
                0
            ]
        )
    )(poses)
    assert np.all(np.isfinite(np.asarray(e))) and np.all(np.isfinite(np.asarray(g)))
    assert np.all(np.isfinite(np.asarray(aff)))


def test_split_coords_gives_double_like_distances():
    x = np.array([[58.397, -23.097, 37.891], [57.579, -23.894, 37.093]])
    hi, lo = batch.split_coords(x.astype(np.float32))
    assert hi.dtype == np.float32 and lo.dtype == np.float32
    np.testing.assert_allclose(hi.astype(np.float64) + lo, x, rtol=0, atol=1e-12)
    d = (hi[0] - hi[1]) + (lo[0] - lo[1])
    assert np.abs(d.astype(np.float64) - (x[0] - x[1])).max() < 1e-6
