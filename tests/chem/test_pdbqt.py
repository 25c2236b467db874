"""Ligand PDBQT: parsing, models, pose writing, malformed input."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from hpcfold.chem.pdbqt import parse_ligand_pdbqt, split_models, write_pose_pdbqt
from hpcfold.types import AD_TYPES, XS_INDEX, LigandRecord, glue_partners

MACROCYCLE = pathlib.Path(__file__).resolve().parents[1] / "data" / "macrocycle_fabp4_457642.pdbqt"


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
        (lambda t: t.replace(" C \n", " CG7\n", 1), "unknown AutoDock atom type 'CG7'"),
        (lambda t: t.replace(" C \n", " G0\n", 1), "glue atom .* needs exactly two CG0"),
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


def test_flexible_macrocycle_is_read_with_vina_rules():
    """meeko's glue types: CG0 carbons are C_P (bonded to their G0), G0 pseudo-atoms have no XS
    type but count as heavy for N_rot (9.5, as Vina's conf_independent shows), each G0 is glued
    to the CG0 it is not bonded to, and pairs within three bonds across the opened ring bond are
    not scored (Vina's is_closure_clash)."""
    text = MACROCYCLE.read_text()
    r = parse_ligand_pdbqt(text, "macro", str(MACROCYCLE))
    names = [AD_TYPES[int(c)] for c in r.ad_types]
    cg = [i for i, t in enumerate(names) if t == "CG0"]
    g = [i for i, t in enumerate(names) if t == "G0"]
    assert cg == [23, 26] and g == [24, 27] and r.n_atoms == 32 and r.n_torsions == 10
    assert all(r.xs_types[i] == XS_INDEX["C_P"] for i in cg)
    assert all(r.xs_types[i] == -1 for i in g)
    assert r.n_rot == 9.5
    partner = glue_partners(r.ad_types, r.bonds)
    assert partner[24] == 26 and partner[27] == 23
    assert np.array_equal(np.delete(partner, g), np.delete(np.arange(r.n_atoms), g))
    np.testing.assert_allclose(r.coords[24], r.coords[26], atol=1e-3)  # closed as written
    pairs = {tuple(p) for p in r.intra_pairs.tolist()}
    assert not any(i in g or j in g for i, j in pairs)
    # 1-2 (CG0-CG0), 1-3 (CG0 - neighbour of the other CG0) and 1-4 across the opened bond
    assert (23, 26) not in pairs and (23, 25) not in pairs and (22, 25) not in pairs
    # the same atoms typed as plain carbons (ring opened without glue) would be scored
    plain = parse_ligand_pdbqt(
        "\n".join(ln for ln in text.replace(" CG0", " C  ").splitlines() if not ln.endswith(" G0"))
        + "\n",
        "plain",
        "x",
    )
    assert (23, 24) in {
        tuple(p) for p in plain.intra_pairs.tolist()
    }  # CG24-C26: 1-3 across the opened bond
    out = write_pose_pdbqt(r, r.coords + np.float32(1.0), [])
    assert out.count(" G0\n") == 2 and out.count(" CG0\n") == 2  # Vina keeps the glue atoms
    back = parse_ligand_pdbqt(out, "macro", "x")
    np.testing.assert_array_equal(back.intra_pairs, r.intra_pairs)


@pytest.mark.parametrize("odd", ["\x85", "\u2028", "\f", "\r", "\v", "\x1c"])
def test_remark_with_unicode_line_breaks_is_valid(text, odd, tmp_path):
    """Only ``\\n`` ends a line (``str.splitlines`` also splits at these)."""
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records

    odd_text = f"REMARK  Name = odd{odd}name\nREMARK x {odd} y\n" + text
    ref = parse_ligand_pdbqt(text, "ref", "t")
    rec = parse_ligand_pdbqt(odd_text, "odd", "t")
    np.testing.assert_array_equal(rec.coords, ref.coords)
    assert len(split_models(odd_text)) == 1
    pose = write_pose_pdbqt(rec, rec.coords, ["REMARK VINA RESULT: 0 0 0"])
    assert f"x {odd} y" in pose
    p = tmp_path / "odd.pdbqt"
    p.write_bytes(odd_text.encode("utf-8"))
    (raw,) = list(iter_records(str(p)))
    assert isinstance(prepare_record(raw, PrepOptions()), LigandRecord)


def test_symmetry_failure_is_marked_incomplete(text, monkeypatch):
    from rdkit import Chem

    def broken(*args, **kwargs):
        raise RuntimeError("no symmetry")

    monkeypatch.setattr(Chem, "RWMol", broken)
    rec = parse_ligand_pdbqt(text, "x", "t")
    assert rec.automorphisms.shape == (1, rec.n_heavy) and rec.automorphisms_truncated
