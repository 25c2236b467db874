"""Feature-store shard files: a batch of ligands (LigandRecord or Failure) <-> one HDF5 file.

A segment (one committed batch of one writer) and a merged shard (all batches of one writer)
share this layout; see docs/file-formats.md. Rows are sorted by (bucket, key) with failures
last, so the ok ligands of one bucket that a screening chunk asks for are contiguous rows.
"""

from __future__ import annotations

import json
import uuid

import h5py
import numpy as np

from hpcfold.store import h5util
from hpcfold.types import BUCKETS, SCHEMA_VERSION, Failure, LigandRecord, Reason, bucket_for

SHARD_KIND = "hpcfold-features-shard"
STATUS_OK, STATUS_FAILED = 0, 1
FAILED_BUCKET = -1
TEXT_FIELDS = ("lig_id", "smiles", "source", "message", "pdbqt", "molblock")
# fixed-size per-row columns read by finalize / completed_keys (no ragged data)
SUMMARY_FIELDS = ("key", "status", "reason", "bucket", "n_atoms", "n_torsions", "n_pairs")


def record_problem(rec: LigandRecord) -> str | None:
    """Why a LigandRecord is internally inconsistent (None when it is fine)."""
    try:
        n = rec.coords.shape[0]
        t = rec.torsion_atoms.shape[0]
        h = int(np.count_nonzero(np.asarray(rec.xs_types) >= 0))
        checks = [
            (rec.coords.shape == (n, 3), "coords must be (n, 3)"),
            (np.all(np.isfinite(rec.coords)), "coordinates are not finite"),
            (np.shape(rec.ad_types) == (n,), "ad_types must be (n,)"),
            (np.shape(rec.xs_types) == (n,), "xs_types must be (n,)"),
            (np.shape(rec.charges) == (n,), "charges must be (n,)"),
            (np.shape(rec.frame_of_atom) == (n,), "frame_of_atom must be (n,)"),
            (np.shape(rec.torsion_atoms) == (t, 2), "torsion_atoms must be (T, 2)"),
            (np.shape(rec.torsion_parent) == (t,), "torsion_parent must be (T,)"),
            (np.ndim(rec.intra_pairs) == 2 and np.shape(rec.intra_pairs)[1] == 2, "pairs (P, 2)"),
            (np.ndim(rec.bonds) == 2 and np.shape(rec.bonds)[1] == 3, "bonds must be (B, 3)"),
            (np.ndim(rec.automorphisms) == 2, "automorphisms must be (K, H)"),
            (np.shape(rec.automorphisms)[1] == h or rec.automorphisms.size == 0, "auto (K, H)"),
            (rec.mol_index is None or np.shape(rec.mol_index) == (n,), "mol_index must be (n,)"),
            (np.isfinite(rec.n_rot), "n_rot is not finite"),
        ]
    except (AttributeError, TypeError, ValueError, IndexError) as exc:
        return f"malformed record: {exc}"
    bad = [msg for ok, msg in checks if not ok]
    return "; ".join(bad) if bad else None


def normalize_item(item: LigandRecord | Failure) -> tuple[LigandRecord | Failure, int]:
    """(item, bucket index): records that fit no bucket or are inconsistent become Failures."""
    if isinstance(item, Failure):
        return item, FAILED_BUCKET
    if not isinstance(item, LigandRecord):
        raise TypeError(f"expected LigandRecord or Failure, got {type(item).__name__}")
    problem = record_problem(item)
    if problem is not None:
        fail = Failure(item.lig_id, item.source, item.smiles, Reason.INTERNAL_ERROR, problem)
        return fail, FAILED_BUCKET
    n_pairs = int(item.intra_pairs.shape[0])
    b = bucket_for(item.n_atoms, item.n_torsions, n_pairs)
    if b is None:
        big = BUCKETS[-1]
        msg = (
            f"{item.n_atoms} atoms, {item.n_torsions} torsions, {n_pairs} intra pairs: larger than "
            f"the largest bucket {big.name} ({big.n_atoms} atoms, {big.n_torsions} torsions, "
            f"{big.n_pairs} pairs)"
        )
        return Failure(item.lig_id, item.source, item.smiles, Reason.TOO_LARGE, msg), FAILED_BUCKET
    return item, b.index


ROW_DTYPE = np.dtype([
    ("key", np.int64, (2,)), ("status", np.int8), ("reason", np.int16), ("bucket", np.int8),
    ("n_atoms", np.int32), ("n_torsions", np.int32), ("n_pairs", np.int32),
    ("n_bonds", np.int32), ("n_heavy", np.int32), ("n_auto", np.int32), ("n_rot", np.float32),
    ("auto_truncated", np.uint8), ("has_mol_index", np.uint8),
])  # fmt: skip
ATOM_DTYPE = np.dtype([
    ("coords", np.float32, (3,)), ("ad_types", np.int8), ("xs_types", np.int8),
    ("charges", np.float32), ("frame_of_atom", np.int16), ("mol_index", np.int32),
])  # fmt: skip
TORSION_DTYPE = np.dtype([("atoms", np.int32, (2,)), ("parent", np.int16)])
# columns of ligands/offsets: start of each row in these datasets
OFFSET_COLS = ("atoms", "torsions", "pairs", "bonds", "automorphisms", "meta_text", "mol_text")
META_TEXT, MOL_TEXT = TEXT_FIELDS[:4], TEXT_FIELDS[4:]


def write_rows(
    path: str,
    keys: list[tuple[int, int]],
    items: list[LigandRecord | Failure],
    buckets: list[int],
    attrs: dict,
    fsync: bool = True,
) -> None:
    """Write normalized items (see normalize_item) as one shard file, atomically."""
    kb = np.where(np.asarray(buckets, dtype=np.int64) < 0, 1 << 20, buckets)
    karr = np.asarray(keys, dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((karr[:, 1], karr[:, 0], kb)) if len(keys) else np.zeros(0, np.int64)
    items = [items[i] for i in order]
    n = len(items)
    rows = np.zeros(n, ROW_DTYPE)
    rows["key"], rows["bucket"] = karr[order], np.asarray(buckets, np.int8).reshape(-1)[order]
    atoms, tors, pairs, bonds, auto = [], [], [], [], []
    meta_txt, mol_txt, text_len = [], [], np.zeros((n, len(TEXT_FIELDS)), np.int64)
    for k, it in enumerate(items):
        strings = [_text(it, name).encode("utf-8", "surrogateescape") for name in TEXT_FIELDS]
        text_len[k] = [len(x) for x in strings]
        meta_txt.extend(strings[:4])
        mol_txt.extend(strings[4:])
        if isinstance(it, Failure):
            rows["status"][k], rows["reason"][k] = STATUS_FAILED, int(it.reason)
            continue
        r = rows[k : k + 1]
        r["n_atoms"], r["n_torsions"], r["n_pairs"] = it.n_atoms, it.n_torsions, len(it.intra_pairs)
        r["n_bonds"], r["n_heavy"], r["n_auto"] = len(it.bonds), it.n_heavy, len(it.automorphisms)
        r["n_rot"], r["auto_truncated"] = it.n_rot, it.automorphisms_truncated
        r["has_mol_index"] = it.mol_index is not None
        a = np.zeros(it.n_atoms, ATOM_DTYPE)
        a["coords"], a["ad_types"], a["xs_types"] = it.coords, it.ad_types, it.xs_types
        a["charges"], a["frame_of_atom"] = it.charges, it.frame_of_atom
        a["mol_index"] = -1 if it.mol_index is None else it.mol_index
        atoms.append(a)
        t = np.zeros(it.n_torsions, TORSION_DTYPE)
        t["atoms"], t["parent"] = it.torsion_atoms.reshape(-1, 2), it.torsion_parent
        tors.append(t)
        pairs.append(it.intra_pairs)
        bonds.append(it.bonds)
        auto.append(np.asarray(it.automorphisms).reshape(-1))
    lengths = np.stack([
        rows["n_atoms"], rows["n_torsions"], rows["n_pairs"], rows["n_bonds"],
        rows["n_auto"].astype(np.int64) * rows["n_heavy"] * (rows["status"] == STATUS_OK),
        text_len[:, :4].sum(axis=1), text_len[:, 4:].sum(axis=1),
    ], axis=1).astype(np.int64) if n else np.zeros((0, len(OFFSET_COLS)), np.int64)  # fmt: skip
    offsets = np.zeros((n + 1, len(OFFSET_COLS)), np.int64)
    np.cumsum(lengths, axis=0, out=offsets[1:])

    def write(f: h5py.File) -> None:
        f.attrs.update(attrs)
        f.attrs.update(kind=SHARD_KIND, schema_version=SCHEMA_VERSION, uuid=uuid.uuid4().hex,
                       n_rows=n)  # fmt: skip
        g = f.create_group("ligands")
        h5util.put(g, "rows", rows)
        h5util.put(g, "offsets", offsets)
        h5util.put(g, "text_len", text_len.astype(np.int32))
        h5util.put(g, "atoms", np.concatenate(atoms) if atoms else np.zeros(0, ATOM_DTYPE))
        h5util.put(g, "torsions", np.concatenate(tors) if tors else np.zeros(0, TORSION_DTYPE))
        h5util.put(g, "pairs", h5util.concat(pairs, np.int32, (2,)))
        h5util.put(g, "bonds", h5util.concat(bonds, np.int32, (3,)))
        h5util.put(g, "automorphisms", h5util.concat(auto, np.int16))
        h5util.put(g, "meta_text", np.frombuffer(b"".join(meta_txt), np.uint8))
        h5util.put(g, "mol_text", np.frombuffer(b"".join(mol_txt), np.uint8))

    h5util.atomic_h5(path, write, fsync=fsync)


def _text(item: LigandRecord | Failure, name: str) -> str:
    if name in ("pdbqt", "molblock"):
        return getattr(item, name) if isinstance(item, LigandRecord) else ""
    if name == "message":
        return item.message if isinstance(item, Failure) else ""
    return str(getattr(item, name))


def check_shard(f: h5py.File, path: str) -> None:
    if f.attrs.get("kind") != SHARD_KIND:
        raise ValueError(f"{path}: not an hpcfold feature shard")
    if int(f.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: schema version {f.attrs.get('schema_version')} != {SCHEMA_VERSION}; "
            "delete the store and rerun prep"
        )


def shard_inputs(f: h5py.File) -> list[str]:
    return json.loads(f.attrs["inputs"])


def read_keys(f: h5py.File) -> np.ndarray:
    """(n, 2) int64 keys of every row of an open shard."""
    return f["ligands/rows"].fields("key")[()]


def _split(raw: bytes, lens: np.ndarray) -> list[list[str]]:
    """Strings of a row-major blob: per row, one per column of ``lens`` (n, k)."""
    ends = np.cumsum(lens.reshape(-1), dtype=np.int64)
    starts = ends - lens.reshape(-1)
    flat = [
        raw[a:b].decode("utf-8", "surrogateescape") for a, b in zip(starts.tolist(), ends.tolist())
    ]
    k = lens.shape[1]
    return [flat[i * k : (i + 1) * k] for i in range(lens.shape[0])]


def read_summary(f: h5py.File) -> dict:
    """Row columns plus the short text columns (id, SMILES, source, message) of every row."""
    g = f["ligands"]
    rows = g["rows"][()]
    out = {name: rows[name] for name in SUMMARY_FIELDS}
    texts = _split(g["meta_text"][()].tobytes(), g["text_len"][:, :4])
    for k, name in enumerate(META_TEXT):
        out[name] = [t[k] for t in texts]
    return out


class Shard:
    """An open shard file with its datasets looked up once (reads are then cheap)."""

    def __init__(self, f: h5py.File):
        self.file = f
        self.attrs = f.attrs
        g = f["ligands"]
        self.ds = {name: g[name] for name in g}

    def close(self) -> None:
        self.file.close()


def read_rows(shard: Shard | h5py.File, start: int, stop: int) -> list[LigandRecord | Failure]:
    """Decode rows ``[start, stop)``: one contiguous read per dataset (9 reads in all)."""
    sh = shard if isinstance(shard, Shard) else Shard(shard)
    ds = sh.ds
    rows = ds["rows"][start:stop]
    off = ds["offsets"][start : stop + 1]
    lo, hi = off[0], off[-1]
    rel = off - lo

    def data(name: str):
        c = OFFSET_COLS.index(name)
        return ds[name][int(lo[c]) : int(hi[c])]

    atoms, tors = data("atoms"), data("torsions")
    a_fields = {k: np.ascontiguousarray(atoms[k]) for k in ATOM_DTYPE.names}
    t_atoms, t_parent = np.ascontiguousarray(tors["atoms"]), np.ascontiguousarray(tors["parent"])
    pairs, bonds, auto = data("pairs"), data("bonds"), data("automorphisms")
    lens = ds["text_len"][start:stop]
    meta = _split(data("meta_text").tobytes(), lens[:, :4])
    mol = _split(data("mol_text").tobytes(), lens[:, 4:])
    out: list[LigandRecord | Failure] = []
    for i in range(stop - start):
        r = rows[i]
        lig_id, smiles, source, message = meta[i]
        if r["status"] != STATUS_OK:
            out.append(Failure(lig_id, source, smiles, Reason(int(r["reason"])), message))
            continue

        def sl(col: int, i=i) -> slice:
            return slice(int(rel[i, col]), int(rel[i + 1, col]))

        sa, st = sl(0), sl(1)
        out.append(
            LigandRecord(
                lig_id=lig_id,
                smiles=smiles,
                source=source,
                coords=a_fields["coords"][sa],
                ad_types=a_fields["ad_types"][sa],
                xs_types=a_fields["xs_types"][sa],
                charges=a_fields["charges"][sa],
                frame_of_atom=a_fields["frame_of_atom"][sa],
                torsion_atoms=t_atoms[st],
                torsion_parent=t_parent[st],
                intra_pairs=pairs[sl(2)],
                bonds=bonds[sl(3)],
                n_rot=float(r["n_rot"]),
                automorphisms=auto[sl(4)].reshape(int(r["n_auto"]), int(r["n_heavy"])),
                automorphisms_truncated=bool(r["auto_truncated"]),
                pdbqt=mol[i][0],
                molblock=mol[i][1],
                mol_index=a_fields["mol_index"][sa] if r["has_mol_index"] else None,
            )
        )
    return out
