"""Shared helpers for the Vina-oracle tests: complexes, perturbed poses as PDBQT text, padding.

Poses are written with ``write_pose_pdbqt`` and both hpcfold and ``vina`` read the same text.
"""

from __future__ import annotations

import dataclasses
import pathlib
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold.boxes import read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt, write_pose_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import batch, kinematics
from hpcfold.types import Box, LigandRecord, ReceptorRecord

# Padded shapes shared by every complex so the kernels compile once (largest: 3er5, 108 atoms).
N_ATOMS, N_TORS, N_PAIRS, N_REC = 112, 32, 4096, 3584


@dataclasses.dataclass
class Case:
    name: str
    receptor_path: str
    receptor: ReceptorRecord
    box: Box
    ligand: LigandRecord
    texts: list[str]  # pose PDBQT texts (crystal first)
    coords: np.ndarray  # (B, n, 3) coordinates as read back from the texts


def complexes(data: pathlib.Path) -> list[tuple[str, pathlib.Path, pathlib.Path, pathlib.Path]]:
    """(name, receptor, ligand, box) for every redock42 complex and the Vina example."""
    out = []
    for d in sorted((data / "redock42").iterdir()):
        if d.is_dir():
            out.append((d.name, d / "receptor.pdbqt", d / "ligand_xray.pdbqt", d / "box.txt"))
    ex = data / "vina-example"
    out.append(
        ("1iep", ex / "1iep_receptor.pdbqt", ex / "1iep_ligand.pdbqt", ex / "1iep_receptor.box.txt")
    )
    return out


def coords_from_text(text: str) -> np.ndarray:
    rows = [
        (float(ln[30:38]), float(ln[38:46]), float(ln[46:54]))
        for ln in text.splitlines()
        if ln.startswith(("ATOM  ", "HETATM"))
    ]
    return np.asarray(rows, np.float32)


def random_rotations(rng, n: int, max_angle: float) -> np.ndarray:
    """(n, 4) quaternions: random axis, angle uniform in [0, max_angle]."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    ang = rng.uniform(0, max_angle, size=n)
    return np.concatenate([np.cos(ang / 2)[:, None], axis * np.sin(ang / 2)[:, None]], axis=1)


@jax.jit
def _coords_of_poses(poses, la):
    return jax.vmap(lambda p: kinematics.pose_to_coords(p, la))(poses)


def _padded_one(lig: LigandRecord) -> batch.LigandArrays:
    return batch.ligand_arrays(lig, N_ATOMS, N_TORS, N_PAIRS)


def perturbed_poses(lig: LigandRecord, box: Box, n: int, seed: int) -> np.ndarray:
    """(n, N, 3) coordinates of random poses around the reference: translation <= 2 A (uniform
    in the ball), rotation <= 30 degrees, torsions changed uniformly in [-60, 60] degrees; poses
    with an atom outside the box are redrawn (Vina refuses to score them), with smaller moves
    after repeated failures."""
    rng = np.random.default_rng(seed)
    la = _padded_one(lig)
    base = np.asarray(kinematics.identity_pose(la))
    lo = np.asarray(box.center) - np.asarray(box.size) / 2
    hi = lo + np.asarray(box.size)
    kept: list[np.ndarray] = []
    scale = 1.0
    for _ in range(20):
        m = 64
        d = rng.normal(size=(m, 3))
        d *= (2.0 * scale * rng.uniform(size=(m, 1)) ** (1 / 3)) / np.linalg.norm(
            d, axis=1, keepdims=True
        )
        q = random_rotations(rng, m, np.deg2rad(30) * scale)
        tors = np.zeros((m, N_TORS))
        tors[:, : lig.n_torsions] = rng.uniform(-np.pi / 3, np.pi / 3, (m, lig.n_torsions)) * scale
        poses = np.concatenate([base[None, :3] + d, q, tors], axis=1).astype(np.float32)
        xyz = np.asarray(_coords_of_poses(jnp.asarray(poses), la))[:, : lig.n_atoms]
        inside = np.all((xyz > lo + 0.01) & (xyz < hi - 0.01), axis=(1, 2))
        kept.extend(xyz[inside])
        if len(kept) >= n:
            break
        scale *= 0.7
    if len(kept) < n:
        raise AssertionError(f"{lig.lig_id}: could not place {n} perturbed poses in the box")
    return np.stack(kept[:n])


def make_case(name, rec_path, lig_path, box_path, n_perturbed: int) -> Case:
    lig = parse_ligand_pdbqt(pathlib.Path(lig_path).read_text(), name, str(lig_path))
    rec = read_receptor(rec_path)
    box = read_vina_config(box_path)
    texts = [write_pose_pdbqt(lig, lig.coords, [])]
    if n_perturbed:
        xyz = perturbed_poses(lig, box, n_perturbed, zlib.crc32(name.encode()))
        texts += [write_pose_pdbqt(lig, x, []) for x in xyz]
    coords = np.stack([coords_from_text(t) for t in texts])
    return Case(name, str(rec_path), rec, box, lig, texts, coords)


def padded(case: Case, spacing: float):
    """(coords (B, N, 3), lig arrays batched, receptor arrays, lo, hi) at the shared shapes."""
    from hpcfold.boxes import box_bounds

    la = batch.ligand_arrays(case.ligand, N_ATOMS, N_TORS, N_PAIRS)
    b = case.coords.shape[0]
    lig = batch.stack_arrays([la] * b)
    coords = np.repeat(la.coords[None], b, axis=0)
    coords[:, : case.ligand.n_atoms] = case.coords
    lig = lig._replace(coords=coords)  # each pose is its own reference (identity pose = the pose)
    rec = batch.receptor_arrays(case.receptor, case.box)
    if rec.coords.shape[0] > N_REC:
        raise AssertionError(f"{case.name}: {rec.coords.shape[0]} receptor atoms > {N_REC}")
    pad = N_REC - rec.coords.shape[0]
    rec = batch.ReceptorAtoms(
        np.concatenate(
            [rec.coords, np.full((N_REC - rec.coords.shape[0], 3), batch.FAR, np.float32)]
        ),
        np.concatenate([rec.xs, np.full(N_REC - rec.xs.shape[0], -1, np.int32)]),
        np.concatenate([rec.coords_lo, np.zeros((pad, 3), np.float32)]),
    )
    lo, hi, _ = box_bounds(case.box, spacing)
    return coords, lig, rec, lo.astype(np.float32), hi.astype(np.float32)
