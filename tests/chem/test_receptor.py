"""Receptor reading: PDBQT typing, hashing, unsupported formats."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from hpcfold.chem.receptor import read_receptor
from hpcfold.errors import UserError
from hpcfold.types import XS_INDEX


def test_read_pdbqt_receptor(shared_data):
    path = shared_data / "vina-example" / "1iep_receptor.pdbqt"
    rec = read_receptor(path)
    heavy = sum(
        1
        for ln in path.read_text().splitlines()
        if ln.startswith(("ATOM", "HETATM")) and ln[77:79].strip() not in ("H", "HD")
    )
    assert rec.coords.shape == (heavy, 3) and rec.coords.dtype == np.float32
    assert rec.xs_types.min() >= 0
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    counts = np.bincount(rec.xs_types, minlength=19)
    assert (
        counts[XS_INDEX["C_H"]] > 0 and counts[XS_INDEX["N_D"]] > 0 and counts[XS_INDEX["O_A"]] > 0
    )


def test_bad_receptor_inputs(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_receptor(tmp_path / "missing.pdbqt")
    mol2 = tmp_path / "r.mol2"
    mol2.write_text("@<TRIPOS>MOLECULE\n")
    with pytest.raises(UserError, match="prepare_receptor"):
        read_receptor(mol2)
    bad = tmp_path / "r.pdbqt"
    bad.write_text(
        "ATOM      1  CA  ALA A   1      1.000   2.000   3.000  1.00  0.00     0.000 Qq\n"
    )
    with pytest.raises(UserError, match="unknown AutoDock atom type"):
        read_receptor(bad)
