"""Prep's resume at scale: committed keys as bitmaps, and the check that inputs did not change.

``completed_mask`` gives the keys every writer committed so far as one byte per record (a set
of tuples costs ~190 bytes per ligand on every rank). ``check_inputs_unchanged`` refuses to
resume a prep whose input files changed since its shards were written (size, mtime, sha256 of
the first and last MiB), which would otherwise mix records of two versions of a file.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from hpcfold.errors import UserError
from hpcfold.store import h5util
from hpcfold.store.features import _with_retry, list_sources, normalize_inputs, shards_dir

__all__ = ["DoneKeys", "completed_mask", "input_fingerprints", "check_inputs_unchanged"]


class DoneKeys:
    """Keys already committed, as one bitmap per input file (1 byte per record, not a set
    of tuples): ``(file index, record index) in done``."""

    def __init__(self, n_inputs: int = 0):
        self.masks: list[np.ndarray] = [np.zeros(0, bool) for _ in range(n_inputs)]

    def add(self, keys: np.ndarray) -> None:
        """Mark (n, 2) int64 keys as done."""
        for fi in np.unique(keys[:, 0]).tolist():
            rec = keys[keys[:, 0] == fi, 1]
            while len(self.masks) <= fi:
                self.masks.append(np.zeros(0, bool))
            m = self.masks[fi]
            if rec.size and int(rec.max()) >= len(m):
                grown = np.zeros(max(int(rec.max()) + 1, 2 * len(m)), bool)
                grown[: len(m)] = m
                self.masks[fi] = m = grown
            m[rec] = True

    def __contains__(self, key) -> bool:
        fi, rec = int(key[0]), int(key[1])
        return (
            0 <= fi < len(self.masks)
            and 0 <= rec < len(self.masks[fi])
            and bool(self.masks[fi][rec])
        )

    def __len__(self) -> int:
        return int(sum(np.count_nonzero(m) for m in self.masks))


def completed_mask(path: str) -> DoneKeys:
    """Keys of every ligand committed by any writer so far, in bounded memory (``DoneKeys``)."""
    sdir = shards_dir(path)

    def scan() -> DoneKeys:
        done = DoneKeys()
        for rel in list_sources(sdir):
            with h5util.open_ro(os.path.join(sdir, rel)) as f:
                keys = f["ligands/rows"].fields("key")  # a merged shard is one rank's output
                n = int(f["ligands/rows"].shape[0])
                for a in range(0, n, KEY_BLOCK):
                    done.add(keys[a : min(n, a + KEY_BLOCK)])
        return done

    return _with_retry(scan)


HEAD_TAIL = 1 << 20  # bytes hashed at each end of an input file
KEY_BLOCK = 1 << 16  # shard rows whose keys are read at a time
INPUTS_FILE = "inputs.json"


def input_fingerprint(path: str) -> dict:
    """{path, size, mtime_ns, sha256 of the first and last MiB} of one input file."""
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(HEAD_TAIL))
        if st.st_size > HEAD_TAIL:
            fh.seek(max(HEAD_TAIL, st.st_size - HEAD_TAIL))
            h.update(fh.read(HEAD_TAIL))
    return {"path": os.path.normpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256_head_tail": h.hexdigest()}  # fmt: skip


def input_fingerprints(inputs: list[str]) -> list[dict]:
    out = []
    for p in inputs:
        try:
            out.append(input_fingerprint(p))
        except OSError:  # finalize of a store whose inputs moved: nothing to record
            out.append({"path": os.path.normpath(p)})
    return out


def check_inputs_unchanged(path: str, inputs: list[str]) -> None:
    """Refuse to resume a prep whose input files changed since its shards were written.

    The shards folder records each input's size, mtime and head/tail hash when a prep starts
    (``inputs.json``). A rerun whose inputs differ would mix records of the old and the new
    files under the same keys, so it is refused (nothing is deleted): the message says how to
    start afresh. A fresh store (no committed shard yet) records the inputs and goes on."""
    sdir = shards_dir(path)
    record = os.path.join(sdir, INPUTS_FILE)
    now = input_fingerprints(normalize_inputs(inputs))
    try:
        with open(record, encoding="utf-8") as fh:
            old = json.load(fh)
    except FileNotFoundError:
        old = None
    except ValueError:
        old = None  # a torn write cannot happen (atomic), but never trust it blindly
    if old is not None and list_sources(sdir):
        keys = ("size", "mtime_ns", "sha256_head_tail")
        for a, b in zip(old, now):
            changed = [k for k in keys if a.get(k) != b.get(k)]
            if a.get("path") == b.get("path") and changed:
                raise UserError(
                    f"input {b['path']} changed since the interrupted prep into {path} "
                    f"({', '.join(changed)} differ): resuming would mix old and new records; "
                    f"refused. Restore the file, or delete {path} and {sdir} (or use another "
                    "output) to prepare afresh"
                )
        if len(old) == len(now) and all(a.get("path") == b.get("path") for a, b in zip(old, now)):
            return
    os.makedirs(sdir, exist_ok=True)
    tmp = f"{record}.{os.getpid()}{h5util.TMP_SUFFIX}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(now, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, record)
