"""Search variants side by side on chosen redock42 complexes, several seeds each.

    python bench/bench_search.py --ids 1opk,1t40,1yqy --seeds 1,2 \\
        --variant base: --variant r5:restart_every=5 --variant long:n_chains=64,n_steps=40

Each ``--variant NAME:KEY=VALUE,...`` patches the ``--preset`` (keys of
``hpcfold.dock.presets.PRESETS``). Every (complex, variant, seed) is docked with
``engine.dock_ligands`` on the torsion-randomised input of ``bench_dock.py prepare``; the first
call of each variant per complex compiles and is not timed (a warm-up on seed 0), so the CPU
seconds are steady state. Prints, per complex, the best affinity and top-1 symmetry-corrected RMSD
of each run, then per variant: runs with top-1 RMSD <= 2 A, runs within 0.3 kcal/mol of Vina
default's best (``bench_dock.py vina``'s log, when present), the mean of (best - Vina default's
best) in kcal/mol (a less noisy signal than the two counts) and the median CPU seconds per
ligand. docs/benchmarks.md, Docking.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import resource
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def parse_variant(text: str) -> tuple[str, dict]:
    from bench_dock import patch_value

    name, _, body = text.partition(":")
    patch = dict(kv.split("=", 1) for kv in body.split(",") if kv)
    return name, {k: patch_value(v) for k, v in patch.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/hpcfold_bench"))
    ap.add_argument("--ids", required=True)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:K=V,...")
    ap.add_argument("--log", type=pathlib.Path, default=None, help="append JSON lines here")
    args = ap.parse_args()

    import bench_dock

    from hpcfold.boxes import read_vina_config
    from hpcfold.chem.pdbqt import write_pose_pdbqt
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock import context, engine, presets

    variants = [parse_variant(v) for v in args.variant] or [("base", {})]
    seeds = [int(s) for s in args.seeds.split(",")]
    vina_log = args.work / "vina_default_redock42.jsonl"
    vina = {}
    if vina_log.exists():
        vina = {r["id"]: r["best"] for r in map(json.loads, vina_log.read_text().splitlines())}
    base = presets.PRESETS[args.preset]
    rows = []
    tmp = pathlib.Path(tempfile.mkdtemp())
    for cid in args.ids.split(","):
        d = bench_dock.REDOCK / cid
        receptor, box = read_receptor(str(d / "receptor.pdbqt")), read_vina_config(d / "box.txt")
        lig = args.work / "redock42" / cid / "ligand_rand.pdbqt"
        record = prepare_record(next(iter_records(str(lig))), PrepOptions())
        for name, patch in variants:
            presets.PRESETS[args.preset] = dataclasses.replace(base, **patch)
            opts = presets.SearchOptions(preset=args.preset, seed=0)
            ctx = context.make_context(receptor, box, opts, cache_dir=str(args.work / "cache"))
            engine.dock_ligands(ctx, [record])  # compile (seed 0, not reported)
            for seed in seeds:
                ctx = dataclasses.replace(ctx, options=dataclasses.replace(ctx.options, seed=seed))
                c0 = _cpu()
                res = engine.dock_ligands(ctx, [record])[0]
                cpu = _cpu() - c0
                path = tmp / f"{cid}.pdbqt"
                path.write_text(
                    "MODEL 1\n" + write_pose_pdbqt(record, res.coords[0], []) + "ENDMDL\n"
                )
                row = {"id": cid, "variant": name, "seed": seed, "cpu_s": round(cpu, 2),
                       "best": round(float(res.affinity[0]), 3),
                       "rmsd": round(bench_dock._top1_rmsd(cid, str(path)), 2)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.log:
                    with args.log.open("a") as fh:
                        fh.write(json.dumps({**row, "patch": patch}) + "\n")
    presets.PRESETS[args.preset] = base
    print("| variant | top-1 <= 2 A | within 0.3 of Vina default | mean gap to Vina default "
          "| median CPU s / ligand |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, _ in variants:
        rs = [r for r in rows if r["variant"] == name]
        ok = sum(r["rmsd"] <= 2.0 for r in rs)
        gap = np.array([r["best"] - vina[r["id"]] for r in rs if r["id"] in vina])
        mean_gap = f"{gap.mean():+.2f}" if gap.size else "-"
        cpu = np.median([r["cpu_s"] for r in rs])
        print(f"| {name} | {ok}/{len(rs)} | {np.sum(gap <= 0.3)}/{gap.size} | {mean_gap} "
              f"| {cpu:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
