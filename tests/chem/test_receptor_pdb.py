"""PDB receptor with explicit H gives the same XS types, atom for atom, as its PDBQT."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.chem.receptor import read_receptor
from hpcfold.chem.receptor_pdb import read_pdb_receptor
from hpcfold.errors import UserError
from hpcfold.types import XS_INDEX


def _by_position(rec):
    keys = [tuple(np.round(c, 2)) for c in rec.coords.astype(np.float64)]
    assert len(set(keys)) == len(keys)
    return dict(zip(keys, rec.xs_types.tolist()))


def test_1iep_pdb_and_pdbqt_same_xs_types(shared_data):
    ex = shared_data / "vina-example"
    from_pdb = read_pdb_receptor(ex / "1iep_receptorH.pdb")
    from_pdbqt = read_receptor(ex / "1iep_receptor.pdbqt")
    via_dispatch = read_receptor(ex / "1iep_receptorH.pdb")
    np.testing.assert_array_equal(via_dispatch.xs_types, from_pdb.xs_types)
    a, b = _by_position(from_pdb), _by_position(from_pdbqt)
    assert a.keys() == b.keys() and len(a) == 2229  # same heavy atoms
    assert a == b  # same XS type atom for atom
    # the typing is not trivial: donors, acceptors, both carbon kinds are present
    present = set(a.values())
    for name in ("C_H", "C_P", "N_D", "N_P", "O_A", "O_DA", "S_P"):
        assert XS_INDEX[name] in present
    assert from_pdb.sha256 and from_pdb.coords.dtype == np.float32


def test_pdb_histidine_acceptor_and_water(tmp_path):
    # an unprotonated HIS ring N (two neighbours, no H) is an acceptor, N-H a donor
    pdb = """\
ATOM      1  CG  HIS A   1       0.000   1.200   0.000  1.00  0.00           C
ATOM      2  ND1 HIS A   1       1.150   1.950   0.000  1.00  0.00           N
ATOM      3  CE1 HIS A   1       2.150   1.100   0.000  1.00  0.00           C
ATOM      4  NE2 HIS A   1       1.700  -0.150   0.000  1.00  0.00           N
ATOM      5  CD2 HIS A   1       0.350  -0.100   0.000  1.00  0.00           C
ATOM      6  HD1 HIS A   1       1.250   2.960   0.000  1.00  0.00           H
ATOM      7  HE1 HIS A   1       3.200   1.350   0.000  1.00  0.00           H
ATOM      8  HD2 HIS A   1      -0.300  -0.970   0.000  1.00  0.00           H
"""
    p = tmp_path / "his.pdb"
    p.write_text(pdb)
    rec = read_pdb_receptor(p)
    names = [int(x) for x in rec.xs_types]
    assert names[1] == XS_INDEX["N_D"] and names[3] == XS_INDEX["N_A"]
    assert names[0] == XS_INDEX["C_P"] and rec.coords.shape == (5, 3)


def test_pdb_without_hydrogens_and_other_formats(tmp_path, shared_data):
    noh = tmp_path / "noh.pdb"
    lines = (shared_data / "vina-example" / "1iep_receptorH.pdb").read_text().splitlines()
    noh.write_text("\n".join(ln for ln in lines if not ln[76:78].strip() == "H") + "\n")
    with pytest.raises(UserError, match="no hydrogens.*mk_prepare_receptor"):
        read_pdb_receptor(noh)
    mol2 = tmp_path / "rec.mol2"
    mol2.write_text("@<TRIPOS>MOLECULE\n")
    with pytest.raises(UserError, match="prepare_receptor"):
        read_receptor(mol2)
    with pytest.raises(UserError, match="prepare_receptor"):
        read_pdb_receptor(mol2)
    with pytest.raises(UserError, match="not found"):
        read_pdb_receptor(tmp_path / "missing.pdb")
    empty = tmp_path / "empty.pdb"
    empty.write_text("REMARK nothing\nEND\n")
    with pytest.raises(UserError, match="no ATOM"):
        read_pdb_receptor(empty)
