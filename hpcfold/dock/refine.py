"""The merge step's per-ligand kernels: pose coordinates, the final refinement on explicit
receptor atoms, and the affinity (``merge_ops``, the operations ``cluster.merge_poses`` runs).

The refinement is Vina's: BFGS (``ctx.search.refine_iters`` iterations) on explicit receptor
atoms near each pose (``neighbours``) with smooth tables and caps v = 1000, repeated with a
steeper box penalty until every heavy atom is inside the box.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold.dock import cluster, energy, kinematics, optimize, search
from hpcfold.dock.batch import FAR
from hpcfold.dock.context import DockContext

REFINE_REACH = 9.5  # A: receptor atoms within the 8 A cutoff + 1.5 A of a pose join its refinement


def _cached(ctx: DockContext, name: str, build):
    if name not in ctx.kernels:
        ctx.kernels[name] = build()
    return ctx.kernels[name]


def merge_ops(ctx: DockContext, bucket, lig) -> cluster.MergeOps:
    """The per-ligand operations of ``cluster.merge_poses`` (coordinates, refinement,
    affinity), bound to one ligand's arrays ``lig`` (LigandArrays of ``bucket``, unbatched);
    their jitted kernels are built once per bucket and kept in ``ctx.kernels``."""

    def build_coords():
        return jax.jit(jax.vmap(kinematics.pose_to_coords, in_axes=(0, None)))

    def build_refine():
        def e_fn(pose, data, caps):
            lg, rec, tabs, lo, hi, slope = data
            xyz = kinematics.pose_to_coords(pose, lg)
            inter, _ = energy.inter_atoms(xyz, lg, rec, tabs, caps[1], lo, hi, slope, smooth=True)
            intra = energy.intra(xyz, lg, tabs, caps[0], smooth=True)
            return inter + intra + energy.glue_energy(xyz, lg, caps[0])

        def run(poses, lg, rec, tabs, lo, hi, slope):
            mask = lg.tors_mask
            one = lambda p, r: search.local_optimize(  # noqa: E731
                e_fn, optimize.bfgs, p, (lg, r, tabs, lo, hi, slope), (1000.0, 1000.0), mask,
                ctx.search.refine_iters,
            )  # fmt: skip
            return jax.vmap(one)(poses, rec)[0]

        return jax.jit(run)

    def build_score():
        def run(xyz, lg, rec, tabs):
            def one(x):
                inter, terms = energy.inter_atoms(x, lg, rec, tabs, 1000.0)
                return inter, energy.intra(x, lg, tabs), terms

            return jax.vmap(one)(xyz)

        return jax.jit(run)

    coords_k = _cached(ctx, f"coords:{bucket.name}", build_coords)
    refine_k = _cached(ctx, f"refine:{bucket.name}", build_refine)
    score_k = _cached(ctx, f"score:{bucket.name}", build_score)

    def refine(poses):
        poses = np.asarray(poses)
        xyz = np.asarray(coords_k(poses, lig))
        rec = neighbours(ctx.rec_atoms, xyz, lig.atom_mask)
        todo = np.ones(len(poses), bool)
        heavy = np.asarray(lig.xs) >= 0
        for p in range(5):  # Vina: slope 10^(2+2p) until every heavy atom is inside the box
            slope = 10.0 ** (2 + 2 * p)
            new = np.asarray(refine_k(poses, lig, rec, ctx.tables, ctx.lo, ctx.hi, slope))
            poses = np.where(todo[:, None], new, poses)
            xyz = np.where(todo[:, None, None], np.asarray(coords_k(new, lig)), xyz)
            h = xyz[:, heavy]
            inside = np.all((h >= ctx.lo - 1e-3) & (h <= ctx.hi + 1e-3), axis=(1, 2))
            todo = ~inside
            if not todo.any():
                break
        inter, intra, terms = score_k(xyz, lig, ctx.rec_atoms, ctx.tables)
        return xyz, np.asarray(inter), np.asarray(intra), np.asarray(terms)

    def affinity(inter, intra, intra_ref):
        a = energy.affinity(
            jnp.asarray(inter), jnp.asarray(intra), intra_ref, record_nrot, ctx.params
        )
        return np.asarray(a)

    record_nrot = float(lig.n_rot)
    return cluster.MergeOps(lambda p: coords_k(np.asarray(p), lig), refine, affinity)


def neighbours(rec, xyz: np.ndarray, atom_mask: np.ndarray):
    """Per pose, the receptor atoms within REFINE_REACH of any of its real atoms: ReceptorAtoms
    with coords (R, K, 3), xs (R, K), padded (far away, xs -1) to a multiple of 256 so the
    refinement compiles for a few sizes only. xyz (R, N, 3)."""
    rc = np.asarray(rec.coords, np.float64)
    pts = np.asarray(xyz, np.float64)[:, np.asarray(atom_mask, bool)]  # (R, n, 3)
    flat = pts.reshape(-1, 3)
    fin = flat[np.all(np.isfinite(flat), axis=1)]  # a non-finite pose gets no neighbours
    cand = np.zeros(0, np.int64)
    if len(fin):
        lo, hi = fin.min(axis=0) - REFINE_REACH, fin.max(axis=0) + REFINE_REACH
        cand = np.flatnonzero(np.all((rc >= lo) & (rc <= hi), axis=1))
    c = rc[cand]
    # |c - p|^2 for every (candidate, pose atom) at once, as one matrix product: 5x faster than
    # a loop over poses (the margin of REFINE_REACH over the 8 A cutoff absorbs rounding)
    d2 = np.sum(c * c, 1)[:, None] + np.sum(flat * flat, 1)[None, :] - 2.0 * (c @ flat.T)
    near = d2.reshape(len(c), len(pts), -1).min(axis=2) < REFINE_REACH**2  # (M, R)
    keeps = [cand[near[:, r]] for r in range(len(pts))]
    k = 256 * max(1, -(-max(len(x) for x in keeps) // 256))
    coords = np.full((len(keeps), k, 3), FAR, np.float32)
    xs = np.full((len(keeps), k), -1, np.int32)
    for r, keep in enumerate(keeps):
        coords[r, : len(keep)] = rc[keep]
        xs[r, : len(keep)] = np.asarray(rec.xs)[keep]
    return type(rec)(coords, xs)
