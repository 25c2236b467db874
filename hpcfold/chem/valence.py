"""Valence rules behind ``hpcfold.chem.bond_orders.from_geometry``: hydrogens of a carbon from
its geometry, and bond orders and formal charges from missing valences.

numpy + RDKit. Every function raises ``BondOrderError`` (with the reason) rather than guess.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem


class BondOrderError(ValueError):
    """No trustworthy bond orders for a ligand; the message says why."""


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


def pair(a: str, b: str) -> tuple[str, str]:
    """The element pair in the order the length tables use."""
    return (a, b) if (a, b) in LENGTHS or (a, b) in MAX_MULTIPLE else (b, a)


def _angle(xyz: np.ndarray, c: int, a: int, b: int) -> float:
    u, v = xyz[a] - xyz[c], xyz[b] - xyz[c]
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0.0 or nv == 0.0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))))


def angle_sum(xyz: np.ndarray, c: int, nbrs: list[int]) -> float:
    """Sum of the three angles at ``c`` (360 when planar, ~328 when tetrahedral)."""
    a, b, d = nbrs[:3]
    return _angle(xyz, c, a, b) + _angle(xyz, c, b, d) + _angle(xyz, c, a, d)


def _length_class(xyz, elements, c: int, n: int) -> int:
    """-1: shorter than the single/double midpoint; +1: a single bond's length (within 0.04 A
    of it, or longer); 0: in between, or a pair without a multiple bond (halogens...)."""
    ref = LENGTHS.get(pair(elements[c], elements[n]))
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
        ref = LENGTHS.get(pair("C", elements[nbrs[0]]))
        r = float(np.linalg.norm(xyz[c] - xyz[nbrs[0]]))
        if ref is None or r > 0.5 * (ref[0] + ref[1]):
            return 3
        if ref[2] is None or r > 0.5 * (ref[1] + ref[2]):
            return 2
        return 1
    if d == 3:
        s = angle_sum(xyz, c, nbrs)
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
        key = pair(mol.GetAtomWithIdx(i).GetSymbol(), mol.GetAtomWithIdx(n).GetSymbol())
        return key not in MAX_AROMATIC or length(i, n) <= MAX_AROMATIC[key]

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


def best_assignment(skeleton: Chem.RWMol, xyz: np.ndarray, target: int | None) -> Chem.Mol:
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
