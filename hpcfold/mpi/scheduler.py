"""Rank 0: a dynamic work queue of ligand chunks handed to worker ranks on request.

``WorkQueue`` is the policy (pure Python, tested without MPI): chunks go out in the given order
(largest bucket first), a chunk that raised is retried once on another rank (the same rank when
it is the only worker), then its ligands are failed. A worker holds at most ``MAX_AHEAD`` chunks
(one in the kernel, one read ahead): MPI workers ask for that many once, then every result they
send asks for one more, so a chunk costs one message each way. ``run_scheduler`` is the MPI
loop: it waits with ``Iprobe``, polling for a fraction of a millisecond after each message and
then with an exponential back-off sleep (MPICH's blocking receives busy-poll a core), so rank 0
leaves the cores to the workers. This module never imports JAX.
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
MAX_AHEAD = 2  # chunks a worker holds at once: one in the kernel, one read ahead


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
        self.n_held: dict[int, int] = {}

    @property
    def finished(self) -> bool:
        return not (self.pending or self.retry or self.in_flight)

    def request(self, rank: int, n: int = 1) -> list[tuple[int, Task | None]]:
        """``rank`` wants ``n`` more chunks (one running plus ``MAX_AHEAD - 1`` read ahead)."""
        if rank in self.stopped or self._held(rank) + n > MAX_AHEAD:
            raise RuntimeError(f"rank {rank} asked for work twice (protocol error)")
        self.waiting.extend([rank] * n)
        return self._dispatch()

    def _held(self, rank: int) -> int:
        """Chunks in flight on ``rank`` plus its parked requests."""
        return self.waiting.count(rank) + self.n_held.get(rank, 0)

    def complete(self, chunk_id: int, rank: int, ok: bool, more: bool = False) -> tuple[str, list]:
        """Record a chunk's outcome -> ("done" | "retry" | "failed", assignments to send).

        ``more``: the result also asks for the next chunk (the MPI protocol: one message per
        chunk each way)."""
        task, holder = self.in_flight.pop(chunk_id)
        if holder != rank:
            raise RuntimeError(f"chunk {chunk_id} came back from rank {rank}, sent to {holder}")
        self.n_held[rank] -= 1
        if ok:
            state = "done"
        elif task.attempt + 1 < MAX_ATTEMPTS:
            self.retry.append(dataclasses.replace(task, attempt=task.attempt + 1, avoid=rank))
            state = "retry"
        else:
            state = "failed"
        if more:
            self.waiting.append(rank)
        return state, self._dispatch()

    def _dispatch(self) -> list[tuple[int, Task | None]]:
        sends: list[tuple[int, Task | None]] = []
        if not (self.waiting and (self.pending or self.retry or self.finished)):
            return sends  # nothing to hand out: requests stay parked (O(1) per result)
        alone = len(self.workers) - len(self.stopped) <= 1
        parked: list[int] = []
        for rank in self.waiting:
            if rank in self.stopped:
                continue  # its other credits: the rank already got its stop
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
                self.n_held[rank] = self.n_held.get(rank, 0) + 1
                self.n_handed += 1
            elif self.finished:
                self.stopped.add(rank)
            else:
                parked.append(rank)  # until work appears or the job is finished
                continue
            sends.append((rank, task))
        self.waiting = parked
        return sends


ResultHandler = Callable[[Task, list | None, dict, str | None, str], None]


def run_scheduler(
    comm,
    queue: WorkQueue,
    on_result: ResultHandler,
    tick: Callable[[], None] = lambda: None,
    max_sleep: float = 0.004,
    stats: dict | None = None,
    spin: float = 2e-4,
) -> dict[int, dict]:
    """Serve ``queue`` to the other ranks of ``comm`` until every worker has stopped.

    ``on_result(task, items, info, error, state)`` is called for each chunk that comes back
    (``state`` from ``WorkQueue.complete``: "done", "retry" or "failed"). Returns each worker's
    final statistics (its ``TAG_FINAL`` message) by rank. ``stats``, when given, receives
    ``messages``, ``busy_s`` (wall seconds spent handling messages, writes included) and
    ``cpu_s`` (rank 0's CPU seconds for the same, sampled on every 8th message: reading a
    thread's CPU clock is a system call, ~1.6 us here; the scheduler's capacity is
    ``handouts / cpu_s``; wall time also counts the OS running other ranks on rank 0's core).
    After a message rank 0 polls for ``spin`` seconds before it starts sleeping: at high rates
    (thousands of ranks) the next result is usually there by then, and a rank 0 that slept
    wakes up cold (measured ~2x its CPU per chunk); idle, it costs ``spin`` per chunk.
    """
    from mpi4py import MPI

    status = MPI.Status()
    reqbuf = np.zeros(2, np.int64)
    finals: dict[int, dict] = {}
    sleep = busy = cpu = 0.0
    n_msg = n_sampled = 0
    clock, cpu_clock = time.perf_counter, time.thread_time
    iprobe, recv, any_src, any_tag = comm.Iprobe, comm.Recv, MPI.ANY_SOURCE, MPI.ANY_TAG
    n_workers = len(queue.workers)
    last = clock()
    while len(finals) < n_workers:
        if not iprobe(any_src, any_tag, status):
            if clock() - last < spin:
                continue
            tick()
            time.sleep(sleep)
            sleep = min(max(2 * sleep, 5e-5), max_sleep)
            continue
        t0 = clock()
        sample = not n_msg & 7
        c0 = cpu_clock() if sample else 0.0
        sleep = 0.0
        n_msg += 1
        src, tag = status.source, status.tag
        if tag == msg.TAG_RESULT:  # a chunk's outcome, and the request for the next one
            buf = np.empty(status.count, np.uint8)
            recv([buf, MPI.BYTE], source=src, tag=tag)
            chunk_id, raised = msg.result_header(buf)  # enough to hand out the next chunk
            task = queue.in_flight[chunk_id][0]
            state, sends = queue.complete(chunk_id, src, ok=not raised, more=True)
        elif tag == msg.TAG_REQUEST:
            recv([reqbuf, MPI.INT64_T], source=src, tag=tag)
            sends = queue.request(src, int(reqbuf[1]))
        elif tag == msg.TAG_FINAL:
            buf = np.empty(status.count, np.uint8)
            recv([buf, MPI.BYTE], source=src, tag=tag)
            finals[src] = msg.decode_json(buf)
            continue
        else:
            raise RuntimeError(f"unexpected message tag {tag} from rank {src}")
        for rank, new_task in sends:  # hand out work first, then write
            send_assignment(comm, rank, new_task)
        if tag == msg.TAG_RESULT:  # the worker already has its next chunk: decode, store
            items, info, error = msg.decode_result(buf)
            on_result(task, items, info, error, state)
        last = clock()
        busy += last - t0
        if sample:
            cpu += cpu_clock() - c0
            n_sampled += 1
        if not n_msg & 255:  # at high rates rank 0 may never go to sleep: the bar still moves
            tick()
    if stats is not None:
        stats.update(messages=n_msg, busy_s=busy, cpu_s=cpu * n_msg / max(n_sampled, 1))
    return finals


def send_assignment(comm, rank: int, task: Task | None) -> None:
    from mpi4py import MPI

    if task is None:
        buf = msg.encode_assign(msg.STOP, 0, -1, np.zeros(0, np.int64))
    else:
        buf = msg.encode_assign(task.chunk_id, task.attempt, task.bucket, task.indices)
    comm.Send([buf, MPI.INT64_T], dest=rank, tag=msg.TAG_ASSIGN)
