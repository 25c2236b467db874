"""Inputs of the API: receptor, box and ligands (RDKit Mols, SMILES, SDF / SMILES / PDBQT files,
prepared records) -> hpcfold's records. numpy and RDKit only (no JAX)."""

from __future__ import annotations

import os

import numpy as np

from hpcfold.errors import UserError
from hpcfold.types import Box, Failure, LigandRecord, ReceptorRecord

_LIGAND_SUFFIXES = (".smi", ".ism", ".txt", ".smiles", ".sdf", ".mol", ".pdbqt", ".gz")


def load_receptor(path) -> ReceptorRecord:
    """A rigid receptor from a ``.pdbqt`` or a ``.pdb`` with hydrogens (Vina's typing)."""
    from hpcfold.chem.receptor import read_receptor

    return read_receptor(path)


def make_box(center=None, size=None, *, config=None, autobox_ligand=None, autobox_add=4.0) -> Box:
    """The search box (A): ``center`` + ``size`` (3 numbers each, Vina's full edge lengths), a
    Vina config file (``config``: its center_x .. size_z), or ``autobox_ligand`` (a PDBQT / PDB /
    SDF file or an RDKit Mol with coordinates) plus ``autobox_add`` A on every side."""
    from hpcfold import boxes

    given = [center is not None or size is not None, config is not None,
             autobox_ligand is not None]  # fmt: skip
    if given[0] and (center is None or size is None):
        raise UserError("make_box: give both center and size")
    if sum(given) != 1:
        raise UserError("make_box: give one of center+size, config or autobox_ligand")
    if config is not None:
        return boxes.read_vina_config(config)
    if autobox_ligand is not None:
        if hasattr(autobox_ligand, "GetConformer"):
            xyz = autobox_ligand.GetConformer().GetPositions()
        else:
            try:
                xyz = boxes.ligand_coords(autobox_ligand)
            except ValueError as exc:
                raise UserError(f"autobox_ligand: {exc}") from None
        return boxes.autobox(xyz, autobox_add)
    try:
        return Box(tuple(float(c) for c in center), tuple(float(s) for s in size))
    except (TypeError, ValueError) as exc:
        raise UserError(f"make_box: {exc}") from None


def _as_list(ligands) -> list:
    if isinstance(ligands, str | os.PathLike | LigandRecord) or hasattr(ligands, "GetAtoms"):
        return [ligands]
    return list(ligands)


def _is_path(item) -> bool:
    if isinstance(item, os.PathLike):
        return True
    return os.path.exists(item) or item.lower().endswith(_LIGAND_SUFFIXES)


def _has_3d(mol) -> bool:
    if mol.GetNumConformers() == 0:
        return False
    xyz = mol.GetConformer().GetPositions()
    return bool(mol.GetConformer().Is3D() and np.any(np.abs(xyz[:, 2]) > 1e-4))


def _mol_name(mol, k: int) -> str:
    name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    return name or f"mol:{k + 1}"


def prepare_ligands(ligands, keep_coords: bool = False) -> list[LigandRecord | Failure]:
    """LigandRecords (or Failures, with the reason) of ``ligands``, one per molecule: every
    record of every file (``hpcfold prep``'s preparation), each SMILES string, each Mol (its 3D
    conformer is kept when it has one, as for SDF input). ``keep_coords``: poses to score; a
    SMILES string is then refused (it has no pose). Raises UserError for a missing file."""
    from hpcfold.chem.prepare import PrepOptions, prepare_mol, prepare_record
    from hpcfold.chem.readers import RawRecord, iter_records

    opts, out = PrepOptions(), []
    for k, item in enumerate(_as_list(ligands)):
        if isinstance(item, LigandRecord | Failure):
            out.append(item)
        elif hasattr(item, "GetAtoms"):
            src = f"<Mol {k + 1}>"
            if keep_coords and not _has_3d(item):
                raise UserError(f"ligand {k + 1}: a pose to score needs 3D coordinates")
            out.append(prepare_mol(item, _mol_name(item, k), src, opts, _has_3d(item)))
        elif isinstance(item, str | os.PathLike) and _is_path(item):
            path = os.fspath(item)
            if keep_coords:
                out += read_poses(path)
                continue
            if not os.path.isfile(path):
                raise UserError(f"ligand file not found: {path}")
            out += [prepare_record(raw, opts) for raw in iter_records(path)]
        elif isinstance(item, str):
            if keep_coords:
                raise UserError(f"a SMILES string has no pose to score: {item!r}")
            cols = item.split()
            if not cols:
                raise UserError(f"ligand {k + 1}: empty SMILES string")
            lig_id = cols[1] if len(cols) > 1 else f"smiles:{k + 1}"
            raw = RawRecord("smiles", cols[0], lig_id, f"<SMILES {k + 1}>", k)
            out.append(prepare_record(raw, opts))
        else:
            raise UserError(f"ligand {k + 1}: not a Mol, SMILES, file or LigandRecord: {item!r}")
    return out


def _read_pdbqt(path: str) -> list[LigandRecord | Failure]:
    from hpcfold.chem.pdbqt import parse_ligand_pdbqt, split_models
    from hpcfold.types import Reason

    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    name = os.path.splitext(os.path.basename(path))[0]
    out: list[LigandRecord | Failure] = []
    for k, body in enumerate(split_models(text)):
        lig_id = f"{name}#{k + 1}"
        try:
            out.append(parse_ligand_pdbqt(body, lig_id, f"{path}:MODEL {k + 1}"))
        except ValueError as exc:
            out.append(Failure(lig_id, f"{path}:MODEL {k + 1}", "", Reason.PARSE_ERROR, str(exc)))
    if not out:
        raise UserError(f"{path}: no ligand found")
    return out


def _read_sdf(path: str) -> list[LigandRecord | Failure]:
    from rdkit import Chem

    from hpcfold.chem.prepare import PrepOptions, prepare_mol
    from hpcfold.types import Reason

    out: list[LigandRecord | Failure] = []
    opts = PrepOptions()
    for k, mol in enumerate(Chem.SDMolSupplier(path, removeHs=False, sanitize=True)):
        src = f"{path}:record {k + 1}"
        if mol is None:
            out.append(Failure(f"record{k + 1}", src, "", Reason.PARSE_ERROR, "unreadable record"))
            continue
        name = mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name") else None
        out.append(prepare_mol(mol, name or f"record{k + 1}", src, opts, keep_coords=True))
    if not out:
        raise UserError(f"{path}: no records")
    return out


def read_poses(path) -> list[LigandRecord | Failure]:
    """Ligand poses of a .pdbqt (one per MODEL) or .sdf file (one per record), as given."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"ligand file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".pdbqt":
        return _read_pdbqt(path)
    if suffix in (".sdf", ".mol"):
        return _read_sdf(path)
    raise UserError(f"unsupported ligand format {suffix!r}: use .pdbqt or .sdf")
