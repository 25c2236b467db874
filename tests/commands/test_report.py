"""``hpcfold report`` on a real screen's results store (tests/commands/conftest.py)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from PIL import Image

from hpcfold.cli import main as cli
from hpcfold.report.html import PNG_NAMES, ROC_PNG
from hpcfold.store.results import open_results


def _check_png(path):
    assert path.stat().st_size > 2000, path
    with Image.open(path) as im:
        im.verify()  # a complete, valid PNG
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width >= 300 and im.height >= 150
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is None or len(colors) > 8, f"{path.name} is (nearly) blank"


def _auc(scores, labels) -> float:
    """Mann-Whitney: P(active scores lower than decoy), ties 1/2 (independent of metrics.py)."""
    act = [s for s, y in zip(scores, labels) if y]
    dec = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if a < d else 0.5 if a == d else 0.0 for a, d in itertools.product(act, dec))
    return wins / (len(act) * len(dec))


@pytest.fixture(scope="module")
def report(small_screen, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert cli(["report", str(small_screen.results), "-o", str(out)]) == 0
    return out


def test_pngs_valid_and_referenced(report):
    html = (report / "index.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', html)
    for name in (*PNG_NAMES, ROC_PNG):  # labelled ligands: the ROC plot is there too
        assert name in srcs, name
        _check_png(report / name)
    assert all((report / s).is_file() for s in srcs)


def test_summary_and_hits(small_screen, report):
    html = (report / "index.html").read_text()
    with open_results(str(small_screen.results)) as v:
        t = v.table
    ok = t["status"] == "ok"
    best = int(np.argmin(np.where(ok, t["affinity"], np.inf)))
    assert "<th>docked</th><td>8</td>" in html and "<th>failed</th><td>1</td>" in html
    assert f"{t['affinity'][best]:.2f} kcal/mol" in html
    assert t["lig_id"][best] in html
    assert "PARSE_ERROR" in html and small_screen.bad_id in html  # failures table
    assert "worker ranks</th><td>1</td>" in html


def test_enrichment_numbers(small_screen, report):
    """Labels come from the input file names (actives.smi / decoys.smi); failed ligands rank
    last; EF and AUC recomputed here by hand."""
    html = (report / "index.html").read_text()
    with open_results(str(small_screen.results)) as v:
        t = v.table
    ok = t["status"] == "ok"
    worst = float(t["affinity"][ok].max()) + 1.0
    scores = np.where(ok, t["affinity"], worst)
    labels = np.array([i in small_screen.active_ids for i in t["lig_id"]])
    assert labels.sum() == 3 and (~labels).sum() == 6
    auc = _auc(scores, labels)
    assert f"<th>ROC AUC</th><td>{auc:.3f}</td>" in html
    # 9 ligands: top 1% and top 5% are both the single best ligand
    top1_active = bool(labels[int(np.argmin(scores))])
    ef = (1.0 if top1_active else 0.0) / (3 / 9)
    assert f"<th>EF1%</th><td>{ef:.2f} (top 1 of 9)</td>" in html
    assert f"<th>EF5%</th><td>{ef:.2f} (top 1 of 9)</td>" in html
    assert "<th>actives</th><td>3</td>" in html and "<th>decoys</th><td>6</td>" in html


def test_labels_csv_and_unlabelled(small_screen, tmp_path):
    # a labels file overrides the file names: call the decoys active and vice versa
    labels = tmp_path / "labels.csv"
    rows = ["id,label"] + [f"{i},decoy" for i in small_screen.active_ids]
    rows += [f"{i},active" for i in small_screen.decoy_ids]
    labels.write_text("\n".join(rows) + "\n")
    out = tmp_path / "flipped"
    assert cli(["report", str(small_screen.results), "-o", str(out), "--labels", str(labels)]) == 0
    html = (out / "index.html").read_text()
    assert "<th>actives</th><td>6</td>" in html and "labels file labels.csv" in html
    # labels that match no ligand: no ROC, the page says why, every other plot is there
    labels.write_text("id,label\nnot-a-ligand,active\nnor-this,decoy\n")
    out = tmp_path / "unlabelled"
    assert cli(["report", str(small_screen.results), "-o", str(out), "--labels", str(labels)]) == 0
    html = (out / "index.html").read_text()
    assert "No activity labels" in html and ROC_PNG not in html
    assert not (out / ROC_PNG).exists()
    for name in PNG_NAMES:
        _check_png(out / name)
    labels.write_text("id,label\nx,maybe\n")
    assert cli(["report", str(small_screen.results), "-o", str(out), "--labels", str(labels)]) == 2


def test_report_errors(tmp_path, capsys):
    assert cli(["report", str(tmp_path / "none.h5"), "-o", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err


def test_throughput_and_busy_from_the_store(small_screen):
    from hpcfold.report.html import timeline, worker_stats

    with open_results(str(small_screen.results)) as v:
        t_done, n_done, start, wall = timeline(v)
        ws = worker_stats(v)
        kernel_s = float(v.chunks["busy_s"].sum())
    assert n_done.sum() == 8  # docked + dock failures; the prep failure is not a docking result
    assert t_done.size == n_done.size == 2  # one time per chunk (chunk_size 4)
    assert start is not None and start <= t_done.min() and wall >= t_done.max() - t_done.min()
    assert list(ws["rank"]) == [0] and int(ws["ligands"][0]) == 8  # one process: rank 0 docks
    assert str(ws["device"][0]).startswith("cpu")
    assert ws["busy_fraction"][0] == pytest.approx(kernel_s / wall)
    assert 0.0 < ws["busy_fraction"][0] <= 1.0 + 1e-6


def test_clash_flagged_ligands_counted_and_left_out_of_the_hits(small_screen, report, tmp_path):
    with open_results(str(small_screen.results)) as v:
        t = v.table
    flagged = [t["lig_id"][i] for i in np.flatnonzero(t["clash"])]
    assert flagged and all(t["affinity"][t["lig_id"] == f][0] > 0 for f in flagged)
    html = (report / "index.html").read_text()
    assert f"<th>clash-flagged (no clash-free pose)</th><td>{len(flagged)}</td>" in html
    assert not any(f"<td>{f}</td>" in html for f in flagged)
    out = tmp_path / "with"
    argv = ["report", str(small_screen.results), "-o", str(out), "--include-clashes"]
    assert cli(argv) == 0
    assert all(f"<td>{f}</td>" in (out / "index.html").read_text() for f in flagged)
