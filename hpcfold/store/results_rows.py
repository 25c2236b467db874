"""Results rows: one chunk's results -> the packed columns of a part file (numpy only)."""

from __future__ import annotations

import json
import math
import time

import numpy as np

from hpcfold.store.results_io import CHUNK_DTYPE, LIGAND_DTYPE, LIGAND_TEXT
from hpcfold.types import TERMS, DockResult, Failure, Reason

INFO_KEYS = (
    "chunk_id",
    "rank",
    "device",
    "host",
    "t_start",
    "t_done",
    "busy_s",
    "wall_s",
    "smiles",
    "seconds",
)


def checked(item, index: int) -> DockResult | Failure:
    """A DockResult with consistent shapes and finite values, else the matching Failure."""
    if isinstance(item, Failure):
        return item
    if not isinstance(item, DockResult):
        raise TypeError(f"expected DockResult or Failure, got {type(item).__name__}")
    arrays = [np.asarray(a) for a in (item.coords, item.affinity, item.inter, item.intra,
                                      item.terms)]  # fmt: skip
    coords, aff, inter, intra, terms = (a.shape for a in arrays)
    m = aff[0] if len(aff) == 1 else -1
    shapes_ok = (
        m >= 1
        and len(coords) == 3
        and coords[0] == m
        and coords[2] == 3
        and inter == (m,)
        and intra == (m,)
        and terms == (m, len(TERMS))
    )
    if not shapes_ok:
        msg = f"inconsistent DockResult shapes for ligand index {index}"
        return Failure(item.lig_id, "", "", Reason.INTERNAL_ERROR, msg)
    # a float64 sum is NaN or inf exactly when some float32 value is (no overflow possible)
    if not all(math.isfinite(a.sum(dtype=np.float64)) for a in arrays):
        msg = "docking produced non-finite energies or coordinates"
        return Failure(item.lig_id, "", "", Reason.NONFINITE_ENERGY, msg)
    return item


def chunk_columns(idx, items, smiles, info, session: int, max_poses: int | None = None,
                  hit_threshold: float | None = None) -> dict:  # fmt: skip
    """In-memory group data ({ligands, chunks}) of one chunk, ready for ``write_group``.

    ``idx`` (k,) global indices, ``items`` DockResult | Failure (checked: inconsistent or
    non-finite results become Failures), ``smiles`` per item. Rows keep at most ``max_poses``
    poses, and none for an ok ligand whose best affinity is above ``hit_threshold``."""
    items = [checked(it, int(i)) for i, it in zip(idx, items)]
    n, now = len(items), time.time()
    rank, device = int(info.get("rank", 0)), str(info.get("device", ""))
    chunk_id, t_done = int(info.get("chunk_id", -1)), float(info.get("t_done", now))
    rows = np.zeros(n, LIGAND_DTYPE)
    rows["index"], rows["rank"], rows["chunk_id"] = idx, rank, chunk_id
    rows["t_done"], rows["session"] = t_done, session
    rows["affinity"] = rows["inter"] = rows["intra"] = np.nan
    text: dict[str, list] = {c: [] for c in LIGAND_TEXT}
    values, coords = [], []
    for k, it in enumerate(items):
        text["lig_id"].append(it.lig_id)
        text["smiles"].append(smiles[k] or (it.smiles if isinstance(it, Failure) else ""))
        text["device"].append(device)
        if isinstance(it, Failure):
            rows["status"][k], rows["reason"][k] = 1, int(it.reason) or int(Reason.DOCK_ERROR)
            text["message"].append(it.message)
            continue
        m = len(it.affinity) if max_poses is None else min(len(it.affinity), max_poses)
        if hit_threshold is not None and not it.affinity[0] <= hit_threshold:
            m = 0  # not a hit: scores only
        rows["affinity"][k], rows["inter"][k] = it.affinity[0], it.inter[0]
        rows["intra"][k], rows["terms"][k] = it.intra[0], it.terms[0]
        rows["n_poses"][k], rows["n_atoms"][k] = m, it.coords.shape[1]
        rows["seconds"][k] = it.seconds
        text["message"].append("")
        values.append(np.stack([it.affinity[:m], it.inter[:m], it.intra[:m]], axis=1))
        coords.append(np.asarray(it.coords[:m], np.float32).reshape(-1, 3))
    extra = {k: v for k, v in info.items() if k not in INFO_KEYS}
    chunk = np.zeros(1, CHUNK_DTYPE)
    chunk["chunk_id"], chunk["rank"], chunk["session"], chunk["n"] = (
        chunk_id, rank, session, n,
    )  # fmt: skip
    chunk["n_failed"] = int(np.count_nonzero(rows["status"]))
    chunk["busy_s"] = float(info.get("busy_s", info.get("seconds", 0.0)))
    chunk["wall_s"] = float(info.get("wall_s", 0.0))
    chunk["t_start"], chunk["t_done"] = float(info.get("t_start", 0.0)), t_done
    chunk_text = {
        "device": [device], "host": [str(info.get("host", ""))],
        "extra": [json.dumps(extra, sort_keys=True, default=str)],
    }  # fmt: skip
    empty = np.zeros((0, 3), np.float32)
    return {
        "ligands": {
            "rows": rows, "text": text,
            "pose_values": np.concatenate(values) if values else empty,
            "pose_coords": np.concatenate(coords) if coords else empty,
        },
        "chunks": {"rows": chunk, "text": chunk_text},
    }  # fmt: skip
