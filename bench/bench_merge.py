"""Host-side cost of the per-ligand merge (de-duplication, refinement neighbours, filters).

    python bench/bench_merge.py --preset balanced --n 8 --repeats 3

Docks the first N actives of examples/fabp4 once to compile, then ``repeats`` times with each
merge kernel (coordinates, refinement, scores) timed to completion
(``jax.block_until_ready``) and ``cluster.merge_poses`` timed as a whole. Prints, per ligand
(median over the repeats): the whole dock, each kernel, the merge, and the merge's host side
(the merge minus its kernels). The host side does not shrink on an accelerator: at 100
ligands/s per process it must stay well below 10 ms. docs/benchmarks.md, Docking.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's hpcfold, also in a worktree beside an install


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/hpcfold-bench-cache")
    args = ap.parse_args()

    import jax
    from bench_engine import fabp4_context

    from hpcfold.dock import cluster, engine

    ctx, recs = fabp4_context(args.n, args.preset, args.cache)
    engine.dock_ligands(ctx, recs)  # compile every kernel
    spent: collections.Counter = collections.Counter()

    def timed(fn, name):
        def run(*a, **k):
            t0 = time.perf_counter()
            out = jax.block_until_ready(fn(*a, **k)) if name != "merge" else fn(*a, **k)
            spent[name] += time.perf_counter() - t0
            return out

        return run

    for key, fn in list(ctx.kernels.items()):
        if not key.startswith("search:"):
            ctx.kernels[key] = timed(fn, key.split(":")[0])
    cluster_merge = cluster.merge_poses
    engine.cluster.merge_poses = timed(cluster_merge, "merge")
    rows = collections.defaultdict(list)
    for _ in range(args.repeats):
        spent.clear()
        t0 = time.perf_counter()
        engine.dock_ligands(ctx, recs)
        rows["dock"].append(time.perf_counter() - t0)
        for key, val in spent.items():
            rows[key].append(val)
        kernels = sum(v for k, v in spent.items() if k != "merge")
        rows["merge host side"].append(spent["merge"] - kernels)
    engine.cluster.merge_poses = cluster_merge
    print(f"preset {args.preset}, {len(recs)} fabp4 actives, median of {args.repeats}:")
    for key, vals in rows.items():
        print(f"  {key}: {1e3 * statistics.median(vals) / len(recs):.1f} ms per ligand")


if __name__ == "__main__":
    main()
