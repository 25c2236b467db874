"""An MPI job with the real scheduler and worker loop but a tiny in-test kernel.

    mpiexec -n 4 python tests/mpi/fake_job.py OUT.json N_CHUNKS [raise-in-setup-rank]

Rank 0 serves N_CHUNKS chunks of 3 ligands and writes every outcome to OUT.json; the kernel
returns one pose per ligand whose affinity is the ligand index. HPCFOLD_TEST_* hooks apply.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from hpcfold.mpi.comm import abort_on_exception, world
from hpcfold.mpi.scheduler import Task, WorkQueue, run_scheduler
from hpcfold.mpi.worker import MPIChannel, run_worker
from hpcfold.types import DockResult


def kernel(records):
    return [
        DockResult(f"L{i}", np.full((1, 2, 3), i, np.float32), np.full(1, i, np.float32),
                   np.zeros(1, np.float32), np.zeros(1, np.float32), np.zeros((1, 5), np.float32))
        for i in records
    ]  # fmt: skip


def main() -> None:
    out, n_chunks = sys.argv[1], int(sys.argv[2])
    bad_rank = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    comm = world()
    rank = comm.Get_rank()
    with abort_on_exception(comm, "fake job"):
        if rank == bad_rank:
            raise ValueError(f"setup exploded on rank {rank}")
        if rank != 0:
            run_worker(MPIChannel(comm), lambda: (kernel, "cpu:1"), lambda idx: idx.tolist(), rank)
            return
        tasks = [Task(c, 0, np.arange(3 * c, 3 * c + 3, dtype=np.int64)) for c in range(n_chunks)]
        queue = WorkQueue(tasks, workers=list(range(1, comm.Get_size())))
        outcomes = []

        def on_result(task, items, info, error, state):
            outcomes.append({"chunk": task.chunk_id, "attempt": task.attempt, "state": state,
                             "rank": info["rank"], "error": error,
                             "values": [float(it.affinity[0]) for it in items or []]})  # fmt: skip

        finals = run_scheduler(comm, queue, on_result)
        with open(out, "w") as fh:
            json.dump({"outcomes": outcomes, "finals": {str(k): v for k, v in finals.items()}}, fh)


if __name__ == "__main__":
    main()
