"""End to end typing + scoring: hpcfold's own prep (SDF / SMILES) scores like meeko's PDBQT of
the same conformer in Vina (issue 3). Needs helper "chem"'s ``hpcfold.chem.prepare``."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Geometry import Point3D

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import write_pose_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, local, tables
from hpcfold.types import Box, LigandRecord

vina = pytest.importorskip("vina")
meeko = pytest.importorskip("meeko")


def _meeko_pdbqt(molh: Chem.Mol) -> str:
    setups = meeko.MoleculePreparation().prepare(molh)
    text, ok, err = meeko.PDBQTWriterLegacy.write_string(setups[0])
    assert ok, err
    return text


def _ours(records, rec, box, scoring="vina"):
    tb = tables.build_tables(tables.make_params(scoring))
    lig = batch.pad_to_common(records)
    lo, hi, _ = box_bounds(box)
    ra = batch.receptor_arrays(rec, box, pad_multiple=256)
    return np.asarray(local.score_poses(lig.coords, lig, ra, tb, lo, hi)[0])


def _vina(texts, rec_path, box, scoring="vina"):
    v = vina.Vina(sf_name=scoring, verbosity=0)
    v.set_receptor(str(rec_path))
    v.compute_vina_maps(center=list(box.center), box_size=list(box.size), spacing=1.0)
    out = []
    for t in texts:
        v.set_ligand_from_string(t)
        out.append(v._vina.score()[0])
    return np.asarray(out)


def _placed(rec: LigandRecord, receptor, box, seed: int) -> Chem.Mol:
    """The prepared molecule moved rigidly to the best of 256 random placements in the box
    (scored by hpcfold), so the comparison is not dominated by clashes."""
    mol = Chem.MolFromMolBlock(rec.molblock, removeHs=False)
    xyz = mol.GetConformer().GetPositions()
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(256, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    rot = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        1,
    )
    half = np.asarray(box.size) / 2 - 4.0
    shift = np.asarray(box.center) + rng.uniform(-half, half, size=(256, 3))
    c = xyz.mean(axis=0)
    moved = np.einsum("bij,nj->bni", rot, xyz - c) + shift[:, None, :]
    la = batch.ligand_arrays(rec)
    lig = batch.stack_arrays([la] * 256)
    coords = moved[:, rec.mol_index].astype(np.float32)
    lo, hi, _ = box_bounds(box)
    tb = tables.build_tables(tables.make_params("vina"))
    ra = batch.receptor_arrays(receptor, box, pad_multiple=256)
    aff = np.asarray(local.score_poses(coords, lig, ra, tb, lo, hi)[0])
    best = moved[int(np.argmin(aff))]
    conf = mol.GetConformer()
    for i, p in enumerate(best):
        conf.SetAtomPosition(i, Point3D(*p))
    return mol


def _check(records, molhs, rec_path, box):
    from hpcfold.chem.receptor import read_receptor as rr

    rec = rr(rec_path)
    ours = _ours(records, rec, box)
    meeko_scores = _vina([_meeko_pdbqt(m) for m in molhs], rec_path, box)
    ours_in_vina = _vina([write_pose_pdbqt(r, r.coords, []) for r in records], rec_path, box)
    np.testing.assert_allclose(ours, ours_in_vina, atol=0.01)
    np.testing.assert_allclose(ours, meeko_scores, atol=0.01)


def test_sdf_pose_scores_like_meeko(shared_data):
    from hpcfold.chem.prepare import PrepOptions, prepare_mol

    ex = shared_data / "vina-example"
    mol = Chem.MolFromMolFile(str(ex / "1iep_ligand.sdf"), removeHs=False)
    rec = prepare_mol(mol, "imatinib", "1iep_ligand.sdf:1", PrepOptions(), keep_coords=True)
    assert isinstance(rec, LigandRecord), rec
    molh = Chem.MolFromMolBlock(rec.molblock, removeHs=False)
    _check(
        [rec], [molh], ex / "1iep_receptor.pdbqt", read_vina_config(ex / "1iep_receptor.box.txt")
    )


def test_smiles_ligands_score_like_meeko(shared_data):
    from hpcfold.chem.prepare import PrepOptions, prepare_mol

    d = shared_data / "dude" / "comt"
    box = read_vina_config(d / "box.txt")
    box = Box(box.center, (26.0, 26.0, 26.0))  # room for the placed conformers
    receptor = read_receptor(d / "receptor.pdbqt")
    smiles = []
    for name in ("actives.smi", "decoys.smi"):
        smiles += [ln.split()[0] for ln in (d / name).read_text().splitlines()[:3]]
    records, molhs = [], []
    for k, smi in enumerate(smiles):
        embedded = prepare_mol(
            Chem.MolFromSmiles(smi), f"l{k}", "x", PrepOptions(), keep_coords=False
        )
        assert isinstance(embedded, LigandRecord), embedded
        molh = _placed(embedded, receptor, box, k)
        rec = prepare_mol(molh, f"l{k}", "x", PrepOptions(), keep_coords=True)
        assert isinstance(rec, LigandRecord), rec
        records.append(rec)
        molhs.append(Chem.MolFromMolBlock(rec.molblock, removeHs=False))
    _check(records, molhs, d / "receptor.pdbqt", box)
