"""The results writer's done bitmap, built from stored rows in bounded blocks (numpy + h5py).

Resume reads only the (index, status, reason) fields of every stored row, ``BLOCK_ROWS`` at a
time, into one byte of flags per ligand; ``finish`` turns them into the done bitmap (one bool
per ligand) that the writer keeps. Peak memory is 2 bytes per ligand plus one block, whatever
the store's size: no array of every row or index is ever held.
"""

from __future__ import annotations

import numpy as np

from hpcfold.types import Reason

BLOCK_ROWS = 1 << 16  # rows read at a time (11 bytes each, ~30 bytes of temporaries)
FIELDS = ["index", "status", "reason"]
DONE, OK, OTHER_FAIL = 1, 2, 4  # flag bits: any row; an ok row; a failure other than DOCK_ERROR


class DoneIndex:
    """Flags per ligand index, filled file by file (``add_file``), then ``finish``.

    DOCK_ERROR rows (a chunk that raised twice) are kept as a list of their indices, which is
    as long as those failures, not as the library."""

    def __init__(self, n_ligands: int):
        self.flags = np.zeros(max(int(n_ligands), 0), np.uint8)
        self._dock_err: list[np.ndarray] = []

    def _grow(self, top: int) -> None:
        if top >= len(self.flags):  # indices beyond the library size the meta gave
            grown = np.zeros(max(top + 1, 2 * len(self.flags)), np.uint8)
            grown[: len(self.flags)] = self.flags
            self.flags = grown

    def add_rows(self, rows: np.ndarray) -> None:
        """Mark one block of rows (a structured array with ``FIELDS``)."""
        idx = rows["index"].astype(np.int64)
        if not idx.size:
            return
        self._grow(int(idx.max()))
        failed = rows["status"] != 0
        dock_err = failed & (rows["reason"] == int(Reason.DOCK_ERROR))
        self.flags[idx] |= DONE
        self.flags[idx[~failed]] |= OK
        self.flags[idx[failed & ~dock_err]] |= OTHER_FAIL
        if dock_err.any():
            self._dock_err.append(idx[dock_err])

    def add_file(self, f, staged: bool = False, block_rows: int | None = None) -> int:
        """Add every ligand row of an open results file, block by block; returns its rows.

        ``staged``: read every block before marking any (a part whose read fails midway then
        adds nothing and its ligands are docked again; parts hold one commit each)."""
        ds = f["ligands/rows"]
        n = int(ds.shape[0])
        view, block_rows = ds.fields(FIELDS), int(block_rows or BLOCK_ROWS)
        blocks = (view[a : min(n, a + block_rows)] for a in range(0, n, block_rows))
        for rows in list(blocks) if staged else blocks:
            self.add_rows(rows)
        return n

    def finish(self, retry_dock_errors: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """(done bitmap (n,) bool, indices docked once more, failed ligands).

        A ligand whose only row is a DOCK_ERROR failure (its chunk raised twice) is docked
        once more on resume (``retry_dock_errors``): it counts as not done, and its new row
        supersedes the old one (readers prefer any row to a DOCK_ERROR failure). A ligand
        with two such rows was retried already and stays failed."""
        flags = self.flags
        retried = np.zeros(0, np.int64)
        if retry_dock_errors and self._dock_err:
            cand, count = np.unique(np.concatenate(self._dock_err), return_counts=True)
            cand = cand[(count == 1) & ((flags[cand] & (OK | OTHER_FAIL)) == 0)]
            flags[cand] &= ~np.uint8(DONE)
            retried = cand
        done = np.empty(len(flags), bool)
        n_failed = 0
        for a in range(0, len(flags), BLOCK_ROWS):
            blk = flags[a : a + BLOCK_ROWS]
            done[a : a + BLOCK_ROWS] = (blk & DONE) != 0
            n_failed += int(np.count_nonzero((blk & (DONE | OK)) == DONE))
        self.flags, self._dock_err = np.zeros(0, np.uint8), []
        return done, retried, n_failed
