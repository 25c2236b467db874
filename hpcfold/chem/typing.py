"""AutoDock typing, rotatable bonds and the torsion tree of an RDKit molecule, as meeko 0.8 does it.

Re-implements (does not import) the parts of meeko 0.8.0 that decide what Vina sees:

- ``ad4_types.json``: SMARTS applied in order on the molecule with explicit hydrogens, every
  match overriding earlier ones (last match wins), first SMARTS atom typed;
- merging: atoms typed ``H`` (hydrogen not on N, O, F, P, S) are merged into their heavy atom,
  which receives their Gasteiger charge;
- ``BondTyperLegacy``: single bonds rotatable, except amide-like ``[NX3]-[CX3]=[O,N,S]`` (unless a
  tertiary amide with non-equivalent substituents), single bonds next to a triple bond and
  nitrile-like ``*-*#[*X1]``; the bond ``*#*`` between two single bonds is rotatable;
- ``walk_rigid_body_graph``: rigid bodies grown from the first non-merged atom, ring bonds never
  sprout a branch (every ring is rigid: hpcfold behaves as meeko with ``rigid_macrocycles=True``;
  meeko's default macrocycle opening with glue pseudo-atoms is not supported by Vina's XS typing);
- ``get_root_body_index``: strip leaf bodies until one or two remain, a tie goes to the larger
  (then to the first created);
- ``merge_terminal_atoms``: a one-atom terminal body (e.g. a methyl) joins its parent body.

All indices here are RDKit atom indices of the molecule with explicit hydrogens.
"""

from __future__ import annotations

import dataclasses

from rdkit import Chem

# meeko 0.8.0 data/params/ad4_types.json, in order (B, Mg, Ca, Mn, Fe, Zn are rejected earlier by
# hpcfold.chem.prepare: Vina cannot score a boron and ligands with metals are not supported).
AD4_TYPE_SMARTS: tuple[tuple[str, str], ...] = (
    ("[#1]", "H"),
    ("[#1][#7,#8,#9,#15,#16]", "HD"),
    ("[#5]", "B"),
    ("[C]", "C"),
    ("[c]", "A"),
    ("[#7]", "NA"),
    ("[#8]", "OA"),
    ("[#9]", "F"),
    ("[#12]", "Mg"),
    ("[#14]", "Si"),
    ("[#15]", "P"),
    ("[#16]", "S"),
    ("[#17]", "Cl"),
    ("[#20]", "Ca"),
    ("[#25]", "Mn"),
    ("[#26]", "Fe"),
    ("[#30]", "Zn"),
    ("[#35]", "Br"),
    ("[#53]", "I"),
    ("[#7X3v3][a]", "N"),  # pyrrole, aniline
    ("[#7X3v3][#6X3v4]", "N"),  # amide
    ("[#7X3v3][NX2]=[*]", "N"),  # triazene
    ("[#7+1]", "N"),  # ammonium, pyridinium
    ("[SX2]", "SA"),  # sulfur acceptor
)
_PATTERNS = tuple((Chem.MolFromSmarts(s), t) for s, t in AD4_TYPE_SMARTS)
_AMIDE = Chem.MolFromSmarts("[NX3]-[CX3]=[O,N,S]")
_TERTIARY_AMIDE = Chem.MolFromSmarts("[NX3]([!#1])([!#1])-[CX3]=[O,N,S]")
_SINGLE_TRIPLE_SINGLE = Chem.MolFromSmarts("[*]-[*]#[*]-[*]")
_NITRILE_LIKE = Chem.MolFromSmarts("[*]-[*]#[*X1]")
_MAX_MATCHES = 10_000_000  # meeko's find_pattern cap


class TypingError(ValueError):
    """The molecule cannot be typed or split into a torsion tree."""


def _bond_id(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)


def _matches(mol: Chem.Mol, patt: Chem.Mol, uniquify: bool = False) -> tuple:
    return mol.GetSubstructMatches(patt, uniquify=uniquify, maxMatches=_MAX_MATCHES)


def assign_ad_types(mol: Chem.Mol) -> list[str]:
    """AutoDock type of every atom of ``mol`` (explicit H), meeko's ad4_types rules.

    Raises TypingError when an atom matches no rule (an element meeko cannot type).
    """
    types: list[str | None] = [None] * mol.GetNumAtoms()
    for patt, atype in _PATTERNS:
        for hit in _matches(mol, patt):
            types[hit[0]] = atype
    missing = [i for i, t in enumerate(types) if t is None]
    if missing:
        sym = mol.GetAtomWithIdx(missing[0]).GetSymbol()
        raise TypingError(f"no AutoDock type for atom {missing[0] + 1} ({sym})")
    return types  # type: ignore[return-value]


def neighbor_lists(mol: Chem.Mol) -> list[list[int]]:
    """Neighbours of each atom in RDKit bond order (the order meeko's molsetup graph uses)."""
    graph: list[list[int]] = [[] for _ in range(mol.GetNumAtoms())]
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if j not in graph[i]:
            graph[i].append(j)
        if i not in graph[j]:
            graph[j].append(i)
    return graph


def rotatable_bond_candidates(mol: Chem.Mol) -> set[tuple[int, int]]:
    """Bonds meeko's BondTyperLegacy marks rotatable (before ring and terminal-group rules)."""
    amide = {_bond_id(m[0], m[1]) for m in _matches(mol, _AMIDE)}
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    for m in _matches(mol, _TERTIARY_AMIDE, uniquify=True):
        if ranks[m[1]] != ranks[m[2]]:  # non-equivalent substituents: the amide may rotate
            amide.discard(_bond_id(m[0], m[3]))
    rigid: set[tuple[int, int]] = set()
    triple_rot: set[tuple[int, int]] = set()
    for i, j, k, m in _matches(mol, _SINGLE_TRIPLE_SINGLE):
        triple_rot.add(_bond_id(j, k))
        rigid.add(_bond_id(i, j))
        rigid.add(_bond_id(k, m))
    rigid.update(_bond_id(m[0], m[1]) for m in _matches(mol, _NITRILE_LIKE))
    out = set()
    for b in mol.GetBonds():
        bid = _bond_id(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
        rot = b.GetBondType() == Chem.BondType.SINGLE
        if bid in amide or bid in rigid:
            rot = False
        if bid in triple_rot:
            rot = True
        if rot:
            out.add(bid)
    return out


@dataclasses.dataclass(frozen=True)
class FlexModel:
    """meeko's flexibility model: rigid bodies of kept atoms and the tree joining them.

    ``members[b]``: RDKit indices of body b (BFS order of the walk); ``graph[b]``: neighbouring
    bodies in creation order; ``connectivity[(a, b)]``: (atom in a, atom in b) of the rotatable
    bond joining bodies a and b; ``root``: the ROOT body; ``ignore[i]``: atom i is a merged H.
    """

    members: dict[int, list[int]]
    graph: dict[int, list[int]]
    connectivity: dict[tuple[int, int], tuple[int, int]]
    root: int
    ignore: tuple[bool, ...]

    @property
    def n_torsions(self) -> int:
        return len(self.graph) - 1


def _walk(start, graph, ignore, rotatable, ring_bonds, data) -> None:
    """meeko's walk_rigid_body_graph (recursive, same visiting order)."""
    data["visited"].add(start)
    rigid_index = data["count"]
    data["body_of"][start] = rigid_index
    sprouts = []
    members = [start]
    idx = 0
    while idx < len(members):
        current = members[idx]
        for neigh in graph[current]:
            if ignore[neigh]:
                continue
            bid = _bond_id(current, neigh)
            if neigh in data["visited"]:
                if bid not in rotatable and data["body_of"][neigh] != rigid_index:
                    raise TypingError("flexible bonds within a rigid group")
                continue
            if bid in rotatable and bid not in ring_bonds:
                sprouts.append((current, neigh))
            else:
                members.append(neigh)
                data["body_of"][neigh] = rigid_index
                data["visited"].add(neigh)
        idx += 1
    data["members"][rigid_index] = list(members)
    data["graph"].setdefault(rigid_index, [])
    for current, neigh in sprouts:
        if neigh in data["visited"]:
            continue
        data["count"] += 1
        nxt = data["count"]
        data["connectivity"][rigid_index, nxt] = (current, neigh)
        data["connectivity"][nxt, rigid_index] = (neigh, current)
        data["graph"].setdefault(nxt, [])
        data["graph"][rigid_index].append(nxt)
        data["graph"][nxt].append(rigid_index)
        _walk(neigh, graph, ignore, rotatable, ring_bonds, data)


def _root_body(graph: dict[int, list[int]], members: dict[int, list[int]]) -> int:
    """meeko's get_root_body_index without a requested root atom."""
    g = {k: list(v) for k, v in graph.items()}
    while len(g) > 2:
        leaves = [v for v, e in g.items() if len(e) == 1]
        if not leaves:  # cannot happen for a tree; guard against an endless loop
            break
        for leaf in leaves:
            for e in g.values():
                if leaf in e:
                    e.remove(leaf)
            del g[leaf]
    if len(g) == 0:
        return 0
    if len(g) == 1:
        return next(iter(g))
    r1, r2 = list(g)[:2]
    return r1 if len(members[r1]) >= len(members[r2]) else r2


def build_flex_model(mol: Chem.Mol, ad_types: list[str]) -> FlexModel:
    """Rigid bodies, root and torsions of ``mol`` (explicit H) as meeko 0.8 builds them."""
    n = mol.GetNumAtoms()
    graph = neighbor_lists(mol)
    ignore = [t == "H" for t in ad_types]
    for i in range(n):
        if ignore[i] and len(graph[i]) != 1:
            raise TypingError(f"hydrogen {i + 1} has {len(graph[i])} neighbours")
    rotatable = rotatable_bond_candidates(mol)
    ring_bonds = {
        _bond_id(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds() if b.IsInRing()
    }
    start = next((i for i in range(n) if not ignore[i]), None)
    if start is None:
        raise TypingError("no atom left after merging non-polar hydrogens")
    data = {
        "visited": set(),
        "count": 0,
        "body_of": {},
        "members": {},
        "graph": {},
        "connectivity": {},
    }
    _walk(start, graph, ignore, rotatable, ring_bonds, data)
    n_kept = n - sum(ignore)
    if len(data["visited"]) != n_kept:
        raise TypingError("molecule graph is not connected")
    members, bgraph, conn = data["members"], data["graph"], data["connectivity"]
    root = _root_body(bgraph, members)
    # merge one-atom terminal bodies into their parent (decided for all bodies at once)
    remove = {
        b: m[0] for b, m in members.items() if len(m) == 1 and len(bgraph[b]) == 1 and b != root
    }
    for b, atom in remove.items():
        host = bgraph[b][0]
        members.pop(b)
        members[host].append(atom)
        bgraph.pop(b)
        bgraph[host].remove(b)
        conn.pop((host, b))
        conn.pop((b, host))
    return FlexModel(members, bgraph, conn, root, tuple(ignore))
