"""Feature store writer side: per-rank crash-safe shards, resume keys, and rank-0 finalize.

Layout (docs/file-formats.md): ``lib.h5`` is the index written by ``finalize``;
``lib.h5.shards/`` holds the data. Each writer (one MPI rank of one prep run) owns the shard
``r<rank>-<run_id>``: while it runs, every committed batch is a segment file
``r<rank>-<run_id>/seg-<n>.h5`` written to a temporary name and ``os.replace``'d (atomic), so a
``kill -9`` at any moment leaves only complete segments (plus an ignored ``*.tmp``). ``close()``
merges the segments into ``r<rank>-<run_id>.h5`` (atomic too) and removes them. Readers treat a
merged shard and its segments alike and dedupe rows by key, so every crash point is resumable.

Typical use (every rank)::

    done = completed_keys(out)            # skip these records
    with FeatureWriter(out, rank, run_id, inputs) as w:
        for key, raw in my_records:       # key = (input file index, record index)
            if key not in done:
                w.add(key, prepare_record(raw, opts))
    # barrier, then rank 0 only:
    counts = finalize(out, inputs)

The reader (``FeatureStore``, ``Chunk``) lives in ``hpcfold.store.feature_reader`` and is
re-exported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time

import numpy as np

from hpcfold import __version__
from hpcfold.errors import UserError
from hpcfold.store import h5util, index_table, segments
from hpcfold.store.feature_reader import INDEX_KIND, Chunk, FeatureStore  # noqa: F401
from hpcfold.types import BUCKETS, SCHEMA_VERSION, Failure, LigandRecord

__all__ = ["FeatureWriter", "completed_keys", "finalize", "FeatureStore", "Chunk", "shards_dir"]

_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SEG = re.compile(r"^seg-(\d+)\.h5$")
MAX_MERGE_ROWS = 200_000  # larger shards stay as segments (merge holds a shard in memory)


def shards_dir(path: str) -> str:
    return os.fspath(path) + ".shards"


def normalize_inputs(inputs: list[str]) -> list[str]:
    return [os.path.normpath(os.fspath(p)) for p in inputs]


def list_sources(sdir: str) -> list[str]:
    """Committed shard files relative to ``sdir``, deterministic: merged shard, then segments."""
    try:
        names = os.listdir(sdir)
    except FileNotFoundError:
        return []
    shards = sorted(
        {n[:-3] for n in names if n.endswith(".h5")}
        | {n for n in names if os.path.isdir(os.path.join(sdir, n))}
    )
    out = []
    for name in shards:
        if os.path.isfile(os.path.join(sdir, name + ".h5")):
            out.append(name + ".h5")
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            segs = sorted(n for n in os.listdir(os.path.join(sdir, name)) if _SEG.match(n))
            out.extend(f"{name}/{s}" for s in segs)
    return out


def _with_retry(fn, attempts: int = 5):
    """Run ``fn`` again when a shard vanished under it (a concurrent writer merged its segments)."""
    for i in range(attempts):
        try:
            return fn()
        except FileNotFoundError:
            if i == attempts - 1:
                raise
            time.sleep(0.05 * (i + 1))


def completed_keys(path: str) -> set[tuple[int, int]]:
    """Keys ``(input file index, record index)`` of every ligand committed by any writer so far."""
    sdir = shards_dir(path)

    def scan() -> set[tuple[int, int]]:
        keys: set[tuple[int, int]] = set()
        for rel in list_sources(sdir):
            with h5util.open_ro(os.path.join(sdir, rel)) as f:
                k = segments.read_keys(f)
            keys.update(zip(k[:, 0].tolist(), k[:, 1].tolist()))
        return keys

    return _with_retry(scan)


class FeatureWriter:
    """Appends prepared ligands of one rank of one prep run to its own shard (crash-safe).

    ``add`` buffers; every ``batch_size`` ligands or ``flush_seconds`` (checked on add) the
    buffer is committed as one segment file (atomic rename). Only buffered, uncommitted ligands
    are lost on a crash; a rerun redoes exactly those (see ``completed_keys``).
    A ``LigandRecord`` that fits no size bucket is stored as ``Failure(TOO_LARGE)``; an
    internally inconsistent one as ``Failure(INTERNAL_ERROR)`` with the problem as message.
    """

    def __init__(
        self,
        path: str,
        rank: int,
        run_id: str,
        inputs: list[str],
        batch_size: int = 1000,
        flush_seconds: float = 60.0,
        fsync: bool = True,
    ):
        if not _RUN_ID.match(str(run_id)):
            raise ValueError(f"run_id must match {_RUN_ID.pattern}, got {run_id!r}")
        if int(rank) < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        self.path = os.fspath(path)
        self.name = f"r{int(rank):05d}-{run_id}"
        self.sdir = shards_dir(self.path)
        self.segdir = os.path.join(self.sdir, self.name)
        self.inputs = normalize_inputs(inputs)
        self.batch_size, self.flush_seconds, self.fsync = int(batch_size), flush_seconds, fsync
        _check_index_inputs(self.path, self.inputs)
        try:
            os.makedirs(self.segdir, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create feature store shards in {self.sdir}: {exc}") from exc
        h5util.remove_stale_tmp(self.segdir)
        segs = [int(m.group(1)) for n in os.listdir(self.segdir) if (m := _SEG.match(n))]
        self._next = max(segs, default=-1) + 1
        self._attrs = {"rank": int(rank), "run_id": str(run_id), "inputs": json.dumps(self.inputs)}
        self._keys: list[tuple[int, int]] = []
        self._items: list[LigandRecord | Failure] = []
        self._buckets: list[int] = []
        self._seen: set[tuple[int, int]] = set()
        self._last = time.monotonic()
        self.n_added = 0
        self.closed = False

    def add(self, key: tuple[int, int], item: LigandRecord | Failure) -> None:
        if self.closed:
            raise RuntimeError("FeatureWriter is closed")
        k = (int(key[0]), int(key[1]))
        if not (0 <= k[0] < len(self.inputs) and k[1] >= 0):
            raise ValueError(f"key must be (input index < {len(self.inputs)}, record >= 0): {key}")
        if k in self._seen:
            raise ValueError(f"key {k} added twice to the same FeatureWriter")
        item, bucket = segments.normalize_item(item)
        self._seen.add(k)
        self._keys.append(k)
        self._items.append(item)
        self._buckets.append(bucket)
        self.n_added += 1
        if len(self._keys) >= self.batch_size or (
            time.monotonic() - self._last >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Commit the buffered ligands as one segment file (atomic); a no-op when empty."""
        self._last = time.monotonic()
        if not self._keys:
            return
        seg = os.path.join(self.segdir, f"seg-{self._next:06d}.h5")
        segments.write_rows(seg, self._keys, self._items, self._buckets, self._attrs, self.fsync)
        self._next += 1
        self._keys, self._items, self._buckets = [], [], []

    def close(self) -> None:
        """Flush, then merge this writer's segments into one shard file (crash-safe)."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        merge_shard(self.sdir, self.name, self._attrs, self.fsync)

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_source(path: str):
    with h5util.open_ro(path) as f:
        segments.check_shard(f, path)
        keys = segments.read_keys(f)
        buckets = f["ligands/rows"].fields("bucket")[()]
        items = segments.read_rows(f, 0, len(keys))
    return keys, buckets, items


def merge_shard(sdir: str, name: str, attrs: dict, fsync: bool = True) -> bool:
    """Fold the segments of shard ``name`` (and its merged file, if any) into ``name.h5``.

    Order of operations makes every crash point safe: the new merged file replaces the old one
    atomically, then segments are unlinked; a reader seeing both dedupes by key.
    Returns False (nothing done) when there are no segments or the shard is too large.
    """
    segdir = os.path.join(sdir, name)
    h5util.remove_stale_tmp(segdir)
    segs = sorted(n for n in os.listdir(segdir) if _SEG.match(n)) if os.path.isdir(segdir) else []
    if not segs:
        with contextlib.suppress(OSError):
            os.rmdir(segdir)
        return False
    merged = os.path.join(sdir, name + ".h5")
    sources = ([merged] if os.path.isfile(merged) else []) + [os.path.join(segdir, s) for s in segs]
    n_rows = 0
    for src in sources:
        with h5util.open_ro(src) as f:
            n_rows += int(f.attrs["n_rows"])
    if n_rows > MAX_MERGE_ROWS:
        return False
    keys, items, buckets, seen = [], [], [], set()
    for src in sources:
        k, b, it = _read_source(src)
        for kk, bb, ii in zip(k.tolist(), b.tolist(), it):
            if tuple(kk) not in seen:
                seen.add(tuple(kk))
                keys.append(tuple(kk))
                items.append(ii)
                buckets.append(bb)
    segments.write_rows(merged, keys, items, buckets, attrs, fsync)
    for s in segs:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(segdir, s))
    with contextlib.suppress(OSError):
        os.rmdir(segdir)
    return True


def _check_index_inputs(path: str, inputs: list[str]) -> None:
    if not os.path.isfile(path):
        return
    with h5util.open_ro(path) as f:
        if f.attrs.get("kind") != INDEX_KIND:
            raise UserError(f"{path} exists and is not an hpcfold feature store")
        old = json.loads(f.attrs["inputs"])
    if old != inputs:
        raise UserError(
            f"{path} was prepared from other inputs ({old}); use a new output path or delete "
            f"{path} and {shards_dir(path)}"
        )


def rename_duplicates(ids: list[str]) -> list[str]:
    """Stable unique ids: the first occurrence keeps its id, later ones get ``ID#2``, ``ID#3``...

    A generated name never collides with an id present in the input (it skips to the next n).
    """
    taken = set(ids)
    if len(taken) == len(ids):
        return list(ids)
    count: dict[str, int] = {}
    out = []
    for s in ids:
        c = count.get(s, 0) + 1
        count[s] = c
        if c == 1:
            out.append(s)
            continue
        n = c
        while f"{s}#{n}" in taken:
            n += 1
        count[s] = n
        taken.add(f"{s}#{n}")
        out.append(f"{s}#{n}")
    return out


def finalize(path: str, inputs: list[str]) -> dict:
    """Rank 0, after every writer closed: build the index file ``path`` atomically.

    Global ligand index = rows sorted by key (input file index, record index), whatever the
    number of ranks; duplicate keys (crash leftovers) are kept once; duplicate ids renamed.
    Returns ``{'total', 'ok', 'failed', 'renamed', 'shards', 'buckets': {name: n_ok}}``.
    """
    path = os.fspath(path)
    inputs = normalize_inputs(inputs)
    sdir = shards_dir(path)
    _check_index_inputs(path, inputs)
    os.makedirs(sdir, exist_ok=True)
    h5util.remove_stale_tmp(sdir)
    h5util.remove_stale_tmp_of(path)  # an earlier finalize killed midway
    for name in sorted(n for n in os.listdir(sdir) if os.path.isdir(os.path.join(sdir, n))):
        attrs = _shard_attrs(sdir, name)
        if attrs is not None:
            merge_shard(sdir, name, attrs)
    shard_paths = list_sources(sdir)
    shard_uuids = []
    for rel in shard_paths:
        with h5util.open_ro(os.path.join(sdir, rel)) as f:
            segments.check_shard(f, rel)
            if segments.shard_inputs(f) != inputs:
                raise UserError(
                    f"shard {rel} was written for inputs {segments.shard_inputs(f)}, not "
                    f"{inputs}; delete {sdir} or use a new output path"
                )
            shard_uuids.append(str(f.attrs["uuid"]))
    rows = index_table.read_numeric(sdir, shard_paths)
    sel = index_table.unique_by_key(rows["key"])
    table = {k: rows.pop(k)[sel] for k in list(rows)}  # one column copied at a time
    n = len(sel)
    ok = table["status"] == segments.STATUS_OK
    bucket_counts = np.array(
        [np.count_nonzero(ok & (table["bucket"] == b.index)) for b in BUCKETS], np.int64
    )
    from hpcfold.store.resume import input_fingerprints  # resume imports this module

    def text_column(g, name: str, source: str, hasher=None, renamed=None) -> None:
        """One text column in key order into the index (see ``index_table``)."""
        if renamed is not None:
            total = sum(len(t.encode("utf-8", "surrogateescape")) for t in renamed)
            blocks = index_table.list_blocks(renamed)
            index_table.write_text(g, name, blocks, total, n, hasher)
            return
        blob, off = index_table.read_text(sdir, shard_paths, source)
        total = int((off[sel + 1] - off[sel]).sum())
        blocks = index_table.permuted(blob, off, sel)
        index_table.write_text(g, name, blocks, total, n, hasher)

    def write(f) -> None:
        f.attrs.update(
            kind=INDEX_KIND, schema_version=SCHEMA_VERSION, hpcfold_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            inputs=json.dumps(inputs), shards_dir=os.path.basename(sdir),
            n_ligands=n, n_ok=int(ok.sum()), n_failed=int((~ok).sum()),
            input_fingerprints=json.dumps(input_fingerprints(inputs)),
        )  # fmt: skip
        s = f.create_group("shards")
        h5util.put_text(s, "path", shard_paths)
        h5util.put_text(s, "uuid", shard_uuids)
        g = f.create_group("ligands")
        for name in ("key", "shard", "row", "status", "reason", "bucket", "n_atoms",
                     "n_torsions", "n_pairs"):  # fmt: skip
            h5util.put(g, name, table[name])
        tx = g.create_group("text")
        hasher = index_table.fingerprint_numeric(table)
        blob, off = index_table.read_text(sdir, shard_paths, "lig_id")
        renamed, n_renamed = None, 0
        if index_table.has_duplicates(blob, off, sel):  # rare: only then are ids Python strings
            ids = index_table.strings(blob, off)
            ids = [ids[i] for i in sel.tolist()]
            renamed = rename_duplicates(ids)
            n_renamed = sum(a != b for a, b in zip(renamed, ids))
            del ids
        del blob, off
        text_column(tx, "lig_id", "lig_id", hasher, renamed)
        text_column(tx, "orig_id", "lig_id")
        text_column(tx, "smiles", "smiles", hasher)
        text_column(tx, "source", "source")
        text_column(tx, "message", "message")
        f.attrs.update(n_renamed=n_renamed, fingerprint=hasher.hexdigest())
        counts["renamed"] = n_renamed
        b = f.create_group("buckets")
        h5util.put_text(b, "name", [x.name for x in BUCKETS])
        for name in ("n_atoms", "n_torsions", "n_pairs"):
            h5util.put(b, name, np.array([getattr(x, name) for x in BUCKETS], np.int32))
        h5util.put(b, "count", bucket_counts)

    counts = {"renamed": 0}
    try:
        h5util.atomic_h5(path, write)
    except OSError as exc:
        raise UserError(f"cannot write feature store index {path}: {exc}") from exc
    return {
        "total": n, "ok": int(ok.sum()), "failed": int((~ok).sum()),
        "renamed": int(counts["renamed"]), "shards": len(shard_paths),
        "buckets": {b.name: int(c) for b, c in zip(BUCKETS, bucket_counts) if c},
    }  # fmt: skip


def _shard_attrs(sdir: str, name: str) -> dict | None:
    """Writer attributes of shard ``name`` (taken from any of its committed files)."""
    segdir = os.path.join(sdir, name)
    segs = sorted(n for n in os.listdir(segdir) if _SEG.match(n))
    if not segs:
        with contextlib.suppress(OSError):
            os.rmdir(segdir)
        return None
    with h5util.open_ro(os.path.join(segdir, segs[0])) as f:
        return {k: f.attrs[k] for k in ("rank", "run_id", "inputs")}
