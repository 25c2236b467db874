"""``hpcfold export`` on a real screen's results store (tests/commands/conftest.py)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from rdkit import Chem

from hpcfold.cli import main as cli
from hpcfold.report.export import CSV_COLUMNS, export_hits
from hpcfold.report.writers import SDF_TAGS
from hpcfold.store.features import FeatureStore
from hpcfold.store.results import open_results
from hpcfold.types import TERMS


@pytest.fixture(scope="module")
def table(small_screen):
    with open_results(str(small_screen.results)) as view:
        yield view.table


def _ok(table) -> np.ndarray:
    return np.asarray([s == "ok" for s in table["status"]])


def _clean(table) -> np.ndarray:
    """Docked and clash-free (best affinity <= 0): what export keeps by default."""
    return _ok(table) & (np.nan_to_num(table["affinity"], nan=1.0) <= 0)


def test_screen_fixture_is_real(small_screen, table):
    ok = _ok(table)
    assert len(table["index"]) == 9  # 8 ligands + the unparsable one: every ligand came out
    assert ok.sum() == 8
    assert np.all(np.isfinite(table["affinity"][ok])) and np.all(table["n_poses"][ok] >= 1)


def test_sdf_best_pose_per_ligand_with_tags(small_screen, table, tmp_path, capsys):
    out = tmp_path / "hits.sdf"
    argv = ["export", str(small_screen.results), "-o", str(out), "--top", "8", "--include-clashes"]
    assert cli(argv) == 0
    assert "wrote 8 ligands" in capsys.readouterr().out
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert len(mols) == 8 and all(m is not None for m in mols)
    ok = np.flatnonzero(_ok(table))
    by_id = {table["lig_id"][i]: i for i in ok}
    affinities = [m.GetDoubleProp("minimizedAffinity") for m in mols]
    assert affinities == sorted(affinities)  # best first
    with (
        FeatureStore(str(small_screen.features)) as fs,
        open_results(str(small_screen.results)) as v,
    ):
        for mol in mols:
            name = mol.GetProp("_Name")
            i = by_id[name]  # record name = ligand id
            assert mol.GetProp("hpcfold_ligand_id") == name
            assert mol.GetProp("hpcfold_smiles") == table["smiles"][i] != ""
            assert tuple(mol.GetPropNames()) == SDF_TAGS
            a = mol.GetDoubleProp("minimizedAffinity")
            assert mol.GetProp("hpcfold_mode") == "1"
            assert mol.GetProp("hpcfold_clash") == ("1" if a > 0 else "0")
            assert a == pytest.approx(table["affinity"][i], abs=1e-3)
            assert mol.GetDoubleProp("hpcfold_affinity") == a
            meeko = json.loads(mol.GetProp("meeko"))
            assert meeko["free_energy"] == pytest.approx(a, abs=1e-3)
            assert meeko["intermolecular_energy"] == pytest.approx(table["inter"][i], abs=1e-3)
            assert mol.GetDoubleProp("hpcfold_inter") == pytest.approx(table["inter"][i], abs=1e-3)
            for k, term in enumerate(TERMS):
                got = mol.GetDoubleProp(f"hpcfold_{term}")
                assert got == pytest.approx(table["terms"][i][k], abs=1e-3)
            assert mol.GetDoubleProp("hpcfold_rmsd_lb") == 0.0
            # the coordinates are the best pose from the results store, atom for atom
            coords, _ = v.poses(int(table["index"][i]))
            (record,) = fs.read([int(table["index"][i])])
            xyz = mol.GetConformer().GetPositions()
            mapped = record.mol_index >= 0
            np.testing.assert_allclose(xyz[record.mol_index[mapped]], coords[0][mapped], atol=2e-3)
            # and the molecule is the one that was screened (3D perception may add stereo
            # marks to symmetric centres, e.g. adamantane: compare the constitution)
            assert Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False) == Chem.MolToSmiles(
                Chem.MolFromSmiles(table["smiles"][i]), isomericSmiles=False
            )


def test_clash_flagged_ligands_are_left_out_unless_asked(small_screen, table, tmp_path):
    """The fixture's 4x4 search leaves real ligands with no clash-free pose (affinity > 0)."""
    flagged = {table["lig_id"][i] for i in np.flatnonzero(_ok(table) & ~_clean(table))}
    assert flagged  # a real positive-score ligand
    out = tmp_path / "hits.csv"
    assert export_hits(small_screen.results, out).n == int(_clean(table).sum())
    assert not flagged & {r["ligand_id"] for r in _read_csv(out)[1]}
    assert export_hits(small_screen.results, out, include_clashes=True).n == int(_ok(table).sum())
    rows = {r["ligand_id"]: r for r in _read_csv(out)[1]}
    assert {k for k, r in rows.items() if r["clash"] == "1"} == flagged
    assert all(float(rows[k]["affinity"]) > 0 for k in flagged)


def test_sdf_top_and_min_score(small_screen, table, tmp_path):
    ok = _clean(table)
    best = np.sort(table["affinity"][ok])
    out = tmp_path / "top.sdf"
    assert export_hits(small_screen.results, out, top=3).n == 3
    got = [m.GetDoubleProp("minimizedAffinity") for m in Chem.SDMolSupplier(str(out))]
    np.testing.assert_allclose(got, best[:3], atol=1e-3)
    cut = float(best[4])  # the 5 best are <= cut (ties allowed)
    n = export_hits(small_screen.results, out, min_score=cut).n
    assert n == int((best <= cut).sum()) >= 5
    mols = Chem.SDMolSupplier(str(out))
    assert all(m.GetDoubleProp("minimizedAffinity") <= cut + 1e-3 for m in mols)
    assert export_hits(small_screen.results, out, top=2, min_score=cut).n == 2
    assert export_hits(small_screen.results, out, min_score=best[0] - 1.0).n == 0
    assert out.read_text() == ""


@pytest.mark.parametrize("suffix", [".sdf", ".pdbqt"])
def test_poses_all_and_n(small_screen, table, tmp_path, suffix):
    ok = np.flatnonzero(_clean(table))
    n_poses = {table["lig_id"][i]: int(table["n_poses"][i]) for i in ok}
    assert max(n_poses.values()) > 2  # the fixture keeps several poses per ligand
    out = tmp_path / f"all{suffix}"

    def count() -> dict[str, list[float]]:
        got: dict[str, list[float]] = {}
        if suffix == ".sdf":
            for m in Chem.SDMolSupplier(str(out)):
                got.setdefault(m.GetProp("_Name"), []).append(m.GetDoubleProp("minimizedAffinity"))
        else:
            name = None
            for line in out.read_text().splitlines():
                if line.startswith("REMARK VINA RESULT:"):
                    aff = float(line.split()[3])
                elif line.startswith("REMARK NAME = "):
                    name = line[len("REMARK NAME = ") :]
                    got.setdefault(name, []).append(aff)
        return got

    assert export_hits(small_screen.results, out, poses="all").n == len(ok)
    got = count()
    assert {k: len(v) for k, v in got.items()} == n_poses
    assert all(v == sorted(v) for v in got.values())  # best pose first
    assert cli(["export", str(small_screen.results), "-o", str(out), "--poses", "2"]) == 0
    assert {k: len(v) for k, v in count().items()} == {k: min(2, v) for k, v in n_poses.items()}
    assert cli(["export", str(small_screen.results), "-o", str(out), "--poses", "0"]) == 2


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def test_csv_columns_order_and_failures(small_screen, table, tmp_path):
    out = tmp_path / "hits.csv"
    n_clean = int(_clean(table).sum())
    assert export_hits(small_screen.results, out, top=100).n == n_clean
    header, rows = _read_csv(out)
    assert tuple(header) == CSV_COLUMNS
    assert header[:11] == ["ligand_id", "smiles", "status", "affinity", "inter", "intra",
                           "gauss1", "gauss2", "repulsion", "hydrophobic", "hbond"]  # fmt: skip
    aff = [float(r["affinity"]) for r in rows]
    assert aff == sorted(aff)
    assert {r["status"] for r in rows} == {"ok"}
    ok = np.flatnonzero(_clean(table))
    assert {r["ligand_id"] for r in rows} == {table["lig_id"][i] for i in ok}
    for r in rows:
        (i,) = [k for k in ok if table["lig_id"][k] == r["ligand_id"]]
        assert int(r["index"]) == int(table["index"][i])
        assert float(r["hbond"]) == pytest.approx(table["terms"][i][4], abs=1e-3)
        assert r["reason"] == "" and r["smiles"] == table["smiles"][i] and r["clash"] == "0"

    assert cli(["export", str(small_screen.results), "-o", str(out), "--include-failures"]) == 0
    _, rows = _read_csv(out)
    assert len(rows) == n_clean + 1
    failed = rows[-1]  # failures come after every docked ligand
    assert failed["ligand_id"] == small_screen.bad_id and failed["status"] == "failed"
    assert failed["reason"] == "PARSE_ERROR" and failed["message"]
    assert failed["affinity"] == "" and failed["hbond"] == ""


def test_export_errors(small_screen, tmp_path, capsys):
    res = str(small_screen.results)
    assert cli(["export", res, "-o", str(tmp_path / "hits.txt")]) == 2
    assert "must end in .sdf, .pdbqt, .csv" in capsys.readouterr().err
    assert cli(["export", res, "-o", str(tmp_path / "h.sdf"), "--include-failures"]) == 2
    assert "no pose" in capsys.readouterr().err
    assert cli(["export", str(tmp_path / "none.h5"), "-o", str(tmp_path / "h.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli(["export", res, "-o", str(tmp_path / "h.csv"), "--top", "-1"]) == 2
    assert not (tmp_path / "h.csv").exists() and not (tmp_path / "h.sdf").exists()


def test_feature_store_found_after_moving_both_stores(small_screen):
    """The results meta names an absolute path; stores moved together are still found."""
    from types import SimpleNamespace

    from hpcfold.errors import UserError
    from hpcfold.report.export import feature_store_path

    moved = SimpleNamespace(meta={"features": "/gone/elsewhere/lib.h5"})
    assert feature_store_path(moved, small_screen.results) == str(small_screen.features)
    with pytest.raises(UserError, match="not found"):
        feature_store_path(SimpleNamespace(meta={"features": "/gone/x.h5"}), small_screen.results)
    with pytest.raises(UserError, match="does not name"):
        feature_store_path(SimpleNamespace(meta={}), small_screen.results)
