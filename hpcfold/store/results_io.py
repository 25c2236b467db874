"""Results store file layout: column specs, part files, loading and streaming concatenation.

A results file (the main ``results.h5`` or one part in ``results.h5.parts/``) has two groups of
equal layout rules: ``ligands`` (one row per ligand) and ``chunks`` (one row per appended
chunk). Each group has *row* columns (one value per row, shape (n, *tail)) and *ragged* columns
(``name/data`` of shape (total, *tail) plus ``name/offsets`` (n + 1,) int64). Text is ragged
uint8 (UTF-8). Compaction concatenates files group by group in blocks (bounded memory).
"""

from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np

from hpcfold.store import h5util

MAIN_KIND = "hpcfold-results"
PART_KIND = "hpcfold-results-part"

# name -> (dtype, tail shape)
LIGAND_ROWS: dict[str, tuple] = {
    "index": (np.int64, ()), "status": (np.int8, ()), "reason": (np.int16, ()),
    "affinity": (np.float32, ()), "inter": (np.float32, ()), "intra": (np.float32, ()),
    "terms": (np.float32, (5,)), "n_poses": (np.int32, ()), "n_atoms": (np.int32, ()),
    "seconds": (np.float32, ()), "rank": (np.int32, ()), "chunk_id": (np.int64, ()),
    "t_done": (np.float64, ()), "session": (np.int32, ()),
}  # fmt: skip
LIGAND_RAGGED: dict[str, tuple] = {
    "lig_id": (np.uint8, ()), "smiles": (np.uint8, ()), "message": (np.uint8, ()),
    "device": (np.uint8, ()), "pose_affinity": (np.float32, ()), "pose_inter": (np.float32, ()),
    "pose_intra": (np.float32, ()), "pose_coords": (np.float32, (3,)),
}  # fmt: skip
LIGAND_TEXT = ("lig_id", "smiles", "message", "device")
CHUNK_ROWS: dict[str, tuple] = {
    "chunk_id": (np.int64, ()), "rank": (np.int32, ()), "session": (np.int32, ()),
    "n": (np.int32, ()), "n_failed": (np.int32, ()), "busy_s": (np.float64, ()),
    "wall_s": (np.float64, ()), "t_start": (np.float64, ()), "t_done": (np.float64, ()),
}  # fmt: skip
CHUNK_RAGGED: dict[str, tuple] = {
    "device": (np.uint8, ()),
    "host": (np.uint8, ()),
    "extra": (np.uint8, ()),
}
CHUNK_TEXT = ("device", "host", "extra")
GROUPS = {"ligands": (LIGAND_ROWS, LIGAND_RAGGED), "chunks": (CHUNK_ROWS, CHUNK_RAGGED)}
BLOCK_ROWS = 1 << 16
PART_RE = re.compile(r"^part-(\d{9})\.h5$")


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


def write_group(f: h5py.File, name: str, rows: dict, ragged: dict) -> None:
    """Write one group from in-memory columns: ``rows[name]`` arrays, ``ragged[name]`` lists
    (text columns as lists of str, numeric ones as lists of arrays)."""
    row_spec, rag_spec = GROUPS[name]
    g = f.create_group(name)
    for col, (dtype, tail) in row_spec.items():
        h5util.put(g, col, np.asarray(rows[col], dtype=dtype).reshape(-1, *tail))
    for col, (dtype, tail) in rag_spec.items():
        vals = ragged[col]
        if dtype == np.uint8:  # text
            h5util.put_text(g, col, vals)
        else:
            h5util.put_ragged(g, col, vals, dtype, tail)


def n_rows(f: h5py.File, group: str) -> int:
    return int(f[group][next(iter(GROUPS[group][0]))].shape[0])


def load_group(f: h5py.File, group: str, with_numeric_ragged: bool = False) -> dict:
    """All row columns (numpy) and text columns (lists of str) of a group."""
    row_spec, rag_spec = GROUPS[group]
    g = f[group]
    out = {col: g[col][()] for col in row_spec}
    for col in rag_spec:
        if rag_spec[col][0] == np.uint8:
            out[col] = h5util.read_text_all(g[col])
        elif with_numeric_ragged:
            out[col] = (g[col]["data"][()], g[col]["offsets"][()])
    return out


def concat_files(dst: h5py.File, sources: list[h5py.File]) -> None:
    """Write into ``dst`` every group of ``sources`` concatenated, in order, block by block."""
    for group, (row_spec, rag_spec) in GROUPS.items():
        g = dst.create_group(group)
        srcs = [s[group] for s in sources]
        sizes = [int(s[next(iter(row_spec))].shape[0]) for s in srcs]
        total = sum(sizes)
        for col, (dtype, tail) in row_spec.items():
            d = _create(g, col, (total, *tail), dtype)
            pos = 0
            for s, n in zip(srcs, sizes):
                for a in range(0, n, BLOCK_ROWS):
                    b = min(n, a + BLOCK_ROWS)
                    d[pos + a : pos + b] = s[col][a:b]
                pos += n
        for col, (dtype, tail) in rag_spec.items():
            sub = g.create_group(col)
            offs = [s[col]["offsets"][()] for s in srcs]
            lens = [int(o[-1]) for o in offs]
            new_off = np.zeros(total + 1, np.int64)
            pos, base = 0, 0
            for o, n in zip(offs, sizes):
                new_off[pos + 1 : pos + n + 1] = o[1:] + base
                pos, base = pos + n, base + int(o[-1])
            h5util.put(sub, "offsets", new_off, compress=False)
            d = _create(sub, "data", (sum(lens), *tail), dtype)
            pos = 0
            block = BLOCK_ROWS * 64
            for s, n in zip(srcs, lens):
                for a in range(0, n, block):
                    b = min(n, a + block)
                    d[pos + a : pos + b] = s[col]["data"][a:b]
                pos += n


def _create(g: h5py.Group, name: str, shape: tuple, dtype) -> h5py.Dataset:
    if int(np.prod(shape)) >= 4096:
        return g.create_dataset(
            name, shape=shape, dtype=dtype, chunks=True, compression="gzip",
            compression_opts=1, shuffle=True,
        )  # fmt: skip
    return g.create_dataset(name, shape=shape, dtype=dtype)


def read_poses(f: h5py.File, row: int) -> tuple[np.ndarray, np.ndarray]:
    """(coords (M, n, 3), affinity (M,)) of ``row`` in an open results file."""
    g = f["ligands"]
    m, n = int(g["n_poses"][row]), int(g["n_atoms"][row])
    aff, _ = h5util.read_ragged_rows(g["pose_affinity"], row, row + 1)
    xyz, _ = h5util.read_ragged_rows(g["pose_coords"], row, row + 1)
    return xyz.reshape(m, n, 3), aff


def json_attr(f: h5py.File, name: str, default):
    raw = f.attrs.get(name)
    return default if raw is None else json.loads(raw)
