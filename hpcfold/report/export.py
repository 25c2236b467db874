"""Export hits from a results store to SDF, PDBQT (poses) or CSV (one row per ligand).

Streamed (``ResultsView.iter_blocks``): memory is one block of rows plus the kept hits,
whatever the store's size. With ``top`` the hits are the ``top`` best (a running top-K merged
block by block with ``numpy.argpartition``), written best first; without it every selected
ligand is written in store order as it is read. Ligands whose best pose is not clash-free
(``results_view.clash_flag``) are left out unless ``include_clashes``.

Writers and their schema (SDF tags, PDBQT remarks, CSV columns): ``hpcfold.report.writers``.
The molecule (atoms, bonds) of SDF / PDBQT output comes from the feature store the screen
read; the coordinates are the poses kept in the results store.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from hpcfold.errors import UserError
from hpcfold.report.writers import CSV_COLUMNS, LigandOutput, open_writer, writer_class
from hpcfold.types import TERMS, Reason

__all__ = ["CSV_COLUMNS", "ExportResult", "export_hits", "top_hits", "iter_hits"]
RECORD_BLOCK = 256  # feature-store records read at a time


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


def ok_mask(table: dict) -> np.ndarray:
    """(N,) bool: ligands that were docked (status ``ok``) with a finite affinity."""
    status = np.array([text(s).lower() for s in table["status"]])
    affinity = np.asarray(table["affinity"], dtype=np.float64)
    return (status == "ok") & np.isfinite(affinity)


def _check(top, min_score) -> None:
    if top is not None and top < 0:
        raise UserError(f"--top must be >= 0, got {top}")
    if min_score is not None and not math.isfinite(min_score):
        raise UserError(f"--min-score must be a finite number, got {min_score}")


def hit_mask(block: dict, min_score=None, include_clashes: bool = False) -> np.ndarray:
    """(B,) bool: docked rows of a block with a finite affinity <= ``min_score`` (kcal/mol),
    clash-flagged ones only with ``include_clashes``."""
    aff = np.asarray(block["affinity"], dtype=np.float64)
    keep = (np.asarray(block["status_code"]) == 0) & np.isfinite(aff)
    if min_score is not None:
        keep &= aff <= min_score
    if not include_clashes:
        keep &= ~np.asarray(block["clash"], dtype=bool)
    return keep


def take_rows(block: dict, rows: np.ndarray) -> dict:
    return {k: v[rows] for k, v in block.items()}


def best_first(block: dict, k: int | None) -> dict:
    """The ``k`` (all when None) rows of ``block`` with the lowest (affinity, index), sorted."""
    aff = np.asarray(block["affinity"], dtype=np.float64)
    rows = np.arange(aff.size)
    if k is not None and aff.size > k:
        cut = np.partition(aff, k - 1)[k - 1]
        rows = np.flatnonzero(aff <= cut)  # ties at the cut kept, then ordered by index
    rows = rows[np.lexsort((block["index"][rows], aff[rows]))][:k]
    return take_rows(block, rows)


def top_hits(view, k: int, min_score=None, include_clashes: bool = False) -> dict:
    """The ``k`` best hits (affinity, then ligand index), best first, as one block (<= k rows);
    memory O(k + block). Blocks are read without text; the winners' text is read at the end
    (decoding every row's strings was most of an export's time)."""
    best: dict | None = None
    for block in view.iter_blocks(text=False):
        rows = np.flatnonzero(hit_mask(block, min_score, include_clashes))
        if best is not None and len(best["index"]) >= k > 0:  # only rows that can get in
            rows = rows[block["affinity"][rows] <= best["affinity"][k - 1]]
        cand = best_first(take_rows(block, rows), k)
        if best is None:
            best = cand
        else:
            both = {c: np.concatenate([best[c], cand[c]]) for c in best}
            best = best_first(both, k)
    if best is None:
        return {}
    best.update(view.text_at(best["loc"]))
    return best


def iter_hits(view, top=None, min_score=None, include_clashes: bool = False):
    """Blocks of hits: the ``top`` best, best first, or (``top`` None) all, in store order."""
    if top is not None:
        best = top_hits(view, top, min_score, include_clashes)
        if best and len(best["index"]):
            yield best
        return
    for block in view.iter_blocks():
        rows = np.flatnonzero(hit_mask(block, min_score, include_clashes))
        if rows.size:
            yield take_rows(block, rows)


def iter_failures(view):
    """Blocks of failed ligands (and docked ones without a finite affinity), store order."""
    for block in view.iter_blocks():
        aff = np.asarray(block["affinity"], dtype=np.float64)
        rows = np.flatnonzero((np.asarray(block["status_code"]) != 0) | ~np.isfinite(aff))
        if rows.size:
            yield take_rows(block, rows)


def _fields(block: dict, i: int, ok: bool) -> dict:
    return {
        "status": text(block["status"][i]), "n_poses": str(int(block["n_poses"][i])),
        "seconds": f"{float(block['seconds'][i]):.3f}", "rank": str(int(block["rank"][i])),
        "device": text(block["device"][i]), "index": str(int(block["index"][i])),
        "reason": "" if ok else reason_name(block["reason"][i]),
        "message": text(block["message"][i]),
    }  # fmt: skip


def ligand_output(view, block: dict, i: int, poses, record=None) -> LigandOutput:
    """Row ``i`` of a block as writer input: its first ``poses`` poses ('all': every one) when
    ``record`` is given (SDF / PDBQT), else the best pose's scores only (CSV)."""
    ok = int(block["status_code"][i]) == 0 and math.isfinite(float(block["affinity"][i]))
    lig_id, smiles = text(block["lig_id"][i]), text(block["smiles"][i])
    if not ok:
        empty = np.zeros(0)
        return LigandOutput(lig_id, empty, empty, empty, np.zeros((0, len(TERMS))),
                            np.zeros(0, bool), smiles=smiles, fields=_fields(block, i, False))  # fmt: skip
    if record is None:
        terms = np.asarray(block["terms"][i], dtype=np.float64)[None, :]
        aff = np.array([float(block["affinity"][i])])
        return LigandOutput(
            lig_id, aff, np.array([float(block["inter"][i])]),
            np.array([float(block["intra"][i])]), terms, np.array([bool(block["clash"][i])]),
            smiles=smiles, fields=_fields(block, i, True),
        )  # fmt: skip
    from hpcfold.store.results_view import clash_flag

    coords, values = view.pose_values_at(block["loc"][i])
    m = len(values) if poses == "all" else min(int(poses), len(values))
    terms = np.full((m, len(TERMS)), np.nan)
    terms[0] = block["terms"][i]  # the store keeps the terms of the best pose only
    return LigandOutput(
        lig_id, values[:m, 0].astype(np.float64), values[:m, 1].astype(np.float64),
        values[:m, 2].astype(np.float64), terms, clash_flag(values[:m, 0]), record=record,
        coords=coords[:m], smiles=smiles, fields=_fields(block, i, True),
    )  # fmt: skip


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


@dataclass(frozen=True)
class ExportResult:
    """``n``: ligands written to the output; ``refused``: [(ligand id, reason)] written to
    ``refused_path`` as PDBQT instead of SDF (their molecule is not known for sure)."""

    n: int
    refused: tuple[tuple[str, str], ...] = ()
    refused_path: str = ""


def parse_poses(value) -> int | str:
    """``--poses``: 'all' or an integer >= 1."""
    if str(value).lower() == "all":
        return "all"
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UserError(f"--poses must be 'all' or an integer >= 1, got {value!r}")
    return n


def export_hits(
    results_path, out_path, top=None, min_score=None, include_failures=False, poses=1,
    include_clashes=False, template=None,
) -> ExportResult:  # fmt: skip
    """Write hits from ``results_path`` to ``out_path`` (.sdf, .pdbqt or .csv by suffix).

    Args: top: at most this many docked ligands, best first; min_score: only ligands with
    affinity <= this value in kcal/mol (e.g. -8.0); include_failures: CSV only, append failed
    ligands with their reason and message; poses: poses per ligand (1, N or 'all'; SDF and
    PDBQT); include_clashes: keep clash-flagged ligands; template: an RDKit molecule giving the
    bond orders of PDBQT ligands without meeko's remarks (SDF).
    """
    from hpcfold.store.results import open_results

    poses = parse_poses(poses)
    _check(top, min_score)
    writer_class(out_path)  # the suffix is checked before any work
    suffix = os.path.splitext(str(out_path))[1].lower()
    if suffix != ".csv" and include_failures:
        raise UserError("failed ligands have no pose: export them with -o FILE.csv")
    if not os.path.exists(results_path):
        raise UserError(f"results store {results_path} not found")
    folder = os.path.dirname(os.path.abspath(str(out_path)))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {folder}: {exc.strerror}") from None
    with open_results(str(results_path)) as view:
        features = None if suffix == ".csv" else feature_store_path(view, results_path)
        with open_writer(str(out_path), template=template) as writer:
            for block in iter_hits(view, top, min_score, include_clashes):
                _write_block(view, writer, block, poses, features)
            if include_failures:
                for block in iter_failures(view):
                    _write_block(view, writer, block, poses, None)
            refused = tuple(getattr(writer, "refused", ()))
            path = getattr(writer, "refused_path", "") if refused else ""
            return ExportResult(writer.n_ligands, refused, path)


def _cells(values, ok: np.ndarray, spec: str = "%.3f") -> list[str]:
    """Formatted numbers, '' where not finite or not ``ok``."""
    v = np.asarray(values, dtype=np.float64)
    out = np.char.mod(spec, np.nan_to_num(v))
    return np.where(ok & np.isfinite(v), out, "").tolist()


_REASON_NAMES = {int(r): r.name for r in Reason}


def csv_rows(block: dict) -> list[list[str]]:
    """The rows of a block in ``CSV_COLUMNS`` order, formatted column by column (numpy)."""
    n = len(block["index"])
    ok = (np.asarray(block["status_code"]) == 0) & np.isfinite(
        np.asarray(block["affinity"], dtype=np.float64)
    )
    terms = np.asarray(block["terms"], dtype=np.float64).reshape(n, len(TERMS))
    reason = [("" if k else _REASON_NAMES.get(int(c), str(c)))
              for k, c in zip(ok.tolist(), np.asarray(block["reason"]).tolist())]  # fmt: skip
    columns = [
        [text(x) for x in block["lig_id"]], [text(x) for x in block["smiles"]],
        [text(x) for x in block["status"]], _cells(block["affinity"], ok),
        _cells(block["inter"], ok), _cells(block["intra"], ok),
        *(_cells(terms[:, k], ok) for k in range(len(TERMS))),
        np.asarray(block["n_poses"]).astype(str).tolist(),
        _cells(block["seconds"], np.ones(n, bool)), np.asarray(block["rank"]).astype(str).tolist(),
        [text(x) for x in block["device"]], np.asarray(block["index"]).astype(str).tolist(),
        reason, [text(x) for x in block["message"]],
        np.where(ok, np.where(np.asarray(block["clash"], bool), "1", "0"), "").tolist(),
    ]  # fmt: skip
    return [list(r) for r in zip(*columns)]


def _write_block(view, writer, block: dict, poses, features) -> None:
    if features is None:
        writer.write_rows(csv_rows(block))
        return
    from hpcfold.store.features import FeatureStore

    with FeatureStore(features) as store:
        for start in range(0, len(block["index"]), RECORD_BLOCK):
            rows = np.arange(start, min(start + RECORD_BLOCK, len(block["index"])))
            records = store.read(np.asarray(block["index"])[rows])
            for i, record in zip(rows.tolist(), records):
                writer.write(ligand_output(view, block, i, poses, record))
