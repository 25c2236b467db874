"""Activity labels (active / decoy) for the ligands of a results store.

From a ``--labels`` CSV (``id,label`` with label active/decoy, 1/0, true/false) or, without one,
from the name of the input file each ligand was read from: a file stem containing ``decoy``
labels its ligands decoys, one containing ``active`` labels them actives (DUD-E's
``actives_final.ism`` / ``decoys_final.ism`` naming; ``decoy`` is tested first).
"""

from __future__ import annotations

import csv
import os

from hpcfold.errors import UserError


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


def source_file(source: str) -> str:
    """'path:line' -> 'path'."""
    head, sep, tail = source.rpartition(":")
    return head if sep and tail.isdigit() else source
