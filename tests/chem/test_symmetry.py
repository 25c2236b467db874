"""Heavy-atom automorphisms: identity first, element-only graph, bounded with a cap."""

from __future__ import annotations

import time

import numpy as np
from rdkit import Chem

from hpcfold.chem.prepare import PrepOptions, prepare_record
from hpcfold.chem.readers import RawRecord
from hpcfold.chem.symmetry import graph_automorphisms, mol_automorphisms

C60 = (
    "c12c3c4c5c1c1c6c7c2c2c8c3c3c9c4c4c%10c5c5c1c1c6c6c%11c7c2c2c7c8c3c3c8c9c4c4c9c%10c5c5c1c1c6"
    "c6c%11c2c2c7c3c3c8c4c4c9c5c1c1c6c2c3c41"
)
# PAMAM-like dendrimer, generation 2: 2^7 = 128 automorphisms of its skeleton
DENDRIMER = (
    "C(CN(CCC(=O)NCCN(CCC(=O)NCCN)CCC(=O)NCCN)CCC(=O)NCCN(CCC(=O)NCCN)CCC(=O)NCCN)"
    "N(CCC(=O)NCCN(CCC(=O)NCCN)CCC(=O)NCCN)CCC(=O)NCCN(CCC(=O)NCCN)CCC(=O)NCCN"
)


def _autos(smiles: str, cap: int = 1000):
    mol = Chem.MolFromSmiles(smiles)
    return mol, *mol_automorphisms(mol, list(range(mol.GetNumAtoms())), cap)


def _is_automorphism(mol, perm) -> bool:
    edges = {frozenset((b.GetBeginAtomIdx(), b.GetEndAtomIdx())) for b in mol.GetBonds()}
    mapped = {frozenset((int(perm[a]), int(perm[b]))) for a, b in map(tuple, edges)}
    same_el = all(
        mol.GetAtomWithIdx(i).GetAtomicNum() == mol.GetAtomWithIdx(int(perm[i])).GetAtomicNum()
        for i in range(mol.GetNumAtoms())
    )
    return mapped == edges and same_el


def test_small_molecules_counts_and_identity_first():
    for smiles, expected in [("OC(=O)c1ccccc1", 4), ("CC(C)(C)C", 24), ("c1ccncc1", 2), ("CCO", 1)]:
        mol, autos, truncated = _autos(smiles)
        assert autos.shape == (expected, mol.GetNumAtoms()), smiles
        assert autos.dtype == np.int16 and not truncated
        np.testing.assert_array_equal(autos[0], np.arange(mol.GetNumAtoms()))
        assert len({tuple(r) for r in autos}) == expected
        assert all(_is_automorphism(mol, r) for r in autos)


def test_c60_and_dendrimer_finish_in_bounded_time():
    t0 = time.process_time()
    mol, autos, truncated = _autos(C60)
    assert autos.shape == (120, 60) and not truncated  # icosahedral group with reflections
    assert all(_is_automorphism(mol, r) for r in autos[:10])
    mol, autos, truncated = _autos(DENDRIMER, cap=1000)
    assert autos.shape[0] == 128 and not truncated
    mol, autos, truncated = _autos(DENDRIMER, cap=50)
    assert autos.shape == (50, mol.GetNumAtoms()) and truncated
    np.testing.assert_array_equal(autos[0], np.arange(mol.GetNumAtoms()))
    assert time.process_time() - t0 < 10.0


def test_graph_automorphisms_edge_cases():
    autos, truncated = graph_automorphisms([6], np.zeros((0, 2)), 10)
    assert autos.shape == (1, 1) and not truncated
    autos, truncated = graph_automorphisms([6, 6], np.array([[0, 1]]), 1)
    assert autos.shape == (1, 2) and truncated


def test_records_carry_automorphisms_over_heavy_atoms():
    opts = PrepOptions(max_automorphisms=1000)
    rec = prepare_record(RawRecord("smiles", "OC(=O)c1ccc(cc1)C(F)(F)F", "x", "t:1", 0), opts)
    assert rec.automorphisms.shape == (2 * 2 * 6, rec.n_heavy)  # COO, ring flip, CF3
    heavy = rec.heavy_index
    # each permutation preserves the heavy-atom bond graph of the record
    hb = {frozenset(b) for b in rec.bonds[:, :2].tolist() if b[0] in heavy and b[1] in heavy}
    pos = {int(a): k for k, a in enumerate(heavy)}
    edges = {frozenset((pos[a], pos[b])) for a, b in map(tuple, hb)}
    for perm in rec.automorphisms:
        assert {frozenset((int(perm[a]), int(perm[b]))) for a, b in map(tuple, edges)} == edges
    capped = prepare_record(
        RawRecord("smiles", "OC(=O)c1ccc(cc1)C(F)(F)F", "x", "t:1", 0),
        PrepOptions(max_automorphisms=3),
    )
    assert capped.automorphisms.shape[0] == 3 and capped.automorphisms_truncated
