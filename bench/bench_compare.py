"""hpcfold beside AutoDock Vina and QuickVina 2 in one run, on the same ligands, one core each.

    python bench/bench_compare.py [--limit 30] [--presets fast,balanced,thorough]
        [--engines vina,qvina2,hpcfold] [--redock 0] [--seeds 1] [--work /tmp/hpcfold_bench]
        [--json OUT]

Every engine docks the same ligands pinned to one core (``sched_setaffinity``; QuickVina 2 runs
as a child process pinned the same way): Vina 1.2.7 (the ``vina`` package, ``cpu=1``,
exhaustiveness 8), QuickVina 2.1 (``../shared/tools/qvina2``, ``--cpu 1``, exhaustiveness 8) and
each hpcfold preset (compiled kernels loaded from the persistent cache before timing, so the
figure is the steady cost of a screen). CPU seconds per ligand are the per-core figure (user +
system time of the docking alone; Vina's and QuickVina's include their grid maps, as a screen
pays them per ligand; hpcfold's grid is built once per receptor).

Columns: fabp4 (``--limit`` meeko-prepared DUD-E ligands, ``bench_dock.py prep-dude``): best
score within 0.3 kcal/mol of Vina's, or better; redock42 (``--redock`` smallest complexes, from
``bench_dock.py prepare``'s randomised starts): top-1 symmetry-corrected RMSD <= 2 A, for hpcfold
the mean over ``--seeds``; median CPU s per ligand; Vina's median over the engine's (x Vina per
core). Results are JSON lines under ``--work`` (a rerun continues), the table is printed as
markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
QVINA = ROOT.parent / "shared" / "tools" / "qvina2"
SEED = 1


def _cpu(who=resource.RUSAGE_SELF) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def _pin(core: int) -> None:
    os.sched_setaffinity(0, {core})


def _targets(args, which: str):
    import bench_dock

    ns = argparse.Namespace(set=which, limit=args.limit if which == "fabp4" else args.redock,
                            every=1, work=args.work)  # fmt: skip
    return list(bench_dock._targets(ns))


def _done(log: pathlib.Path) -> dict:
    if not log.exists():
        return {}
    rows = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    return {r["id"]: r for r in rows}


def _append(log: pathlib.Path, row: dict) -> None:
    with log.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def run_vina(args, which: str, log: pathlib.Path) -> None:
    import bench_dock
    import vina

    done = _done(log)
    out = args.work / log.stem
    out.mkdir(parents=True, exist_ok=True)
    for cid, rec, lig, box in _targets(args, which):
        if cid in done:
            continue
        center, size = bench_dock.read_box(box)
        c0 = _cpu()
        v = vina.Vina(sf_name="vina", cpu=1, seed=SEED, verbosity=0)
        v.set_receptor(str(rec))
        v.set_ligand_from_file(str(lig))
        v.compute_vina_maps(center=center, box_size=size)
        v.dock(exhaustiveness=8)
        cpu = _cpu() - c0
        path = out / f"{cid}.pdbqt"
        v.write_poses(str(path), n_poses=9, energy_range=3.0, overwrite=True)
        _append(log, {"id": cid, "cpu_s": cpu, "best": float(v.energies(n_poses=1)[0][0]),
                      "poses": str(path)})  # fmt: skip


def run_qvina(args, which: str, log: pathlib.Path, core: int) -> None:
    done = _done(log)
    out = args.work / log.stem
    out.mkdir(parents=True, exist_ok=True)
    for cid, rec, lig, box in _targets(args, which):
        if cid in done:
            continue
        path = out / f"{cid}.pdbqt"
        cmd = [str(QVINA), "--receptor", str(rec), "--ligand", str(lig), "--config", str(box),
               "--cpu", "1", "--exhaustiveness", "8", "--seed", str(SEED), "--out", str(path)]  # fmt: skip
        c0 = _cpu(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=lambda: _pin(core))
        cpu = _cpu(resource.RUSAGE_CHILDREN) - c0
        m = re.search(r"REMARK VINA RESULT:\s+(\S+)", path.read_text()) if path.exists() else None
        row = {"id": cid, "cpu_s": cpu}
        if proc.returncode or not m:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            row["failure"] = tail[0][:200]
        else:
            row.update(best=float(m.group(1)), poses=str(path))
        _append(log, row)


def run_hpcfold(args, which: str, log: pathlib.Path, preset: str, seed: int = SEED) -> None:
    from hpcfold.boxes import read_vina_config
    from hpcfold.chem.pdbqt import write_pose_pdbqt
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock import context, engine, presets
    from hpcfold.types import bucket_for, has_glue

    done = _done(log)
    out = args.work / log.stem
    out.mkdir(parents=True, exist_ok=True)
    opts = presets.SearchOptions(preset=preset, seed=seed)
    ctx, key, warm = None, None, set()
    for cid, rec, lig, box in _targets(args, which):
        if cid in done:
            continue
        if key != (rec, box):
            ctx = context.make_context(read_receptor(str(rec)), read_vina_config(box), opts,
                                      cache_dir=str(args.work / "cache"))  # fmt: skip
            key, warm = (rec, box), set()
        record = prepare_record(next(iter_records(str(lig))), PrepOptions())
        b = bucket_for(record.n_atoms, record.n_torsions, len(record.intra_pairs))
        kind = (b.name if b else None, has_glue(record.ad_types))
        if kind not in warm:  # load (or compile) this bucket's kernels untimed
            engine.dock_ligands(ctx, [record])
            warm.add(kind)
        c0 = _cpu()
        res = engine.dock_ligands(ctx, [record])[0]
        row = {"id": cid, "cpu_s": _cpu() - c0}
        if hasattr(res, "reason"):
            row["failure"] = f"{res.reason.name}: {res.message}"
        else:
            path = out / f"{cid}.pdbqt"
            path.write_text("".join(
                f"MODEL {m + 1}\n"
                + write_pose_pdbqt(record, res.coords[m], [f"VINA RESULT: {res.affinity[m]:9.3f}"])
                + "ENDMDL\n" for m in range(len(res.affinity))
            ))  # fmt: skip
            row.update(best=float(res.affinity[0]), poses=str(path))
        _append(log, row)


def _seeds(args, name: str) -> list[int]:
    """redock42 seeds: hpcfold presets run every ``--seeds`` seed, Vina and QuickVina 2 one."""
    return [int(x) for x in args.seeds.split(",")] if name.startswith("hpcfold_") else [SEED]


def _redock_log(args, name: str, seed: int) -> pathlib.Path:
    tail = "" if seed == SEED else f"_s{seed}"
    return args.work / f"cmp_{name}_redock42{tail}.jsonl"


def table(args, engines: list[str]) -> list[dict]:
    import bench_dock
    import numpy as np

    rows = []
    ref = _done(args.work / "cmp_vina_fabp4.jsonl")
    ref_cpu = [r["cpu_s"] for r in ref.values() if "best" in r]
    for name in engines:
        fab = _done(args.work / f"cmp_{name}_fabp4.jsonl")
        ok = [r for r in fab.values() if "best" in r]
        both = [r for r in ok if r["id"] in ref and "best" in ref[r["id"]]]
        close = sum(r["best"] - ref[r["id"]]["best"] <= 0.3 for r in both)
        cpu = float(np.median([r["cpu_s"] for r in ok])) if ok else float("nan")
        # the quality count is over the ligands both engines docked (a partial Vina run counts)
        row = {"engine": name, "fabp4_close": close, "fabp4_n": len(both),
               "fabp4_failed": len(fab) - len(ok), "cpu_s": cpu,
               "x_vina": float(np.median(ref_cpu)) / cpu if ref_cpu and ok else float("nan")}  # fmt: skip
        if args.redock:
            per_seed = []
            for seed in _seeds(args, name):
                red = _done(_redock_log(args, name, seed))
                hits = [bench_dock._top1_rmsd(cid, r["poses"]) <= 2.0
                        for cid, r in red.items() if "poses" in r]  # fmt: skip
                per_seed.append((int(sum(hits)), len(red)))
            row.update(redock_ok=float(np.mean([h for h, _ in per_seed])),
                       redock_n=max(n for _, n in per_seed),
                       redock_seeds=[h for h, _ in per_seed])  # fmt: skip
        rows.append(row)
    print("| engine | fabp4: best within 0.3 kcal/mol of Vina ex 8, or better | redock42 top-1 "
          "<= 2 A | CPU s per ligand (fabp4, median, one core) | x Vina per core |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows:
        fails = f" ({r['fabp4_failed']} refused)" if r["fabp4_failed"] else ""
        red = "-"
        if args.redock:
            seeds = r["redock_seeds"]
            red = f"{r['redock_ok']:g}/{r['redock_n']}" + (
                f" (mean of seeds {', '.join(map(str, seeds))})" if len(seeds) > 1 else ""
            )
        print(f"| {r['engine']} | {r['fabp4_close']}/{r['fabp4_n']}{fails} | {red} | "
              f"{r['cpu_s']:.2f} | {r['x_vina']:.1f} |")  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path(tempfile.gettempdir())
                    / "hpcfold_bench")  # fmt: skip
    ap.add_argument("--limit", type=int, default=30, help="fabp4 ligands (prep-dude order)")
    ap.add_argument("--redock", type=int, default=0, help="smallest redock42 complexes (0: none)")
    ap.add_argument("--seeds", default="1", help="redock42 seeds of each hpcfold preset")
    ap.add_argument("--presets", default="fast,balanced,thorough")
    ap.add_argument("--engines", default="vina,qvina2,hpcfold")
    ap.add_argument("--core", type=int, default=0, help="the core every engine is pinned to")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--json", type=pathlib.Path, default=None)
    args = ap.parse_args()
    import bench_dock

    if not (args.work / "fabp4").is_dir():
        bench_dock.cmd_prep_dude(argparse.Namespace(work=args.work, n=args.limit))
    if args.redock and not (args.work / "redock42").is_dir():
        bench_dock.cmd_prepare(argparse.Namespace(work=args.work))
    kinds = args.engines.split(",")
    names = [k for k in kinds if k != "hpcfold"]
    names += [f"hpcfold_{p}" for p in args.presets.split(",")] if "hpcfold" in kinds else []
    if not args.table_only:
        _pin(args.core)
        sets = ["fabp4"] + (["redock42"] if args.redock else [])
        for which in sets:
            for name in names:
                log = args.work / f"cmp_{name}_{which}.jsonl"
                if name.startswith("hpcfold_") and which == "redock42":
                    for seed in _seeds(args, name):
                        run_hpcfold(args, which, _redock_log(args, name, seed),
                                    name.removeprefix("hpcfold_"), seed)  # fmt: skip
                elif name == "vina":
                    run_vina(args, which, log)
                elif name == "qvina2":
                    run_qvina(args, which, log, args.core)
                else:
                    run_hpcfold(args, which, log, name.removeprefix("hpcfold_"))
    rows = table(args, names)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
