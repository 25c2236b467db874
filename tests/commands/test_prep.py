"""``hpcfold prep``: CLI summary, ``mpiexec -n 2`` equals one process, resume after a kill."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hpcfold.cli import main as cli_main
from hpcfold.store.features import FeatureStore, shards_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _library(tmp_path, data, n: int = 24) -> pathlib.Path:
    lines = (data / "dude" / "fabp4" / "decoys.smi").read_text().splitlines()[:n]
    p = tmp_path / "lib.smi"
    p.write_text("\n".join(lines + ["C1CC broken", "[CH3] radical"]) + "\n")
    return p


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _records(path) -> dict[str, tuple]:
    with FeatureStore(str(path)) as store:
        n = store.n_ligands
        failed = {i for i, _ in store.failures()}
        ok = [i for i in range(n) if i not in failed]
        recs = store.read(ok)
        return {
            "ids": store.ids(range(n)),
            "failed": sorted(failed),
            "coords": [r.coords for r in recs],
            "pdbqt": [r.pdbqt for r in recs],
        }


def test_cli_summary_and_options(tmp_path, shared_data, capsys):
    lib = _library(tmp_path, shared_data, n=6)
    out = tmp_path / "lib.h5"
    assert (
        cli_main(["prep", str(lib), "-o", str(out), "--seed", "3", "--max-heavy-atoms", "60"]) == 0
    )
    cap = capsys.readouterr()
    assert cap.out.strip().splitlines()[-1] == "8 ligands: 6 ok, 2 failed"
    assert "ligands/s" in cap.err
    # rerun: nothing to do, same store
    assert cli_main(["prep", str(lib), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "8 ligands: 6 ok, 2 failed"
    assert cli_main(["prep", str(lib), "-o", str(out), "--max-automorphisms", "0"]) == 2
    assert "max_automorphisms" in capsys.readouterr().err


def _mpiexec() -> str:
    exe = pathlib.Path(sys.executable).parent / "mpiexec"
    assert exe.exists(), f"mpiexec not found next to {sys.executable}"
    return str(exe)


@pytest.mark.mpi
def test_mpiexec_two_ranks_equals_one_process(tmp_path, shared_data):
    lib = _library(tmp_path, shared_data, n=10)
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    cmd = [sys.executable, "-m", "hpcfold", "prep", str(lib), "-q"]
    r1 = subprocess.run(
        cmd + ["-o", str(one)], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert r1.returncode == 0, r1.stderr
    r2 = subprocess.run([_mpiexec(), "-n", "2"] + cmd + ["-o", str(two)], env=_env(),
                        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.strip() == "12 ligands: 10 ok, 2 failed"  # printed once, by rank 0
    assert len([n for n in os.listdir(shards_dir(two)) if n.endswith(".h5")]) == 2
    a, b = _records(one), _records(two)
    assert a["ids"] == b["ids"] and a["failed"] == b["failed"]
    assert a["pdbqt"] == b["pdbqt"]
    assert all(np.array_equal(x, y) for x, y in zip(a["coords"], b["coords"]))


@pytest.mark.mpi
def test_mpiexec_missing_input_fails_cleanly(tmp_path):
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "hpcfold", "prep",
           str(tmp_path / "missing.smi"), "-o", str(tmp_path / "x.h5")]  # fmt: skip
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "ligand file not found" in r.stderr


def test_resume_after_kill_duplicates_nothing(tmp_path, shared_data):
    lib = _library(tmp_path, shared_data, n=24)
    out = tmp_path / "lib.h5"
    cmd = [sys.executable, "-m", "hpcfold", "prep", str(lib), "-o", str(out), "-q",
           "--commit-every", "3"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sdir = pathlib.Path(shards_dir(out))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # wait for two commits
        if sdir.is_dir() and len(list(sdir.rglob("seg-*.h5"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "prep finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # killed before finalize
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "26 ligands: 24 ok, 2 failed"
    resumed = _records(out)
    assert len(set(resumed["ids"])) == 26 and not any("#" in i for i in resumed["ids"])
    expected = [ln.split()[1] for ln in lib.read_text().splitlines()]
    assert resumed["ids"] == expected  # every record once, in file order


@pytest.mark.parametrize("lines,total", [([], 0), (["# only a comment", ""], 0),
                                         (["C1CC bad1", "[Xe] bad2"], 2)])  # fmt: skip
def test_empty_or_all_failed_library_warns_and_exits_1(tmp_path, capsys, lines, total):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines))
    assert cli_main(["prep", str(lib), "-o", str(tmp_path / "lib.h5"), "-q"]) == 1
    out, err = capsys.readouterr()
    assert f"{total} ligands: 0 ok, {total} failed" in out
    want = "no ligand records in" if total == 0 else f"every one of the {total} ligands failed"
    assert err.startswith("warning: ") and want in err
    (tmp_path / "ok.smi").write_text("CCO a\nC1CC bad\n")
    assert cli_main(["prep", str(tmp_path / "ok.smi"), "-o", str(tmp_path / "ok.h5"), "-q"]) == 0
