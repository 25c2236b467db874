"""Rank 0: a dynamic work queue of ligand chunks handed to worker ranks on request.

``WorkQueue`` is the policy (pure Python, tested without MPI): chunks go out in the given order
(largest bucket first), a chunk that raised is retried once on another rank (the same rank when
it is the only worker), then its ligands are failed. A worker holds at most ``MAX_AHEAD`` chunks
(one in the kernel, one read ahead): MPI workers ask for that many once, then every result they
send asks for one more, so a chunk costs one message each way. ``run_scheduler`` is the MPI
loop: it waits with ``Iprobe``, polling for a fraction of a millisecond after each message and
then with an exponential back-off sleep (MPICH's blocking receives busy-poll a core), so rank 0
leaves the cores to the workers. This module never imports JAX.

A worker that holds chunks and stays silent longer than the *hang timeout* is excluded: its
chunks go back to the front of the queue for the other ranks (same attempt: a hang is not the
chunk's fault), anything it sends later is dropped, and the job does not wait for it. The
timeout is fixed (``worker_timeout`` > 0) or derived from the gaps observed between a rank's
results: ``max(60 s, 10 x the longest gap so far)``, and 600 s before any result came back (the
first chunk of a rank compiles the kernel).
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
HANG_MIN_S = 60.0  # the derived hang timeout is at least this
HANG_FACTOR = 10.0  # ... and this many times the longest gap between a rank's results
HANG_FIRST_S = 600.0  # before any result: the first chunk compiles the kernel


@dataclasses.dataclass
class Task:
    """One chunk of ligands (global feature-store indices) and its attempt number."""

    chunk_id: int
    bucket: int
    indices: np.ndarray  # (k,) int64
    attempt: int = 0
    avoid: int = -1  # rank that already failed this chunk


class TaskStream:
    """Pending tasks generated on demand (``popleft``, truth value), so rank 0 never holds
    every chunk's indices: ``tasks`` is any iterator of ``Task``."""

    def __init__(self, tasks):
        self._it = iter(tasks)
        self._next = next(self._it, None)

    def __bool__(self) -> bool:
        return self._next is not None

    def popleft(self) -> Task:
        if self._next is None:
            raise IndexError("no more tasks")
        task, self._next = self._next, next(self._it, None)
        return task


class WorkQueue:
    """Hand-out policy. ``request``/``complete`` return the assignments to send now:
    a list of ``(rank, Task | None)`` where ``None`` tells the rank to stop."""

    def __init__(self, tasks: Sequence[Task] | TaskStream, workers: Sequence[int]):
        self.pending = tasks if isinstance(tasks, TaskStream) else collections.deque(tasks)
        self.retry: collections.deque[Task] = collections.deque()
        self.in_flight: dict[int, tuple[Task, int]] = {}
        self.waiting: list[int] = []
        self.workers = list(workers)
        self.stopped: set[int] = set()
        self.excluded: set[int] = set()
        self.n_handed = 0
        self.n_held: dict[int, int] = {}
        self.heard: dict[int, float] = {}  # rank -> when it last sent or got its first chunk
        self.slowest = 0.0  # longest gap observed between two messages of a busy rank

    def heard_from(self, rank: int, now: float) -> None:
        """A message from ``rank`` arrived at ``now`` (monotonic seconds)."""
        if self.n_held.get(rank, 0) and rank in self.heard:
            self.slowest = max(self.slowest, now - self.heard[rank])
        self.heard[rank] = now

    def hang_timeout(self, fixed: float = 0.0) -> float:
        """Seconds of silence after which a busy worker counts as hung (see module doc)."""
        if fixed > 0:
            return fixed
        if self.slowest <= 0:
            return HANG_FIRST_S
        return max(HANG_MIN_S, HANG_FACTOR * self.slowest)

    def silent(self, now: float, timeout: float) -> list[tuple[int, float]]:
        """(rank, seconds silent) of the ranks holding chunks that were silent > timeout."""
        return [
            (r, now - self.heard.get(r, now))
            for r, n in self.n_held.items()
            if n and r not in self.excluded and now - self.heard.get(r, now) > timeout
        ]

    def oldest(self, now: float) -> tuple[int, int, float] | None:
        """(chunk_id, rank, seconds since that rank was last heard) of the longest wait."""
        best = None
        for chunk_id, (_, rank) in self.in_flight.items():
            age = now - self.heard.get(rank, now)
            if best is None or age > best[2]:
                best = (chunk_id, rank, age)
        return best

    def exclude(self, rank: int) -> tuple[list[Task], list]:
        """Give up on ``rank`` (hung): its chunks go back to the front of the queue.
        Returns (the reassigned tasks, assignments to send now)."""
        self.excluded.add(rank)
        self.stopped.add(rank)
        back = [t for cid, (t, r) in list(self.in_flight.items()) if r == rank]
        for t in back:
            del self.in_flight[t.chunk_id]
        self.n_held[rank] = 0
        self.waiting = [r for r in self.waiting if r != rank]
        for t in reversed(back):
            self.retry.appendleft(dataclasses.replace(t, avoid=rank))
        if len(self.excluded) >= len(self.workers) and not self.finished:
            raise RuntimeError(
                f"every worker rank is unresponsive ({sorted(self.excluded)}); chunks "
                "are left undocked: rerun to resume"
            )
        return back, self._dispatch()

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
                if not self.n_held.get(rank, 0):  # busy from now: its silence counts
                    self.heard[rank] = time.monotonic()
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
    hang_timeout: float = 0.0,
    on_wait: Callable[[str], None] = lambda text: None,
) -> dict[int, dict]:
    """Serve ``queue`` to the other ranks of ``comm`` until every worker has stopped.

    ``on_result(task, items, info, error, state)`` is called for each chunk that comes back
    (``state`` from ``WorkQueue.complete``: "done", "retry" or "failed"). Returns each worker's
    final statistics (its ``TAG_FINAL`` message) by rank. ``stats``, when given, receives
    ``messages``, ``busy_s`` (wall seconds spent handling messages, writes included) and
    ``cpu_s`` (rank 0's CPU seconds for the same, sampled on every 8th message: reading a
    thread's CPU clock is a system call, ~1.6 us here; the scheduler's capacity is
    ``handouts / cpu_s``; wall time also counts the OS running other ranks on rank 0's core)
    and ``max_stall_s`` (the longest single message handling, commits and compactions
    included: no chunk was handed out meanwhile).
    After a message rank 0 polls for ``spin`` seconds before it starts sleeping: at high rates
    (thousands of ranks) the next result is usually there by then, and a rank 0 that slept
    wakes up cold (measured ~2x its CPU per chunk); idle, it costs ``spin`` per chunk.

    ``hang_timeout`` (0: derived, see the module doc) excludes silent workers; ``on_wait``
    receives what the job waits for (the oldest chunk in flight), for the progress line.
    Returns the finals of the ranks that finished (excluded ranks have none).
    """
    from mpi4py import MPI

    status = MPI.Status()
    reqbuf = np.zeros(2, np.int64)
    finals: dict[int, dict] = {}
    sleep = busy = cpu = longest = 0.0
    n_msg = n_sampled = 0
    clock, cpu_clock = time.perf_counter, time.thread_time
    iprobe, recv, any_src, any_tag = comm.Iprobe, comm.Recv, MPI.ANY_SOURCE, MPI.ANY_TAG
    n_workers = len(queue.workers)
    last = clock()
    next_check = time.monotonic() + 0.5

    def check_hangs() -> None:
        now = time.monotonic()
        for rank, quiet in queue.silent(now, queue.hang_timeout(hang_timeout)):
            back, sends = queue.exclude(rank)
            LOG.warning(
                "rank %d silent for %.0f s (hang timeout %.0f s): excluded, its chunks %s go "
                "to other ranks", rank, quiet, queue.hang_timeout(hang_timeout),
                [t.chunk_id for t in back],
            )  # fmt: skip
            for r, new_task in sends:
                send_assignment(comm, r, new_task)
        old = queue.oldest(now)  # said once the wait is long (5 s, or half the timeout)
        long = min(5.0, 0.5 * queue.hang_timeout(hang_timeout))
        on_wait("" if old is None or old[2] < long else
                f"waiting for chunk {old[0]} on rank {old[1]} ({old[2]:.0f} s)")  # fmt: skip

    while len(finals) + len(queue.excluded - set(finals)) < n_workers:
        if not iprobe(any_src, any_tag, status):
            if clock() - last < spin:
                continue
            tick()
            if time.monotonic() > next_check:
                check_hangs()
                next_check = time.monotonic() + 0.5
            time.sleep(sleep)
            sleep = min(max(2 * sleep, 5e-5), max_sleep)
            continue
        t0 = clock()
        sample = not n_msg & 7
        c0 = cpu_clock() if sample else 0.0
        sleep = 0.0
        n_msg += 1
        src, tag = status.source, status.tag
        if src in queue.excluded:  # a late message of a rank given up on: dropped
            buf = np.empty(status.count, np.uint8)
            recv([buf, MPI.BYTE], source=src, tag=tag)
            LOG.warning("dropped a late message (tag %d) from excluded rank %d", tag, src)
            continue
        queue.heard_from(src, time.monotonic())
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
        longest = max(longest, last - t0)  # rank 0 handed nothing out meanwhile
        if sample:
            cpu += cpu_clock() - c0
            n_sampled += 1
        if not n_msg & 255:  # at high rates rank 0 may never go to sleep: the bar still moves
            tick()
            if time.monotonic() > next_check:
                check_hangs()
                next_check = time.monotonic() + 0.5
    if stats is not None:
        stats.update(messages=n_msg, busy_s=busy, cpu_s=cpu * n_msg / max(n_sampled, 1),
                     max_stall_s=longest)  # fmt: skip
    return finals


def send_assignment(comm, rank: int, task: Task | None) -> None:
    from mpi4py import MPI

    if task is None:
        buf = msg.encode_assign(msg.STOP, 0, -1, np.zeros(0, np.int64))
    else:
        buf = msg.encode_assign(task.chunk_id, task.attempt, task.bucket, task.indices)
    comm.Send([buf, MPI.INT64_T], dest=rank, tag=msg.TAG_ASSIGN)
