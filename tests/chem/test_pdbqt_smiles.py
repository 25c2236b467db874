"""meeko PDBQT remarks (REMARK SMILES / SMILES IDX / H PARENT) -> SDF with real chemistry."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
from rdkit import Chem

from hpcfold.chem.pdbqt_smiles import molblock_from_remarks
from hpcfold.chem.prepare import PrepOptions, prepare_record
from hpcfold.chem.readers import iter_records
from hpcfold.chem.sdf import write_pose_sdf

MACROCYCLE = pathlib.Path(__file__).resolve().parents[1] / "data" / "macrocycle_fabp4_457642.pdbqt"


def _record(path):
    return prepare_record(next(iter(iter_records(str(path)))), PrepOptions())


def _canon(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def _moved(coords):
    """coords turned 90 degrees about z and shifted (a rigid pose)."""
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return coords @ rot.T + np.array([5.0, -3.0, 2.0])


def test_meeko_pdbqt_gets_bond_orders_charges_and_hydrogens(shared_data):
    path = shared_data / "vina-example" / "1iep_ligand.pdbqt"  # imatinib, written by meeko
    rec = _record(path)
    remark = path.read_text().splitlines()[0].split()[2]
    assert rec.smiles == _canon(remark) and rec.mol_index is not None
    pose = _moved(rec.coords.astype(np.float64))
    mol = Chem.MolFromMolBlock(write_pose_sdf(rec, pose, "imatinib", {}), removeHs=False)
    assert mol is not None  # sanitises: aromatic rings, the protonated piperazine N+
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == _canon(remark)
    assert sum(a.GetFormalCharge() for a in mol.GetAtoms()) == 1
    xyz = mol.GetConformer().GetPositions()
    mapped = rec.mol_index >= 0
    np.testing.assert_allclose(xyz[rec.mol_index[mapped]], pose[mapped], atol=1e-3)
    # every hydrogen (polar ones from the PDBQT, the others placed by RDKit) moved with the pose
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if 1 in (b.GetBeginAtom().GetAtomicNum(), b.GetEndAtom().GetAtomicNum()):
            assert 0.9 < np.linalg.norm(xyz[i] - xyz[j]) < 1.2


def test_macrocycle_sdf_from_remarks_is_the_closed_molecule():
    rec = _record(MACROCYCLE)
    assert rec.mol_index is not None and np.count_nonzero(rec.mol_index < 0) == 2  # the G0 atoms
    mol = Chem.MolFromMolBlock(write_pose_sdf(rec, rec.coords, "m", {}), removeHs=False)
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == rec.smiles
    assert 7 in [len(r) for r in mol.GetRingInfo().AtomRings()]


def test_missing_or_inconsistent_remarks_fall_back_to_the_atoms(shared_data):
    plain = _record(shared_data / "redock42" / "1hnn" / "ligand_xray.pdbqt")  # no remarks
    assert plain.smiles == "" and plain.mol_index is None and plain.molblock == ""
    text = (shared_data / "vina-example" / "1iep_ligand.pdbqt").read_text()
    rec = _record(shared_data / "vina-example" / "1iep_ligand.pdbqt")
    rec = dataclasses.replace(rec, molblock="", mol_index=None, smiles="")
    assert molblock_from_remarks(text, rec) is not None
    # SMILES atom 6 (the amide N) mapped to PDBQT atom 2 (a C): an element mismatch
    bad = text.replace("REMARK SMILES IDX 6 1 7 2", "REMARK SMILES IDX 6 2 7 1", 1)
    assert molblock_from_remarks(bad, rec) is None
    # two SMILES atoms on one PDBQT atom
    twice = text.replace("REMARK SMILES IDX 6 1 7 2", "REMARK SMILES IDX 6 1 7 1", 1)
    assert molblock_from_remarks(twice, rec) is None
    assert molblock_from_remarks(text.replace("REMARK SMILES C", "REMARK SMILES X", 1), rec) is None
    no_h = "\n".join(ln for ln in text.splitlines() if not ln.startswith("REMARK H PARENT"))
    assert molblock_from_remarks(no_h, rec) is None  # polar H left without a parent
