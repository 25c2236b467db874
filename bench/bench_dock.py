"""Docking benchmark: hpcfold presets beside AutoDock Vina on the same inputs.

Steps (each writes under --work, default /tmp/hpcfold_bench):

  python bench/bench_dock.py prepare                 # torsion-randomised redock42 inputs
  python bench/bench_dock.py prep-dude --n 100       # fabp4 actives+decoys -> PDBQT (meeko)
  python bench/bench_dock.py vina --set redock42 --mode default    # exhaustiveness 8, cpu=2
  python bench/bench_dock.py vina --set redock42 --mode tuned      # exh 64, max_evals 2000
  python bench/bench_dock.py hpcfold --set redock42 --preset balanced
  python bench/bench_dock.py screen --preset balanced  # fabp4 set via hpcfold screen, 2 workers
  python bench/bench_dock.py table                   # markdown table of everything measured
  python bench/bench_dock.py fabp4-table             # throughput + best scores on fabp4

Redocking success = top-1 symmetry-corrected heavy-atom RMSD <= 2 A against the crystal ligand
(automorphisms from hpcfold's PDBQT parser, the same RMSD code for every engine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import shutil
import sys
import time
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
REDOCK = DATA / "redock42"


def read_box(path: pathlib.Path) -> tuple[list[float], list[float]]:
    vals = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            vals[k.strip()] = float(v.split()[0])
    return [vals[f"center_{a}"] for a in "xyz"], [vals[f"size_{a}"] for a in "xyz"]


def redock_ids() -> list[str]:
    """redock42 complex ids, smallest ligand first (so a partial run covers the small ones)."""
    rows = [ln.split(",") for ln in (REDOCK / "ligand_properties.csv").read_text().splitlines()[1:]]
    rows = [r for r in rows if len(r) > 3]
    rows.sort(key=lambda r: (int(r[2]), int(r[3]), r[1]))
    return [r[1] for r in rows]


def _cpu() -> float:
    """CPU seconds of this process, all threads (robust to other jobs sharing the cores)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cmd_prepare(args) -> None:
    """Randomise position, orientation and torsions of each crystal ligand inside its box."""
    import vina

    for cid in redock_ids():
        d = REDOCK / cid
        out = args.work / "redock42" / cid / "ligand_rand.pdbqt"
        out.parent.mkdir(parents=True, exist_ok=True)
        center, size = read_box(d / "box.txt")
        v = vina.Vina(sf_name="vina", cpu=1, seed=zlib.crc32(cid.encode()) % 2**31, verbosity=0)
        v.set_receptor(str(d / "receptor.pdbqt"))
        v.set_ligand_from_file(str(d / "ligand_xray.pdbqt"))
        v.compute_vina_maps(center=center, box_size=size)
        v.randomize()
        v.write_pose(str(out), overwrite=True)
        print(cid, out)


def cmd_prep_dude(args) -> None:
    """First n/2 actives and n/2 decoys of DUD-E fabp4 -> PDBQT with RDKit + meeko."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy
    from rdkit import Chem
    from rdkit.Chem import AllChem

    out = args.work / "fabp4"
    out.mkdir(parents=True, exist_ok=True)
    src = DATA / "dude" / "fabp4"
    lines = []
    for name in ("actives.smi", "decoys.smi"):
        rows = [ln.split() for ln in (src / name).read_text().splitlines() if ln.strip()]
        lines += rows[: args.n // 2]
    prep = MoleculePreparation()
    n = 0
    for i, row in enumerate(lines):
        mol = Chem.AddHs(Chem.MolFromSmiles(row[0]))
        if AllChem.EmbedMolecule(mol, randomSeed=i) != 0:
            continue
        AllChem.MMFFOptimizeMolecule(mol)
        setups = prep.prepare(mol)
        text, ok, err = PDBQTWriterLegacy.write_string(setups[0])
        if ok:
            (out / f"{i:03d}_{row[1]}.pdbqt").write_text(text)
            n += 1
    print(f"wrote {n} ligands to {out}")


def _fabp4_ligands(args) -> list[pathlib.Path]:
    """The fabp4 set's PDBQT files: every ``--every``-th, at most ``--limit``."""
    return sorted((args.work / "fabp4").glob("*.pdbqt"))[:: args.every][: args.limit or None]


def _targets(args):
    """(id, receptor, ligand, box) for the chosen set."""
    if args.set == "redock42":
        ids = redock_ids()[: args.limit or None]
        for cid in ids:
            lig = args.work / "redock42" / cid / "ligand_rand.pdbqt"
            yield cid, REDOCK / cid / "receptor.pdbqt", lig, REDOCK / cid / "box.txt"
    else:
        for lig in _fabp4_ligands(args):
            tgt = DATA / "dude" / "fabp4"
            yield lig.stem, tgt / "receptor.pdbqt", lig, tgt / "box.txt"


def cmd_vina(args) -> None:
    """Dock with the vina package, cpu=2; one JSON line per ligand, poses as PDBQT."""
    import vina

    exh, evals = (8, 0) if args.mode == "default" else (64, 2000)
    tag = f"vina_{args.mode}_{args.set}"
    outdir = args.work / tag
    outdir.mkdir(parents=True, exist_ok=True)
    log = args.work / f"{tag}.jsonl"
    done = set()
    if log.exists():
        done = {json.loads(ln)["id"] for ln in log.read_text().splitlines() if ln.strip()}
    for cid, rec, lig, box in _targets(args):
        if cid in done:
            continue
        center, size = read_box(box)
        t0, c0 = time.perf_counter(), _cpu()
        v = vina.Vina(sf_name="vina", cpu=2, seed=args.seed, verbosity=0)
        v.set_receptor(str(rec))
        v.set_ligand_from_file(str(lig))
        v.compute_vina_maps(center=center, box_size=size)
        t1, c1 = time.perf_counter(), _cpu()
        v.dock(exhaustiveness=exh, max_evals=evals)
        t2, c2 = time.perf_counter(), _cpu()
        v.write_poses(str(outdir / f"{cid}.pdbqt"), n_poses=9, energy_range=3.0, overwrite=True)
        energies = v.energies(n_poses=9, energy_range=3.0)
        row = {
            "id": cid, "maps_s": t1 - t0, "dock_s": t2 - t1, "maps_cpu_s": c1 - c0,
            "dock_cpu_s": c2 - c1,
            "best": float(energies[0][0]), "poses": str(outdir / f"{cid}.pdbqt"),
        }  # fmt: skip
        with log.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def patch_value(text: str) -> int | float:
    """A preset value given on the command line: float when it has a '.', else int."""
    return float(text) if "." in text else int(text)


def cmd_hpcfold(args) -> None:
    """Dock with hpcfold (this process, one context per receptor); JSON lines + PDBQT poses."""
    from hpcfold.chem.pdbqt import write_pose_pdbqt
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock import context, engine, presets

    if args.patch:  # e.g. --patch ls_trials=3 --patch ls_shrink=1: the preset, modified
        patch = {k: patch_value(v) for k, v in (kv.split("=", 1) for kv in args.patch)}
        presets.PRESETS[args.preset] = dataclasses.replace(presets.PRESETS[args.preset], **patch)
    tag = f"hpcfold_{args.preset}{args.tag}_{args.set}"
    outdir = args.work / tag
    outdir.mkdir(parents=True, exist_ok=True)
    log = args.work / f"{tag}.jsonl"
    opts = presets.SearchOptions(preset=args.preset, seed=args.seed,
                                exhaustiveness=args.exhaustiveness or None,
                                n_steps=args.n_steps or None)  # fmt: skip
    cache = str(args.work / "cache")
    ctx, ctx_key = None, None
    for cid, rec_path, lig, box_path in _targets(args):
        from hpcfold.boxes import read_vina_config

        t0 = time.perf_counter()
        if ctx_key != (rec_path, box_path):
            ctx = context.make_context(read_receptor(str(rec_path)), read_vina_config(box_path),
                                      opts, cache_dir=cache)  # fmt: skip
            ctx_key = (rec_path, box_path)
        record = prepare_record(next(iter_records(str(lig))), PrepOptions())
        t1, c1 = time.perf_counter(), _cpu()
        res = engine.dock_ligands(ctx, [record])[0]
        t2, c2 = time.perf_counter(), _cpu()
        row = {"id": cid, "ctx_s": t1 - t0, "dock_s": t2 - t1, "dock_cpu_s": c2 - c1}
        if hasattr(res, "reason"):
            row["failure"] = f"{res.reason.name}: {res.message}"
        else:
            path = outdir / f"{cid}.pdbqt"
            models = [
                f"MODEL {m + 1}\n"
                + write_pose_pdbqt(record, res.coords[m], [f"VINA RESULT: {res.affinity[m]:9.3f}"])
                + "ENDMDL\n"
                for m in range(len(res.affinity))
            ]
            path.write_text("".join(models))
            row.update(best=float(res.affinity[0]), poses=str(path))
        with log.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def cmd_screen(args) -> None:
    """The fabp4 set through ``hpcfold screen`` under ``mpiexec -n workers+1`` (both cores busy,
    the product's parallel path): per-ligand best scores as JSON lines plus a summary line with
    ligands/s over the docking span (compilation cache warmed by a first run)."""
    import subprocess

    import numpy as np

    from hpcfold.store.results import open_results

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_scaling import rates

    ligs = _fabp4_ligands(args)
    tag = f"hpcfold_{args.preset}{args.tag}_screen{args.workers}_fabp4"
    d = args.work / tag
    d.mkdir(parents=True, exist_ok=True)
    tgt = DATA / "dude" / "fabp4"
    listing = ", ".join(str(p) for p in ligs)
    search = f"preset: {args.preset}, seed: {args.seed}"
    if args.exhaustiveness:
        search += f", exhaustiveness: {args.exhaustiveness}"
    if args.n_steps:
        search += f", n_steps: {args.n_steps}"
    mpiexec = pathlib.Path(sys.executable).with_name("mpiexec")
    walls = []
    for run in ("warm", "timed"):
        out = d / f"{run}.h5"
        for old in (out, d / f"{run}.features.h5"):
            pathlib.Path(old).unlink(missing_ok=True)  # a fresh store each run
            for folder in (f"{old}.parts", f"{old}.shards"):
                shutil.rmtree(folder, ignore_errors=True)
        cfg = d / f"{run}.yaml"
        cfg.write_text(
            f"receptor: {tgt / 'receptor.pdbqt'}\nbox: {{vina_config: {tgt / 'box.txt'}}}\n"
            f"ligands: [{listing}]\noutput: {out}\nchunk_size: {args.chunk}\n"
            f"search: {{{search}}}\n"
            f"device: {{mode: cpu, compile_cache: {args.work / 'cache'}}}\n"
        )
        cmd = [str(mpiexec), "-n", str(args.workers + 1), sys.executable, "-m", "hpcfold",
               "screen", str(cfg)]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        walls.append(time.perf_counter() - t0)
    with open_results(str(out)) as v:
        rate, steady, n = rates(v.chunks)
        t = v.table
        ids, status = list(t["lig_id"]), np.asarray(t["status_code"])
        best = np.asarray(t["affinity"])
    log = args.work / f"{tag}.jsonl"
    with log.open("w") as fh:
        for i, st, b in zip(ids, status, best):
            i = re.sub(r":\d+$", "", i)  # "<file stem>:<model>" -> the file stem, as Vina's rows
            row = {"id": i, "best": float(b)} if st == 0 else {"id": i, "failure": int(st)}
            fh.write(json.dumps(row) + "\n")
        summary = {"summary": True, "ligands": n, "workers": args.workers, "span_rate": rate,
                   "steady_rate": steady, "wall_s": walls[-1], "cold_wall_s": walls[0]}  # fmt: skip
        fh.write(json.dumps(summary) + "\n")
    print(json.dumps(summary))


def cmd_fabp4_table(args) -> None:
    """Throughput and best scores on the fabp4 set, every engine beside Vina default."""
    import numpy as np

    logs = {p.stem: [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
            for p in sorted(args.work.glob("*_fabp4.jsonl"))}  # fmt: skip
    ref = {r["id"]: r["best"] for r in logs.get("vina_default_fabp4", []) if "best" in r}
    print("| engine | ligands | ligands/s (2 cores) | best within 0.3 of Vina default (or better) "
          "| median difference |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, rows in logs.items():
        summ = next((r for r in rows if r.get("summary")), None)
        docked = [r for r in rows if "best" in r]
        if summ:
            rate = f"{summ['span_rate']:.3f} (steady {summ['steady_rate']:.3f})"
        else:
            rate = f"{1.0 / np.mean([r['dock_s'] for r in docked]):.4f}"
        common = [r for r in docked if r["id"] in ref]
        d = np.array([r["best"] - ref[r["id"]] for r in common])
        cmp = f"{int(np.sum(d <= 0.3))}/{len(d)}" if len(d) else "-"
        med = f"{np.median(d):+.2f}" if len(d) else "-"
        print(f"| {name} | {len(docked)} | {rate} | {cmp} | {med} |")


def _top1_rmsd(cid: str, poses_path: str) -> float:
    """Symmetry-corrected heavy-atom RMSD of the first MODEL of poses_path to the crystal."""
    import numpy as np

    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.dock.cluster import sym_rmsd

    xray = prepare_record(
        next(iter_records(str(REDOCK / cid / "ligand_xray.pdbqt"))), PrepOptions()
    )
    xyz = []
    for line in pathlib.Path(poses_path).read_text().splitlines():
        if line.startswith("ENDMDL"):
            break
        if line.startswith(("ATOM", "HETATM")):
            xyz.append([float(line[30:38]), float(line[38:46]), float(line[46:54])])
    xyz = np.array(xyz)
    h = xray.heavy_index
    return float(sym_rmsd(xyz[h], xray.coords[h], xray.automorphisms))


def cmd_table(args) -> None:
    """Markdown rows for every *_redock42.jsonl / *_fabp4.jsonl under --work."""
    import numpy as np

    logs = sorted(args.work.glob("*_redock42.jsonl"))
    if args.only:  # e.g. --only vina_default,hpcfold_balanced_redock42: compare just those
        logs = [p for p in logs if p.stem.removesuffix("_redock42") in args.only.split(",")
                or p.stem in args.only.split(",")]  # fmt: skip
    rows = {
        p.stem: [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()] for p in logs
    }
    common = set.intersection(*({r["id"] for r in v if "best" in r} for v in rows.values()))
    print(f"complexes docked by every engine: {len(common)}")
    print("| engine | complexes | top-1 RMSD <= 2 A | median dock wall s | total dock CPU s |")
    print("|---|---|---|---|---|")
    best = {}
    for name, rs in rows.items():
        rs = [r for r in rs if r["id"] in common]
        ok = sum(_top1_rmsd(r["id"], r["poses"]) <= 2.0 for r in rs)
        cpu = sum(r.get("dock_cpu_s", np.nan) for r in rs)
        wall = np.median([r["dock_s"] for r in rs])
        best[name] = {r["id"]: r["best"] for r in rs}
        print(f"| {name} | {len(rs)} | {ok}/{len(rs)} | {wall:.2f} | {cpu:.1f} |")
    if args.per_complex:
        names = list(rows)
        print(
            "| complex | " + " | ".join(f"{n} RMSD / best / wall s / CPU s" for n in names) + " |"
        )
        print("|---" * (len(names) + 1) + "|")
        for cid in sorted(common, key=redock_ids().index):
            cells = []
            for n in names:
                r = next(x for x in rows[n] if x["id"] == cid)
                cpu = r.get("dock_cpu_s", float("nan"))
                cells.append(f"{_top1_rmsd(cid, r['poses']):.2f} / {r['best']:.2f} / "
                             f"{r['dock_s']:.1f} / {cpu:.1f}")  # fmt: skip
            print(f"| {cid} | " + " | ".join(cells) + " |")
    ref = next((k for k in best if k.startswith("vina_default")), None)
    for name, b in best.items():
        if ref and name != ref:
            d = np.array([b[c] - best[ref][c] for c in sorted(common)])
            print(f"{name} vs {ref}: best score within 0.3 kcal/mol or better for "
                  f"{np.sum(d <= 0.3)}/{len(d)}; median difference {np.median(d):+.2f}")  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/hpcfold_bench"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    p = sub.add_parser("prep-dude")
    p.add_argument("--n", type=int, default=100)
    for name in ("vina", "hpcfold"):
        p = sub.add_parser(name)
        p.add_argument("--set", choices=["redock42", "fabp4"], default="redock42")
        p.add_argument("--limit", type=int, default=0)
        p.add_argument("--every", type=int, default=1, help="fabp4: every k-th ligand")
        p.add_argument("--seed", type=int, default=1)
        if name == "vina":
            p.add_argument("--mode", choices=["default", "tuned"], default="default")
        else:
            p.add_argument("--preset", default="balanced")
            p.add_argument("--tag", default="")
            p.add_argument("--exhaustiveness", type=int, default=0)
            p.add_argument("--n-steps", type=int, default=0)
            p.add_argument("--patch", action="append", default=[], metavar="KEY=VALUE",
                           help="override a preset key (hpcfold.dock.presets.PRESETS)")  # fmt: skip
    p = sub.add_parser("screen")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--preset", default="balanced")
    p.add_argument("--exhaustiveness", type=int, default=0)
    p.add_argument("--n-steps", type=int, default=0)
    p.add_argument("--tag", default="")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunk", type=int, default=4)
    p = sub.add_parser("table")
    p.add_argument("--per-complex", action="store_true")
    p.add_argument("--only", default="", help="comma-separated log names (without _redock42)")
    sub.add_parser("fabp4-table")
    args = ap.parse_args(argv)
    funcs = {
        "prepare": cmd_prepare, "prep-dude": cmd_prep_dude, "vina": cmd_vina,
        "hpcfold": cmd_hpcfold, "table": cmd_table, "screen": cmd_screen,
        "fabp4-table": cmd_fabp4_table,
    }  # fmt: skip
    funcs[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
