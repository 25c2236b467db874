"""Bond orders of PDBQT ligands without meeko's remarks: the right molecule, or a refusal."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from rdkit import Chem

from hpcfold.chem.bond_orders import (
    BondOrderError,
    from_geometry,
    ligand_chemistry,
    read_template,
)
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.prepare import PrepOptions, prepare_record
from hpcfold.chem.readers import RawRecord
from hpcfold.chem.sdf import write_pose_sdf
from hpcfold.types import Failure


def constitution(smiles: str) -> tuple[str, int]:
    """The molecule up to its resonance form: heavy-atom graph, hydrogens per atom and net
    charge (bond orders and where a charge sits may differ between resonance forms, e.g.
    ``C(=O)[N-]`` and ``C([O-])=N``; isotopes, which a PDBQT cannot hold, are dropped)."""
    mol = Chem.MolFromSmiles(smiles)
    for atom in mol.GetAtoms():
        atom.SetIsotope(0)
    mol = Chem.RemoveHs(mol)
    net = sum(a.GetFormalCharge() for a in mol.GetAtoms())
    rw = Chem.RWMol(mol)
    for atom in rw.GetAtoms():
        h = atom.GetTotalNumHs()
        atom.SetFormalCharge(0)
        atom.SetIsAromatic(False)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(h)
    for bond in rw.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    return Chem.MolToSmiles(rw, isomericSmiles=False), net


def _stripped(path) -> str:
    lines = path.read_text().splitlines(True)
    return "".join(ln for ln in lines if not ln.startswith(("REMARK SMILES", "REMARK H PARENT")))


def _record(path):
    return parse_ligand_pdbqt(_stripped(path), path.parent.name, str(path))


def test_1lrh_is_naphthalene_acetic_acid_not_the_saturated_guess(shared_data):
    """The crystal PDBQT has no hydrogen on either carboxyl O: perceived as the carboxylate of
    naphthalene-1-acetic acid (aromatic rings, C=O), the same molecule as the neutral acid up
    to the proton the file does not carry."""
    rec = _record(shared_data / "redock42" / "1lrh" / "ligand_xray.pdbqt")
    chem = from_geometry(rec)
    assert chem.smiles == "O=C([O-])Cc1cccc2ccccc12"
    wrong = "OC(O)CC1CCCC2CCCCC21"
    assert constitution(chem.smiles)[0] != constitution(wrong)[0]
    acid = Chem.MolFromSmiles("OC(=O)Cc1cccc2ccccc12")
    mol = Chem.MolFromMolBlock(write_pose_sdf(rec, rec.coords, "1lrh", {}), removeHs=False)
    assert sum(a.GetIsAromatic() for a in mol.GetAtoms()) == 10
    neutral = Chem.MolFromSmiles(Chem.MolToSmiles(Chem.RemoveHs(mol)).replace("[O-]", "O"))
    assert Chem.MolToSmiles(neutral) == Chem.MolToSmiles(acid)


def test_imatinib_without_its_remarks_is_imatinib(shared_data):
    path = shared_data / "vina-example" / "1iep_ligand.pdbqt"
    remark = path.read_text().splitlines()[0].split()[2]
    chem = from_geometry(_record(path))
    assert chem.smiles == Chem.MolToSmiles(Chem.MolFromSmiles(remark))  # protonated N+ too


# Crystal ligands of redock42 whose molecule is known (ligand of the PDB entry, in the
# protonation state of its PDBQT: charged amine / carboxylate as the file's H say).
KNOWN = {
    "1hnn": "NS(=O)(=O)c1ccc2c(c1)C[NH2+]CC2",  # SK&F 29661
    "1of6": "[NH3+][C@@H](Cc1ccc(O)cc1)C(=O)[O-]",  # tyrosine
    "1p62": "Nc1ccn([C@@H]2O[C@H](CO)[C@@H](O)C2(F)F)c(=O)n1",  # gemcitabine
    "1t46": "Cc1ccc(NC(=O)c2ccc(CN3CC[NH+](C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",  # imatinib
    "1ig3": "Cc1ncc(C[n+]2csc(CCO)c2C)c(N)n1",  # thiamine
    "1m2z": "C[C@@H]1C[C@H]2[C@@H]3CCC4=CC(=O)C=C[C@]4(C)[C@@]3(F)[C@@H](O)C[C@]2(C)[C@@]1(O)C(=O)CO",
}


@pytest.mark.parametrize("pdb", sorted(KNOWN))
def test_known_crystal_ligands(shared_data, pdb):
    chem = from_geometry(_record(shared_data / "redock42" / pdb / "ligand_xray.pdbqt"))
    assert chem.smiles == Chem.MolToSmiles(Chem.MolFromSmiles(KNOWN[pdb]))


def test_every_redock42_ligand_is_a_checked_molecule_or_refused(shared_data):
    right = refused = 0
    for path in sorted((shared_data / "redock42").glob("*/ligand_xray.pdbqt")):
        rec = _record(path)
        try:
            chem = from_geometry(rec)
        except BondOrderError as exc:
            refused += 1
            assert str(exc)
            continue
        right += 1
        mol = Chem.MolFromSmiles(chem.smiles)
        assert mol is not None
        heavy = int(np.count_nonzero(rec.xs_types >= 0))
        assert mol.GetNumAtoms() == heavy  # the file's heavy-atom graph, nothing added
    assert right >= 30 and right + refused == 42


def test_prepared_ligands_with_remarks_stripped_come_back_as_themselves(shared_data):
    """hpcfold's own PDBQTs of DUD-E ligands (3D from RDKit), remarks removed: each comes back
    as the prepared molecule up to resonance form, or is refused."""
    right = refused = 0
    path = shared_data / "dude" / "fabp4" / "actives.smi"
    for k, line in enumerate(itertools.islice(path.open(), 25)):
        smi = line.split()[0]
        rec = prepare_record(RawRecord("smiles", smi, f"a{k}", "x", 0), PrepOptions())
        if isinstance(rec, Failure):
            continue
        bare = parse_ligand_pdbqt(
            "".join(ln for ln in rec.pdbqt.splitlines(True) if not ln.startswith("REMARK")),
            rec.lig_id, "x",
        )  # fmt: skip
        try:
            chem = from_geometry(bare)
        except BondOrderError:
            refused += 1
            continue
        assert constitution(chem.smiles) == constitution(rec.smiles), (chem.smiles, rec.smiles)
        right += 1
    assert right >= 20


def test_template_gives_its_protonation_and_a_wrong_one_falls_back(shared_data):
    rec = _record(shared_data / "redock42" / "1lrh" / "ligand_xray.pdbqt")
    chem = ligand_chemistry(rec, read_template("OC(=O)Cc1cccc2ccccc12"))
    assert chem.origin == "template" and chem.smiles == "O=C(O)Cc1cccc2ccccc12"
    chem = ligand_chemistry(rec, read_template("c1ccccc1"))
    assert chem.origin == "geometry" and chem.smiles == "O=C([O-])Cc1cccc2ccccc12"


def test_unclear_geometry_is_refused_and_sdf_raises(shared_data):
    rec = _record(shared_data / "redock42" / "1lrh" / "ligand_xray.pdbqt")
    xyz = rec.coords.astype(np.float64)
    out = (xyz[10] - xyz[9]) / np.linalg.norm(xyz[10] - xyz[9])
    perp = np.cross(out, [0.0, 0.0, 1.0])
    perp /= np.linalg.norm(perp)
    # the CH2 (atom 11) opened to 135 degrees with single-bond lengths: neither sp2 nor sp3
    xyz[11] = xyz[10] + 1.52 * (np.cos(np.radians(45)) * out + np.sin(np.radians(45)) * perp)
    bent = rec.__class__(**{**rec.__dict__, "coords": xyz})
    with pytest.raises(BondOrderError):
        from_geometry(bent)
    with pytest.raises(BondOrderError):
        write_pose_sdf(bent, bent.coords, "x", {})


def test_two_nitro_groups_are_both_charge_separated(shared_data):
    """COMT's crystal ligand (3,5-dinitrocatechol): each nitro is [N+](=O)[O-], never the
    N([O-])[O-] that the same H counts would also allow."""
    chem = from_geometry(_record(shared_data / "dude" / "comt" / "crystal_ligand.pdbqt"))
    assert chem.smiles == "O=[N+]([O-])c1cc(O)c(O)c([N+](=O)[O-])c1"
