"""PNG plots of a screen (matplotlib, Agg backend; RDKit for 2D depictions).

Every function takes plain numpy arrays, writes one PNG to ``path`` and returns ``path``. Each
one draws a readable placeholder panel instead of failing when its data is empty (no docked
ligands, no failures, one chunk only...).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 110
ACTIVE_COLOR = "#d62728"
DECOY_COLOR = "#7f7f7f"
MAIN_COLOR = "#1f77b4"


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _placeholder(ax, message: str) -> None:
    ax.text(
        0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#555555",
        transform=ax.transAxes,
    )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def score_distribution(edges, counts, path: str, actives=None, decoys=None, note: str = "") -> str:
    """Histogram of best affinities (kcal/mol) from fixed-width bins: ``edges`` (K + 1,),
    ``counts`` (K,) ligands per bin; ``actives`` / ``decoys`` (K,) or None: drawn as two
    overlaid histograms instead. Empty bins at either end are not drawn; at most 60 bars."""
    edges = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.int64)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    n = int(c.sum())
    if n == 0:
        _placeholder(ax, "no docked ligands")
        ax.set_title("Score distribution")
        return _save(fig, path)
    used = np.flatnonzero(c)
    lo, hi = int(used[0]), int(used[-1]) + 1
    step = max(1, -(-(hi - lo) // 60))  # merge neighbouring bins: at most 60 bars
    cut = np.arange(lo, hi, step)

    def merged(x):
        return np.add.reduceat(np.asarray(x, dtype=np.int64)[lo:hi], cut - lo)

    left = edges[cut]
    width = edges[min(lo + step, len(edges) - 1)] - edges[lo]
    if actives is not None and decoys is not None:
        d, a = merged(decoys), merged(actives)
        ax.bar(left, d, width=width, align="edge", color=DECOY_COLOR, alpha=0.7,
               label=f"decoys ({int(d.sum())})")  # fmt: skip
        ax.bar(left, a, width=width, align="edge", color=ACTIVE_COLOR, alpha=0.7,
               label=f"actives ({int(a.sum())})")  # fmt: skip
        ax.legend()
    else:
        ax.bar(left, merged(c), width=width, align="edge", color=MAIN_COLOR, alpha=0.85)
    cum = np.cumsum(c)
    k = int(np.searchsorted(cum, (n + 1) // 2))
    median = 0.5 * (edges[k] + edges[k + 1])
    ax.axvline(median, color="black", lw=1, ls="--")
    ax.set_xlabel("best affinity (kcal/mol, lower is better)")
    ax.set_ylabel("ligands")
    ax.set_title(f"Score distribution ({n} docked{note}; dashed = median {median:.2f})")
    return _save(fig, path)


def top_hits(smiles, ids, affinity, path: str, n: int = 12, per_row: int = 4) -> str:
    """2D depictions of the ``n`` first ligands (pass them best first) with id and affinity.

    Ligands without SMILES (PDBQT input) or whose SMILES RDKit cannot read are listed by id
    with an empty cell. Falls back to a placeholder PNG when there are no ligands.
    """
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols, legends = [], []
    for smi, lig_id, a in list(zip(smiles, ids, affinity))[:n]:
        mol = Chem.MolFromSmiles(smi) if smi else None
        mols.append(mol if mol is not None else Chem.Mol())
        legends.append(f"{lig_id}  {float(a):.2f} kcal/mol")
    if not mols:
        fig, ax = plt.subplots(figsize=(6.4, 2.0))
        _placeholder(ax, "no docked ligands")
        ax.set_title("Top hits")
        return _save(fig, path)
    image = Draw.MolsToGridImage(
        mols,
        molsPerRow=min(per_row, len(mols)),
        subImgSize=(260, 220),
        legends=legends,
        returnPNG=False,
    )
    image.save(path, format="PNG")
    return path


def throughput(t_done, path: str, t_start: float | None = None, counts=None) -> str:
    """Ligands done over time: cumulative count (top) and ligands/s per time bin (bottom).

    t_done (N,) float: wall-clock time (s, any origin) results were stored; counts (N,) int:
    ligands stored at each time (default 1 each: one time per ligand; a results store passes
    one time per chunk); t_start: when the screen started (same origin), default the first.
    """
    t = np.asarray(t_done, dtype=np.float64).reshape(-1)
    w = np.ones(t.size, np.int64) if counts is None else np.asarray(counts, np.int64).reshape(-1)
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    total = int(w.sum())
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6.4, 5.0))
    ax1.set_title("Throughput")
    if total == 0:
        _placeholder(ax1, "no results yet")
        _placeholder(ax2, "")
        return _save(fig, path)
    t0 = float(t[0]) if t_start is None else min(float(t_start), float(t[0]))
    x = t - t0
    ax1.step(np.r_[0.0, x], np.r_[0, np.cumsum(w)], where="post", color=MAIN_COLOR)
    ax1.set_ylabel("ligands done")
    ax1.set_xlabel("seconds since start")
    ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    span = float(x[-1])
    if span <= 0.0:
        _placeholder(ax2, "all results stored at once: no rate over time")
    else:
        n_bins = int(np.clip(np.unique(x).size, 1, 40))
        binned, edges = np.histogram(x, bins=n_bins, range=(0.0, span), weights=w)
        width = edges[1] - edges[0]
        ax2.bar(edges[:-1], binned / width, width=width, align="edge", color=MAIN_COLOR)
        ax2.axhline(total / span, color="black", lw=1, ls="--")
        ax2.set_ylabel("ligands / s")
        ax2.set_title(f"mean {total / span:.2f} ligands/s (dashed)", fontsize=10)
        ax2.set_xlabel("seconds since start")
    return _save(fig, path)


def busy_per_rank(ranks, busy_fraction, path: str, devices=None) -> str:
    """Bar chart of the busy % of each worker rank. ranks (R,) int; busy_fraction (R,) in [0, 1]
    (time spent docking / wall time); devices (R,) str labels or None."""
    r = np.asarray(ranks)
    b = np.asarray(busy_fraction, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.set_title("Busy % per rank")
    if r.size == 0:
        _placeholder(ax, "no worker statistics")
        return _save(fig, path)
    labels = [f"{int(k)}" for k in r]
    if devices is not None:
        labels = [f"{lab}\n{d}" for lab, d in zip(labels, devices)]
    pos = np.arange(r.size)
    ax.bar(pos, 100.0 * np.clip(b, 0.0, 1.0), color=MAIN_COLOR)
    ax.set_xticks(pos, labels, fontsize=8 if r.size < 16 else 6)
    ax.set_ylim(0, 105)
    ax.set_xlabel("rank")
    ax.set_ylabel("busy (% of wall time)")
    return _save(fig, path)


def failures_by_reason(reasons: dict[str, int], path: str) -> str:
    """Horizontal bars: number of failed ligands per reason (name -> count)."""
    fig, ax = plt.subplots(figsize=(6.4, max(2.4, 0.5 * len(reasons) + 1.2)))
    ax.set_title("Failures by reason")
    items = sorted(((k, int(v)) for k, v in reasons.items() if v > 0), key=lambda kv: -kv[1])
    if not items:
        _placeholder(ax, "no failures: every ligand was docked")
        return _save(fig, path)
    names = [k for k, _ in items][::-1]
    counts = [v for _, v in items][::-1]
    ax.barh(names, counts, color=ACTIVE_COLOR)
    for y, c in enumerate(counts):
        ax.text(c, y, f" {c}", va="center")
    ax.set_xlabel("ligands")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(counts) * 1.15 + 0.5)
    return _save(fig, path)


def roc(fpr, tpr, auc: float, path: str, ef: dict[float, float] | None = None) -> str:
    """ROC curve (fraction of decoys vs fraction of actives found), diagonal = random."""
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.plot([0, 1], [0, 1], color=DECOY_COLOR, ls="--", lw=1, label="random (AUC 0.50)")
    ax.plot(fpr, tpr, color=ACTIVE_COLOR, lw=2, label=f"hpcfold (AUC {auc:.2f})")
    if ef:
        text = "\n".join(f"EF{100 * k:g}% = {v:.1f}" for k, v in sorted(ef.items()))
        ax.text(0.97, 0.05, text, ha="right", va="bottom", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("decoys found (false-positive rate)")
    ax.set_ylabel("actives found (true-positive rate)")
    ax.set_title("ROC: actives vs decoys")
    ax.legend(loc="upper left")
    return _save(fig, path)
