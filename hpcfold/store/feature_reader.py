"""Feature store reader: ``FeatureStore`` (read-only, safe from many processes) and ``Chunk``.

The index file's small per-ligand columns (shard, row, status, bucket) are loaded once at open;
text columns (ids, SMILES, sources) on first use. Shard files are opened read-only without
HDF5 locks and kept open (a small LRU), and a chunk is read with one contiguous slice per
dataset and shard (shards store each bucket's ligands contiguously, in key order).
"""

from __future__ import annotations

import collections
import dataclasses
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
MAX_OPEN_SHARDS = 64


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
        if not os.path.isfile(self.path):
            hint = ""
            if os.path.isdir(self.path + ".shards"):
                hint = " (shards exist: the prep run did not finish; rerun the same prep)"
            raise UserError(f"feature store {self.path} not found{hint}")
        try:
            self._f = h5util.open_ro(self.path)
        except OSError as exc:
            raise UserError(f"cannot open feature store {self.path}: {exc}") from exc
        f = self._f
        if f.attrs.get("kind") != INDEX_KIND:
            self._f.close()
            raise UserError(f"{self.path} is not an hpcfold feature store")
        if int(f.attrs["schema_version"]) != SCHEMA_VERSION:
            self._f.close()
            raise UserError(
                f"{self.path} has schema version {f.attrs['schema_version']}, this hpcfold reads "
                f"{SCHEMA_VERSION}: rerun hpcfold prep"
            )
        self.attrs = dict(f.attrs)
        self.inputs: list[str] = json.loads(f.attrs["inputs"])
        self._sdir = os.path.join(
            os.path.dirname(os.path.abspath(self.path)), f.attrs["shards_dir"]
        )
        self._shard_paths = h5util.read_text_all(f["shards/path"])
        self._shard_uuids = h5util.read_text_all(f["shards/uuid"])
        g = f["ligands"]
        self.keys = g["key"][()]
        self._shard = g["shard"][()]
        self._row = g["row"][()]
        self.status = g["status"][()]
        self.reason = g["reason"][()]
        # Buckets from the stored sizes with this version's table, not the stored
        # ``ligands/bucket``: a store written with other buckets reads the same.
        ok = self.status == segments.STATUS_OK
        sizes = (g["n_atoms"][()], g["n_torsions"][()], g["n_pairs"][()])
        self.bucket = np.where(ok, bucket_indices(*sizes), segments.FAILED_BUCKET).astype(np.int8)
        if np.any(ok & (self.bucket < 0)):
            self._f.close()
            raise UserError(
                f"{self.path}: ligands larger than every size bucket; rerun hpcfold prep"
            )
        self._text: dict[str, list[str]] = {}
        self._open: collections.OrderedDict = collections.OrderedDict()

    # ------------------------------------------------------------------------ basics
    @property
    def n_ligands(self) -> int:
        return int(len(self.keys))

    def counts(self) -> dict[str, int]:
        ok = int(np.count_nonzero(self.status == segments.STATUS_OK))
        return {"total": self.n_ligands, "ok": ok, "failed": self.n_ligands - ok}

    def _column(self, name: str) -> list[str]:
        if name not in self._text:
            self._text[name] = h5util.read_text_all(self._f["ligands/text"][name])
        return self._text[name]

    def _check(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_ligands):
            raise IndexError(f"ligand index out of range [0, {self.n_ligands})")
        return idx

    def ids(self, indices) -> list[str]:
        col = self._column("lig_id")
        return [col[i] for i in self._check(indices).tolist()]

    def original_ids(self, indices) -> list[str]:
        col = self._column("orig_id")
        return [col[i] for i in self._check(indices).tolist()]

    def smiles(self, indices) -> list[str]:
        col = self._column("smiles")
        return [col[i] for i in self._check(indices).tolist()]

    def sources(self, indices) -> list[str]:
        col = self._column("source")
        return [col[i] for i in self._check(indices).tolist()]

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

    def failures(self) -> list[tuple[int, Failure]]:
        """(global index, Failure) of every ligand that prep could not prepare."""
        bad = np.flatnonzero(self.status != segments.STATUS_OK).tolist()
        ids, src = self._column("lig_id"), self._column("source")
        smi, msg = self._column("smiles"), self._column("message")
        return [
            (i, Failure(ids[i], src[i], smi[i], Reason(int(self.reason[i])), msg[i])) for i in bad
        ]

    def _shard_file(self, s: int):
        f = self._open.get(s)
        if f is not None:
            self._open.move_to_end(s)
            return f
        path = os.path.join(self._sdir, self._shard_paths[s])
        try:
            f = segments.Shard(h5util.open_ro(path))
        except FileNotFoundError as exc:
            raise UserError(f"feature store shard {path} is missing") from exc
        if str(f.attrs.get("uuid")) != self._shard_uuids[s]:
            f.close()
            raise UserError(
                f"shard {path} changed after {self.path} was written: rerun the same "
                "hpcfold prep to finalize the store again"
            )
        self._open[s] = f
        while len(self._open) > MAX_OPEN_SHARDS:
            _, old = self._open.popitem(last=False)
            old.close()
        return f

    def read(self, indices) -> list[LigandRecord]:
        """Prepared ligands at global ``indices`` (ok ligands only), in the order given."""
        idx = self._check(indices)
        bad = idx[self.status[idx] != segments.STATUS_OK]
        if bad.size:
            raise ValueError(f"ligands {bad[:10].tolist()} failed in prep and have no features")
        out: list[LigandRecord | None] = [None] * len(idx)
        shard, row = self._shard[idx], self._row[idx]
        for s in np.unique(shard).tolist():
            pos = np.flatnonzero(shard == s)
            rows = row[pos]
            f = self._shard_file(s)
            got: dict[int, LigandRecord] = {}
            for a, b in h5util.contiguous_runs(np.unique(rows)):
                for r, rec in zip(range(a, b), segments.read_rows(f, a, b)):
                    got[r] = rec
            for p, r in zip(pos.tolist(), rows.tolist()):
                out[p] = got[r]
        ids = self._column("lig_id")
        return [
            rec if rec.lig_id == ids[i] else dataclasses.replace(rec, lig_id=ids[i])
            for rec, i in zip(out, idx.tolist())
        ]

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
                size += os.path.getsize(os.path.join(self._sdir, p))
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
        for f in self._open.values():
            f.close()
        self._open.clear()
        self._f.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
