"""``hpcfold screen`` under faults, with the null docking kernel (seconds, no JAX):
a second screen on the same output, kill -9 plus a damaged part, a changed feature store,
a SIGSTOPped worker rank. Every ligand must come out exactly once."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from null_screen import check_exactly_once, make_features, run, spawn, write_config
from test_results_faults import damage

from hpcfold.store.results_io import list_parts

N = 60
pytestmark = pytest.mark.mpi


def _wait(cond, proc, timeout=60.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.02)


def test_second_screen_on_one_output_is_refused(tmp_path):
    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path)
    out = tmp_path / "s.h5"
    first = spawn(cfg, HPCFOLD_TEST_CHUNK_DELAY="0.15")
    _wait(lambda: len(list_parts(str(out))) >= 3, first)
    second = run(cfg)
    assert second.returncode == 2, second.stderr[-2000:]
    line = [x for x in second.stderr.splitlines() if "in use by another" in x]
    assert line and f"pid {first.pid} on" in line[0] and "started" in line[0], second.stderr
    assert "delete" in line[0] and "s.h5.lock" in line[0]
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-3000:]
    check_exactly_once(out, N)
    assert not os.path.exists(str(out) + ".lock")  # released at the end


def test_kill9_then_damaged_parts_then_rerun(tmp_path):
    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path)
    out = tmp_path / "s.h5"
    proc = spawn(cfg, HPCFOLD_TEST_CHUNK_DELAY="0.1")
    _wait(lambda: len(list_parts(str(out))) >= 6, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    parts = [p for _, p in list_parts(str(out))]
    with open(parts[-1], "r+b") as fh:  # truncated, as a crash mid-write on some file systems
        fh.truncate(os.path.getsize(parts[-1]) // 2)
    damage(parts[-2])  # zeroed bytes inside the poses: HDF5 still opens it
    proc = run(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("is corrupt") == 2, proc.stderr[-3000:]
    aside = sorted(n for n in os.listdir(str(out) + ".parts") if n.endswith(".corrupt"))
    assert aside == sorted(os.path.basename(p) + ".corrupt" for p in parts[-2:])
    check_exactly_once(out, N)


def test_changed_feature_store_is_refused(tmp_path):
    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path)
    assert run(cfg).returncode == 0
    os.unlink(tmp_path / "lib.h5")
    for name in os.listdir(tmp_path / "lib.h5.shards"):  # rebuilt at the same path
        path = tmp_path / "lib.h5.shards" / name
        os.unlink(path) if path.is_file() else None
    make_features(tmp_path / "lib.h5", N, id_prefix="M")
    proc = run(cfg)
    assert proc.returncode == 2
    assert "holds results for another feature store" in proc.stderr
    assert "another output path or delete" in proc.stderr


def _rank_pids(mpiexec: psutil.Process) -> dict[int, psutil.Process]:
    out = {}
    for p in mpiexec.children(recursive=True):
        try:
            rank = p.environ().get("PMI_RANK")
            if rank is not None and "python" in p.name():
                out[int(rank)] = p
        except psutil.Error:
            pass
    return out


def test_sigstopped_worker_is_excluded_and_the_job_finishes(tmp_path):
    """Rank 2 stops; after the hang timeout its chunks go to rank 1. It is then woken up, so
    its late result arrives too: dropped, never stored twice."""
    import subprocess

    from null_screen import env, screen_cmd

    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path, chunk=2, extra="worker_timeout: 2\n")
    out = tmp_path / "s.h5"
    log = tmp_path / "screen.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(screen_cmd(cfg, 3), env=env(HPCFOLD_TEST_CHUNK_DELAY="0.15"),
                                stdout=fh, stderr=fh)  # fmt: skip
    _wait(lambda: len(list_parts(str(out))) >= 4, proc)
    ranks = _rank_pids(psutil.Process(proc.pid))
    assert sorted(ranks) == [0, 1, 2]
    ranks[2].send_signal(signal.SIGSTOP)
    try:
        _wait(lambda: "excluded" in log.read_text(), proc, timeout=30)
    finally:
        ranks[2].send_signal(signal.SIGCONT)  # wakes up: its chunk's result is now late
    proc.wait(timeout=90)
    err = log.read_text()
    assert proc.returncode == 0, err[-3000:]
    assert "rank 2 silent for" in err and "excluded" in err, err[-3000:]
    assert "waiting for chunk" in err
    assert "dropped a late message" in err and "from excluded rank 2" in err
    check_exactly_once(out, N)


def test_dock_error_ligands_are_docked_once_more_on_resume(tmp_path):
    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path)
    out = tmp_path / "s.h5"
    proc = run(cfg, HPCFOLD_TEST_FAIL_CHUNK="1")  # chunk 1 raises twice: 4 DOCK_ERROR
    assert proc.returncode == 0, proc.stderr[-3000:]
    from hpcfold.store.results import open_results

    def reasons():
        with open_results(str(out)) as v:
            return v.table["reason_name"].tolist().count("DOCK_ERROR")

    assert reasons() == 4
    proc = run(cfg, HPCFOLD_TEST_FAIL_CHUNK="1")  # still failing: retried once, kept failed
    assert proc.returncode == 0 and "4 ligands whose chunk raised twice" in proc.stderr
    assert reasons() == 4
    proc = run(cfg)  # retried already: nothing more to do
    assert proc.returncode == 0 and "raised twice (DOCK_ERROR)" not in proc.stderr
    assert "0 to dock" in proc.stderr and reasons() == 4
    check_exactly_once(out, N)


def test_dock_error_retry_succeeds(tmp_path):
    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path)
    out = tmp_path / "s.h5"
    assert run(cfg, HPCFOLD_TEST_FAIL_CHUNK="1").returncode == 0
    proc = run(cfg)  # the kernel no longer raises: the 4 ligands get results
    assert proc.returncode == 0, proc.stderr[-3000:]
    rep = check_exactly_once(out, N)
    assert rep["failed"] == sum(i % 7 == 3 for i in range(N))  # only prep's failures left


def test_pose_policy_keeps_scores_for_all_and_poses_for_hits(tmp_path):
    from hpcfold.store.results import open_results

    make_features(tmp_path / "lib.h5", N)
    cfg = write_config(tmp_path, extra="keep_poses: best\nhit_threshold: -8.0\n")
    out = tmp_path / "s.h5"
    proc = run(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_exactly_once(out, N)  # every ligand has its score
    with open_results(str(out)) as v:
        t = v.table
        ok = t["status_code"] == 0
        hit = ok & (t["affinity"] <= -8.0)
        assert 0 < hit.sum() < ok.sum()
        assert (t["n_poses"][hit] == 1).all() and (t["n_poses"][ok & ~hit] == 0).all()
        i = int(t["index"][hit][0])
        coords, aff = v.poses(i)
        assert coords.shape[0] == 1 and aff[0] == t["affinity"][hit][0]
        assert v.meta["keep_poses"] == "best" and v.meta["hit_threshold"] == -8.0
