"""Results store faults: a full disk during a commit, damaged parts, checksums."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from store_factory import make_result

from hpcfold.errors import UserError
from hpcfold.store import results_io
from hpcfold.store.results import ResultsWriter, parts_dir, validate_results

META = {"n_ligands": 60, "receptor_sha256": "f00"}


def _done(w) -> list[int]:
    """Committed ligands, DOCK_ERROR failures included (a resume docks those once more)."""
    return sorted(set(w.done_indices().tolist()) | set(w.retried.tolist()))


def damage(path: str, byte: bytes = b"\0", n: int = 64) -> None:
    """Overwrite ``n`` bytes inside the pose coordinates of a results file (HDF5 still opens
    it: only a checksum can tell)."""
    import h5py

    with h5py.File(path, "r") as f:
        off = f["ligands/pose_coords"].id.get_offset()
    with open(path, "r+b") as fh:
        fh.seek(off + 8)
        fh.write(byte * n)


def _append(w, lo, hi):
    idx = np.arange(lo, hi)
    return w.append(idx, [make_result(i) for i in idx], {"chunk_id": lo, "rank": 1})


def test_disk_full_during_commit_then_resume(tmp_path, monkeypatch):
    out = str(tmp_path / "r.h5")
    w = ResultsWriter(out, META, min_compact_rows=1 << 40)
    _append(w, 0, 12)
    real = results_io.write_group

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results_io, "write_group", full)
    with pytest.raises(UserError, match="disk full .* everything committed before is intact"):
        _append(w, 12, 18)
    with pytest.raises(UserError, match="disk full"):
        w.close()  # the final compaction hits the full disk too: still a clear error
    assert not [n for n in os.listdir(parts_dir(out)) if n.endswith(".tmp")]
    assert not os.path.exists(out + ".lock")  # released even so
    monkeypatch.setattr(results_io, "write_group", real)
    w = ResultsWriter(out, META)  # the rerun: what was committed is there, the rest is redone
    assert _done(w) == list(range(12))
    _append(w, 12, 60)
    w.close()
    rep = validate_results(out)
    assert rep["valid"] and (rep["total"], rep["duplicates"]) == (60, 0)


def test_zeroed_bytes_in_a_part_are_detected_and_set_aside(tmp_path):
    out = str(tmp_path / "r.h5")
    w = ResultsWriter(out, META, min_compact_rows=1 << 40)
    _append(w, 0, 6)
    _append(w, 6, 12)
    del w  # a crash
    parts = [p for _, p in results_io.list_parts(out)]
    damage(parts[-1])
    rep = validate_results(out)
    assert not rep["valid"] and any("checksum" in e for e in rep["errors"]), rep
    with pytest.warns(UserWarning, match="corrupt results part"):
        w = ResultsWriter(out, META)
    assert _done(w) == list(range(6))  # 6..11 are docked again
    assert os.path.exists(parts[-1] + ".corrupt")
    _append(w, 6, 60)
    w.close()
    rep = validate_results(out)
    assert rep["valid"] and rep["total"] == 60, rep


def test_corrupt_part_found_at_compaction_is_set_aside(tmp_path):
    out = str(tmp_path / "r.h5")
    w = ResultsWriter(out, META, min_compact_rows=1 << 40)
    _append(w, 0, 6)
    part = [p for _, p in results_io.list_parts(out)][-1]
    damage(part, b"\xff")  # bit rot under a live writer
    with pytest.raises(UserError, match="corrupt and is set aside; rerun"):
        w.compact()
    assert os.path.exists(part + ".corrupt")
    w.close()
    w = ResultsWriter(out, META)
    assert _done(w) == []
    w.close()


def test_every_file_carries_checksums_that_verify(tmp_path):
    out = str(tmp_path / "r.h5")
    with ResultsWriter(out, META, min_compact_rows=1 << 40) as w:
        _append(w, 0, 6)
        files = [p for _, p in results_io.list_parts(out)]
        import h5py

        for p in files:
            with h5py.File(p, "r") as f:
                assert results_io.CRC_ATTR in f.attrs and results_io.verify(f) is None
    with h5py.File(out, "r") as f:  # the compacted main file too
        assert results_io.CRC_ATTR in f.attrs and results_io.verify(f) is None


def test_dock_error_is_retried_once_on_resume_then_kept_as_failed(tmp_path):
    from hpcfold.store.results import open_results
    from hpcfold.types import Failure, Reason

    out = str(tmp_path / "r.h5")

    def failed(i: int):
        return Failure(f"L{i}", "", "", Reason.DOCK_ERROR, f"docking raised twice: run {i}")

    def other(i: int):
        return Failure(f"L{i}", "", "", Reason.NONFINITE_ENERGY, "nan")

    with ResultsWriter(out, META) as w:
        w.append(np.arange(4), [failed(0), make_result(1), other(2), failed(3)], {})
    with ResultsWriter(out, META) as w:  # resume: 0 and 3 are docked once more
        assert w.retried.tolist() == [0, 3] and w.n_failed() == 1 and w.n_done() == 2
        w.append([0, 3], [make_result(0), failed(3)], {})  # 0 now docks, 3 fails again
        assert w.n_failed() == 2
    with open_results(out) as v:
        t = v.table
        assert t["index"].tolist() == [0, 1, 2, 3]
        assert t["status"].tolist() == ["ok", "ok", "failed", "failed"]
        assert t["affinity"][0] == make_result(0).affinity[0]
        assert v.duplicates == 0 and v.retried == 2
    with ResultsWriter(out, META) as w:  # retried once already: kept as failed
        assert w.retried.tolist() == [] and w.n_done() == 4 and w.n_failed() == 2
    rep = validate_results(out)
    assert rep["valid"] and (rep["total"], rep["failed"], rep["duplicates"]) == (4, 2, 0), rep


def test_background_compaction_while_commits_go_on(tmp_path):
    out = str(tmp_path / "r.h5")
    w = ResultsWriter(out, META, min_compact_rows=6, background=True)
    for lo in range(0, 60, 3):
        _append(w, lo, lo + 3)  # commits never wait for a compaction to finish
        if lo == 30:  # readers see a consistent store meanwhile
            rep = validate_results(out)
            assert rep["valid"] and rep["duplicates"] == 0 and rep["total"] == 33, rep
    w.close()
    assert w.n_compactions >= 2
    assert os.listdir(parts_dir(out)) == []
    rep = validate_results(out)
    assert rep["valid"] and (rep["total"], rep["duplicates"], rep["parts"]) == (60, 0, 0)


def test_large_store_is_not_rewritten_at_close_for_a_few_parts(tmp_path):
    out = str(tmp_path / "r.h5")
    with ResultsWriter(out, META, min_compact_rows=1 << 40) as w:
        _append(w, 0, 30)
    w = ResultsWriter(out, META, close_compact_rows=10, min_compact_rows=1 << 40)
    _append(w, 30, 33)
    w.close()
    assert w.n_compactions == 0 and len(os.listdir(parts_dir(out))) == 2  # session + chunk
    rep = validate_results(out)
    assert rep["valid"] and rep["total"] == 33


def test_readers_skip_damaged_parts_with_a_warning(tmp_path):
    from hpcfold.store.results import open_results

    out = str(tmp_path / "r.h5")
    w = ResultsWriter(out, META, min_compact_rows=1 << 40)
    for lo in (0, 6, 12):
        _append(w, lo, lo + 6)
    del w  # a crash
    parts = [p for _, p in results_io.list_parts(out)]
    with open(parts[-1], "r+b") as fh:
        fh.truncate(300)
    damage(parts[-2])
    with pytest.warns(UserWarning, match="skipped") as rec:
        with open_results(out) as v:
            assert v.table["index"].tolist() == list(range(6))
    assert {"unreadable", "corrupt"} <= {w_.message.args[0].split()[1] for w_ in rec}
