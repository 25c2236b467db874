"""Rank 0: a dynamic work queue of ligand chunks handed to worker ranks on request.

``WorkQueue`` is the policy (pure Python, tested without MPI): chunks go out in the given order
(largest bucket first), a chunk that raised is retried once on another rank (the same rank when
it is the only worker), then its ligands are failed. ``run_scheduler`` is the MPI loop: it waits
with ``Iprobe`` and an exponential back-off sleep (MPICH's blocking receives busy-poll a core)
so rank 0 leaves the cores to the workers. This module never imports JAX.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from hpcfold.mpi import messages as msg

LOG = logging.getLogger("hpcfold")
MAX_ATTEMPTS = 2  # first try + one retry


@dataclasses.dataclass
class Task:
    """One chunk of ligands (global feature-store indices) and its attempt number."""

    chunk_id: int
    bucket: int
    indices: np.ndarray  # (k,) int64
    attempt: int = 0
    avoid: int = -1  # rank that already failed this chunk


class WorkQueue:
    """Hand-out policy. ``request``/``complete`` return the assignments to send now:
    a list of ``(rank, Task | None)`` where ``None`` tells the rank to stop."""

    def __init__(self, tasks: Sequence[Task], workers: Sequence[int]):
        self.pending: collections.deque[Task] = collections.deque(tasks)
        self.retry: collections.deque[Task] = collections.deque()
        self.in_flight: dict[int, tuple[Task, int]] = {}
        self.waiting: list[int] = []
        self.workers = list(workers)
        self.stopped: set[int] = set()
        self.n_handed = 0

    @property
    def finished(self) -> bool:
        return not (self.pending or self.retry or self.in_flight)

    def request(self, rank: int) -> list[tuple[int, Task | None]]:
        if rank in self.waiting or rank in self.stopped:
            raise RuntimeError(f"rank {rank} asked for work twice (protocol error)")
        self.waiting.append(rank)
        return self._dispatch()

    def complete(self, chunk_id: int, rank: int, ok: bool) -> tuple[str, list]:
        """Record a chunk's outcome -> ("done" | "retry" | "failed", assignments to send)."""
        task, holder = self.in_flight.pop(chunk_id)
        if holder != rank:
            raise RuntimeError(f"chunk {chunk_id} came back from rank {rank}, sent to {holder}")
        if ok:
            state = "done"
        elif task.attempt + 1 < MAX_ATTEMPTS:
            self.retry.append(dataclasses.replace(task, attempt=task.attempt + 1, avoid=rank))
            state = "retry"
        else:
            state = "failed"
        return state, self._dispatch()

    def _dispatch(self) -> list[tuple[int, Task | None]]:
        sends: list[tuple[int, Task | None]] = []
        alone = len(self.workers) - len(self.stopped) <= 1
        for rank in list(self.waiting):
            task = None
            for i, cand in enumerate(self.retry):
                if cand.avoid != rank or alone:
                    task = cand
                    del self.retry[i]
                    break
            if task is None and self.pending:
                task = self.pending.popleft()
            if task is not None:
                self.in_flight[task.chunk_id] = (task, rank)
                self.n_handed += 1
            elif self.finished:
                self.stopped.add(rank)
            else:
                continue  # park the request until work appears or the job is finished
            self.waiting.remove(rank)
            sends.append((rank, task))
        return sends


ResultHandler = Callable[[Task, list | None, dict, str | None, str], None]


def run_scheduler(
    comm,
    queue: WorkQueue,
    on_result: ResultHandler,
    tick: Callable[[], None] = lambda: None,
    max_sleep: float = 0.004,
    stats: dict | None = None,
) -> dict[int, dict]:
    """Serve ``queue`` to the other ranks of ``comm`` until every worker has stopped.

    ``on_result(task, items, info, error, state)`` is called for each chunk that comes back
    (``state`` from ``WorkQueue.complete``: "done", "retry" or "failed"). Returns each worker's
    final statistics (its ``TAG_FINAL`` message) by rank. ``stats``, when given, receives
    ``messages`` and ``busy_s`` (seconds spent handling messages, writes included: the
    scheduler's capacity is ``handouts / busy_s``).
    """
    from mpi4py import MPI

    status = MPI.Status()
    reqbuf = np.zeros(1, np.int64)
    finals: dict[int, dict] = {}
    sleep = busy = 0.0
    n_msg = 0
    clock = time.perf_counter
    while len(finals) < len(queue.workers):
        if not comm.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, status):
            tick()
            time.sleep(sleep)
            sleep = min(max(2 * sleep, 5e-5), max_sleep)
            continue
        t0 = clock()
        sleep = 0.0
        n_msg += 1
        src, tag = status.Get_source(), status.Get_tag()
        if tag == msg.TAG_REQUEST:
            comm.Recv([reqbuf, MPI.INT64_T], source=src, tag=tag)
            sends = queue.request(src)
        elif tag in (msg.TAG_RESULT, msg.TAG_FINAL):
            buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
            comm.Recv([buf, MPI.BYTE], source=src, tag=tag)
            if tag == msg.TAG_FINAL:
                finals[src] = msg.decode_json(buf)
                busy += clock() - t0
                continue
            items, info, error = msg.decode_result(buf)
            task = queue.in_flight[int(info["chunk_id"])][0]
            state, sends = queue.complete(task.chunk_id, src, ok=error is None)
        else:
            raise RuntimeError(f"unexpected message tag {tag} from rank {src}")
        for rank, new_task in sends:  # hand out work first, then write
            send_assignment(comm, rank, new_task)
        if tag == msg.TAG_RESULT:
            on_result(task, items, info, error, state)
        busy += clock() - t0
    if stats is not None:
        stats.update(messages=n_msg, busy_s=busy)
    return finals


def send_assignment(comm, rank: int, task: Task | None) -> None:
    from mpi4py import MPI

    if task is None:
        buf = msg.encode_assign(msg.STOP, 0, -1, np.zeros(0, np.int64))
    else:
        buf = msg.encode_assign(task.chunk_id, task.attempt, task.bucket, task.indices)
    comm.Send([buf, MPI.INT64_T], dest=rank, tag=msg.TAG_ASSIGN)
