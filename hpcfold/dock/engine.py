"""Docking engine: options, per-receptor context, batched ``dock_ligands``.

``make_context`` builds the scoring tables and grid maps once per (receptor, box, scoring); the
search kernel compiles lazily, once per size bucket (``hpcfold.types.BUCKETS``), with a fixed
kernel batch size: a chunk is padded with dummy ligands. Each ligand's random stream comes from
(options.seed, sha256(lig_id)). The kernel runs ``ligand_lanes`` ligands in lockstep (``vmap``;
on CPU one at a time, ``lax.map``), and a lane never reads another lane, so a ligand's poses
never depend on its neighbours, its chunk or its rank. Post-processing (merge, refine, filter) is
per ligand: ``hpcfold.dock.cluster.merge_poses`` with the kernels of ``_merge_ops``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import os
import time

from hpcfold import runtime

# Docking kernels are many tiny ops: XLA's intra-op thread pool only adds synchronisation
# (3x slower wall time measured on 2 busy cores); parallelism comes from ranks / ligands.
# Effective only before JAX starts its CPU backend; HPCFOLD_XLA_THREADS opts out.
runtime.configure_xla_cpu(threads=None)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from hpcfold.boxes import box_bounds  # noqa: E402
from hpcfold.dock import cluster, presets, search  # noqa: E402
from hpcfold.types import (  # noqa: E402
    Box,
    DockResult,
    Failure,
    LigandRecord,
    Reason,
    ReceptorRecord,
    bucket_for,
    has_glue,
)  # fmt: skip

PRESETS = presets.PRESETS
# Python-side trace counter of the search kernel, per bucket name: a test checks that one
# compilation serves every chunk of a bucket.
TRACE_COUNTS: collections.Counter = collections.Counter()
_CACHE_READY: list[str] = []


@dataclasses.dataclass(frozen=True)
class SearchOptions:
    """Docking options. ``None`` = take the preset's value.

    batch_size: ligands per kernel call (None: 1 on CPU; on an accelerator 64, fewer for the
    large-ligand buckets, see ``kernel_batch``); compile_cache:
    persistent JAX compilation cache directory (None: ``<cache_dir>/jax``; '' disables it).
    """

    preset: str = presets.DEFAULT_PRESET
    exhaustiveness: int | None = None
    n_steps: int | None = None
    seed: int = 0
    num_modes: int = 9
    energy_range: float = 3.0
    min_rmsd: float = 1.0
    scoring: str = "vina"
    weights: dict | None = None
    batch_size: int | None = None
    compile_cache: str | None = None


def default_cache_dir() -> str:
    """$HPCFOLD_CACHE, else ~/.cache/hpcfold."""
    return os.environ.get("HPCFOLD_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "hpcfold"
    )


def enable_compilation_cache(path: str) -> None:
    """Turn on JAX's persistent compilation cache in ``path`` (process-wide, first call wins)."""
    if not path or _CACHE_READY:
        return
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _CACHE_READY.append(path)


def ligand_key(seed: int, lig_id: str) -> np.ndarray:
    """(2,) uint32 legacy PRNG key from (global seed, sha256 of the ligand id)."""
    h = int.from_bytes(hashlib.sha256(lig_id.encode("utf-8")).digest()[:4], "little")
    return np.array([int(seed) & 0xFFFFFFFF, h], dtype=np.uint32)


@dataclasses.dataclass(eq=False)
class DockContext:
    """Everything docking into one receptor box needs; built by ``make_context``."""

    receptor: ReceptorRecord
    box: Box
    options: SearchOptions
    params: object  # hpcfold.dock.tables.ScoringParams
    tables: object  # Tables
    grid: object  # Grid
    rec_atoms: object  # ReceptorAtoms cropped to the box + 8 A
    search: search.SearchParams
    refine_iters: int
    batch_size: int
    lo: np.ndarray  # (3,) box corner, A
    hi: np.ndarray
    kernels: dict = dataclasses.field(default_factory=dict)
    ligand_lanes: int = 1  # ligands vmapped together inside a kernel call (``_kernel``)


def make_context(
    receptor: ReceptorRecord, box: Box, options: SearchOptions, cache_dir: str | None = None
) -> DockContext:
    """Build scoring tables, grid maps (cached on disk) and search settings for one receptor.

    Raises ValueError on an unknown preset or scoring function.
    """
    from hpcfold.dock import batch, grids, tables

    sp, refine_iters = presets.resolve(options.preset, options.exhaustiveness, options.n_steps)
    cache_dir = cache_dir or default_cache_dir()
    cc = options.compile_cache
    enable_compilation_cache(os.path.join(cache_dir, "jax") if cc is None else cc)
    params = tables.make_params(options.scoring, options.weights)
    tabs = tables.build_tables(params)
    grid = grids.pad_grid(
        grids.cached_grid(receptor, box, params, os.path.join(cache_dir, "grids"))
    )
    rec = batch.receptor_arrays(receptor, box, pad_multiple=64)
    lo, hi, _ = box_bounds(box)
    lo, hi = lo.astype(np.float32), hi.astype(np.float32)
    cpu = jax.default_backend() == "cpu"
    bs = options.batch_size or (1 if cpu else 64)
    return DockContext(
        receptor, box, options, params, tabs, grid, rec, sp, refine_iters, bs, lo, hi,
        ligand_lanes=1 if cpu else bs,
    )  # fmt: skip


def search_energy(pose, data, caps, *, name: str, weights: tuple):
    """Monte-Carlo energy (kcal/mol, not divided by 1 + w N_rot): grid inter + analytic intra
    (``energy.intra_analytic``: no table gathers) + flexible-macrocycle glue
    (``energy.glue_energy``, capped like intra), caps = (intra v, inter v). pose (7+T,);
    data = (LigandArrays, Grid, IntraPairs of the ligand); name, weights: the scoring function
    and its weights (static Python values, bound with ``functools.partial`` by ``_kernel``)."""
    from hpcfold.dock import energy, kinematics

    lig, grid, pairs = data
    xyz = kinematics.pose_to_coords(pose, lig)
    e_intra = energy.intra_analytic(xyz, lig, name, weights, caps[0], pairs)
    e_intra = e_intra + energy.glue_energy(xyz, lig, caps[0])
    return energy.inter_grid(xyz, lig, grid, caps[1]) + e_intra


def kernel_batch(ctx: DockContext, bucket) -> int:
    """Ligands per kernel call for ``bucket``: ``ctx.batch_size`` (explicit, or 1 on CPU), and on
    an accelerator at most 64 x (96 / atoms)^2: the search's dense N x N intra term holds
    batch x chains x N^2 values per intermediate (64 x 128 x 400^2 floats = 5 GB for the
    largest bucket, all ligands of a call vmapped). A ligand's result does not depend on its
    batch."""
    if ctx.options.batch_size or ctx.batch_size == 1:
        return ctx.batch_size
    return max(1, min(ctx.batch_size, (ctx.batch_size * 96 * 96) // (bucket.n_atoms**2)))


def _kernel(ctx: DockContext, bucket):
    """The jitted search for one bucket: (keys (B,2), ligs (B,...), grid, tables, lo, hi) ->
    (poses (B, C, 7+T), energies (B, C)). The search's intra term is analytic (``tables`` is
    not used by the search; the merge step's refinement and scores use them).

    Ligands run ``ctx.ligand_lanes`` at a time in lockstep (``lax.map`` with ``batch_size``,
    i.e. ``vmap``): on an accelerator the whole call (ligands x chains), which is where its
    parallelism comes from; on CPU one at a time, since a vmapped batch axis made XLA's CPU
    program ~1.3x slower per ligand (docs/benchmarks.md) and the chains already vectorise.
    Cached per (bucket, lanes)."""
    lanes = min(ctx.ligand_lanes, kernel_batch(ctx, bucket))
    cache_key = f"search:{bucket.name}:{lanes}"
    if cache_key in ctx.kernels:
        return ctx.kernels[cache_key]
    from hpcfold.dock import kernel, optimize

    name, weights = ctx.params.name, ctx.params.resolved_weights
    energy_fn = functools.partial(kernel.energy_batch, name=name, weights=weights)
    energy_grad_fn = functools.partial(kernel.energy_and_grad_batch, name=name, weights=weights)
    sp = ctx.search

    def run(keys, ligs, grid, tabs, lo, hi):
        TRACE_COUNTS[bucket.name] += 1  # runs at trace time only

        def one(args):
            key, lig = args
            heavy = lig.xs >= 0
            n_tors = jnp.sum(lig.tors_mask.astype(jnp.int32))
            rg = search.gyration_radius(lig.coords, heavy & (lig.atom_mask > 0))
            data = kernel.kernel_data(lig, grid, name, weights)  # once per ligand
            return search.search_ligand(
                key, data, n_tors, rg, lo, hi, bucket.n_torsions,
                energy_fn, optimize.bfgs, sp, energy_grad_fn, batched=True,
            )  # fmt: skip

        if lanes <= 1:  # batch_size=1 would still vmap, over an axis of one
            return jax.lax.map(one, (keys, ligs))
        return jax.lax.map(one, (keys, ligs), batch_size=lanes)

    fn = jax.jit(run)
    ctx.kernels[cache_key] = fn
    return fn


def dock_ligands(ctx: DockContext, records: list[LigandRecord]) -> list[DockResult | Failure]:
    """Dock records into ctx's receptor; results (or Failures) in the same order."""
    from hpcfold.dock import batch

    out: list[DockResult | Failure | None] = [None] * len(records)
    groups: dict = {}
    for i, rec in enumerate(records):
        b = bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs))
        if b is None:
            msg = f"{rec.n_atoms} atoms / {rec.n_torsions} torsions exceed the largest bucket"
            out[i] = Failure(rec.lig_id, rec.source, rec.smiles, Reason.TOO_LARGE, msg)
        else:  # flexible macrocycles batch apart: their program has the glue term
            groups.setdefault((b.index, has_glue(rec.ad_types)), (b, []))[1].append(i)
    for _, (bucket, idx) in sorted(groups.items()):
        kern = _kernel(ctx, bucket)
        bs = kernel_batch(ctx, bucket)
        for start in range(0, len(idx), bs):
            chunk = idx[start : start + bs]
            t0 = time.perf_counter()
            recs = [records[i] for i in chunk]
            pad = [recs[0]] * (bs - len(recs))  # dummies, results dropped
            try:
                arrays = batch.pad_ligands(recs + pad, bucket)
                keys = np.stack([ligand_key(ctx.options.seed, r.lig_id) for r in recs + pad])
                poses, energies = kern(keys, arrays, ctx.grid, ctx.tables, ctx.lo, ctx.hi)
                poses, energies = np.asarray(poses), np.asarray(energies)
            except Exception as exc:  # noqa: BLE001 - every ligand comes out
                msg = f"docking kernel failed: {type(exc).__name__}: {exc}"
                for i in chunk:
                    r = records[i]
                    out[i] = Failure(r.lig_id, r.source, r.smiles, Reason.DOCK_ERROR, msg)
                continue
            share = (time.perf_counter() - t0) / len(chunk)
            for j, i in enumerate(chunk):
                t1 = time.perf_counter()
                lig = type(arrays)(*(None if a is None else np.asarray(a)[j] for a in arrays))
                try:
                    res = cluster.merge_poses(
                        records[i], poses[j], energies[j], _merge_ops(ctx, bucket, lig),
                        ctx.options.num_modes, ctx.options.energy_range, ctx.options.min_rmsd,
                    )  # fmt: skip
                except Exception as exc:  # noqa: BLE001
                    r = records[i]
                    msg = f"pose refinement failed: {type(exc).__name__}: {exc}"
                    res = Failure(r.lig_id, r.source, r.smiles, Reason.DOCK_ERROR, msg)
                if isinstance(res, DockResult):
                    res = dataclasses.replace(res, seconds=share + time.perf_counter() - t1)
                out[i] = res
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# per-ligand kernels of the merge step (coordinates, refinement on explicit atoms, affinity)

REFINE_REACH = 9.5  # A: receptor atoms within the 8 A cutoff + 1.5 A of a pose join its refinement


def _cached(ctx: DockContext, name: str, build):
    if name not in ctx.kernels:
        ctx.kernels[name] = build()
    return ctx.kernels[name]


def _merge_ops(ctx: DockContext, bucket, lig) -> cluster.MergeOps:
    """Bind one ligand's arrays to the engine's jitted merge kernels."""
    from hpcfold.dock import energy, kinematics, optimize

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
                ctx.refine_iters,
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
        rec = _neighbours(ctx.rec_atoms, xyz, lig.atom_mask)
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


def _neighbours(rec, xyz: np.ndarray, atom_mask: np.ndarray):
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
    coords = np.full((len(keeps), k, 3), batch_far(), np.float32)
    xs = np.full((len(keeps), k), -1, np.int32)
    for r, keep in enumerate(keeps):
        coords[r, : len(keep)] = rc[keep]
        xs[r, : len(keep)] = np.asarray(rec.xs)[keep]
    return type(rec)(coords, xs)


def batch_far() -> float:
    from hpcfold.dock.batch import FAR

    return FAR
