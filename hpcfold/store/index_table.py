"""The feature-store index table that ``finalize`` writes, built without Python strings.

The fixed-size columns of every shard row (key, status, reason, bucket, sizes, shard, row:
~44 bytes per ligand) are sorted by key in numpy. Text columns (ids, SMILES, sources,
messages) are never held as lists of ``str`` (~60 bytes of object per string, ~700 bytes per
ligand in all): each column in turn is gathered from the shards as one ragged UTF-8 blob,
permuted into key order block by block straight into its index dataset, and freed before the
next column. Duplicate ids are found by sorting the ids as fixed-width byte rows; only a store
that has some (rare: a library with repeated names) falls back to ``rename_duplicates`` over the
id strings. The content fingerprint is the same sha256 as over the string table.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from hpcfold.store import h5util
from hpcfold.store.segments import ROW_DTYPE

BLOCK = 1 << 16  # rows permuted at a time
NUMERIC = ("key", "status", "reason", "bucket", "n_atoms", "n_torsions", "n_pairs")
TEXT_COLUMNS = ("lig_id", "smiles", "source", "message")  # a shard's meta_text, row-major
MAX_FIXED_ID = 256  # longer ids are compared as strings


def ragged_take(blob: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenation of ``blob[starts[i] : starts[i] + lens[i]]`` over i (uint8, vectorised)."""
    lens = lens.astype(np.int64)
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.uint8)
    out_start = np.cumsum(lens) - lens
    pos = np.arange(total, dtype=np.int64)
    pos += np.repeat(starts.astype(np.int64) - out_start, lens)
    return blob[pos]


def read_numeric(sdir: str, sources: list[str]) -> dict[str, np.ndarray]:
    """The fixed-size columns of every row of ``sources`` (in order) plus ``shard``, ``row``,
    read in blocks into arrays allocated once."""
    sizes = []
    for rel in sources:
        with h5util.open_ro(os.path.join(sdir, rel)) as f:
            sizes.append(int(f["ligands/rows"].shape[0]))
    total = sum(sizes)
    out = {k: np.zeros((total, *ROW_DTYPE[k].shape), ROW_DTYPE[k].base) for k in NUMERIC}
    out["shard"], out["row"] = np.zeros(total, np.int32), np.zeros(total, np.int64)
    pos = 0
    for si, (rel, n) in enumerate(zip(sources, sizes)):
        with h5util.open_ro(os.path.join(sdir, rel)) as f:
            view = f["ligands/rows"].fields(list(NUMERIC))
            for a in range(0, n, BLOCK):
                rows = view[a : min(n, a + BLOCK)]
                for k in NUMERIC:
                    out[k][pos + a : pos + a + len(rows)] = rows[k]
        out["shard"][pos : pos + n], out["row"][pos : pos + n] = si, np.arange(n)
        pos += n
    return out


def unique_by_key(key: np.ndarray) -> np.ndarray:
    """Rows to keep, in key order: the first row (source order) of each key."""
    order = np.lexsort((np.arange(len(key)), key[:, 1], key[:, 0]))
    ks = key[order]
    keep = np.ones(len(order), bool)
    keep[1:] = np.any(ks[1:] != ks[:-1], axis=1)
    return order[keep]


def read_text(sdir: str, sources: list[str], column: str) -> tuple[np.ndarray, np.ndarray]:
    """(blob uint8, (n + 1,) int64 offsets) of one text column over every row of ``sources``,
    ``BLOCK`` rows at a time into arrays allocated once (a first pass sums the lengths)."""
    c = TEXT_COLUMNS.index(column)
    files = [h5util.open_ro(os.path.join(sdir, rel)) for rel in sources]
    try:
        n_rows = [int(f["ligands/text_len"].shape[0]) for f in files]
        off = np.zeros(sum(n_rows) + 1, np.int64)
        row = 0
        for f, n in zip(files, n_rows):
            for a in range(0, n, BLOCK):
                tl = f["ligands/text_len"][a : min(n, a + BLOCK), c].astype(np.int64)
                off[row + 1 : row + 1 + len(tl)] = tl
                row += len(tl)
        np.cumsum(off, out=off)
        blob = np.zeros(int(off[-1]), np.uint8)
        row = 0
        for f, n in zip(files, n_rows):
            g, at = f["ligands"], 0
            for a in range(0, n, BLOCK):
                tl = g["text_len"][a : min(n, a + BLOCK), :4].astype(np.int64)
                flat = tl.reshape(-1)
                starts = (np.cumsum(flat) - flat).reshape(tl.shape)[:, c]
                raw = g["meta_text"][at : at + int(flat.sum())]
                blob[off[row] : off[row + len(tl)]] = ragged_take(raw, starts, tl[:, c])
                at, row = at + int(flat.sum()), row + len(tl)
    finally:
        for f in files:
            f.close()
    return blob, off


def permuted(blob: np.ndarray, off: np.ndarray, sel: np.ndarray):
    """Blocks ``(bytes uint8, lengths)`` of the strings ``sel`` (in that order)."""
    for a in range(0, len(sel), BLOCK):
        s = sel[a : a + BLOCK]
        lens = off[s + 1] - off[s]
        yield ragged_take(blob, off[s], lens), lens


def strings(blob: np.ndarray, off: np.ndarray) -> list[str]:
    return h5util.split_text(blob, off)


def has_duplicates(blob: np.ndarray, off: np.ndarray, sel: np.ndarray) -> bool:
    """Whether two of the strings ``sel`` of a ragged column are equal (fixed-width byte rows
    with their length, sorted)."""
    n = len(sel)
    if n < 2:
        return False
    lens = off[sel + 1] - off[sel]
    width = int(lens.max())
    if width > MAX_FIXED_ID:
        texts = strings(blob, off)
        return len({texts[i] for i in sel.tolist()}) != n
    w = width + 4
    rows = np.zeros((n, w), np.uint8)
    rows[:, width:] = lens.astype("<u4").view(np.uint8).reshape(n, 4)  # "a" differs from "a\0"
    flat_rows = rows.reshape(-1)
    for a in range(0, n, BLOCK):
        ln = lens[a : a + BLOCK]
        pos = np.repeat(np.arange(a, a + len(ln), dtype=np.int64) * w, ln)
        pos += np.arange(int(ln.sum()), dtype=np.int64) - np.repeat(np.cumsum(ln) - ln, ln)
        flat_rows[pos] = ragged_take(blob, off[sel[a : a + BLOCK]], ln)
    srt = np.sort(rows.view(np.dtype((np.void, w))).reshape(-1))
    return bool(np.any(srt[1:] == srt[:-1]))


def write_text(group, name: str, blocks, total: int, n: int, hasher=None) -> None:
    """A ragged text dataset (``name/data``, ``name/offsets``) as ``h5util.put_text`` writes
    it, from blocks of (bytes, lengths); ``hasher`` gets every string followed by NUL."""
    g = group.create_group(name)
    if total >= h5util.COMPRESS_MIN:
        data = g.create_dataset("data", shape=(total,), dtype=np.uint8, chunks=True,
                                compression="gzip", compression_opts=1, shuffle=True)  # fmt: skip
    else:
        data = g.create_dataset("data", shape=(total,), dtype=np.uint8)
    offsets = g.create_dataset("offsets", shape=(n + 1,), dtype=np.int64)
    pos = row = 0
    offsets[0:1] = 0
    for raw, lens in blocks:
        data[pos : pos + len(raw)] = raw
        ends = pos + np.cumsum(lens)
        offsets[row + 1 : row + 1 + len(lens)] = ends
        if hasher is not None and len(lens):
            hasher.update(np.insert(raw, ends - pos, 0).tobytes())
        pos, row = pos + len(raw), row + len(lens)


def fingerprint_numeric(table: dict) -> hashlib._Hash:
    """The fingerprint's sha256 after the fixed-size columns (ids and SMILES follow)."""
    h = hashlib.sha256(b"hpcfold-features-v1")
    for name in ("key", "status", "reason", "n_atoms", "n_torsions", "n_pairs"):
        col = table[name]
        for a in range(0, len(col), BLOCK):
            h.update(np.ascontiguousarray(col[a : a + BLOCK]).astype("<i8").tobytes())
    return h


def list_blocks(texts: list[str]):
    """Blocks of (bytes, lengths) of a list of strings (the rename fallback)."""
    for a in range(0, len(texts), BLOCK):
        enc = [t.encode("utf-8", "surrogateescape") for t in texts[a : a + BLOCK]]
        yield np.frombuffer(b"".join(enc), np.uint8), np.array([len(e) for e in enc], np.int64)
