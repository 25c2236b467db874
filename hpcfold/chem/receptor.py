"""Receptor input: ``read_receptor(path) -> ReceptorRecord`` (rigid receptor, Vina typing).

``.pdbqt`` is read here the way Vina reads a rigid receptor (ATOM/HETATM lines; AutoDock type in
columns 78-79; bonds inferred from geometry; XS types from AutoDock types and bonds; hydrogens only
mark donors and are dropped). ``.pdb`` (with hydrogens) is delegated to
``hpcfold.chem.receptor_pdb.read_pdb_receptor``. numpy only.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os

import numpy as np

from hpcfold.chem import topology
from hpcfold.errors import UserError
from hpcfold.types import AD_INDEX, ReceptorRecord

LOG = logging.getLogger("hpcfold")
WATER_RESIDUES = ("HOH", "WAT")
_RANK_ENV = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID")
_IGNORED = ("REMARK", "WARNING", "TER", "END", "MODEL", "ENDMDL", "USER", "CRYST1", "HEADER",
            "TITLE", "COMPND", "AUTHOR", "SEQRES", "CONECT", "MASTER", "EXPDTA", "HETNAM")  # fmt: skip


def parse_receptor_pdbqt(text: str, source: str, sha256: str = "") -> ReceptorRecord:
    """Receptor PDBQT text -> ReceptorRecord (heavy atoms, XS types). ValueError when malformed."""
    coords, ads = [], []
    # split on "\n" only: str.splitlines also breaks at \x85, \u2028, \f... inside a REMARK
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.startswith(("ATOM  ", "HETATM")):
            try:
                xyz = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
            except ValueError as exc:
                raise ValueError(f"{source}:{lineno}: ATOM syntax incorrect") from exc
            if not all(math.isfinite(v) for v in xyz):
                raise ValueError(
                    f"{source}:{lineno}: non-finite coordinate {line[30:54].strip()!r} (a "
                    "receptor atom must have finite x, y, z)"
                )
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

        rec = read_pdb_receptor(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            _warn_waters(path, count_waters(fh.read()))
        return rec
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
        rec = parse_receptor_pdbqt(text, path, hashlib.sha256(data).hexdigest())
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    _warn_waters(path, count_waters(text))
    return rec


def count_waters(text: str) -> int:
    """Water residues (``HOH`` / ``WAT``, columns 18-20) among the ATOM/HETATM records of PDB /
    PDBQT text, counted by (chain, residue number, insertion code)."""
    seen = set()
    for line in text.split("\n"):
        if line.startswith(("ATOM  ", "HETATM")) and line[17:20].strip() in WATER_RESIDUES:
            seen.add((line[21:22], line[22:27]))
    return len(seen)


_WARNED: set[str] = set()


def _warn_waters(path: str, n: int) -> None:
    """Warn once per process (on the first MPI rank) that the receptor keeps ``n`` waters."""
    if n == 0 or path in _WARNED:
        return
    _WARNED.add(path)
    rank = next((os.environ[k] for k in _RANK_ENV if os.environ.get(k, "").isdigit()), "0")
    LOG.log(
        logging.WARNING if rank == "0" else logging.DEBUG,
        "warning: %s keeps %d water%s (HOH/WAT residues), scored as receptor atoms as Vina "
        "does too; remove them from the PDBQT unless they belong to the site",
        path, n, "" if n == 1 else "s",
    )  # fmt: skip
