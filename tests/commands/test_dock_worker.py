"""The worker plumbing of ``hpcfold dock``: job files without pickle, worker counts, the compile
notice (the docking through workers is tested end to end in test_dock.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from hpcfold.commands import dock_worker
from hpcfold.types import Box, Failure, LigandRecord, Reason


def _same(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert type(x) is type(y) and x == y, f.name


def test_job_round_trip_without_pickle(tmp_path, shared_data):
    from hpcfold import api
    from hpcfold.dock.presets import SearchOptions

    items = api.prepare_ligands(["CC(=O)Nc1ccc(O)cc1 paracetamol", "OC(=O)c1ccccc1 benzoic"])
    rec = api.load_receptor(shared_data / "redock42" / "1hnn" / "receptor.pdbqt")
    box = Box((1.0, 2.0, 3.0), (20.0, 21.0, 22.0))
    opts = SearchOptions(preset="fast", exhaustiveness=3, weights={"gauss1": -0.03})
    path = str(tmp_path / "job.npz")
    dock_worker.write_job(path, rec, box, opts, "/some/cache", items)
    with np.load(path, allow_pickle=False) as z:  # numpy arrays and text only
        back = [dock_worker._get(z, f"r{j}_", LigandRecord) for j in range(int(z["n"]))]
        receptor = dock_worker._get(z, "rec_", type(rec))
        assert str(z["cache_dir"]) == "/some/cache"
    for a, b in zip(items, back, strict=True):
        _same(a, b)
    _same(rec, receptor)
    fail = Failure("x", "src:1", "CC", Reason.DOCK_ERROR, "why")
    dock_worker._save_result(str(tmp_path / "res0.npz"), fail)
    assert dock_worker._load_result(str(tmp_path / "res0.npz")) == fail


def test_worker_counts(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert dock_worker.n_workers(5, 3) == 3  # at most one per ligand
    assert dock_worker.n_workers(2, 10) == 2
    assert dock_worker.n_workers(0, 1) == 1
    assert dock_worker.n_workers(0, 1000) >= 1
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")  # an accelerator batches in one process
    assert dock_worker.n_workers(8, 10) == 1


def test_compile_notice_once_per_kernel_group(tmp_path):
    from hpcfold import api
    from hpcfold.dock.presets import SearchOptions

    items = api.prepare_ligands(["CCO a", "CCCO b", "c1ccccc1CCCCCCCCCCCCCCCC(=O)O c"])
    calls, said = [], []

    def kernel(records):  # stands for engine.dock_ligands: the wrapper is what is tested
        calls.append([r.lig_id for r in records])
        return [Failure(r.lig_id, r.source, r.smiles, Reason.DOCK_ERROR, "x") for r in records]

    opts = SearchOptions(preset="fast")
    run = dock_worker.announcing(kernel, opts, str(tmp_path), said.append)
    assert len(run(items[:2])) == 2 and len(said) == 1
    assert said[0].startswith("compiling the docking kernel for bucket a")
    assert said[0].endswith(f"(first run only; cached in {tmp_path / 'jax'})")
    run(items[:1])
    assert len(said) == 1  # the same kernel again
    run(items[2:])
    assert len(said) == 2  # a larger bucket
    again = dock_worker.announcing(kernel, opts, str(tmp_path), said.append)
    again(items)
    assert len(said) == 2 and calls[-1] == ["a", "b", "c"]  # cached: no notice in a new process
    quiet = dock_worker.announcing(kernel, dataclasses.replace(opts, compile_cache=""), "",
                                   said.append)  # fmt: skip
    quiet(items[:1])
    assert said[-1].endswith("(not cached: the compilation cache is disabled)")
