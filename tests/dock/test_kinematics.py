"""Pose -> coordinates: identity, rigidity, torsions, gradients vs finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, kinematics, local, tables
from hpcfold.types import BUCKETS


@pytest.fixture(scope="module")
def lig(shared_data):
    text = (shared_data / "vina-example" / "1iep_ligand.pdbqt").read_text()
    return parse_ligand_pdbqt(text, "imatinib", "x")


def _roomy(lig):
    """A bucket with at least 8 padded atoms beyond the ligand's."""
    return next(
        b for b in BUCKETS if b.n_atoms >= lig.n_atoms + 8 and b.n_torsions >= lig.n_torsions
        and b.n_pairs >= len(lig.intra_pairs)
    )  # fmt: skip


def test_identity_pose_reproduces_coords(lig):
    la = batch.ligand_arrays(lig)
    x = kinematics.pose_to_coords(kinematics.identity_pose(la), la)
    np.testing.assert_allclose(np.asarray(x), lig.coords, atol=1e-5)
    padded = jax.tree.map(lambda a: a[0], batch.pad_ligands([lig], _roomy(lig)))
    xp = kinematics.pose_to_coords(kinematics.identity_pose(padded), padded)
    np.testing.assert_allclose(np.asarray(xp)[: lig.n_atoms], lig.coords, atol=1e-5)


def test_rigid_motion_and_torsions_keep_bonds(lig):
    la = batch.ligand_arrays(lig)
    rng = np.random.default_rng(1)
    b = lig.bonds[:, :2]
    ref = np.linalg.norm(lig.coords[b[:, 0]] - lig.coords[b[:, 1]], axis=1)
    for _ in range(5):
        pose = np.concatenate(
            [rng.normal(size=3) * 5, rng.normal(size=4), rng.uniform(-np.pi, np.pi, lig.n_torsions)]
        )
        x = np.asarray(kinematics.pose_to_coords(jnp.asarray(pose, jnp.float32), la))
        d = np.linalg.norm(x[b[:, 0]] - x[b[:, 1]], axis=1)
        np.testing.assert_allclose(d, ref, atol=2e-4)
        np.testing.assert_allclose(x[la.root_atom], pose[:3], atol=1e-5)
    # a torsion moves only its subtree, which is rigid within itself
    pose = np.asarray(kinematics.identity_pose(la)).copy()
    pose[7 + 3] = 1.0
    x = np.asarray(kinematics.pose_to_coords(jnp.asarray(pose), la))
    moved = np.linalg.norm(x - lig.coords, axis=1) > 1e-4
    assert moved.any() and not moved.all()
    assert not moved[lig.frame_of_atom == 0].any()


def test_rotvec_quaternion_is_smooth_at_zero():
    g = jax.jacobian(kinematics.rotvec_to_quat)(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(g)))
    q = kinematics.rotvec_to_quat(jnp.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(
        np.asarray(q), [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)], atol=1e-6
    )
    gz = jax.grad(lambda q: jnp.sum(kinematics.quat_to_mat(q)))(jnp.zeros(4))
    assert np.all(np.isfinite(np.asarray(gz)))


def test_gradient_matches_finite_differences(lig, shared_data):
    d = shared_data / "vina-example"
    rec = read_receptor(d / "1iep_receptor.pdbqt")
    box = read_vina_config(d / "1iep_receptor.box.txt")
    la, ra = batch.ligand_arrays(lig), batch.receptor_arrays(rec, box)
    tb = tables.build_tables(tables.make_params("vina"))
    lo, hi, _ = box_bounds(box)

    def geom(p):  # pure kinematics: smooth function of the coordinates
        x = kinematics.pose_to_coords(p, la)
        return jnp.sum(jnp.sin(0.3 * x)) + 0.01 * jnp.sum(x * x)

    def phys(p):
        return local.local_energy(p, la, ra, tb, lo, hi)

    pose = kinematics.identity_pose(la)
    pose = pose.at[7:].add(0.2)
    for fn, rtol in ((geom, 2e-2), (phys, 6e-2)):
        _, g = kinematics.tangent_grad(fn, pose)
        h = 2e-3
        fd = []
        for i in range(pose.shape[0] - 1):
            e = jnp.zeros(pose.shape[0] - 1).at[i].set(h)
            fd.append(
                (fn(kinematics.apply_change(pose, e)) - fn(kinematics.apply_change(pose, -e)))
                / (2 * h)
            )
        fd = np.asarray(fd)
        g = np.asarray(g)
        scale = np.abs(fd).max()
        assert np.abs(g - fd).max() <= rtol * scale, (fn.__name__, g, fd)
        # the full 7+T autodiff gradient is finite too
        assert np.all(np.isfinite(np.asarray(jax.grad(fn)(pose))))


def test_vmap_matches_single(lig):
    padded = batch.pad_ligands([lig, lig], _roomy(lig))
    poses = jax.vmap(kinematics.identity_pose)(padded)
    poses = poses.at[1, 7].set(0.7)
    xb = jax.vmap(kinematics.pose_to_coords)(poses, padded)
    x1 = kinematics.pose_to_coords(poses[1], jax.tree.map(lambda a: a[1], padded))
    np.testing.assert_allclose(np.asarray(xb[1]), np.asarray(x1), atol=1e-6)
