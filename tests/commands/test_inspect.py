"""``hpcfold inspect`` on feature stores, results stores, unfinished preps and bad files."""

from __future__ import annotations

import json
import pathlib
import sys

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "store"))
from store_factory import make_item, make_record, make_result  # noqa: E402

from hpcfold.cli import main  # noqa: E402
from hpcfold.store.features import FeatureWriter, finalize  # noqa: E402
from hpcfold.store.results import ResultsWriter  # noqa: E402
from hpcfold.types import BUCKETS, bucket_for  # noqa: E402


@pytest.fixture
def lib(tmp_path) -> str:
    out = str(tmp_path / "lib.h5")
    with FeatureWriter(out, 0, "t", ["lib.smi"]) as w:
        for i in range(30):
            w.add((0, i), make_item(i))
        w.add((0, 30), make_record(30, n_atoms=500))  # too large for any bucket
        w.add((0, 31), make_record(31, n_atoms=60, n_tors=13))
    finalize(out, ["lib.smi"])
    return out


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["inspect", *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_inspect_features_json_and_text(lib, capsys):
    rc, out, _ = _run(capsys, lib, "--json")
    assert rc == 0
    d = json.loads(out)
    n_parse = sum(1 for i in range(30) if i % 7 == 3)
    assert (d["kind"], d["total"], d["failed"], d["ok"]) == (
        "features",
        32,
        n_parse + 1,
        31 - n_parse,
    )
    assert all(isinstance(d[k], int) for k in ("total", "ok", "failed"))
    assert d["failures_by_reason"] == {"PARSE_ERROR": n_parse, "TOO_LARGE": 1}
    counts = {b["name"]: b["count"] for b in d["buckets"]}
    ok = [make_record(i) for i in range(30) if i % 7 != 3] + [make_record(31, 60, 13)]
    where = [bucket_for(r.n_atoms, r.n_torsions, len(r.intra_pairs)).name for r in ok]
    assert counts == {b.name: where.count(b.name) for b in BUCKETS}
    assert counts["a24t8"] > 0 and counts["a32t8"] > 0 and sum(counts.values()) == d["ok"]
    assert d["schema_version"] == 1
    rc, out, _ = _run(capsys, lib)
    assert rc == 0
    assert f"32 total, {31 - n_parse} ok, {n_parse + 1} failed" in out
    assert "TOO_LARGE" in out and "a24t8" in out and "schema version 1" in out


def test_inspect_results(tmp_path, capsys):
    out = str(tmp_path / "results.h5")
    w = ResultsWriter(out, {"n_ligands": 20, "receptor_sha256": "ab12"})
    idx = np.arange(15)
    w.append(idx, [make_result(i) for i in idx], {"chunk_id": 0, "rank": 3, "device": "cpu:0-1"})
    # not closed: inspect folds in the uncompacted parts
    rc, text, _ = _run(capsys, out, "--json")
    d = json.loads(text)
    assert rc == 0 and d["kind"] == "results"
    assert (d["total"], d["ok"], d["failed"], d["missing"]) == (15, 12, 3, 5)
    assert d["failures_by_reason"] == {"DOCK_ERROR": 3}
    assert d["ranks"][0]["rank"] == 3 and d["uncompacted_parts"] == 2
    w.close()
    rc, text, _ = _run(capsys, out)
    assert "15 total, 12 ok, 3 failed" in text and "missing: 5 of 20" in text
    assert "rank    3 cpu:0-1" in text and "ab12" in text


def test_inspect_unfinished_prep(tmp_path, capsys):
    out = str(tmp_path / "lib.h5")
    w = FeatureWriter(out, 0, "t", ["lib.smi"], batch_size=4)
    for i in range(10):
        w.add((0, i), make_item(i))
    del w  # killed: 8 committed in segments, no index
    rc, text, _ = _run(capsys, out, "--json")
    d = json.loads(text)
    assert rc == 0 and d["total"] == 8 and d["failed"] == 1 and not d["finalized"]


def test_inspect_bad_inputs(tmp_path, capsys):
    rc, _, err = _run(capsys, str(tmp_path / "missing.h5"))
    assert rc == 2 and "not found" in err
    other = str(tmp_path / "other.h5")
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    rc, _, err = _run(capsys, other)
    assert rc == 2 and "not an hpcfold store" in err
    text = tmp_path / "text.h5"
    text.write_text("hello")
    rc, _, err = _run(capsys, str(text))
    assert rc == 2 and "not an HDF5 file" in err


def test_inspect_results_counts_clash_flagged_and_streams_the_median(tmp_path, capsys):
    """Ligands whose best pose scores > 0 kcal/mol are counted as clash-flagged (derived from
    the stored affinity at read time); best and median match numpy's over the docked rows."""
    import dataclasses

    out = str(tmp_path / "results.h5")
    w = ResultsWriter(out, {"n_ligands": 30})
    items = []
    for i in range(30):
        r = make_result(i)
        if i in (2, 7, 11):  # docked in the factory (every 5th from 4 fails)
            r = dataclasses.replace(r, affinity=r.affinity + 20.0)  # no clash-free pose
        items.append(r)
    w.append(np.arange(30), items, {"chunk_id": 0, "rank": 1})
    w.close()
    rc, text, _ = _run(capsys, out, "--json")
    d = json.loads(text)
    ok = [float(r.affinity[0]) for r in items if hasattr(r, "affinity")]
    assert d["clash_flagged"] == sum(a > 0 for a in ok) == 3
    assert d["best_affinity"] == pytest.approx(min(ok), abs=1e-5)
    assert d["median_affinity"] == pytest.approx(float(np.median(ok)), abs=1e-3)
    rc, text, _ = _run(capsys, out)
    assert "clash-flagged: 3 docked ligands" in text
