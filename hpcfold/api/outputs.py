"""Outputs of the API: RDKit molecules with the poses as conformers and the scores as properties
named like ``hpcfold dock``'s SD tags, and SDF files of them."""

from __future__ import annotations

import os

import numpy as np

from hpcfold.types import TERMS, DockResult, Failure, LigandRecord

# SD tags of a docked pose (``hpcfold dock --out x.sdf``) = RDKit property names of the API.
POSE_TAGS = ("hpcfold_affinity", "hpcfold_mode", "hpcfold_inter", "hpcfold_intra",
             "hpcfold_rmsd_to_best", *(f"hpcfold_{t}" for t in TERMS))  # fmt: skip


def _as_list(mols) -> list:
    return [mols] if hasattr(mols, "GetAtoms") or isinstance(mols, Failure) else list(mols)


def pose_tags(res: DockResult, m: int, rmsd_to_best: float) -> dict[str, str]:
    """The SD tags / RDKit properties (``POSE_TAGS``) of pose ``m`` of a docking result."""
    tags = {"hpcfold_affinity": f"{res.affinity[m]:.3f}", "hpcfold_mode": str(m + 1),
            "hpcfold_inter": f"{res.inter[m]:.3f}", "hpcfold_intra": f"{res.intra[m]:.3f}",
            "hpcfold_rmsd_to_best": f"{rmsd_to_best:.3f}"}  # fmt: skip
    tags.update({f"hpcfold_{t}": f"{res.terms[m, k]:.4f}" for k, t in enumerate(TERMS)})
    return tags


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
