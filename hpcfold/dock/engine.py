"""Docking orchestration: ``dock_ligands`` docks a chunk of ligands into one receptor context.

Ligands are grouped by size bucket (``hpcfold.types.BUCKETS``); the search kernel compiles
lazily, once per bucket (``_kernel``), with a fixed kernel batch size (``kernel_batch``): a chunk
is padded with dummy ligands. Each ligand's random stream comes from ``context.ligand_key``. The
kernel runs ``ligand_lanes`` ligands in lockstep (``vmap``; on CPU one at a time, ``lax.map``),
and a lane never reads another lane, so a ligand's poses never depend on its neighbours, its
chunk or its rank. Post-processing (merge, refine, filter) is per ligand:
``hpcfold.dock.cluster.merge_poses`` with the kernels of ``refine.merge_ops``. The context
(tables, grids, caches) is ``hpcfold.dock.context``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold.dock import batch, cluster, kernel, optimize, refine, search
from hpcfold.dock.context import DockContext, ligand_key
from hpcfold.types import DockResult, Failure, LigandRecord, Reason, bucket_for, has_glue

# Python-side trace counter of the search kernel, per bucket name: a test checks that one
# compilation serves every chunk of a bucket.
TRACE_COUNTS: collections.Counter = collections.Counter()


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
                        records[i], poses[j], energies[j], refine.merge_ops(ctx, bucket, lig),
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
