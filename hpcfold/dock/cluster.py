"""Symmetry-corrected RMSD and pose merging (numpy, host side).

The RMSD between two poses of one ligand is taken over heavy atoms, minimised over the ligand's
heavy-atom automorphisms (``LigandRecord.automorphisms``, (K, H), row 0 = identity), so that
flipping a symmetric group (carboxylate, phenyl) does not count as a different pose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from hpcfold.types import AD_TYPES, DockResult, Failure, Reason, ad_element

# AutoDock type code -> element, as Vina's ``atom::same_element`` compares atoms (A, CGn: C).
_AD_ELEMENT = np.array([ad_element(t) for t in AD_TYPES])


def _permutations(automorphisms: np.ndarray | None, h: int) -> np.ndarray:
    """(K, h) int atom permutations: the automorphisms, or the identity alone when there are
    none. Raises ValueError when they do not permute h atoms."""
    perms = np.asarray(automorphisms) if automorphisms is not None else np.zeros((0, h), int)
    if perms.size == 0:
        return np.arange(h)[None, :]
    if perms.shape[1] != h:
        raise ValueError(f"automorphisms have {perms.shape[1]} atoms, poses have {h}")
    return perms


def sym_rmsd(a: np.ndarray, b: np.ndarray, automorphisms: np.ndarray | None = None) -> np.ndarray:
    """Symmetry-corrected RMSD (A) between heavy-atom coordinate sets.

    a: (..., H, 3) poses; b: (H, 3) reference; automorphisms: (K, H) int permutations of the H
    heavy atoms (None or empty = identity only). Returns (...) = min over k of
    sqrt(mean_i |a[perm_k[i]] - b[i]|^2). No superposition (docking poses share a frame).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    h = b.shape[0]
    if a.shape[-2] != h:
        raise ValueError(f"atom count mismatch: {a.shape[-2]} vs {h}")
    if h == 0:
        return np.zeros(a.shape[:-2])
    perms = _permutations(automorphisms, h)
    moved = a[..., perms, :]  # (..., K, H, 3)
    msd = np.mean(np.sum((moved - b[None, :, :]) ** 2, axis=-1), axis=-1)  # (..., K)
    return np.sqrt(np.min(msd, axis=-1))


def vina_rmsd_bounds(
    poses: np.ndarray, ref: np.ndarray, ad_types: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vina's ``rmsd l.b.`` and ``rmsd u.b.`` of poses to ref (A), as in its output.

    poses: (..., n, 3); ref: (n, 3); ad_types: (n,) AD_TYPES codes. Both are taken over Vina's
    non-hydrogen atoms (heavy atoms and glue pseudo-atoms). u.b. pairs atom i with atom i. l.b.
    (``model::rmsd_lower_bound``) pairs each atom with the nearest atom of the same element in
    the other pose, both ways, and keeps the larger; it is 0 for poses related by any symmetry
    and at most u.b. Returns two (...) arrays.
    """
    elem = _AD_ELEMENT[np.asarray(ad_types, dtype=np.int64)]
    keep = elem != "H"
    a = np.asarray(poses, dtype=np.float64)[..., keep, :]
    b = np.asarray(ref, dtype=np.float64)[keep]
    if b.shape[0] == 0:
        zero = np.zeros(a.shape[:-2])
        return zero, zero
    elem = elem[keep]
    same = elem[:, None] == elem[None, :]  # (m, m)
    d2 = np.sum((a[..., :, None, :] - b[None, :, :]) ** 2, axis=-1)  # (..., m, m) pose x ref
    d2 = np.where(same, d2, np.inf)
    to_ref = np.mean(np.min(d2, axis=-1), axis=-1)  # each pose atom -> nearest ref atom
    from_ref = np.mean(np.min(d2, axis=-2), axis=-1)  # each ref atom -> nearest pose atom
    lb = np.sqrt(np.maximum(to_ref, from_ref))
    ub = np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1), axis=-1))
    return lb, ub


def heavy_coords(coords: np.ndarray, heavy_index: np.ndarray) -> np.ndarray:
    """(..., n, 3) all-atom coordinates -> (..., H, 3) heavy atoms, in automorphism order."""
    return np.asarray(coords)[..., heavy_index, :]


def select_distinct(
    energies: np.ndarray,
    heavy: np.ndarray,
    automorphisms: np.ndarray | None,
    min_rmsd: float,
    max_keep: int,
) -> list[int]:
    """Greedy Vina-style de-duplication: best energy first, a pose is kept unless a kept pose
    lies within ``min_rmsd`` (symmetry-corrected) of it.

    energies: (C,) (non-finite entries are dropped); heavy: (C, H, 3). Returns indices into C,
    best first, at most ``max_keep``.
    """
    energies = np.asarray(energies, dtype=np.float64)
    heavy = np.asarray(heavy, dtype=np.float64)
    order = np.argsort(np.where(np.isfinite(energies), energies, np.inf), kind="stable")
    order = order[np.isfinite(energies[order])]
    h = heavy.shape[1]
    perms = _permutations(automorphisms, h)
    alive = np.ones(len(order), bool)
    cent = heavy.mean(axis=1) if h else np.zeros((len(heavy), 3))  # (C, 3)
    kept: list[int] = []
    # One vectorised pass per kept pose (at most max_keep): the same greedy result as testing
    # each candidate against every kept pose, sym_rmsd(heavy[kept], heavy[i]). The centroid
    # distance is a lower bound of the RMSD under any atom permutation, so only candidates
    # whose centroid lies within min_rmsd need the automorphisms.
    for pos in range(len(order)):
        if not alive[pos]:
            continue
        i = int(order[pos])
        kept.append(i)
        if len(kept) >= max_keep:
            break
        rest = pos + 1 + np.flatnonzero(alive[pos + 1 :])
        if not h:
            if min_rmsd > 0:
                alive[rest] = False  # no heavy atoms: every pose is at RMSD 0
            continue
        dc = cent[order[rest]] - cent[i]
        rest = rest[np.sqrt(np.sum(dc * dc, axis=1)) < min_rmsd]
        if rest.size:
            moved = heavy[i][perms]  # (K, H, 3): the kept pose under each automorphism
            diff = moved[None] - heavy[order[rest]][:, None]  # (M, K, H, 3)
            msd = np.min(np.mean(np.sum(diff * diff, axis=-1), axis=-1), axis=-1)  # (M,)
            alive[rest[np.sqrt(msd) < min_rmsd]] = False
    return kept


def final_modes(
    affinity: np.ndarray, kept: list[int], num_modes: int, energy_range: float
) -> list[int]:
    """Vina's output filter: the first ``num_modes`` of ``kept`` (already sorted best first)
    whose affinity is within ``energy_range`` kcal/mol of the best one."""
    if not kept:
        return []
    best = float(affinity[kept[0]])
    return [i for i in kept if float(affinity[i]) <= best + energy_range][:num_modes]


# --------------------------------------------------------------------------------------------
# merging the chains of one ligand: de-duplicate, refine on explicit atoms, Vina's output filter


@dataclasses.dataclass(frozen=True)
class MergeOps:
    """Array callables the merge needs (JAX kernels built by the engine, one ligand bound).

    coords(poses (R, 7+T)) -> (R, N, 3); refine(poses (R, 7+T)) -> (xyz (R, N, 3), inter (R,),
    intra (R,), terms (R, 5)) after refinement on explicit receptor atoms;
    affinity(inter (R,), intra (R,), intra_ref ()) -> (R,) kcal/mol.
    """

    coords: Callable
    refine: Callable
    affinity: Callable


def merge_poses(
    record, poses, energies, ops: MergeOps, num_modes=9, energy_range=3.0, min_rmsd=1.0
):
    """Chains' best poses of one ligand -> ``DockResult`` (or ``Failure`` when non-finite).

    poses (C, 7+T); energies (C,) grid search energies (kcal/mol). Steps (Vina 1.2's order): drop
    duplicates within ``min_rmsd`` (symmetry-corrected), refine the best ``num_modes`` on
    explicit receptor atoms, re-sort, de-duplicate again, affinity with the UNBOUND convention
    (intra_ref = intra of the top pose), then ``energy_range`` and ``num_modes``.
    """
    n, hidx, auts = record.n_atoms, record.heavy_index, record.automorphisms

    def fail(msg):
        return Failure(record.lig_id, record.source, record.smiles, Reason.NONFINITE_ENERGY, msg)

    energies = np.asarray(energies, dtype=np.float64)
    coords = np.asarray(ops.coords(poses))[:, :n]
    ok = np.isfinite(energies) & np.all(np.isfinite(coords), axis=(1, 2))
    if not np.any(ok):
        return fail("the search produced no finite energy")
    e = np.where(ok, energies, np.inf)
    r_max = num_modes
    kept = select_distinct(e, heavy_coords(coords, hidx), auts, min_rmsd, r_max)
    sel = np.array(kept + [kept[0]] * (r_max - len(kept)))  # fixed shape: pad with the best
    xyz, inter, intra, terms = (np.asarray(a) for a in ops.refine(np.asarray(poses)[sel]))
    k = len(kept)
    xyz, inter, intra, terms = xyz[:k, :n], inter[:k], intra[:k], terms[:k]
    total = inter.astype(np.float64) + intra
    total = np.where(np.isfinite(total) & np.all(np.isfinite(xyz), axis=(1, 2)), total, np.inf)
    kept2 = select_distinct(total, heavy_coords(xyz, hidx), auts, min_rmsd, num_modes)
    if not kept2:
        return fail("the refinement produced no finite energy")
    aff = np.asarray(ops.affinity(inter, intra, intra[kept2[0]]))
    modes = final_modes(aff, kept2, num_modes, energy_range)
    out = DockResult(
        lig_id=record.lig_id,
        coords=xyz[modes].astype(np.float32),
        affinity=aff[modes].astype(np.float32),
        inter=inter[modes].astype(np.float32),
        intra=intra[modes].astype(np.float32),
        terms=terms[modes].astype(np.float32),
    )
    arrays = (out.coords, out.affinity, out.inter, out.intra, out.terms)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return fail("non-finite energy or coordinates after refinement")
    return out
