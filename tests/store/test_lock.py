"""The one-writer lock: refusal naming the holder, stale take-over, loss detection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from hpcfold.errors import UserError
from hpcfold.store import lock as lock_mod
from hpcfold.store.lock import StoreLock, read_holder


def _fake_holder(path: str, **kw) -> None:
    data = {"host": "elsewhere", "pid": 123, "token": "x", "what": "hpcfold screen",
            "t_start": time.time() - 100, "t_beat": time.time(), **kw}  # fmt: skip
    with open(path + ".lock", "w") as fh:
        json.dump(data, fh)


def test_second_holder_is_refused_with_the_holders_name(tmp_path):
    store = str(tmp_path / "r.h5")
    with StoreLock(store, "hpcfold screen") as a:
        holder = read_holder(store + ".lock")
        assert holder["pid"] == os.getpid() and holder["token"] == a.token
        code = f"from hpcfold.store.lock import StoreLock\nStoreLock({store!r}, 'x').acquire()"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode != 0
        assert f"in use by another hpcfold screen: pid {os.getpid()} on" in proc.stderr
        assert f"delete {store}.lock" in proc.stderr
    assert not os.path.exists(store + ".lock")
    StoreLock(store, "again").acquire().release()  # free again


def test_live_remote_holder_is_refused(tmp_path):
    store = str(tmp_path / "r.h5")
    _fake_holder(store)
    with pytest.raises(UserError, match="pid 123 on elsewhere"):
        StoreLock(store, "x").acquire()


def test_dead_local_pid_is_taken_over(tmp_path):
    store = str(tmp_path / "r.h5")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _fake_holder(store, host=StoreLock(store, "x").host, pid=dead.pid)
    lk = StoreLock(store, "x").acquire()
    assert read_holder(store + ".lock")["token"] == lk.token
    lk.release()


def test_old_heartbeat_is_taken_over_and_the_old_holder_notices(tmp_path, monkeypatch):
    store = str(tmp_path / "r.h5")
    old = StoreLock(store, "old", beat_s=3600, stale_s=7200).acquire()
    data = read_holder(store + ".lock")
    data["t_beat"] = time.time() - 8000  # a holder stalled for hours
    data["host"] = "elsewhere"
    with open(store + ".lock", "w") as fh:
        json.dump(data, fh)
    monkeypatch.setattr(lock_mod, "SETTLE_S", 0.01)
    new = StoreLock(store, "new", beat_s=3600, stale_s=7200).acquire()
    assert read_holder(store + ".lock")["token"] == new.token
    old.refresh()  # its next heartbeat finds another token: it must stop writing
    with pytest.raises(UserError, match="was taken over"):
        old.check()
    old.release()  # does not delete the new holder's lock
    assert read_holder(store + ".lock")["token"] == new.token
    new.release()
    assert read_holder(store + ".lock") is None


def test_heartbeat_refreshes(tmp_path):
    store = str(tmp_path / "r.h5")
    lk = StoreLock(store, "x", beat_s=0.05, stale_s=10).acquire()
    t0 = read_holder(store + ".lock")["t_beat"]
    time.sleep(0.3)
    assert read_holder(store + ".lock")["t_beat"] > t0
    lk.release()
