"""A null docking kernel for benchmarks and tests of the data path: no JAX, no search.

Switched on by the environment variable ``HPCFOLD_NULL_KERNEL=1`` (never the default). Every
ligand gets one deterministic fake pose: its prepared coordinates unchanged, an "affinity" of
``-4 - (crc32(lig_id) mod 8000) / 1000`` kcal/mol (-4 to -12), inter = affinity, intra = 0, terms
zero. The results store records ``engine: null`` in its metadata, and a resume with the other
engine is refused, so fake scores never mix with docked ones. It measures everything a screen
does except docking: scheduling, messages, feature reads, commits, compaction, resume, export.
"""

from __future__ import annotations

import os
import zlib

import numpy as np

from hpcfold.types import TERMS, DockResult

ENV = "HPCFOLD_NULL_KERNEL"


def enabled(env=os.environ) -> bool:
    """True when ``HPCFOLD_NULL_KERNEL`` is set to 1/true/yes (the engine is then "null")."""
    return env.get(ENV, "").strip().lower() in ("1", "true", "yes")


def null_affinity(lig_id: str) -> float:
    """The fake affinity of ``lig_id`` (kcal/mol, -4 to -12), a pure function of the id."""
    return -4.0 - (zlib.crc32(lig_id.encode("utf-8", "surrogateescape")) % 8000) / 1000.0


def dock_null(records: list) -> list[DockResult]:
    """One fake ``DockResult`` per record (1 mode, coords (1, n, 3) = the record's)."""
    out = []
    for rec in records:
        aff = np.full(1, null_affinity(rec.lig_id), np.float32)
        out.append(
            DockResult(
                lig_id=rec.lig_id,
                coords=np.asarray(rec.coords, np.float32)[None],
                affinity=aff,
                inter=aff.copy(),
                intra=np.zeros(1, np.float32),
                terms=np.zeros((1, len(TERMS)), np.float32),
                seconds=0.0,
            )
        )
    return out
