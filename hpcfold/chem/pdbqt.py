"""Ligand PDBQT text: parse one MODEL into a ``LigandRecord``, split models, write poses.

numpy (+ RDKit for graph automorphisms only). Parsing follows Vina's ``parse_pdbqt.cpp``: ROOT /
ENDROOT, BRANCH a b / ENDBRANCH a b (atom serial numbers; ``a`` among the atoms of the enclosing
piece, ``b`` inside the branch), TORSDOF; REMARK/WARNING/blank lines ignored. Coordinates are read
from columns 31-54, the charge from 69-76 and the AutoDock type from 78-79 (meeko's 3-character
flexible-macrocycle types CG0..CG3 from 78-80).

Flexible macrocycles (meeko's default): a ring bond CGn-CGn is opened and each CGn carries a glue
pseudo-atom Gn where its partner was. As in Vina 1.2: CGn are carbons (C_P, being bonded to Gn);
Gn have no XS type (no inter- or ordinary intra term) but count as heavy atoms for N_rot; pairs
within three bonds across the opened bond are not scored; the glue pairs Gn-CGn
(``hpcfold.types.glue_partners``) get the linear attraction of the docking objective.
"""

from __future__ import annotations

import numpy as np

from hpcfold.chem import topology
from hpcfold.types import AD_INDEX, LigandRecord, glue_partners

MAX_AUTOMORPHISMS = 1000


def _lines(text: str) -> list[str]:
    """Lines split on ``\n`` only (a trailing ``\r`` dropped): ``str.splitlines`` also breaks
    at ``\x85``, ``\u2028``, ``\f``, ``\v``... which a REMARK may hold in a valid file."""
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def split_models(text: str) -> list[str]:
    """Bodies of the MODEL ... ENDMDL blocks of a PDBQT text; the whole text when it has none."""
    lines = _lines(text)
    if not any(ln.startswith("MODEL") for ln in lines):
        return [text] if text.strip() else []
    models: list[str] = []
    cur: list[str] | None = None
    for ln in lines:
        if ln.startswith("MODEL"):
            cur = []
        elif ln.startswith("ENDMDL"):
            if cur is not None:
                models.append("\n".join(cur) + "\n")
            cur = None
        elif cur is not None:
            cur.append(ln)
    if cur:  # a last MODEL without ENDMDL
        models.append("\n".join(cur) + "\n")
    return models


def _parse_atom(line: str, lineno: int) -> tuple[int, np.ndarray, float, str]:
    try:
        serial = int(line[6:11])
        xyz = np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])
    except ValueError as exc:
        raise ValueError(f"line {lineno}: ATOM syntax incorrect: {line!r}") from exc
    if not np.all(np.isfinite(xyz)):
        raise ValueError(f"line {lineno}: non-finite coordinate {line[30:54].strip()!r}")
    try:
        charge = float(line[68:76])
    except ValueError:
        charge = 0.0
    ad = line[77:79].strip()
    if ad not in AD_INDEX:
        full = (line[77:].split() or [ad])[0]  # meeko's glue types (CG0, G0...) have 3 characters
        if full not in AD_INDEX:
            raise ValueError(f"line {lineno}: unknown AutoDock atom type {full!r}")
        ad = full
    return serial, xyz, charge, ad


def _parse_two(line: str, tag: str, lineno: int) -> tuple[int, int]:
    parts = line.split()
    if len(parts) != 3 or parts[0] != tag:
        raise ValueError(f"line {lineno}: malformed {tag} line {line!r}")
    try:
        return int(parts[1]), int(parts[2])
    except ValueError as exc:
        raise ValueError(f"line {lineno}: malformed {tag} line {line!r}") from exc


def _automorphisms(elements: list[str], bonds: np.ndarray, heavy: np.ndarray):
    """Heavy-atom graph automorphisms (element + connectivity) with RDKit; row 0 = identity."""
    h = np.flatnonzero(heavy)
    ident = np.arange(h.size, dtype=np.int16)[None, :]
    try:
        from rdkit import Chem

        pos = {int(a): k for k, a in enumerate(h)}
        mol = Chem.RWMol()
        for a in h:
            atom = Chem.Atom(elements[a])
            atom.SetNoImplicit(True)
            mol.AddAtom(atom)
        for a, b in bonds[:, :2]:
            if a in pos and b in pos:
                mol.AddBond(pos[int(a)], pos[int(b)], Chem.BondType.SINGLE)
        m = mol.GetMol()
        m.UpdatePropertyCache(strict=False)
        Chem.FastFindRings(m)
        matches = m.GetSubstructMatches(
            m, uniquify=False, useChirality=False, maxMatches=MAX_AUTOMORPHISMS
        )
    except Exception:  # noqa: BLE001 - symmetry is optional; identity is always valid
        return ident, True  # marked like a capped search: the list is incomplete
    rows = [np.asarray(mt, dtype=np.int16) for mt in matches if len(mt) == h.size]
    rows = [r for r in rows if not np.array_equal(r, ident[0])]
    out = np.concatenate([ident, np.array(rows, dtype=np.int16).reshape(-1, h.size)], axis=0)
    return out, len(matches) >= MAX_AUTOMORPHISMS


def parse_ligand_pdbqt(text: str, lig_id: str, source: str) -> LigandRecord:
    """One MODEL's ligand PDBQT text -> LigandRecord (atoms in file order, Vina topology).

    Raises ValueError with a clear message on malformed text (no atoms, unbalanced BRANCH, unknown
    atom types, branch atoms that do not exist...).
    """
    serials: list[int] = []
    coords: list[np.ndarray] = []
    charges: list[float] = []
    ads: list[str] = []
    frames: list[int] = []
    torsions: list[tuple[int, int]] = []  # serial numbers (from, to)
    parents: list[int] = []
    stack: list[int] = []  # current frame chain
    seen_root = False
    in_root = False
    body: list[str] = []
    for lineno, raw in enumerate(_lines(text), start=1):
        line = raw.rstrip("\n\r")
        tag = line[:6]
        if line.startswith(("MODEL", "ENDMDL")):
            continue
        body.append(line)
        if not line.strip() or line.startswith(("REMARK", "WARNING", "USER", "TER", "END ")):
            continue
        if line.strip() == "END":
            continue
        if line.startswith("ROOT"):
            if seen_root:
                raise ValueError(f"line {lineno}: second ROOT")
            seen_root = in_root = True
            stack = [0]
        elif line.startswith("ENDROOT"):
            if not in_root:
                raise ValueError(f"line {lineno}: ENDROOT without ROOT")
            in_root = False
        elif line.startswith("ENDBRANCH"):
            a, b = _parse_two(line, "ENDBRANCH", lineno)
            if len(stack) < 2:
                raise ValueError(f"line {lineno}: ENDBRANCH without BRANCH")
            t = stack[-1] - 1
            if torsions[t] != (a, b):
                raise ValueError(f"line {lineno}: inconsistent branch numbers {a} {b}")
            stack.pop()
        elif line.startswith("BRANCH"):
            a, b = _parse_two(line, "BRANCH", lineno)
            if not seen_root or in_root:
                raise ValueError(f"line {lineno}: BRANCH outside the torsion tree")
            torsions.append((a, b))
            parents.append(stack[-1])
            stack.append(len(torsions))
        elif tag in ("ATOM  ", "HETATM"):
            if not stack or (not in_root and len(stack) < 2):
                raise ValueError(f"line {lineno}: ATOM outside ROOT/BRANCH")
            s, xyz, q, ad = _parse_atom(line, lineno)
            serials.append(s)
            coords.append(xyz)
            charges.append(q)
            ads.append(ad)
            frames.append(stack[-1])
        elif line.startswith("TORSDOF"):
            continue
        else:
            raise ValueError(f"line {lineno}: unknown or inappropriate tag {line.split()[0]!r}")
    if not coords:
        raise ValueError("no atoms in the ligand")
    if not seen_root:
        raise ValueError("missing ROOT")
    if in_root or len(stack) > 1:
        raise ValueError("unterminated ROOT or BRANCH")
    index = {}
    for k, s in enumerate(serials):
        index.setdefault(s, k)
    frame = np.asarray(frames, dtype=np.int16)
    tors = np.zeros((len(torsions), 2), dtype=np.int32)
    for t, (a, b) in enumerate(torsions):
        if a not in index or b not in index:
            raise ValueError(f"BRANCH {a} {b}: no such atom")
        ia, ib = index[a], index[b]
        if frame[ib] != t + 1:
            raise ValueError(f"BRANCH {a} {b}: atom {b} has not been found in this branch")
        if frame[ia] != parents[t]:
            raise ValueError(f"BRANCH {a} {b}: atom {a} is not in the enclosing piece")
        tors[t] = (ia, ib)
    xyz = np.asarray(coords, dtype=np.float64)
    elements = [topology.ad_element(a) for a in ads]
    fixed = topology.fixed_matrix(len(ads), frame, tors)
    bonds2 = topology.infer_bonds(xyz, elements, fixed=fixed)
    xs = topology.xs_types_from_ad(ads, bonds2)
    pairs = topology.intra_pairs(len(ads), bonds2, frame, tors, xs, ads)
    n_rot = topology.count_n_rot(bonds2, tors, xs, heavy=[e != "H" for e in elements])
    bonds = np.concatenate([bonds2, np.ones((bonds2.shape[0], 1), dtype=np.int32)], axis=1)
    ad_codes = np.array([AD_INDEX[a] for a in ads], dtype=np.int8)
    glue_partners(ad_codes, bonds2)  # flexible macrocycle: check meeko's glue pattern
    auto, truncated = _automorphisms(elements, bonds2, xs >= 0)
    return LigandRecord(
        lig_id=lig_id,
        smiles="",
        source=source,
        coords=xyz.astype(np.float32),
        ad_types=ad_codes,
        xs_types=xs,
        charges=np.asarray(charges, dtype=np.float32),
        frame_of_atom=frame,
        torsion_atoms=tors,
        torsion_parent=np.asarray(parents, dtype=np.int16),
        intra_pairs=pairs,
        bonds=bonds.astype(np.int32),
        n_rot=n_rot,
        automorphisms=auto,
        automorphisms_truncated=truncated,
        pdbqt="\n".join(body) + "\n",
    )


def write_pose_pdbqt(record: LigandRecord, coords: np.ndarray, remarks: list[str]) -> str:
    """One MODEL body: remarks first, then the record's PDBQT text with ATOM coordinates replaced
    (``%8.3f`` in columns 31-54, in atom order). coords (n, 3) Angstrom."""
    xyz = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    if xyz.shape[0] != record.n_atoms:
        raise ValueError(f"{xyz.shape[0]} coordinates for {record.n_atoms} atoms")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("non-finite coordinates")
    out = [r if r.startswith("REMARK") else f"REMARK {r}" for r in remarks]
    k = 0
    for line in _lines(record.pdbqt):
        if line.startswith("REMARK VINA RESULT"):
            continue
        if line.startswith(("ATOM  ", "HETATM")):
            x, y, z = xyz[k]
            field = f"{x:8.3f}{y:8.3f}{z:8.3f}"
            if len(field) != 24:
                raise ValueError(f"coordinate too large for PDBQT: {xyz[k]}")
            line = line[:30].ljust(30) + field + line[54:]
            k += 1
        out.append(line)
    return "\n".join(out) + "\n"
