"""Chemistry of a meeko PDBQT from its remarks: bond orders, charges and hydrogens for SDF output.

meeko writes, before ``ROOT``: ``REMARK SMILES <smiles>`` (the molecule, heavy atoms), ``REMARK
SMILES IDX a s ...`` (SMILES atom a, 1-based, is the PDBQT atom with serial s) and ``REMARK H
PARENT p h ...`` (polar hydrogen with serial h sits on SMILES atom p). ``molblock_from_remarks``
turns them into a mol block with explicit hydrogens at the PDBQT's coordinates plus the record
atom -> mol block atom map (``LigandRecord.molblock`` / ``mol_index``), so a pose of a PDBQT
ligand is written as SDF with its real bond orders and formal charges, as for SMILES / SDF
input. A flexible macrocycle's glue atoms (``G0``..``G3``) are not in the SMILES: they map to
-1 and the ring comes out closed. Anything missing or inconsistent gives None (the caller keeps
the atoms-only SDF).
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Geometry import Point3D

from hpcfold.chem.topology import ad_element
from hpcfold.types import AD_TYPES, LigandRecord


def _pairs(values: list[str]) -> list[tuple[int, int]] | None:
    """Whitespace-separated integers as consecutive pairs; None for an odd count or a non-int."""
    try:
        nums = [int(v) for v in values]
    except ValueError:
        return None
    if len(nums) % 2:
        return None
    return list(zip(nums[0::2], nums[1::2], strict=True))


def read_remarks(text: str) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]], list[int]]:
    """(smiles, SMILES IDX pairs, H PARENT pairs, ATOM serials in order) of a PDBQT text; the
    smiles is '' and a pair list None-free but possibly empty when the remarks are absent or bad."""
    smiles, idx, hpar, serials = "", [], [], []
    for line in text.splitlines():
        if line.startswith("REMARK SMILES IDX"):
            idx += _pairs(line.split()[3:]) or []
        elif line.startswith("REMARK SMILES"):
            parts = line.split()
            smiles = parts[2] if len(parts) > 2 else ""
        elif line.startswith("REMARK H PARENT"):
            hpar += _pairs(line.split()[3:]) or []
        elif line.startswith(("ATOM", "HETATM")):
            try:
                serials.append(int(line[6:11]))
            except ValueError:
                serials.append(-1)
    return smiles, idx, hpar, serials


def molblock_from_remarks(text: str, rec: LigandRecord) -> tuple[str, np.ndarray, str] | None:
    """(mol block with explicit H, mol_index (n,) int32, canonical isomeric SMILES) of a PDBQT
    record from meeko's remarks, or None when they are absent or disagree with the atoms (an
    element, an unmapped heavy atom, a hydrogen on the wrong parent)."""
    smiles, idx, hpar, serials = read_remarks(text)
    if not smiles or not idx or len(serials) != rec.n_atoms:
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    where = {s: k for k, s in enumerate(serials)}
    elements = [ad_element(AD_TYPES[int(t)]) for t in rec.ad_types]
    heavy_of = {}  # record atom -> SMILES atom (0-based)
    for a, s in idx:
        k = where.get(s)
        if k is None or not 1 <= a <= mol.GetNumAtoms() or k in heavy_of:
            return None
        if mol.GetAtomWithIdx(a - 1).GetSymbol() != elements[k]:
            return None
        heavy_of[k] = a - 1
    if sorted(heavy_of.values()) != list(range(mol.GetNumAtoms())):
        return None  # every SMILES atom must have its PDBQT atom
    conf = Chem.Conformer(mol.GetNumAtoms())
    for k, a in heavy_of.items():
        conf.SetAtomPosition(a, Point3D(*(float(v) for v in rec.coords[k])))
    mol.AddConformer(conf, assignId=True)
    molh = Chem.AddHs(mol, addCoords=True)
    mol_index = np.full(rec.n_atoms, -1, dtype=np.int32)
    for k, a in heavy_of.items():
        mol_index[k] = a
    free = {a: [n.GetIdx() for n in molh.GetAtomWithIdx(a).GetNeighbors() if n.GetAtomicNum() == 1]
            for a in range(mol.GetNumAtoms())}  # fmt: skip
    hconf = molh.GetConformer()
    for p, h in hpar:  # p: SMILES atom (1-based), h: PDBQT serial
        kh = where.get(h)
        a = p - 1
        if not 0 <= a < mol.GetNumAtoms() or kh is None or elements[kh] != "H" or not free[a]:
            return None
        m = free[a].pop(0)
        mol_index[kh] = m
        hconf.SetAtomPosition(m, Point3D(*(float(v) for v in rec.coords[kh])))
    unmapped = [k for k in range(rec.n_atoms) if mol_index[k] < 0 and elements[k] != "G"]
    if unmapped:
        return None
    return Chem.MolToMolBlock(molh), mol_index, Chem.MolToSmiles(mol)
