"""Results store compaction: fold live parts into the main file, optionally in the background.

``compact_files`` rewrites ``results.h5`` = old main + the given parts into a temporary file
that replaces the main file atomically (the new main records ``compacted_through`` = the last
part's seq); the caller then deletes those parts. Every source is verified against its
checksums while it is copied.

``Compactor`` runs one ``compact_files`` at a time in a daemon thread, so a screen's rank 0
keeps handing out chunks and committing new parts (seqs above the snapshot) meanwhile: the
parts a compaction reads are never modified, the new main only replaces the old one, and a
reader sees either old main + parts or new main + later parts. h5py serialises its calls, so a
commit waits at most for one block copy (``BLOCK_BYTES``) of the compaction.
"""

from __future__ import annotations

import json
import os
import threading
import time

from hpcfold.errors import UserError
from hpcfold.store import h5util, results_io
from hpcfold.store.lock import is_enospc
from hpcfold.store.results_io import PART_RE, CorruptFile

# chunk cache per dataset of the files a compaction reads and writes: data is copied in large
# blocks, so a big cache only costs rank 0 memory (h5py's 8 MiB x 8 datasets x 2 files)
CACHE_BYTES = 1 << 20


def disk_error(path: str, exc: OSError, what: str) -> UserError:
    """One line for a failed write: a full disk says so, and that the rerun resumes."""
    if is_enospc(exc):
        return UserError(
            f"disk full (or quota exceeded) while {what} {path}: everything committed before "
            "is intact; free space and rerun the same command to resume"
        )
    return UserError(f"cannot write results store {path} while {what}: {exc}")


def _sessions_and_stats(main, parts: list[str]) -> tuple[list, list]:
    """The main file's sessions and stats plus those the parts record (each opened in turn)."""
    sessions = json.loads(main.attrs["sessions_json"])
    stats = results_io.json_attr(main, "stats_json", [])
    for p in parts:
        with _open_part(p) as f:
            if "stats_json" in f.attrs:
                stats.append(json.loads(f.attrs["stats_json"]))
            if "meta_json" in f.attrs:
                sessions.append({
                    "session": int(f.attrs["session"]), "t_start": float(f.attrs["t_start"]),
                    "host": str(f.attrs["host"]), "pid": int(f.attrs["pid"]),
                    "meta": json.loads(f.attrs["meta_json"]),
                })  # fmt: skip
    return sessions, stats


def _open_part(p: str):
    try:
        return h5util.open_ro(p, CACHE_BYTES)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptFile(p, f"unreadable ({exc})") from None


class _Borrowed:
    """The open main file as a context manager that does not close it."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc) -> None:
        return None


def compact_files(path: str, live: list[str], fsync: bool, lock=None) -> int:
    """New main = main + ``live`` parts (atomic). Returns the last part's seq.

    The parts are opened one at a time (a compaction may fold ``max_parts`` of them).
    Raises ``UserError`` for a full disk or a corrupt main file, ``CorruptFile`` naming a
    corrupt part (the caller sets it aside)."""
    last_seq = int(PART_RE.match(os.path.basename(live[-1])).group(1))
    main = h5util.open_ro(path, CACHE_BYTES)
    try:
        sessions, stats = _sessions_and_stats(main, live)

        def open_source(src):
            return _Borrowed(main) if src is main else _open_part(src)

        def write(f) -> None:
            f.attrs.update(dict(main.attrs))
            f.attrs.update(sessions_json=json.dumps(sessions), compacted_through=last_seq,
                           stats_json=json.dumps(stats),
                           updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))  # fmt: skip
            results_io.concat_files(f, [main, *live], open_source)

        if lock is not None:
            lock.check()
        try:
            h5util.atomic_h5(path, write, fsync, cache_bytes=CACHE_BYTES)
        except OSError as exc:
            raise disk_error(path, exc, "compacting") from None
        except CorruptFile as exc:
            if exc.path == main.filename:
                raise UserError(
                    f"results store {path} is corrupt ({exc.why}); move it away and screen again"
                ) from None
            raise
    finally:
        main.close()
    return last_seq


class Compactor:
    """At most one background ``compact_files`` at a time; ``poll`` collects its outcome."""

    def __init__(self, path: str, fsync: bool, lock=None):
        self.path, self.fsync, self.lock = path, fsync, lock
        self._thread: threading.Thread | None = None
        self._outcome: tuple | None = None
        self.snapshot: list[str] = []

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, live: list[str]) -> None:
        if self.busy:
            raise RuntimeError("a compaction is already running")
        self.snapshot = list(live)

        def run() -> None:
            try:
                self._outcome = ("ok", compact_files(self.path, self.snapshot, self.fsync,
                                                     self.lock))  # fmt: skip
            except BaseException as exc:  # noqa: BLE001 - handed to the writer's thread
                self._outcome = ("error", exc)

        self._thread = threading.Thread(target=run, name="hpcfold-compact", daemon=True)
        self._thread.start()

    def poll(self, wait: bool = False) -> tuple | None:
        """None while running (or idle); else ("ok", last_seq) or ("error", exception), once."""
        if self._thread is None or (not wait and self._thread.is_alive()):
            return None
        self._thread.join()
        self._thread, outcome, self._outcome = None, self._outcome, None
        return outcome
