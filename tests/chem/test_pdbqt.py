"""Ligand PDBQT: parsing, models, pose writing, malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.chem.pdbqt import parse_ligand_pdbqt, split_models, write_pose_pdbqt


@pytest.fixture(scope="module")
def text(shared_data):
    return (shared_data / "vina-example" / "1iep_ligand.pdbqt").read_text()


def test_parse_imatinib(text):
    r = parse_ligand_pdbqt(text, "imatinib", "1iep_ligand.pdbqt:1")
    assert r.n_atoms == 40 and r.n_torsions == 7 and r.smiles == ""
    assert r.frame_of_atom[0] == 0 and np.all(r.torsion_parent < np.arange(1, 8))
    for t, (a, b) in enumerate(r.torsion_atoms):
        assert r.frame_of_atom[b] == t + 1 and r.frame_of_atom[a] == r.torsion_parent[t]
    assert r.coords.dtype == np.float32 and r.charges[0] == pytest.approx(-0.322)
    auto = r.automorphisms
    assert np.array_equal(auto[0], np.arange(r.n_heavy))
    assert all(sorted(row) == list(range(r.n_heavy)) for row in auto)
    assert auto.shape[0] >= 2  # at least the phenyl / piperazine flips


def test_split_models_and_write_roundtrip(shared_data, text):
    models = split_models((shared_data / "vina-example" / "1iep_ligand_vina_out.pdbqt").read_text())
    assert len(models) == 4
    assert split_models(text) == [text]
    r = parse_ligand_pdbqt(models[0], "m1", "x")
    moved = r.coords + np.float32(1.2345)
    out = write_pose_pdbqt(r, moved, ["REMARK VINA RESULT:    -9.1      0.000      0.000"])
    assert out.startswith("REMARK VINA RESULT:") and out.count("REMARK VINA RESULT") == 1
    back = parse_ligand_pdbqt(out, "m1", "x")
    np.testing.assert_allclose(back.coords, moved, atol=6e-4)
    np.testing.assert_array_equal(back.intra_pairs, r.intra_pairs)
    with pytest.raises(ValueError):
        write_pose_pdbqt(r, moved[:-1], [])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("ROOT\n", "", 1).replace("ENDROOT\n", "", 1), "ROOT"),
        (lambda t: t.replace("ENDBRANCH   1   5\n", ""), "BRANCH|unterminated"),
        (lambda t: t.replace(" OA\n", " Xx\n", 1), "unknown AutoDock atom type"),
        (lambda t: t.replace(" C \n", " CG0\n", 1), "'CG0' is a flexible-macrocycle"),
        (lambda t: t.replace(" C \n", " G0\n", 1), "'G0' is a flexible-macrocycle"),
        (
            lambda t: t.replace("BRANCH   1   5", "BRANCH   1  99").replace(
                "ENDBRANCH   1   5", "ENDBRANCH   1  99"
            ),
            "99",
        ),
        (lambda t: "REMARK nothing\n", "no atoms"),
        (lambda t: t.replace("TORSDOF", "BOGUS"), "unknown or inappropriate"),
    ],
)
def test_malformed_text_raises(text, mutate, message):
    with pytest.raises(ValueError, match=message):
        parse_ligand_pdbqt(mutate(text), "bad", "x")
