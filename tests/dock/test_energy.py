"""Energies on explicit atoms: Vina's checked numbers, padding, caps, NaN-freedom."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, energy, kinematics, local, tables
from hpcfold.types import BUCKETS, bucket_for


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
    return local.score_coords(x, lig_arrays, rec_arrays, tb, lo, hi)


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
            lambda p: local.score_coords(kinematics.pose_to_coords(p, one), one, ra, tb, lo, hi)[0]
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


# --------------------------------------------------------------------------------------------
# intra_analytic: the search's table-free intra term


def _ligands(shared_data, imatinib):
    out = [imatinib[0]]
    for cid in ("1hnn", "1p2y", "1lrh"):
        text = (shared_data / "redock42" / cid / "ligand_xray.pdbqt").read_text()
        out.append(parse_ligand_pdbqt(text, cid, f"{cid}/ligand_xray.pdbqt"))
    return out


def _random_coords(la, n, seed):
    """(n, N, 3) coordinates of n random poses (random torsions: clashes included) + the
    reference pose first."""
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, 3))
    quat = rng.normal(size=(n, 4))
    tors = rng.uniform(-np.pi, np.pi, size=(n, la.tors_mask.shape[0]))
    poses = jnp.asarray(np.concatenate([pos, quat, tors], axis=1), jnp.float32)
    poses = poses.at[0].set(kinematics.identity_pose(la))
    return jax.vmap(kinematics.pose_to_coords, in_axes=(0, None))(poses, la)


def _last_bin_pairs(xyz, la, bins=1):
    """Per pose, listed typed pairs in the table's last r^2 bin [63.97, 64): the table ramps them
    to 0 there, the analytic energy (as specified: 0 from 8 A on) keeps the curve's value. The
    table's derivative (``dor``, central differences) reaches one bin further (``bins=2``:
    [63.94, 64))."""
    x = np.asarray(xyz)
    i, j = np.asarray(la.pairs).T
    xs = np.asarray(la.xs)
    real = np.asarray(la.pair_mask) & (xs[i] >= 0) & (xs[j] >= 0)
    r2 = np.sum((x[:, i] - x[:, j]) ** 2, axis=-1)
    lo = (tables.N_SAMPLES - 3 - bins) / tables.FACTOR
    return np.sum(real & (r2 >= lo) & (r2 < tables.CUTOFF2), axis=1)


@pytest.mark.parametrize("name", ["vina", "vinardo"])
def test_intra_analytic_matches_smooth_table(shared_data, imatinib, name):
    params = tables.make_params(name)
    tb, w = tables.build_tables(params), params.resolved_weights

    def table(x, lg, cap):
        return energy.intra(x, lg, tb, cap, smooth=True)

    def exact(x, lg, cap):
        return energy.intra_analytic(x, lg, name, w, cap)

    for k, lig in enumerate(_ligands(shared_data, imatinib)):
        bucket = bucket_for(lig.n_atoms, lig.n_torsions, len(lig.intra_pairs))
        la = jax.tree.map(lambda a: a[0], batch.pad_ligands([lig], bucket))
        xyz = _random_coords(la, 12, seed=k)
        edge, edge_grad = _last_bin_pairs(xyz, la), _last_bin_pairs(xyz, la, bins=2)
        for cap in (1000.0, 10.0):
            et, gt = _vg(table, xyz, la, cap)
            ea, ga = _vg(exact, xyz, la, cap)
            # interpolation error (~1e-5 relative) + the table's ramp in its last bin
            tol = 2e-3 + 2e-4 * np.abs(et) + 6e-3 * edge
            assert np.all(np.abs(ea - et) <= tol), (lig.lig_id, cap, ea - et)
            assert abs(ea[0] - et[0]) < 1e-4  # reference conformer
            assert np.all(np.isfinite(ga))
            for g_a, g_t, n_edge in zip(ga, gt, edge_grad):
                if not n_edge:  # (the table's last-bin ramp has a steep slope)
                    err = np.linalg.norm(g_a - g_t)
                    assert err <= 0.02 * np.linalg.norm(g_t) + 2e-3, (lig.lig_id, err)


def _vg(fn, xyz, lg, cap):
    """Values (B,) and coordinate gradients (B, N, 3) of fn(x, lg, cap) over poses xyz."""
    e, g = jax.jit(jax.vmap(jax.value_and_grad(fn), in_axes=(0, None, None)))(xyz, lg, cap)
    return np.asarray(e), np.asarray(g)


def test_intra_analytic_gradient_is_its_own_derivative(imatinib):
    """The custom JVP (df/dr2 computed with the value) equals autodiff of the value formula."""
    params = tables.make_params("vina")
    la = batch.ligand_arrays(imatinib[0])
    xyz = _random_coords(la, 8, seed=5)
    w = tuple(params.resolved_weights[:5])
    pp = energy.intra_pairs(la, "vina", w)

    def plain(x, lg, cap):
        d = x[:, None, :] - x[None, :, :]
        r2 = jnp.sum(d * d, axis=-1)
        return jnp.sum(energy.pair_energy_and_slope("vina", w, r2, pp, cap)[0])

    def custom(x, lg, cap):
        return energy.intra_analytic(x, lg, "vina", w, cap, pp)

    e_ref, g_ref = _vg(plain, xyz, la, 10.0)
    e, g = _vg(custom, xyz, la, 10.0)
    np.testing.assert_allclose(e, e_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-4)
    e_self = energy.intra_analytic(xyz[1], la, "vina", w, 10.0)  # pairs built inside
    assert float(e_self) == pytest.approx(float(e[1]), abs=1e-6)


def test_intra_analytic_padding_masks_and_coincident_atoms(shared_data, imatinib):
    params = tables.make_params("vina")
    tb, w = tables.build_tables(params), params.resolved_weights

    def exact(x, lg, cap):
        return energy.intra_analytic(x, lg, "vina", w, cap)

    def vg(x, lg):
        e, g = jax.value_and_grad(exact)(x, lg, 1000.0)
        return float(e), np.asarray(g)

    ligs = _ligands(shared_data, imatinib)[1:]  # the 32-atom bucket
    bucket = next(b for b in BUCKETS if b.n_atoms >= 48)  # extra padding
    padded = batch.pad_ligands(ligs, bucket)
    e, g = jax.vmap(jax.value_and_grad(exact), in_axes=(0, 0, None))(
        jnp.asarray(padded.coords), padded, 10.0
    )
    e, g = np.asarray(e), np.asarray(g)
    assert np.all(np.isfinite(e)) and np.all(np.isfinite(g))
    for b, lig in enumerate(ligs):
        assert np.all(g[b, lig.n_atoms :] == 0)  # padded atoms: exactly zero gradient
        plain = batch.ligand_arrays(lig)
        assert e[b] == pytest.approx(float(exact(jnp.asarray(lig.coords), plain, 10.0)), abs=1e-5)
        one = jax.tree.map(lambda a, b=b: a[b], padded)
        # two coincident atoms of a listed pair: finite value and gradient
        i, j = np.asarray(one.pairs)[0]
        x = jnp.asarray(one.coords).at[j].set(one.coords[i])
        ec, gc = vg(x, one)
        assert np.isfinite(ec) and np.all(np.isfinite(gc))
        # masked pairs contribute nothing: all masked -> exactly 0 and a zero gradient
        e0, g0 = vg(x, one._replace(pair_mask=np.zeros_like(one.pair_mask)))
        assert e0 == 0.0 and np.all(g0 == 0.0)
        # half masked: the table path's sum with the same mask
        keep = np.asarray(one.pair_mask) & (np.arange(one.pair_mask.shape[0]) % 2 == 0)
        half = one._replace(pair_mask=keep)
        x0 = jnp.asarray(one.coords)
        e_tab = float(energy.intra(x0, half, tb, smooth=True))
        assert vg(x0, half)[0] == pytest.approx(e_tab, abs=1e-4)
