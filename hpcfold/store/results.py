"""Results store writer (rank 0 only): one ``results.h5``, crash-consistent, resumable.

Crash-safety scheme (docs/file-formats.md): HDF5 files are not crash-safe while open for
writing, so no file is ever modified in place.

* ``append`` writes the chunk as a small *part* file ``results.h5.parts/part-<seq>.h5`` under a
  temporary name, fsyncs it and ``os.replace``s it into place: a chunk is committed or absent.
* When the parts hold as many ligand rows as the main file (at least ``min_compact_rows``), when
  there are ``max_parts`` parts, and at ``close``, *compaction*
  rewrites ``results.h5`` = old main + parts into a temporary file and ``os.replace``s it; the
  new main records ``compacted_through`` = the last part's seq, then the parts are deleted.
  Main doubles between compactions, so the total rewrite cost is amortised O(total size).
* On open (writer or reader), parts with seq <= ``compacted_through`` are stale (a crash hit
  between the replace and the deletes) and are ignored/deleted; the others are folded in.

Every writer open is a *session*: a zero-row part records its metadata and start time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import warnings

import numpy as np

from hpcfold.errors import UserError
from hpcfold.store import compaction, h5util, results_io
from hpcfold.store.lock import StoreLock
from hpcfold.store.results_done import DoneIndex
from hpcfold.store.results_io import CorruptFile, list_parts, parts_dir
from hpcfold.store.results_rows import chunk_columns
from hpcfold.store.results_view import ResultsView, open_results, validate_results  # noqa: F401
from hpcfold.types import SCHEMA_VERSION, DockResult, Failure

__all__ = [
    "ResultsWriter",
    "ResultsView",
    "open_results",
    "validate_results",
    "parts_dir",
    "stored_meta",
]

META_MUST_MATCH = ("n_ligands", "receptor_sha256")
LOG = logging.getLogger("hpcfold")


_disk_error = compaction.disk_error


def stored_meta(path: str) -> dict | None:
    """The run metadata of an existing results store (None when there is none): read from
    the main file's attributes alone, whatever the store's size."""
    if not os.path.isfile(path):
        return None
    try:
        with h5util.open_ro(path) as f:
            if f.attrs.get("kind") != results_io.MAIN_KIND:
                raise UserError(f"{path} exists and is not an hpcfold results store")
            return json.loads(f.attrs["meta_json"])
    except OSError as exc:
        raise UserError(f"cannot open results store {path}: {exc}") from None


class ResultsWriter:
    """Single writer of a results store (MPI rank 0). Reopening the same path resumes."""

    def __init__(
        self,
        path: str,
        meta: dict,
        *,
        min_compact_rows: int = 4096,
        max_parts: int = 1024,
        max_poses: int | None = None,
        commit_seconds: float = 0.0,
        fsync: bool = True,
        lock: bool = True,
        retry_dock_errors: bool = True,
        background: bool = False,
        close_compact_rows: int = 1 << 21,
        hit_threshold: float | None = None,
    ):
        self.path = os.fspath(path)
        self.pdir = parts_dir(self.path)
        self.meta = dict(meta)
        self.min_compact_rows, self.max_parts = int(min_compact_rows), int(max_parts)
        self.max_poses, self.fsync = max_poses, fsync
        self.commit_seconds = float(commit_seconds)
        self.retry_dock_errors = retry_dock_errors
        self.close_compact_rows = int(close_compact_rows)
        self.hit_threshold = hit_threshold
        self._rows_of: dict[str, int] = {}  # live part -> its ligand rows
        self._pending: list[dict] = []
        self._last_commit = time.monotonic()
        self._features = None
        self.closed = False
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise UserError(f"cannot create results store {self.path}: no folder {parent}")
        # one writer per store, before anything is touched (the tmp files below may be a
        # live writer's)
        self._lock = StoreLock(self.path, "hpcfold screen") if lock else None
        if self._lock is not None:
            self._lock.acquire()
        self._bg = compaction.Compactor(self.path, fsync, self._lock) if background else None
        try:
            self._open(meta)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def _open(self, meta: dict) -> None:
        try:
            os.makedirs(self.pdir, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create results store {self.path}: {exc}") from exc
        h5util.remove_stale_tmp(self.pdir)
        h5util.remove_stale_tmp_of(self.path)  # a compaction killed midway
        meta_json = json.dumps(self.meta, sort_keys=True, default=str)
        if not os.path.exists(self.path):
            self._write_empty_main(meta_json)
        self._load_state()
        self.session = self._max_session + 1
        self.n_compactions = 0
        self._write_part({}, session_meta=meta_json)  # session record

    # ---------------------------------------------------------------------------- state
    def _write_empty_main(self, meta_json: str) -> None:
        def write(f) -> None:
            f.attrs.update(
                kind=results_io.MAIN_KIND, schema_version=SCHEMA_VERSION, meta_json=meta_json,
                sessions_json="[]", compacted_through=-1,
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )  # fmt: skip
            crcs: dict = {}
            for group in results_io.GROUPS:
                results_io.write_group(f, group, results_io.empty_group(group), crcs)
            f.attrs[results_io.CRC_ATTR] = json.dumps(crcs, sort_keys=True)

        try:
            h5util.atomic_h5(self.path, write, self.fsync)
        except OSError as exc:
            raise _disk_error(self.path, exc, "creating") from None

    def _load_state(self) -> None:
        try:
            main = h5util.open_ro(self.path)
        except OSError as exc:
            raise UserError(
                f"cannot open results store {self.path} ({exc}): it is damaged; move it away "
                "and screen again (its parts folder alone cannot be resumed)"
            ) from None
        with main:
            if main.attrs.get("kind") != results_io.MAIN_KIND:
                raise UserError(f"{self.path} exists and is not an hpcfold results store")
            if int(main.attrs["schema_version"]) != SCHEMA_VERSION:
                raise UserError(f"{self.path}: results schema {main.attrs['schema_version']}")
            old = json.loads(main.attrs["meta_json"])
            for k in META_MUST_MATCH:
                if k in old and k in self.meta and str(old[k]) != str(self.meta[k]):
                    raise UserError(
                        f"{self.path} holds results for {k}={old[k]!r}, this run has "
                        f"{self.meta[k]!r}: use another output path"
                    )
            self.compacted_through = int(main.attrs["compacted_through"])
            sessions = json.loads(main.attrs["sessions_json"])
            index = DoneIndex(int(self.meta.get("n_ligands", 0) or 0))
            self._main_rows = index.add_file(main)
        self._max_session = max((int(s["session"]) for s in sessions), default=0)
        self._live: list[str] = []
        self._parts_rows = 0
        self._next_seq = self.compacted_through + 1
        for seq, p in list_parts(self.path):
            if seq <= self.compacted_through:  # already compacted: a crash left it behind
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
                continue
            self._next_seq = seq + 1
            rows = self._read_part(p, index)
            if rows is None:
                continue
            self._live.append(p)
            self._rows_of[p] = rows
            self._parts_rows += rows
        self._done, self.retried, self._n_failed = index.finish(self.retry_dock_errors)

    def _read_part(self, p: str, index: DoneIndex) -> int | None:
        """Check a live part and add its rows to ``index``; returns its ligand rows. A
        truncated, unreadable or corrupt part is set aside (renamed ``*.corrupt``) with a
        warning and None returned: its ligands count as not done, so the screen docks them
        again."""
        try:
            with h5util.open_ro(p) as f:
                why = results_io.verify(f)
                if why is None:
                    rows = index.add_file(f, staged=True)
                    self._max_session = max(self._max_session, int(f.attrs["session"]))
                    return rows
        except (OSError, KeyError, ValueError) as exc:
            why = f"unreadable ({exc})"
        self._set_aside(p, why)
        return None

    def _set_aside(self, p: str, why: str) -> None:
        dst = results_io.set_aside(p)
        LOG.warning("results part %s is corrupt (%s): set aside as %s; its ligands are docked "
                    "again", p, why, os.path.basename(dst))  # fmt: skip
        warnings.warn(f"corrupt results part {p} set aside: {why}", stacklevel=3)

    def n_failed(self) -> int:
        """Failed ligands committed so far (all sessions)."""
        return self._n_failed

    def n_done(self) -> int:
        """Ligands committed so far (all sessions), ok or failed."""
        return int(np.count_nonzero(self._done))

    def is_done(self, indices) -> np.ndarray:
        """(k,) bool: which of ``indices`` already have a committed result (O(k))."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.zeros(len(idx), bool)
        inside = idx < len(self._done)
        out[inside] = self._done[idx[inside]]
        return out

    def record_stats(self, stats: dict) -> None:
        """Commit a JSON-serialisable summary (e.g. final per-rank stats) of this session."""
        self._write_part({}, stats_json=json.dumps(stats, sort_keys=True, default=str))

    def done_indices(self) -> np.ndarray:
        """Sorted global ligand indices already committed (main file and parts)."""
        return np.flatnonzero(self._done).astype(np.int64)

    # ---------------------------------------------------------------------------- append
    def _smiles(self, indices: np.ndarray, items: list) -> list[str]:
        path = self.meta.get("features")
        if path and os.path.isfile(str(path)):
            if self._features is None:  # reads the SMILES asked for, no per-ligand column
                from hpcfold.store.feature_reader import ChunkReader

                self._features = ChunkReader(str(path))
            if len(indices) and int(indices.max()) < self._features.n_ligands:
                return self._features.smiles(indices)
        return [it.smiles if isinstance(it, Failure) else "" for it in items]

    def append(self, indices, items: list[DockResult | Failure], info: dict) -> int:
        """Commit one chunk (atomic). Returns the number of ligands written.

        With ``commit_seconds`` > 0 chunks are grouped: they are committed together once that
        many seconds passed since the last commit (and by ``flush``/``close``); a crash loses
        at most that window, which a rerun redoes (the committed store stays consistent).

        ``info`` keys (all optional): chunk_id, rank, device, host, t_start, t_done (unix s),
        busy_s (kernel seconds of this chunk; ``seconds`` is accepted as an alias), wall_s
        (worker wall seconds of this chunk; when 0 rank_stats uses the span of t_done),
        smiles (list, else taken from the feature store named by meta['features']).
        Other keys are kept as JSON in the chunk table's ``extra``. Indices already committed
        are skipped with a warning (the first result wins), never duplicated.
        """
        if self.closed:
            raise RuntimeError("ResultsWriter is closed")
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) != len(items):
            raise ValueError(f"{len(idx)} indices but {len(items)} items")
        if len(np.unique(idx)) != len(idx) or (idx.size and idx.min() < 0):
            raise ValueError("chunk indices must be unique and non-negative")
        if idx.size and int(idx.max()) >= len(self._done):
            self._done = np.concatenate([self._done, np.zeros(int(idx.max()) + 1, bool)])
        smiles = list(info["smiles"]) if "smiles" in info else self._smiles(idx, items)
        fresh = ~self._done[idx]
        if not fresh.all():
            warnings.warn(
                f"results for ligands {idx[~fresh][:10].tolist()} already stored; kept the first",
                stacklevel=2,
            )
        sel = np.flatnonzero(fresh)
        cols = chunk_columns(idx[sel], [items[i] for i in sel], [smiles[i] for i in sel], info,
                             self.session, self.max_poses, self.hit_threshold)  # fmt: skip
        self._pending.append(cols)
        self._done[idx[sel]] = True
        self._n_failed += int(np.count_nonzero(cols["ligands"]["rows"]["status"]))
        if time.monotonic() - self._last_commit >= self.commit_seconds:
            self.flush()
        return len(sel)

    @property
    def n_pending(self) -> int:
        """Chunks appended but not committed yet (``commit_seconds`` grouping)."""
        return len(self._pending)

    def flush(self) -> None:
        """Commit the pending chunks as one part file; compact when the parts are big enough."""
        self._last_commit = time.monotonic()
        if not self._pending:
            return
        self._write_part(results_io.merge_columns(self._pending))
        self._pending = []
        self._poll_background()
        if self._bg is not None and self._bg.busy:
            return  # one compaction at a time; the next flush checks again
        if self._want_compaction():
            if self._bg is not None:  # rank 0 keeps handing out chunks meanwhile
                self._bg.start(self._live)
            else:
                self.compact()

    def _write_part(self, cols: dict, session_meta: str | None = None, stats_json=None) -> None:
        seq = self._next_seq
        path = os.path.join(self.pdir, f"part-{seq:09d}.h5")

        def write(f) -> None:
            f.attrs.update(kind=results_io.PART_KIND, schema_version=SCHEMA_VERSION, seq=seq,
                           session=self.session)  # fmt: skip
            if session_meta is not None:
                f.attrs.update(meta_json=session_meta, t_start=time.time(),
                               host=socket.gethostname(), pid=os.getpid())  # fmt: skip
            if stats_json is not None:
                f.attrs["stats_json"] = stats_json
            crcs: dict = {}
            for group in results_io.GROUPS:
                data = cols.get(group) or results_io.empty_group(group)
                results_io.write_group(f, group, data, crcs)
            f.attrs[results_io.CRC_ATTR] = json.dumps(crcs, sort_keys=True)

        if self._lock is not None:
            self._lock.check()
        try:
            h5util.atomic_h5(path, write, self.fsync)
        except OSError as exc:
            raise _disk_error(self.path, exc, "committing to") from None
        self._next_seq += 1
        self._live.append(path)
        self._rows_of[path] = len(cols["ligands"]["rows"]) if cols else 0
        self._parts_rows += self._rows_of[path]

    # ---------------------------------------------------------------------------- compaction
    def _want_compaction(self) -> bool:
        """Parts hold as many rows as main (main doubles: O(total) rewritten in all), or
        there are ``max_parts`` parts holding at least 1/16 of main (at most ~17x)."""
        rows = self._parts_rows
        return rows >= max(self._main_rows, self.min_compact_rows) or (
            len(self._live) >= self.max_parts and 16 * rows >= self._main_rows
        )

    def _fold_in(self, live: list[str], last_seq: int) -> None:
        """Bookkeeping after ``live`` went into the main file: delete those parts."""
        self.compacted_through = last_seq
        for p in live:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        if self.fsync:
            h5util.fsync_dir(self.pdir)
        done = set(live)
        rows = sum(self._rows_of.pop(p, 0) for p in live)
        self._main_rows += rows
        self._parts_rows -= rows
        self._live = [p for p in self._live if p not in done]
        self.n_compactions += 1

    def _outcome(self, live: list[str], outcome) -> None:
        kind, value = outcome
        if kind == "ok":
            self._fold_in(live, value)
            return
        if isinstance(value, CorruptFile):
            self._set_aside(value.path, value.why)
            self._live = [p for p in self._live if p != value.path]
            self._parts_rows -= self._rows_of.pop(value.path, 0)
            raise UserError(
                f"results part {value.path} was corrupt and is set aside; rerun the same "
                "command to dock its ligands again"
            ) from None
        raise value

    def _poll_background(self, wait: bool = False) -> None:
        if self._bg is None:
            return
        live = self._bg.snapshot
        outcome = self._bg.poll(wait=wait)
        if outcome is not None:
            self._outcome(live, outcome)

    def compact(self) -> None:
        """Fold all live parts into the main file now (tmp + os.replace), then delete them
        (a background compaction, if one runs, is finished first)."""
        self._poll_background(wait=True)
        if not self._live:
            return
        live = list(self._live)
        try:
            self._outcome(live, ("ok", compaction.compact_files(self.path, live, self.fsync,
                                                                 self._lock)))  # fmt: skip
        except CorruptFile as exc:
            self._outcome(live, ("error", exc))

    def close(self) -> None:
        """Finish: commit what is pending, then compact everything into ``results.h5``, unless
        the store is larger than ``close_compact_rows`` and the parts do not call for it (a
        huge main file is not rewritten for a few parts; readers read them too)."""
        if self.closed:
            return
        try:
            self.flush()
            self._poll_background(wait=True)
            if self._main_rows + self._parts_rows <= self.close_compact_rows or (
                self._want_compaction()
            ):
                self.compact()
        finally:
            self.closed = True
            if self._bg is not None:
                self._bg.poll(wait=True)
            if self._features is not None:
                self._features.close()
            if self._lock is not None:
                self._lock.release()

    def __del__(self) -> None:  # dropped without close (as a crash would): free the lock
        lock = getattr(self, "_lock", None)
        if lock is not None and not getattr(self, "closed", True):
            with contextlib.suppress(Exception):  # at interpreter exit, modules may be gone
                lock.release()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
