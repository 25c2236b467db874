"""SDF text of a docked pose: ``write_pose_sdf(record, coords, name, tags) -> str``.

Ligands prepared from SMILES/SDF carry a mol block with explicit hydrogens and ``mol_index``
(record atom -> mol block atom). The pose's coordinates replace those of the mapped atoms; each
merged (non-polar) hydrogen is carried along with its heavy atom by the rigid motion (Kabsch) that
best maps the heavy atom and its mapped neighbours within two bonds from the reference conformer
onto the pose, so C-H geometry stays exact. PDBQT-input ligands without meeko's remarks get their
molecule from ``hpcfold.chem.bond_orders`` (a template or perception from the geometry), or no
SDF at all (``BondOrderError``): never atoms with guessed single bonds. A flexible macrocycle
(meeko's CGn / Gn atoms) comes out closed: the glue pseudo-atoms Gn are left out and the CGn
carbons bonded again. Tags follow ``M  END`` as ``> <key>`` data items; the record ends with
``$$$$``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import numpy as np
from rdkit import Chem

from hpcfold.chem.bond_orders import BondOrderError, Chemistry, ligand_chemistry
from hpcfold.types import LigandRecord


def _kabsch(ref: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t with new ~ ref @ R.T + t (both (k, 3), k >= 1)."""
    cr, cn = ref.mean(axis=0), new.mean(axis=0)
    if ref.shape[0] < 2:
        return np.eye(3), cn - cr
    h = (ref - cr).T @ (new - cn)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, cn - cr @ rot.T


def _place_all_atoms(mol: Chem.Mol, record: LigandRecord, coords: np.ndarray) -> np.ndarray:
    """(N_mol, 3) coordinates for every mol block atom from the record atoms' pose coords."""
    ref = mol.GetConformer().GetPositions()
    out = ref.copy()
    mapped = np.full(mol.GetNumAtoms(), -1, dtype=np.int64)
    for k, m in enumerate(np.asarray(record.mol_index).tolist()):
        if 0 <= m < mol.GetNumAtoms():
            mapped[m] = k
            out[m] = coords[k]
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        if mapped[i] >= 0 or not atom.GetNeighbors():
            continue
        parent = atom.GetNeighbors()[0].GetIdx()
        anchors = {parent}
        for nb in mol.GetAtomWithIdx(parent).GetNeighbors():
            anchors.add(nb.GetIdx())
            anchors.update(x.GetIdx() for x in nb.GetNeighbors())
        anchors = sorted(a for a in anchors if mapped[a] >= 0)
        if not anchors:
            continue
        rot, t = _kabsch(ref[anchors], coords[mapped[anchors]])
        out[i] = ref[i] @ rot.T + t
    return out


def _fmt(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.3f}"
    return str(value)


def _tags_block(tags: Mapping[str, object]) -> str:
    out = []
    for key, value in tags.items():
        out.append(f"> <{key}>\n{tag_text(value)}\n")
    return "\n".join(out) + ("\n" if out else "")


def sdf_name(lig_id: str) -> str:
    """The record name (first line) for a ligand id: one line, at most 80 characters, and never
    a line an SD parser reads as a record end or a data item (``$$$$``, ``M  END``, ``>``):
    newlines and tabs become spaces, and a name starting with ``$$$$``, ``M  END`` or ``>`` gets
    a leading ``_``. The id as given is kept in the ``hpcfold_ligand_id`` tag (``tag_text``)."""
    name = " ".join(str(lig_id).replace("\t", " ").splitlines()) or "_"
    if name.startswith(("$$$$", "M  END", ">")):
        name = "_" + name
    return name[:80]


def tag_text(value) -> str:
    """A data item's value as one line that cannot end the item or the record: as it is, or
    JSON-quoted (``json.loads`` gives it back) when it holds a line break or starts with
    ``$$$$``, ``>``, ``M  END`` or ``"``."""
    text = _fmt(value)
    if any(c in text for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") or text.startswith(
        ("$$$$", ">", "M  END", '"')
    ):
        return json.dumps(text)
    return text


def write_pose_sdf(
    record: LigandRecord,
    coords: np.ndarray,
    name: str,
    tags: Mapping[str, str | float],
    chem: Chemistry | None = None,
) -> str:
    """One SDF record (mol block, data items, ``$$$$``) of ``record`` at ``coords`` (n, 3) A.

    ``chem``: the molecule (``hpcfold.chem.bond_orders.ligand_chemistry``), computed here when
    not given. Raises BondOrderError when the molecule is not known for sure (the caller writes
    the ligand as PDBQT instead) and ValueError for bad coordinates.
    """
    xyz = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    if xyz.shape[0] != record.n_atoms:
        raise ValueError(f"coords has {xyz.shape[0]} atoms, the record {record.n_atoms}")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("pose coordinates are not finite")
    if chem is None:
        chem = ligand_chemistry(record)
    mol = Chem.MolFromMolBlock(chem.molblock, sanitize=False, removeHs=False)
    if mol is None or mol.GetNumConformers() == 0:
        raise BondOrderError("the stored mol block does not parse")
    mapped = dataclasses.replace(record, mol_index=chem.mol_index)
    full = _place_all_atoms(mol, mapped, xyz)
    conf = mol.GetConformer()
    for i, p in enumerate(full):
        conf.SetAtomPosition(i, p.tolist())
    mol.UpdatePropertyCache(strict=False)
    mol.SetProp("_Name", sdf_name(name))
    block = Chem.MolToMolBlock(mol, kekulize=False)
    return block + _tags_block(tags) + "$$$$\n"
