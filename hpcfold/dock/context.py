"""What docking into one receptor box needs, built once: ``DockContext`` / ``make_context``.

``make_context`` builds the scoring tables and grid maps once per (receptor, box, scoring), with
the grid maps cached on disk and JAX's persistent compilation cache turned on
(``enable_compilation_cache``); the search kernels it later holds compile lazily
(``engine``). ``ligand_key`` derives a ligand's random stream from (options.seed, sha256 of its
id), so a ligand's poses never depend on its chunk or its rank.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

from hpcfold import runtime

# Docking kernels are many tiny ops: XLA's intra-op thread pool only adds synchronisation
# (3x slower wall time measured on 2 busy cores); parallelism comes from ranks / ligands.
# Effective only before JAX starts its CPU backend; HPCFOLD_XLA_THREADS opts out.
runtime.configure_xla_cpu(threads=None)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from hpcfold.boxes import box_bounds  # noqa: E402
from hpcfold.dock import batch, grids, tables  # noqa: E402
from hpcfold.dock.batch import ReceptorAtoms  # noqa: E402
from hpcfold.dock.grids import Grid  # noqa: E402
from hpcfold.dock.presets import SearchOptions, SearchParams  # noqa: E402
from hpcfold.dock.tables import ScoringParams, Tables  # noqa: E402
from hpcfold.types import Box, ReceptorRecord  # noqa: E402

_CACHE_READY: list[str] = []


def default_cache_dir() -> str:
    """$HPCFOLD_CACHE, else ~/.cache/hpcfold."""
    return os.environ.get("HPCFOLD_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "hpcfold"
    )


def enable_compilation_cache(path: str) -> None:
    """Turn on JAX's persistent compilation cache in ``path`` (process-wide, first call wins)."""
    if not path or _CACHE_READY:
        return
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _CACHE_READY.append(path)


def ligand_key(seed: int, lig_id: str) -> np.ndarray:
    """(2,) uint32 legacy PRNG key from (global seed, sha256 of the ligand id)."""
    h = int.from_bytes(hashlib.sha256(lig_id.encode("utf-8")).digest()[:4], "little")
    return np.array([int(seed) & 0xFFFFFFFF, h], dtype=np.uint32)


@dataclasses.dataclass(eq=False)
class DockContext:
    """Everything docking into one receptor box needs; built by ``make_context``.

    search: the resolved effort (``options.params``); batch_size: ligands per kernel call (see
    ``engine.kernel_batch``); kernels: the jitted kernels built so far, by name
    (``engine``, ``refine``)."""

    receptor: ReceptorRecord
    box: Box
    options: SearchOptions
    params: ScoringParams
    tables: Tables
    grid: Grid
    rec_atoms: ReceptorAtoms  # cropped to the box + 8 A
    search: SearchParams
    batch_size: int
    lo: np.ndarray  # (3,) box corner, A
    hi: np.ndarray
    kernels: dict = dataclasses.field(default_factory=dict)
    ligand_lanes: int = 1  # ligands vmapped together inside a kernel call (``engine._kernel``)


def make_context(
    receptor: ReceptorRecord, box: Box, options: SearchOptions, cache_dir: str | None = None
) -> DockContext:
    """Build scoring tables, grid maps (cached on disk) and search settings for one receptor.

    Raises ValueError on bad scoring weights (the options checked themselves when built).
    """
    cache_dir = cache_dir or default_cache_dir()
    cc = options.compile_cache
    enable_compilation_cache(os.path.join(cache_dir, "jax") if cc is None else cc)
    params = tables.make_params(options.scoring, options.weights)
    tabs = tables.build_tables(params)
    grid = grids.pad_grid(
        grids.cached_grid(receptor, box, params, os.path.join(cache_dir, "grids"))
    )
    rec = batch.receptor_arrays(receptor, box, pad_multiple=64)
    lo, hi, _ = box_bounds(box)
    lo, hi = lo.astype(np.float32), hi.astype(np.float32)
    cpu = jax.default_backend() == "cpu"
    bs = options.batch_size or (1 if cpu else 64)
    return DockContext(
        receptor, box, options, params, tabs, grid, rec, options.params, bs, lo, hi,
        ligand_lanes=1 if cpu else bs,
    )  # fmt: skip
