"""Outputs of the API: RDKit molecules with the poses as conformers and the scores as properties
named like ``hpcfold dock``'s SD tags, and SDF files of them."""

from __future__ import annotations

import os

import numpy as np

from hpcfold.report.writers import SDF_TAGS
from hpcfold.types import DockResult, Failure, LigandRecord

# RDKit property names of a docked pose = the SD tags every writer uses (``report.writers``),
# so a Mol from the API and a record of ``hpcfold dock`` / ``export`` carry the same fields.
POSE_TAGS = SDF_TAGS


def _as_list(mols) -> list:
    return [mols] if hasattr(mols, "GetAtoms") or isinstance(mols, Failure) else list(mols)


def pose_tags(rec: LigandRecord, res: DockResult) -> list[dict[str, str]]:
    """Per pose of a docking result, its ``POSE_TAGS`` (``report.writers.sdf_tags``)."""
    from hpcfold.report.writers import LigandOutput, sdf_tags
    from hpcfold.store.results_view import clash_flag

    out = LigandOutput(rec.lig_id, res.affinity, res.inter, res.intra, res.terms,
                       clash_flag(res.affinity), record=rec, coords=res.coords,
                       smiles=rec.smiles)  # fmt: skip
    return [sdf_tags(out, m, rec.smiles or "") for m in range(len(res.affinity))]


def rmsd_to_best(rec: LigandRecord, res: DockResult) -> np.ndarray:
    """(M,) symmetry-corrected heavy-atom RMSD (A) of every pose to the best one."""
    from hpcfold.dock.cluster import sym_rmsd

    h = res.coords[:, rec.heavy_index]
    return sym_rmsd(h, h[0], rec.automorphisms)


def _set_prop(obj, key: str, text: str) -> None:
    try:
        val = float(text)
    except ValueError:
        obj.SetProp(key, text)
        return
    if key == "hpcfold_mode":
        obj.SetIntProp(key, int(val))
    else:
        obj.SetDoubleProp(key, val)


def to_mol(rec: LigandRecord, coords, tags: list[dict[str, str]]):
    """RDKit molecule of ``rec`` (its mol block, or one built from its PDBQT atoms) with one
    conformer per pose: coords (M, n, 3) A; ``tags[m]`` set on conformer m, the best pose's
    (m = 0) also on the molecule."""
    from rdkit import Chem

    from hpcfold.chem.sdf import write_pose_sdf

    mol = None
    for m, xyz in enumerate(np.asarray(coords)):
        block = write_pose_sdf(rec, xyz, rec.lig_id, {})
        one = Chem.MolFromMolBlock(block, removeHs=False)
        if one is None:  # e.g. guessed bond orders RDKit cannot sanitise: keep them as read
            one = Chem.MolFromMolBlock(block, removeHs=False, sanitize=False)
        conf = Chem.Conformer(one.GetConformer())
        for key, text in tags[m].items():
            _set_prop(conf, key, text)
        if mol is None:
            mol = Chem.Mol(one)
            mol.RemoveAllConformers()
            mol.SetProp("_Name", rec.lig_id)
            for key, text in tags[0].items():
                _set_prop(mol, key, text)
        mol.AddConformer(conf, assignId=True)
    return mol


def write_sdf(mols, path) -> None:
    """Write every conformer of every molecule (Failures skipped) as one SDF record, with that
    conformer's properties as SD tags: the file ``hpcfold dock --out x.sdf`` writes."""
    from rdkit import Chem

    with Chem.SDWriter(os.fspath(path)) as writer:
        for mol in _as_list(mols):
            if isinstance(mol, Failure):
                continue
            for conf in mol.GetConformers():
                out = Chem.Mol(mol)
                for key, val in conf.GetPropsAsDict().items():
                    out.SetProp(key, str(val))
                writer.write(out, confId=conf.GetId())
