"""Receptor reading: PDBQT typing, hashing, unsupported formats."""

from __future__ import annotations

import hashlib
import logging

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


def test_non_finite_receptor_coordinate_names_the_line(shared_data, tmp_path):
    lines = (shared_data / "vina-example" / "1iep_receptor.pdbqt").read_text().split("\n")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("ATOM") and i > 50)
    for bad in ("     nan", "    -inf"):
        lines2 = list(lines)
        lines2[k] = lines2[k][:38] + bad + lines2[k][46:]
        p = tmp_path / "r.pdbqt"
        p.write_text("\n".join(lines2))
        with pytest.raises(UserError, match=rf"r\.pdbqt:{k + 1}: non-finite coordinate"):
            read_receptor(p)


def test_non_finite_pdb_receptor_coordinate_names_the_line(shared_data, tmp_path):
    lines = (shared_data / "vina-example" / "1iep_receptorH.pdb").read_text().split("\n")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("ATOM"))
    lines[k] = lines[k][:30] + "     nan" + lines[k][38:]
    p = tmp_path / "r.pdb"
    p.write_text("\n".join(lines))
    with pytest.raises(UserError, match=rf"r\.pdb:{k + 1}: non-finite coordinate"):
        read_receptor(p)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_waters_are_kept_with_one_warning(shared_data, tmp_path):
    import shutil

    from hpcfold.chem.receptor import count_waters

    src = shared_data / "redock42" / "2brt" / "receptor.pdbqt"
    text = src.read_text()
    n = count_waters(text)
    waters = {(ln[21], ln[22:27]) for ln in text.split("\n")
              if ln.startswith(("ATOM", "HETATM")) and ln[17:20] == "HOH"}  # fmt: skip
    assert n == len(waters) > 0
    p = tmp_path / "with_waters.pdbqt"
    shutil.copy(src, p)
    log, handler = logging.getLogger("hpcfold"), _Collect()
    log.addHandler(handler)
    try:
        rec = read_receptor(p)
        read_receptor(p)  # once per file and process
    finally:
        log.removeHandler(handler)
    msgs = [m for m in handler.messages if "water" in m]
    assert msgs == [f"warning: {p} keeps {n} waters (HOH/WAT residues), scored as receptor "
                    "atoms as Vina does too; remove them from the PDBQT unless they belong to "
                    "the site"]  # fmt: skip
    dry = tmp_path / "dry.pdbqt"
    dry.write_text("\n".join(ln for ln in text.split("\n") if ln[17:20] != "HOH"))
    assert rec.coords.shape[0] == read_receptor(dry).coords.shape[0] + n  # waters are used


def test_receptor_remark_with_unicode_line_breaks(shared_data, tmp_path):
    text = (shared_data / "vina-example" / "1iep_receptor.pdbqt").read_text()
    p = tmp_path / "r.pdbqt"
    p.write_text("REMARK odd \x85 \u2028 \f \r breaks\n" + text)
    ref = read_receptor(shared_data / "vina-example" / "1iep_receptor.pdbqt")
    assert np.array_equal(read_receptor(p).coords, ref.coords)
