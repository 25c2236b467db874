"""Box config parsing, autobox and Vina's grid bounds."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.boxes import (
    autobox,
    box_bounds,
    ligand_coords,
    parse_vina_config,
    read_vina_config,
    volume_warning,
)
from hpcfold.errors import UserError
from hpcfold.types import Box


def test_read_vina_config(shared_data):
    box = read_vina_config(shared_data / "vina-example" / "1iep_receptor.box.txt")
    assert box == Box((15.19, 53.903, 16.917), (20.0, 20.0, 20.0))
    text = (
        "# comment\nreceptor = r.pdbqt\ncenter_x=1\ncenter_y = 2 # c\ncenter_z = 3\n"
        "size_x = 4\nsize_y = 5\nsize_z = 6\nexhaustiveness = 8\n"
    )
    assert parse_vina_config(text) == Box((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))


@pytest.mark.parametrize(
    "text, message",
    [
        ("center_x = 1\n", "missing"),
        ("center_x = a\ncenter_y=0\ncenter_z=0\nsize_x=1\nsize_y=1\nsize_z=1\n", "not a number"),
        ("center_x = 0\ncenter_y=0\ncenter_z=0\nsize_x=-1\nsize_y=1\nsize_z=1\n", "positive"),
        ("just words\n", "key = value"),
    ],
)
def test_bad_configs(text, message):
    with pytest.raises(UserError, match=message):
        parse_vina_config(text)


def test_autobox_and_bounds(tmp_path):
    box = autobox(np.array([[0.0, 0, 0], [2, 4, 6]]), add=4.0)
    assert box.center == (1.0, 2.0, 3.0) and box.size == (10.0, 12.0, 14.0)
    lo, hi, n = box_bounds(Box((0.0, 0.0, 0.0), (20.0, 20.0, 20.0)))
    assert n.tolist() == [54, 54, 54]  # ceil(20 / 0.375)
    np.testing.assert_allclose(hi - lo, 54 * 0.375)
    with pytest.raises(UserError):
        read_vina_config(tmp_path / "nope.txt")


def test_volume_warning_above_vinas_limit():
    assert volume_warning(Box((0.0, 0.0, 0.0), (30.0, 30.0, 30.0)), "x") is None  # 27000: no
    msg = volume_warning(Box((0.0, 0.0, 0.0), (30.0, 30.0, 31.0)), "do this")
    assert "27900 A^3" in msg and "27000" in msg and msg.endswith("; do this")


def test_ligand_coords(tmp_path):
    """An autobox ligand (dock's --autobox-ligand, screen's box.autobox_ligand): SDF/MOL through
    RDKit with its hydrogens, PDB/PDBQT up to the first ENDMDL; bad files are ValueErrors."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    Chem.MolToMolFile(mol, str(tmp_path / "l.mol"))
    xyz = ligand_coords(tmp_path / "l.mol")
    np.testing.assert_allclose(xyz, mol.GetConformer().GetPositions(), atol=1e-4)  # 4 decimals
    atom = "HETATM    1  C   LIG A   1    {:8.3f}{:8.3f}{:8.3f}  1.00  0.00     0.000 C \n"
    two = "MODEL 1\n" + atom.format(1, 2, 3) + "ENDMDL\nMODEL 2\n" + atom.format(9, 9, 9)
    (tmp_path / "m.pdbqt").write_text(two + "ENDMDL\n")
    assert ligand_coords(tmp_path / "m.pdbqt").tolist() == [[1.0, 2.0, 3.0]]
    (tmp_path / "e.pdb").write_text("REMARK nothing\n")
    for name, msg in (("e.pdb", "no ATOM"), ("missing.sdf", "not found")):
        with pytest.raises(ValueError, match=msg):
            ligand_coords(tmp_path / name)
    (tmp_path / "l.mol2").write_text("")
    with pytest.raises(ValueError, match="must be .pdbqt"):
        ligand_coords(tmp_path / "l.mol2")


def test_grid_memory_estimate_and_refusal():
    from hpcfold.boxes import check_grid_memory, grid_bytes

    small, huge = Box((0, 0, 0), (22.5, 22.5, 22.5)), Box((0, 0, 0), (150, 150, 150))
    # 22.5 A: 60 voxels, 61 points padded to 64 per axis; 150 A: 401 -> 416
    assert grid_bytes(small) == 64**3 * 400 and grid_bytes(huge) == 416**3 * 400
    check_grid_memory(small, "smaller", available=1 << 30)
    with pytest.raises(UserError, match=r"needs about 26\.8 GiB .* 16\.0 GiB of memory") as e:
        check_grid_memory(huge, "give a smaller box", available=16 << 30)
    assert "give a smaller box" in str(e.value)


def test_in_grid_is_vinas_rule():
    from hpcfold.boxes import in_grid

    box = Box((0, 0, 0), (15, 15, 15))  # 40 voxels of 0.375: exactly -7.5 .. 7.5
    heavy = np.array([True, False])
    assert in_grid([[7.5, 0, 0], [50, 0, 0]], heavy, box)  # a hydrogen outside does not count
    assert not in_grid([[7.6, 0, 0], [0, 0, 0]], heavy, box)
    assert in_grid([[7.50009, -7.50009, 0], [0, 0, 0]], heavy, box)  # Vina's 1e-4 margin


def test_autobox_ligand_with_non_finite_coordinates_names_the_line(tmp_path):
    p = tmp_path / "l.pdbqt"
    p.write_text("REMARK x\nATOM      1  C   LIG     1       1.000   2.000   3.000  0.00  0.00"
                 "     0.000 C\nATOM      2  C   LIG     1         nan   2.000   3.000  0.00"
                 "  0.00     0.000 C\n")  # fmt: skip
    with pytest.raises(ValueError, match=r"l\.pdbqt:3: non-finite coordinate"):
        ligand_coords(p)
