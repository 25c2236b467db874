"""kill -9 of a real writer process at arbitrary moments, then resume: nothing lost or doubled.

The child (store_factory.py run as a script) writes ligands in a loop; we SIGKILL it after a
varying delay once it has committed something, check the store is readable and consistent,
and finally rerun it to completion.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
from store_factory import make_item, make_record, make_result, records_equal

from hpcfold.store.features import FeatureStore, completed_keys, finalize, shards_dir
from hpcfold.store.results import open_results, parts_dir, validate_results
from hpcfold.types import Failure

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DELAYS = (0.0, 0.03, 0.11, 0.25)


def _spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, str(HERE / "store_factory.py"), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _kill_when(proc: subprocess.Popen, ready, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` s after ``ready()``; False if it finished first."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None or time.monotonic() - t0 > 60:
            return False
        time.sleep(0.005)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return True


def _n_files(directory: str, suffix: str) -> int:
    n = 0
    for _, _, files in os.walk(directory):
        n += sum(f.endswith(suffix) for f in files)
    return n


def test_feature_writer_survives_kill9(tmp_path):
    out, n = str(tmp_path / "lib.h5"), 400
    kills = 0
    for k, delay in enumerate(DELAYS):
        before = len(completed_keys(out))
        proc = _spawn("features", out, str(n), f"kill{k}")
        kills += _kill_when(proc, lambda b=before: len(completed_keys(out)) > b, delay)
        keys = completed_keys(out)  # readable at every crash point
        assert keys <= {(0, i) for i in range(n)}
    assert kills >= 2
    proc = _spawn("features", out, str(n), "final")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    counts = finalize(out, ["lib.smi"])
    assert counts["total"] == n
    assert _n_files(shards_dir(out), ".tmp") == 0
    with FeatureStore(out) as store:
        assert [tuple(x) for x in store.keys.tolist()] == [(0, i) for i in range(n)]
        assert store.ids(range(n)) == [f"L{i}" for i in range(n)]  # no duplicate -> no rename
        ok = np.flatnonzero(store.status == 0)
        for i, rec in zip(ok[::9], store.read(ok[::9])):
            assert records_equal(rec, make_record(int(i)))
        for i, fail in store.failures():
            assert fail == make_item(i)


def test_results_writer_survives_kill9(tmp_path):
    out, n = str(tmp_path / "results.h5"), 200
    kills = 0
    for delay in DELAYS:
        before = validate_results(out)["total"] if os.path.exists(out) else 0
        proc = _spawn("results", out, str(n))
        kills += _kill_when(proc, lambda p=proc: p.stdout.readline().startswith("committed"), delay)
        rep = validate_results(out)  # consistent at every crash point, no writer open
        assert rep["valid"], rep["errors"]
        assert rep["duplicates"] == 0 and rep["total"] >= before
    assert kills >= 2
    proc = _spawn("results", out, str(n))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    rep = validate_results(out)
    assert rep["valid"], rep["errors"]
    assert (rep["total"], rep["missing"], rep["duplicates"], rep["parts"]) == (n, 0, 0, 0)
    assert not os.listdir(parts_dir(out))
    with open_results(out) as v:
        assert v.table["index"].tolist() == list(range(n))
        for i in range(0, n, 7):
            want = make_result(i)
            coords, aff = v.poses(i)
            if isinstance(want, Failure):
                assert v.table["status"][i] == "failed" and coords.shape[0] == 0
            else:
                assert np.array_equal(coords, want.coords) and np.array_equal(aff, want.affinity)


def test_concurrent_writer_processes_then_concurrent_readers(tmp_path):
    out, n = str(tmp_path / "lib.h5"), 150
    procs = [_spawn("features", out, str(n), "par", str(r), "3") for r in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert finalize(out, ["lib.smi"])["total"] == n
    assert sorted(os.listdir(shards_dir(out))) == [f"r0000{r}-par.h5" for r in range(3)]
    with FeatureStore(out) as store:  # held open here while other processes read too
        readers = [_spawn("read", out, "16") for _ in range(3)]
        n_ok = store.counts()["ok"]
        assert len(store.read(np.flatnonzero(store.status == 0))) == n_ok
        for p in readers:
            text, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert f"read {n_ok}" in text
