"""Results store: append, resume, compaction, views, validation."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from store_factory import make_item, make_result

from hpcfold.errors import UserError
from hpcfold.store.features import FeatureWriter, finalize
from hpcfold.store.results import ResultsWriter, open_results, parts_dir, validate_results
from hpcfold.types import DockResult, Failure, Reason

META = {"n_ligands": 60, "receptor_sha256": "f00", "config": "chunk_size: 6\n"}


def _done(w) -> list[int]:
    """Committed ligands, DOCK_ERROR failures included (a resume docks those once more)."""
    return sorted(set(w.done_indices().tolist()) | set(w.retried.tolist()))


def _append(w, lo, hi, rank=1, **info):
    idx = np.arange(lo, hi)
    return w.append(idx, [make_result(i) for i in idx], {"chunk_id": lo, "rank": rank, **info})


def _check_row(view, i):
    want = make_result(i)
    r = view.row_of(i)
    t = view.table
    assert t["lig_id"][r] == f"L{i}"
    coords, aff = view.poses(i)
    if isinstance(want, Failure):
        assert t["status"][r] == "failed" and t["reason"][r] == Reason.DOCK_ERROR
        assert t["message"][r] == want.message and coords.shape[0] == 0
        assert np.isnan(t["affinity"][r])
    else:
        assert t["status"][r] == "ok" and t["reason"][r] == 0
        assert t["affinity"][r] == want.affinity[0] and t["inter"][r] == want.inter[0]
        assert np.array_equal(t["terms"][r], want.terms[0])
        assert np.array_equal(coords, want.coords) and np.array_equal(aff, want.affinity)
        assert t["seconds"][r] == np.float32(want.seconds)


def test_append_view_resume_and_close(tmp_path):
    out = str(tmp_path / "results.h5")
    w = ResultsWriter(out, META)
    for lo in range(0, 30, 6):
        _append(w, lo, lo + 6, rank=1 + lo % 2, device="cpu:0", busy_s=2.0, wall_s=2.5, host="n1")
    # nothing compacted yet (parts are small): a reader sees main + parts, no writer needed
    with open_results(out) as v:
        assert len(v) == 30 and v.n_parts == 6  # 5 chunks + the session record
        assert v.table["index"].tolist() == list(range(30))
        for i in (0, 4, 17, 29):
            _check_row(v, i)
        assert v.meta["config"] == META["config"]
        assert v.table["rank"].tolist()[:7] == [1] * 6 + [1]
        assert set(v.table["device"]) == {"cpu:0"}
    del w  # crash without close
    # resume with another chunk size (keeping its DOCK_ERROR failures, see test_results_faults)
    w = ResultsWriter(out, {**META, "config": "chunk_size: 10\n"}, retry_dock_errors=False)
    assert _done(w) == list(range(30))
    assert w.session == 2
    _append(w, 30, 40, rank=2, seconds=4.0)
    _append(w, 40, 60, rank=1)
    assert w.n_failed() == sum(isinstance(make_result(i), Failure) for i in range(60))
    w.close()
    assert os.listdir(parts_dir(out)) == []
    rep = validate_results(out)
    assert rep["valid"], rep["errors"]
    assert (rep["total"], rep["missing"], rep["duplicates"]) == (60, 0, 0)
    assert rep["failed"] == 12 and rep["ok"] == 48
    with open_results(out) as v:
        assert [s["session"] for s in v.sessions] == [1, 2]
        assert v.sessions[1]["meta"]["config"] == "chunk_size: 10\n"
        for i in range(60):
            _check_row(v, i)
        stats = v.rank_stats()
        assert stats["rank"].tolist() == [1, 2]
        assert stats["ligands"].tolist() == [50, 10]
        assert stats["busy_s"][1] == 4.0  # 'seconds' is an alias of busy_s
        assert 0 < stats["busy_fraction"][0] <= 1
        assert np.all(np.diff(v.chunks["t_done"][v.chunks["n"] > 0]) >= 0)  # time series


def test_compaction_is_amortised_and_keeps_everything(tmp_path):
    out = str(tmp_path / "results.h5")
    meta = {**META, "n_ligands": 400}
    with ResultsWriter(out, meta, min_compact_rows=12) as w:
        for lo in range(0, 400, 8):
            _append(w, lo, lo + 8)
        # main at least doubles between compactions: O(log n) rewrites for 50 appends
        assert 3 <= w.n_compactions <= 7
        assert len(w._live) < 50
    rep = validate_results(out)
    assert rep["valid"] and rep["total"] == 400 and rep["parts"] == 0
    with open_results(out) as v:
        for i in (0, 123, 399):
            _check_row(v, i)


def test_duplicates_and_bad_items(tmp_path):
    out = str(tmp_path / "results.h5")
    with ResultsWriter(out, META) as w:
        _append(w, 0, 5)
        with pytest.warns(UserWarning, match="already stored"):
            assert _append(w, 3, 8) == 3  # 3 and 4 are kept from the first append
        with pytest.raises(ValueError, match="unique"):
            w.append(np.array([9, 9]), [make_result(9), make_result(9)], {})
        with pytest.raises(ValueError, match="indices but"):
            w.append(np.array([9]), [], {})
        nan = make_result(10)
        nan.affinity[1 % len(nan.affinity)] = np.nan
        bad_shape = DockResult("L11", np.zeros((2, 4, 3), np.float32), np.zeros(3, np.float32),
                               np.zeros(3, np.float32), np.zeros(3, np.float32),
                               np.zeros((3, 5), np.float32))  # fmt: skip
        w.append(np.array([10, 11]), [nan, bad_shape], {"smiles": ["CC", "CCC"], "extra_key": 1})
    with open_results(out) as v:
        t = v.table
        assert t["index"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11]
        assert t["reason"][v.row_of(10)] == Reason.NONFINITE_ENERGY
        assert t["reason"][v.row_of(11)] == Reason.INTERNAL_ERROR
        assert t["smiles"][v.row_of(11)] == "CCC"
        assert '"extra_key": 1' in v.chunks["extra"][-1]
        assert v.rank_stats()["ligands"].tolist() == [8]  # the chunk_id -1 append is not docking
    assert validate_results(out)["valid"]


def test_meta_mismatch_and_not_a_store(tmp_path):
    out = str(tmp_path / "results.h5")
    ResultsWriter(out, META).close()
    with pytest.raises(UserError, match="receptor_sha256"):
        ResultsWriter(out, {**META, "receptor_sha256": "other"})
    with pytest.raises(UserError, match="not found"):
        open_results(str(tmp_path / "missing.h5"))


def test_validate_detects_duplicates(tmp_path):
    out = str(tmp_path / "results.h5")
    w = ResultsWriter(out, META)
    _append(w, 0, 6)
    del w  # crash; then duplicate a committed part under a new sequence number
    parts = sorted(os.listdir(parts_dir(out)))
    shutil.copy(os.path.join(parts_dir(out), parts[-1]),
                os.path.join(parts_dir(out), "part-000000999.h5"))  # fmt: skip
    rep = validate_results(out)
    # ligand 4's row is a DOCK_ERROR failure: its copy counts as a retry, not a duplicate
    assert not rep["valid"] and rep["duplicates"] == 5 and rep["total"] == 6
    assert any("duplicate" in e for e in rep["errors"])


def test_stale_parts_after_compaction_crash_are_skipped(tmp_path):
    out = str(tmp_path / "results.h5")
    w = ResultsWriter(out, META, min_compact_rows=1 << 40)
    _append(w, 0, 6)
    saved = {
        n: open(os.path.join(parts_dir(out), n), "rb").read() for n in os.listdir(parts_dir(out))
    }
    w.compact()
    for n, data in saved.items():  # killed after the main replace, before unlinking the parts
        with open(os.path.join(parts_dir(out), n), "wb") as fh:
            fh.write(data)
    rep = validate_results(out)
    assert rep["valid"] and rep["total"] == 6 and rep["parts"] == 0
    del w  # the crash
    open(out + ".999-dead.tmp", "wb").write(b"\x89HDF")  # a compaction killed midway
    w2 = ResultsWriter(out, META)
    assert not os.path.exists(out + ".999-dead.tmp")
    assert _done(w2) == list(range(6))
    assert w2.session == 2  # the stale session record is not counted twice
    w2.close()
    assert validate_results(out)["total"] == 6


def test_smiles_and_id_check_from_feature_store(tmp_path):
    lib = str(tmp_path / "lib.h5")
    with FeatureWriter(lib, 0, "p", ["lib.smi"]) as fw:
        for i in range(12):
            fw.add((0, i), make_item(i))
    finalize(lib, ["lib.smi"])
    out = str(tmp_path / "results.h5")
    with ResultsWriter(out, {"n_ligands": 12, "features": lib}) as w:
        _append(w, 0, 12)
        w.record_stats({"ranks": [{"rank": 1, "busy": 0.9}]})
    rep = validate_results(out)
    assert rep["valid"], rep["errors"]
    with open_results(out) as v:
        assert v.table["smiles"][0] == make_item(0).smiles
        assert v.stats == [{"ranks": [{"rank": 1, "busy": 0.9}]}]
    bad = str(tmp_path / "bad.h5")
    with ResultsWriter(bad, {"n_ligands": 12, "features": lib}) as w:
        idx = np.arange(12)
        items = [make_result(i) for i in idx]
        items[0] = make_result(1)  # lig_id L1 stored at index 0
        w.append(idx, items, {})
    rep = validate_results(bad)
    assert not rep["valid"] and any("differ" in e for e in rep["errors"])


def test_group_commit(tmp_path):
    out = str(tmp_path / "results.h5")
    w = ResultsWriter(out, META, commit_seconds=3600)
    _append(w, 0, 6)
    _append(w, 6, 12)
    assert _done(w) == list(range(12))  # pending counts as done in-session
    assert len(os.listdir(parts_dir(out))) == 1  # only the session record is committed
    assert w.n_pending == 2
    w.flush()
    assert w.n_pending == 0
    _append(w, 12, 18)
    del w  # crash: the last chunk was never committed
    w = ResultsWriter(out, META)
    assert _done(w) == list(range(12))
    _append(w, 12, 18)
    w.close()
    rep = validate_results(out)
    assert rep["valid"] and rep["total"] == 18


def test_large_pose_arrays_are_stored_uncompressed(tmp_path):
    """gzip shrank real pose coordinates 1.25x and was rank 0's largest cost at compaction."""
    import h5py

    from hpcfold.store import results_io

    with h5py.File(tmp_path / "x.h5", "w") as f:
        g = f.create_group("ligands")
        big = (1 << 17, 3)
        assert results_io._create(g, "pose_coords", big, np.float32).compression is None
        assert results_io._create(g, "pose_values", big, np.float32).compression is None
        assert results_io._create(g, "text", (1 << 17,), np.uint8).compression == "gzip"
