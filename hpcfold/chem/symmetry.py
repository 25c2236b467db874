"""Heavy-atom graph automorphisms for symmetry-corrected RMSD and pose clustering.

The graph is the heavy-atom skeleton labelled by element only (bond orders, aromaticity, charges
and chirality ignored, as symmetry-corrected RMSD tools such as spyrmsd do), so a carboxylate's
two oxygens or a nitro group's oxygens swap. Matches come from RDKit's substructure self-match
(``uniquify=False, useChirality=False``) with a ``maxMatches`` cap: the search stops after the
cap, so even C60 (120 automorphisms) or a dendrimer (2^k) finishes in bounded time; the
``truncated`` flag records that the cap was hit.

Convention: row k is a permutation ``p`` of ``0..H-1`` over the record's heavy atoms (in
``LigandRecord.heavy_index`` order) such that heavy atom ``h`` is equivalent to heavy atom
``p[h]``: ``coords[heavy][p]`` is the same pose relabelled. Row 0 is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem


def _skeleton(elements: Sequence[int], bonds: np.ndarray) -> Chem.Mol:
    """An unsanitized element-only molecule: every bond single, no charges, no aromaticity."""
    rw = Chem.RWMol()
    for z in elements:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    for i, j in np.asarray(bonds, dtype=np.int64).reshape(-1, 2):
        if i != j and rw.GetBondBetweenAtoms(int(i), int(j)) is None:
            rw.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    mol = rw.GetMol()
    mol.UpdatePropertyCache(strict=False)
    return mol


def graph_automorphisms(
    elements: Sequence[int], bonds: np.ndarray, max_matches: int
) -> tuple[np.ndarray, bool]:
    """Automorphisms of an element-labelled graph.

    elements: (H,) atomic numbers; bonds: (B, 2) indices into elements.
    Returns ((K, H) int16 permutations with row 0 the identity, truncated).
    """
    n = len(elements)
    identity = np.arange(n, dtype=np.int16)[None, :]
    if n == 0 or max_matches <= 1:
        return identity, n > 1 and max_matches <= 1
    mol = _skeleton(elements, bonds)
    matches = mol.GetSubstructMatches(
        mol, uniquify=False, useChirality=False, maxMatches=int(max_matches)
    )
    truncated = len(matches) >= max_matches
    # match[q] = target atom for query atom q; q is equivalent to match[q]
    rows = [np.asarray(m, dtype=np.int16) for m in matches if len(m) == n]
    ident = identity[0]
    rest = [r for r in rows if not np.array_equal(r, ident)]
    if len(rest) >= max_matches:  # the identity was cut off by the cap
        rest = rest[: max_matches - 1]
    out = np.vstack([identity] + [r[None, :] for r in rest])
    return out.astype(np.int16), bool(truncated)


def mol_automorphisms(
    mol: Chem.Mol, heavy_atoms: Sequence[int], max_matches: int
) -> tuple[np.ndarray, bool]:
    """Automorphisms of the heavy atoms ``heavy_atoms`` (RDKit indices, in record order) of mol."""
    pos = {int(a): k for k, a in enumerate(heavy_atoms)}
    elements = [mol.GetAtomWithIdx(int(a)).GetAtomicNum() for a in heavy_atoms]
    bonds = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if i in pos and j in pos:
            bonds.append((pos[i], pos[j]))
    return graph_automorphisms(
        elements, np.array(bonds, dtype=np.int64).reshape(-1, 2), max_matches
    )
