"""Scoring in the API: Vina's score of given poses (``hpcfold score``) and the scoring function as
a differentiable JAX function of one ligand's coordinates."""

from __future__ import annotations

import os

import numpy as np

from hpcfold.api.inputs import load_receptor, prepare_ligands
from hpcfold.errors import UserError
from hpcfold.types import TERMS, Box, Failure, LigandRecord, ReceptorRecord


def score_records(
    records, receptor, box, scoring="vina", weights=None, local_only=False, cache_dir=None
):
    """Vina's score on explicit receptor atoms of LigandRecords at their coordinates
    (``local_only``: minimised first, ``dock.local.local_only``). Returns (rows, coords): per
    record a dict of floats (affinity, inter, intra, TERMS) and its (n, 3) final coordinates."""
    import jax

    from hpcfold.boxes import box_bounds
    from hpcfold.dock import batch, grids, kinematics, local, tables

    params = tables.make_params(scoring, weights)
    tb = tables.build_tables(params)
    lig = batch.pad_to_common(records)
    rec = batch.receptor_arrays(receptor, box, pad_multiple=256)
    lo, hi, _ = box_bounds(box)
    if local_only:
        poses = jax.vmap(kinematics.identity_pose)(lig)
        steps = local.default_max_steps(lig.n_atoms)
        grid = grids.cached_grid(receptor, box, params, cache_dir)
        _, coords = local.local_only(poses, lig, grid, rec, tb, lo, hi, steps)
        coords_lo = None
    else:  # the file's 3-decimal coordinates, split for double-like distances
        coords, coords_lo = batch.split_coords(lig.coords)
    aff, inter, intra, terms = (
        np.asarray(a) for a in local.score_poses(coords, lig, rec, tb, lo, hi, coords_lo)
    )
    coords = np.asarray(coords)
    rows = []
    for k in range(len(records)):
        row = {"affinity": float(aff[k]), "inter": float(inter[k]), "intra": float(intra[k])}
        row.update({t: float(terms[k, j]) for j, t in enumerate(TERMS)})
        rows.append(row)
    return rows, [coords[k, : r.n_atoms] for k, r in enumerate(records)]


# ------------------------------------------------------------------ differentiable scoring
class ScoringFunction:
    """Vina's scoring of one ligand in one receptor box as a JAX function of its coordinates:
    ``sf(coords)`` with coords (n, 3) A, the ligand's scored atoms in its PDBQT order (heavy
    atoms and polar hydrogens; ``sf.coords`` is the input pose) -> energy (kcal/mol, a JAX
    scalar). ``kind="affinity"``: Vina's reported score-only affinity, inter / (1 + w N_rot);
    ``"energy"``: inter + intra, the objective Vina's local optimisation minimises. Terms are
    interpolated on Vina's ``smooth`` table, so the function is continuous and ``jax.grad``
    gives Vina's forces; atoms outside the box pay Vina's penalty. Jittable."""

    def __init__(self, record: LigandRecord, receptor: ReceptorRecord, box: Box, scoring: str,
                 weights: dict | None, kind: str):  # fmt: skip
        import jax

        from hpcfold.boxes import box_bounds
        from hpcfold.dock import batch, tables

        if kind not in ("affinity", "energy"):
            raise UserError(f"kind must be affinity or energy, got {kind!r}")
        self.record, self.kind = record, kind
        self.coords = np.asarray(record.coords, np.float32)
        self._params = tables.make_params(scoring, weights)
        self._tables = tables.build_tables(self._params)
        padded = batch.pad_to_common([record])
        self._lig = type(padded)(*(None if a is None else np.asarray(a)[0] for a in padded))
        self._rec = batch.receptor_arrays(receptor, box, pad_multiple=256)
        lo, hi, _ = box_bounds(box)
        self._lo, self._hi = lo.astype(np.float32), hi.astype(np.float32)
        self._fn = jax.jit(self._energy)

    def _energy(self, coords):
        import jax.numpy as jnp

        from hpcfold.dock import energy

        lig = self._lig
        x = jnp.zeros(lig.coords.shape, coords.dtype).at[: self.coords.shape[0]].set(coords)
        # Vina's box rule (clamp, 10^6 per A outside) written so that inside the box the
        # penalty's gradient is exactly 0: slope * |x - clip(x)| would add +-10^6 terms that
        # cancel in float32 and round the gradient to multiples of 1/16 kcal/mol/A
        adj = jnp.clip(x, self._lo, self._hi)
        out = jnp.maximum(self._lo - x, 0.0) + jnp.maximum(x - self._hi, 0.0)
        penalty = 1.0e6 * jnp.sum(jnp.where((lig.atom_mask & (lig.xs >= 0))[:, None], out, 0.0))
        inter, _ = energy.inter_atoms(adj, lig, self._rec, self._tables, 1000.0, smooth=True)
        inter = inter + penalty
        if self.kind == "energy":
            return inter + energy.intra(x, lig, self._tables, 1000.0, smooth=True)
        return energy.affinity(inter, 0.0, 0.0, lig.n_rot, self._params)

    def __call__(self, coords):
        import jax.numpy as jnp

        coords = jnp.asarray(coords, jnp.float32)
        if coords.shape != self.coords.shape:
            raise ValueError(f"coords must have shape {self.coords.shape}, got {coords.shape}")
        return self._fn(coords)


def scoring_function(receptor, box: Box, ligand, scoring: str = "vina",
                     weights: dict | None = None, kind: str = "affinity") -> ScoringFunction:  # fmt: skip
    """``ScoringFunction`` of the first pose of ``ligand`` (a Mol with 3D coordinates, an SDF or
    PDBQT file, or a LigandRecord) in ``receptor`` (record or path) and ``box``."""
    if isinstance(receptor, str | os.PathLike):
        receptor = load_receptor(receptor)
    items = prepare_ligands(ligand, keep_coords=True)
    if isinstance(items[0], Failure):
        f = items[0]
        raise UserError(f"{f.lig_id}: {f.reason.name}: {f.message}")
    return ScoringFunction(items[0], receptor, box, scoring, weights, kind)
