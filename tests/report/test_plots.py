"""Every plot writes a valid, non-blank PNG, for real-looking data and for the empty case."""

from __future__ import annotations

import numpy as np
from PIL import Image

from hpcfold.report import metrics, plots

SMILES = ["O=C(O)c1cccc2c3c(n(Cc4ccccc4)c12)CCCCC3", "CCO", "", "not a smiles"]


def _check_png(path, min_colors: int = 3) -> None:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width >= 200 and im.height >= 100
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is None or len(colors) >= min_colors, "blank image"


def test_score_distribution(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(-7.0, 1.0, 50)
    edges = np.arange(-50.0, 50.01, 0.1)

    def hist(x):
        return np.histogram(x, bins=edges)[0]

    _check_png(plots.score_distribution(edges, hist(a), str(tmp_path / "a.png")))
    act, dec = hist(a[a < -8.0]), hist(a[a >= -8.0])
    _check_png(plots.score_distribution(edges, hist(a), str(tmp_path / "b.png"), act, dec))
    _check_png(plots.score_distribution(edges, hist([-7.0]), str(tmp_path / "one.png")))
    _check_png(plots.score_distribution(edges, hist([]), str(tmp_path / "empty.png")))


def test_top_hits_draws_what_it_can(tmp_path):
    path = plots.top_hits(
        SMILES, ["a", "b", "c", "d"], [-9.0, -8.0, -7.0, -6.0], str(tmp_path / "t.png")
    )
    _check_png(path)
    with Image.open(path) as im:
        assert im.width == 4 * 260  # one cell per ligand, bad SMILES included (empty cell)
    _check_png(plots.top_hits([], [], [], str(tmp_path / "none.png")))


def test_throughput_and_busy(tmp_path):
    t = np.sort(np.random.default_rng(1).uniform(100.0, 160.0, 40))
    _check_png(plots.throughput(t, str(tmp_path / "t.png"), t_start=95.0))
    _check_png(plots.throughput([5.0, 5.0], str(tmp_path / "same.png")))  # one instant
    _check_png(plots.throughput([], str(tmp_path / "none.png")))
    _check_png(plots.throughput([1.0, 9.0, 4.0], str(tmp_path / "w.png"), counts=[4, 4, 2]))
    _check_png(plots.busy_per_rank([1, 2], [0.9, 1.2], str(tmp_path / "b.png"), ["gpu:0", "gpu:1"]))
    _check_png(plots.busy_per_rank([], [], str(tmp_path / "b0.png")))


def test_failures_and_roc(tmp_path):
    _check_png(
        plots.failures_by_reason({"PARSE_ERROR": 3, "EMBED_FAILED": 1}, str(tmp_path / "f.png"))
    )
    _check_png(plots.failures_by_reason({}, str(tmp_path / "none.png")))
    scores, labels = [-9.0, -8.0, -7.5, -7.0, -6.0], [1, 0, 1, 0, 0]
    fpr, tpr = metrics.roc_curve(scores, labels)
    path = plots.roc(
        fpr, tpr, metrics.roc_auc(scores, labels), str(tmp_path / "r.png"), {0.01: 2.5}
    )
    _check_png(path)


def test_plots_close_their_figures(tmp_path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    for k in range(3):
        plots.failures_by_reason({"X": k + 1}, str(tmp_path / f"f{k}.png"))
        plots.throughput([1.0, 2.0 + k], str(tmp_path / f"t{k}.png"))
    assert len(plt.get_fignums()) == before
