"""The Monte-Carlo search's objective and its tangent gradient for C chains at once, chains last.

``search_energy(pose, data, caps)`` (in ``hpcfold.dock.engine``) is the per-chain definition:
grid inter + analytic intra + glue, differentiated by autodiff through the torsion tree. This
module computes the same value and the same tangent gradient (6 + T,) for a whole batch of
chains in one pass, with every per-atom, per-pair and per-frame array laid out with the chain
axis last (``(..., C)``):

- gathers by atom, pair or frame index then move whole rows of C contiguous floats, so XLA's
  CPU code vectorises across chains instead of emitting a scalar gather per element (vmap puts
  the batch axis first, where each gather is scalar);
- the frames compose by pointer jumping (log2 T rounds over all frames, not T steps along
  the tree), with a polynomial sine / cosine: on XLA's CPU backend the cost of these small
  arrays is the number of operations (each a separate loop) and XLA's own sine, not flops;
- the intramolecular term runs over the ligand's pair list (P, padded per bucket), not the
  dense N x N matrix; its forces are one (P, 3, C) pass scatter-added at one end of each pair
  and scatter-subtracted at the other;
- the gradient is Vina's force / torque accumulation in closed form: per-atom forces from the
  grid and pair terms, then the position, orientation and torsion derivatives as sums of forces
  and torques, the whole ligand's and the torsions' subtree sums as one (F, N) x (N, 6C)
  product with the subtree membership matrix. No reverse-mode pass re-reads the forward
  temporaries.

The search calls ``energy_batch`` / ``energy_and_grad_batch`` on all chains at once
(``search_ligand`` with ``batched=True``); an accelerator's ligand lanes ``vmap`` them over the
ligands of a call.

Units: A, rad, kcal/mol. Shapes: N atoms, T torsions, P pairs, F = T + 1 frames, C chains.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold import scoring
from hpcfold.dock import energy as _energy
from hpcfold.dock.batch import LigandArrays
from hpcfold.dock.tables import GLUE_CUTOFF, WEIGHT_GLUE
from hpcfold.types import N_XS

_EPS = 1e-12


class PairList(NamedTuple):
    """Per-pair constants of one ligand's intramolecular pairs (P, padded per bucket).

    i, j (P,) i32 atom indices; r_sum (P,) A: the XS radii sum; hydro, hbond (P,) f32: 1 where
    the pair's types are two hydrophobic atoms / a donor with an acceptor; count (P,) f32: 1 for
    a scored pair, 0 for padding and pairs with an untyped atom.
    """

    i: jnp.ndarray
    j: jnp.ndarray
    r_sum: jnp.ndarray
    hydro: jnp.ndarray
    hbond: jnp.ndarray
    count: jnp.ndarray


class Topology(NamedTuple):
    """Per-ligand constants of the kinematics: ref_origin (F, 3) A (reference origin of each
    frame), axis (T, 3) unit torsion axes in the reference conformer, local (N, 3) A (atom
    minus its frame's reference origin), subtree (F, N) f32: 1 where the atom moves with frame
    f (its frame is f or descends from it; row 0, the root, is every atom; rows of padded
    torsions are 0), theta_mask (T,) f32.

    The frames' world transforms are composed by pointer jumping (``frames``): basis
    (4, F + 1, 3, 4): each frame's transform relative to its parent, as an affine map [A | b]
    on root-relative reference coordinates, is cos * basis[0] + sin * basis[1] + (1 - cos) *
    basis[2] + basis[3] of its torsion angle (Rodrigues about its axis through its origin;
    the root frame and the sentinel F are the identity); anc (R, F + 1) i32: the 2^k-th
    ancestor of each frame, round k (the root's parent is the sentinel, which is its own);
    r_frame (F, 3) A: frame origins minus the root's."""

    ref_origin: jnp.ndarray
    axis: jnp.ndarray
    local: jnp.ndarray
    subtree: jnp.ndarray
    theta_mask: jnp.ndarray
    basis: jnp.ndarray
    anc: jnp.ndarray
    r_frame: jnp.ndarray


class KernelData(NamedTuple):
    """Everything the batched objective needs for one ligand (built once per ligand)."""

    lig: LigandArrays
    grid: object  # hpcfold.dock.grids.Grid
    pairs: PairList
    topo: Topology


def pair_list(lig: LigandArrays, name: str, weights=None) -> PairList:
    """``PairList`` of ``lig`` for scoring ``name`` (``weights``: accepted, not used)."""
    sf = scoring.get(name)
    rad = sf.xs_radii().astype(np.float32)
    masks = sf.pair_masks()
    w_h = jnp.asarray(masks["hydrophobic"].reshape(-1), jnp.float32)
    w_b = jnp.asarray(masks["hbond"].reshape(-1), jnp.float32)
    i, j = lig.pairs[:, 0], lig.pairs[:, 1]
    ti, tj = lig.xs[i], lig.xs[j]
    ok = lig.pair_mask & (ti >= 0) & (tj >= 0)
    ti, tj = jnp.maximum(ti, 0), jnp.maximum(tj, 0)
    flat = ti * N_XS + tj
    r_sum = jnp.asarray(rad)[ti] + jnp.asarray(rad)[tj]
    return PairList(i, j, r_sum, w_h[flat], w_b[flat], ok.astype(jnp.float32))


def topology(lig: LigandArrays) -> Topology:
    """``Topology`` of ``lig``: reference frames, torsion axes, subtree membership."""
    coords = jnp.asarray(lig.coords)
    ta = jnp.asarray(lig.tors_atoms)
    n_t = ta.shape[0]
    ref_origin = jnp.concatenate([coords[lig.root_atom][None], coords[ta[:, 1]]], axis=0)
    d = coords[ta[:, 1]] - coords[ta[:, 0]]
    n2 = jnp.sum(d * d, axis=-1, keepdims=True)
    ok = n2 > _EPS
    axis = jnp.where(ok, d * jax.lax.rsqrt(jnp.where(ok, n2, 1.0)), jnp.array([1.0, 0, 0]))
    local = coords - ref_origin[lig.frame]
    # anc[f, g] = 1 when frame g is frame f or one of its ancestors (parents come first)
    parent = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.asarray(lig.tors_parent)])
    eye = jnp.eye(n_t + 1, dtype=jnp.float32)

    def body(t, anc):
        return anc.at[t + 1].set(jnp.maximum(eye[t + 1], anc[parent[t + 1]]))

    anc = jax.lax.fori_loop(0, n_t, body, eye) if n_t else eye
    subtree = anc[lig.frame].T  # (F, N): atom's frame is frame f or descends from it
    mask = jnp.asarray(lig.tors_mask).astype(jnp.float32)
    frame_mask = jnp.concatenate([jnp.ones(1, jnp.float32), mask])
    basis, jumps, r_frame = _jump_constants(ref_origin, axis, parent)
    return Topology(ref_origin, axis, local, subtree * frame_mask[:, None], mask, basis, jumps,
                    r_frame)  # fmt: skip


def _jump_constants(ref_origin, axis, parent):
    """``Topology.basis``, ``anc`` and ``r_frame`` (see there); parent (F,) with parent[0] = 0."""
    n_t = axis.shape[0]
    r = ref_origin - ref_origin[0]  # (F, 3) root-relative frame origins
    u, rt = axis, r[1:]
    zero = jnp.zeros_like(u[:, 0])
    ux = jnp.stack([jnp.stack([zero, -u[:, 2], u[:, 1]], -1),
                    jnp.stack([u[:, 2], zero, -u[:, 0]], -1),
                    jnp.stack([-u[:, 1], u[:, 0], zero], -1)], 1)  # fmt: skip
    eye = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (n_t, 3, 3))
    uu = u[:, :, None] * u[:, None, :]

    def affine(a, t):  # [a | t] (T, 3, 4)
        return jnp.concatenate([a, t[..., None]], axis=-1)

    def mv(a):  # a r_t (T, 3)
        return jnp.sum(a * rt[:, None, :], axis=-1)

    # x -> r + A (x - r) with A = cos I + sin [u]x + (1 - cos) u u^T
    tors = jnp.stack([affine(eye, -rt), affine(ux, -mv(ux)), affine(uu, -mv(uu)),
                      affine(jnp.zeros_like(eye), rt)])  # fmt: skip
    ident = jnp.zeros((4, 1, 3, 4), jnp.float32).at[0, 0, :, :3].set(jnp.eye(3))
    basis = jnp.concatenate([ident, tors, ident], axis=1)  # root, torsions, sentinel
    up = jnp.concatenate([jnp.full(1, n_t + 1), parent[1:], jnp.full(1, n_t + 1)])
    up = up.astype(jnp.int32)
    jumps = []
    for _ in range(max(1, int(np.ceil(np.log2(n_t + 1))))):
        jumps.append(up)
        up = up[up]
    return basis, jnp.stack(jumps), r


def kernel_data(lig: LigandArrays, grid, name: str, weights) -> KernelData:
    return KernelData(lig, grid, pair_list(lig, name, weights), topology(lig))


# --------------------------------------------------------------------------------------------
# kinematics, chains last


def _sincos(x):
    """(sin x, cos x) elementwise, float32 to ~1e-7 for |x| up to ~1e3: reduction by pi / 2
    (Cody-Waite, three parts) and Cephes' minimax polynomials on [-pi / 4, pi / 4]. XLA's CPU
    sine and cosine cost ~3 ns an element and are recomputed in every fusion that reads them;
    these are a few fused multiply-adds."""
    q = jnp.round(x * (2.0 / np.pi))
    r = x - q * 1.5703125
    r = r - q * 4.837512969970703125e-4
    r = r - q * 7.549789948768648e-8
    z = r * r
    s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4))
    c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3
                                                             + z * 2.443315711809948e-5))  # fmt: skip
    k = q.astype(jnp.int32) & 3
    sin = jnp.where(k == 0, s, jnp.where(k == 1, c, jnp.where(k == 2, -s, -c)))
    cos = jnp.where(k == 0, c, jnp.where(k == 1, -s, jnp.where(k == 2, -c, s)))
    return sin, cos


def _quat_to_mat(q):
    """q (4, C) -> 3 x 3 nested lists of (C,): rotation matrices of the normalised quaternions."""
    n2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]
    ok = n2 > _EPS
    inv = jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, n2, 1.0)), 1.0)
    w = jnp.where(ok, q[0] * inv, 1.0)
    x, y, z = (jnp.where(ok, q[i] * inv, 0.0) for i in (1, 2, 3))
    return [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]


def _compose(sp, s):
    """sp o s for affine maps [R | b] (F + 1, 3, 4, C): [Rp R | Rp b + bp], as explicit sums
    (a sum of products XLA would turn into a batched library dot, slow at these sizes)."""
    m = sum(sp[:, :, k, None, :] * s[:, None, k, :, :] for k in range(3))
    return m + jnp.pad(sp[:, :, 3:4], ((0, 0), (0, 0), (3, 0), (0, 0)))


def frames(poses, lig: LigandArrays, topo: Topology):
    """poses (C, 7 + T) -> rot: 3 x 3 nested lists of (F, C), org: 3 x (F, C): every frame's
    world rotation, and its origin in world space minus the root's (the pose's position,
    ``poses[:, :3]``): small numbers, exact 0 for the root.

    The frames relative to the root compose by pointer jumping, ceil(log2(T + 1)) rounds of
    s_f <- s_anc(f) o s_f over all frames at once (``Topology.anc``), instead of T sequential
    steps along the tree: each step was a handful of tiny XLA ops; the root's rotation and
    position apply last. Lists of arrays, not stacks: every later expression stays a plain
    (F, C) loop."""
    del lig
    pt = poses.T  # (7 + T, C)
    theta = jnp.pad(pt[7:] * topo.theta_mask[:, None], ((1, 1), (0, 0)))  # (F + 1, C)
    sin, cos = _sincos(theta)
    b = topo.basis[..., None]
    s = cos[:, None, None] * b[0] + sin[:, None, None] * b[1] + (1.0 - cos)[:, None, None] * b[2]
    s = s + b[3]  # (F + 1, 3, 4, C): each frame relative to its parent
    s = jax.lax.fori_loop(0, topo.anc.shape[0], lambda k, s: _compose(s[topo.anc[k]], s), s)
    s = s[:-1]  # relative to the root, root-relative reference coordinates
    rq = _quat_to_mat(pt[3:7])
    r = topo.r_frame
    org_l = [sum(s[:, i, j] * r[:, j, None] for j in range(3)) + s[:, i, 3] for i in range(3)]
    rot = [[sum(rq[i][k] * s[:, k, j] for k in range(3)) for j in range(3)] for i in range(3)]
    org = [sum(rq[i][k] * org_l[k] for k in range(3)) for i in range(3)]
    return rot, org


def coordinates(poses, lig: LigandArrays, topo: Topology):
    """poses (C, 7 + T) -> xyz: a tuple of 3 (N, C) coordinate components (A), rot, org (as
    ``frames``).

    Components are kept apart (structure of arrays) so that every later expression is a plain
    (N, C) or (P, C) loop: a (N, 3, C) array makes XLA fuse one loop over all three components
    that recomputes each component's whole expression and selects one."""
    rot, org = frames(poses, lig, topo)
    f = lig.frame
    loc = topo.local
    pos = poses.T[:3]
    xyz = tuple(pos[k] + org[k][f] + sum(rot[k][j][f] * loc[:, j, None] for j in range(3))
                for k in range(3))  # fmt: skip
    return xyz, rot, org


# --------------------------------------------------------------------------------------------
# energy terms and per-atom forces, chains last, components apart


def _grid(xyz, lig: LigandArrays, grid, cap, slope, want_grad: bool):
    """Grid inter energy per chain (C,) and forces dE/dx (3 x (N, C); None without want_grad);
    the same interpolation, cap and out-of-grid penalty as ``energy.inter_grid``."""
    maps = grid.maps
    dims = jnp.array(maps.shape[1:], jnp.int32) if grid.dims is None else grid.dims
    nx, ny, nz = maps.shape[1], maps.shape[2], maps.shape[3]
    a, f, miss, below, above = [], [], [], [], []
    for k in range(3):
        s = (xyz[k] - grid.origin[k]) / grid.spacing  # (N, C) grid units
        top = (dims[k] - 1).astype(s.dtype)
        lo, hi = s < 0, s >= top
        ak = jnp.where(lo, 0, jnp.where(hi, dims[k] - 2, jnp.floor(s).astype(jnp.int32)))
        ak = jnp.clip(ak, 0, dims[k] - 2)
        a.append(ak)
        f.append(jnp.where(lo, 0.0, jnp.where(hi, 1.0, s - ak)))
        miss.append(jnp.maximum(-s, 0.0) + jnp.maximum(s - top, 0.0))
        below.append(lo)
        above.append(hi)
    t = jnp.maximum(lig.xs, 0)[:, None]
    base = ((t * nx + a[0]) * ny + a[1]) * nz + a[2]  # (N, C)
    corners = [(dx * ny + dy) * nz + dz for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]
    idx = base[None] + jnp.asarray(corners, jnp.int32)[:, None, None]  # (8, N, C)
    # one gather, materialised: fused into the interpolation it would make that loop scalar
    v8 = jax.lax.optimization_barrier(maps.reshape(-1).at[idx].get(mode="promise_in_bounds"))
    v = [v8[k] for k in range(8)]  # index dx * 4 + dy * 2 + dz
    fx, fy, fz = f
    z00, z01 = v[1] - v[0], v[3] - v[2]  # d/dz along the four z edges
    z10, z11 = v[5] - v[4], v[7] - v[6]
    v00, v01 = v[0] + fz * z00, v[2] + fz * z01
    v10, v11 = v[4] + fz * z10, v[6] + fz * z11
    y0, y1 = v01 - v00, v11 - v10
    v0, v1 = v00 + fy * y0, v10 + fy * y1
    val = v0 + fx * (v1 - v0)  # (N, C)
    ok = (lig.atom_mask & (lig.xs >= 0))[:, None]
    penalty = slope * (miss[0] + miss[1] + miss[2]) * grid.spacing
    vp = jnp.maximum(val, 0.0)
    inv = 1.0 / (cap + vp)
    e = jnp.sum(jnp.where(ok, jnp.where(val > 0, vp * cap * inv, val) + penalty, 0.0), axis=0)
    if not want_grad:
        return e, None
    dz0 = z00 + fy * (z01 - z00)
    dz1 = z10 + fy * (z11 - z10)
    dval = (v1 - v0, y0 + fx * (y1 - y0), dz0 + fx * (dz1 - dz0))
    dcurl = jnp.where(val > 0, jnp.square(cap * inv), 1.0) / grid.spacing
    force = []
    for k in range(3):
        inside = ~(below[k] | above[k])
        side = above[k].astype(val.dtype) - below[k].astype(val.dtype)
        fk = jnp.where(inside, dcurl * dval[k], 0.0) + slope * side
        force.append(jnp.where(ok, fk, 0.0))
    return e, tuple(force)


def _intra(xyz, pl: PairList, name, w, cap, want_grad: bool):
    """Intramolecular energy per chain (C,) over the pair list, and forces (3 x (N, C))."""
    n, c = xyz[0].shape
    packed = jnp.concatenate(xyz, axis=1)  # (N, 3C): one row gather per pair end
    # row gathers, materialised (fused into the pair math they would make it scalar)
    xi, xj = jax.lax.optimization_barrier((packed[pl.i], packed[pl.j]))
    dd = xi - xj  # (P, 3C)
    d = [dd[:, k * c : (k + 1) * c] for k in range(3)]
    r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]  # (P, C)
    pp = _energy.IntraPairs(pl.count[:, None], pl.r_sum[:, None], pl.hydro[:, None],
                            pl.hbond[:, None], None)  # fmt: skip
    fe, s = _energy.pair_energy_and_slope(name, w, r2, pp, cap)
    e = jnp.sum(fe, axis=0)
    if not want_grad:
        return e, None
    # dE/dx_i per pair (P, 3, C): one pass over the pairs, the slope broadcast over components
    fp = (2.0 * s)[:, None, :] * dd.reshape(-1, 3, c)
    # added at i, subtracted at j: no negated copy of fp
    dn = jax.lax.ScatterDimensionNumbers((1, 2), (0,), (0,))
    force = jax.lax.scatter_add(jnp.zeros((n, 3, c), fp.dtype), pl.i[:, None], fp, dn)
    force = jax.lax.scatter_sub(force, pl.j[:, None], fp, dn)
    return e, (force[:, 0], force[:, 1], force[:, 2])


def _glue(xyz, lig: LigandArrays, cap, want_grad: bool):
    """Macrocycle glue (``energy.glue_energy``) per chain (C,) and forces (3 x (N, C))."""
    p = lig.glue_partner
    d = [x - x[p] for x in xyz]  # (N, C) each
    r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    ok = ((p != jnp.arange(p.shape[0])) & lig.atom_mask)[:, None] & (r2 < GLUE_CUTOFF**2)
    r = jnp.sqrt(jnp.maximum(jnp.where(ok, r2, 1.0), _EPS))
    e0 = WEIGHT_GLUE * r
    ep = jnp.maximum(e0, 0.0)
    inv = 1.0 / (cap + ep)
    e = jnp.sum(jnp.where(ok, jnp.where(e0 > 0, ep * cap * inv, e0), 0.0), axis=0)
    if not want_grad:
        return e, None
    dcurl = jnp.where(e0 > 0, jnp.square(cap * inv), 1.0)
    s = jnp.where(ok, dcurl * WEIGHT_GLUE / r, 0.0)  # dE/dr / r
    force = tuple(s * dk - jnp.zeros_like(dk).at[p].add(s * dk) for dk in d)
    return e, force


def _cross(a, b):
    """Componentwise cross product of two 3-tuples of arrays."""
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _objective(poses, data: KernelData, caps, name, w, want_grad: bool):
    """(e (C,), tangent gradient (C, 6 + T) or None) of the search objective."""
    lig, grid, pl, topo = data
    xyz, rot, org = coordinates(poses, lig, topo)
    e_inter, f_inter = _grid(xyz, lig, grid, caps[1], 1.0e6, want_grad)
    e_intra, f_intra = _intra(xyz, pl, name, w, caps[0], want_grad)
    e = e_inter + e_intra
    force = None if not want_grad else tuple(a + b for a, b in zip(f_inter, f_intra))
    if lig.glue_partner is not None:
        e_glue, f_glue = _glue(xyz, lig, caps[0], want_grad)
        e = e + e_glue
        force = None if not want_grad else tuple(a + b for a, b in zip(force, f_glue))
    if not want_grad:
        return e, None
    n, c = xyz[0].shape
    # lever arms from the root origin: small numbers, so the float32 sums of x cross f
    # (out-of-box forces reach 1e6) do not cancel
    o0 = poses.T[:3]  # the root origin
    rel = tuple(x - o for x, o in zip(xyz, o0))
    torque = _cross(rel, force)  # (x_i - o_0) x f_i, 3 x (N, C)
    both = jnp.concatenate(torque + force, axis=1)  # (N, 6C)
    # (F, 6C): sums of torques and forces over the whole ligand (row 0: the rotation and
    # position gradient) and over each torsion's subtree, in one product
    sub = topo.subtree @ both
    sub_t = [sub[:, k * c : (k + 1) * c] for k in range(3)]
    sub_f = [sub[:, (3 + k) * c : (4 + k) * c] for k in range(3)]
    rows = [jnp.stack([sub_f[k][0] for k in range(3)]), jnp.stack([sub_t[k][0] for k in range(3)])]
    n_t = topo.axis.shape[0]
    if n_t:
        sub_t = [x[1:] for x in sub_t]
        sub_f = [x[1:] for x in sub_f]
        o_t = tuple(org[k][1:] for k in range(3))  # (T, C): points on the axes, less o0
        ax = topo.axis
        # world axis of torsion t: its own frame's rotation (= its parent's, about that axis)
        axis_w = [sum(rot[k][j][1:] * ax[:, j, None] for j in range(3)) for k in range(3)]
        lever = _cross(o_t, sub_f)
        g_tors = sum(axis_w[k] * (sub_t[k] - lever[k]) for k in range(3))  # (T, C)
        rows.append(g_tors * topo.theta_mask[:, None])
    return e, jnp.concatenate(rows, axis=0).T


def energy_batch(poses, data: KernelData, caps, *, name: str, weights: tuple):
    """Search objective of C chains: poses (C, 7 + T) -> (C,) kcal/mol; caps (2,) (intra v,
    inter v)."""
    return _objective(poses, data, caps, name, tuple(weights)[:5], False)[0]


def energy_and_grad_batch(poses, data: KernelData, caps, *, name: str, weights: tuple):
    """(e (C,), g (C, 6 + T)): the objective and its gradient in the tangent space of each pose
    (position, world rotation vector about the root origin, torsions; ``kinematics.apply_change``)."""
    return _objective(poses, data, caps, name, tuple(weights)[:5], True)
