"""Enrichment metrics on inputs whose answers are known by hand or by brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hpcfold.report.metrics import (
    enrichment,
    enrichment_factor,
    n_selected,
    roc_auc,
    roc_curve,
)


def _mann_whitney(scores, labels) -> float:
    """P(active scores lower than decoy), ties 1/2: the definition the AUC must equal."""
    act = [s for s, y in zip(scores, labels) if y]
    dec = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if a < d else 0.5 if a == d else 0.0 for a, d in itertools.product(act, dec))
    return wins / (len(act) * len(dec))


def test_auc_by_hand():
    # active at -9 beats decoys -8 and -6; active at -7 beats decoy -6: 3 of 4 pairs
    assert roc_auc([-9.0, -8.0, -7.0, -6.0], [1, 0, 1, 0]) == pytest.approx(0.75)
    assert roc_auc([-9.0, -8.0, -1.0], [1, 1, 0]) == pytest.approx(1.0)
    assert roc_auc([-1.0, -8.0, -9.0], [1, 1, 0]) == pytest.approx(0.0)
    assert roc_auc([-5.0, -5.0, -5.0, -5.0], [1, 0, 1, 0]) == pytest.approx(0.5)


def test_auc_equals_mann_whitney_with_ties():
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(4, 60))
        scores = np.round(rng.normal(-7.0, 1.0, n), 1)  # rounding makes ties
        labels = rng.random(n) < 0.3
        labels[0], labels[1] = True, False
        assert roc_auc(scores, labels) == pytest.approx(_mann_whitney(scores, labels))


def test_roc_curve_shape_and_ties():
    fpr, tpr = roc_curve([-9.0, -8.0, -8.0, -6.0], [1, 1, 0, 0])
    # thresholds -9, -8 (tie: one active and one decoy move together), -6
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 1.0, 1.0])
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    with pytest.raises(ValueError, match="active and one decoy"):
        roc_curve([-1.0, -2.0], [1, 1])


def test_n_selected():
    assert n_selected(100, 0.01) == 1
    assert n_selected(100, 0.05) == 5
    assert n_selected(250, 0.01) == 3  # ceil(2.5)
    assert n_selected(8, 0.01) == 1
    assert n_selected(3, 1.0) == 3
    with pytest.raises(ValueError):
        n_selected(10, 0.0)


def test_enrichment_factor_by_hand():
    n = 200
    scores = np.arange(n, dtype=float) - 300.0  # ligand i ranks i-th (lower is better)
    labels = np.zeros(n, dtype=bool)
    labels[[0, 1, 3, 5, 7, 50, 60, 70, 80, 90]] = True  # 10 actives, ratio 0.05
    # top 1% = 2 ligands, both active: (2/2) / (10/200) = 20
    assert enrichment_factor(scores, labels, 0.01) == pytest.approx(20.0)
    # top 5% = 10 ligands, 5 active: (5/10) / 0.05 = 10
    assert enrichment_factor(scores, labels, 0.05) == pytest.approx(10.0)
    # order of the input does not matter, only the scores
    perm = np.random.default_rng(1).permutation(n)
    assert enrichment_factor(scores[perm], labels[perm], 0.05) == pytest.approx(10.0)


def test_enrichment_summary_and_missing_class():
    e = enrichment([-9.0, -8.0, -7.0, -6.0], [1, 0, 1, 0])
    assert (e.n_actives, e.n_decoys) == (2, 2)
    assert e.auc == pytest.approx(0.75)
    assert e.ef[0.01] == pytest.approx(2.0)  # top 1 of 4 is active: 1 / (2/4)
    assert enrichment([-9.0, -8.0], [0, 0]) is None
    assert enrichment([], []) is None
    with pytest.raises(ValueError, match="finite"):
        enrichment([np.nan, -1.0], [1, 0])
