"""Pose -> coordinates through the torsion tree (pure JAX, one ligand; ``jax.vmap`` for batches).

Pose vector (7 + T,): world position of the root origin (A), orientation quaternion (w, x, y, z),
torsion angles (rad). The root origin is the first ROOT atom (Vina), frame t + 1 rotates about the
axis ``tors_atoms[t, 0] -> tors_atoms[t, 1]`` of its parent frame. The identity pose (root atom
position, (1, 0, 0, 0), zeros) reproduces the reference coordinates.

Tangent ("change") vector (6 + T,), Vina's ``change``: position step, rotation vector applied in
the world frame about the root origin (Vina's ``quaternion_increment``), torsion steps. BFGS works
in this space (``apply_change``); ``tangent_grad`` gives the gradient there.

Numerics: quaternion and axis normalisations use guarded norms, the rotation-vector exponential a
Taylor branch near zero, so values and gradients stay finite for any input (padding included).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hpcfold.dock.batch import LigandArrays

_EPS = 1e-12


def _safe_unit(v: jnp.ndarray, fallback: jnp.ndarray) -> jnp.ndarray:
    """v / |v| along the last axis; ``fallback`` where |v|^2 <= 1e-12 (no NaN in value or grad)."""
    n2 = jnp.sum(v * v, axis=-1, keepdims=True)
    ok = n2 > _EPS
    inv = jax.lax.rsqrt(jnp.where(ok, n2, 1.0))
    return jnp.where(ok, v * inv, fallback)


def quat_normalize(q: jnp.ndarray) -> jnp.ndarray:
    """(4,) unit quaternion; the identity for a (near) zero input."""
    return _safe_unit(q, jnp.array([1.0, 0.0, 0.0, 0.0], q.dtype))


def quat_to_mat(q: jnp.ndarray) -> jnp.ndarray:
    """(4,) quaternion (w, x, y, z), normalised first -> (3, 3) rotation matrix."""
    w, x, y, z = quat_normalize(q)
    return jnp.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_mul(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """Hamilton product a * b of (4,) quaternions (w, x, y, z)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return jnp.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def rotvec_to_quat(v: jnp.ndarray) -> jnp.ndarray:
    """(3,) rotation vector (axis * angle, rad) -> (4,) unit quaternion; smooth at zero."""
    t2 = jnp.sum(v * v)
    small = t2 < 1e-8
    t = jnp.sqrt(jnp.where(small, 1.0, t2))
    half_sinc = jnp.where(small, 0.5 - t2 / 48.0, jnp.sin(0.5 * t) / t)
    cos_half = jnp.where(small, 1.0 - t2 / 8.0, jnp.cos(0.5 * t))
    return jnp.concatenate([cos_half[None], v * half_sinc])


def axis_angle_to_mat(u: jnp.ndarray, theta: jnp.ndarray) -> jnp.ndarray:
    """(3, 3) rotation by ``theta`` (rad) about the unit axis ``u`` (3,) (Rodrigues)."""
    c, s = jnp.cos(theta), jnp.sin(theta)
    x, y, z = u
    k = jnp.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return jnp.eye(3) * c + s * k + (1 - c) * jnp.outer(u, u)


def identity_pose(lig: LigandArrays) -> jnp.ndarray:
    """(7 + T,) pose reproducing ``lig.coords``: root atom position, (1, 0, 0, 0), zero torsions."""
    t = lig.tors_atoms.shape[-2]
    origin = jnp.asarray(lig.coords)[lig.root_atom]
    return jnp.concatenate(
        [origin, jnp.array([1.0, 0.0, 0.0, 0.0], origin.dtype), jnp.zeros(t, origin.dtype)]
    )


def frames(pose: jnp.ndarray, lig: LigandArrays) -> tuple[jnp.ndarray, jnp.ndarray]:
    """World rotation (F, 3, 3) and origin (F, 3) of every frame, F = T + 1."""
    coords = jnp.asarray(lig.coords)
    ta = jnp.asarray(lig.tors_atoms)
    n_t = ta.shape[0]
    ref_origin = jnp.concatenate([coords[lig.root_atom][None], coords[ta[:, 1]]], axis=0)
    axis = _safe_unit(coords[ta[:, 1]] - coords[ta[:, 0]], jnp.array([1.0, 0.0, 0.0]))
    theta = jnp.where(jnp.asarray(lig.tors_mask), pose[7:], 0.0)
    parent = jnp.asarray(lig.tors_parent)
    rot = jnp.zeros((n_t + 1, 3, 3), coords.dtype).at[0].set(quat_to_mat(pose[3:7]))
    org = jnp.zeros((n_t + 1, 3), coords.dtype).at[0].set(pose[:3])

    def body(t, carry):
        rot, org = carry
        p = parent[t]
        rp, op = rot[p], org[p]
        oc = op + rp @ (ref_origin[t + 1] - ref_origin[p])
        rc = rp @ axis_angle_to_mat(axis[t], theta[t])
        return rot.at[t + 1].set(rc), org.at[t + 1].set(oc)

    if n_t:
        rot, org = jax.lax.fori_loop(0, n_t, body, (rot, org))
    return rot, org


def pose_to_coords(pose: jnp.ndarray, lig: LigandArrays) -> jnp.ndarray:
    """(7 + T,) pose -> (N, 3) world coordinates (A). Padded atoms follow the root frame."""
    coords = jnp.asarray(lig.coords)
    ta = jnp.asarray(lig.tors_atoms)
    ref_origin = jnp.concatenate([coords[lig.root_atom][None], coords[ta[:, 1]]], axis=0)
    rot, org = frames(pose, lig)
    f = lig.frame
    local = coords - ref_origin[f]
    return org[f] + jnp.einsum("nij,nj->ni", rot[f], local)


def apply_change(pose: jnp.ndarray, change: jnp.ndarray) -> jnp.ndarray:
    """Pose (7 + T,) moved by a tangent step (6 + T,): position += d[:3]; orientation rotated by
    the world rotation vector d[3:6] (left-multiplied, renormalised); torsions += d[6:]."""
    q = quat_normalize(quat_mul(rotvec_to_quat(change[3:6]), quat_normalize(pose[3:7])))
    return jnp.concatenate([pose[:3] + change[:3], q, pose[7:] + change[6:]])


def tangent_grad(energy_of_pose, pose: jnp.ndarray):
    """(e, g) with g (6 + T,) = gradient of ``energy_of_pose(apply_change(pose, d))`` at d = 0."""
    zero = jnp.zeros(pose.shape[0] - 1, pose.dtype)
    return jax.value_and_grad(lambda d: energy_of_pose(apply_change(pose, d)))(zero)
