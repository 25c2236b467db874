"""SDF text of a docked pose: ``write_pose_sdf(record, coords, name, tags) -> str``.

Ligands prepared from SMILES/SDF carry a mol block with explicit hydrogens and ``mol_index``
(record atom -> mol block atom). The pose's coordinates replace those of the mapped atoms; each
merged (non-polar) hydrogen is carried along with its heavy atom by the rigid motion (Kabsch) that
best maps the heavy atom and its mapped neighbours within two bonds from the reference conformer
onto the pose, so C-H geometry stays exact. PDBQT-input ligands (no mol block) get an SDF built
from their atoms (element from the AutoDock type) and their bonds (single bonds unless the record
says otherwise); a flexible macrocycle (meeko's CGn / Gn atoms) comes out closed: the glue
pseudo-atoms Gn are left out and each pair of CGn carbons is bonded again. Tags follow
``M  END`` as ``> <key>`` data items; the record ends with ``$$$$``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from rdkit import Chem

from hpcfold.types import AD_TYPES, CG_CODE0, N_GLUE, LigandRecord, is_glue

_AD_SYMBOL = {
    "A": "C", "NA": "N", "N0": "N", "OA": "O", "OS": "O", "SA": "S", "HD": "H", "HS": "H",
    "CG0": "C", "CG1": "C", "CG2": "C", "CG3": "C",
}  # fmt: skip


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
        text = _fmt(value).replace("\r", " ").replace("\n", " ")
        out.append(f"> <{key}>\n{text}\n")
    return "\n".join(out) + ("\n" if out else "")


def _closed_ring_atoms(record: LigandRecord) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(kept atom indices, bonds (i, j, order) among record atoms): glue pseudo-atoms Gn dropped
    with their bonds, and each opened macrocycle bond CGn-CGn restored as a single bond."""
    ad = np.asarray(record.ad_types, dtype=np.int64)
    keep = np.flatnonzero(~is_glue(ad))
    kept = set(keep.tolist())
    bonds = [
        (int(i), int(j), int(o))
        for i, j, o in np.asarray(record.bonds).reshape(-1, 3).tolist()
        if i in kept and j in kept
    ]
    for k in range(N_GLUE):
        cg = np.flatnonzero(ad == CG_CODE0 + k)
        if cg.size == 2:
            bonds.append((int(cg[0]), int(cg[1]), 1))
    return keep, bonds


def _molblock_from_atoms(record: LigandRecord, coords: np.ndarray, name: str) -> str:
    """V2000 mol block from the record's atoms and bonds (PDBQT input)."""
    keep, bonds = _closed_ring_atoms(record)
    new_index = {int(a): k for k, a in enumerate(keep)}
    n = len(keep)
    lines = [
        name,
        f"{'  hpcfold':<20s}3D",
        "",
        f"{n:3d}{len(bonds):3d}  0  0  0  0  0  0  0  0999 V2000",
    ]
    symbols = []
    for a in keep:
        ad = AD_TYPES[int(record.ad_types[a])]
        sym = _AD_SYMBOL.get(ad, ad)
        symbols.append(sym)
        x, y, z = (float(v) for v in coords[a])
        lines.append(f"{x:10.4f}{y:10.4f}{z:10.4f} {sym:<3s} 0  0  0  0  0  0  0  0  0  0  0  0")
    degree = np.zeros(n, dtype=np.int64)
    for i, j, order in bonds:
        o = int(order) if int(order) in (1, 2, 3, 4) else 1
        a, b = new_index[i], new_index[j]
        lines.append(f"{a + 1:3d}{b + 1:3d}{o:3d}  0")
        degree[a] += 1
        degree[b] += 1
    # a four-connected N (hydrogens of PDBQT are polar H, so all present) is an ammonium
    charged = [k + 1 for k in range(n) if symbols[k] == "N" and degree[k] == 4]
    for start in range(0, len(charged), 8):
        part = charged[start : start + 8]
        lines.append(f"M  CHG{len(part):3d}" + "".join(f"{k:4d}{1:4d}" for k in part))
    lines.append("M  END")
    return "\n".join(lines) + "\n"


def write_pose_sdf(
    record: LigandRecord, coords: np.ndarray, name: str, tags: Mapping[str, str | float]
) -> str:
    """One SDF record (mol block, data items, ``$$$$``) of ``record`` at ``coords`` (n, 3) A."""
    xyz = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    if xyz.shape[0] != record.n_atoms:
        raise ValueError(f"coords has {xyz.shape[0]} atoms, the record {record.n_atoms}")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("pose coordinates are not finite")
    name = name.replace("\n", " ")
    mol = None
    if record.molblock and record.mol_index is not None:
        mol = Chem.MolFromMolBlock(record.molblock, sanitize=False, removeHs=False)
    if mol is not None and mol.GetNumConformers() > 0:
        full = _place_all_atoms(mol, record, xyz)
        conf = mol.GetConformer()
        for i, p in enumerate(full):
            conf.SetAtomPosition(i, p.tolist())
        mol.UpdatePropertyCache(strict=False)
        mol.SetProp("_Name", name)
        block = Chem.MolToMolBlock(mol, kekulize=False)
    else:
        block = _molblock_from_atoms(record, xyz, name)
    return block + _tags_block(tags) + "$$$$\n"
