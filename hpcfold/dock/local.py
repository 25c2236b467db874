"""Explicit-atom scoring and Vina's local optimisation: the ``hpcfold score`` pipeline
(``--score_only``, ``--local_only``), pure JAX.

``score_coords`` / ``score_poses`` are Vina's ``score()`` on explicit receptor atoms;
``local_optimize`` and ``local_optimize_grid`` are Vina's ``optimize()`` on explicit atoms and on
the grid maps; ``local_only`` is what ``hpcfold score --local-only`` runs. BFGS itself is
``optimize.bfgs``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hpcfold.dock import energy, kinematics
from hpcfold.dock.batch import LigandArrays, ReceptorAtoms
from hpcfold.dock.optimize import bfgs, pose_increment
from hpcfold.dock.tables import Tables


def default_max_steps(n_atoms) -> jnp.ndarray:
    """Vina's BFGS iteration count: floor((25 + movable atoms) / 3)."""
    return (25 + jnp.asarray(n_atoms, jnp.int32)) // 3


def score_coords(
    coords,
    lig: LigandArrays,
    rec: ReceptorAtoms,
    tables: Tables,
    box_lo=None,
    box_hi=None,
    slope: float = 1.0e6,
    coords_lo=None,
):
    """Vina's ``score()`` on explicit atoms for one pose. coords (N, 3) ->
    (affinity, inter, intra, terms (5,)); affinity uses the pose's own intra (score-only).
    ``coords_lo`` (N, 3): optional low-order parts (``batch.split_coords``) for exact bins."""
    e, terms = energy.inter_atoms(
        coords, lig, rec, tables, 1000.0, box_lo, box_hi, slope, coords_lo=coords_lo
    )
    ei = energy.intra(coords, lig, tables, 1000.0, coords_lo=coords_lo)
    return energy.affinity(e, ei, ei, lig.n_rot, tables), e, ei, terms


@jax.jit
def score_poses(
    coords, lig: LigandArrays, rec: ReceptorAtoms, tables: Tables, box_lo, box_hi, coords_lo=None
):
    """Batched ``score_coords``: coords (B, N, 3), lig batched (B, ...), coords_lo (B, N, 3) or
    None -> affinity, inter, intra (B,), terms (B, 5)."""
    f = functools.partial(score_coords, rec=rec, tables=tables, box_lo=box_lo, box_hi=box_hi)
    if coords_lo is None:
        return jax.vmap(lambda c, lg: f(c, lg))(coords, lig)
    return jax.vmap(lambda c, lg, lo: f(c, lg, coords_lo=lo))(coords, lig, coords_lo)


def local_energy(pose, lig, rec, tables, box_lo, box_hi, cap: float = 1000.0):
    """Objective of Vina's local optimisation: explicit-atom inter + intra (smooth tables) + the
    flexible-macrocycle glue (``energy.glue_energy``)."""
    x = kinematics.pose_to_coords(pose, lig)
    e, _ = energy.inter_atoms(x, lig, rec, tables, cap, box_lo, box_hi, 1.0e6, smooth=True)
    return e + energy.intra(x, lig, tables, cap, smooth=True) + energy.glue_energy(x, lig, cap)


@jax.jit
def local_optimize(
    poses, lig: LigandArrays, rec: ReceptorAtoms, tables: Tables, box_lo, box_hi, max_steps
):
    """Vina's ``optimize()`` (``--local_only``) for a batch: poses (B, 7 + T), lig batched,
    max_steps (B,) int -> (poses (B, 7 + T), coords (B, N, 3), objective (B,))."""

    def one(pose, lg, steps):
        def fg(x):
            return kinematics.tangent_grad(
                lambda q: local_energy(q, lg, rec, tables, box_lo, box_hi), x
            )

        x, f = bfgs(fg, pose, steps, increment=pose_increment)
        return x, kinematics.pose_to_coords(x, lg), f

    return jax.vmap(one)(poses, lig, max_steps)


def grid_energy(pose, lig, grid, tables, cap: float = 1000.0, slope: float = 1.0e6):
    """Objective of Vina 1.2's ``optimize()``: grid inter (trilinear) + intra (smooth table) +
    the flexible-macrocycle glue."""
    x = kinematics.pose_to_coords(pose, lig)
    intra = energy.intra(x, lig, tables, cap, smooth=True) + energy.glue_energy(x, lig, cap)
    return energy.inter_grid(x, lig, grid, cap, slope) + intra


def in_grid(coords, lig, grid) -> jnp.ndarray:
    """True when every scored atom lies inside the grid (Vina's ``is_in_grid``)."""
    top = grid.origin + grid.spacing * (jnp.array(grid.maps.shape[1:], coords.dtype) - 1)
    ok = lig.atom_mask & (lig.xs >= 0)
    inside = jnp.all((coords >= grid.origin) & (coords <= top), axis=-1)
    return jnp.all(inside | ~ok)


@jax.jit
def local_optimize_grid(poses, lig: LigandArrays, grid, tables: Tables, max_steps):
    """Vina 1.2's ``optimize()`` (what ``vina --local_only`` runs) for a batch: BFGS on the grid
    objective, repeated (up to 5 passes) until the ligand is inside the grid. poses (B, 7 + T),
    max_steps (B,) -> (poses, coords (B, N, 3), objective (B,))."""

    def one(pose, lg, steps):
        def fg(x):
            return kinematics.tangent_grad(lambda q: grid_energy(q, lg, grid, tables), x)

        def cond(s):
            p, _, _, done = s
            return (p < 5) & ~done

        def body(s):
            p, x, _, _ = s
            x, f = bfgs(fg, x, steps, increment=pose_increment)
            return p + 1, x, f, in_grid(kinematics.pose_to_coords(x, lg), lg, grid)

        init = (jnp.int32(0), pose, jnp.asarray(0.0, pose.dtype), jnp.asarray(False))
        _, x, f, _ = jax.lax.while_loop(cond, body, init)
        return x, kinematics.pose_to_coords(x, lg), f

    return jax.vmap(one)(poses, lig, max_steps)


@jax.jit
def local_only(
    poses, lig: LigandArrays, grid, rec: ReceptorAtoms, tables: Tables, box_lo, box_hi, max_steps
):
    """``hpcfold score --local-only``: Vina 1.2's ``optimize()`` (grid BFGS, as above) followed by
    a BFGS polish on explicit receptor atoms (cap 1000, box penalty), and independently the same
    explicit-atom BFGS from the start; per pose the end with the lower explicit-atom affinity is
    kept. -> (poses, coords (B, N, 3))."""
    p1, _, _ = local_optimize_grid(poses, lig, grid, tables, max_steps)
    p2, x2, _ = local_optimize(p1, lig, rec, tables, box_lo, box_hi, max_steps)
    p3, x3, _ = local_optimize(poses, lig, rec, tables, box_lo, box_hi, max_steps)
    a2 = score_poses(x2, lig, rec, tables, box_lo, box_hi)[0]
    a3 = score_poses(x3, lig, rec, tables, box_lo, box_hi)[0]
    take3 = a3 < a2
    return (
        jnp.where(take3[:, None], p3, p2),
        jnp.where(take3[:, None, None], x3, x2),
    )
