"""The writer registry: one schema per format, refused SDF ligands as PDBQT, atomic files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from rdkit import Chem

from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.errors import UserError
from hpcfold.report.writers import (
    SDF_TAGS,
    WRITERS,
    CsvWriter,
    LigandOutput,
    PdbqtWriter,
    SdfWriter,
    open_writer,
)
from hpcfold.types import TERMS


def _output(rec, m: int = 2) -> LigandOutput:
    coords = np.stack([rec.coords + k for k in range(m)]).astype(np.float32)
    aff = np.array([-7.5, 1.25][:m])
    return LigandOutput(
        rec.lig_id, aff, aff - 1.0, np.full(m, 0.5), np.arange(m * len(TERMS)).reshape(m, -1),
        aff > 0, record=rec, coords=coords, smiles=rec.smiles,
    )  # fmt: skip


@pytest.fixture
def lrh(shared_data):
    path = shared_data / "redock42" / "1lrh" / "ligand_xray.pdbqt"
    return parse_ligand_pdbqt(path.read_text(), "1lrh", str(path))


@pytest.fixture
def refused(shared_data):
    path = shared_data / "redock42" / "1pmn" / "ligand_xray.pdbqt"  # unclear hybridisation
    return parse_ligand_pdbqt(path.read_text(), "1pmn", str(path))


def test_registry_by_suffix(tmp_path):
    assert set(WRITERS) == {".sdf", ".pdbqt", ".csv"}
    for suffix, cls in (("sdf", SdfWriter), ("PDBQT", PdbqtWriter), ("csv", CsvWriter)):
        w = open_writer(str(tmp_path / f"x.{suffix}"))
        assert type(w) is cls
        w.abort()
    with pytest.raises(UserError, match="must end in"):
        open_writer(str(tmp_path / "x.mol2"))
    assert os.listdir(tmp_path) == []  # aborted: no temporary file left


def test_pdbqt_has_vina_remarks(tmp_path, lrh):
    out = tmp_path / "p.pdbqt"
    with open_writer(str(out)) as w:
        w.write(_output(lrh))
    text = out.read_text()
    results = [ln for ln in text.splitlines() if ln.startswith("REMARK VINA RESULT:")]
    assert len(results) == 2 and text.count("MODEL") == 2
    assert results[0].split()[3:] == ["-7.500", "0.000", "0.000"]
    assert float(results[1].split()[3]) == 1.25 and float(results[1].split()[5]) > 0.9


def test_sdf_tags_and_clash_flag(tmp_path, lrh):
    out = tmp_path / "p.sdf"
    with open_writer(str(out)) as w:
        assert w.write(_output(lrh)) is None
    mols = list(Chem.SDMolSupplier(str(out)))
    assert [tuple(m.GetPropNames()) for m in mols] == [SDF_TAGS, SDF_TAGS]
    assert [m.GetProp("hpcfold_clash") for m in mols] == ["0", "1"]
    assert mols[0].GetProp("hpcfold_smiles") == "O=C([O-])Cc1cccc2ccccc12"
    assert not os.path.exists(f"{out}.refused.pdbqt")


def test_template_sets_the_molecule(tmp_path, lrh):
    from hpcfold.chem.bond_orders import read_template

    out = tmp_path / "t.sdf"
    with open_writer(str(out), template=read_template("OC(=O)Cc1cccc2ccccc12")) as w:
        w.write(_output(lrh, 1))
    (mol,) = Chem.SDMolSupplier(str(out))
    assert mol.GetProp("hpcfold_smiles") == "O=C(O)Cc1cccc2ccccc12"
    assert Chem.MolToSmiles(mol) == "O=C(O)Cc1cccc2ccccc12"


def test_unsure_molecule_goes_to_pdbqt_with_the_reason(tmp_path, lrh, refused):
    out = tmp_path / "p.sdf"
    with open_writer(str(out)) as w:
        assert w.write(_output(lrh)) is None
        why = w.write(_output(refused))
    assert why and "hybridisation" in why
    assert w.refused == [("1pmn", why)]
    assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(out))] == ["1lrh", "1lrh"]
    side = (tmp_path / "p.sdf.refused.pdbqt").read_text()
    assert "REMARK NAME = 1pmn" in side and side.count("REMARK VINA RESULT") == 2


def test_a_symlink_at_the_old_temporary_name_is_never_followed(tmp_path, lrh):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "hits.csv"
    os.symlink(victim, f"{out}.tmp")
    for name in ("hits.csv.tmp", ".hits.csv.tmp"):
        if not os.path.lexists(tmp_path / name):
            os.symlink(victim, tmp_path / name)
    with open_writer(str(out)) as w:
        w.write(_output(lrh, 1))
    assert victim.read_text() == "keep me"
    assert out.read_text().startswith("ligand_id,") and not out.is_symlink()
    assert sorted(os.listdir(tmp_path)) == [".hits.csv.tmp", "hits.csv", "hits.csv.tmp",
                                            "victim.txt"]  # fmt: skip
