"""Bond orders of a PDBQT ligand for SDF output: the right molecule, or a refusal with the reason.

A PDBQT holds atoms, coordinates and AutoDock types, but no bond orders, no formal charges and
only the polar hydrogens. ``ligand_chemistry(record, template)`` gives the molecule behind a
record, from (first that applies):

1. the record's own mol block (SMILES / SDF input, or meeko's ``REMARK SMILES`` remarks, read at
   prep by ``hpcfold.chem.pdbqt_smiles``);
2. a template molecule the user names (``--ligand-template`` SMILES or SDF): RDKit's
   ``AssignBondOrdersFromTemplate`` on the record's heavy-atom graph; the template's
   protonation wins, a polar hydrogen the template has no place for is left out;
3. perception from the geometry. Polar hydrogens are all present in a PDBQT, so the hydrogen
   count of N, O and S is known; each carbon's count comes from its AutoDock type (``A`` is an
   aromatic carbon, sp2) and its geometry (bond angles, planarity, bond lengths). With every
   hydrogen known, each atom's missing valence is paired with a neighbour's (double and triple
   bonds, a bounded exhaustive search); only O / S with one bond and N with two may stay
   unpaired (anions), and a three-connected N becomes N+ where that leaves fewer charged atoms
   or a smaller net charge (nitro, amidinium, iminium, pyridinium, N-oxide).

Every result is checked before it is used: it sanitises, has no radical, every charged atom is a
common ion (N+ of valence 4, O- / S- with one bond, N- with two), every multiple bond is short
enough for its order and every atom with a multiple bond is planar (or linear). A geometry that
leaves a carbon's hybridisation in doubt, or any failed check, raises ``BondOrderError`` with
the reason: the caller then writes that ligand as PDBQT instead of a possibly wrong SDF. The
valence rules (carbon hydrogens, pairing, N+) live in ``hpcfold.chem.valence``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from hpcfold.chem.valence import (
    MAX_MULTIPLE,
    BondOrderError,
    angle_sum,
    best_assignment,
    carbon_hydrogens,
    pair,
)
from hpcfold.types import AD_TYPES, CG_CODE0, N_GLUE, LigandRecord, is_glue

__all__ = [
    "BondOrderError",
    "Chemistry",
    "carbon_hydrogens",
    "from_geometry",
    "from_template",
    "ligand_chemistry",
    "read_template",
]

ELEMENT_OF_AD = {
    "C": "C", "A": "C", "N": "N", "NA": "N", "N0": "N", "OA": "O", "OS": "O", "S": "S",
    "SA": "S", "P": "P", "F": "F", "Cl": "Cl", "Br": "Br", "I": "I", "H": "H", "HD": "H",
    "HS": "H", "Se": "Se", "CG0": "C", "CG1": "C", "CG2": "C", "CG3": "C",
}  # fmt: skip


@dataclass(frozen=True)
class Chemistry:
    """The molecule of a record: ``molblock`` (explicit H, reference coordinates), ``mol_index``
    (n,) int32 record atom -> mol block atom (-1: not in it), canonical ``smiles`` and
    ``origin`` ('record', 'template' or 'geometry')."""

    molblock: str
    mol_index: np.ndarray
    smiles: str
    origin: str


def closed_ring_graph(record: LigandRecord) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(kept atom indices, bonds (i, j) among record atoms): glue pseudo-atoms Gn dropped with
    their bonds, and each opened macrocycle bond CGn-CGn restored."""
    ad = np.asarray(record.ad_types, dtype=np.int64)
    keep = np.flatnonzero(~is_glue(ad))
    kept = set(keep.tolist())
    bonds = [
        (int(i), int(j))
        for i, j in np.asarray(record.bonds).reshape(-1, 3)[:, :2].tolist()
        if i in kept and j in kept
    ]
    for k in range(N_GLUE):
        cg = np.flatnonzero(ad == CG_CODE0 + k)
        if cg.size == 2:
            bonds.append((int(cg[0]), int(cg[1])))
    return keep, bonds


def _check(mol: Chem.Mol, xyz: np.ndarray) -> None:
    """Raise BondOrderError unless ``mol`` (atoms = rows of ``xyz``) is a believable molecule."""
    mol = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # noqa: BLE001 - any sanitisation failure is a refusal
        raise BondOrderError(f"bond orders do not sanitise ({exc})") from None
    for atom in mol.GetAtoms():
        i, sym, q = atom.GetIdx(), atom.GetSymbol(), atom.GetFormalCharge()
        if atom.GetNumRadicalElectrons():
            raise BondOrderError(f"atom {i + 1} ({sym}) would be a radical")
        valence = sum(b.GetBondTypeAsDouble() for b in atom.GetBonds()) + atom.GetNumExplicitHs()
        ok = (
            q == 0
            or (sym == "N" and q == 1 and valence == 4)
            or (sym in ("O", "S") and q == -1 and atom.GetDegree() + atom.GetNumExplicitHs() == 1)
            or (sym == "N" and q == -1 and atom.GetDegree() == 2)
        )
        if not ok:
            raise BondOrderError(f"atom {i + 1} ({sym}) would carry an unusual charge {q:+d}")
        if (
            sym in ("C", "N") and q <= 0
            and sum(n.GetFormalCharge() < 0 for n in atom.GetNeighbors()) > 1
        ):  # fmt: skip
            raise BondOrderError(f"atom {i + 1} ({sym}) would carry two anions")
        multiple = [b for b in atom.GetBonds() if b.GetBondTypeAsDouble() > 1.0]
        if not multiple:
            continue
        nbrs = [n.GetIdx() for n in atom.GetNeighbors()]
        if sym in ("C", "N") and len(nbrs) == 3 and angle_sum(xyz, i, nbrs) < 345.0:
            raise BondOrderError(f"atom {i + 1} ({sym}) has a double bond but is not planar")
        if sym in ("C", "N") and len(nbrs) >= 4:
            raise BondOrderError(f"atom {i + 1} ({sym}) has a double bond and four neighbours")
    for b in mol.GetBonds():
        if b.GetBondTypeAsDouble() <= 1.0:
            continue
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if any(
            a.GetSymbol() != "C" and a.GetDegree() == 1 for a in (b.GetBeginAtom(), b.GetEndAtom())
        ):
            continue  # a terminal O / N / S: its file hydrogens fixed the order (C=O or C-O-)
        if b.GetIsAromatic():
            continue  # a Hueckel ring as a whole: crystal ring bonds stray beyond a length limit
        limit = MAX_MULTIPLE.get(pair(mol.GetAtomWithIdx(i).GetSymbol(),
                                mol.GetAtomWithIdx(j).GetSymbol()))  # fmt: skip
        r = float(np.linalg.norm(xyz[i] - xyz[j]))
        if limit is not None and r > limit:
            raise BondOrderError(f"bond {i + 1}-{j + 1} ({r:.2f} A) is too long for its order")


def _finish(mol: Chem.Mol, keep: np.ndarray, record: LigandRecord, origin: str) -> Chemistry:
    """Hydrogens placed (RDKit), stereo from 3D, mol block and map of ``mol`` whose first atoms
    are the record atoms ``keep`` in that order."""
    molh = Chem.AddHs(mol, addCoords=True)
    Chem.AssignStereochemistryFrom3D(molh)
    mol_index = np.full(record.n_atoms, -1, dtype=np.int32)
    mol_index[keep] = np.arange(len(keep), dtype=np.int32)
    smiles = Chem.MolToSmiles(Chem.RemoveHs(molh))
    return Chemistry(Chem.MolToMolBlock(molh), mol_index, smiles, origin)


def _skeleton(record: LigandRecord, keep: np.ndarray, bonds, elements: list[str]) -> Chem.RWMol:
    """Record atoms ``keep`` (file order) with single bonds, no implicit H, at record coords."""
    pos = {int(a): k for k, a in enumerate(keep)}
    mol = Chem.RWMol()
    conf = Chem.Conformer(len(keep))
    for k, a in enumerate(keep):
        atom = Chem.Atom(elements[a])
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
        conf.SetAtomPosition(k, Point3D(*(float(v) for v in record.coords[a])))
    for i, j in bonds:
        if mol.GetBondBetweenAtoms(pos[i], pos[j]) is None:
            mol.AddBond(pos[i], pos[j], Chem.BondType.SINGLE)
    mol.AddConformer(conf, assignId=True)
    return mol


def _elements(record: LigandRecord, keep: np.ndarray) -> list[str]:
    out = [""] * record.n_atoms
    for a in keep:
        ad = AD_TYPES[int(record.ad_types[a])]
        if ad not in ELEMENT_OF_AD:
            raise BondOrderError(f"atom {a + 1} of type {ad}: no bond-order rules for it")
        out[a] = ELEMENT_OF_AD[ad]
    return out


def _net_charge(record: LigandRecord) -> int | None:
    """The total charge the PDBQT's partial charges sum to when that is an integer (+-0.02):
    Gasteiger charges (meeko, hpcfold prep) keep the molecule's formal charge. None otherwise."""
    total = float(np.sum(np.asarray(record.charges, dtype=np.float64)))
    near = round(total)
    return int(near) if abs(total - near) <= 0.02 else None


def from_geometry(record: LigandRecord) -> Chemistry:
    """Bond orders and charges perceived from the record's atoms, polar H and geometry."""
    keep, bonds = closed_ring_graph(record)
    elements = _elements(record, keep)
    xyz_all = np.asarray(record.coords, dtype=np.float64)
    nbrs: dict[int, list[int]] = {int(a): [] for a in keep}
    for i, j in bonds:
        nbrs[i].append(j)
        nbrs[j].append(i)
    all_h = any(AD_TYPES[int(record.ad_types[a])] == "H" for a in keep)
    mol = _skeleton(record, keep, bonds, elements)
    pos = {int(a): k for k, a in enumerate(keep)}
    added: dict[int, int] = {}
    for a in keep.tolist():
        if elements[a] == "C" and not all_h:
            ad = AD_TYPES[int(record.ad_types[a])]
            added[pos[a]] = carbon_hydrogens(a, nbrs[a], xyz_all, elements, ad == "A")
    full = Chem.RWMol(mol)
    for k, nh in added.items():
        for _ in range(nh):
            h = Chem.Atom(1)
            h.SetNoImplicit(True)
            full.AddBond(k, full.AddAtom(h), Chem.BondType.SINGLE)
    out = Chem.RWMol(best_assignment(full, full.GetConformer().GetPositions(), _net_charge(record)))
    for idx in range(out.GetNumAtoms() - 1, len(keep) - 1, -1):
        out.RemoveAtom(idx)  # the added hydrogens: placed again with coordinates below
    for k, nh in added.items():
        out.GetAtomWithIdx(k).SetNumExplicitHs(nh)
    out.RemoveAllConformers()
    out.AddConformer(mol.GetConformer(), assignId=True)
    result = out.GetMol()
    _check(result, xyz_all[keep])
    Chem.SanitizeMol(result)
    return _finish(result, keep, record, "geometry")


def read_template(spec: str) -> Chem.Mol:
    """A template molecule: an SDF / MOL file (first record) or a SMILES string."""
    from hpcfold.errors import UserError

    if os.path.isfile(spec):
        if spec.lower().endswith((".sdf", ".mol", ".sd")):
            mol = next(iter(Chem.SDMolSupplier(spec)), None)
        else:
            with open(spec, encoding="utf-8") as fh:
                first = fh.readline().split()
            mol = Chem.MolFromSmiles(first[0]) if first else None
    else:
        mol = Chem.MolFromSmiles(spec)
    if mol is None:
        raise UserError(f"--ligand-template {spec!r}: not a readable SMILES or SDF")
    return Chem.RemoveHs(mol)


def from_template(record: LigandRecord, template: Chem.Mol) -> Chemistry:
    """Bond orders and charges of ``template`` laid onto the record's heavy atoms."""
    keep, bonds = closed_ring_graph(record)
    elements = _elements(record, keep)
    heavy = np.asarray([a for a in keep.tolist() if elements[a] != "H"], dtype=np.int64)
    hset = set(heavy.tolist())
    if template.GetNumAtoms() != len(heavy):
        raise BondOrderError(
            f"the template has {template.GetNumAtoms()} heavy atoms, the ligand {len(heavy)}"
        )
    mol = _skeleton(record, heavy, [(i, j) for i, j in bonds if i in hset and j in hset], elements)
    for atom in mol.GetAtoms():
        atom.SetNoImplicit(False)
    RDLogger.DisableLog("rdApp.*")
    try:
        out = AllChem.AssignBondOrdersFromTemplate(template, mol.GetMol())
    except Exception as exc:  # noqa: BLE001 - no match: this template is another molecule
        raise BondOrderError(f"does not match the template ({exc})") from None
    finally:
        RDLogger.EnableLog("rdApp.*")
    _check(out, np.asarray(record.coords, dtype=np.float64)[heavy])
    return _finish(out, heavy, record, "template")


def ligand_chemistry(record: LigandRecord, template: Chem.Mol | None = None) -> Chemistry:
    """The molecule of ``record`` (see the module docstring); raises BondOrderError."""
    if record.molblock and record.mol_index is not None:
        return Chemistry(record.molblock, np.asarray(record.mol_index), record.smiles, "record")
    if template is not None:
        try:
            return from_template(record, template)
        except BondOrderError as exc:
            template_error = str(exc)
        try:
            return from_geometry(record)
        except BondOrderError as exc:
            raise BondOrderError(f"{template_error}; from the geometry: {exc}") from None
    return from_geometry(record)
