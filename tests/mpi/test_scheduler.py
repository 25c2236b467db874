"""WorkQueue policy without MPI: order, parking, retry on another rank, stop."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hpcfold.mpi.scheduler import Task, WorkQueue


def tasks(n: int) -> list[Task]:
    return [Task(i, 0, np.arange(3 * i, 3 * i + 3)) for i in range(n)]


def ids(sends):
    return [(r, t.chunk_id if t is not None else None) for r, t in sends]


def test_hands_out_in_order_and_stops_when_all_done():
    q = WorkQueue(tasks(3), workers=[1, 2])
    assert ids(q.request(1)) == [(1, 0)]
    assert ids(q.request(2)) == [(2, 1)]
    assert ids(q.request(1)) == [(1, 2)]
    assert ids(q.request(2)) == []  # parked: work is still in flight
    assert q.complete(0, 1, ok=True) == ("done", [])
    assert q.complete(1, 2, ok=True)[0] == "done"
    state, sends = q.complete(2, 1, ok=True)
    assert state == "done" and ids(sends) == [(2, None)]  # the parked rank is told to stop
    assert ids(q.request(1)) == [(1, None)]
    assert q.finished and q.n_handed == 3 and q.stopped == {1, 2}


def test_failed_chunk_is_retried_once_on_another_rank_then_failed():
    q = WorkQueue(tasks(2), workers=[1, 2])
    q.request(1)  # chunk 0 -> rank 1
    q.request(2)  # chunk 1 -> rank 2
    assert ids(q.request(1)) == []  # parked
    state, sends = q.complete(0, 1, ok=False)
    assert state == "retry" and sends == []  # rank 1 must not get its own failure back
    state, sends = q.complete(1, 2, ok=True)
    assert state == "done" and sends == []
    retry = q.request(2)
    assert ids(retry) == [(2, 0)] and retry[0][1].attempt == 1
    state, sends = q.complete(0, 2, ok=False)
    assert state == "failed" and ids(sends) == [(1, None)]
    assert ids(q.request(2)) == [(2, None)]
    assert q.finished


def test_retry_goes_to_a_parked_other_rank_at_once():
    q = WorkQueue(tasks(1), workers=[1, 2])
    q.request(1)
    assert q.request(2) == []
    state, sends = q.complete(0, 1, ok=False)
    assert state == "retry" and ids(sends) == [(2, 0)]


def test_single_worker_retry_same_rank():
    q = WorkQueue(tasks(2), workers=[0])
    assert ids(q.request(0)) == [(0, 0)]
    assert ids(q.request(0)) == [(0, 1)]
    state, sends = q.complete(0, 0, ok=False)
    assert state == "retry" and sends == []
    state, sends = q.complete(1, 0, ok=True)
    assert ids(q.request(0)) == [(0, 0)]
    assert q.complete(0, 0, ok=True)[0] == "done"
    assert ids(q.request(0)) == [(0, None)]


def test_protocol_errors_raise():
    q = WorkQueue(tasks(1), workers=[1, 2])
    q.request(1)  # gets chunk 0
    assert q.request(1) == []  # asks ahead while chunk 0 runs: parked
    with pytest.raises(RuntimeError, match="twice"):
        q.request(1)
    q2 = WorkQueue(tasks(1), workers=[1, 2])
    q2.request(1)
    with pytest.raises(RuntimeError, match="came back from rank 2"):
        q2.complete(0, 2, ok=True)


def test_empty_queue_stops_everyone():
    q = WorkQueue([], workers=[1, 2])
    assert ids(q.request(1)) == [(1, None)]
    assert ids(q.request(2)) == [(2, None)]


def test_scheduler_side_never_imports_jax():
    code = (
        "import sys, hpcfold.commands.screen, hpcfold.mpi.scheduler, hpcfold.mpi.worker, "
        "hpcfold.mpi.binding, hpcfold.store.features; "
        "print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_credit_protocol_one_message_per_chunk_each_way():
    """MPI workers ask for MAX_AHEAD chunks once; each result then asks for one more."""
    q = WorkQueue(tasks(5), workers=[1, 2])
    assert ids(q.request(1, 2)) == [(1, 0), (1, 1)]
    assert ids(q.request(2, 2)) == [(2, 2), (2, 3)]
    with pytest.raises(RuntimeError, match="twice"):
        q.request(1)  # already holds two chunks
    assert ids(q.complete(0, 1, ok=True, more=True)[1]) == [(1, 4)]
    assert q.complete(2, 2, ok=True, more=True)[1] == []  # parked: nothing left
    assert q.complete(1, 1, ok=True, more=True)[1] == []
    assert q.complete(4, 1, ok=True, more=True)[1] == []
    state, sends = q.complete(3, 2, ok=True, more=True)
    # every rank gets exactly one stop, however many requests it had parked
    assert state == "done" and sorted(ids(sends)) == [(1, None), (2, None)]
    assert q.finished and q.waiting == [] and q.n_handed == 5


def test_credit_protocol_retry_goes_to_the_other_rank():
    q = WorkQueue(tasks(2), workers=[1, 2])
    assert ids(q.request(1, 2)) == [(1, 0), (1, 1)]
    assert q.request(2, 2) == []
    state, sends = q.complete(0, 1, ok=False, more=True)
    assert state == "retry" and ids(sends) == [(2, 0)]
    assert sends[0][1].attempt == 1
    assert q.complete(1, 1, ok=True, more=True)[1] == []
    state, sends = q.complete(0, 2, ok=True, more=True)
    assert sorted(ids(sends)) == [(1, None), (2, None)]


def test_hung_rank_is_excluded_and_its_chunks_go_to_the_others():
    q = WorkQueue(tasks(5), workers=[1, 2])
    assert ids(q.request(1, 2)) == [(1, 0), (1, 1)]
    assert ids(q.request(2, 2)) == [(2, 2), (2, 3)]
    t0 = q.heard[1]
    assert q.silent(t0 + 1.0, timeout=5) == []
    q.heard_from(2, t0 + 3.0)  # rank 2 keeps talking, rank 1 is silent
    state, sends = q.complete(2, 2, ok=True, more=True)
    assert ids(sends) == [(2, 4)]
    assert q.slowest == pytest.approx(3.0, abs=0.5)
    assert q.hang_timeout() == 60.0 and q.hang_timeout(fixed=2.5) == 2.5
    assert [r for r, _ in q.silent(t0 + 6.0, timeout=5)] == [1]
    back, sends = q.exclude(1)
    assert [t.chunk_id for t in back] == [0, 1] and sends == []
    assert 1 in q.stopped and q.silent(t0 + 100, timeout=5) == [(2, pytest.approx(97, 1))]
    _, sends = q.complete(3, 2, ok=True, more=True)  # rank 2 gets rank 1's chunks
    assert ids(sends) == [(2, 0)] and sends[0][1].attempt == 0  # a hang is not a failure
    _, sends = q.complete(4, 2, ok=True, more=True)
    assert ids(sends) == [(2, 1)]
    q.complete(0, 2, ok=True, more=True)
    state, sends = q.complete(1, 2, ok=True, more=True)
    assert state == "done" and ids(sends) == [(2, None)] and q.finished


def test_every_rank_hung_is_an_error_not_a_hang():
    q = WorkQueue(tasks(3), workers=[1])
    q.request(1, 2)
    with pytest.raises(RuntimeError, match="every worker rank is unresponsive"):
        q.exclude(1)


def test_hang_timeout_before_any_result_allows_compilation():
    q = WorkQueue(tasks(2), workers=[1])
    assert q.hang_timeout() == 600.0


def test_task_stream_is_consumed_on_demand():
    from hpcfold.mpi.scheduler import TaskStream

    made = []

    def gen():
        for t in tasks(3):
            made.append(t.chunk_id)
            yield t

    q = WorkQueue(TaskStream(gen()), workers=[1])
    assert made == [0]  # one look-ahead, nothing more
    assert ids(q.request(1, 2)) == [(1, 0), (1, 1)] and made == [0, 1, 2]
    q.complete(0, 1, ok=True, more=True)
    q.complete(1, 1, ok=True, more=True)
    state, sends = q.complete(2, 1, ok=True, more=True)
    assert q.finished and ids(sends) == [(1, None)]
