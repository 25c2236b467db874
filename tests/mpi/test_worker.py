"""Worker loop in-process (LocalChannel): prefetch, retries, failures, test hooks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hpcfold.mpi.scheduler import Task, WorkQueue
from hpcfold.mpi.worker import LocalChannel, TestHooks, run_worker
from hpcfold.types import DockResult


def result(i: int) -> DockResult:
    z = np.full(1, float(i), np.float32)
    return DockResult(f"L{i}", np.zeros((1, 2, 3), np.float32), z, z, z, np.zeros((1, 5)))


def kernel(records):
    return [result(i) for i in records]


NO_HOOKS = TestHooks()


def run(tasks, kern, read=lambda idx: [int(i) for i in idx], hooks=NO_HOOKS):
    outcomes = []
    queue = WorkQueue(tasks, workers=[0])
    channel = LocalChannel(queue, lambda *a: outcomes.append(a))
    stats = run_worker(channel, lambda: (kern, "cpu:1"), read, 0, hooks=hooks)
    assert channel.final == stats and queue.finished
    return outcomes, stats


def chunks(n: int, k: int = 4) -> list[Task]:
    return [Task(c, 0, np.arange(k * c, k * c + k, dtype=np.int64)) for c in range(n)]


def test_all_chunks_processed_in_order_with_stats():
    outcomes, stats = run(chunks(5), kernel)
    assert [o[0].chunk_id for o in outcomes] == [0, 1, 2, 3, 4]
    assert all(o[3] is None and o[4] == "done" for o in outcomes)
    assert [it.lig_id for o in outcomes for it in o[1]] == [f"L{i}" for i in range(20)]
    assert stats["ligands"] == 20 and stats["chunks"] == 5 and stats["device"] == "cpu:1"
    assert 0.0 <= stats["busy"] <= 1.0 and outcomes[-1][2]["rank"] == 0


def test_next_chunk_is_read_while_the_kernel_runs():
    log = []
    lock = threading.Lock()

    def read(idx):
        with lock:
            log.append(("read", int(idx[0]) // 4, time.perf_counter()))
        return [int(i) for i in idx]

    def slow(records):
        t0 = time.perf_counter()
        time.sleep(0.05)
        with lock:
            log.append(("kernel", records[0] // 4, t0))
        return kernel(records)

    run(chunks(3), slow, read=read)
    reads = {c: t for kind, c, t in log if kind == "read"}
    kernels = {c: t for kind, c, t in log if kind == "kernel"}
    # chunk c+1 was read before chunk c's kernel ended (start + 50 ms)
    assert reads[1] < kernels[0] + 0.05 and reads[2] < kernels[1] + 0.05


def test_failing_chunk_is_retried_then_failed():
    calls = []

    def flaky(records):
        calls.append(records[0])
        if records[0] == 4:  # chunk 1 always raises
            raise ValueError("bad chunk")
        return kernel(records)

    outcomes, stats = run(chunks(3), flaky)
    states = [(o[0].chunk_id, o[0].attempt, o[4]) for o in outcomes]
    assert (1, 0, "retry") in states and (1, 1, "failed") in states
    failed = [o for o in outcomes if o[4] == "failed"][0]
    assert "ValueError: bad chunk" in failed[3] and failed[1] is None
    assert stats["errors"] == 2 and stats["ligands"] == 8 and calls.count(4) == 2


def test_read_error_and_wrong_length_are_chunk_errors():
    def read(idx):
        if idx[0] == 0:
            raise OSError("disk")
        return [int(i) for i in idx]

    outcomes, _ = run(chunks(2), lambda r: kernel(r)[:-1] if r[0] == 4 else kernel(r), read=read)
    errors = {o[0].chunk_id: o[3] for o in outcomes if o[4] == "failed"}
    assert "disk" in errors[0] and "returned 3 items for 4" in errors[1]


def test_hooks_fail_and_fail_once():
    hooks = TestHooks.from_env({"HPCFOLD_TEST_FAIL_CHUNK": "0", "HPCFOLD_TEST_FAIL_ONCE": "2"})
    assert hooks.fail_chunks == {0} and hooks.fail_once == {2} and not hooks.die_chunks
    outcomes, _ = run(chunks(3), kernel, hooks=hooks)
    final = {o[0].chunk_id: o[4] for o in outcomes if o[4] != "retry"}
    assert final == {0: "failed", 1: "done", 2: "done"}


def test_broken_channel_raises():
    class Broken:
        def next_task(self):
            raise ConnectionError("gone")

    with pytest.raises(RuntimeError, match="fetching work failed"):
        run_worker(Broken(), lambda: (kernel, "cpu"), list, 1, hooks=TestHooks())


def test_kernel_is_built_only_when_work_arrives():
    built = []

    def make():
        built.append(1)
        return kernel, "cpu:1"

    channel = LocalChannel(WorkQueue([], workers=[0]), lambda *a: None)
    stats = run_worker(channel, make, list, 0, hooks=NO_HOOKS)
    assert built == [] and stats["chunks"] == 0 and stats["device"] == ""
