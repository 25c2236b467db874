"""Monte-Carlo + BFGS docking search (Vina's algorithm, Uni-Dock's batching), pure JAX.

The search is generic over a pose energy ``energy(pose (D,), data, caps) -> ()`` (kcal/mol),
where ``data`` is any pytree the energy needs (ligand arrays, grid, tables) and ``caps`` is a
(2,) array of Vina's soft caps ``v`` (intra, inter). Gradients come from autodiff. One ligand runs
``n_chains`` independent chains (``vmap``); each chain runs ``n_steps`` Monte-Carlo steps
(``lax.scan``); each step mutates one entity (position, orientation or one torsion), optimises
locally with BFGS (``caps = mc_caps``: Vina's hunt_cap (10, 1.5) in the (intra, inter) order)
and accepts by Metropolis at ``temperature``. A chain returns its best pose, re-optimised with
``final_caps`` (1000, Vina's authentic_v). Every loop has a fixed trip count or a fixed maximum,
so one compilation serves every ligand of a size bucket.

Pose vector (D = 7 + T): ``[position (3) A, quaternion w,x,y,z (4), torsions (T) rad]``. BFGS
steps live in the tangent space (6 + T) of the current pose (``kinematics.apply_change``, Vina's
``change``). Padded torsions (index >= n_tors) are never mutated and get zero gradient.

Random numbers come only from the per-ligand key, so a ligand's result does not depend on the
other ligands of its batch.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from hpcfold.dock import energy as _energy
from hpcfold.dock.kinematics import (
    apply_change,
    pose_to_coords,
    quat_mul,
    quat_normalize,
    rotvec_to_quat,
    tangent_grad,
)
from hpcfold.dock.optimize import bfgs_batched, pose_increment
from hpcfold.dock.presets import SearchParams

BIG = 1e30  # "no energy yet": finite, so Metropolis arithmetic stays NaN-free


def search_energy(pose, data, caps, *, name: str, weights: tuple):
    """Monte-Carlo energy (kcal/mol, not divided by 1 + w N_rot), per pose: the reference
    definition of what the search minimises (``kernel.energy_batch`` computes it for all chains
    at once, and tests/dock/test_kernel.py checks the two agree): grid inter + analytic intra
    (``energy.intra_analytic``: no table gathers) + flexible-macrocycle glue
    (``energy.glue_energy``, capped like intra), caps = (intra v, inter v). pose (7+T,);
    data = (LigandArrays, Grid, IntraPairs of the ligand); name, weights: the scoring function
    and its weights (static Python values, bound with ``functools.partial``)."""
    lig, grid, pairs = data
    xyz = pose_to_coords(pose, lig)
    e_intra = _energy.intra_analytic(xyz, lig, name, weights, caps[0], pairs)
    e_intra = e_intra + _energy.glue_energy(xyz, lig, caps[0])
    return _energy.inter_grid(xyz, lig, grid, caps[1]) + e_intra


# --------------------------------------------------------------------------------------------
# random moves


def random_in_ball(key: jax.Array) -> jax.Array:
    """(3,) uniform point in the unit ball."""
    k1, k2 = jax.random.split(key)
    d = jax.random.normal(k1, (3,))
    d = d / jnp.sqrt(jnp.maximum(jnp.sum(d * d), 1e-12))
    return d * jax.random.uniform(k2) ** (1.0 / 3.0)


def random_pose(key: jax.Array, n_tors: jax.Array, t_pad: int, lo, hi) -> jax.Array:
    """(7+T,) chain start: position uniform in the box [lo, hi] (3,), uniform random
    orientation, active torsions uniform in [-pi, pi], padded torsions 0."""
    kp, kq, kt = jax.random.split(key, 3)
    pos = lo + jax.random.uniform(kp, (3,)) * (hi - lo)
    q = quat_normalize(jax.random.normal(kq, (4,)))
    tors = jax.random.uniform(kt, (t_pad,), minval=-jnp.pi, maxval=jnp.pi)
    tors = jnp.where(jnp.arange(t_pad) < n_tors, tors, 0.0)
    return jnp.concatenate([pos, q, tors])


def mutate(key: jax.Array, pose: jax.Array, n_tors, rg, amplitude: float) -> jax.Array:
    """Vina's mutate_conf: change one of (2 + n_tors) entities chosen uniformly.

    0: position += amplitude * u (u uniform in the unit ball, A); 1: orientation rotated by the
    rotation vector (amplitude / rg) * u; k >= 2: torsion k-2 reset uniformly in [-pi, pi].
    ``rg`` () is the heavy-atom gyration radius (A, > 0).
    """
    ke, kb, kt = jax.random.split(key, 3)
    t_pad = pose.shape[0] - 7
    n_ent = 2 + n_tors
    which = jnp.minimum(jnp.floor(jax.random.uniform(ke) * n_ent).astype(jnp.int32), n_ent - 1)
    u = random_in_ball(kb)
    pos = pose[:3] + jnp.where(which == 0, amplitude * u, 0.0)
    rot = rotvec_to_quat(jnp.where(which == 1, (amplitude / rg) * u, 0.0))
    q = quat_normalize(quat_mul(rot, pose[3:7]))
    new_t = jax.random.uniform(kt, (), minval=-jnp.pi, maxval=jnp.pi)
    tors = jnp.where(jnp.arange(t_pad) == which - 2, new_t, pose[7:])
    return jnp.concatenate([pos, q, tors])


# --------------------------------------------------------------------------------------------
# local optimisation in tangent coordinates


def local_optimize(
    energy: Callable,
    local_opt: Callable,
    pose: jax.Array,
    data,
    cap,
    tors_mask: jax.Array,
    iters: int,
):
    """BFGS from ``pose`` (7+T,) on ``energy(., data, cap)``; steps and gradients live in the
    tangent space (6+T,) of the current pose (``kinematics.apply_change``, Vina's ``change``).

    local_opt: ``optimize.bfgs``-compatible; the gradient is autodiff of ``energy`` through
    ``apply_change``. Returns (pose (7+T,), e ()), torsions wrapped to
    [-pi, pi); padded torsions get zero gradient so they never move.
    """
    gmask = jnp.concatenate([jnp.ones(6, pose.dtype), tors_mask.astype(pose.dtype)])

    def fun_and_grad(q):
        e, g = tangent_grad(lambda r: energy(r, data, cap), q)
        return e, g * gmask

    out, e = local_opt(
        fun_and_grad, pose, iters, increment=pose_increment, fun=lambda r: energy(r, data, cap)
    )
    tors = jnp.mod(out[7:] + jnp.pi, 2 * jnp.pi) - jnp.pi
    return jnp.concatenate([out[:3], quat_normalize(out[3:7]), tors]), e


def _chain_steps(keys, data, n_tors, rg, gmask, obj, p: SearchParams, carry, i):
    """Monte-Carlo step ``i`` of all C chains of one ligand at once: carry = (pose (C, D),
    e (C,), best_pose (C, D), best_e (C,)); keys (C, 2), one stream per chain.

    Step ``n_steps`` (the last) re-optimises each chain's best pose with ``final_caps`` /
    ``final_iters`` instead: one BFGS call site for both (small program, fast compile).
    """
    energy_b, energy_grad_b = obj
    pose, e, best_pose, best_e = carry
    dtype = pose.dtype
    mc_caps, final_caps = jnp.asarray(p.mc_caps, dtype), jnp.asarray(p.final_caps, dtype)
    final = i == p.n_steps
    k_mut, k_acc = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, i)), out_axes=1)(keys)
    moved = jax.vmap(lambda k, q: mutate(k, q, n_tors, rg, p.pos_amplitude))(k_mut, pose)
    cand = jnp.where(final, best_pose, moved)
    caps = jnp.where(final, final_caps, mc_caps)
    iters = jnp.where(final, p.final_iters, p.opt_iters)

    def fun_and_grad(q):
        e_q, g = energy_grad_b(q, data, caps)
        return e_q, g * gmask

    def value(q):
        return energy_b(q, data, caps)

    cand, ec = bfgs_batched(
        fun_and_grad, cand, iters, _increment, fun=value, max_trials=p.ls_trials,
        shrink_on_fail=p.ls_shrink,
    )  # fmt: skip
    cand = jax.vmap(_wrap)(cand)
    ec = jnp.where(jnp.isfinite(ec), ec, BIG)
    delta = jnp.maximum(ec - e, 0.0)
    accept = jax.vmap(jax.random.uniform)(k_acc) < jnp.exp(-delta / p.temperature)
    pose = jnp.where(accept[:, None], cand, pose)
    e = jnp.where(accept, ec, e)
    better = (ec < best_e) | final
    best_pose = jnp.where(better[:, None], cand, best_pose)
    best_e = jnp.where(better, ec, best_e)
    return pose, e, best_pose, best_e


def _increment(poses, p, alpha):
    """Batched BFGS step for poses (C, D): ``apply_change(pose, alpha p)`` per row."""
    return jax.vmap(apply_change)(poses, alpha[:, None] * p)


def _wrap(pose):
    """Pose with a unit quaternion and torsions wrapped to [-pi, pi)."""
    tors = jnp.mod(pose[7:] + jnp.pi, 2 * jnp.pi) - jnp.pi
    return jnp.concatenate([pose[:3], quat_normalize(pose[3:7]), tors])


def batched_objective(energy: Callable, energy_and_grad: Callable | None = None):
    """(energy_b, energy_grad_b) over C poses from per-pose functions: ``energy(pose, data, caps)
    -> ()`` and optionally ``energy_and_grad(pose, data, caps) -> ((), (6+T,))`` (else autodiff
    through ``apply_change``). For objectives written batched (``kernel``), pass those
    directly to ``search_ligand``."""

    def eg_one(q, data, caps):
        if energy_and_grad is not None:
            return energy_and_grad(q, data, caps)
        return tangent_grad(lambda r: energy(r, data, caps), q)

    return (jax.vmap(energy, (0, None, None)), jax.vmap(eg_one, (0, None, None)))


def restart_worst(carry, n_restart: int):
    """Elitist restart across the chains of one ligand: the ``n_restart`` chains with the
    highest best energy continue from the best poses of the ``n_restart`` lowest, rank for
    rank (the best of the worst block takes the best pose, the worst takes the n-th best),
    each with its own random stream. carry: (pose (C,D), e (C,), best_pose (C,D), best_e (C,)).
    Returns (new carry, losers (n_restart,) chain indices); every chain keeps its own best pose
    until it finds a better one. Ties resolve by chain index (stable sort): deterministic."""
    pose, e, best_pose, best_e = carry
    c = best_e.shape[0]
    order = jnp.argsort(best_e, stable=True)
    losers = order[c - n_restart :]
    src = jnp.arange(c).at[losers].set(order[:n_restart])
    return (best_pose[src], best_e[src], best_pose, best_e), losers


def n_restarted(p: SearchParams) -> int:
    """Chains restarted at each restart (``restart_frac`` of them, at most half; 0: none)."""
    return min(int(p.n_chains * p.restart_frac), p.n_chains // 2) if p.restart_every else 0


def n_archived(p: SearchParams) -> int:
    """Poses ``search_ligand`` returns besides one per chain: the restarted chains' bests."""
    return n_restarted(p) * ((p.n_steps - 1) // p.restart_every) if p.restart_every else 0


def search_ligand(
    key, data, n_tors, rg, lo, hi, t_pad: int, energy, local_opt, p: SearchParams,
    energy_and_grad=None, batched: bool = False,
):  # fmt: skip
    """All chains of one ligand -> (poses (C + A, 7+T), energies (C + A,)), C = p.n_chains,
    A = ``n_archived(p)``.

    key: (2,) uint32 legacy PRNG key of this ligand; n_tors (): active torsions; rg () A;
    lo, hi (3,): box corners in A. The objective: per pose, ``energy(pose, data, caps) -> ()``
    and optionally ``energy_and_grad`` (tangent gradient, else autodiff); with ``batched``
    both take and return all C chains at once (``kernel.energy_batch``, ``energy_and_grad_batch``).
    ``local_opt`` is accepted for callers of the per-chain form and not used: local
    optimisation is ``optimize.bfgs_batched``, each chain exactly Vina's BFGS.

    Each chain starts at a random pose and runs ``n_steps`` Monte-Carlo steps. With
    ``restart_every`` > 0, after every ``restart_every`` steps the worst ``restart_frac`` of the
    chains restart from the best ones' poses (``restart_worst``): effort moves to the promising
    basins. The first C rows are each chain's best pose, re-optimised with ``final_caps``; the
    A rows after them are the best poses the restarted chains had found before each restart
    (distinct basins, so the merged modes stay diverse), scored with ``final_caps`` but not
    re-optimised.
    """
    del local_opt
    if batched:
        obj = (energy, energy_and_grad)
    else:
        obj = batched_objective(energy, energy_and_grad)
    tors_mask = jnp.arange(t_pad) < n_tors
    gmask = jnp.concatenate([jnp.ones(6, jnp.float32), tors_mask.astype(jnp.float32)])
    keys = jax.random.split(key, p.n_chains)
    k_start, k_steps = jax.vmap(jax.random.split, out_axes=1)(keys)
    start = jax.vmap(lambda k: random_pose(k, n_tors, t_pad, lo, hi))(k_start)
    big = jnp.full((p.n_chains,), BIG, start.dtype)
    n_arch = n_archived(p)
    n_restart = n_restarted(p) if n_arch else 0

    def step(state, i):
        carry, arch = state
        carry = _chain_steps(k_steps, data, n_tors, rg, gmask, obj, p, carry, i)
        if n_restart:
            due = ((i + 1) % p.restart_every == 0) & (i + 1 < p.n_steps)
            new, losers = restart_worst(carry, n_restart)
            slot = jnp.clip((i + 1) // p.restart_every - 1, 0, n_arch // n_restart - 1)
            put = jax.lax.dynamic_update_slice(arch, carry[2][losers], (slot * n_restart, 0))
            arch = jnp.where(due, put, arch)
            carry = jax.tree.map(lambda a, b: jnp.where(due, a, b), new, carry)
        return (carry, arch), None

    init = ((start, big, start, big), jnp.broadcast_to(start[:1], (n_arch, start.shape[1])))
    ((_, _, best, best_e), arch), _ = jax.lax.scan(step, init, jnp.arange(p.n_steps + 1))
    if not n_arch:
        return best, best_e
    final_caps = jnp.asarray(p.final_caps, start.dtype)
    arch_e = obj[0](arch, data, final_caps)
    arch_e = jnp.where(jnp.isfinite(arch_e), arch_e, BIG)
    return jnp.concatenate([best, arch]), jnp.concatenate([best_e, arch_e])


def gyration_radius(coords: jax.Array, heavy: jax.Array) -> jax.Array:
    """() heavy-atom radius of gyration (A) of coords (N,3) with mask heavy (N,), >= 0.5."""
    w = heavy.astype(coords.dtype)
    n = jnp.maximum(jnp.sum(w), 1.0)
    c = jnp.sum(coords * w[:, None], axis=0) / n
    r2 = jnp.sum(jnp.sum((coords - c) ** 2, axis=1) * w) / n
    return jnp.sqrt(jnp.maximum(r2, 0.25))
