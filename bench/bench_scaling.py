"""Screen throughput with 2 worker ranks versus 1 (goal >= 1.9x), CPU, same ligands.

    python bench/bench_scaling.py [--ligands 48] [--repeats 3] [--preset fast]
                                  [--exhaustiveness 2] [--n-steps 4] [--chunk 4] [--keep DIR]

Prepares the first LIGANDS ligands of the bundled FABP4 example once, warms JAX's compilation
cache with one run, then alternates ``mpiexec -n 2`` (rank 0 schedules, 1 worker) and
``mpiexec -n 3`` (2 workers) screens into fresh results stores. Throughput = ligands / docking
span (first chunk start to last chunk end, from the results store's chunk table: process start
and JAX import excluded, first-chunk cache loads included); the wall time of the whole command
is printed too, and the steady rate (each rank's first chunk, i.e. its warm-up, excluded).
Prints per-run numbers and the medians.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_config(d: pathlib.Path, name: str, args) -> pathlib.Path:
    ex = ROOT / "examples" / "fabp4"
    path = d / f"{name}.yaml"
    path.write_text(
        f"receptor: {ex / 'receptor.pdbqt'}\nbox: {{vina_config: {ex / 'box.txt'}}}\n"
        f"ligands: {d / 'lig.smi'}\nfeatures: {d / 'lib.h5'}\noutput: {d / name}.h5\n"
        f"chunk_size: {args.chunk}\n"
        f"search: {{preset: {args.preset}, exhaustiveness: {args.exhaustiveness}, "
        f"n_steps: {args.n_steps}, num_modes: 9}}\n"
        f"device: {{mode: cpu, compile_cache: {d / 'cache'}}}\nprogress_interval: 30\n"
    )
    return path


def rates(chunks) -> tuple[float, float, int]:
    """(ligands/s over the docking span, steady ligands/s, ligands) from a chunk table.

    Steady = ligands of every rank's chunks after its first one, over the time from the last
    rank's first chunk end to the last chunk end: per-process warm-up (tracing, loading the
    compiled kernels) excluded.
    """
    import numpy as np

    real = chunks["chunk_id"] >= 0
    rank, n = chunks["rank"][real], chunks["n"][real]
    t0, t1 = chunks["t_start"][real], chunks["t_done"][real]
    span = float(t1.max() - t0.min())
    later = np.ones(len(rank), bool)
    first_end = []
    for r in np.unique(rank):
        i = np.flatnonzero(rank == r)
        j = i[np.argmin(t0[i])]
        later[j] = False
        first_end.append(t1[j])
    steady_span = float(t1.max() - max(first_end))
    steady = float(n[later].sum()) / steady_span if steady_span > 0 else float("nan")
    return float(n.sum()) / span, steady, int(n.sum())


def screen(d: pathlib.Path, name: str, ranks: int, args) -> tuple[float, float, float, int]:
    """-> (ligands/s over the docking span, steady ligands/s, command wall seconds, ligands)."""
    from hpcfold.store.results import open_results

    cfg = write_config(d, name, args)
    cmd = [str(pathlib.Path(sys.executable).with_name("mpiexec")), "-n", str(ranks),
           sys.executable, "-m", "hpcfold", "screen", str(cfg)]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - t0
    with open_results(str(d / f"{name}.h5")) as v:
        rate, steady, n = rates(v.chunks)
    return rate, steady, wall, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ligands", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--exhaustiveness", type=int, default=2)
    ap.add_argument("--n-steps", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--keep", help="work in this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    ctx = tempfile.TemporaryDirectory() if not args.keep else None
    d = pathlib.Path(args.keep or ctx.name)
    d.mkdir(parents=True, exist_ok=True)
    ex = ROOT / "examples" / "fabp4"
    lines = [ln for f in ("actives.smi", "decoys.smi") for ln in (ex / f).read_text().splitlines()]
    (d / "lig.smi").write_text("\n".join(lines[: args.ligands]) + "\n")
    print(f"warm-up (prep + compile) on {os.cpu_count()} cores ...", flush=True)
    screen(d, "warmup", 3, args)
    res: dict[int, list] = {1: [], 2: []}
    for rep in range(args.repeats):
        for workers in (1, 2):
            rate, steady, wall, n = screen(d, f"w{workers}-{rep}", workers + 1, args)
            res[workers].append((rate, steady, wall))
            print(f"  {workers} worker(s): {n} ligands, {rate:.3f} ligands/s over the docking "
                  f"span, {steady:.3f} steady, command wall {wall:.1f} s", flush=True)  # fmt: skip
    med = {w: [statistics.median(x[k] for x in res[w]) for k in range(3)] for w in (1, 2)}
    (r1, s1, w1), (r2, s2, w2) = med[1], med[2]
    print(f"median: span {r1:.3f} -> {r2:.3f} lig/s ({r2 / r1:.2f}x); steady {s1:.3f} -> "
          f"{s2:.3f} lig/s ({s2 / s1:.2f}x); command wall {w1:.1f} -> {w2:.1f} s "
          f"({w1 / w2:.2f}x)")  # fmt: skip
    if ctx is not None:
        ctx.cleanup()


if __name__ == "__main__":
    main()
