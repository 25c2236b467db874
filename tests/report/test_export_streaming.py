"""Export streams the results store: peak memory does not grow with the store, and the
streamed top-K is the full sort's top-K (stores built with tests/store/store_factory.py)."""

from __future__ import annotations

import csv
import os
import pathlib
import sys
import tracemalloc

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "store"))
from store_factory import make_result  # noqa: E402

from hpcfold.report.export import export_hits  # noqa: E402
from hpcfold.store import results_view  # noqa: E402
from hpcfold.store.results import ResultsWriter, open_results  # noqa: E402


def _store(path, n: int, chunk: int = 500) -> str:
    w = ResultsWriter(str(path), {"n_ligands": n}, min_compact_rows=0)
    for s in range(0, n, chunk):
        idx = np.arange(s, min(n, s + chunk))
        w.append(idx, [make_result(int(i)) for i in idx], {"chunk_id": s, "rank": 1})
    w.close()
    return str(path)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    return {n: _store(d / f"r{n}.h5", n) for n in (2_000, 16_000)}


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_store(stores, tmp_path, monkeypatch):
    monkeypatch.setattr(results_view, "BLOCK_ROWS", 1000)
    peaks = {}
    for n, path in stores.items():
        out = tmp_path / f"all{n}.csv"
        peaks[n] = _peak(lambda p=path, o=out: export_hits(p, o, include_failures=True))
        with open(out, newline="") as fh:
            assert sum(1 for _ in fh) == n + 1  # every ligand written (header + rows)
        peaks[f"top{n}"] = _peak(lambda p=path, o=tmp_path / "t.csv": export_hits(p, o, top=100))
    # 8x the ligands: the peak stays within 1.5x (one block, the top-K, a bitmap of N bits)
    assert peaks[16_000] < 1.5 * peaks[2_000], peaks
    assert peaks["top16000"] < 1.5 * peaks["top2000"], peaks


def test_streamed_top_k_is_the_full_sort(stores, tmp_path, monkeypatch):
    monkeypatch.setattr(results_view, "BLOCK_ROWS", 777)  # blocks that cut chunks anywhere
    path = stores[16_000]
    with open_results(path) as view:
        t = view.table
        ok = np.flatnonzero((t["status_code"] == 0) & ~t["clash"])
        order = ok[np.lexsort((t["index"][ok], t["affinity"][ok]))]
    for k in (1, 50, 1000):
        out = tmp_path / f"top{k}.csv"
        assert export_hits(path, out, top=k).n == k
        with open(out, newline="") as fh:
            got = [int(r["index"]) for r in csv.DictReader(fh)]
        assert got == t["index"][order[:k]].tolist()


def test_top_k_decodes_the_text_of_the_winners_only(stores, tmp_path, monkeypatch):
    """Blocks are read without text; ``text_at`` gives the k winners' ids and SMILES, the
    same as the table's."""
    calls = []
    text_at = results_view.ResultsView.text_at
    monkeypatch.setattr(results_view.ResultsView, "text_at",
                        lambda self, locs: calls.append(len(locs)) or text_at(self, locs))  # fmt: skip
    blocks = results_view.ResultsView.iter_blocks
    monkeypatch.setattr(results_view.ResultsView, "iter_blocks",
                        lambda self, *a, text=True, **k: calls.append(text)
                        or blocks(self, *a, text=text, **k))  # fmt: skip
    path = stores[2_000]
    out = tmp_path / "top7.csv"
    assert export_hits(path, out, top=7).n == 7
    assert set(calls[:-1]) == {False} and calls[-1] == 7
    with open_results(path) as view:
        t = view.table
        with open(out, newline="") as fh:
            for r in csv.DictReader(fh):
                i = int(np.searchsorted(t["index"], int(r["index"])))
                assert (r["ligand_id"], r["smiles"]) == (t["lig_id"][i], t["smiles"][i])


def test_export_never_follows_a_symlink_at_out_tmp(stores, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "hits.csv"
    os.symlink(victim, f"{out}.tmp")
    assert export_hits(stores[2_000], out, top=5).n == 5
    assert victim.read_text() == "keep me" and out.read_text().startswith("ligand_id,")


def test_blocks_hold_the_same_rows_as_the_table_with_live_parts(tmp_path, monkeypatch):
    """Main file plus uncompacted parts (a writer still open): the streamed rows are the
    table's rows, each index once, whatever the block size."""
    w = ResultsWriter(str(tmp_path / "r.h5"), {"n_ligands": 300}, min_compact_rows=10**9)
    for s in range(0, 300, 37):
        idx = np.arange(s, min(300, s + 37))
        w.append(idx, [make_result(int(i)) for i in idx], {"chunk_id": s, "rank": 1})
    with open_results(str(tmp_path / "r.h5")) as view:
        assert view.n_parts > 1
        t = view.table
        for rows in (13, 1000):
            blocks = list(view.iter_blocks(rows))
            idx = np.concatenate([b["index"] for b in blocks])
            assert sorted(idx.tolist()) == t["index"].tolist()
            order = np.argsort(idx)
            for col in ("affinity", "lig_id", "clash"):
                got = np.concatenate([b[col] for b in blocks])[order]
                assert (
                    got.tolist() == t[col].tolist()
                    or col == "affinity"
                    and np.allclose(got, t[col], equal_nan=True)
                )
            coords, values = view.pose_values_at(blocks[-1]["loc"][-1])
            ref, aff = view.poses(int(blocks[-1]["index"][-1]))
            np.testing.assert_array_equal(coords, ref)
            np.testing.assert_array_equal(values[:, 0], aff)
    w.close()


def test_inspect_and_report_stream_too(stores, tmp_path, monkeypatch):
    """``describe`` (inspect) and the report page: flat peak memory from 2k to 16k ligands."""
    from hpcfold.commands.inspect import describe
    from hpcfold.report.html import _render

    monkeypatch.setattr(results_view, "BLOCK_ROWS", 1000)
    peaks = {}
    for n, path in stores.items():
        peaks[n] = _peak(lambda p=path: describe(p))
        assert describe(path)["total"] == n
        with open_results(path) as view:
            out = tmp_path / f"rep{n}"
            out.mkdir()
            peaks[f"report{n}"] = _peak(lambda v=view, o=out, p=path: _render(v, p, str(o), None,
                                                                            12, False))  # fmt: skip
    assert peaks[16_000] < 1.5 * peaks[2_000], peaks
    assert peaks["report16000"] < 1.5 * peaks["report2000"], peaks
