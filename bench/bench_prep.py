"""Prep throughput: ``hpcfold prep`` vs a plain RDKit + meeko script, same ligands, same run.

Both pipelines do the same steps on the same N DUD-E SMILES (N/4 per target, actives and decoys
mixed, deterministic picks): parse, keep the largest fragment, add H, ETKDGv3 embedding (same
seed rule, same maxIterations), MMFF clean-up (same iteration cap), AutoDock typing + torsion
tree + PDBQT text. hpcfold also writes the HDF5 feature store (symmetry, bonds, mol block
included); the meeko script writes its PDBQT strings to one file. Throughput is reported per core
from process CPU time (the machine may be shared) and from wall time. The two pipelines alternate
in blocks of ``--block`` ligands (meeko first, then hpcfold first, ...), so both see the same
machine load; totals and the median over blocks are reported.

    python bench/bench_prep.py --n 1000
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


class MeekoScript:
    """The plain RDKit + meeko pipeline, one ligand at a time, PDBQT strings to one file."""

    def __init__(self, out_path: str, seed: int, embed_iters: int, ff_iters: int):
        from meeko import MoleculePreparation

        self.prep = MoleculePreparation(rigid_macrocycles=True)
        self.fh = open(out_path, "w")
        self.seed, self.embed_iters, self.ff_iters = seed, embed_iters, ff_iters
        self.n_ok = 0

    def run(self, smi: str, lig_id: str) -> None:
        from meeko import PDBQTWriterLegacy
        from rdkit import Chem
        from rdkit.Chem import AllChem

        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            return
        mol = max(Chem.GetMolFrags(mol, asMols=True), key=lambda m: m.GetNumHeavyAtoms())
        molh = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        params.randomSeed = (zlib.crc32(lig_id.encode()) ^ self.seed) & 0x7FFFFFFF
        params.maxIterations = self.embed_iters
        if AllChem.EmbedMolecule(molh, params) < 0:
            return
        if AllChem.MMFFHasAllMoleculeParams(molh):
            AllChem.MMFFOptimizeMolecule(molh, maxIters=self.ff_iters)
        try:
            text, ok, _ = PDBQTWriterLegacy.write_string(self.prep.prepare(molh)[0])
        except Exception:
            return
        if ok:
            self.fh.write(f"MODEL {self.n_ok + 1}\n{text}ENDMDL\n")
            self.n_ok += 1

    def close(self) -> None:
        self.fh.close()


class HpcfoldPrep:
    """``hpcfold prep``'s path (readers -> prepare_record -> FeatureWriter -> finalize)."""

    def __init__(self, smi_path: str, out: str, opts):
        from hpcfold.store.features import FeatureWriter

        self.smi_path, self.out, self.opts = smi_path, out, opts
        self.writer = FeatureWriter(out, 0, "bench", [smi_path], batch_size=200)
        self.counts: dict = {}

    def run(self, raw) -> None:
        from hpcfold.chem.prepare import prepare_record

        self.writer.add((0, raw.index), prepare_record(raw, self.opts))

    def close(self) -> None:
        from hpcfold.store.features import finalize

        self.writer.close()
        self.counts = finalize(self.out, [self.smi_path])


def _store_bytes(path: str) -> int:
    total = os.path.getsize(path)
    for root, _, files in os.walk(path + ".shards"):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--block", type=int, default=20, help="ligands per alternating block")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the numbers to this JSON file")
    args = ap.parse_args()

    import warnings

    from rdkit import RDLogger

    from hpcfold.chem.prepare import PrepOptions
    from hpcfold.chem.readers import iter_records

    RDLogger.DisableLog("rdApp.*")
    warnings.simplefilter("ignore")
    opts = PrepOptions(seed=args.seed)
    ligands = pick_smiles(args.n)
    n = len(ligands)
    cpu = {"meeko": [], "hpcfold": []}
    wall = {"meeko": [], "hpcfold": []}
    with tempfile.TemporaryDirectory() as tmp:
        smi = os.path.join(tmp, "bench.smi")
        with open(smi, "w") as fh:
            fh.writelines(f"{s} {i}\n" for s, i in ligands)
        raws = list(iter_records(smi))
        out = os.path.join(tmp, "lib.h5")
        meeko = MeekoScript(os.path.join(tmp, "meeko.pdbqt"), args.seed,
                            opts.embed_max_iterations, opts.ff_max_iterations)  # fmt: skip
        hpc = HpcfoldPrep(smi, out, opts)
        for b, start in enumerate(range(0, n, args.block)):
            block = range(start, min(n, start + args.block))
            order = ("meeko", "hpcfold") if b % 2 == 0 else ("hpcfold", "meeko")
            for name in order:
                w0, c0 = time.perf_counter(), time.process_time()
                for k in block:
                    if name == "meeko":
                        meeko.run(*ligands[k])
                    else:
                        hpc.run(raws[k])
                cpu[name].append(time.process_time() - c0)
                wall[name].append(time.perf_counter() - w0)
        for name, obj in (("meeko", meeko), ("hpcfold", hpc)):
            w0, c0 = time.perf_counter(), time.process_time()
            obj.close()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
        store_bytes = _store_bytes(out)
    res = {"n": n, "block": args.block, "machine": platform.platform(),
           "cpu": platform.processor() or platform.machine(), "cores_used": 1}  # fmt: skip
    for name in cpu:
        res[name] = {
            "cpu_s": sum(cpu[name]),
            "wall_s": sum(wall[name]),
            "lig_per_cpu_s": n / sum(cpu[name]),
            "lig_per_wall_s": n / sum(wall[name]),
            "median_block_lig_per_cpu_s": statistics.median(
                len(range(s, min(n, s + args.block))) / c
                for s, c in zip(range(0, n, args.block), cpu[name])
            ),
        }
    res["meeko"]["ok"] = meeko.n_ok
    res["hpcfold"].update(ok=hpc.counts["ok"], failed=hpc.counts["failed"])
    res["hpcfold"]["bytes_per_ligand"] = store_bytes / n
    res["ratio_cpu"] = res["hpcfold"]["lig_per_cpu_s"] / res["meeko"]["lig_per_cpu_s"]
    res["ratio_median_block"] = (
        res["hpcfold"]["median_block_lig_per_cpu_s"] / res["meeko"]["median_block_lig_per_cpu_s"]
    )
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
