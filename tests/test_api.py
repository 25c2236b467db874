"""``hpcfold.api``: inputs, Mol outputs, scoring against ``hpcfold score``, and the scoring
function's gradient against finite differences."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from hpcfold import api
from hpcfold.errors import UserError
from hpcfold.types import Failure, LigandRecord

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ex(shared_data):
    d = shared_data / "vina-example"
    return (
        d,
        api.load_receptor(d / "1iep_receptor.pdbqt"),
        api.make_box(config=d / "1iep_receptor.box.txt"),
    )


def test_import_hpcfold_and_its_api_import_no_jax():
    code = ("import sys, hpcfold; from hpcfold import api; api.make_box(center=(0, 0, 0), "
            "size=(9, 9, 9)); assert hpcfold.Docker is api.Docker; "
            "assert 'jax' not in sys.modules and 'rdkit' not in sys.modules, 'heavy import'")  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_boxes(ex, shared_data):
    d, _, box = ex
    assert box.center == pytest.approx((15.19, 53.903, 16.917)) and box.size == (20, 20, 20)
    assert api.make_box(center=[1, 2, 3], size=[4, 5, 6]).size == (4.0, 5.0, 6.0)
    from rdkit import Chem

    mol = Chem.MolFromMolFile(str(d / "1iep_ligand.sdf"), removeHs=False)
    xyz = mol.GetConformer().GetPositions()
    from_mol = api.make_box(autobox_ligand=mol, autobox_add=2.0)
    assert from_mol.size == pytest.approx(tuple(xyz.max(0) - xyz.min(0) + 4.0))
    assert api.make_box(autobox_ligand=d / "1iep_ligand.sdf").size == pytest.approx(
        tuple(xyz.max(0) - xyz.min(0) + 8.0), abs=1e-3
    )
    for bad in ({}, {"center": (0, 0, 0)}, {"config": "x", "center": (0, 0, 0), "size": (1,) * 3}):
        with pytest.raises(UserError):
            api.make_box(**bad)


def test_ligand_inputs(ex, tmp_path):
    from rdkit import Chem

    d = ex[0]
    smi = tmp_path / "two.smi"
    smi.write_text("CCO ethanol\nOC(=O)c1ccccc1 benzoic\n")
    mol = Chem.MolFromMolFile(str(d / "1iep_ligand.sdf"))
    items = api.prepare_ligands(["c1ccccc1O phenol", "CCN", mol, Chem.MolFromSmiles("CC"), smi,
                                 d / "1iep_ligand.pdbqt", "C1=CC=CC=C1(C)(C)(C)(C) bad"])  # fmt: skip
    ids = [it.lig_id for it in items]
    assert ids[:6] == ["phenol", "smiles:2", "STI", "mol:4", "ethanol", "benzoic"]
    assert len(items) == 8 and all(isinstance(it, LigandRecord) for it in items[:7])
    assert isinstance(items[7], Failure) and items[7].reason.name == "PARSE_ERROR"
    # a Mol with 3D coordinates keeps them (as an SDF record does)
    heavy = items[2].coords[items[2].xs_types >= 0]
    ref = mol.GetConformer().GetPositions()
    assert np.abs(heavy[:, None] - ref[None]).sum(-1).min(1).max() < 1e-3
    with pytest.raises(UserError, match="no pose to score"):
        api.prepare_ligands("CCO", keep_coords=True)
    with pytest.raises(UserError, match="not found"):
        api.prepare_ligands(tmp_path / "missing.sdf")


def _cli_score(ex, ligand, *extra):
    from hpcfold.cli import main

    d = ex[0]
    argv = ["score", "--receptor", str(d / "1iep_receptor.pdbqt"), "--ligand", str(ligand),
            "--config", str(d / "1iep_receptor.box.txt"), "--json", *extra]  # fmt: skip
    return main(argv)


def test_score_matches_the_cli_and_keeps_the_molecule(ex, capsys):
    d, rec, box = ex
    assert _cli_score(ex, d / "1iep_ligand_vina_out.pdbqt") == 0
    rows = json.loads(capsys.readouterr().out)
    mols = api.score(rec, box, d / "1iep_ligand_vina_out.pdbqt")
    assert len(mols) == len(rows) == 4
    for mol, row in zip(mols, rows, strict=True):
        props = mol.GetPropsAsDict()
        for key, val in row.items():
            assert props[f"hpcfold_{key}"] == pytest.approx(val, abs=1e-4)
        assert mol.GetNumConformers() == 1
        assert mol.GetConformer().GetDoubleProp("hpcfold_affinity") == props["hpcfold_affinity"]


def test_scoring_function_value_and_gradient(ex, capsys):
    import jax

    d, rec, box = ex
    assert _cli_score(ex, d / "1iep_ligand.pdbqt") == 0
    cli = json.loads(capsys.readouterr().out)[0]
    sf = api.scoring_function(rec, box, d / "1iep_ligand.pdbqt")
    x = np.asarray(sf.coords, np.float64)
    assert x.shape == (sf.record.n_atoms, 3)
    # the smooth table Vina differentiates, against score's binned one
    assert float(sf(x)) == pytest.approx(cli["affinity"], abs=0.01)
    energy = api.scoring_function(rec, box, d / "1iep_ligand.pdbqt", kind="energy")
    assert float(energy(x)) == pytest.approx(cli["inter"] + cli["intra"], abs=0.02)
    for fn in (sf, energy):
        g = np.asarray(jax.jit(jax.grad(fn))(x))
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0.1
        h = 1e-2
        for k, ax in [(0, 0), (5, 1), (10, 2), (20, 0), (x.shape[0] - 1, 1)]:
            xp, xm = x.copy(), x.copy()
            xp[k, ax] += h
            xm[k, ax] -= h
            fd = (float(fn(xp)) - float(fn(xm))) / (2 * h)
            assert g[k, ax] == pytest.approx(fd, abs=3e-3, rel=2e-2), (k, ax)
    # outside the box Vina's penalty pushes the atom back
    far = x.copy()
    far[0, 0] = box.center[0] + box.size[0]
    assert float(sf(far)) > 1e5 and np.asarray(jax.grad(sf)(far))[0, 0] > 1e5
    with pytest.raises(ValueError, match="shape"):
        sf(x[:-1])
