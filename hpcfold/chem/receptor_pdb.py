"""Receptor from a PDB file with explicit hydrogens -> ReceptorRecord (Vina XS types).

The PDB is turned into the atoms a receptor PDBQT would hold (heavy atoms plus polar hydrogens;
non-polar hydrogens merged away), typed as AutoDock types, then typed exactly as a PDBQT receptor
is (``hpcfold.chem.topology``: bonds from geometry, XS types from AutoDock types and bonds):

- each hydrogen belongs to its nearest heavy atom (within 1.3 A); on N, O or S it is a polar ``HD``
  (it makes its N/O a donor), otherwise it is dropped;
- carbon -> ``C``; oxygen -> ``OA``; sulfur -> ``SA``; nitrogen -> ``NA`` when it has at most two
  neighbours counting hydrogens (unprotonated histidine ring N, nitrile-like N), else ``N``;
  P, F, Cl, Br, I, Si keep their element; Se is read as S; Mg, Mn, Zn, Ca, Fe, Cu, Na, K, Hg, Co,
  Cd, Ni are metals (Met_D).
A PDB without hydrogens, or another element, is a ``UserError`` that says how to prepare it.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from hpcfold.chem import topology
from hpcfold.errors import UserError
from hpcfold.types import METALS, ReceptorRecord

_PREPARE_HINT = (
    "add hydrogens (e.g. reduce, PDBFixer or `obabel -h`) or give a receptor PDBQT made with "
    "meeko's mk_prepare_receptor.py or ADFR's prepare_receptor"
)
_PLAIN = {"C": "C", "O": "OA", "S": "SA", "SE": "SA", "P": "P", "F": "F", "CL": "Cl", "BR": "Br",
          "I": "I", "SI": "Si"}  # fmt: skip
_METAL_AD = {m.upper(): m for m in METALS}
_H_PARENT_MAX = 1.3  # A


def _element(line: str) -> str:
    el = line[76:78].strip().upper()
    if el:
        return el.lstrip("0123456789")
    name = line[12:16]
    guess = name[:2].strip() if name[0] != " " else name[1]
    return "".join(c for c in guess if c.isalpha()).upper() or "X"


def parse_pdb_atoms(text: str, source: str) -> tuple[np.ndarray, list[str]]:
    """Coordinates (n, 3) and upper-case elements of ATOM/HETATM records (first altloc only)."""
    coords, elements = [], []
    for lineno, line in enumerate(text.split("\n"), start=1):  # not splitlines: see receptor
        line = line.rstrip("\r")
        if line.startswith("ENDMDL"):
            break  # first model only
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        if line[16] not in (" ", "A", "1"):
            continue
        try:
            xyz = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
        except (ValueError, IndexError):
            raise UserError(f"{source}:{lineno}: bad coordinates in ATOM/HETATM record") from None
        if not np.all(np.isfinite(xyz)):
            raise UserError(f"{source}:{lineno}: non-finite coordinate in ATOM/HETATM record")
        coords.append(xyz)
        elements.append(_element(line))
    if not coords:
        raise UserError(f"{source}: no ATOM/HETATM records")
    return np.asarray(coords, dtype=np.float64), elements


def _h_parents(xyz: np.ndarray, elements: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(indices of H, index of each H's nearest heavy atom or -1 when none within 1.3 A)."""
    is_h = np.array([e in ("H", "D") for e in elements])
    h_idx = np.flatnonzero(is_h)
    heavy = np.flatnonzero(~is_h)
    parents = np.full(h_idx.shape[0], -1, dtype=np.int64)
    if h_idx.size == 0 or heavy.size == 0:
        return h_idx, parents
    # cell lists: bucket heavy atoms on a 2 A grid
    cell = 2.0
    keys = np.floor(xyz[heavy] / cell).astype(np.int64)
    table: dict[tuple[int, int, int], list[int]] = {}
    for k, key in zip(heavy.tolist(), map(tuple, keys.tolist())):
        table.setdefault(key, []).append(k)
    for n, h in enumerate(h_idx.tolist()):
        cx, cy, cz = np.floor(xyz[h] / cell).astype(np.int64).tolist()
        best, best_d = -1, _H_PARENT_MAX**2
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dz in (-1, 0, 1):
                    for k in table.get((cx + dx, cy + dy, cz + dz), ()):
                        d = float(np.sum((xyz[k] - xyz[h]) ** 2))
                        if d < best_d:
                            best, best_d = k, d
        parents[n] = best
    return h_idx, parents


def receptor_from_atoms(
    xyz: np.ndarray, elements: list[str], source: str, sha256: str
) -> ReceptorRecord:
    """Type PDB atoms (with H) as a PDBQT receptor would be typed (see the module docstring)."""
    h_idx, parents = _h_parents(xyz, elements)
    if h_idx.size == 0:
        raise UserError(f"{source}: the PDB has no hydrogens; {_PREPARE_HINT}")
    n = len(elements)
    n_h = np.zeros(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    for h, p in zip(h_idx.tolist(), parents.tolist()):
        if p < 0:
            keep[h] = False  # a stray hydrogen: nothing to mark
            continue
        n_h[p] += 1
        if elements[p] not in ("N", "O", "S"):
            keep[h] = False
    ad: list[str] = []
    for i, el in enumerate(elements):
        if el in ("H", "D"):
            ad.append("HD")
        elif el == "N":
            ad.append("N")  # decided below, needs the heavy-atom neighbour count
        elif el in _PLAIN:
            ad.append(_PLAIN[el])
        elif el in _METAL_AD:
            ad.append(_METAL_AD[el])
        else:
            raise UserError(
                f"{source}: atom {i + 1} has element {el!r}, which Vina cannot type; remove it "
                f"or {_PREPARE_HINT}"
            )
    idx = np.flatnonzero(keep)
    sub_xyz = xyz[idx]
    sub_el = [topology.ad_element(ad[i]) if elements[i] != "N" else "N" for i in idx]
    bonds = topology.infer_bonds(sub_xyz, sub_el)
    heavy_deg = np.zeros(idx.size, dtype=np.int64)
    for a, b in bonds.tolist():
        heavy_deg[a] += sub_el[b] != "H"
        heavy_deg[b] += sub_el[a] != "H"
    sub_ad = [ad[i] for i in idx]
    for k, i in enumerate(idx.tolist()):
        if elements[i] == "N" and heavy_deg[k] + n_h[i] <= 2:
            sub_ad[k] = "NA"
    xs = topology.xs_types_from_ad(sub_ad, bonds)
    heavy = xs >= 0
    return ReceptorRecord(
        coords=sub_xyz[heavy].astype(np.float32),
        xs_types=xs[heavy].astype(np.int8),
        source=source,
        sha256=sha256,
    )


def read_pdb_receptor(path) -> ReceptorRecord:
    """Receptor from a ``.pdb`` with explicit hydrogens; UserError for anything else."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"receptor file not found: {path}")
    if os.path.splitext(path)[1].lower() != ".pdb":
        raise UserError(f"{path}: not a .pdb file; {_PREPARE_HINT}")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    xyz, elements = parse_pdb_atoms(text, path)
    return receptor_from_atoms(xyz, elements, path, hashlib.sha256(data).hexdigest())
