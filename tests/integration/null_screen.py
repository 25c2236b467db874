"""Helpers for screens with the null docking kernel: a synthetic feature store and a config.

The feature store is written with the real writer from hand-made records
(tests/store/store_factory.py), so no RDKit and no JAX run; every 7th ligand failed in prep.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent / "store"))
MPIEXEC = pathlib.Path(sys.executable).with_name("mpiexec")

from store_factory import make_item, make_record  # noqa: E402

from hpcfold.store.features import FeatureWriter, finalize  # noqa: E402


def make_features(path: pathlib.Path, n: int, id_prefix: str = "L") -> None:
    """A finalized feature store of ``n`` ligands (ids ``<prefix><i>``)."""
    with FeatureWriter(str(path), 0, "t", ["lib.smi"], batch_size=50) as w:
        for i in range(n):
            item = make_item(i)
            if id_prefix != "L" and hasattr(item, "coords"):
                item = make_record(i, lig_id=f"{id_prefix}{i}")
            w.add((0, i), item)
    finalize(str(path), ["lib.smi"])


def write_config(base: pathlib.Path, name: str = "s", chunk: int = 4, extra: str = ""):
    # a real receptor: the screen checks it before anything runs, the null kernel never docks
    shared = pathlib.Path(os.environ.get("HPCFOLD_SHARED", ROOT.parent / "shared"))
    receptor = shared / "data" / "dude" / "fabp4" / "receptor.pdbqt"
    path = base / f"{name}.yaml"
    path.write_text(
        f"receptor: {receptor}\n"
        "box: {center: [0, 0, 0], size: [20, 20, 20]}\n"
        f"features: {base / 'lib.h5'}\n"
        f"output: {base / (name + '.h5')}\n"
        f"chunk_size: {chunk}\n"
        "progress_interval: 0.5\n"
        "commit_interval: 0\n" + extra
    )
    return path


def env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), HPCFOLD_NULL_KERNEL="1", **extra)


def screen_cmd(config, n: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "hpcfold", "screen", str(config)]
    return cmd if n is None else [str(MPIEXEC), "-n", str(n), *cmd]


def spawn(config, n: int | None = None, **extra) -> subprocess.Popen:
    return subprocess.Popen(screen_cmd(config, n), env=env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def run(config, n: int | None = None, timeout: float = 120, **extra):
    return subprocess.run(screen_cmd(config, n), env=env(**extra), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def check_exactly_once(out: pathlib.Path, n: int) -> dict:
    """Every ligand exactly once, and each ok one with its null-kernel score."""
    from hpcfold.mpi.null_kernel import null_affinity
    from hpcfold.store.results import open_results, validate_results

    rep = validate_results(str(out))
    assert rep["valid"], rep["errors"]
    assert (rep["total"], rep["missing"], rep["duplicates"]) == (n, 0, 0), rep
    with open_results(str(out)) as v:
        t = v.table
        assert t["index"].tolist() == list(range(n))
        ok = t["status_code"] == 0
        want = np.array([null_affinity(i) for i in t["lig_id"][ok]], np.float32)
        assert np.array_equal(t["affinity"][ok], want)
    return rep
