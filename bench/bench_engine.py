"""Steady-state docking cost per ligand of the engine on the bundled FABP4 example.

    python bench/bench_engine.py --preset fast --n 12 --repeats 3 [--batch 4 --lanes 4]

Prepares the first N actives of examples/fabp4 with hpcfold's prep, builds one docking context,
docks one ligand to compile (reported as cold start), then docks all N ligands ``repeats`` times
and prints the median seconds per ligand (wall and process CPU) and the best affinities.
``--batch`` sets ligands per kernel call; ``--lanes`` how many of them run vmapped in lockstep
(an accelerator's default is the whole call; CPU's is 1), to measure that program on CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's hpcfold, also in a worktree beside an install


def fabp4_context(n: int, preset: str, cache: str, batch: int | None = None):
    """(DockContext for examples/fabp4, the first n actives prepared by hpcfold's prep)."""
    from hpcfold.boxes import read_vina_config
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock import context, presets

    ex = ROOT / "examples" / "fabp4"
    recs = []
    for raw in iter_records(str(ex / "actives.smi")):
        recs.append(prepare_record(raw, PrepOptions()))
        if len(recs) == n:
            break
    ctx = context.make_context(
        read_receptor(str(ex / "receptor.pdbqt")),
        read_vina_config(ex / "box.txt"),
        presets.SearchOptions(preset=preset, batch_size=batch),
        cache_dir=cache,
    )
    return ctx, recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/hpcfold-bench-cache")
    ap.add_argument("--batch", type=int, default=None, help="ligands per kernel call")
    ap.add_argument("--lanes", type=int, default=None, help="of them vmapped together")
    args = ap.parse_args()

    from hpcfold.dock import engine

    ctx, recs = fabp4_context(args.n, args.preset, args.cache, args.batch)
    if args.lanes:
        ctx = dataclasses.replace(ctx, ligand_lanes=args.lanes)
    t0 = time.perf_counter()
    engine.dock_ligands(ctx, recs[:1])
    cold = time.perf_counter() - t0
    walls, cpus = [], []
    for _ in range(args.repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = engine.dock_ligands(ctx, recs)
        walls.append((time.perf_counter() - w0) / len(recs))
        cpus.append((time.process_time() - c0) / len(recs))
    best = [round(float(r.affinity[0]), 2) for r in out]
    print(
        f"preset {args.preset}: {len(recs)} ligands, batch {ctx.batch_size}, "
        f"lanes {ctx.ligand_lanes}, cold start {cold:.1f} s"
    )
    print(
        f"median s/ligand: wall {statistics.median(walls):.3f}  cpu {statistics.median(cpus):.3f}"
    )
    print(f"best affinities: {best}")


if __name__ == "__main__":
    main()
