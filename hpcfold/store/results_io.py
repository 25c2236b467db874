"""Results store file layout: packed groups, part files, loading and streaming concatenation.

A results file (the main ``results.h5`` or one part in ``results.h5.parts/``) has two groups:
``ligands`` (one row per ligand) and ``chunks`` (one row per appended chunk). Each group is
*packed* into a handful of datasets so that committing a chunk creates few HDF5 objects (each
costs ~0.5 ms) and concatenating files needs no offset rebasing:

* ``rows``: (n,) compound dataset, one field per scalar column (``LIGAND_DTYPE``/``CHUNK_DTYPE``);
* ``text_len``: (n, k) int32 UTF-8 byte lengths of the k text columns, ``text``: uint8 blob of
  the strings in row-major order (row 0 col 0, row 0 col 1, ..., row 1 col 0, ...);
* ``ligands`` only: ``pose_values`` (sum n_poses, 3) float32 = (affinity, inter, intra) per pose,
  and ``pose_coords`` (sum n_poses * n_atoms, 3) float32; a row's slice is given by the
  cumulative sums of ``n_poses`` and ``n_poses * n_atoms``.
"""

from __future__ import annotations

import json
import os
import re
import zlib

import h5py
import numpy as np

from hpcfold.types import TERMS

MAIN_KIND = "hpcfold-results"
PART_KIND = "hpcfold-results-part"

LIGAND_DTYPE = np.dtype([
    ("index", np.int64), ("status", np.int8), ("reason", np.int16), ("affinity", np.float32),
    ("inter", np.float32), ("intra", np.float32), ("terms", np.float32, (len(TERMS),)),
    ("n_poses", np.int32), ("n_atoms", np.int32), ("seconds", np.float32), ("rank", np.int32),
    ("chunk_id", np.int64), ("t_done", np.float64), ("session", np.int32),
])  # fmt: skip
LIGAND_TEXT = ("lig_id", "smiles", "message", "device")
CHUNK_DTYPE = np.dtype([
    ("chunk_id", np.int64), ("rank", np.int32), ("session", np.int32), ("n", np.int32),
    ("n_failed", np.int32), ("busy_s", np.float64), ("wall_s", np.float64),
    ("t_start", np.float64), ("t_done", np.float64),
])  # fmt: skip
CHUNK_TEXT = ("device", "host", "extra")
GROUPS = {
    "ligands": (LIGAND_DTYPE, LIGAND_TEXT, ("pose_values", "pose_coords")),
    "chunks": (CHUNK_DTYPE, CHUNK_TEXT, ()),
}
BLOCK_BYTES = 1 << 22  # bytes per read/copy block of verify and compaction (bounded memory)
BLOCK = 1 << 18  # rows per block of the row-wise readers; copies are also capped by bytes
PART_RE = re.compile(r"^part-(\d{9})\.h5$")
CRC_ATTR = "crc32_json"  # {"group/dataset": CRC-32 of its raw bytes}, on every file
CORRUPT_SUFFIX = ".corrupt"


def parts_dir(path: str) -> str:
    return os.fspath(path) + ".parts"


def list_parts(path: str) -> list[tuple[int, str]]:
    """(seq, file path) of every committed part, ascending seq."""
    pdir = parts_dir(path)
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return []
    return sorted(
        (int(m.group(1)), os.path.join(pdir, n)) for n in names if (m := PART_RE.match(n))
    )


def empty_group(group: str) -> dict:
    dtype, text, extra = GROUPS[group]
    out = {"rows": np.zeros(0, dtype), "text": {c: [] for c in text}}
    out.update({e: np.zeros((0, 3), np.float32) for e in extra})
    return out


def merge_columns(batches: list[dict]) -> dict:
    """Concatenate in-memory group data ({group: {rows, text, extras}}) of several chunks."""
    if len(batches) == 1:
        return batches[0]
    out = {}
    for group, (_, text_cols, extra) in GROUPS.items():
        parts = [b[group] for b in batches]
        out[group] = {
            "rows": np.concatenate([p["rows"] for p in parts]),
            "text": {c: [s for p in parts for s in p["text"][c]] for c in text_cols},
            **{e: np.concatenate([p[e] for p in parts]) for e in extra},
        }
    return out


def write_group(f: h5py.File, group: str, data: dict, crcs: dict | None = None) -> None:
    """``data``: rows (structured array), text ({column: list[str]}), and the extra arrays.

    ``crcs``, when given, receives ``{"group/name": CRC-32}`` of every dataset written."""
    dtype, text_cols, extra = GROUPS[group]
    g = f.create_group(group)
    enc = [[s.encode("utf-8", "surrogateescape") for s in data["text"][c]] for c in text_cols]
    n = len(data["rows"])
    lens = np.array([[len(col[i]) for col in enc] for i in range(n)], np.int32)
    blob = b"".join(b for row in zip(*enc) for b in row) if n else b""
    arrays = {
        "rows": np.asarray(data["rows"], dtype=dtype),
        "text_len": lens.reshape(n, len(text_cols)),
        "text": np.frombuffer(blob, np.uint8),
        **{e: np.asarray(data[e], np.float32).reshape(-1, 3) for e in extra},
    }
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        g.create_dataset(name, data=arr)
        if crcs is not None:
            crcs[f"{group}/{name}"] = zlib.crc32(arr.view(np.uint8).reshape(-1))


def dataset_names() -> list[str]:
    """Every dataset of a results file, "group/name", in a fixed order."""
    return [f"{g}/{n}" for g, (_, _, extra) in GROUPS.items()
            for n in ("rows", "text_len", "text", *extra)]  # fmt: skip


def block_rows(ds: h5py.Dataset, cap: int = BLOCK) -> int:
    """Rows of ``ds`` per block: at most ``cap`` and ``BLOCK_BYTES`` (a fixed memory bound
    whatever the row size, e.g. 79-byte ligand rows or 1-byte text)."""
    row = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
    return max(1, min(int(cap), BLOCK_BYTES // max(row, 1)))


def verify(f: h5py.File, block: int = BLOCK) -> str | None:
    """Why the file's datasets do not match their stored CRC-32s (None when they do).

    Reads every dataset once, block by block (bounded memory). A file written without
    checksums cannot be verified and passes; a missing dataset or a read error fails."""
    raw = f.attrs.get(CRC_ATTR)
    if raw is None:
        return None
    want = json.loads(raw)
    try:
        for name in dataset_names():
            d = f[name]
            crc, n, step = 0, int(d.shape[0]), block_rows(f[name], block)
            for a in range(0, n, step):
                crc = zlib.crc32(np.ascontiguousarray(d[a : a + step]).view(np.uint8).reshape(-1),
                                 crc)  # fmt: skip
            if crc != int(want.get(name, -1)):
                return f"checksum of {name} does not match"
    except (KeyError, OSError, ValueError) as exc:
        return f"unreadable: {exc}"
    return None


def set_aside(path: str) -> str:
    """Rename a corrupt file to ``<path>.corrupt`` (``.corrupt.1``, ... when taken): kept for
    inspection, ignored by every reader and writer. Returns the new name."""
    dst, k = path + CORRUPT_SUFFIX, 0
    while os.path.exists(dst):
        k += 1
        dst = f"{path}{CORRUPT_SUFFIX}.{k}"
    os.replace(path, dst)
    return dst


def load_group(f: h5py.File, group: str) -> dict:
    """Row fields as numpy arrays and text columns as lists of str (no pose data)."""
    dtype, text_cols, _ = GROUPS[group]
    g = f[group]
    rows = g["rows"][()]
    out = {name: rows[name] for name in dtype.names}
    lens = g["text_len"][()]
    raw = g["text"][()].tobytes()
    ends = np.cumsum(lens.reshape(-1), dtype=np.int64).reshape(lens.shape)
    starts = ends - lens
    for k, c in enumerate(text_cols):
        out[c] = [
            raw[a:b].decode("utf-8", "surrogateescape")
            for a, b in zip(starts[:, k].tolist(), ends[:, k].tolist())
        ]
    return out


def concat_files(dst: h5py.File, sources: list, open_source) -> None:
    """Write into ``dst`` every group of ``sources`` concatenated in order, one source open at
    a time (``open_source(s)`` opens one; a compaction may fold a thousand parts, and each
    open HDF5 file costs ~0.3 MB), in blocks of at most ``BLOCK_BYTES``.

    Each source that carries checksums is verified on the way (its blocks are read anyway):
    ``CorruptFile`` names the first source that does not match, before ``dst`` is used. ``dst``
    gets the checksums of what it holds."""
    names = dataset_names()
    shapes = {k: [] for k in names}
    for src in sources:  # first pass: sizes only
        with open_source(src) as f:
            for k in names:
                shapes[k].append((f[k].shape, f[k].dtype))
    ds = {}
    for group in GROUPS:
        g = dst.create_group(group)
        for k in (k for k in names if k.startswith(group + "/")):
            total = sum(int(sh[0]) for sh, _ in shapes[k])
            first, dtype = shapes[k][0]
            ds[k] = _create(g, k.split("/", 1)[1], (total, *first[1:]), dtype)
    out = {k: _Appender(ds[k]) for k in names}
    for src in sources:
        with open_source(src) as f:
            got = {k: out[k].add(f[k]) for k in names}
            raw = f.attrs.get(CRC_ATTR)
            if raw is not None and json.loads(raw) != got:
                raise CorruptFile(f.filename, "checksums do not match its data")
    dst.attrs[CRC_ATTR] = json.dumps({k: a.close() for k, a in out.items()}, sort_keys=True)


class CorruptFile(Exception):
    """A results file whose data does not match its checksums (or cannot be read)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


def _crc(block: np.ndarray, crc: int) -> int:
    return zlib.crc32(np.ascontiguousarray(block).view(np.uint8).reshape(-1), crc)


class _Appender:
    """Appends sources to one dataset in writes of at least ``BLOCK_BYTES / 4`` (small writes
    into gzip chunks are slow: each one recompresses a chunk; parts are often a few hundred
    rows), buffering at most that much from sources already closed."""

    def __init__(self, d: h5py.Dataset):
        self.d, self.pos, self.crc, self.buf, self.n_buf = d, 0, 0, [], 0
        self.step, self.min_rows = block_rows(d), max(1, block_rows(d) // 4)

    def add(self, s: h5py.Dataset) -> int:
        """Append ``s`` (read in blocks); returns its CRC-32."""
        n, src_crc = int(s.shape[0]), 0
        for a in range(0, n, self.step):
            block = s[a : min(n, a + self.step)]
            src_crc = _crc(block, src_crc)
            self.buf.append(block)
            self.n_buf += len(block)
            if self.n_buf >= self.min_rows:
                self._flush()
        return src_crc

    def _flush(self) -> None:
        if not self.buf:
            return
        data = self.buf[0] if len(self.buf) == 1 else np.concatenate(self.buf)
        self.d[self.pos : self.pos + len(data)] = data
        self.crc = _crc(data, self.crc)
        self.pos, self.buf, self.n_buf = self.pos + len(data), [], 0

    def close(self) -> int:
        """Write what is buffered; returns the dataset's CRC-32."""
        self._flush()
        return self.crc


UNCOMPRESSED = ("pose_values", "pose_coords")  # float poses: gzip-1 saves 20 %, costs 50 MB/s


def _create(g: h5py.Group, name: str, shape: tuple, dtype) -> h5py.Dataset:
    """Large rows/text datasets are chunked + gzip level 1 (+ shuffle). Pose arrays are not
    compressed: real pose coordinates shrink only 1.25x and gzip (~50 MB/s on one core) made
    compaction rank 0's largest cost (docs/benchmarks.md, Screening)."""
    if int(np.prod(shape)) >= 1 << 16 and name not in UNCOMPRESSED:
        return g.create_dataset(
            name, shape=shape, dtype=dtype, chunks=True, compression="gzip",
            compression_opts=1, shuffle=True,
        )  # fmt: skip
    return g.create_dataset(name, shape=shape, dtype=dtype)


def pose_offsets(n_poses: np.ndarray, n_atoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n + 1,) start offsets into pose_values and pose_coords for each row of one file."""
    m = n_poses.astype(np.int64)
    pv = np.concatenate([[0], np.cumsum(m)])
    pc = np.concatenate([[0], np.cumsum(m * n_atoms.astype(np.int64))])
    return pv, pc


def read_poses(f: h5py.File, row: int, m: int, n: int, pv: int, pc: int):
    """(coords (m, n, 3), affinity (m,)) of one row whose poses start at offsets pv, pc."""
    g = f["ligands"]
    values = g["pose_values"][pv : pv + m]
    coords = g["pose_coords"][pc : pc + m * n]
    return coords.reshape(m, n, 3), values[:, 0].copy()


def json_attr(f: h5py.File, name: str, default):
    raw = f.attrs.get(name)
    return default if raw is None else json.loads(raw)
