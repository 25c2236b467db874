"""Receptor input: ``read_receptor(path) -> ReceptorRecord`` (rigid receptor, Vina typing).

``.pdbqt`` is read here the way Vina reads a rigid receptor (ATOM/HETATM lines; AutoDock type in
columns 78-79; bonds inferred from geometry; XS types from AutoDock types and bonds; hydrogens only
mark donors and are dropped). ``.pdb`` (with hydrogens) is delegated to
``hpcfold.chem.receptor_pdb.read_pdb_receptor``. numpy only.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from hpcfold.chem import topology
from hpcfold.errors import UserError
from hpcfold.types import AD_INDEX, ReceptorRecord

_IGNORED = ("REMARK", "WARNING", "TER", "END", "MODEL", "ENDMDL", "USER", "CRYST1", "HEADER",
            "TITLE", "COMPND", "AUTHOR", "SEQRES", "CONECT", "MASTER", "EXPDTA", "HETNAM")  # fmt: skip


def parse_receptor_pdbqt(text: str, source: str, sha256: str = "") -> ReceptorRecord:
    """Receptor PDBQT text -> ReceptorRecord (heavy atoms, XS types). ValueError when malformed."""
    coords, ads = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith(("ATOM  ", "HETATM")):
            try:
                xyz = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
            except ValueError as exc:
                raise ValueError(f"{source}:{lineno}: ATOM syntax incorrect") from exc
            ad = line[77:79].strip()
            if ad not in AD_INDEX:
                raise ValueError(f"{source}:{lineno}: unknown AutoDock atom type {ad!r}")
            coords.append(xyz)
            ads.append(ad)
        elif not line.strip() or line.startswith(_IGNORED):
            continue
        elif line.startswith(("ROOT", "BRANCH", "ENDROOT", "ENDBRANCH", "TORSDOF")):
            raise ValueError(
                f"{source}:{lineno}: torsion tree in a rigid receptor (flexible residues are "
                "not supported)"
            )
    if not coords:
        raise ValueError(f"{source}: no atoms in the receptor")
    xyz = np.asarray(coords, dtype=np.float64)
    elements = [topology.ad_element(a) for a in ads]
    bonds = topology.infer_bonds(xyz, elements)
    xs = topology.xs_types_from_ad(ads, bonds)
    heavy = xs >= 0
    return ReceptorRecord(
        coords=xyz[heavy].astype(np.float32),
        xs_types=xs[heavy].astype(np.int8),
        source=source,
        sha256=sha256 or hashlib.sha256(text.encode()).hexdigest(),
    )


def read_receptor(path) -> ReceptorRecord:
    """Read a receptor file: ``.pdbqt`` here, ``.pdb`` via ``chem.receptor_pdb`` (needs H).

    Raises ``UserError`` for a missing/unsupported/malformed file.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise UserError(f"receptor file not found: {path}")
    if suffix == ".pdb":
        from hpcfold.chem.receptor_pdb import read_pdb_receptor

        return read_pdb_receptor(path)
    if suffix != ".pdbqt":
        raise UserError(
            f"unsupported receptor format {suffix or '(none)'!r} for {path}: give a .pdbqt "
            "(prepare it with meeko's mk_prepare_receptor.py or ADFR's prepare_receptor) or a "
            ".pdb with hydrogens"
        )
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text") from exc
    try:
        return parse_receptor_pdbqt(text, path, hashlib.sha256(data).hexdigest())
    except ValueError as exc:
        raise UserError(str(exc)) from exc
