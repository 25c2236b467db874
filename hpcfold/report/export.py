"""Export hits from a results store to SDF (best pose per ligand) or CSV (one row per ligand).

SDF follows Uni-Dock's convention: one record per ligand, the record name (first line) is the
ligand id and the scores are SD tags (``affinity``, ``inter``, ``intra``, the five Vina terms,
``smiles``, ``ligand_id``, ``hit_rank``...). Coordinates are the best pose from the results
store; the molecule (atoms, bonds) comes from the feature store the screen read, through
``hpcfold.chem.sdf.write_pose_sdf``.

CSV columns, in this order: ``ligand_id, smiles, status, affinity, inter, intra, gauss1,
gauss2, repulsion, hydrophobic, hbond, n_poses, seconds, rank, device, index, reason,
message``; docked ligands sorted by affinity (best first), failures (on request) after them.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass

import numpy as np

from hpcfold.errors import UserError
from hpcfold.types import TERMS, Reason

CSV_COLUMNS: tuple[str, ...] = (
    "ligand_id", "smiles", "status", "affinity", "inter", "intra", *TERMS,
    "n_poses", "seconds", "rank", "device", "index", "reason", "message",
)  # fmt: skip


def text(value) -> str:
    """A table cell as ``str`` (HDF5 string columns may come back as bytes)."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    return str(value)


def reason_name(code) -> str:
    """``Reason`` name of a stored reason code (int or name); unknown codes stay as given."""
    try:
        return Reason(int(code)).name
    except (TypeError, ValueError):
        return text(code)


@dataclass(frozen=True)
class Selection:
    """Row positions in ``ResultsView.table``: docked hits (sorted best first) and failures."""

    hits: np.ndarray  # (H,) int, sorted by affinity ascending (best first)
    failures: np.ndarray  # (F,) int, by ligand index


def ok_mask(table: dict) -> np.ndarray:
    """(N,) bool: ligands that were docked (status ``ok``) with a finite affinity."""
    status = np.array([text(s).lower() for s in table["status"]])
    affinity = np.asarray(table["affinity"], dtype=np.float64)
    return (status == "ok") & np.isfinite(affinity)


def select(table: dict, top=None, min_score=None) -> Selection:
    """Docked ligands with affinity <= ``min_score`` (kcal/mol; lower is better), best first,
    at most ``top`` of them; plus every failed ligand."""
    if top is not None and top < 0:
        raise UserError(f"--top must be >= 0, got {top}")
    if min_score is not None and not math.isfinite(min_score):
        raise UserError(f"--min-score must be a finite number, got {min_score}")
    ok = ok_mask(table)
    affinity = np.asarray(table["affinity"], dtype=np.float64)
    index = np.asarray(table["index"])
    keep = ok.copy()
    if min_score is not None:
        keep &= affinity <= min_score
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((index[rows], affinity[rows]))]  # affinity, then ligand index
    if top is not None:
        rows = rows[:top]
    failed = np.flatnonzero(~ok)
    failed = failed[np.argsort(index[failed], kind="stable")]
    return Selection(hits=rows, failures=failed)


def _fmt(x) -> str:
    x = float(x)
    return f"{x:.3f}" if math.isfinite(x) else ""


def csv_row(table: dict, i: int, ok: bool) -> list[str]:
    """One CSV row (``CSV_COLUMNS`` order) for table row ``i``; ``ok``: docked (no reason)."""
    scores = [table["affinity"][i], table["inter"][i], table["intra"][i], *table["terms"][i]]
    return [
        text(table["lig_id"][i]),
        text(table["smiles"][i]),
        text(table["status"][i]),
        *(_fmt(s) if ok else "" for s in scores),  # failed ligands have no scores
        str(int(table["n_poses"][i])),
        _fmt(table["seconds"][i]),
        str(int(table["rank"][i])),
        text(table["device"][i]),
        str(int(table["index"][i])),
        "" if ok else reason_name(table["reason"][i]),
        text(table["message"][i]),
    ]  # fmt: skip


def write_csv(table: dict, sel: Selection, out_path: str, include_failures: bool) -> int:
    rows = list(sel.hits) + (list(sel.failures) if include_failures else [])
    ok = ok_mask(table)
    with open(out_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for i in rows:
            writer.writerow(csv_row(table, int(i), bool(ok[i])))
    return len(rows)


def sdf_tags(table: dict, i: int, hit_rank: int) -> dict[str, str | float]:
    """SD tags of one exported pose: scores (kcal/mol) and identity."""
    tags: dict[str, str | float] = {
        "ligand_id": text(table["lig_id"][i]),
        "smiles": text(table["smiles"][i]),
        "affinity": round(float(table["affinity"][i]), 3),
        "inter": round(float(table["inter"][i]), 3),
        "intra": round(float(table["intra"][i]), 3),
    }
    for name, value in zip(TERMS, np.asarray(table["terms"])[i]):
        tags[name] = round(float(value), 4)
    tags["n_poses"] = str(int(table["n_poses"][i]))
    tags["hit_rank"] = str(hit_rank)
    return tags


def write_sdf(view, table: dict, sel: Selection, out_path: str, features: str) -> int:
    """Best pose of each selected hit; molecules read from the screen's feature store."""
    from hpcfold.chem.sdf import write_pose_sdf
    from hpcfold.store.features import FeatureStore

    n = 0
    with FeatureStore(features) as store, open(out_path, "w", encoding="utf-8") as fh:
        for start in range(0, len(sel.hits), 256):  # read molecules in blocks
            rows = sel.hits[start : start + 256]
            records = store.read(np.asarray(table["index"])[rows])
            for i, record in zip(rows, records):
                coords, _ = view.poses(int(table["index"][i]))
                name = text(table["lig_id"][i])
                fh.write(write_pose_sdf(record, coords[0], name, sdf_tags(table, i, n + 1)))
                n += 1
    return n


def feature_store_path(view, results_path) -> str:
    """Path of the feature store a results store was screened from: the path its meta names,
    else (stores moved together) that file name in the results store's folder."""
    named = view.meta.get("features")
    if not named:
        raise UserError("the results store does not name its feature store (meta 'features')")
    named = text(named)
    base = os.path.dirname(os.path.abspath(str(results_path)))
    for path in (named, os.path.join(base, named), os.path.join(base, os.path.basename(named))):
        if os.path.isfile(path):
            return path
    raise UserError(f"feature store {named} (named in the results store) not found")


def export_hits(results_path, out_path, top=None, min_score=None, include_failures=False) -> int:
    """Write hits from ``results_path`` to ``out_path`` (.sdf or .csv by suffix).

    Args: top: keep at most this many docked ligands (best first); min_score: keep only
    ligands with affinity <= this value in kcal/mol (e.g. -8.0); include_failures: CSV only,
    append failed ligands with their reason and message.
    Returns: the number of ligands written.
    """
    from hpcfold.store.results import open_results

    suffix = os.path.splitext(str(out_path))[1].lower()
    if suffix not in (".sdf", ".csv"):
        raise UserError(f"output must end in .sdf or .csv, got {out_path}")
    if suffix == ".sdf" and include_failures:
        raise UserError("failed ligands have no pose: export them with -o FILE.csv")
    if not os.path.exists(results_path):
        raise UserError(f"results store {results_path} not found")
    os.makedirs(os.path.dirname(os.path.abspath(str(out_path))), exist_ok=True)
    tmp = f"{out_path}.tmp"
    with open_results(str(results_path)) as view:
        table = view.table
        sel = select(table, top=top, min_score=min_score)
        try:
            if suffix == ".csv":
                n = write_csv(table, sel, tmp, include_failures)
            else:
                n = write_sdf(view, table, sel, tmp, feature_store_path(view, results_path))
            os.replace(tmp, out_path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return n
