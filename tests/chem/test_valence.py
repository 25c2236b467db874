"""Carbon hydrogens from geometry (hpcfold.chem.valence.carbon_hydrogens) on built geometries."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.chem.valence import BondOrderError, carbon_hydrogens


def _two(theta: float, r1: float, r2: float) -> np.ndarray:
    """Carbon 0 at the origin, neighbours 1 and 2 at r1, r2 (A) and angle theta (degrees)."""
    t = np.radians(theta)
    return np.array([[0.0, 0.0, 0.0], [r1, 0.0, 0.0], [r2 * np.cos(t), r2 * np.sin(t), 0.0]])


def test_one_neighbour_by_bond_length():
    el = ["C", "C"]
    for r, h in ((1.53, 3), (1.34, 2), (1.20, 1)):
        assert carbon_hydrogens(0, [1], np.array([[0, 0, 0], [r, 0, 0.0]]), el, False) == h
    assert carbon_hydrogens(0, [1], np.array([[0, 0, 0], [1.43, 0, 0.0]]), ["C", "O"], False) == 3


def test_two_neighbours_need_a_short_bond_to_be_sp2():
    el = ["C", "C", "C"]
    assert carbon_hydrogens(0, [1, 2], _two(111, 1.53, 1.52), el, False) == 2  # CH2
    assert carbon_hydrogens(0, [1, 2], _two(121, 1.53, 1.52), el, False) == 2  # strained CH2
    assert carbon_hydrogens(0, [1, 2], _two(120, 1.34, 1.48), el, False) == 1  # =CH-
    assert carbon_hydrogens(0, [1, 2], _two(178, 1.20, 1.46), el, False) == 0  # -C#
    assert carbon_hydrogens(0, [1, 2], _two(120, 1.39, 1.39), el, True) == 1  # aromatic CH
    with pytest.raises(BondOrderError, match="hybridisation"):
        carbon_hydrogens(0, [1, 2], _two(122, 1.47, 1.46), el, False)  # no length cue, wide
    with pytest.raises(BondOrderError, match="hybridisation"):
        carbon_hydrogens(0, [1, 2], _two(131, 1.53, 1.53), el, False)


def test_three_neighbours_planar_or_pyramidal():
    el = ["C", "C", "O", "C"]
    planar = np.array([[0, 0, 0], [1.52, 0, 0], [-0.61, 1.06, 0], [-0.76, -1.32, 0.0]])
    assert carbon_hydrogens(0, [1, 2, 3], planar, el, False) == 0  # a carbonyl C (C=O 1.22)
    pyramid = planar.copy()
    pyramid[1:, 2] = -0.55  # out of plane: angles ~ 109
    pyramid[2] = pyramid[2] / np.linalg.norm(pyramid[2]) * 1.43  # C-O single
    assert carbon_hydrogens(0, [1, 2, 3], pyramid, el, False) == 1
