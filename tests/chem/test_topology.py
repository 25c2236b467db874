"""Vina topology rules: bonds, XS typing, intramolecular pairs, N_rot."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.chem import topology
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.types import XS_INDEX, XS_TYPES


@pytest.fixture(scope="module")
def imatinib(shared_data):
    text = (shared_data / "vina-example" / "1iep_ligand.pdbqt").read_text()
    return parse_ligand_pdbqt(text, "imatinib", "x")


def test_imatinib_checked_counts(imatinib):
    assert imatinib.intra_pairs.shape == (498, 2)  # 504 with the wrong branch-atom rule
    assert imatinib.n_rot == 7.0
    assert imatinib.n_torsions == 7
    assert np.all(imatinib.intra_pairs[:, 0] < imatinib.intra_pairs[:, 1])
    xs = [XS_TYPES[t] for t in imatinib.xs_types if t >= 0]
    assert xs.count("N_D") == 3 and xs.count("O_A") == 1 and xs.count("N_A") == 4


def test_infer_bonds_ethanol_and_third_atom_rule():
    # ethanol heavy atoms + hydroxyl H
    xyz = np.array([[0.0, 0, 0], [1.52, 0, 0], [2.0, 1.35, 0], [2.95, 1.35, 0]])
    bonds = topology.infer_bonds(xyz, ["C", "C", "O", "H"])
    assert bonds.tolist() == [[0, 1], [1, 2], [2, 3]]
    # A - C - B on a line: A-B is within 1.1 * (R_A + R_B) but C is closer to both
    line = np.array([[0.0, 0, 0], [0.8, 0, 0], [1.6, 0, 0]])
    assert topology.infer_bonds(line, ["C", "H", "C"]).tolist() == [[0, 1], [1, 2]]
    # pairs that may move relative to each other are never bonded, and an atom free to move
    # relative to a pair does not block its bond (so 0-2 is bonded now)
    fixed = np.ones((3, 3), bool)
    fixed[0, 1] = fixed[1, 0] = False
    assert topology.infer_bonds(line, ["C", "H", "C"], fixed=fixed).tolist() == [[0, 2], [1, 2]]


def test_xs_typing_rules():
    # C(0)-N(1)-HD(2); C(3)=O(4)A; N(5)A-HD(6); C(7) isolated; Zn(8); Cl(9)
    ad = ["C", "N", "HD", "C", "OA", "NA", "HD", "C", "Zn", "Cl"]
    bonds = np.array([[0, 1], [1, 2], [3, 4], [5, 6]])
    xs = [XS_TYPES[t] if t >= 0 else "H" for t in topology.xs_types_from_ad(ad, bonds)]
    assert xs == ["C_P", "N_D", "H", "C_P", "O_A", "N_DA", "H", "C_H", "Met_D", "Cl_H"]
    with pytest.raises(ValueError, match="XS type"):
        topology.xs_types_from_ad(["C", "B"], np.zeros((0, 2), int))


def test_n_rot_terminal_and_inner_torsions():
    # chain C0-C1-C2-O3(-H4): torsion C1-C2 inner (1.0), C2-O3 terminal OH (0.5)
    bonds = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    xs = np.array([XS_INDEX["C_H"], XS_INDEX["C_H"], XS_INDEX["C_P"], XS_INDEX["O_DA"], -1])
    assert topology.count_n_rot(bonds, np.array([[1, 2]]), xs) == 1.0
    assert topology.count_n_rot(bonds, np.array([[2, 3]]), xs) == 0.5
    assert topology.count_n_rot(bonds, np.array([[1, 2], [2, 3]]), xs) == 1.5


def test_intra_pairs_branch_atom_rule():
    # root: 0-1; branch 1->2 (child frame 1: atoms 2, 3, 4, 5): chain 0-1-2-3-4-5
    n = 6
    bonds = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    frame = np.array([0, 0, 1, 1, 1, 1])
    tors = np.array([[1, 2]])
    xs = np.full(n, XS_INDEX["C_H"])
    pairs = topology.intra_pairs(n, bonds, frame, tors, xs).tolist()
    # only atom 0 (root, not an axis atom) moves relative to the child piece; > 3 bonds: 0-4, 0-5
    assert pairs == [[0, 4], [0, 5]]
