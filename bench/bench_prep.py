"""Prep throughput: ``hpcfold prep`` vs a plain RDKit + meeko script, same ligands, same run.

Both pipelines do the same steps on the same N DUD-E SMILES (N/4 per target, actives and decoys
mixed, deterministic picks): parse, keep the largest fragment, add H, ETKDGv3 embedding (same
seed rule, same maxIterations), MMFF clean-up (same iteration cap), AutoDock typing + torsion
tree + PDBQT text. hpcfold also writes the HDF5 feature store (symmetry, bonds, mol block
included); the meeko script writes its PDBQT strings to one file. Throughput is reported per core
from process CPU time (the machine may be shared) and from wall time; the rounds alternate
(meeko, hpcfold, meeko, ...) and the median round is reported.

    python bench/bench_prep.py --n 1000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
DATA = os.environ.get("HPCFOLD_SHARED", os.path.join(os.path.dirname(HERE), "..", "shared"))
TARGETS = ("comt", "cxcr4", "fabp4", "pur2")


def pick_smiles(n: int) -> list[tuple[str, str]]:
    out = []
    per = n // len(TARGETS)
    for t in TARGETS:
        rows = []
        for name in ("actives.smi", "decoys.smi"):
            with open(os.path.join(DATA, "data", "dude", t, name)) as fh:
                rows += [ln.split()[:2] for ln in fh if ln.strip()]
        step = max(1, len(rows) // per)
        out += [(smi, lig_id) for smi, lig_id in rows[::step][:per]]
    return out


def meeko_script(ligands, out_path: str, seed: int, embed_iters: int, ff_iters: int) -> int:
    """The plain RDKit + meeko pipeline; returns the number of ligands written."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    prep = MoleculePreparation(rigid_macrocycles=True)
    n_ok = 0
    with open(out_path, "w") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for smi, lig_id in ligands:
            mol = Chem.MolFromSmiles(smi)
            if mol is None:
                continue
            frags = Chem.GetMolFrags(mol, asMols=True)
            mol = max(frags, key=lambda m: m.GetNumHeavyAtoms())
            molh = Chem.AddHs(mol)
            params = AllChem.ETKDGv3()
            params.randomSeed = (zlib.crc32(lig_id.encode()) ^ seed) & 0x7FFFFFFF
            params.maxIterations = embed_iters
            if AllChem.EmbedMolecule(molh, params) < 0:
                continue
            if AllChem.MMFFHasAllMoleculeParams(molh):
                AllChem.MMFFOptimizeMolecule(molh, maxIters=ff_iters)
            try:
                setups = prep.prepare(molh)
                text, ok, _ = PDBQTWriterLegacy.write_string(setups[0])
            except Exception:
                continue
            if ok:
                fh.write(f"MODEL {n_ok + 1}\n{text}ENDMDL\n")
                n_ok += 1
    return n_ok


def hpcfold_prep(smi_path: str, out: str, opts) -> dict:
    from hpcfold.commands.prep import run_prep

    return run_prep([smi_path], out, opts, None, progress=False)


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def _store_bytes(path: str) -> int:
    total = os.path.getsize(path)
    for root, _, files in os.walk(path + ".shards"):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the numbers to this JSON file")
    args = ap.parse_args()

    from hpcfold.chem.prepare import PrepOptions

    opts = PrepOptions(seed=args.seed)
    ligands = pick_smiles(args.n)
    rows = {"meeko": [], "hpcfold": []}
    with tempfile.TemporaryDirectory() as tmp:
        smi = os.path.join(tmp, "bench.smi")
        with open(smi, "w") as fh:
            fh.writelines(f"{s} {i}\n" for s, i in ligands)
        for r in range(args.rounds):
            n_m, wall, cpu = _timed(
                lambda r=r: meeko_script(
                    ligands, os.path.join(tmp, f"meeko{r}.pdbqt"), args.seed,
                    opts.embed_max_iterations, opts.ff_max_iterations,
                )
            )  # fmt: skip
            rows["meeko"].append({"ok": n_m, "wall_s": wall, "cpu_s": cpu})
            out = os.path.join(tmp, f"lib{r}.h5")
            counts, wall, cpu = _timed(lambda out=out: hpcfold_prep(smi, out, opts))
            rows["hpcfold"].append(
                {
                    "ok": counts["ok"],
                    "failed": counts["failed"],
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "store_bytes": _store_bytes(out),
                }  # fmt: skip
            )
    n = len(ligands)
    res = {"n": n, "rounds": args.rounds, "machine": platform.platform(),
           "cpu": platform.processor() or platform.machine(), "cores_used": 1}  # fmt: skip
    for name, rr in rows.items():
        res[name] = {
            "lig_per_cpu_s": statistics.median(n / x["cpu_s"] for x in rr),
            "lig_per_wall_s": statistics.median(n / x["wall_s"] for x in rr),
            "ok": rr[-1]["ok"],
        }
    res["hpcfold"]["bytes_per_ligand"] = rows["hpcfold"][-1]["store_bytes"] / n
    res["ratio_cpu"] = res["hpcfold"]["lig_per_cpu_s"] / res["meeko"]["lig_per_cpu_s"]
    res["ratio_wall"] = res["hpcfold"]["lig_per_wall_s"] / res["meeko"]["lig_per_wall_s"]
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
