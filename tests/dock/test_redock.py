"""Redocking: crystal ligands with randomised torsions, docked back into their receptor with the
default preset, come back within 2 A (symmetry-corrected heavy-atom RMSD) of the crystal pose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hpcfold.boxes import read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, context, engine, kinematics
from hpcfold.dock.cluster import sym_rmsd
from hpcfold.dock.presets import SearchOptions
from hpcfold.types import DockResult


def randomised(record, seed: int):
    """The record with every torsion turned by a random angle (same atoms, same order)."""
    rng = np.random.default_rng(seed)
    lig = batch.ligand_arrays(record)
    pose = np.asarray(kinematics.identity_pose(lig)).copy()
    pose[7:] = rng.uniform(-np.pi, np.pi, record.n_torsions)
    xyz = np.asarray(kinematics.pose_to_coords(pose, lig), np.float32)
    return dataclasses.replace(record, coords=xyz)


@pytest.mark.parametrize("cid", ["1hnn", "1of6"])
def test_redock_within_2A(shared_data, tmp_path_factory, cid):
    d = shared_data / "redock42" / cid
    xray = parse_ligand_pdbqt((d / "ligand_xray.pdbqt").read_text(), cid, str(d))
    start = randomised(xray, seed=1)
    h = xray.heavy_index
    assert np.abs(start.coords - xray.coords).max() > 0.5  # the torsions really moved
    cache = str(tmp_path_factory.getbasetemp() / "hpcfold-cache")
    ctx = context.make_context(
        read_receptor(str(d / "receptor.pdbqt")), read_vina_config(d / "box.txt"),
        SearchOptions(), cache_dir=cache,
    )  # fmt: skip
    res = engine.dock_ligands(ctx, [start])[0]
    assert isinstance(res, DockResult), res
    rmsd = sym_rmsd(res.coords[0][h], xray.coords[h], xray.automorphisms)
    assert rmsd <= 2.0, f"{cid}: top pose {rmsd:.2f} A from the crystal ({res.affinity[0]:.2f})"
