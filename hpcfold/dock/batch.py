"""Fixed-shape (padded) numpy arrays for ligands and receptors, ready for JAX kernels.

Padding rules (so padded entries contribute exactly zero): padded atoms have ``xs = -1``,
``atom_mask = False``, frame 0 and coordinates equal to the root atom; padded torsions have
``tors_mask = False`` (their angle is ignored), both axis atoms = the root atom, parent 0; padded
pairs are (0, 0) with ``pair_mask = False``; every atom that is not a glue pseudo-atom (padding
included) is its own ``glue_partner`` (None for a ligand without glue atoms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hpcfold.boxes import box_bounds
from hpcfold.types import Box, Bucket, LigandRecord, ReceptorRecord, glue_partners, has_glue


class LigandArrays(NamedTuple):
    """One ligand (or a batch with a leading axis B). N atoms, T torsions, P pairs (padded).

    coords (N, 3) f32 reference conformer (A); xs (N,) i32 (-1 = H or padding); atom_mask (N,)
    bool; frame (N,) i32; tors_atoms (T, 2) i32; tors_parent (T,) i32; tors_mask (T,) bool;
    pairs (P, 2) i32; pair_mask (P,) bool; n_rot () f32; root_atom () i32 (origin of frame 0:
    the first ROOT atom, Vina's convention); n_atoms () i32 real atom count (Vina's movable
    atoms, for step counts); glue_partner (N,) i32: for a flexible macrocycle's glue
    pseudo-atom Gn the index of the CGn carbon it is glued to, for every other atom itself
    (``hpcfold.types.glue_partners``); None for a ligand without glue atoms, so the kernels of
    ordinary ligands carry no glue term at all (a batch with glue compiles its own program).
    """

    coords: np.ndarray
    xs: np.ndarray
    atom_mask: np.ndarray
    frame: np.ndarray
    tors_atoms: np.ndarray
    tors_parent: np.ndarray
    tors_mask: np.ndarray
    pairs: np.ndarray
    pair_mask: np.ndarray
    n_rot: np.ndarray
    root_atom: np.ndarray
    n_atoms: np.ndarray
    glue_partner: np.ndarray | None = None


class ReceptorAtoms(NamedTuple):
    """Receptor heavy atoms: coords (M, 3) f32 A, xs (M,) i32 (padding: xs = -1, far away);
    coords_lo (M, 3) f32: low-order part (coords + coords_lo = the file's decimal coordinates),
    used by score-only paths for float64-like distances (see ``split_coords``)."""

    coords: np.ndarray
    xs: np.ndarray
    coords_lo: np.ndarray | None = None


def split_coords(x, decimals: int | None = 3) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) float32 pair with hi + lo = x to ~1e-13 A. ``decimals``: the coordinates are
    known to be decimal numbers with that many digits (PDB/PDBQT: 3), so float32-rounded inputs
    are restored exactly first. Differences ``(a_hi - b_hi) + (a_lo - b_lo)`` are then accurate
    to ~1e-7 A, which keeps ``floor(32 r^2)`` table bins equal to Vina's double precision ones.
    """
    x64 = np.asarray(x, dtype=np.float64)
    if decimals is not None:
        x64 = np.round(x64, decimals)
    hi = x64.astype(np.float32)
    return hi, (x64 - hi.astype(np.float64)).astype(np.float32)


def root_atom_of(record: LigandRecord) -> int:
    """Index of the first atom of frame 0 (Vina's root origin)."""
    roots = np.flatnonzero(np.asarray(record.frame_of_atom) == 0)
    return int(roots[0]) if roots.size else 0


def ligand_arrays(
    record: LigandRecord,
    n_atoms: int | None = None,
    n_torsions: int | None = None,
    n_pairs: int | None = None,
) -> LigandArrays:
    """Arrays of one ligand, padded to the given sizes (default: its own sizes)."""
    n, t, p = record.n_atoms, record.n_torsions, int(record.intra_pairs.shape[0])
    N = n if n_atoms is None else int(n_atoms)
    T = t if n_torsions is None else int(n_torsions)
    P = p if n_pairs is None else int(n_pairs)
    if n > N or t > T or p > P:
        raise ValueError(f"{record.lig_id}: ({n}, {t}, {p}) does not fit ({N}, {T}, {P})")
    root = root_atom_of(record)
    coords = np.repeat(np.asarray(record.coords, np.float32)[root][None], N, axis=0)
    coords[:n] = record.coords
    xs = np.full(N, -1, np.int32)
    xs[:n] = record.xs_types
    mask = np.zeros(N, bool)
    mask[:n] = True
    frame = np.zeros(N, np.int32)
    frame[:n] = record.frame_of_atom
    ta = np.full((T, 2), root, np.int32)
    ta[:t] = record.torsion_atoms
    tp = np.zeros(T, np.int32)
    tp[:t] = record.torsion_parent
    tm = np.zeros(T, bool)
    tm[:t] = True
    pairs = np.zeros((P, 2), np.int32)
    pairs[:p] = record.intra_pairs
    pm = np.zeros(P, bool)
    pm[:p] = True
    glue = None  # no glue atoms: the kernels leave the term out (pytree without it)
    if has_glue(record.ad_types):
        glue = np.arange(N, dtype=np.int32)
        glue[:n] = glue_partners(record.ad_types, record.bonds)
    return LigandArrays(
        coords,
        xs,
        mask,
        frame,
        ta,
        tp,
        tm,
        pairs,
        pm,
        np.float32(record.n_rot),
        np.int32(root),
        np.int32(n),
        glue,
    )


def stack_arrays(items: Sequence[LigandArrays]) -> LigandArrays:
    """Stack same-shape LigandArrays along a new leading batch axis. ``glue_partner`` stays None
    when no item has glue atoms; otherwise items without it get the all-self partners."""
    glue = [it.glue_partner for it in items]
    if all(g is None for g in glue):
        stacked_glue = None
    else:
        n = items[0].coords.shape[0]
        stacked_glue = np.stack([np.arange(n, dtype=np.int32) if g is None else g for g in glue])
    names = [f for f in LigandArrays._fields if f != "glue_partner"]
    fields = {f: np.stack([getattr(it, f) for it in items]) for f in names}
    return LigandArrays(**fields, glue_partner=stacked_glue)


def pad_ligands(records: Sequence[LigandRecord], bucket: Bucket) -> LigandArrays:
    """Batched arrays (leading axis B = len(records)) padded to the bucket's shape."""
    return stack_arrays(
        [ligand_arrays(r, bucket.n_atoms, bucket.n_torsions, bucket.n_pairs) for r in records]
    )


def pad_to_common(records: Sequence[LigandRecord], multiple: int = 8) -> LigandArrays:
    """Batched arrays padded to the largest ligand, sizes rounded up to ``multiple``."""

    def up(x: int) -> int:
        return max(multiple, -(-x // multiple) * multiple)

    N = up(max(r.n_atoms for r in records))
    T = up(max(r.n_torsions for r in records))
    P = up(max(int(r.intra_pairs.shape[0]) for r in records))
    return stack_arrays([ligand_arrays(r, N, T, P) for r in records])


FAR = 1.0e4  # padding receptor atoms sit here (beyond every cutoff of a sane box)


def receptor_arrays(
    rec: ReceptorRecord, box: Box | None = None, cutoff: float = 8.0, pad_multiple: int = 1
) -> ReceptorAtoms:
    """Receptor heavy atoms; with ``box``, only atoms within ``cutoff`` of Vina's grid box (the
    only ones a ligand atom clamped into the box can see). Padded to a multiple of
    ``pad_multiple`` with typeless atoms far away."""
    xyz = np.asarray(rec.coords, np.float32)
    xs = np.asarray(rec.xs_types, np.int32)
    if box is not None:
        lo, hi, _ = box_bounds(box)
        gap = np.maximum(lo - xyz, 0) + np.maximum(xyz - hi, 0)
        keep = np.einsum("ij,ij->i", gap, gap) < cutoff * cutoff
        xyz, xs = xyz[keep], xs[keep]
    m = xyz.shape[0]
    M = max(pad_multiple, -(-m // pad_multiple) * pad_multiple)
    c = np.full((M, 3), FAR, np.float32)
    c[:m] = xyz
    t = np.full(M, -1, np.int32)
    t[:m] = xs
    hi, lo = split_coords(c)
    lo[m:] = 0.0
    return ReceptorAtoms(hi, t, lo)
