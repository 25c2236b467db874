"""Energies of a registered scoring function (``hpcfold.scoring``) as pure JAX functions of one
ligand's coordinates (vmap for batches).

Units: Angstrom, kcal/mol. Shapes: N ligand atoms (padded), M receptor atoms, P intra pairs.
Lookups never take a square root (tables are indexed by r^2), masked entries are removed with
``jnp.where`` so padded atoms/pairs contribute exactly zero to values and gradients.

- ``inter_atoms``: sum over explicit receptor atoms (Vina's ``non_cache``: score-only, optimise,
  refinement). Ligand atoms are clamped into the box first with a penalty ``slope`` per A
  outside (when a box is given); the soft cap ("curl", v = cap) applies to each ligand atom's sum.
- ``inter_grid``: the same from precomputed maps (trilinear, cap per atom, out-of-box penalty).
- ``intra``: ligand pair list, cap per pair.
- ``intra_analytic``: the same pair energy computed analytically (no tables: the Monte-Carlo
  search's cheaper intra term), on the exact curves the ``smooth`` table samples; it takes a
  guarded square root of r^2 (masked entries replaced first).
- ``glue_energy``: the linear attraction that closes a flexible macrocycle (meeko's glue atoms):
  part of every docking objective (search, local optimisation, refinement), never of the
  reported intra / affinity (Vina 1.2.7 reports neither; measured with the ``vina`` package).
- ``smooth=True`` uses the linear interpolation of Vina's ``smooth`` table (continuous, for
  gradients / BFGS); the default is Vina's ``fast`` table (what ``score()`` reports).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold import scoring
from hpcfold.dock.batch import LigandArrays, ReceptorAtoms
from hpcfold.dock.tables import CUTOFF2, FACTOR, GLUE_CUTOFF, N_SAMPLES, WEIGHT_GLUE, Tables
from hpcfold.types import N_XS, TERMS


def curl(e: jnp.ndarray, cap) -> jnp.ndarray:
    """Vina's soft cap: a positive energy e becomes e * cap / (cap + e); NaN-free."""
    ep = jnp.maximum(e, 0.0)
    return jnp.where(e > 0, ep * cap / (cap + ep), e)


@jax.custom_jvp
def _interp(e0, e1, d0, d1, frac, r2):
    """Linear interpolation of ``smooth`` samples; its derivative in r2 is Vina's: the
    interpolated ``dor`` / 2 (dE/dr2 = (dE/dr) / (2 r))."""
    del d0, d1, r2
    return e0 + frac * (e1 - e0)


@_interp.defjvp
def _interp_jvp(primals, tangents):
    e0, e1, d0, d1, frac, _ = primals
    r2_dot = tangents[5]
    return e0 + frac * (e1 - e0), 0.5 * (d0 + frac * (d1 - d0)) * r2_dot


def _lookup(table: jnp.ndarray, t1, t2, r2, smooth: bool, dor=None) -> jnp.ndarray:
    """Table value for type pairs (t1, t2) (>= 0) at squared distance r2 (broadcast shapes).

    table (..., 19, 19, K); returns (..., *broadcast shape). ``smooth``: interpolate, with
    Vina's derivative from ``dor`` (19, 19, K) when given.
    """
    lead = table.shape[:-3]
    flat = table.reshape(*lead, N_XS * N_XS * N_SAMPLES)
    x = jnp.clip(r2, 0.0, CUTOFF2) * FACTOR
    k = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, N_SAMPLES - 2)
    base = (t1 * N_XS + t2) * N_SAMPLES
    if not smooth:
        return jnp.take(flat, base + k, axis=-1)
    e0 = jnp.take(flat, base + k, axis=-1)
    e1 = jnp.take(flat, base + k + 1, axis=-1)
    frac = jax.lax.stop_gradient(x - k)
    if dor is None:
        return e0 + (x - k) * (e1 - e0)
    dflat = dor.reshape(N_XS * N_XS * N_SAMPLES)
    d0 = jnp.take(dflat, base + k)
    d1 = jnp.take(dflat, base + k + 1)
    return _interp(e0, e1, d0, d1, frac, r2)


def clamp_to_box(coords, box_lo, box_hi, slope):
    """(adjusted coords (N, 3), penalty (N,)): coordinates clamped into [lo, hi] and
    ``slope * (distance outside, summed over axes)`` per atom (Vina's non_cache)."""
    adj = jnp.clip(coords, box_lo, box_hi)
    return adj, slope * jnp.sum(jnp.abs(coords - adj), axis=-1)


def inter_atoms(
    coords: jnp.ndarray,
    lig: LigandArrays,
    rec: ReceptorAtoms,
    tables: Tables,
    cap: float = 1000.0,
    box_lo=None,
    box_hi=None,
    slope: float = 1.0e6,
    smooth: bool = False,
    coords_lo=None,
):
    """Ligand-receptor energy on explicit atoms. coords (N, 3) -> (e (), terms (5,)).

    ``terms``: unweighted intermolecular sums (TERMS order, fast table, no cap); zeros when
    ``smooth``. Box (lo (3,), hi (3,)) optional: clamp + ``slope`` penalty per A outside.
    ``coords_lo`` (N, 3): low-order coordinate parts (``batch.split_coords``); with
    ``rec.coords_lo`` they make distances as exact as Vina's doubles (score-only parity).
    """
    lig_ok = lig.atom_mask & (lig.xs >= 0)
    penalty = jnp.zeros(coords.shape[0], coords.dtype)
    if box_lo is not None:
        adj, penalty = clamp_to_box(coords, box_lo, box_hi, slope)
        if coords_lo is not None:
            coords_lo = jnp.where(adj == coords, coords_lo, 0.0)
        coords = adj
    d = coords[:, None, :] - rec.coords[None, :, :]
    if coords_lo is not None and rec.coords_lo is not None:
        d = d + (coords_lo[:, None, :] - rec.coords_lo[None, :, :])
    r2 = jnp.sum(d * d, axis=-1)  # (N, M)
    ok = lig_ok[:, None] & (rec.xs >= 0)[None, :] & (r2 < CUTOFF2)
    t1 = jnp.maximum(lig.xs, 0)[:, None]
    t2 = jnp.maximum(rec.xs, 0)[None, :]
    table = tables.smooth if smooth else tables.fast
    e_pair = jnp.where(ok, _lookup(table, t1, t2, r2, smooth, tables.dor), 0.0)
    e_atom = curl(jnp.sum(e_pair, axis=1), cap) + penalty
    e = jnp.sum(jnp.where(lig_ok, e_atom, 0.0))
    if smooth:
        return e, jnp.zeros(5, e.dtype)
    terms = jnp.where(ok[None], _lookup(tables.terms, t1, t2, r2, False), 0.0)
    return e, jnp.sum(terms, axis=(1, 2))


def intra(
    coords: jnp.ndarray,
    lig: LigandArrays,
    tables: Tables,
    cap: float = 1000.0,
    smooth: bool = False,
    coords_lo=None,
) -> jnp.ndarray:
    """Ligand intramolecular energy over ``lig.pairs`` (cap per pair). coords (N, 3) -> ().
    ``coords_lo``: optional low-order coordinate parts (see ``inter_atoms``)."""
    i, j = lig.pairs[:, 0], lig.pairs[:, 1]
    d = coords[i] - coords[j]
    if coords_lo is not None:
        d = d + (coords_lo[i] - coords_lo[j])
    r2 = jnp.sum(d * d, axis=-1)
    t1, t2 = lig.xs[i], lig.xs[j]
    ok = lig.pair_mask & (t1 >= 0) & (t2 >= 0) & (r2 < CUTOFF2)
    table = tables.smooth if smooth else tables.fast
    e = _lookup(table, jnp.maximum(t1, 0), jnp.maximum(t2, 0), r2, smooth, tables.dor)
    return jnp.sum(jnp.where(ok, curl(e, cap), 0.0))


_TINY_R2 = 1e-12  # A^2: floor under r^2 before the square root (coincident / padded atoms)


def glue_energy(coords: jnp.ndarray, lig: LigandArrays, cap=1000.0, weight: float = WEIGHT_GLUE):
    """Flexible-macrocycle glue (Vina 1.2's ``linearattraction``): sum over the glue pseudo-atoms
    Gn of ``weight * r`` to their CGn partner (``lig.glue_partner``) for r < 20 A, each pair
    soft-capped (``curl``, v = ``cap``). coords (N, 3) A -> () kcal/mol; 0 for ligands without
    glue atoms and for padding. NaN-free: the square root sees r^2 >= 1e-12 (a closed ring puts
    Gn on its partner), masked entries are replaced before it.

    Vina adds this term to the objective it minimises (Monte-Carlo search with v = 10, local
    optimisation and refinement with v = 1000) but not to the intra / affinity it reports, so
    ``intra`` leaves it out and the objectives add it.
    """
    p = lig.glue_partner
    if p is None:
        return jnp.zeros((), coords.dtype)
    d = coords - coords[p]
    r2 = jnp.sum(d * d, axis=-1)
    ok = (p != jnp.arange(p.shape[0])) & lig.atom_mask & (r2 < GLUE_CUTOFF * GLUE_CUTOFF)
    r = jnp.sqrt(jnp.maximum(jnp.where(ok, r2, 1.0), _TINY_R2))
    return jnp.sum(jnp.where(ok, curl(weight * r, cap), 0.0))


class IntraPairs(NamedTuple):
    """Dense per-atom-pair constants of ``intra_analytic`` (N atoms); they depend on the ligand's
    types and pair list only, so a search computes them once per ligand (``intra_pairs``).

    count (N, N) f32, symmetric: how often the pair {i, j} is listed in ``lig.pairs``, half in
    (i, j) and half in (j, i) (masked pairs and pairs with an untyped atom not counted; 0 for
    every other entry); r_sum (N, N) A: R[xs i] + R[xs j] (XS
    radii of the scoring function); hydro, hbond (N, N) f32: 1 for two hydrophobic atoms / a
    donor-acceptor pair (the type pairs of those terms, ``scoring.PAIR_SETS``), else 0; unit () f32: 1.0,
    computed from the ligand at run time, not a compile-time constant (``intra_analytic``
    divides the coordinates by it, see there).
    """

    count: jnp.ndarray
    r_sum: jnp.ndarray
    hydro: jnp.ndarray
    hbond: jnp.ndarray
    unit: jnp.ndarray


def intra_pairs(lig: LigandArrays, name: str, weights=None) -> IntraPairs:
    """``IntraPairs`` of ``lig`` for scoring ``name``. Per-type constants are (19, 19) numpy
    arrays, gathered per atom pair. ``weights`` is accepted for symmetry and not used."""
    del weights
    sf = scoring.get(name)
    rad = sf.xs_radii().astype(np.float64)
    masks = sf.pair_masks()
    consts = (rad[:, None] + rad[None, :], masks["hydrophobic"], masks["hbond"])
    t = jnp.maximum(lig.xs, 0)
    flat = t[:, None] * N_XS + t[None, :]  # (N, N)
    dense = [jnp.take(jnp.asarray(np.asarray(c, np.float32).reshape(-1)), flat) for c in consts]
    i, j = lig.pairs[:, 0], lig.pairs[:, 1]
    ok = lig.pair_mask & (lig.xs[i] >= 0) & (lig.xs[j] >= 0)
    n = lig.xs.shape[0]
    half = 0.5 * ok.astype(jnp.float32)  # symmetric: (i, j) and (j, i) half each
    count = jnp.zeros((n, n), jnp.float32).at[i, j].add(half).at[j, i].add(half)
    unit = jnp.where(lig.n_atoms >= 0, 1.0, -1.0).astype(jnp.float32)  # 1, not a constant
    return IntraPairs(count, *dense, unit)


def pair_energy_and_slope(name: str, w: tuple, r2, pp, cap):
    """Capped weighted pair energies f kcal/mol (times ``pp.count``) and df/dr2, both 0 for
    unlisted pairs and r >= the cutoff. r2 A^2 and the fields of ``pp`` (count, r_sum, hydro,
    hbond) broadcast together (any shape); the square root sees a safe input. The terms are
    those of ``scoring.get(name)``, weighted by ``w`` (static floats in ``TERMS`` order)."""
    sf = scoring.get(name)
    ok = (pp.count > 0) & (r2 < sf.cutoff * sf.cutoff)
    r = jnp.sqrt(jnp.maximum(jnp.where(ok, r2, 1.0), _TINY_R2))
    d = r - pp.r_sum
    on = {"hydrophobic": pp.hydro, "hbond": pp.hbond}
    e = de = 0.0
    for term in sf.terms:
        wt = w[TERMS.index(term.slot)]
        if wt == 0.0:
            continue
        if term.pairs != "all":
            wt = wt * on[term.pairs]
        e = e + wt * term.value(jnp, d)
        de = de + wt * term.slope(jnp, d)
    ep = jnp.maximum(e, 0.0)
    inv = 1.0 / (cap + ep)
    f = jnp.where(e > 0, ep * cap * inv, e)  # curl
    df = jnp.where(e > 0, jnp.square(cap * inv), 1.0) * de * 0.5 / r  # dr/dr2 = 1 / (2 r)
    return jnp.where(ok, pp.count * f, 0.0), jnp.where(ok, pp.count * df, 0.0)


def intra_analytic(
    coords: jnp.ndarray,
    lig: LigandArrays,
    name: str,
    weights,
    cap=1000.0,
    pairs: IntraPairs | None = None,
) -> jnp.ndarray:
    """Ligand intramolecular energy, analytic per pair (no table gathers). coords (N, 3) A ->
    () kcal/mol.

    Same pairs (``lig.pairs`` (P, 2), ``lig.pair_mask``), types (``lig.xs``, -1 not scored),
    cutoff (r < 8 A) and per-pair cap (``curl``, v = ``cap``) as ``intra``; the terms are the
    exact curves ``tables.term_samples`` samples for scoring ``name``, weighted by
    ``weights`` (static Python floats, ``ScoringParams.resolved_weights``; the first 5 are used).
    Agrees with ``intra(..., smooth=True)`` up to that table's interpolation error (~1e-3).
    ``pairs``: ``intra_pairs(lig, name, weights)``, precomputed (else built here).

    Evaluated densely over all N x N atom pairs, weighted by ``pairs.count`` (0 off the pair
    list): no gathers or scatters, r^2 summed per component, and the gradient in closed form
    from a custom JVP (one pass over the pairs, then an (N, N) x (N, 3) product), so the
    batched CPU program is a few vectorised loops (gathers fused into the math made XLA emit
    scalar code). Unlisted / masked pairs and pairs beyond the cutoff
    contribute exactly 0 to the value and gradient; coincident atoms give finite ones.
    """
    scoring.get(name)  # ValueError naming the choices
    w = tuple(float(x) for x in weights)[:5]
    pp = intra_pairs(lig, name, w) if pairs is None else pairs
    return _intra_dense(name, w, coords, pp, cap)


def _pair_r2(c, unit):
    """(N, N) squared distances of c (N, 3), summed per component (no (N, N, 3) temporary).

    x / 1 (``unit``) is exact. A division is "expensive" to XLA's fusion, which then
    materialises the (N,) components instead of recomputing the coordinates (e.g. the
    kinematics producing them) for each of the N x N pairs: measured ~30% of a search kernel.
    """
    r2 = jnp.zeros((c.shape[0], c.shape[0]), c.dtype)
    for k in range(3):
        ck = c[:, k] / unit
        dk = ck[:, None] - ck[None, :]
        r2 = r2 + dk * dk
    return r2


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _intra_dense(name: str, w: tuple, c, pp: IntraPairs, cap):
    """Sum of the capped pair energies of coordinates c (N, 3) over the symmetric pair matrix
    (``pp.count`` counts (i, j) and (j, i) half each, so the sum equals the pair list's)."""
    return jnp.sum(pair_energy_and_slope(name, w, _pair_r2(c, pp.unit), pp, cap)[0])


@_intra_dense.defjvp
def _intra_dense_jvp(name, w, primals, tangents):
    """The gradient in closed form, from one pass over the N x N pairs: with s_ij = df/dr2
    (symmetric), dE/dc_i = 4 (c_i sum_j s_ij - sum_j s_ij c_j), an (N, N) x (N, 3) product,
    so reverse mode never re-reads N x N temporaries. pp and cap are treated as constants."""
    c, pp, cap = primals
    f, s = pair_energy_and_slope(name, w, _pair_r2(c, pp.unit), pp, cap)
    g = 4.0 * (c * jnp.sum(s, axis=1)[:, None] - s @ c)
    return jnp.sum(f), jnp.sum(g * tangents[0])


def inter_grid(
    coords: jnp.ndarray, lig: LigandArrays, grid, cap: float = 1000.0, slope: float = 1.0e6
) -> jnp.ndarray:
    """Ligand-receptor energy from grid maps (Vina's ``grid::evaluate``). coords (N, 3) -> ().

    Trilinear interpolation of ``grid.maps[xs]``, cap per atom, plus ``slope`` x (distance
    outside the grid, A, summed over axes) for atoms outside (clamped to the edge cell).
    The gradient is Vina's, in closed form (a custom JVP: one pass, no autodiff temporaries):
    the interpolation's derivative inside the grid scaled by the cap's, plus ``slope`` x the
    side (-1, 0, 1) of the grid an atom is on, per axis.
    """
    ok = lig.atom_mask & (lig.xs >= 0)
    return _grid_energy(coords, jnp.maximum(lig.xs, 0), ok, grid, cap, slope)


def _grid_terms(coords, t, ok, grid, cap, slope, want_grad: bool):
    """-> energy () and, with ``want_grad``, its gradient (N, 3) (else None)."""
    maps = grid.maps
    # the box's grid points per axis (maps may be padded beyond them: ``grids.pad_grid``)
    dims = jnp.array(maps.shape[1:], jnp.int32) if grid.dims is None else grid.dims
    s = (coords - grid.origin) / grid.spacing  # (N, 3) grid units
    top = (dims - 1).astype(coords.dtype)
    miss = jnp.maximum(-s, 0.0) + jnp.maximum(s - top, 0.0)
    below, above = s < 0, s >= top
    a = jnp.where(below, 0, jnp.where(above, dims - 2, jnp.floor(s).astype(jnp.int32)))
    a = jnp.clip(a, 0, dims - 2)
    f = jnp.where(below, 0.0, jnp.where(above, 1.0, s - a))
    penalty = slope * jnp.sum(miss, axis=-1) * grid.spacing
    nx, ny, nz = maps.shape[1], maps.shape[2], maps.shape[3]
    flat = maps.reshape(-1)
    val = jnp.zeros(coords.shape[0], coords.dtype)
    dval = [jnp.zeros(coords.shape[0], coords.dtype) for _ in range(3)]
    for dx in (0, 1):
        wx = f[:, 0] if dx else 1.0 - f[:, 0]
        for dy in (0, 1):
            wy = f[:, 1] if dy else 1.0 - f[:, 1]
            for dz in (0, 1):
                wz = f[:, 2] if dz else 1.0 - f[:, 2]
                idx = ((t * nx + a[:, 0] + dx) * ny + a[:, 1] + dy) * nz + a[:, 2] + dz
                v = jnp.take(flat, idx)
                val = val + wx * wy * wz * v
                if want_grad:  # d(weights)/df: +-1 along one axis
                    dval[0] = dval[0] + (v if dx else -v) * wy * wz
                    dval[1] = dval[1] + (v if dy else -v) * wx * wz
                    dval[2] = dval[2] + (v if dz else -v) * wx * wy
    e = jnp.sum(jnp.where(ok, curl(val, cap) + penalty, 0.0))
    if not want_grad:
        return e, None
    vp = jnp.maximum(val, 0.0)
    dcurl = jnp.where(val > 0, jnp.square(cap / (cap + vp)), 1.0)
    inside = ~(below | above)
    side = above.astype(coords.dtype) - below.astype(coords.dtype)
    grad = jnp.where(inside, (dcurl / grid.spacing)[:, None] * jnp.stack(dval, axis=1), 0.0)
    grad = grad + slope * side
    return e, jnp.where(ok[:, None], grad, 0.0)


@jax.custom_jvp
def _grid_energy(coords, t, ok, grid, cap, slope):
    return _grid_terms(coords, t, ok, grid, cap, slope, False)[0]


@_grid_energy.defjvp
def _grid_energy_jvp(primals, tangents):
    """Only ``coords`` is differentiated (maps, types, cap and slope are constants)."""
    coords, t, ok, grid, cap, slope = primals
    e, g = _grid_terms(coords, t, ok, grid, cap, slope, True)
    return e, jnp.sum(g * tangents[0])


def affinity(inter, intra_e, intra_ref, n_rot, params) -> jnp.ndarray:
    """The reported affinity: the scoring function's final correction
    (``ScoringFunction.affinity``; Vina's ``(inter + intra - intra_ref) / (1 + w_rot n_rot)``)
    of ``inter + intra - intra_ref``.

    params: ScoringParams, Tables (``w_rot``, Vina's correction) or a float weight.
    """
    e = inter + intra_e - intra_ref
    if hasattr(params, "function"):
        return params.function.affinity(e, n_rot, params.resolved_weights[-1])
    w = params.w_rot if hasattr(params, "w_rot") else params
    return scoring.get(scoring.DEFAULT).affinity(e, n_rot, w)
