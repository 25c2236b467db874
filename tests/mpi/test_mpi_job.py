"""The scheduler/worker protocol under a real mpiexec (tiny in-test kernel, a few seconds)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MPIEXEC = pathlib.Path(sys.executable).with_name("mpiexec")
pytestmark = pytest.mark.mpi


def mpirun(n: int, args: list[str], env_extra: dict | None = None, timeout: float = 60):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    cmd = [str(MPIEXEC), "-n", str(n), sys.executable, str(HERE / "fake_job.py"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_chunk_once_with_retry_and_failure(tmp_path):
    out = tmp_path / "out.json"
    env = {"HPCFOLD_TEST_FAIL_CHUNK": "3", "HPCFOLD_TEST_FAIL_ONCE": "5"}
    proc = mpirun(4, [str(out), "40"], env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    final = {o["chunk"]: o for o in data["outcomes"] if o["state"] != "retry"}
    assert sorted(final) == list(range(40))
    assert final[3]["state"] == "failed" and "test hook: chunk 3" in final[3]["error"]
    assert final[5]["state"] == "done" and final[5]["attempt"] == 1
    retries = [o for o in data["outcomes"] if o["state"] == "retry"]
    assert {o["chunk"] for o in retries} == {3, 5}
    for chunk in (3, 5):  # the retry ran on another rank than the first attempt
        first = next(o for o in retries if o["chunk"] == chunk)
        assert final[chunk]["rank"] != first["rank"]
    for c, o in final.items():
        if o["state"] == "done":
            assert o["values"] == [3 * c, 3 * c + 1, 3 * c + 2]
    finals = data["finals"]
    assert sorted(finals) == ["1", "2", "3"]
    assert sum(f["ligands"] for f in finals.values()) == 3 * 39


def test_a_rank_that_dies_ends_the_job(tmp_path):
    proc = mpirun(3, [str(tmp_path / "o.json"), "30"],
                  {"HPCFOLD_TEST_DIE_CHUNK": "4"}, timeout=60)  # fmt: skip
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "test hook: dying on chunk 4" in text
    # the hook dies by SIGKILL (a crash, an OOM kill): the launcher reports it. (For a plain
    # non-zero exit MPICH often cleans up silently, which is why the hook uses a signal.)
    assert re.search(r"BAD TERMINATION|Killed|signal", text), text[-3000:]
    assert not (tmp_path / "o.json").exists()


def test_an_exception_on_one_rank_aborts_all(tmp_path):
    proc = mpirun(3, [str(tmp_path / "o.json"), "30", "2"], timeout=60)
    assert proc.returncode != 0
    assert "fake job: rank 2 on" in proc.stderr and "setup exploded on rank 2" in proc.stderr
    assert "aborting all 3 ranks" in proc.stderr
