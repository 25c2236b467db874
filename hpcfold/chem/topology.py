"""Ligand/receptor topology rules shared by every producer of records (AutoDock Vina 1.2 rules).

numpy only. The rules follow Vina's ``model::assign_bonds``, ``model::assign_types``,
``model::initialize_pairs`` and ``conf_independent_inputs`` (scoring reference §1-2):

- bonds from geometry: ``r < 1.1 (R_cov,i + R_cov,j)`` and no third atom closer to both, looking
  only at atoms that are not free to move relative to the pair (Vina's mobility matrix);
- XS types from AutoDock types and the bond graph;
- intramolecular pairs: not fixed relative to each other, more than three bonds apart, both typed;
- ``N_rot``: 0.5 per end of a rotatable bond whose other atom is heavy with > 1 heavy neighbour.

Mobility (Vina's ``postprocess_branch``): atoms of one rigid piece are fixed to each other; the
child atom of a BRANCH belongs to the *parent* piece in Vina, and both axis atoms are fixed
relative to every atom of the child piece. ``frame_of_atom`` here follows ``hpcfold.types``
(child axis atom in the child frame), so the Vina piece of that atom is the parent frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpcfold.types import AD_TYPES, METALS, N_GLUE, XS_INDEX, ad_element

# Vina's covalent radii (Angstrom) by element; other elements use ``UNKNOWN_COVALENT_RADIUS``.
COVALENT_RADIUS = {
    "C": 0.77, "N": 0.75, "O": 0.73, "S": 1.02, "P": 1.06, "H": 0.37, "F": 0.71, "Cl": 0.99,
    "Br": 1.14, "I": 1.33, "Zn": 1.31, "Mg": 1.30, "Mn": 1.39, "Ca": 1.74, "Fe": 1.25,
    "Si": 1.11, "At": 1.44, "G": 0.77,
}  # fmt: skip
UNKNOWN_COVALENT_RADIUS = 1.75
BOND_ALLOWANCE = 1.1

GLUE_ELEMENT = "G"


def _as_ad_strings(ad_types) -> list[str]:
    out = []
    for t in ad_types:
        if isinstance(t, str):
            out.append(t)
        else:
            out.append(AD_TYPES[int(t)])
    return out


def vina_pieces(n_atoms: int, frame_of_atom, torsion_atoms) -> np.ndarray:
    """(n,) Vina rigid piece of each atom: its frame, except a BRANCH child atom -> parent frame."""
    piece = np.asarray(frame_of_atom, dtype=np.int64).copy()
    ta = np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 2)
    frame = np.asarray(frame_of_atom, dtype=np.int64)
    for a, b in ta:
        piece[b] = frame[a]
    return piece[:n_atoms]


def fixed_matrix(n_atoms: int, frame_of_atom, torsion_atoms) -> np.ndarray:
    """(n, n) bool: True where Vina's mobility is not DISTANCE_VARIABLE (fixed or rotor axis)."""
    piece = vina_pieces(n_atoms, frame_of_atom, torsion_atoms)
    fixed = piece[:, None] == piece[None, :]
    ta = np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 2)
    for t, (a, b) in enumerate(ta):
        child = piece == t + 1
        fixed[a, child] = fixed[child, a] = True
        fixed[b, child] = fixed[child, b] = True
        fixed[a, b] = fixed[b, a] = True  # DISTANCE_ROTOR
    return fixed


def _close_pairs(coords: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j with r < cutoff: (i, j, r2). Sweep along x after sorting: O(n * window)."""
    n = coords.shape[0]
    if n < 2:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    order = np.argsort(coords[:, 0], kind="stable")
    xs = coords[order, 0]
    ii, jj, rr = [], [], []
    chunk = 512
    c2 = cutoff * cutoff
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        hi = int(np.searchsorted(xs, xs[e - 1] + cutoff, side="right"))
        rows = order[s:e]
        cols = order[s:hi]
        d = coords[rows, None, :] - coords[None, cols, :]
        r2 = np.einsum("ijk,ijk->ij", d, d)
        # keep each unordered pair once: column position > row position in the sorted order
        pos_r = np.arange(s, e)[:, None]
        pos_c = np.arange(s, hi)[None, :]
        a, b = np.nonzero((r2 < c2) & (pos_c > pos_r))
        ii.append(rows[a])
        jj.append(cols[b])
        rr.append(r2[a, b])
    i = np.concatenate(ii)
    j = np.concatenate(jj)
    r2 = np.concatenate(rr)
    lo, hi_ = np.minimum(i, j), np.maximum(i, j)
    return lo, hi_, r2


def infer_bonds(
    coords: np.ndarray, elements: Sequence[str], fixed: np.ndarray | None = None
) -> np.ndarray:
    """Bonds from geometry, Vina's rule. coords (n, 3) Angstrom; elements (n,) symbols.

    Bonded when ``r < 1.1 * (R_i + R_j)`` (covalent radii) and no third atom c, not free to move
    relative to both (``fixed`` (n, n) bool, default: all fixed), has ``r_ic < r`` and
    ``r_jc < r``. Pairs not fixed relative to each other are never bonded.
    Returns (B, 2) int32, i < j, sorted.
    """
    x = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    n = x.shape[0]
    rad = np.array([COVALENT_RADIUS.get(e, UNKNOWN_COVALENT_RADIUS) for e in elements])
    if n < 2:
        return np.zeros((0, 2), dtype=np.int32)
    cutoff = BOND_ALLOWANCE * 2 * float(rad.max())
    i, j, r2 = _close_pairs(x, cutoff)
    if fixed is not None:
        keep = fixed[i, j]
        i, j, r2 = i[keep], j[keep], r2[keep]
    # neighbour lists (within the sweep cutoff) for the "third atom" test
    nbr: list[dict[int, float]] = [dict() for _ in range(n)]
    for a, b, d in zip(i.tolist(), j.tolist(), r2.tolist()):
        nbr[a][b] = d
        nbr[b][a] = d
    cand = r2 < (BOND_ALLOWANCE * (rad[i] + rad[j])) ** 2
    out = []
    for a, b, d in zip(i[cand].tolist(), j[cand].tolist(), r2[cand].tolist()):
        na, nb = nbr[a], nbr[b]
        if len(nb) < len(na):
            na, nb = nb, na
        blocked = False
        for c, dac in na.items():
            if c == a or c == b or dac >= d:
                continue
            dbc = nb.get(c)
            if dbc is None or dbc >= d:
                continue
            if fixed is not None and not (fixed[a, c] and fixed[b, c]):
                continue
            blocked = True
            break
        if not blocked:
            out.append((a, b))
    if not out:
        return np.zeros((0, 2), dtype=np.int32)
    arr = np.array(sorted(out), dtype=np.int32)
    return arr


def _bond_pairs(bonds) -> np.ndarray:
    """(B, 2) int64 from bonds given as (B, 2) or (B, 3) (i, j, order), possibly empty."""
    b = np.asarray(bonds, dtype=np.int64)
    if b.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return b.reshape(b.shape[0], -1)[:, :2]


def _neighbours(n: int, bonds) -> list[list[int]]:
    nb: list[list[int]] = [[] for _ in range(n)]
    for a, b in _bond_pairs(bonds):
        nb[a].append(int(b))
        nb[b].append(int(a))
    return nb


def xs_types_from_ad(ad_types: Sequence[str], bonds: np.ndarray) -> np.ndarray:
    """(n,) int8 XS type codes (``hpcfold.types.XS_TYPES``), -1 for hydrogens and for glue
    pseudo-atoms (Gn: no inter- or ordinary intramolecular term in Vina 1.2.7, measured).

    ad_types: AutoDock type names (or codes into ``AD_TYPES``); bonds (B, 2+) atom indices.
    A CGn carbon is typed as a carbon; it is bonded to its Gn, a heteroatom for this rule, so it
    is C_P, as in Vina (whose C_H_CGn is not hydrophobic either). Carbons bonded to a CGn are
    C_P too: Vina's ``ad_is_heteroatom`` counts every AD type except C, A, H and HD.
    Raises ValueError on a type Vina cannot score.
    """
    ads = _as_ad_strings(ad_types)
    n = len(ads)
    els = [ad_element(t) for t in ads]
    nb = _neighbours(n, bonds)
    out = np.full(n, -1, dtype=np.int8)
    for i, (ad, el) in enumerate(zip(ads, els)):
        if el in ("H", GLUE_ELEMENT):
            continue
        if el == "C":
            # Vina's ad_is_heteroatom: every AD type but C, A, H and HD, so the glue types
            # (CGn included) make a bonded carbon C_P
            hetero = any(els[k] not in ("C", "H") or ads[k].startswith("CG") for k in nb[i])
            out[i] = XS_INDEX["C_P" if hetero else "C_H"]
        elif el in ("N", "O"):
            acceptor = ad in ("NA", "OA", "OS")
            donor = any(ads[k] == "HD" for k in nb[i])
            suffix = "DA" if acceptor and donor else "A" if acceptor else "D" if donor else "P"
            out[i] = XS_INDEX[f"{el}_{suffix}"]
        elif el == "S":
            out[i] = XS_INDEX["S_P"]
        elif el == "P":
            out[i] = XS_INDEX["P_P"]
        elif el in ("F", "Cl", "Br", "I"):
            out[i] = XS_INDEX[f"{el}_H"]
        elif el in ("Si", "At"):
            out[i] = XS_INDEX[el]
        elif el in METALS:
            out[i] = XS_INDEX["Met_D"]
        else:
            raise ValueError(
                f"atom {i + 1}: AutoDock type {ad!r} has no XS type (Vina cannot score it)"
            )
    return out


def _within_three_bonds(n: int, bonds: np.ndarray) -> np.ndarray:
    adj = np.zeros((n, n), dtype=bool)
    b = _bond_pairs(bonds)
    adj[b[:, 0], b[:, 1]] = adj[b[:, 1], b[:, 0]] = True
    reach = np.eye(n, dtype=bool) | adj
    a = adj.astype(np.int32)
    r = reach.astype(np.int32)
    for _ in range(2):
        r = ((r @ a) > 0).astype(np.int32) | r
    return r.astype(bool)


def _closure_clash(n: int, bonds, ad_types) -> np.ndarray:
    """(n, n) bool: Vina's ``is_closure_clash``: pairs 1-2, 1-3 or 1-4 across an opened
    macrocycle bond CGk-CGk (atom i or a neighbour is a CGk, and so is atom j or a neighbour)."""
    ads = _as_ad_strings(ad_types)
    nb = _neighbours(n, bonds)
    out = np.zeros((n, n), dtype=bool)
    for k in range(N_GLUE):
        cg = np.array([t == f"CG{k}" for t in ads], dtype=bool)
        if not cg.any():
            continue
        near = cg.copy()
        for i in range(n):
            near[i] |= any(cg[j] for j in nb[i])
        out |= near[:, None] & near[None, :]
    return out


def intra_pairs(
    n_atoms: int, bonds, frame_of_atom, torsion_atoms, xs_types, ad_types=None
) -> np.ndarray:
    """(P, 2) int32 scored intramolecular pairs i < j (Vina's ``initialize_pairs``).

    A pair is scored when the atoms can move relative to each other (see ``fixed_matrix``), are
    more than three bonds apart and both have XS types (no hydrogens, no glue pseudo-atoms).
    With ``ad_types`` (names or codes), pairs within three bonds across an opened macrocycle
    bond (``_closure_clash``) are left out too, as Vina does. The glue pairs Gn-CGn are not in
    this list (``hpcfold.types.glue_partners``).
    """
    n = int(n_atoms)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int32)
    fixed = fixed_matrix(n, frame_of_atom, torsion_atoms)
    close = _within_three_bonds(n, bonds)
    if ad_types is not None:
        close |= _closure_clash(n, bonds, ad_types)
    typed = np.asarray(xs_types)[:n] >= 0
    ok = ~fixed & ~close & typed[:, None] & typed[None, :]
    i, j = np.nonzero(np.triu(ok, 1))
    return np.stack([i, j], axis=1).astype(np.int32)


def count_n_rot(bonds, torsion_atoms, xs_types, heavy=None) -> float:
    """Vina's N_rot: for each torsion (a, b), 0.5 per end whose other atom is heavy and has more
    than one heavy neighbour (``conf_independent_inputs::atom_rotors``); both ends heavy.
    ``heavy`` (n,) bool: Vina's non-hydrogen atoms (default ``xs_types >= 0``; glue
    pseudo-atoms count as heavy in Vina although they have no XS type here)."""
    xs = np.asarray(xs_types)
    heavy = xs >= 0 if heavy is None else np.asarray(heavy, dtype=bool)
    b = _bond_pairs(bonds)
    deg = np.zeros(xs.shape[0], dtype=np.int64)
    hb = heavy[b[:, 0]] & heavy[b[:, 1]]
    np.add.at(deg, b[hb, 0], 1)
    np.add.at(deg, b[hb, 1], 1)
    n_rot = 0.0
    for a, c in np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 2):
        if not (heavy[a] and heavy[c]):
            continue
        n_rot += 0.5 * (deg[c] > 1) + 0.5 * (deg[a] > 1)
    return float(n_rot)
