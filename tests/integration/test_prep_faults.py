"""``hpcfold prep`` under faults: a second prep on one store, an input edited between a
killed prep and its rerun."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMILES = ["CCO ethanol", "c1ccccc1O phenol", "CC(=O)O acetic", "CCN ethylamine", "CCCl cl"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _cmd(lib, out, *extra) -> list[str]:
    return [sys.executable, "-m", "hpcfold", "prep", str(lib), "-o", str(out), "-q", *extra]


def test_second_prep_on_one_store_is_refused(tmp_path):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(SMILES * 4) + "\n")
    out = tmp_path / "lib.h5"
    hold = subprocess.Popen(  # another process holds the store's lock
        [sys.executable, "-c", "import sys, time\nfrom hpcfold.store.lock import StoreLock\n"
         f"StoreLock({str(out)!r}, 'hpcfold prep').acquire()\nprint('held', flush=True)\n"
         "time.sleep(60)"], env=_env(), stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert hold.stdout.readline().strip() == "held"
        r = subprocess.run(_cmd(lib, out), env=_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert f"in use by another hpcfold prep: pid {hold.pid} on" in r.stderr
        assert not os.path.exists(str(out) + ".shards")  # refused before anything was written
    finally:
        hold.kill()
        hold.wait()
    r = subprocess.run(_cmd(lib, out), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr  # the dead holder's lock is taken over
    assert "took over the stale lock" in r.stderr and r.stdout.startswith("20 ligands")


def test_input_edited_between_kill_and_rerun_is_refused(tmp_path):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(SMILES * 8) + "\n")
    out = tmp_path / "lib.h5"
    proc = subprocess.Popen(_cmd(lib, out, "--commit-every", "2"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    sdir = pathlib.Path(str(out) + ".shards")
    t0 = time.monotonic()
    while not list(sdir.rglob("seg-*.h5")):
        assert proc.poll() is None and time.monotonic() - t0 < 120, "prep ended first"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lib.write_text("\n".join(SMILES[::-1] * 8) + "\n")  # other records under the same keys
    r = subprocess.run(_cmd(lib, out), env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "changed since the interrupted prep" in r.stderr and "refused" in r.stderr
    assert "to prepare afresh" in r.stderr
