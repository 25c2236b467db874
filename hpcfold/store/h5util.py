"""Small HDF5 helpers shared by the feature and results stores (h5py + numpy only).

Crash safety: HDF5 files are not crash-safe while open for writing, so hpcfold never modifies a
committed file in place. Every file is written under a temporary name, flushed to disk, and then
renamed over its final name with ``os.replace`` (atomic on POSIX). A reader therefore sees either
the old complete file or the new complete file, never a half-written one; a temporary file left
by a killed process is ignored by readers and removed by the next writer.

Text columns are stored as ragged UTF-8 bytes (``<name>/data`` uint8 plus ``<name>/offsets``
int64 of length n + 1): one contiguous read gives any slice of rows, far faster than HDF5
variable-length strings for millions of rows.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator, Sequence

import h5py
import numpy as np

TMP_SUFFIX = ".tmp"
COMPRESS_MIN = _COMPRESS_MIN = 4096  # datasets smaller than this many elements: uncompressed


def fsync_dir(path: str) -> None:
    """Flush a directory entry (rename/unlink) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_h5(
    path: str, write: Callable[[h5py.File], None], fsync: bool = True, cache_bytes: int = 0
) -> None:
    """Create ``path`` atomically: ``write(f)`` fills a temporary HDF5 file which then replaces it.

    The temporary name is unique per call (pid + random), so concurrent writers never collide.
    On any exception the temporary file is removed and ``path`` is untouched.
    ``cache_bytes``: HDF5's chunk cache per dataset (0: h5py's default).
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
    try:
        cache = {"rdcc_nbytes": int(cache_bytes)} if cache_bytes else {}
        with h5py.File(tmp, "w", libver="latest", locking=False, **cache) as f:
            write(f)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(directory)


def open_ro(path: str, cache_bytes: int | None = None) -> h5py.File:
    """Open an HDF5 file read-only without HDF5 file locking.

    Committed hpcfold files are never modified in place (see the module docstring), so locks are
    unnecessary, and they fail on some parallel file systems; many processes may open at once.
    ``cache_bytes``: HDF5's chunk cache per dataset (h5py's default, 8 MiB here, made a
    10-dataset shard file cost ~50 MB of a worker's memory while open).
    """
    if cache_bytes is None:
        return h5py.File(path, "r", locking=False)
    return h5py.File(path, "r", locking=False, rdcc_nbytes=int(cache_bytes))


def remove_stale_tmp(directory: str) -> int:
    """Delete leftover temporary files (from killed writers) in ``directory``; returns a count."""
    n = 0
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            if name.endswith(TMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))
                    n += 1
    return n


def remove_stale_tmp_of(path: str) -> None:
    """Delete temporary files left by a killed ``atomic_h5(path, ...)`` (same directory)."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = os.path.basename(path) + "."
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(prefix) and name.endswith(TMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))


def put(group: h5py.Group, name: str, data: np.ndarray, compress: bool = True) -> h5py.Dataset:
    """Write one dataset; large ones are chunked and gzip-compressed (level 1, shuffled)."""
    data = np.ascontiguousarray(data)
    if compress and data.size >= _COMPRESS_MIN:
        return group.create_dataset(
            name, data=data, compression="gzip", compression_opts=1, shuffle=True
        )
    return group.create_dataset(name, data=data)


# ---------------------------------------------------------------------------------- ragged
def offsets_from_lengths(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """(n + 1,) int64 offsets: row i spans ``[off[i], off[i + 1])``."""
    off = np.zeros(len(lengths) + 1, dtype=np.int64)
    if len(lengths):
        np.cumsum(np.asarray(lengths, dtype=np.int64), out=off[1:])
    return off


def concat(arrays: Sequence[np.ndarray], dtype, tail: tuple[int, ...] = ()) -> np.ndarray:
    """Concatenate along axis 0 with a fixed dtype; an empty list gives a (0, *tail) array."""
    if not arrays:
        return np.zeros((0, *tail), dtype=dtype)
    return np.concatenate([np.asarray(a, dtype=dtype).reshape(-1, *tail) for a in arrays])


def put_text(group: h5py.Group, name: str, texts: Sequence[str]) -> None:
    """Store strings as ragged UTF-8 bytes (``name/data`` uint8, ``name/offsets`` int64)."""
    encoded = [t.encode("utf-8", "surrogateescape") for t in texts]
    g = group.create_group(name)
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    put(g, "data", blob)
    put(g, "offsets", offsets_from_lengths([len(b) for b in encoded]), compress=False)


def split_text(data: np.ndarray, off: np.ndarray) -> list[str]:
    raw = data.tobytes()
    return [
        raw[int(off[i]) : int(off[i + 1])].decode("utf-8", "surrogateescape")
        for i in range(len(off) - 1)
    ]


def read_text_all(g: h5py.Group) -> list[str]:
    return split_text(g["data"][()], g["offsets"][()])


def text_array(texts: Sequence[str]) -> np.ndarray:
    """A 1-D numpy object array of str (keeps long strings cheap, unlike 'U' dtype)."""
    out = np.empty(len(texts), dtype=object)
    out[:] = list(texts)
    return out


def contiguous_runs(rows: np.ndarray) -> Iterator[tuple[int, int]]:
    """Split sorted unique row numbers into maximal runs: yields (start, stop) half-open."""
    if len(rows) == 0:
        return
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(rows)]])
    for a, b in zip(starts, stops):
        yield int(rows[a]), int(rows[b - 1]) + 1
