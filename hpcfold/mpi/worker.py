"""Worker loop: fetch chunks ahead of time, run the docking kernel, send results to rank 0.

A fetcher thread receives the next chunk (``MPIChannel``: two are asked for at start, then each
result sent asks for one more) and reads its ligands from the feature store
while the current chunk runs in the kernel (JAX releases the GIL), so the device does not wait
on I/O; it keeps exactly one chunk ready. The kernel is a plain function argument
``kernel(records) -> list[DockResult | Failure]`` (``engine.dock_ligands`` bound to a context in
production, anything in tests), built by ``make_kernel() -> (kernel, device label)`` in the
main thread when the first chunk arrives, while the fetcher already reads the next one (a rank
that gets no work never starts JAX).

Test hooks (environment variables read by every worker; for tests and fault drills only):

- ``HPCFOLD_TEST_FAIL_CHUNK=3,7``: the kernel raises on chunks 3 and 7 (every attempt), so their
  ligands end up failed with ``Reason.DOCK_ERROR``.
- ``HPCFOLD_TEST_FAIL_ONCE=3``: chunk 3 raises on its first attempt only (the retry succeeds).
- ``HPCFOLD_TEST_DIE_CHUNK=3``: the rank that gets chunk 3 kills itself with SIGKILL, like
  the kernel's OOM killer or a crashed node; the launcher then ends the job (MPICH prints its
  BAD TERMINATION banner for a rank killed by a signal; for a plain non-zero exit it often
  ends the job silently).
- ``HPCFOLD_TEST_CHUNK_DELAY=0.5``: sleep this long before each chunk (slows a job down).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue as queue_mod
import signal
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from hpcfold.mpi import messages as msg
from hpcfold.mpi.scheduler import MAX_AHEAD, Task, WorkQueue

LOG = logging.getLogger("hpcfold")
Kernel = Callable[[list], list]


@dataclasses.dataclass(frozen=True)
class TestHooks:
    """Fault injection read from ``HPCFOLD_TEST_*`` environment variables (see module doc)."""

    fail_chunks: frozenset[int] = frozenset()
    fail_once: frozenset[int] = frozenset()
    die_chunks: frozenset[int] = frozenset()
    delay: float = 0.0

    __test__ = False  # not a pytest class

    @classmethod
    def from_env(cls, env=os.environ) -> TestHooks:
        def ids(name: str) -> frozenset[int]:
            return frozenset(int(x) for x in env.get(name, "").split(",") if x.strip())

        return cls(
            fail_chunks=ids("HPCFOLD_TEST_FAIL_CHUNK"),
            fail_once=ids("HPCFOLD_TEST_FAIL_ONCE"),
            die_chunks=ids("HPCFOLD_TEST_DIE_CHUNK"),
            delay=float(env.get("HPCFOLD_TEST_CHUNK_DELAY", "0") or 0),
        )

    def before_kernel(self, task: Task, rank: int) -> None:
        if self.delay:
            time.sleep(self.delay)
        if task.chunk_id in self.die_chunks:
            sys.stderr.write(f"hpcfold: rank {rank}: test hook: dying on chunk {task.chunk_id}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if task.chunk_id in self.fail_chunks or (
            task.chunk_id in self.fail_once and task.attempt == 0
        ):
            raise RuntimeError(f"test hook: chunk {task.chunk_id} fails (attempt {task.attempt})")


class MPIChannel:
    """Worker side of the protocol with rank 0 (waits with Iprobe + back-off, no busy loop)."""

    def __init__(self, comm, max_sleep: float = 0.002):
        from mpi4py import MPI

        self.MPI, self.comm, self.max_sleep = MPI, comm, max_sleep
        self.rank = comm.Get_rank()
        self.asked = False

    def next_task(self) -> Task | None:
        """The next assignment from rank 0. The first call asks for ``MAX_AHEAD`` chunks;
        afterwards every result sent asks for one more (``send_result``)."""
        MPI, comm = self.MPI, self.comm
        if not self.asked:
            req = np.array([self.rank, MAX_AHEAD], np.int64)
            comm.Send([req, MPI.INT64_T], dest=0, tag=msg.TAG_REQUEST)
            self.asked = True
        status, sleep = MPI.Status(), 0.0
        while not comm.Iprobe(source=0, tag=msg.TAG_ASSIGN, status=status):
            time.sleep(sleep)
            sleep = min(max(2 * sleep, 2e-5), self.max_sleep)
        buf = np.empty(status.Get_count(MPI.INT64_T), np.int64)
        comm.Recv([buf, MPI.INT64_T], source=0, tag=msg.TAG_ASSIGN)
        chunk_id, attempt, bucket, indices = msg.decode_assign(buf)
        return None if chunk_id == msg.STOP else Task(chunk_id, bucket, indices, attempt)

    def send_result(self, task: Task, items, info: dict, error: str | None) -> None:
        buf = msg.encode_result(items, info, error)
        self.comm.Send([buf, self.MPI.BYTE], dest=0, tag=msg.TAG_RESULT)

    def send_final(self, stats: dict) -> None:
        self.comm.Send([msg.encode_json(stats), self.MPI.BYTE], dest=0, tag=msg.TAG_FINAL)


class LocalChannel:
    """In-process channel: rank 0 alone runs the worker against the queue directly."""

    def __init__(self, queue: WorkQueue, on_result, tick: Callable[[], None] = lambda: None):
        self.queue, self.on_result, self.tick = queue, on_result, tick
        self.cond = threading.Condition()
        self.mailbox: list[Task | None] = []
        self.final: dict | None = None

    def _post(self, sends) -> None:
        for _rank, task in sends:
            self.mailbox.append(task)
        self.cond.notify_all()

    def next_task(self) -> Task | None:
        with self.cond:
            self._post(self.queue.request(0))
            while not self.mailbox:
                self.cond.wait()
            return self.mailbox.pop(0)

    def send_result(self, task: Task, items, info: dict, error: str | None) -> None:
        with self.cond:
            state, sends = self.queue.complete(task.chunk_id, 0, ok=error is None)
            self._post(sends)
        self.on_result(task, items, info, error, state)
        self.tick()

    def send_final(self, stats: dict) -> None:
        self.final = stats


def run_worker(
    channel,
    make_kernel: Callable[[], tuple[Kernel, str]],
    read: Callable[[np.ndarray], list],
    rank: int,
    hooks: TestHooks | None = None,
    extra_stats: dict | None = None,
) -> dict:
    """Process chunks until rank 0 says stop; returns (and sends) this rank's statistics.

    ``read(indices) -> list[LigandRecord]`` runs in the fetcher thread; a chunk whose read or
    kernel raises is reported to rank 0 as an error (retried once, then failed). Anything else
    that goes wrong (a broken channel) raises, and the caller aborts the job.
    """
    hooks = hooks or TestHooks.from_env()
    host = (extra_stats or {}).get("host", "")
    t_start = time.perf_counter()
    ready: queue_mod.Queue = queue_mod.Queue(maxsize=1)
    taken = threading.Semaphore(0)

    def fetch() -> None:
        try:
            while True:
                task = channel.next_task()
                if task is None:
                    ready.put((None, None))
                    return
                try:
                    records = read(task.indices)
                except Exception as exc:  # noqa: BLE001 - reported as this chunk's error
                    records = exc
                ready.put((task, records))
                taken.acquire()  # keep one chunk ready, not more
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            ready.put((exc, None))

    fetcher = threading.Thread(target=fetch, name="hpcfold-fetch", daemon=True)
    fetcher.start()
    kernel, device = None, ""
    kernel_s = wait_s = 0.0
    n_ligands = n_chunks = n_errors = 0
    first_result_s = None
    t_prev = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        task, records = ready.get()
        wait_s += time.perf_counter() - t0
        if task is None:
            break
        if isinstance(task, BaseException):
            raise RuntimeError(f"rank {rank}: fetching work failed") from task
        taken.release()
        if kernel is None:  # built once work arrived (meanwhile the next chunk is read);
            kernel, device = make_kernel()  # a failure here aborts the job
        error, items = None, None
        t1, t1_unix = time.perf_counter(), time.time()
        try:
            if isinstance(records, Exception):
                raise RuntimeError(f"reading chunk {task.chunk_id} failed: {records}")
            hooks.before_kernel(task, rank)
            items = kernel(records)
            if len(items) != len(task.indices):
                raise RuntimeError(f"kernel returned {len(items)} items for {len(records)}")
        except Exception as exc:  # noqa: BLE001 - the chunk is retried / failed by rank 0
            error, items = f"{type(exc).__name__}: {exc}", None
            n_errors += 1
            LOG.warning("chunk %d (attempt %d) raised: %s", task.chunk_id, task.attempt, error)
        dt = time.perf_counter() - t1
        kernel_s += dt
        n_chunks += 1
        n_ligands += len(task.indices) if error is None else 0
        now = time.perf_counter()
        wall = now - t_start
        if first_result_s is None:
            first_result_s = wall
        info = {"chunk_id": task.chunk_id, "attempt": task.attempt, "rank": rank,
                "device": device, "host": host, "t_start": t1_unix, "t_done": time.time(),
                "busy_s": dt, "wall_s": now - t_prev, "busy": kernel_s / max(wall, 1e-9)}  # fmt: skip
        t_prev = now
        channel.send_result(task, items, info, error)
    fetcher.join()
    wall = time.perf_counter() - t_start
    stats = {
        "rank": rank,
        "device": device,
        "ligands": n_ligands,
        "chunks": n_chunks,
        "errors": n_errors,
        "kernel_s": kernel_s,
        "wait_s": wait_s,
        "wall_s": wall,
        "busy": kernel_s / wall if wall > 0 else 0.0,
        "first_result_s": first_result_s,
        **(extra_stats or {}),
    }
    channel.send_final(stats)
    return stats
