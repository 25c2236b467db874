"""Receptor grid maps (Vina's ``cache::populate``) in JAX, with an on-disk cache.

Grid: Vina's box (``boxes.box_bounds``): ``n = ceil(size / spacing)`` voxels per axis, ``n + 1``
points from ``lo = center - spacing n / 2``. Point value for ligand XS type t: the uncapped sum
over receptor atoms within 8 A of ``fast[t, t_rec, floor(32 r^2)]``. Computed block-wise:
blocks of 4x4x4 points, each with a padded list of the receptor atoms within reach (numpy cell
search), then one jitted gather-and-sum per chunk of blocks.

Cache: ``<cache_dir>/grid-<key>.npz`` (``np.savez``, read with ``allow_pickle=False``), key =
sha256 of (receptor sha256, box, spacing, scoring params, format version); written to a temporary
file and renamed atomically, so concurrent ranks never read a partial file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold.boxes import box_bounds
from hpcfold.dock.batch import ReceptorAtoms, receptor_arrays
from hpcfold.dock.tables import CUTOFF, CUTOFF2, FACTOR, N_SAMPLES, ScoringParams, build_tables
from hpcfold.types import N_XS, Box, ReceptorRecord

GRID_FORMAT = 1
_BLOCK = 4


class Grid(NamedTuple):
    """origin (3,) A (first grid point), spacing () A, maps (19, nx, ny, nz) kcal/mol; dims
    (3,) int32: the grid points per axis that belong to the box when ``maps`` is padded
    beyond them (``pad_grid``), None when it is not."""

    origin: jnp.ndarray
    spacing: jnp.ndarray
    maps: jnp.ndarray
    dims: jnp.ndarray | None = None


PAD_POINTS = 16  # grid points per axis are padded to a multiple of this (6 A at 0.375 A)


def pad_grid(grid: Grid, multiple: int = PAD_POINTS) -> Grid:
    """The same grid with its maps zero-padded to a multiple of ``multiple`` points per axis
    and ``dims`` recording the real extent: energies are bitwise unchanged (``inter_grid``
    interpolates and penalises against ``dims``; the padding is never read), but boxes of
    similar size share array shapes, hence compiled kernels (the persistent compilation cache
    then serves a new box without compiling)."""
    if grid.dims is not None:
        return grid
    maps = np.asarray(grid.maps)
    real = maps.shape[1:]
    pad = [(0, 0)] + [(0, (-n) % multiple) for n in real]
    return Grid(grid.origin, grid.spacing, jnp.asarray(np.pad(maps, pad)),
                jnp.asarray(real, jnp.int32))  # fmt: skip


@jax.jit
def _blocks_energy(points, atoms, types, rows):
    """points (G, C, b^3, 3), atoms (G, C, K, 3), types (G, C, K) (-1 = none), rows (19 * S, 19)
    -> (G, C, b^3, 19) summed table values (sequential over G, vectorised over C)."""

    def one(pts, at, ty):
        d = pts[:, None, :] - at[None, :, :]
        r2 = jnp.sum(d * d, axis=-1)  # (b^3, K)
        ok = (r2 < CUTOFF2) & (ty >= 0)[None, :]
        k = jnp.clip(
            jnp.floor(jnp.minimum(r2, CUTOFF2) * FACTOR).astype(jnp.int32), 0, N_SAMPLES - 1
        )
        idx = jnp.maximum(ty, 0)[None, :] * N_SAMPLES + k
        vals = jnp.take(rows, idx, axis=0)  # (b^3, K, 19)
        return jnp.sum(jnp.where(ok[..., None], vals, 0.0), axis=1)

    return jax.lax.map(lambda a: jax.vmap(one)(*a), (points, atoms, types))


def compute_grid(
    rec: ReceptorAtoms, box: Box, tables, spacing: float = 0.375, chunk: int = 16
) -> Grid:
    """Grid maps for all 19 ligand XS types over Vina's box. rec: receptor atoms (any cropping
    that keeps every atom within 8 A of the box)."""
    lo, _, n = box_bounds(box, spacing)
    dims = n + 1
    nb = -(-dims // _BLOCK)
    bi = np.stack(np.meshgrid(*(np.arange(k) for k in nb), indexing="ij"), -1).reshape(-1, 3)
    off = np.stack(np.meshgrid(*(np.arange(_BLOCK),) * 3, indexing="ij"), -1).reshape(-1, 3)
    points = lo + (bi[:, None, :] * _BLOCK + off[None, :, :]) * spacing  # (NB, b^3, 3)
    centers = lo + (bi * _BLOCK + (_BLOCK - 1) / 2) * spacing
    reach = CUTOFF + np.sqrt(3) * (_BLOCK - 1) / 2 * spacing + 1e-3
    xyz = np.asarray(rec.coords, np.float64)
    xs = np.asarray(rec.xs)
    real = xs >= 0
    xyz, xs = xyz[real], xs[real]
    lists = []
    for s in range(0, centers.shape[0], 256):
        d = centers[s : s + 256, None, :] - xyz[None, :, :]
        near = np.einsum("ijk,ijk->ij", d, d) < reach * reach
        lists.extend(np.flatnonzero(row) for row in near)
    kmax = max(8, max((len(x) for x in lists), default=0))
    kmax = -(-kmax // 8) * 8
    n_blocks = len(lists)
    n_pad = -(-n_blocks // chunk) * chunk
    atoms = np.full((n_pad, kmax, 3), 1.0e4, np.float32)
    types = np.full((n_pad, kmax), -1, np.int32)
    for b, idx in enumerate(lists):
        atoms[b, : len(idx)] = xyz[idx]
        types[b, : len(idx)] = xs[idx]
    pts = np.zeros((n_pad, _BLOCK**3, 3), np.float32)
    pts[:n_blocks] = points
    rows = jnp.transpose(tables.fast, (1, 2, 0)).reshape(N_XS * N_SAMPLES, N_XS)
    res = _blocks_energy(
        jnp.asarray(pts.reshape(-1, chunk, _BLOCK**3, 3)),
        jnp.asarray(atoms.reshape(-1, chunk, kmax, 3)),
        jnp.asarray(types.reshape(-1, chunk, kmax)),
        rows,
    )
    vals = np.asarray(res).reshape(n_pad, _BLOCK**3, N_XS)[:n_blocks]  # (NB, b^3, 19)
    vals = vals.reshape(*nb, _BLOCK, _BLOCK, _BLOCK, N_XS)
    vals = vals.transpose(6, 0, 3, 1, 4, 2, 5).reshape(N_XS, *(nb * _BLOCK))
    maps = vals[:, : dims[0], : dims[1], : dims[2]]
    return Grid(
        origin=jnp.asarray(lo, jnp.float32),
        spacing=jnp.asarray(spacing, jnp.float32),
        maps=jnp.asarray(np.ascontiguousarray(maps), jnp.float32),
    )


def grid_key(rec_sha256: str, box: Box, params: ScoringParams, spacing: float) -> str:
    """Cache key: sha256 over receptor hash, box, spacing, scoring params and format version."""
    text = "|".join(
        [
            f"v{GRID_FORMAT}",
            rec_sha256,
            ",".join(f"{v:.6f}" for v in (*box.center, *box.size)),
            f"{spacing:.6f}",
            params.cache_key(),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def cached_grid(
    rec_record: ReceptorRecord, box: Box, params: ScoringParams, cache_dir, spacing: float = 0.375
) -> Grid:
    """Grid for (receptor, box, params), loaded from ``cache_dir`` when present, else computed
    and saved there (atomic rename). ``cache_dir=None`` computes without caching."""
    tables = build_tables(params)
    if cache_dir is None:
        return compute_grid(receptor_arrays(rec_record, box), box, tables, spacing)
    cache_dir = os.fspath(cache_dir)
    path = os.path.join(cache_dir, f"grid-{grid_key(rec_record.sha256, box, params, spacing)}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                return Grid(
                    jnp.asarray(z["origin"]), jnp.asarray(z["spacing"]), jnp.asarray(z["maps"])
                )
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache file: recompute and replace it
    grid = compute_grid(receptor_arrays(rec_record, box), box, tables, spacing)
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".grid-", suffix=".npz", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                origin=np.asarray(grid.origin),
                spacing=np.asarray(grid.spacing),
                maps=np.asarray(grid.maps),
            )
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return grid
