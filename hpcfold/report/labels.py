"""Activity labels (active / decoy) for the ligands of a results store.

From a ``--labels`` CSV (``id,label`` with label active/decoy, 1/0, true/false) or, without one,
from the name of the input file each ligand was read from: a file stem containing ``decoy``
labels its ligands decoys, one containing ``active`` labels them actives (DUD-E's
``actives_final.ism`` / ``decoys_final.ism`` naming; ``decoy`` is tested first).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from hpcfold.errors import UserError
from hpcfold.report.export import feature_store_path, text


def label_of_name(name: str) -> bool | None:
    """Activity label from a file name: stem with 'active' -> True, 'decoy' -> False."""
    stem = os.path.splitext(os.path.basename(name))[0].lower()
    if "decoy" in stem:
        return False
    if "active" in stem:
        return True
    return None


def parse_label(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "active", "actives", "true", "yes", "a"):
        return True
    if v in ("0", "decoy", "decoys", "inactive", "false", "no", "d"):
        return False
    raise UserError(f"unknown activity label {value!r} (use active/decoy or 1/0)")


def is_label(value: str) -> bool:
    """Whether ``value`` is an activity label ``parse_label`` reads."""
    try:
        parse_label(value)
    except UserError:
        return False
    return True


def read_labels_csv(path: str) -> dict[str, bool]:
    """``id,label`` rows -> {ligand id: is active}. The first row is a header exactly when its
    second column is not a label (``id,label``, ``name,activity``); ``A1,active`` is data."""
    if not os.path.exists(path):
        raise UserError(f"labels file {path} not found")
    out: dict[str, bool] = {}
    first = True
    with open(path, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh)):
            if not row or not row[0].strip() or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise UserError(f"{path}:{n + 1}: expected 'id,label', got {','.join(row)!r}")
            if first and not is_label(row[1]):
                first = False
                continue  # header
            first = False
            out[row[0].strip()] = parse_label(row[1])
    return out


def _source_file(source: str) -> str:
    """'path:line' -> 'path'."""
    head, sep, tail = source.rpartition(":")
    return head if sep and tail.isdigit() else source


def labels_from_sources(features: str, index: np.ndarray) -> np.ndarray | None:
    """(L,) int8 per ligand index: 1 active, 0 decoy, -1 unknown, from the name of the input
    file each ligand came from (the feature store's ``source`` = 'path:line'); None when no
    input file name carries a label (then no ligand is looked at)."""
    from hpcfold.store.features import FeatureStore

    with FeatureStore(features) as store:
        if all(label_of_name(p) is None for p in store.inputs):
            return None
        by_file: dict[str, bool | None] = {}
        out = np.full(len(index), -1, dtype=np.int8)
        for start in range(0, len(index), 65536):
            block = np.asarray(index[start : start + 65536], dtype=np.int64)
            for k, source in enumerate(store.sources(block)):
                name = _source_file(source)
                if name not in by_file:
                    by_file[name] = label_of_name(name)
                if by_file[name] is not None:
                    out[start + k] = int(by_file[name])
        return out


@dataclass(frozen=True)
class Labels:
    """Activity labels aligned with the results table: ``known`` rows and their ``active``."""

    known: np.ndarray  # (N,) bool
    active: np.ndarray  # (N,) bool, meaningful where known
    origin: str  # where they came from, for the page


def table_labels(view, results_path: str, table: dict, labels_csv: str | None) -> Labels | None:
    """Labels for the table's rows, or None when no ligand carries one."""
    n = len(table["index"])
    known = np.zeros(n, dtype=bool)
    active = np.zeros(n, dtype=bool)
    if labels_csv:
        by_id = read_labels_csv(labels_csv)
        for row, lig_id in enumerate(table["lig_id"]):
            lab = by_id.get(text(lig_id))
            if lab is not None:
                known[row], active[row] = True, lab
        origin = f"labels file {os.path.basename(labels_csv)}"
    else:
        try:
            features = feature_store_path(view, results_path)
        except UserError:
            return None  # the feature store moved: no labels from file names
        coded = labels_from_sources(features, np.asarray(table["index"]))
        if coded is None:
            return None
        known, active = coded >= 0, coded == 1
        origin = "input file names (active / decoy in the file name)"
    if not known.any():
        return None
    return Labels(known=known, active=active, origin=origin)
