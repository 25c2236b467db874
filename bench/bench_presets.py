"""Compare search settings on a few ligands: best scores and CPU seconds per ligand.

    python bench/bench_presets.py --set n_chains=128 --set n_steps=20 --set opt_iters=24 \\
        --set final_iters=100 [--seed 1] [--ids 016_412726,088_C36598581,...]

Docks ligands of the fabp4 set written by ``bench_dock.py prep-dude`` (RDKit + meeko PDBQT under
``--work``/fabp4) into the DUD-E FABP4 receptor with the ``balanced`` preset patched by the
``--set`` values (keys of ``hpcfold.dock.presets.PRESETS``), in one process, in steady state
(a first pass compiles every kernel shape); prints CPU seconds per ligand (``getrusage``;
XLA's runtime adds a helper thread when a core is free), wall seconds and the best affinities,
to put beside Vina's (``bench_dock.py vina --set fabp4``). docs/benchmarks.md, Docking.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import resource
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLEXIBLE = "016_412726,088_C36598581,084_C36559818,000_412723,080_C36556878,060_C22366986"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/hpcfold_bench"))
    ap.add_argument("--ids", default=FLEXIBLE)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    from hpcfold.boxes import read_vina_config
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock import context, engine, presets

    patch = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.set)}  # ls_shrink=0|1
    presets.PRESETS["balanced"] = dataclasses.replace(presets.PRESETS["balanced"], **patch)
    target = ROOT.parent / "shared" / "data" / "dude" / "fabp4"
    ids = args.ids.split(",")
    recs = [
        prepare_record(next(iter_records(str(args.work / "fabp4" / f"{i}.pdbqt"))), PrepOptions())
        for i in ids
    ]
    ctx = context.make_context(
        read_receptor(str(target / "receptor.pdbqt")),
        read_vina_config(target / "box.txt"),
        presets.SearchOptions(preset="balanced", seed=args.seed),
        cache_dir=str(args.work / "cache"),
    )
    engine.dock_ligands(ctx, recs)  # compile every kernel shape the timed call will use

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    out = engine.dock_ligands(ctx, recs)
    per, wall = (cpu() - c0) / len(recs), (time.perf_counter() - t0) / len(recs)
    best = [round(float(o.affinity[0]), 2) if hasattr(o, "affinity") else None for o in out]
    print(f"{presets.PRESETS['balanced']} seed {args.seed}: {per:.2f} CPU s/ligand "
          f"({wall:.2f} s wall), best {best}")  # fmt: skip


if __name__ == "__main__":
    main()
