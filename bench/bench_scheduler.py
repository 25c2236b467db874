"""Scheduler capacity: chunk hand-outs per second with a no-op kernel, ranks oversubscribed.

    python bench/bench_scheduler.py [--ranks 8] [--chunks 100000] [--repeats 3] [--write]
        [--pin] [--flood]

Launches ``mpiexec -n RANKS`` (the venv's) running the real ``run_scheduler`` on rank 0 and the
real ``run_worker`` loop (fetcher thread, Iprobe back-off, result messages) on the others, with
a kernel that returns one tiny pose per ligand and chunks of one ligand. Prints the median
hand-outs per second over the repeats and the largest job it supports: workers = rate x chunk
time (e.g. 64 ligands x 0.5 s on a CPU core = 32 s per chunk). ``--write`` also times the
results store's crash-safe append (rank 0's other per-chunk cost) with realistic chunks.

``--flood`` replaces the worker loop by minimal responders (no threads: each assignment is
answered at once with a pre-encoded result), so that rank 0, not the workers, limits the rate:
on 2 cores 7 threaded Python workers cannot produce results as fast as rank 0 takes them,
and a rank 0 that waits between messages measures its cold wake-ups, not its capacity.
``--pin`` puts rank 0 alone on the first core and the workers on the others (what a large job
should do: give rank 0 a core). ``--ranks 5 --flood --pin``: 4 responders share one core.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpcfold.types import DockResult  # noqa: E402

POSE = (np.zeros((1, 1, 3), np.float32), np.zeros(1, np.float32), np.zeros((1, 5), np.float32))


def noop_kernel(records):
    c, z, t = POSE
    return [DockResult(f"L{i}", c, z, z, z, t) for i in records]


def flood_worker(comm) -> None:
    """A minimal worker for ``--flood``: no threads, no kernel; it answers every assignment at
    once with a pre-encoded one-ligand result (its chunk id patched in), so the workers produce
    results faster than rank 0 can take them and rank 0's own cost per chunk is what limits."""
    from mpi4py import MPI

    from hpcfold.mpi import messages as msg
    from hpcfold.mpi.scheduler import MAX_AHEAD

    rank = comm.Get_rank()
    info = {"chunk_id": 0, "attempt": 0, "rank": rank, "device": "none", "host": "h",
            "t_start": 0.0, "t_done": 0.0, "busy_s": 0.0, "wall_s": 0.0, "busy": 0.0}  # fmt: skip
    result = msg.encode_result(noop_kernel([0]), info)
    ids = result[32:40].view(np.int64)  # header field 4: chunk_id
    comm.Send([np.array([rank, MAX_AHEAD], np.int64), MPI.INT64_T], dest=0, tag=msg.TAG_REQUEST)
    status, buf = MPI.Status(), np.empty(64, np.int64)
    while True:
        comm.Probe(source=0, tag=msg.TAG_ASSIGN, status=status)
        n = status.Get_count(MPI.INT64_T)
        comm.Recv([buf[:n], MPI.INT64_T], source=0, tag=msg.TAG_ASSIGN)
        if buf[0] == msg.STOP:
            break
        ids[0] = buf[0]
        comm.Send([result, MPI.BYTE], dest=0, tag=msg.TAG_RESULT)
    comm.Send([msg.encode_json({"rank": rank}), MPI.BYTE], dest=0, tag=msg.TAG_FINAL)


def inner(n_chunks: int, out: str, pin: bool = False, flood: bool = False) -> None:
    from hpcfold.mpi.comm import abort_on_exception, world
    from hpcfold.mpi.scheduler import Task, WorkQueue, run_scheduler
    from hpcfold.mpi.worker import MPIChannel, run_worker

    comm = world()
    rank = comm.Get_rank()
    if pin:  # rank 0 alone on the first core, every worker on the others
        import psutil

        cores = sorted(psutil.Process().cpu_affinity())
        psutil.Process().cpu_affinity(cores[:1] if rank == 0 else cores[1:] or cores)
    with abort_on_exception(comm, "bench"):
        comm.Barrier()  # everyone started (python and mpi4py imported) before the clock runs
        if rank != 0 and flood:
            flood_worker(comm)
            return
        if rank != 0:
            run_worker(MPIChannel(comm), lambda: (noop_kernel, "none"), lambda i: i.tolist(), rank)
            return
        tasks = [Task(c, 0, np.array([c], np.int64)) for c in range(n_chunks)]
        queue = WorkQueue(tasks, workers=list(range(1, comm.Get_size())))
        n_done = [0]

        def on_result(task, items, info, error, state):
            n_done[0] += 1

        t0 = time.perf_counter()
        st: dict = {}
        run_scheduler(comm, queue, on_result, stats=st)
        dt = time.perf_counter() - t0
        assert n_done[0] == n_chunks and queue.finished
        res = {"seconds": dt, "handouts": queue.n_handed, "rate": queue.n_handed / dt,
               "busy_s": st["busy_s"], "cpu_s": st["cpu_s"], "cpu_capacity": queue.n_handed / st["cpu_s"], "capacity": queue.n_handed / st["busy_s"]}  # fmt: skip
        with open(out, "w") as fh:
            json.dump(res, fh)


def bench_write(n_chunks: int = 200, chunk: int = 64, commit_seconds: float = 0.0) -> float:
    """Results store appends per second (chunks of ``chunk`` ligands, 9 poses x 30 atoms),
    one crash-safe commit per chunk (``commit_seconds`` 0) or grouped commits."""
    from hpcfold.store.results import ResultsWriter

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        w = ResultsWriter(os.path.join(tmp, "r.h5"), {"n_ligands": n_chunks * chunk},
                          commit_seconds=commit_seconds)  # fmt: skip
        items = [
            DockResult(f"L{i}", rng.normal(size=(9, 30, 3)).astype(np.float32),
                       *(rng.normal(size=9).astype(np.float32) for _ in range(3)),
                       rng.normal(size=(9, 5)).astype(np.float32), 1.0)
            for i in range(chunk)
        ]  # fmt: skip
        t0 = time.perf_counter()
        for c in range(n_chunks):
            idx = np.arange(c * chunk, (c + 1) * chunk)
            w.append(
                idx, items, {"chunk_id": c, "rank": 1, "device": "cpu:1", "smiles": [""] * chunk}
            )
        w.close()
        return n_chunks / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ranks", type=int, default=8)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-seconds", type=float, default=32.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--pin", action="store_true",
                    help="rank 0 alone on one core, the workers share the others")  # fmt: skip
    ap.add_argument("--flood", action="store_true",
                    help="minimal workers that answer at once: rank 0 saturated")  # fmt: skip
    ap.add_argument("--inner", metavar="OUT")
    args = ap.parse_args()
    if args.inner:
        inner(args.chunks, args.inner, args.pin, args.flood)
        return
    mpiexec = pathlib.Path(sys.executable).with_name("mpiexec")
    rates, caps = [], []
    for _ in range(args.repeats):
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            cmd = [str(mpiexec), "-n", str(args.ranks), sys.executable, __file__,
                   "--chunks", str(args.chunks), "--inner", tmp.name]  # fmt: skip
            cmd += (["--pin"] if args.pin else []) + (["--flood"] if args.flood else [])
            subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            res = json.loads(pathlib.Path(tmp.name).read_text())
        rates.append(res["rate"])
        caps.append(res["capacity"])
        print(f"  {res['handouts']} hand-outs in {res['seconds']:.2f} s: {res['rate']:,.0f}/s "
              f"achieved; rank 0 busy {res['busy_s']:.2f} s -> capacity "
              f"{res['capacity']:,.0f}/s; rank 0 CPU {res['cpu_s']:.2f} s -> {res['cpu_capacity']:,.0f}/s")  # fmt: skip
    rate, med = statistics.median(rates), statistics.median(caps)
    print(f"scheduler: {args.ranks} ranks ({args.ranks - 1} workers) on {os.cpu_count()} cores, "
          f"median achieved {rate:,.0f} hand-outs/s, median rank-0 capacity {med:,.0f} "
          f"hand-outs/s (1 / service time) over {args.repeats} runs")  # fmt: skip
    print(f"supports ~{int(med * args.chunk_seconds):,} worker ranks at {args.chunk_seconds:g} s "
          "per chunk (hand-outs only)")  # fmt: skip
    if args.write:
        for label, cs, n in (
            ("one commit per chunk", 0.0, 200),
            ("commit_interval 2 s", 2.0, 1000),
        ):
            w = bench_write(n, commit_seconds=cs)
            print(f"results store, {label}: {w:,.1f} chunks/s (64 ligands x 9 poses each) = "
                  f"{64 * w:,.0f} ligands/s; at {args.chunk_seconds:g} s per chunk that is "
                  f"~{int(w * args.chunk_seconds):,} worker ranks")  # fmt: skip


if __name__ == "__main__":
    main()
