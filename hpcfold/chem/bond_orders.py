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
the reason: the caller then writes that ligand as PDBQT instead of a possibly wrong SDF.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from hpcfold.types import AD_TYPES, CG_CODE0, N_GLUE, LigandRecord, is_glue

ELEMENT_OF_AD = {
    "C": "C", "A": "C", "N": "N", "NA": "N", "N0": "N", "OA": "O", "OS": "O", "S": "S",
    "SA": "S", "P": "P", "F": "F", "Cl": "Cl", "Br": "Br", "I": "I", "H": "H", "HD": "H",
    "HS": "H", "Se": "Se", "CG0": "C", "CG1": "C", "CG2": "C", "CG3": "C",
}  # fmt: skip
# Bond lengths (Angstrom) of single / double / triple bonds (Allen et al. 1987 averages); a bond
# is "short" below the midpoint of single and double.
LENGTHS = {
    ("C", "C"): (1.53, 1.34, 1.20), ("C", "N"): (1.47, 1.28, 1.16), ("C", "O"): (1.43, 1.21, None),
    ("C", "S"): (1.82, 1.61, None), ("N", "N"): (1.45, 1.25, 1.10), ("N", "O"): (1.40, 1.22, None),
}  # fmt: skip
# A localised (non-aromatic) multiple bond longer than this is refused: a single bond's length
# was given a double order. No bond longer than an aromatic one is ever made multiple.
MAX_MULTIPLE = {("C", "C"): 1.44, ("C", "N"): 1.40, ("C", "O"): 1.33, ("C", "S"): 1.74,
                ("N", "N"): 1.36, ("N", "O"): 1.32}  # fmt: skip
MAX_AROMATIC = {("C", "C"): 1.48, ("C", "N"): 1.43, ("C", "O"): 1.40, ("C", "S"): 1.78,
                ("N", "N"): 1.42, ("N", "O"): 1.42}  # fmt: skip


class BondOrderError(ValueError):
    """No trustworthy bond orders for a ligand; the message says why."""


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


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if (a, b) in LENGTHS or (a, b) in MAX_MULTIPLE else (b, a)


def _angle(xyz: np.ndarray, c: int, a: int, b: int) -> float:
    u, v = xyz[a] - xyz[c], xyz[b] - xyz[c]
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0.0 or nv == 0.0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))))


def _angle_sum(xyz: np.ndarray, c: int, nbrs: list[int]) -> float:
    """Sum of the three angles at ``c`` (360 when planar, ~328 when tetrahedral)."""
    a, b, d = nbrs[:3]
    return _angle(xyz, c, a, b) + _angle(xyz, c, b, d) + _angle(xyz, c, a, d)


def _length_class(xyz, elements, c: int, n: int) -> int:
    """-1: shorter than the single/double midpoint; +1: a single bond's length (within 0.04 A
    of it, or longer); 0: in between, or a pair without a multiple bond (halogens...)."""
    ref = LENGTHS.get(_pair(elements[c], elements[n]))
    if ref is None:
        return 0
    r = float(np.linalg.norm(xyz[c] - xyz[n]))
    if r < 0.5 * (ref[0] + ref[1]):
        return -1
    return 1 if r > ref[0] - 0.04 else 0


def carbon_hydrogens(c: int, nbrs: list[int], xyz, elements, aromatic: bool) -> int:
    """Hydrogens missing on carbon ``c`` (PDBQT merges them), from its geometry.

    ``nbrs``: its neighbours in the file (heavy atoms and any hydrogen); ``aromatic``: AutoDock
    type ``A``. A non-aromatic sp2 carbon needs a bond shorter than the single/double
    midpoint (its double bond); without one it is sp3, within angle limits that a crystal
    structure's strain stays inside (wider when every bond has a single bond's length).
    Raises BondOrderError when the geometry does not tell.
    """
    d = len(nbrs)
    if d >= 4:
        return 0
    if aromatic:
        if d in (2, 3):
            return 3 - d
        raise BondOrderError(f"aromatic carbon {c + 1} has {d} neighbour(s)")
    if d == 0:
        return 4
    lengths = [_length_class(xyz, elements, c, n) for n in nbrs]
    short, single = -1 in lengths, all(v == 1 for v in lengths)
    if d == 1:
        ref = LENGTHS.get(_pair("C", elements[nbrs[0]]))
        r = float(np.linalg.norm(xyz[c] - xyz[nbrs[0]]))
        if ref is None or r > 0.5 * (ref[0] + ref[1]):
            return 3
        if ref[2] is None or r > 0.5 * (ref[1] + ref[2]):
            return 2
        return 1
    if d == 3:
        s = _angle_sum(xyz, c, nbrs)
        if short and s >= 340.0:
            return 0
        if not short and s <= (356.0 if single else 340.0):
            return 1
        raise BondOrderError(f"carbon {c + 1}: neither planar nor tetrahedral (angles {s:.0f})")
    theta = _angle(xyz, c, nbrs[0], nbrs[1])
    if theta >= 165.0:
        return 0
    if short and 100.0 <= theta <= 140.0:
        return 1
    if not short and 95.0 <= theta <= (125.0 if single else 114.0):
        return 2
    raise BondOrderError(
        f"carbon {c + 1}: angle {theta:.0f} and bond lengths disagree on its hybridisation"
    )


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
        if sym in ("C", "N") and len(nbrs) == 3 and _angle_sum(xyz, i, nbrs) < 345.0:
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
        limit = MAX_MULTIPLE.get(_pair(mol.GetAtomWithIdx(i).GetSymbol(),
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


def _hypervalent(mol: Chem.RWMol, free: dict[int, int]) -> None:
    """S / Se / P with three or more neighbours: a double bond to each terminal O (no H) up to
    S(=O)2 / S=O / P=O, as RDKit writes sulfones, sulfoxides and phosphates."""
    room = {("S", 4): 2, ("Se", 4): 2, ("S", 3): 1, ("Se", 3): 1, ("P", 4): 1}
    for atom in mol.GetAtoms():
        n = room.get((atom.GetSymbol(), atom.GetDegree()), 0)
        for nb in atom.GetNeighbors():
            if n and nb.GetSymbol() == "O" and nb.GetDegree() == 1 and free.get(nb.GetIdx()) == 1:
                mol.GetBondBetweenAtoms(atom.GetIdx(), nb.GetIdx()).SetBondType(
                    Chem.BondType.DOUBLE
                )
                free[nb.GetIdx()] = 0
                n -= 1
        if atom.GetSymbol() in ("S", "Se", "P") and atom.GetDegree() >= 3:
            free[atom.GetIdx()] = 0


def _free_valence(mol: Chem.Mol, promoted: set[int]) -> dict[int, int]:
    """Atom -> bonds it still needs beyond single ones (0, 1, 2); raises for impossible atoms."""
    target = {"C": 4, "N": 3, "O": 2, "S": 2, "Se": 2, "P": 3, "F": 1, "Cl": 1, "Br": 1,
              "I": 1, "H": 1}  # fmt: skip
    free = {}
    for atom in mol.GetAtoms():
        sym, d = atom.GetSymbol(), atom.GetDegree()
        v = target[sym] + (1 if sym == "N" and (d == 4 or atom.GetIdx() in promoted) else 0)
        if sym in ("S", "Se", "P") and d >= 3:
            v = d
        if not 0 <= v - d <= 2:
            raise BondOrderError(f"atom {atom.GetIdx() + 1} ({sym}) has {d} bonds")
        free[atom.GetIdx()] = v - d
    return free


def _match(mol: Chem.Mol, xyz: np.ndarray, free: dict[int, int], budget: int = 200_000):
    """Extra bond orders {(i, j): 1 or 2} pairing the atoms' free valences: the fewest atoms
    left unpaired (only O / S with one bond and N with two may be: they become anions), then
    the shortest bonds made multiple; a bond longer than an aromatic one is never made
    multiple. None when no pairing exists; BondOrderError when the search exceeds ``budget``."""

    def length(i: int, n: int) -> float:
        return float(np.linalg.norm(xyz[i] - xyz[n]))

    def can_pair(i: int, n: int) -> bool:
        pair = _pair(mol.GetAtomWithIdx(i).GetSymbol(), mol.GetAtomWithIdx(n).GetSymbol())
        return pair not in MAX_AROMATIC or length(i, n) <= MAX_AROMATIC[pair]

    nbrs = {
        i: sorted((n.GetIdx() for n in mol.GetAtomWithIdx(i).GetNeighbors()
                   if free.get(n.GetIdx()) and can_pair(i, n.GetIdx())),
                  key=lambda n, i=i: length(i, n))
        for i, f in free.items() if f
    }  # fmt: skip

    def may_stay(i: int) -> bool:
        atom = mol.GetAtomWithIdx(i)
        sym, d = atom.GetSymbol(), atom.GetDegree()
        return (sym in ("O", "S") and d == 1) or (sym == "N" and d == 2)

    stay = {i for i in nbrs if may_stay(i)}
    left = {i: free[i] for i in nbrs}
    extra: dict[tuple[int, int], int] = {}
    best: list = [None, float("inf")]
    steps = [0]

    def search(cost: float) -> None:
        steps[0] += 1
        if steps[0] > budget or cost >= best[1]:
            return
        open_atoms = [i for i, f in left.items() if f]
        if not open_atoms:
            best[0], best[1] = dict(extra), cost
            return
        i = min(open_atoms, key=lambda k: sum(1 for n in nbrs[k] if left[n]))
        for n in nbrs[i]:
            key = (min(i, n), max(i, n))
            if left[n] and extra.get(key, 0) < 2:
                left[i] -= 1
                left[n] -= 1
                extra[key] = extra.get(key, 0) + 1
                search(cost + length(i, n))
                extra[key] -= 1
                if not extra[key]:
                    del extra[key]
                left[i] += 1
                left[n] += 1
        if i in stay and left[i] == 1:
            left[i] = 0
            search(cost + 1000.0)
            left[i] = 1

    search(0.0)
    if steps[0] > budget:
        raise BondOrderError("bond-order search too large")
    return best[0]


def _crowded(mol: Chem.Mol) -> int:
    """C / N atoms, not positive, bonded to two or more anions (phosphates are not counted)."""
    return sum(
        1 for a in mol.GetAtoms()
        if a.GetSymbol() in ("C", "N") and a.GetFormalCharge() <= 0
        and sum(n.GetFormalCharge() < 0 for n in a.GetNeighbors()) > 1
    )  # fmt: skip


def _assign(skeleton: Chem.RWMol, xyz: np.ndarray, promoted: set[int], target: int | None):
    """(molecule, score) for one set of N+ atoms, or None. The score, lower is better: C / N
    atoms between two anions (``N([O-])[O-]`` is a nitro drawn wrongly), net charge other than
    ``target``, charged atoms, |net charge|."""
    mol = Chem.RWMol(skeleton)
    free = _free_valence(mol, promoted)
    _hypervalent(mol, free)
    extra = _match(mol, xyz, free)
    if extra is None:
        return None
    order = {1: Chem.BondType.DOUBLE, 2: Chem.BondType.TRIPLE}
    used = dict.fromkeys(free, 0)
    for (i, j), k in extra.items():
        mol.GetBondBetweenAtoms(i, j).SetBondType(order[k])
        used[i] += k
        used[j] += k
    for atom in mol.GetAtoms():
        i, sym = atom.GetIdx(), atom.GetSymbol()
        if sym == "N" and (atom.GetDegree() == 4 or i in promoted):
            atom.SetFormalCharge(1)
        if free[i] - used[i] == 1:
            atom.SetFormalCharge(atom.GetFormalCharge() - 1)
    charges = [a.GetFormalCharge() for a in mol.GetAtoms()]
    net = sum(charges)
    return mol.GetMol(), (_crowded(mol), net != target, sum(1 for q in charges if q), abs(net))


def _best_assignment(skeleton: Chem.RWMol, xyz: np.ndarray, target: int | None) -> Chem.Mol:
    """The best-scoring assignment (see ``_assign``) over N+ on three-connected nitrogens
    (iminium, amidinium, nitro, N-oxide, pyridinium / thiazolium), added greedily one at a
    time while the score improves."""
    promoted: set[int] = set()
    best = _assign(skeleton, xyz, promoted, target)
    while True:
        trials = []
        for a in skeleton.GetAtoms():
            n = a.GetIdx()
            if a.GetSymbol() == "N" and a.GetDegree() == 3 and n not in promoted:
                got = _assign(skeleton, xyz, promoted | {n}, target)
                if got is not None:
                    trials.append((got[1], n, got))
        trials.sort(key=lambda t: (t[0], t[1]))
        if not trials or (best is not None and trials[0][0] >= best[1]):
            break
        promoted.add(trials[0][1])
        best = trials[0][2]
    if best is None:
        raise BondOrderError("no valence-consistent bond orders (a carbon would be charged)")
    return best[0]


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
    out = Chem.RWMol(
        _best_assignment(full, full.GetConformer().GetPositions(), _net_charge(record))
    )
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
