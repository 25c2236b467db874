"""Virtual-screening enrichment metrics (numpy only): ROC curve, ROC AUC, enrichment factors.

Conventions (docking scores): a LOWER score is better (Vina affinities in kcal/mol), so ligands
are ranked by ascending score. ``labels`` are booleans, True = active. Ties are handled exactly:
tied scores form one step of the ROC curve (a diagonal segment), so the AUC equals the
Mann-Whitney probability that a random active scores better than a random decoy, ties counting
one half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Enrichment:
    """Summary of one labelled screen. ``ef`` maps a fraction (0.01, 0.05) to its EF."""

    n_actives: int
    n_decoys: int
    auc: float
    ef: dict[float, float]


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=bool).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape[0]} vs {y.shape[0]}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (drop failed ligands first)")
    return s, y


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve of a ranking by ascending score.

    Args: scores (N,) float (lower = better), labels (N,) bool (True = active); both classes
    must be present.
    Returns: (fpr (K,), tpr (K,)) starting at (0, 0) and ending at (1, 1), one point per
    distinct score threshold.
    """
    s, y = _check(scores, labels)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC curve needs at least one active and one decoy")
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    # keep the last index of each run of tied scores: ties move both rates at once
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tpr = np.r_[0.0, tp[last] / n_pos]
    fpr = np.r_[0.0, fp[last] / n_neg]
    return fpr, tpr


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve (trapezoids; ties count one half). 0.5 = random, 1 = perfect."""
    fpr, tpr = roc_curve(scores, labels)
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) * 0.5))


def n_selected(n_total: int, fraction: float) -> int:
    """How many top-ranked ligands the top ``fraction`` holds: ceil(fraction * N), at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if n_total <= 0:
        raise ValueError("no ligands to rank")
    return max(1, min(n_total, math.ceil(fraction * n_total - 1e-9)))


def enrichment_factor(scores, labels, fraction: float) -> float:
    """EF at ``fraction``: (actives in the top n / n) / (actives / N), n = n_selected(N, fraction).

    Ranking by ascending score with a stable sort (ties keep input order). Needs >= 1 active.
    The best possible value is (min(n, A) / n) / (A / N) for A actives: N / n when A >= n.
    """
    s, y = _check(scores, labels)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("an enrichment factor needs at least one active")
    n = n_selected(s.size, fraction)
    top = np.argsort(s, kind="stable")[:n]
    hits = int(y[top].sum())
    return (hits / n) / (n_pos / s.size)


def enrichment(scores, labels, fractions=(0.01, 0.05)) -> Enrichment | None:
    """AUC and EFs of a labelled screen, or None when actives or decoys are missing."""
    s, y = _check(scores, labels)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    return Enrichment(
        n_actives=n_pos,
        n_decoys=n_neg,
        auc=roc_auc(s, y),
        ef={f: enrichment_factor(s, y, f) for f in fractions},
    )
