"""PDBQT text of a typed RDKit ligand, laid out as meeko 0.8's ``PDBQTWriterLegacy`` writes it.

Same atom order (ROOT atoms sorted by RDKit index, each BRANCH starting with its axis atom, bodies
depth-first in creation order), same ATOM line format, ``BRANCH``/``ENDBRANCH`` numbering and
``TORSDOF`` (number of rigid bodies - 1). Remarks: ``REMARK SMILES``, ``REMARK SMILES IDX`` and
``REMARK H PARENT`` as meeko writes them for hydrogens that are kept, so meeko's export tools can
map atoms back to the SMILES.
"""

from __future__ import annotations

import json
import math

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdPartialCharges

from hpcfold.chem.typing import FlexModel

_ATOM_FMT = "{:6s}{:5d} {:<4s}{:1s}{:3s} {:1s}{:4d}{:1s}   {:8.3f}{:8.3f}{:8.3f}{:6.2f}{:6.2f}  {:+8.3f} {:<2s}"


def gasteiger_charges(mol: Chem.Mol) -> np.ndarray:
    """(n,) Gasteiger charges of ``mol`` (explicit H) as meeko computes them; NaN -> 0.0."""
    copy = Chem.Mol(mol)
    for atom in copy.GetAtoms():
        if atom.GetAtomicNum() == 34:  # meeko types Se as S for charges
            atom.SetAtomicNum(16)
    rdPartialCharges.ComputeGasteigerCharges(copy)
    q = np.array([a.GetDoubleProp("_GasteigerCharge") for a in copy.GetAtoms()], dtype=np.float64)
    return np.where(np.isfinite(q), q, 0.0)


def merged_charges(mol: Chem.Mol, charges: np.ndarray, ignore: tuple[bool, ...]) -> np.ndarray:
    """Charges after merging ignored (non-polar) hydrogens into their heavy neighbour."""
    q = np.array(charges, dtype=np.float64)
    for i, skip in enumerate(ignore):
        if skip:
            j = mol.GetAtomWithIdx(i).GetNeighbors()[0].GetIdx()
            q[j] += q[i]
            q[i] = 0.0
    return q


def _atom_name(mol: Chem.Mol, idx: int) -> tuple[str, str, str, int]:
    atom = mol.GetAtomWithIdx(idx)
    info = atom.GetPDBResidueInfo()
    if info is None:
        name, res, num, chain = f"{atom.GetSymbol():<2s}", "UNL", 1, " "
    else:
        name, res, num, chain = (
            info.GetName(),
            info.GetResidueName(),
            info.GetResidueNumber(),
            info.GetChainId(),
        )
    name, res, chain = name[:4], res[:3], chain[:1]
    num = num % 10000 if num > 9999 else num
    if len(name) < 4 and not (len(name) >= 2 and name[0].isalpha() and name[1].islower()):
        name = " " + name
    return name, res, chain, num


def atom_line(count: int, name, res, chain, num, xyz, charge: float, ad_type: str) -> str:
    """One PDBQT ATOM line in meeko's format (columns as AutoDock reads them)."""
    return _ATOM_FMT.format(
        "ATOM", count, name, " ", res, chain, num, "", *(float(v) for v in xyz), 1.0, 0.0,
        charge, ad_type,
    )  # fmt: skip


def _smiles_remarks(mol: Chem.Mol, numbering: dict[int, int]) -> tuple[list[str], str]:
    """REMARK SMILES / SMILES IDX / H PARENT lines (meeko's layout) and the SMILES."""
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() != 1]
    try:  # as meeko: RemoveHs with sanitization (re-perceives aromaticity for the SMILES)
        noh = Chem.RemoveHs(mol)
    except Exception:
        noh = Chem.RemoveHs(mol, sanitize=False)
    if noh.GetNumAtoms() != len(heavy):  # kept H (isotopes, stereo imines): no index map
        smiles = Chem.MolToSmiles(noh)
        return [f"REMARK SMILES {smiles}"], smiles
    smiles = Chem.MolToSmiles(noh)
    out_order = json.loads(noh.GetProp("_smilesAtomOutputOrder").replace(",]", "]"))
    rank = {heavy[k]: pos + 1 for pos, k in enumerate(out_order)}
    idx_strings, parent_strings = [], []
    for key, num in numbering.items():
        if key in rank:
            idx_strings.append(f" {rank[key]} {num}")
        else:  # a kept (polar) hydrogen
            parent = mol.GetAtomWithIdx(key).GetNeighbors()[0].GetIdx()
            parent_strings.append(f" {rank.get(parent, 0)} {num}")
    lines = (
        [f"REMARK SMILES {smiles}"]
        + _break_lines(idx_strings, "REMARK SMILES IDX")
        + _break_lines(parent_strings, "REMARK H PARENT")
    )
    return lines, smiles


def _break_lines(strings: list[str], prefix: str, max_len: int = 79) -> list[str]:
    lines = [prefix]
    for s in strings:
        if len(lines[-1]) + len(s) < max_len:
            lines[-1] += s
        else:
            lines.append(prefix + s)
    return lines


def write_ligand_pdbqt(
    mol: Chem.Mol,
    ad_types: list[str],
    charges: np.ndarray,
    flex: FlexModel,
    remarks: bool = True,
) -> tuple[str, list[int], str]:
    """PDBQT text of ``mol`` (explicit H, one conformer), the RDKit index of each ATOM line and
    the canonical isomeric SMILES of the heavy atoms written in ``REMARK SMILES`` ('' when
    ``remarks`` is False).

    ``charges``: (n,) per RDKit atom, already merged (see ``merged_charges``).
    """
    pos = mol.GetConformer().GetPositions()
    lines: list[str] = []
    numbering: dict[int, int] = {}
    visited: set[int] = set()

    def emit(idx: int) -> None:
        count = len(numbering) + 1
        q = float(charges[idx])
        q = 0.0 if not math.isfinite(q) else q
        lines.append(atom_line(count, *_atom_name(mol, idx), pos[idx], q, ad_types[idx]))
        numbering[idx] = count

    def walk(node: int, edge_start: int) -> None:  # meeko's _walk_graph_recursive
        if edge_start < 0:
            lines.append("ROOT")
            pool = sorted(flex.members[node])
        else:
            pool = [edge_start] + [m for m in flex.members[node] if m != edge_start]
        for m in pool:
            if not flex.ignore[m]:
                emit(m)
        if edge_start < 0:
            lines.append("ENDROOT")
        visited.add(node)
        for child in flex.graph[node]:
            if child in visited:
                continue
            a, b = flex.connectivity[node, child]
            begin, end = numbering[a], len(numbering) + 1
            lines.append(f"BRANCH {begin:3d} {end:3d}")
            walk(child, b)
            lines.append(f"ENDBRANCH {begin:3d} {end:3d}")

    walk(flex.root, -1)
    smiles = ""
    if remarks:
        lines[:0], smiles = _smiles_remarks(mol, numbering)
    lines.append(f"TORSDOF {flex.n_torsions}")
    order = sorted(numbering, key=numbering.get)
    return "\n".join(lines) + "\n", order, smiles
