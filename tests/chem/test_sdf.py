"""SDF pose writer: mapped atoms at the pose, merged H carried rigidly, tags, PDBQT input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rdkit import Chem
from scipy.spatial.transform import Rotation

from hpcfold.chem.prepare import PrepOptions, prepare_record
from hpcfold.chem.readers import RawRecord, iter_records
from hpcfold.chem.sdf import write_pose_sdf

OPTS = PrepOptions()


def _read(text: str) -> Chem.Mol:
    assert text.endswith("$$$$\n")
    mol = Chem.MolFromMolBlock(text, removeHs=False)
    assert mol is not None
    return mol


def test_pose_of_smiles_ligand_rigid_motion(tmp_path):
    rec = prepare_record(RawRecord("smiles", "CC(=O)Nc1ccc(O)cc1", "apap", "t:1", 0), OPTS)
    rot = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    pose = rec.coords.astype(np.float64) @ rot.T + np.array([10.0, -3.0, 7.5])
    text = write_pose_sdf(rec, pose, "apap_pose1", {"affinity": -7.25, "mode": 1, "note": "a\nb"})
    mol = _read(text)
    ref = Chem.MolFromMolBlock(rec.molblock, removeHs=False)
    assert mol.GetNumAtoms() == ref.GetNumAtoms()  # all H, non-polar ones included
    assert mol.GetProp("_Name") == "apap_pose1"
    xyz = mol.GetConformer().GetPositions()
    np.testing.assert_allclose(xyz[rec.mol_index], pose, atol=2e-4)
    # every atom (merged H too) moved by the same rigid motion
    expect = ref.GetConformer().GetPositions() @ rot.T + np.array([10.0, -3.0, 7.5])
    np.testing.assert_allclose(xyz, expect, atol=5e-3)
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == rec.smiles
    suppl = Chem.SDMolSupplier()
    suppl.SetData(text, removeHs=False)
    m = next(iter(suppl))
    assert m.GetProp("affinity") == "-7.250" and m.GetProp("mode") == "1"
    assert json.loads(m.GetProp("note")) == "a\nb"  # JSON-quoted: one line


def test_pose_with_a_torsion_change_keeps_ch_bonds():
    rec = prepare_record(RawRecord("smiles", "CCCCOc1ccccc1", "x", "t:1", 0), OPTS)
    pose = rec.coords.astype(np.float64).copy()
    # rotate the atoms of the last frame about its torsion axis by 90 degrees
    t = rec.n_torsions - 1
    a, b = rec.torsion_atoms[t]
    axis = pose[b] - pose[a]
    rot = Rotation.from_rotvec(np.pi / 2 * axis / np.linalg.norm(axis)).as_matrix()
    moving = rec.frame_of_atom == t + 1
    pose[moving] = (pose[moving] - pose[b]) @ rot.T + pose[b]
    mol = _read(write_pose_sdf(rec, pose, "x", {}))
    xyz = mol.GetConformer().GetPositions()
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if 1 in (mol.GetAtomWithIdx(i).GetAtomicNum(), mol.GetAtomWithIdx(j).GetAtomicNum()):
            assert 0.9 < np.linalg.norm(xyz[i] - xyz[j]) < 1.2


def test_pdbqt_input_ligand_gets_an_sdf(shared_data):
    """A PDBQT without meeko's REMARK SMILES: the molecule perceived from its geometry, with
    every hydrogen, the file's atoms at the pose."""
    raw = next(iter_records(shared_data / "redock42" / "1hnn" / "ligand_xray.pdbqt"))
    rec = prepare_record(raw, OPTS)
    assert rec.molblock == ""
    text = write_pose_sdf(rec, rec.coords, "1hnn", {"affinity": -8.5})
    mol = _read(text)
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == "NS(=O)(=O)c1ccc2c(c1)C[NH2+]CC2"
    np.testing.assert_allclose(mol.GetConformer().GetPositions()[: rec.n_atoms], rec.coords,
                               atol=1e-3)  # fmt: skip
    assert "M  CHG  1" in text  # the protonated ring NH2+


@pytest.mark.parametrize("lig_id", ["$$$$", "$$$$x", "M  END", "> <a>", "a\n$$$$\nb", '"q"'])
def test_ids_that_break_sdf_are_escaped_and_kept(lig_id):
    import json

    from hpcfold.chem.sdf import sdf_name

    rec = prepare_record(RawRecord("smiles", "CCO", "x", "t:1", 0), OPTS)
    text = write_pose_sdf(rec, rec.coords, lig_id, {"hpcfold_ligand_id": lig_id, "n": 1})
    suppl = Chem.SDMolSupplier()
    suppl.SetData(text + text, removeHs=False)
    mols = list(suppl)
    assert len(mols) == 2 and all(m is not None for m in mols)  # one record each, not split
    name = sdf_name(lig_id)
    assert mols[0].GetProp("_Name") == name and "\n" not in name
    assert not name.startswith(("$$$$", "M  END", ">"))
    assert json.loads(mols[0].GetProp("hpcfold_ligand_id")) == lig_id  # the id as given
    assert mols[0].GetProp("n") == "1"


def test_bad_coordinates_are_rejected():
    rec = prepare_record(RawRecord("smiles", "CCO", "x", "t:1", 0), OPTS)
    with pytest.raises(ValueError, match="atoms"):
        write_pose_sdf(rec, np.zeros((rec.n_atoms + 1, 3)), "x", {})
    bad = rec.coords.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        write_pose_sdf(rec, bad, "x", {})


def test_pdbqt_macrocycle_comes_out_closed_without_glue_atoms():
    """meeko's flexible macrocycle (CG0/G0): the SDF drops the G0 pseudo-atoms and bonds the two
    CG0 carbons, so the 7-membered ring is closed."""
    import pathlib

    from rdkit import Chem

    from hpcfold.chem.pdbqt import parse_ligand_pdbqt
    from hpcfold.chem.sdf import write_pose_sdf

    path = pathlib.Path(__file__).resolve().parents[1] / "data" / "macrocycle_fabp4_457642.pdbqt"
    rec = parse_ligand_pdbqt(path.read_text(), "macro", str(path))
    text = write_pose_sdf(rec, rec.coords, "macro", {})
    mol = Chem.MolFromMolBlock(text.split("$$$$")[0], sanitize=False, removeHs=False)
    kept = [k for k in range(rec.n_atoms) if k not in (24, 27)]  # the G0 pseudo-atoms
    np.testing.assert_allclose(mol.GetConformer().GetPositions()[: len(kept)], rec.coords[kept],
                               atol=1e-3)  # fmt: skip
    assert all(a.GetSymbol() in ("C", "N", "O", "H") for a in mol.GetAtoms())
    assert mol.GetBondBetweenAtoms(23, 25) is not None  # CG24-CG27 (G25 left out)
    Chem.FastFindRings(mol)
    assert 7 in {len(r) for r in mol.GetRingInfo().AtomRings()}
