"""Resume and compaction of a results store in bounded memory: the done bitmap is built block
by block, compaction copies blocks of a fixed byte size, and neither peak grows with the
store beyond the bitmap's bytes per ligand (tracemalloc, not timing)."""

from __future__ import annotations

import json
import os
import tracemalloc

import numpy as np
import pytest

from hpcfold.store import compaction, h5util, results_done, results_io
from hpcfold.store.results import ResultsWriter
from hpcfold.types import SCHEMA_VERSION, Reason

PART_ROWS = 4096


def bulk_store(path: str, n: int, failed=(), dock_err=()) -> None:
    """A results store of ``n`` ligand rows in parts of ``PART_ROWS`` (written directly:
    the writer's per-ligand Python path would dominate the test's time)."""
    ResultsWriter(path, {"n_ligands": n}, fsync=False, lock=False).close()
    seq = 1000
    for a in range(0, n, PART_ROWS):
        b = min(n, a + PART_ROWS)
        k = b - a
        rows = np.zeros(k, results_io.LIGAND_DTYPE)
        rows["index"], rows["n_poses"], rows["n_atoms"] = np.arange(a, b), 1, 4
        rows["affinity"] = -5.0
        for i in [i for i in (*failed, *dock_err) if a <= i < b]:
            r = rows[i - a : i - a + 1]
            r["status"], r["n_poses"], r["affinity"] = 1, 0, np.nan
            r["reason"] = Reason.DOCK_ERROR if i in dock_err else Reason.NONFINITE_ENERGY
        m = int(rows["n_poses"].sum())
        lig = {  # fmt: skip
            "rows": rows,
            "text": {
                "lig_id": [f"L{i}" for i in range(a, b)],
                "smiles": ["CCO"] * k,
                "message": [""] * k,
                "device": ["cpu"] * k,
            },
            "pose_values": np.zeros((m, 3), np.float32),
            "pose_coords": np.zeros((4 * m, 3), np.float32),
        }

        def write(f, lig=lig, seq=seq) -> None:
            f.attrs.update(kind=results_io.PART_KIND, schema_version=SCHEMA_VERSION, seq=seq,
                           session=1)  # fmt: skip
            crcs: dict = {}
            results_io.write_group(f, "ligands", lig, crcs)
            results_io.write_group(f, "chunks", results_io.empty_group("chunks"), crcs)
            f.attrs[results_io.CRC_ATTR] = json.dumps(crcs, sort_keys=True)

        h5util.atomic_h5(os.path.join(path + ".parts", f"part-{seq:09d}.h5"), write, False)
        seq += 1


def compact_all(path: str) -> float:
    """Fold every part into the main file; returns the traced peak (MB) of doing so."""
    live = [p for _, p in results_io.list_parts(path)]
    tracemalloc.start()
    try:
        compaction.compact_files(path, live, fsync=False)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    for p in live:
        os.unlink(p)
    return peak


def resume_peak(path: str, n: int) -> float:
    tracemalloc.start()
    try:
        w = ResultsWriter(path, {"n_ligands": n}, fsync=False, lock=False)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert w.n_done() == n
    w.close()
    return peak


def test_done_index_matches_the_rows_in_any_block_size(tmp_path):
    out = str(tmp_path / "r.h5")
    bulk_store(out, 9000, failed={5, 7000}, dock_err={3, 4100, 8999})
    compact_all(out)
    with h5util.open_ro(out) as f:
        for block in (1, 7, 4096, 1 << 20):
            index = results_done.DoneIndex(9000)
            assert index.add_file(f, block_rows=block) == 9000
            done, retried, n_failed = index.finish(retry_dock_errors=True)
            assert retried.tolist() == [3, 4100, 8999]
            assert n_failed == 2 and done.sum() == 9000 - 3 and not done[[3, 4100, 8999]].any()


def test_resume_reads_the_main_file_in_blocks(tmp_path, monkeypatch):
    out = str(tmp_path / "r.h5")
    bulk_store(out, 10_000)
    compact_all(out)
    seen = []
    add = results_done.DoneIndex.add_rows
    monkeypatch.setattr(results_done, "BLOCK_ROWS", 1000)
    monkeypatch.setattr(results_done.DoneIndex, "add_rows",
                        lambda self, rows: seen.append(len(rows)) or add(self, rows))  # fmt: skip
    w = ResultsWriter(out, {"n_ligands": 10_000}, fsync=False, lock=False)
    assert w.n_done() == 10_000 and max(seen) == 1000
    w.close()


@pytest.mark.parametrize("where", ["parts", "main"])
def test_resume_peak_grows_by_the_bitmap_only(tmp_path, monkeypatch, where):
    """From 20k to 160k ligands the traced peak of opening the writer grows by at most
    4 bytes per ligand (flags and the done bitmap: 2); loading every row's fields took ~30."""
    monkeypatch.setattr(results_done, "BLOCK_ROWS", 4096)
    peaks = {}
    for n in (20_000, 160_000):
        out = str(tmp_path / f"r{n}.h5")
        bulk_store(out, n)
        if where == "main":
            compact_all(out)
        peaks[n] = resume_peak(out, n)
    grown = (peaks[160_000] - peaks[20_000]) * 2**20 / 140_000
    assert grown < 4.0, peaks


def test_compaction_peak_does_not_grow_with_the_store(tmp_path, monkeypatch):
    """Blocks of ``BLOCK_BYTES``: compacting 8x more rows costs the same traced peak (the
    whole-dataset copies of a smaller store would show as growth)."""
    monkeypatch.setattr(results_io, "BLOCK_BYTES", 1 << 16)
    peaks = {}
    for n in (20_000, 160_000):
        out = str(tmp_path / f"r{n}.h5")
        bulk_store(out, n)
        peaks[n] = compact_all(out)
        with ResultsWriter(out, {"n_ligands": n}, fsync=False, lock=False) as w:
            assert w.n_done() == n
    assert peaks[160_000] < peaks[20_000] + 1.0, peaks


def test_compaction_opens_one_part_at_a_time(tmp_path, monkeypatch):
    """A compaction may fold ``max_parts`` parts: never more than the main file and one part
    are open at once (each open HDF5 file costs ~0.3 MB)."""
    out = str(tmp_path / "r.h5")
    bulk_store(out, 40_000)
    open_now, most = set(), [0]
    real = h5util.open_ro

    class Tracked:
        def __init__(self, f):
            self.f = f
            open_now.add(id(f))
            most[0] = max(most[0], len(open_now))

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __getitem__(self, key):
            return self.f[key]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

        def close(self):
            open_now.discard(id(self.f))
            self.f.close()

    monkeypatch.setattr(h5util, "open_ro", lambda *a, **k: Tracked(real(*a, **k)))
    compact_all(out)
    assert most[0] == 2
    monkeypatch.undo()
    with ResultsWriter(out, {"n_ligands": 40_000}, fsync=False, lock=False) as w:
        assert w.n_done() == 40_000
