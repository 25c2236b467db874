"""Feature store reader: ``FeatureStore`` (read-only, safe from many processes) and ``Chunk``.

Memory does not grow with text: at open the index's 1-2 byte columns (status, reason, bucket:
4 B per ligand) are loaded, the keys and shard/row columns (28 B per ligand) on first use by
``read``/``keys``, and text (ids, SMILES, sources) is read for the requested ligands only.
``ChunkReader`` is the worker's reader: it loads no per-ligand column at all and reads only the
rows of the chunk it is given (O(chunk) memory and I/O, whatever the library size). Shard files
are opened read-only without HDF5 locks and kept open (a small LRU), and a chunk is read with
one contiguous slice per dataset and shard (shards store each bucket's ligands contiguously).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import os

import numpy as np

from hpcfold.errors import UserError
from hpcfold.store import h5util, segments
from hpcfold.types import (
    BUCKETS,
    SCHEMA_VERSION,
    Bucket,
    Failure,
    LigandRecord,
    Reason,
    bucket_indices,
)

INDEX_KIND = "hpcfold-features"
MAX_OPEN_SHARDS = 32  # open shard files per reader, ~12 MB each (chunk cache below)
SHARD_CACHE_BYTES = 1 << 20  # chunk cache per dataset of an open shard (faster than 8 MiB)
# A worker's reader: few shards, small caches (HDF5 fills each cache as chunks are read: 8 x 10
# datasets x 1 MiB grew a worker ~70 MB with the library); 256 KiB holds a shard's largest chunk
WORKER_OPEN_SHARDS = 2
WORKER_CACHE_BYTES = 1 << 18
GATHER_SPAN = 4096  # nearby indices closer than this are read as one slice
SCAN_BLOCK = 1 << 16  # ligands per block of the open-time scans (~60 bytes of temporaries each)


def gather(ds, idx) -> np.ndarray:
    """``ds[idx]`` for int64 ``idx`` (k,), in any order, with O(k + GATHER_SPAN) memory.

    Runs of nearby indices are read as one slice each (a chunk's ligands are near each other
    in the index, so this is one or a few reads)."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    if idx.size == 0:
        return ds[0:0]
    order = np.argsort(idx, kind="stable")
    srt = idx[order]
    breaks = np.flatnonzero(np.diff(srt) > GATHER_SPAN) + 1
    parts = []
    for run in np.split(srt, breaks):
        lo, hi = int(run[0]), int(run[-1]) + 1
        parts.append(ds[lo:hi][run - lo])
    out = np.empty((len(idx), *parts[0].shape[1:]), parts[0].dtype)
    out[order] = np.concatenate(parts)
    return out


def gather_text(g, idx) -> list[str]:
    """Strings ``idx`` (k,) of a ragged text group (``data``, ``offsets``), O(k) memory."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    if idx.size == 0:
        return []
    lo, hi = gather(g["offsets"], idx), gather(g["offsets"], idx + 1)
    order = np.argsort(lo, kind="stable")
    slo, shi = lo[order], hi[order]
    breaks = np.flatnonzero(slo[1:] - shi[:-1] > GATHER_SPAN) + 1
    data, out = g["data"], [""] * len(idx)
    for run in np.split(np.arange(len(idx)), breaks):
        a, b = int(slo[run[0]]), int(shi[run].max())
        raw = data[a:b].tobytes() if b > a else b""
        for k in run.tolist():
            text = raw[int(slo[k]) - a : int(shi[k]) - a]
            out[int(order[k])] = text.decode("utf-8", "surrogateescape")
    return out


def index_fingerprint(f) -> str:
    """Identity of a feature store's content, from its open index file (no shard is read).

    ``finalize`` stores a sha256 over the ligand table (keys, status, sizes, ids) as the
    ``fingerprint`` attribute; an index written without one is identified by its shards'
    uuids (random per shard file) and its ligand count."""
    fp = f.attrs.get("fingerprint")
    if fp is not None:
        return str(fp)
    h = hashlib.sha256(str(int(f.attrs["n_ligands"])).encode())
    for u in h5util.read_text_all(f["shards/uuid"]):
        h.update(u.encode())
    return "uuids:" + h.hexdigest()


class _Shards:
    """Open shard files (an LRU), each checked against the uuid the index recorded."""

    def __init__(self, index_path: str, sdir: str, paths: list[str], uuids: list[str],
                 max_open: int = MAX_OPEN_SHARDS):  # fmt: skip
        self.index_path, self.sdir, self.paths, self.uuids = index_path, sdir, paths, uuids
        self.max_open, self.cache_bytes = max_open, SHARD_CACHE_BYTES
        self.open: collections.OrderedDict = collections.OrderedDict()

    def get(self, s: int) -> segments.Shard:
        f = self.open.get(s)
        if f is not None:
            self.open.move_to_end(s)
            return f
        path = os.path.join(self.sdir, self.paths[s])
        try:
            f = segments.Shard(h5util.open_ro(path, self.cache_bytes))
        except FileNotFoundError as exc:
            raise UserError(f"feature store shard {path} is missing") from exc
        if str(f.attrs.get("uuid")) != self.uuids[s]:
            f.close()
            raise UserError(
                f"shard {path} changed after {self.index_path} was written: rerun the same "
                "hpcfold prep to finalize the store again"
            )
        self.open[s] = f
        while len(self.open) > self.max_open:
            _, old = self.open.popitem(last=False)
            old.close()
        return f

    def read(self, shard: np.ndarray, row: np.ndarray) -> list[LigandRecord]:
        """Records at (shard, row) pairs, in the order given (one slice per contiguous run)."""
        out: list = [None] * len(shard)
        for s in np.unique(shard).tolist():
            pos = np.flatnonzero(shard == s)
            rows = row[pos]
            f = self.get(s)
            got: dict[int, LigandRecord] = {}
            for a, b in h5util.contiguous_runs(np.unique(rows)):
                for r, rec in zip(range(a, b), segments.read_rows(f, a, b)):
                    got[r] = rec
            for p, r in zip(pos.tolist(), rows.tolist()):
                out[p] = got[r]
        return out

    def close(self) -> None:
        for f in self.open.values():
            f.close()
        self.open.clear()


def _open_index(path: str, cache_bytes: int | None = None):
    """(open index file, its shards) after the kind and schema checks (UserError otherwise).
    ``cache_bytes``: the index's chunk cache per dataset (None: h5py's default)."""
    if not os.path.isfile(path):
        hint = ""
        if os.path.isdir(path + ".shards"):
            hint = " (shards exist: the prep run did not finish; rerun the same prep)"
        raise UserError(f"feature store {path} not found{hint}")
    try:
        f = h5util.open_ro(path, cache_bytes)
    except OSError as exc:
        raise UserError(f"cannot open feature store {path}: {exc}") from exc
    if f.attrs.get("kind") != INDEX_KIND:
        f.close()
        raise UserError(f"{path} is not an hpcfold feature store")
    if int(f.attrs["schema_version"]) != SCHEMA_VERSION:
        f.close()
        raise UserError(
            f"{path} has schema version {f.attrs['schema_version']}, this hpcfold reads "
            f"{SCHEMA_VERSION}: rerun hpcfold prep"
        )
    sdir = os.path.join(os.path.dirname(os.path.abspath(path)), f.attrs["shards_dir"])
    paths = h5util.read_text_all(f["shards/path"])
    return f, _Shards(path, sdir, paths, h5util.read_text_all(f["shards/uuid"]))


def _with_ids(recs: list, ids: list[str]) -> list[LigandRecord]:
    """Records carrying the index's unique ids (a renamed duplicate differs from its shard)."""
    return [r if r.lig_id == i else dataclasses.replace(r, lig_id=i) for r, i in zip(recs, ids)]


class ChunkReader:
    """A worker's reader: ``read(indices)`` reads only those ligands' index rows and shard
    rows (O(chunk) memory and I/O; no per-ligand column is loaded at open)."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._f, self._shards = _open_index(self.path, WORKER_CACHE_BYTES)
        # few open shards: a chunk's rows are contiguous in a store prepared by few ranks;
        # with many ranks reopening costs ~1 ms per shard and chunk, far below docking time
        self._shards.max_open = WORKER_OPEN_SHARDS
        self._shards.cache_bytes = WORKER_CACHE_BYTES
        g = self._f["ligands"]
        self._shard, self._row, self._status = g["shard"], g["row"], g["status"]
        self._ids = g["text/lig_id"]
        self.n_ligands = int(self._status.shape[0])

    def read(self, indices) -> list[LigandRecord]:
        """Prepared ligands at global ``indices`` (ok ligands only), in the order given."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_ligands):
            raise IndexError(f"ligand index out of range [0, {self.n_ligands})")
        bad = idx[gather(self._status, idx) != segments.STATUS_OK]
        if bad.size:
            raise ValueError(f"ligands {bad[:10].tolist()} failed in prep and have no features")
        recs = self._shards.read(gather(self._shard, idx), gather(self._row, idx))
        return _with_ids(recs, gather_text(self._ids, idx))

    def smiles(self, indices) -> list[str]:
        """SMILES of the ligands at global ``indices`` (O(k) memory)."""
        return gather_text(self._f["ligands/text/smiles"], indices)

    def close(self) -> None:
        self._shards.close()
        self._f.close()


@dataclasses.dataclass(frozen=True, eq=False)
class Chunk:
    """A unit of screening work: ok ligands of one bucket, ascending global indices."""

    chunk_id: int
    bucket: Bucket
    indices: np.ndarray  # (k,) int64 global ligand indices


class FeatureStore:
    """Read-only view of a finalized feature store (``finalize`` wrote ``path``)."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._f, self._shards = _open_index(self.path)
        f = self._f
        self.attrs = dict(f.attrs)
        self.inputs: list[str] = json.loads(f.attrs["inputs"])
        self._shard_paths = self._shards.paths
        g = f["ligands"]
        self.status = g["status"][()]
        self.reason = g["reason"][()]
        # Buckets from the stored sizes with this version's table, not the stored
        # ``ligands/bucket``: a store written with other buckets reads the same. The sizes
        # are read in blocks (12 B per ligand never held at once).
        ok = self.status == segments.STATUS_OK
        self.bucket = np.full(len(ok), segments.FAILED_BUCKET, np.int8)
        step = SCAN_BLOCK
        for a in range(0, len(ok), step):
            b = slice(a, a + step)
            sizes = (g["n_atoms"][b], g["n_torsions"][b], g["n_pairs"][b])
            self.bucket[b] = np.where(ok[b], bucket_indices(*sizes), segments.FAILED_BUCKET)
        if np.any(ok & (self.bucket < 0)):
            self._f.close()
            raise UserError(
                f"{self.path}: ligands larger than every size bucket; rerun hpcfold prep"
            )
        self.fingerprint = index_fingerprint(f)

    @functools.cached_property
    def keys(self) -> np.ndarray:
        """(N, 2) int64 (input file index, record index), ascending (read on first use)."""
        return self._f["ligands/key"][()]

    @functools.cached_property
    def _shard(self) -> np.ndarray:
        return self._f["ligands/shard"][()]

    @functools.cached_property
    def _row(self) -> np.ndarray:
        return self._f["ligands/row"][()]

    # ------------------------------------------------------------------------ basics
    @property
    def n_ligands(self) -> int:
        return int(len(self.status))

    def counts(self) -> dict[str, int]:
        ok = int(np.count_nonzero(self.status == segments.STATUS_OK))
        return {"total": self.n_ligands, "ok": ok, "failed": self.n_ligands - ok}

    def _check(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_ligands):
            raise IndexError(f"ligand index out of range [0, {self.n_ligands})")
        return idx

    def _text_at(self, name: str, indices) -> list[str]:
        return gather_text(self._f["ligands/text"][name], self._check(indices))

    def ids(self, indices) -> list[str]:
        return self._text_at("lig_id", indices)

    def original_ids(self, indices) -> list[str]:
        return self._text_at("orig_id", indices)

    def smiles(self, indices) -> list[str]:
        return self._text_at("smiles", indices)

    def sources(self, indices) -> list[str]:
        return self._text_at("source", indices)

    # ------------------------------------------------------------------------ work units
    def chunks(self, chunk_size: int) -> list[Chunk]:
        """Ok ligands cut into chunks of one bucket each, largest bucket first, then by index."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        out: list[Chunk] = []
        ok = self.status == segments.STATUS_OK
        for b in reversed(BUCKETS):
            idx = np.flatnonzero(ok & (self.bucket == b.index)).astype(np.int64)
            for s in range(0, len(idx), chunk_size):
                out.append(Chunk(len(out), b, idx[s : s + chunk_size]))
        return out

    def iter_chunks(self, chunk_size: int, block: int = SCAN_BLOCK):
        """The chunks of ``chunks(chunk_size)`` (same ids, same ligands), generated one at a
        time: memory O(block + chunk), not a list of every chunk's indices."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        ok = self.status == segments.STATUS_OK
        cid, n = 0, self.n_ligands
        for b in reversed(BUCKETS):
            carry = np.zeros(0, np.int64)
            for a in range(0, n, block):
                mine = ok[a : a + block] & (self.bucket[a : a + block] == b.index)
                sel = np.flatnonzero(mine).astype(np.int64) + a
                if carry.size:
                    sel = np.concatenate([carry, sel])
                full = len(sel) // chunk_size * chunk_size
                for s in range(0, full, chunk_size):
                    yield Chunk(cid, b, sel[s : s + chunk_size].copy())
                    cid += 1
                carry = sel[full:].copy()
            if carry.size:
                yield Chunk(cid, b, carry)
                cid += 1

    def failures(self, indices=None) -> list[tuple[int, Failure]]:
        """(global index, Failure) of the ligands prep could not prepare (those among
        ``indices``, all by default; ``iter_failures`` yields them in bounded blocks)."""
        bad = np.flatnonzero(self.status != segments.STATUS_OK)
        if indices is not None:
            bad = np.intersect1d(bad, self._check(indices))
        if not bad.size:
            return []
        ids, src = self.ids(bad), self.sources(bad)
        smi, msg = self.smiles(bad), self._text_at("message", bad)
        return [
            (i, Failure(ids[k], src[k], smi[k], Reason(int(self.reason[i])), msg[k]))
            for k, i in enumerate(bad.tolist())
        ]

    def iter_failures(self, block: int = 65536):
        """``failures()`` as lists of at most ``block`` (bounded memory)."""
        bad = np.flatnonzero(self.status != segments.STATUS_OK)
        for a in range(0, len(bad), block):
            yield self.failures(bad[a : a + block])

    def read(self, indices) -> list[LigandRecord]:
        """Prepared ligands at global ``indices`` (ok ligands only), in the order given."""
        idx = self._check(indices)
        bad = idx[self.status[idx] != segments.STATUS_OK]
        if bad.size:
            raise ValueError(f"ligands {bad[:10].tolist()} failed in prep and have no features")
        return _with_ids(self._shards.read(self._shard[idx], self._row[idx]), self.ids(idx))

    # ------------------------------------------------------------------------ summary
    def describe(self) -> dict:
        """Everything ``hpcfold inspect`` prints (JSON-serialisable)."""
        c = self.counts()
        reasons = collections.Counter(
            Reason(int(r)).name for r in self.reason[self.status != segments.STATUS_OK]
        )
        ok = self.status == segments.STATUS_OK
        buckets = [
            {
                "name": b.name, "index": b.index, "n_atoms": b.n_atoms,
                "n_torsions": b.n_torsions, "n_pairs": b.n_pairs,
                "count": int(np.count_nonzero(ok & (self.bucket == b.index))),
            }
            for b in BUCKETS
        ]  # fmt: skip
        size = os.path.getsize(self.path)
        for p in self._shard_paths:
            try:
                size += os.path.getsize(os.path.join(self._shards.sdir, p))
            except OSError:
                pass
        return {
            "kind": "features", "path": self.path, "schema_version": SCHEMA_VERSION,
            **c, "failures_by_reason": dict(sorted(reasons.items())), "buckets": buckets,
            "inputs": self.inputs, "shards": len(self._shard_paths),
            "renamed_ids": int(self.attrs.get("n_renamed", 0)),
            "created": str(self.attrs.get("created", "")),
            "hpcfold_version": str(self.attrs.get("hpcfold_version", "")),
            "bytes": int(size), "bytes_per_ligand": float(size / max(self.n_ligands, 1)),
        }  # fmt: skip

    def close(self) -> None:
        self._shards.close()
        self._f.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
