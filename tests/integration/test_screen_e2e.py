"""``hpcfold screen`` end to end under a real mpiexec, with real prep and real docking.

One session prepares >= 200 DUD-E FABP4 ligands (small ones, so a single size bucket compiles)
and screens them with the cheapest search that still docks (1 chain, a few Monte-Carlo steps,
BFGS, refinement). The kernels are compiled once into a shared cache ($HPCFOLD_CACHE when
set, else a session folder), later runs load them.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from hpcfold.store.results import open_results, validate_results

ROOT = pathlib.Path(__file__).resolve().parents[2]
MPIEXEC = pathlib.Path(sys.executable).with_name("mpiexec")
pytestmark = [pytest.mark.mpi, pytest.mark.slow]
N_LIGANDS = 206
SEARCH = "{preset: fast, exhaustiveness: 1, n_steps: 2, seed: 11, num_modes: 3}"


def small_ligands(path: pathlib.Path, n: int) -> list[str]:
    """The first ``n`` SMILES lines of small ligands (<= 20 heavy atoms, <= 4 rotatable bonds,
    one fragment): they all land in the smallest size bucket, so one kernel compiles."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    got = []
    for line in path.read_text().splitlines():
        mol = Chem.MolFromSmiles(line.split()[0]) if line.strip() else None
        if mol is None or mol.GetNumHeavyAtoms() > 20 or len(Chem.GetMolFrags(mol)) > 1:
            continue
        if rdMolDescriptors.CalcNumRotatableBonds(mol) <= 4:
            got.append(line)
        if len(got) == n:
            break
    return got


@pytest.fixture(scope="session")
def screen_env(shared_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("screen")
    fabp4 = shared_data / "dude" / "fabp4"
    actives = small_ligands(fabp4 / "actives.smi", 6)
    decoys = small_ligands(fabp4 / "decoys.smi", N_LIGANDS - len(actives))
    assert len(actives) + len(decoys) == N_LIGANDS
    (base / "actives.smi").write_text("\n".join(actives) + "\n")
    (base / "decoys.smi").write_text("\n".join(decoys) + "\n")
    # 24 small decoys and one unparsable SMILES: prep fails it, the screen must report it too
    (base / "few.smi").write_text("\n".join(decoys[:24]) + "\nC1CC(=O unparsable\n")
    cache = os.environ.get("HPCFOLD_CACHE")
    return {
        "base": base,
        "cache": cache or str(base / "cache"),
        "fabp4": shared_data / "dude" / "fabp4",
    }


def write_config(env, name: str, chunk: int, ligands: str, features: str) -> pathlib.Path:
    fabp4 = env["fabp4"]
    path = env["base"] / f"{name}.yaml"
    path.write_text(
        f"receptor: {fabp4 / 'receptor.pdbqt'}\n"
        f"box: {{vina_config: {fabp4 / 'box.txt'}}}\n"
        f"ligands: {ligands}\n"
        f"features: {features}\n"
        f"output: {name}.h5\n"
        f"chunk_size: {chunk}\n"
        f"search: {SEARCH}\n"
        f"device: {{mode: auto, compile_cache: {env['cache']}}}\n"
        f"progress_interval: 1\n"
        f"commit_interval: 0.3\n"
    )
    return path


def screen_cmd(n: int | None, config: pathlib.Path) -> list[str]:
    cmd = [sys.executable, "-m", "hpcfold", "screen", str(config), "-v"]
    return cmd if n is None else [str(MPIEXEC), "-n", str(n), *cmd]


def run(n, config, env_extra=None, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    proc = subprocess.run(screen_cmd(n, config), env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=config.parent)  # fmt: skip
    return proc


def table(path) -> dict:
    with open_results(str(path)) as v:
        t = {k: np.asarray(v) for k, v in v.table.items()}
        t["coords"] = [v.poses(int(i))[0] for i in t["index"]]
    return t


def assert_same_results(a: dict, b: dict, ids=None) -> None:
    """Bitwise equal per ligand id (on ``ids`` when given)."""
    pos_a = {x: i for i, x in enumerate(a["lig_id"].tolist())}
    pos_b = {x: i for i, x in enumerate(b["lig_id"].tolist())}
    ids = sorted(pos_a) if ids is None else ids
    assert set(ids) <= set(pos_b)
    for lig in ids:
        i, j = pos_a[lig], pos_b[lig]
        for col in ("status", "affinity", "inter", "intra", "terms", "n_poses"):
            assert np.asarray(a[col][i]).tobytes() == np.asarray(b[col][j]).tobytes(), (lig, col)
        assert a["coords"][i].tobytes() == b["coords"][j].tobytes(), lig


def check_complete(path, total: int) -> dict:
    report = validate_results(str(path))
    assert report["valid"], report["errors"]
    assert report["total"] == total and report["duplicates"] == 0 and report["missing"] == 0
    return report


@pytest.fixture(scope="session")
def reference(screen_env):
    """No launcher (rank 0 preps, then docks in-process), chunk 16: compiles the kernels once
    into the cache the later runs load."""
    base = screen_env["base"]
    cfg = write_config(screen_env, "ref", 16, f"[{base / 'actives.smi'}, {base / 'decoys.smi'}]",
                       str(base / "lib.h5"))  # fmt: skip
    proc = run(None, cfg)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"proc": proc, "table": table(base / "ref.h5"), "path": base / "ref.h5"}


def test_n3_matches_n1_and_another_chunk_size(screen_env, reference):
    report = check_complete(reference["path"], N_LIGANDS)
    assert report["ok"] >= N_LIGANDS - 2  # real docking of small, valid ligands
    assert "preparing 2 ligand file(s)" in reference["proc"].stderr
    base = screen_env["base"]
    cfg3 = write_config(screen_env, "n3", 16, "[]", str(base / "lib.h5"))
    proc = run(3, cfg3)
    assert proc.returncode == 0, proc.stderr[-4000:]
    err = proc.stderr
    host = psutil.os.uname().nodename.split(".")[0]
    for r in (1, 2):  # each worker logs its binding; rank 0 only schedules
        assert f"host {host} rank {r}/3 local {r}/3 worker device cpu:" in err
    assert "rank 0/3 local 0/3 scheduler device cpu:" in err and "cores none (sleeps)" in err
    assert "per-rank summary" in err and "busy%" in err
    check_complete(base / "n3.h5", N_LIGANDS)
    with open_results(str(base / "n3.h5")) as v:
        assert set(v.table["rank"].tolist()) == {1, 2}
        assert v.meta["n_ranks"] == 3 and len(v.meta["receptor_sha256"]) == 64
    assert_same_results(reference["table"], table(base / "n3.h5"))
    cfg2 = write_config(screen_env, "chunk7", 7, "[]", str(base / "lib.h5"))
    proc2 = run(2, cfg2)
    assert proc2.returncode == 0, proc2.stderr[-4000:]
    check_complete(base / "chunk7.h5", N_LIGANDS)
    assert_same_results(reference["table"], table(base / "chunk7.h5"))


def few_config(screen_env, name: str, chunk: int = 3) -> pathlib.Path:
    base = screen_env["base"]
    return write_config(screen_env, name, chunk, str(base / "few.smi"), str(base / "few.h5"))


def test_failing_chunk_is_retried_then_failed(screen_env, reference):
    proc = run(3, few_config(screen_env, "fail"), {"HPCFOLD_TEST_FAIL_CHUNK": "2"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    path = screen_env["base"] / "fail.h5"
    check_complete(path, 25)
    t = table(path)
    assert t["reason_name"][t["lig_id"] == "unparsable"].tolist() == ["PARSE_ERROR"]
    bad = t["reason_name"] == "DOCK_ERROR"
    assert bad.sum() == 3 and (t["status"] != "ok").sum() == 4
    assert all("test hook: chunk 2 fails" in m for m in t["message"][bad].tolist())
    assert "retrying once" in proc.stderr and "raised twice" in proc.stderr
    # the other ligands are bitwise those of the reference run (other store, other chunks)
    assert_same_results(t, reference["table"], ids=t["lig_id"][t["status"] == "ok"].tolist())


def kill_job(proc: subprocess.Popen) -> None:
    procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


def test_kill_9_midway_then_resume(screen_env, reference):
    cfg = few_config(screen_env, "killed")
    env = dict(os.environ, PYTHONPATH=str(ROOT), HPCFOLD_TEST_CHUNK_DELAY="0.5")
    log = screen_env["base"] / "killed.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(screen_cmd(3, cfg), env=env, stderr=fh, stdout=fh, cwd=cfg.parent)
        t0 = time.monotonic()
        while log.read_text().count("committed in") < 2:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - t0 < 300, "the screen made no progress"
            time.sleep(0.1)
        kill_job(proc)
    assert proc.returncode != 0
    proc2 = run(3, cfg)
    assert proc2.returncode == 0, proc2.stderr[-4000:]
    assert "already done" in proc2.stderr and " 0 already done" not in proc2.stderr
    check_complete(screen_env["base"] / "killed.h5", 25)
    t = table(screen_env["base"] / "killed.h5")
    assert (t["status"] == "ok").sum() == 24
    assert_same_results(t, reference["table"], ids=t["lig_id"][t["status"] == "ok"].tolist())


def test_dead_rank_aborts_the_job_and_the_rerun_resumes(screen_env, reference):
    cfg = few_config(screen_env, "dead")
    t0 = time.monotonic()
    proc = run(3, cfg, {"HPCFOLD_TEST_DIE_CHUNK": "3"}, timeout=300)
    assert proc.returncode != 0 and time.monotonic() - t0 < 300
    text = proc.stdout + proc.stderr
    assert "test hook: dying on chunk 3" in text
    # the launcher names the lost rank (MPICH: "BAD TERMINATION ... Killed (signal 9)")
    assert re.search(r"BAD TERMINATION|Killed|signal", text), text[-3000:]
    proc2 = run(3, cfg)
    assert proc2.returncode == 0, proc2.stderr[-4000:]
    check_complete(screen_env["base"] / "dead.h5", 25)
    t = table(screen_env["base"] / "dead.h5")
    assert (t["status"] == "ok").sum() == 24
    assert_same_results(t, reference["table"], ids=t["lig_id"][t["status"] == "ok"].tolist())
