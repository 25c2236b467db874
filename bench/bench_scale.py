"""Scale benchmark of the screen's data path: memory, resume, stalls, store size, export.

    python bench/bench_scale.py --ligands N --ranks R --json OUT [--chunk 64] [--dir DIR]
        [--templates 16] [--keep]

1. Builds a synthetic feature store of N ligands in seconds: a few real FABP4 SMILES
   (shared data) are prepared with RDKit once, then replicated into one shard of 100,000 rows
   written with the store's own shard writer; the other shards are hard links of it (copies
   where links fail), and the index, written directly with numpy, gives every ligand its own
   id (``S<i>``) and row. With ``--dir`` a store of N ligands already there is reused.
2. Runs ``mpiexec -n R hpcfold screen`` with the null docking kernel (``HPCFOLD_NULL_KERNEL=1``,
   no JAX), samples every rank's RSS, and SIGKILLs the whole job once the progress line passes
   50 %.
3. Resumes it (the same command) to the end: ``resume_s`` is the time from the restart to the
   first hand-out (rank 0's "to dock in ... chunks" line, right before the scheduler starts);
   ``max_stall_s`` is the longest time rank 0 spent on one message (commit and compaction
   included; no chunk is handed out meanwhile), from the scheduler's summary line.
4. Times ``hpcfold export results.h5 --top 1000 -o top.csv``.

Writes JSON with ``ligands``, ``ranks``, ``chunk``, ``peak_rss_mb`` {``rank0``, ``worker_max``}
(over both runs), ``build_s``, ``first_run_s``, ``resume_s``, ``resumed_run_s``,
``max_stall_s``, ``store_bytes_per_ligand``, ``export_top1000_s``, ``complete``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = pathlib.Path(os.environ.get("HPCFOLD_SHARED", ROOT.parent / "shared")) / "data"
MPIEXEC = pathlib.Path(sys.executable).with_name("mpiexec")
SHARD_ROWS = 100_000


def templates(n: int) -> list:
    """``n`` real prepared ligands of one size bucket (FABP4 actives and decoys)."""
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.types import bucket_for

    by_bucket: dict[int, list] = {}
    for name in ("actives.smi", "decoys.smi"):
        for raw in iter_records(str(SHARED / "dude" / "fabp4" / name)):
            rec = prepare_record(raw, PrepOptions())
            if not hasattr(rec, "coords"):
                continue
            b = bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs))
            by_bucket.setdefault(b.index, []).append(rec)
            if len(by_bucket[b.index]) == n:
                return by_bucket[b.index]
    return max(by_bucket.values(), key=len)


def build_store(path: pathlib.Path, n: int, recs: list) -> None:
    """Shards of replicated records plus an index written with numpy (see module doc)."""
    from hpcfold import __version__
    from hpcfold.store import h5util, segments
    from hpcfold.store.feature_reader import INDEX_KIND
    from hpcfold.types import BUCKETS, SCHEMA_VERSION, bucket_for

    sdir = pathlib.Path(str(path) + ".shards")
    sdir.mkdir(parents=True)
    inputs = ["synthetic.smi"]
    bucket = bucket_for(recs[0].n_atoms, recs[0].n_torsions, len(recs[0].intra_pairs)).index
    shard = np.zeros(n, np.int32)
    row = np.zeros(n, np.int64)
    paths, uuids = [], []
    first = min(n, SHARD_ROWS)
    items = [dataclasses.replace(recs[i % len(recs)], lig_id=f"S{i}", source=f"syn:{i}")
             for i in range(first)]  # fmt: skip
    attrs = {"rank": 0, "run_id": "bench", "inputs": json.dumps(inputs)}
    rel0 = "r00000-bench.h5"
    segments.write_rows(str(sdir / rel0), [(0, i) for i in range(first)], items,
                        [bucket] * first, attrs, fsync=False)  # fmt: skip
    with h5util.open_ro(str(sdir / rel0)) as f:
        uuid0 = str(f.attrs["uuid"])
    for s, a in enumerate(range(0, n, SHARD_ROWS)):
        b = min(n, a + SHARD_ROWS)
        rel = f"r{s:05d}-bench.h5"
        if s:  # same records: readers take each ligand's id from the index
            try:
                os.link(sdir / rel0, sdir / rel)
            except OSError:
                shutil.copyfile(sdir / rel0, sdir / rel)
        uuids.append(uuid0)
        paths.append(rel)
        shard[a:b], row[a:b] = s, np.arange(b - a)  # one bucket: rows are in key order
    ids = [f"S{i}" for i in range(n)]
    smiles = [recs[i % len(recs)].smiles for i in range(n)]

    def write(f) -> None:
        f.attrs.update(
            kind=INDEX_KIND, schema_version=SCHEMA_VERSION, hpcfold_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            inputs=json.dumps(inputs), shards_dir=sdir.name, n_ligands=n, n_ok=n, n_failed=0,
            n_renamed=0, fingerprint=hashlib.sha256(f"bench-{n}-{uuids}".encode()).hexdigest(),
        )  # fmt: skip
        sh = f.create_group("shards")
        h5util.put_text(sh, "path", paths)
        h5util.put_text(sh, "uuid", uuids)
        g = f.create_group("ligands")
        key = np.zeros((n, 2), np.int64)
        key[:, 1] = np.arange(n)
        sizes = {"n_atoms": [r.n_atoms for r in recs], "n_torsions": [r.n_torsions for r in recs],
                 "n_pairs": [len(r.intra_pairs) for r in recs]}  # fmt: skip
        cols = {"key": key, "shard": shard, "row": row, "status": np.zeros(n, np.int8),
                "reason": np.zeros(n, np.int16), "bucket": np.full(n, bucket, np.int8)}  # fmt: skip
        for name, vals in sizes.items():
            cols[name] = np.asarray(vals, np.int32)[np.arange(n) % len(recs)]
        for name, arr in cols.items():
            h5util.put(g, name, arr)
        tx = g.create_group("text")
        for name, vals in (("lig_id", ids), ("orig_id", ids), ("smiles", smiles),
                           ("source", [f"syn:{i}" for i in range(n)]), ("message", [""] * n)):  # fmt: skip
            h5util.put_text(tx, name, vals)
        bg = f.create_group("buckets")
        h5util.put_text(bg, "name", [x.name for x in BUCKETS])
        for name in ("n_atoms", "n_torsions", "n_pairs"):
            h5util.put(bg, name, np.array([getattr(x, name) for x in BUCKETS], np.int32))
        count = np.zeros(len(BUCKETS), np.int64)
        count[bucket] = n
        h5util.put(bg, "count", count)

    h5util.atomic_h5(str(path), write, fsync=False)


def _has_store(path: pathlib.Path, n: int) -> bool:
    """A feature store of ``n`` ligands is at ``path`` already (reused, not rebuilt)."""
    if not path.is_file():
        return False
    from hpcfold.store import h5util

    with h5util.open_ro(str(path)) as f:
        return int(f.attrs.get("n_ligands", -1)) == n


class RssSampler(threading.Thread):
    """Peak RSS (MiB) per MPI rank of a running job, sampled every 0.2 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, {}, threading.Event()

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self.stop.is_set():
            try:
                kids = root.children(recursive=True)
            except psutil.Error:
                return
            for p in kids:
                try:
                    rank = p.environ().get("PMI_RANK")
                    if rank is None or "python" not in p.name():
                        continue
                    mb = p.memory_info().rss / 2**20
                    self.peak[int(rank)] = max(self.peak.get(int(rank), 0.0), mb)
                except psutil.Error:
                    pass
            self.stop.wait(0.2)


def run_screen(cfg: pathlib.Path, ranks: int, n: int, kill_at: float | None, peak: dict):
    """(wall s, stderr text, seconds from launch to the first hand-out, killed)."""
    import psutil

    env = dict(os.environ, PYTHONPATH=str(ROOT), HPCFOLD_NULL_KERNEL="1")
    cmd = [str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "hpcfold", "screen", str(cfg)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, start_new_session=True)  # fmt: skip
    sampler = RssSampler(proc.pid)
    sampler.start()
    lines, first, killed = [], None, False
    for line in proc.stderr:
        lines.append(line)
        if first is None and "to dock in" in line:
            first = time.monotonic() - t0
        m = re.search(r"progress: (\d+)/(\d+) ligands", line)
        if kill_at is not None and m and int(m.group(1)) >= kill_at * n and not killed:
            killed = True
            procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]
            for p in procs:
                try:
                    p.send_signal(signal.SIGKILL)
                except psutil.Error:
                    pass
            psutil.wait_procs(procs, timeout=30)
    proc.wait()
    sampler.stop.set()
    sampler.join()
    for r, mb in sampler.peak.items():
        peak[r] = max(peak.get(r, 0.0), mb)
    text = "".join(lines)
    if not killed and proc.returncode != 0:
        raise RuntimeError(f"screen failed (rc {proc.returncode}):\n{text[-3000:]}")
    return time.monotonic() - t0, text, first, killed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ligands", type=int, required=True)
    ap.add_argument("--ranks", type=int, default=3)
    ap.add_argument("--json", required=True)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--templates", type=int, default=16)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    work = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="bench_scale-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.ligands
    try:
        t0 = time.monotonic()
        if _has_store(work / "lib.h5", n):  # --dir of an earlier run: its library, fresh results
            for p in [work / "top.csv", *work.glob("results.h5*")]:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            build_s = None
        else:
            build_store(work / "lib.h5", n, templates(args.templates))
            build_s = round(time.monotonic() - t0, 2)
        # the screen's checks parse the receptor; the null kernel never uses it
        shutil.copy(SHARED / "dude" / "fabp4" / "receptor.pdbqt", work / "receptor.pdbqt")
        cfg = work / "screen.yaml"
        cfg.write_text(
            f"receptor: {work / 'receptor.pdbqt'}\nbox: {{center: [0, 0, 0], size: [20, 20, 20]}}\n"
            f"features: {work / 'lib.h5'}\noutput: {work / 'results.h5'}\n"
            f"chunk_size: {args.chunk}\nprogress_interval: 1\ncommit_interval: 2\n"
        )
        peak: dict = {}
        first_s, _, _, killed = run_screen(cfg, args.ranks, n, 0.5, peak)
        resumed_s, text, resume_s, _ = run_screen(cfg, args.ranks, n, None, peak)
        stall = re.search(r"longest stall ([\d.]+) s", text)
        done = re.search(r"screen done: (\d+)/(\d+)", text)
        store = sum(p.stat().st_size for p in work.glob("results.h5*") if p.is_file())
        store += sum(p.stat().st_size for p in (work / "results.h5.parts").glob("*"))
        t1 = time.monotonic()
        subprocess.run([sys.executable, "-m", "hpcfold", "export", str(work / "results.h5"),
                        "--top", "1000", "-o", str(work / "top.csv")], check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
        export_s = time.monotonic() - t1
        out = {
            "ligands": n, "ranks": args.ranks, "chunk": args.chunk,
            "peak_rss_mb": {"rank0": round(peak.get(0, 0.0), 1),
                            "worker_max": round(max((v for r, v in peak.items() if r), default=0), 1)},
            "build_s": build_s, "first_run_s": round(first_s, 2),
            "killed_at_half": killed, "resume_s": None if resume_s is None else round(resume_s, 2),
            "resumed_run_s": round(resumed_s, 2),
            "max_stall_s": float(stall.group(1)) if stall else None,
            "store_bytes_per_ligand": round(store / n, 1),
            "export_top1000_s": round(export_s, 2),
            "complete": bool(done and done.group(1) == done.group(2) == str(n)),
        }  # fmt: skip
        pathlib.Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out, indent=2))
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
