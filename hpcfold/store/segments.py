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
    karr, barr = karr[order], np.asarray(buckets, dtype=np.int8)[order]
    recs = [it for it in items if isinstance(it, LigandRecord)]
    empty_i = np.zeros(0, np.int32)

    def per(fn, dtype):  # per-row value, failures contribute 0
        return np.array([fn(it) if isinstance(it, LigandRecord) else 0 for it in items], dtype)

    def write(f: h5py.File) -> None:
        f.attrs.update(attrs)
        f.attrs["kind"] = SHARD_KIND
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["uuid"] = uuid.uuid4().hex
        f.attrs["n_rows"] = len(items)
        g = f.create_group("ligands")
        h5util.put(g, "key", karr, compress=False)
        status = [STATUS_OK if isinstance(it, LigandRecord) else STATUS_FAILED for it in items]
        h5util.put(g, "status", np.array(status, np.int8), compress=False)
        reason = [0 if isinstance(it, LigandRecord) else int(it.reason) for it in items]
        h5util.put(g, "reason", np.array(reason, np.int16), compress=False)
        h5util.put(g, "bucket", barr, compress=False)
        h5util.put(g, "n_atoms", per(lambda r: r.n_atoms, np.int32), compress=False)
        h5util.put(g, "n_torsions", per(lambda r: r.n_torsions, np.int32), compress=False)
        h5util.put(g, "n_pairs", per(lambda r: len(r.intra_pairs), np.int32), compress=False)
        h5util.put(g, "n_heavy", per(lambda r: r.n_heavy, np.int32), compress=False)
        h5util.put(g, "n_auto", per(lambda r: len(r.automorphisms), np.int32), compress=False)
        h5util.put(g, "n_rot", per(lambda r: r.n_rot, np.float32), compress=False)
        h5util.put(g, "auto_truncated", per(lambda r: r.automorphisms_truncated, np.uint8))
        h5util.put(g, "has_mol_index", per(lambda r: r.mol_index is not None, np.uint8))
        a = g.create_group("atoms")
        h5util.put(a, "offsets", h5util.offsets_from_lengths(per(lambda r: r.n_atoms, np.int64)))
        h5util.put(a, "coords", h5util.concat([r.coords for r in recs], np.float32, (3,)))
        h5util.put(a, "ad_types", h5util.concat([r.ad_types for r in recs], np.int8))
        h5util.put(a, "xs_types", h5util.concat([r.xs_types for r in recs], np.int8))
        h5util.put(a, "charges", h5util.concat([r.charges for r in recs], np.float32))
        h5util.put(a, "frame_of_atom", h5util.concat([r.frame_of_atom for r in recs], np.int16))
        mol_index = [
            r.mol_index if r.mol_index is not None else np.full(r.n_atoms, -1, np.int32)
            for r in recs
        ]
        h5util.put(a, "mol_index", h5util.concat(mol_index, np.int32))
        t = g.create_group("torsions")
        h5util.put(t, "offsets", h5util.offsets_from_lengths(per(lambda r: r.n_torsions, np.int64)))
        h5util.put(t, "atoms", h5util.concat([r.torsion_atoms for r in recs], np.int32, (2,)))
        h5util.put(t, "parent", h5util.concat([r.torsion_parent for r in recs], np.int16))
        pairs = [r.intra_pairs if isinstance(r, LigandRecord) else empty_i for r in items]
        h5util.put_ragged(g, "pairs", pairs, np.int32, (2,))
        bonds = [r.bonds if isinstance(r, LigandRecord) else empty_i for r in items]
        h5util.put_ragged(g, "bonds", bonds, np.int32, (3,))
        auto = [
            r.automorphisms.reshape(-1) if isinstance(r, LigandRecord) else empty_i for r in items
        ]
        h5util.put_ragged(g, "automorphisms", auto, np.int16)
        tx = g.create_group("text")
        for name in TEXT_FIELDS:
            h5util.put_text(tx, name, [_text(it, name) for it in items])

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


def read_summary(f: h5py.File) -> dict[str, np.ndarray]:
    """The fixed-size columns plus the short text columns of every row (no ragged arrays)."""
    g = f["ligands"]
    out = {name: g[name][()] for name in SUMMARY_FIELDS}
    for name in ("lig_id", "smiles", "source", "message"):
        out[name] = h5util.read_text_all(g["text"][name])
    return out


def read_rows(f: h5py.File, start: int, stop: int) -> list[LigandRecord | Failure]:
    """Decode rows ``[start, stop)`` of an open shard with one contiguous read per dataset."""
    g = f["ligands"]
    sl = slice(start, stop)
    status, reason = g["status"][sl], g["reason"][sl]
    n_heavy, n_auto, n_rot = g["n_heavy"][sl], g["n_auto"][sl], g["n_rot"][sl]
    truncated, has_mi = g["auto_truncated"][sl], g["has_mol_index"][sl]
    text = {name: h5util.read_text_rows(g["text"][name], start, stop) for name in TEXT_FIELDS}
    a_off = g["atoms/offsets"][start : stop + 1]
    a0, a1 = int(a_off[0]), int(a_off[-1])
    atoms = {k: g["atoms"][k][a0:a1] for k in g["atoms"] if k != "offsets"}
    a_off = a_off - a0
    t_off = g["torsions/offsets"][start : stop + 1]
    t0, t1 = int(t_off[0]), int(t_off[-1])
    t_atoms, t_parent = g["torsions/atoms"][t0:t1], g["torsions/parent"][t0:t1]
    t_off = t_off - t0
    pairs, p_off = h5util.read_ragged_rows(g["pairs"], start, stop)
    bonds, b_off = h5util.read_ragged_rows(g["bonds"], start, stop)
    auto, u_off = h5util.read_ragged_rows(g["automorphisms"], start, stop)
    out: list[LigandRecord | Failure] = []
    for i in range(stop - start):
        lig_id, smiles, source = text["lig_id"][i], text["smiles"][i], text["source"][i]
        if status[i] != STATUS_OK:
            out.append(Failure(lig_id, source, smiles, Reason(int(reason[i])), text["message"][i]))
            continue
        sa = slice(int(a_off[i]), int(a_off[i + 1]))
        st = slice(int(t_off[i]), int(t_off[i + 1]))
        k, h = int(n_auto[i]), int(n_heavy[i])
        out.append(
            LigandRecord(
                lig_id=lig_id,
                smiles=smiles,
                source=source,
                coords=atoms["coords"][sa],
                ad_types=atoms["ad_types"][sa],
                xs_types=atoms["xs_types"][sa],
                charges=atoms["charges"][sa],
                frame_of_atom=atoms["frame_of_atom"][sa],
                torsion_atoms=t_atoms[st],
                torsion_parent=t_parent[st],
                intra_pairs=pairs[int(p_off[i]) : int(p_off[i + 1])],
                bonds=bonds[int(b_off[i]) : int(b_off[i + 1])],
                n_rot=float(n_rot[i]),
                automorphisms=auto[int(u_off[i]) : int(u_off[i + 1])].reshape(k, h),
                automorphisms_truncated=bool(truncated[i]),
                pdbqt=text["pdbqt"][i],
                molblock=text["molblock"][i],
                mol_index=atoms["mol_index"][sa] if has_mi[i] else None,
            )
        )
    return out
