"""The chains-last search kernel equals the per-chain definition (``search.search_energy``
differentiated by autodiff through the torsion tree): values and tangent gradients, for an
ordinary ligand, a flexible macrocycle (glue term), padded atoms / torsions / pairs, both
scoring functions, poses inside and outside the box, and under the search's ``vmap``s."""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, grids, kernel, kinematics, search, tables
from hpcfold.types import BUCKETS, bucket_for

MACROCYCLE = pathlib.Path(__file__).resolve().parents[1] / "data" / "macrocycle_fabp4_457642.pdbqt"
C = 24


@pytest.fixture(scope="module")
def fabp4(shared_data, tmp_path_factory):
    d = shared_data / "dude" / "fabp4"
    box = read_vina_config(d / "box.txt")
    rec = read_receptor(d / "receptor.pdbqt")
    out = {}
    for name in ("vina", "vinardo"):
        params = tables.make_params(name)
        cache = tmp_path_factory.mktemp(f"grid-{name}")
        out[name] = grids.pad_grid(grids.cached_grid(rec, box, params, cache))
    crystal = parse_ligand_pdbqt((d / "crystal_ligand.pdbqt").read_text(), "xtal", "x")
    macro = parse_ligand_pdbqt(MACROCYCLE.read_text(), "macro", str(MACROCYCLE))
    return box, out, crystal, macro


def _padded(record, shift=None, bigger=0):
    """One ligand padded to its bucket (``bigger``: that many buckets further)."""
    if shift is not None:
        record = type(record)(**{**record.__dict__, "coords": record.coords + shift})
    b = bucket_for(record.n_atoms, record.n_torsions, len(record.intra_pairs))
    b = BUCKETS[b.index + bigger]
    arrays = batch.pad_ligands([record], b)
    return type(arrays)(*(None if a is None else np.asarray(a)[0] for a in arrays)), b


def _poses(lig, box, n, spread, seed=0):
    """n poses: the reference conformer moved to the box centre (+ noise), turned, torsions
    perturbed; ``spread`` A of positional noise (large values leave the box)."""
    rng = np.random.default_rng(seed)
    lo, hi, _ = box_bounds(box)
    ident = np.asarray(kinematics.identity_pose(lig))
    centre = np.asarray(lig.coords)[np.asarray(lig.atom_mask)].mean(axis=0)
    p = np.tile(ident, (n, 1))
    p[:, :3] += 0.5 * (lo + hi) - centre + rng.normal(0, spread, (n, 3))
    q = rng.normal(size=(n, 4))
    p[:, 3:7] = q / np.linalg.norm(q, axis=1, keepdims=True)
    t = p.shape[1] - 7
    p[:, 7:] = np.where(np.asarray(lig.tors_mask), rng.normal(0, 1.0, (n, t)), 5.0)
    return jnp.asarray(p, jnp.float32)


def _reference(poses, lig, grid, caps, name):
    w = tables.make_params(name).resolved_weights
    from hpcfold.dock import energy

    pairs = energy.intra_pairs(lig, name, w)
    f = functools.partial(search.search_energy, name=name, weights=w)

    def one(p):
        return kinematics.tangent_grad(lambda r: f(r, (lig, grid, pairs), caps), p)

    e, g = jax.jit(jax.vmap(one))(poses)
    gmask = np.concatenate([np.ones(6), np.asarray(lig.tors_mask, float)])
    return np.asarray(e), np.asarray(g) * gmask


def _batched(poses, lig, grid, caps, name):
    w = tables.make_params(name).resolved_weights
    data = kernel.kernel_data(lig, grid, name, w)
    eg = jax.jit(functools.partial(kernel.energy_and_grad_batch, name=name, weights=w))
    ev = jax.jit(functools.partial(kernel.energy_batch, name=name, weights=w))
    e, g = eg(poses, data, caps)
    return np.asarray(e), np.asarray(g), np.asarray(ev(poses, data, caps))


def _check(ref, new, tol):
    (e0, g0), (e1, g1, v1) = ref, new
    assert np.all(np.isfinite(e1)) and np.all(np.isfinite(g1))
    np.testing.assert_allclose(e1, e0, rtol=tol, atol=tol)
    np.testing.assert_allclose(v1, e0, rtol=tol, atol=tol)
    scale = 1.0 + np.abs(g0).max(axis=1, keepdims=True)
    np.testing.assert_array_less(np.abs(g1 - g0) / scale, tol)


@pytest.mark.parametrize("name", ["vina", "vinardo"])
def test_value_and_gradient_equal_autodiff(fabp4, name):
    box, grid, crystal, _ = fabp4
    lig, _ = _padded(crystal, bigger=1)  # padded atoms, torsions and pairs
    # inside the box at the search's caps, and partly outside (1e6 slopes) at the final caps;
    # gradients are compared relative to their scale
    poses = jnp.concatenate([_poses(lig, box, C, 0.5), _poses(lig, box, C, 12.0, seed=1)])
    caps = jnp.array([10.0, 1.5]) if name == "vina" else jnp.array([1000.0, 1000.0])
    _check(_reference(poses, lig, grid[name], caps, name),
           _batched(poses, lig, grid[name], caps, name), 2e-5)  # fmt: skip


def test_macrocycle_glue(fabp4):
    box, grid, _, macro = fabp4
    lig, _ = _padded(macro, shift=np.asarray(box.center) - macro.coords.mean(axis=0))
    assert lig.glue_partner is not None
    caps = jnp.array([10.0, 1.5])
    poses = _poses(lig, box, C, 0.5)
    _check(_reference(poses, lig, grid["vina"], caps, "vina"),
           _batched(poses, lig, grid["vina"], caps, "vina"), 2e-5)  # fmt: skip


def test_padded_torsions_and_atoms_get_zero_gradient(fabp4):
    box, grid, crystal, _ = fabp4
    lig, b = _padded(crystal, bigger=2)
    _, g, _ = _batched(_poses(lig, box, 4, 0.5), lig, grid["vina"], jnp.array([10.0, 1.5]), "vina")
    n_t = int(np.sum(lig.tors_mask))
    assert b.n_torsions > n_t and np.all(g[:, 6 + n_t :] == 0)


def test_ligand_lanes_do_not_mix(fabp4):
    """An accelerator's lanes vmap the batched kernel over ligands: each lane gives the numbers
    of its ligand alone."""
    box, grid, crystal, _ = fabp4
    lig, _ = _padded(crystal)
    w = tables.make_params("vina").resolved_weights
    data = kernel.kernel_data(lig, grid["vina"], "vina", w)
    caps = jnp.array([10.0, 1.5])
    poses = _poses(lig, box, 8, 0.5)
    eg = functools.partial(kernel.energy_and_grad_batch, name="vina", weights=w)
    e_ref, g_ref = eg(poses, data, caps)
    lanes = jax.tree.map(lambda a: jnp.stack([a, a]), data)
    two = jnp.stack([poses, poses[::-1]])
    e2, g2 = jax.jit(jax.vmap(eg, (0, 0, None)))(two, lanes, caps)
    np.testing.assert_allclose(np.asarray(e2[0]), np.asarray(e_ref), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(e2[1]), np.asarray(e_ref)[::-1], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g2[1]), np.asarray(g_ref)[::-1], rtol=1e-4, atol=1e-4)


def test_sincos_matches_numpy():
    """The kernel's polynomial sine and cosine (the torsion rotations) agree with float64."""
    x = np.concatenate([np.linspace(-700.0, 700.0, 200001), [0.0, np.pi / 4, -np.pi / 2]])
    s, c = jax.jit(kernel._sincos)(jnp.asarray(x, jnp.float32))
    x32 = x.astype(np.float32).astype(np.float64)  # the float32 inputs the kernel sees
    np.testing.assert_allclose(np.asarray(s), np.sin(x32), rtol=0, atol=4e-7)
    np.testing.assert_allclose(np.asarray(c), np.cos(x32), rtol=0, atol=4e-7)


@pytest.mark.parametrize("n_t", [0, 1, 2, 7, 10])
def test_deep_torsion_chain_equals_the_sequential_definition(n_t):
    """Pointer jumping composes a torsion tree of any depth: a chain of n_t torsions, each
    frame the child of the last (depth n_t, the deepest a bucket of n_t torsions holds), plus
    padded torsions, gives the coordinates of the per-chain definition
    (``kinematics.pose_to_coords``, one frame after another)."""
    rng = np.random.default_rng(n_t)
    n, t_pad = n_t + 4, n_t + 2
    coords = np.cumsum(rng.normal(0.0, 1.0, (n, 3)), axis=0).astype(np.float32)
    frame = np.zeros(n, np.int32)
    frame[2 : n_t + 2] = np.arange(1, n_t + 1)
    frame[n_t + 2 :] = n_t  # the chain's last frame carries the rest (root if no torsions)
    ta = np.zeros((t_pad, 2), np.int32)
    ta[:n_t] = np.stack([np.arange(n_t), np.arange(1, n_t + 1)], axis=1) + 1
    parent = np.zeros(t_pad, np.int32)
    parent[:n_t] = np.arange(n_t)  # frame t + 1's parent is frame t
    mask = np.arange(t_pad) < n_t
    lig = batch.LigandArrays(
        coords, np.zeros(n, np.int32), np.ones(n, bool), frame, ta, parent, mask,
        np.zeros((1, 2), np.int32), np.zeros(1, bool), np.float32(n_t), np.int32(0),
        np.int32(n),
    )  # fmt: skip
    poses = np.concatenate([rng.normal(0.0, 3.0, (C, 3)), rng.normal(size=(C, 4)),
                            rng.normal(0.0, 2.0, (C, t_pad))], axis=1)  # fmt: skip
    poses = jnp.asarray(poses, jnp.float32)
    want = jax.jit(jax.vmap(lambda p: kinematics.pose_to_coords(p, lig)))(poses)  # (C, N, 3)
    topo = kernel.topology(lig)
    got = jax.jit(lambda p: jnp.stack(kernel.coordinates(p, lig, topo)[0]))(poses)  # (3, N, C)
    np.testing.assert_allclose(np.asarray(got).transpose(2, 1, 0), np.asarray(want), atol=2e-5)
