"""Feature store: round trip, many writers + finalize, resume, duplicate ids, chunks."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest
from store_factory import make_item, make_record, records_equal

from hpcfold.errors import UserError
from hpcfold.store.features import (
    FeatureStore,
    FeatureWriter,
    completed_keys,
    finalize,
    rename_duplicates,
    shards_dir,
)
from hpcfold.types import Failure, Reason, bucket_for

TWO = ["a.smi", "b.smi"]


def _write(out, keys_items, rank=0, run="run1", batch=10, inputs=("lib.smi",)):
    with FeatureWriter(out, rank, run, list(inputs), batch_size=batch) as w:
        for key, item in keys_items:
            w.add(key, item)


def _expected(i):
    return make_item(i)


def test_buckets_come_from_the_stored_sizes(tmp_path):
    """A store written with another bucket table (an older hpcfold) is read with this version's
    buckets: the reader derives them from each ligand's stored sizes, not the stored index."""
    out = str(tmp_path / "lib.h5")
    sizes = [(10, 2), (22, 4), (30, 6), (38, 9), (45, 11), (60, 14)] * 3
    _write(out, [((0, i), make_record(i, a, t)) for i, (a, t) in enumerate(sizes)])
    finalize(out, ["lib.smi"])
    with FeatureStore(out) as store:
        fresh = [(c.bucket, c.indices.tolist()) for c in store.chunks(4)]
    with h5py.File(out, "r+") as f:  # as if prep had used other buckets
        f["ligands/bucket"][...] = (f["ligands/bucket"][()] + 3) % 5
    with FeatureStore(out) as store:
        assert [(c.bucket, c.indices.tolist()) for c in store.chunks(4)] == fresh
        for bucket, idx in fresh:
            for rec in store.read(np.array(idx)):
                assert bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs)) == bucket


def test_round_trip_records_and_failures(tmp_path):
    out = str(tmp_path / "lib.h5")
    items = [((0, i), make_item(i)) for i in range(40)]
    big = make_record(40, n_atoms=420, n_tors=3)  # more atoms than the largest bucket
    bad = make_record(41)
    object.__setattr__(bad, "charges", bad.charges[:-1])  # inconsistent: (n-1,) charges
    mid = make_record(42, n_atoms=60, n_tors=14)  # bucket a64t16
    items += [((0, 40), big), ((0, 41), bad), ((1, 0), mid)]
    _write(out, items, batch=8, inputs=TWO)
    counts = finalize(out, TWO)
    n_fail_src = sum(isinstance(it, Failure) for _, it in items)
    assert counts["total"] == 43
    assert counts["failed"] == n_fail_src + 2
    with FeatureStore(out) as store:
        assert store.counts() == {
            "total": 43,
            "ok": 43 - counts["failed"],
            "failed": counts["failed"],
        }
        ok = np.flatnonzero(store.status == 0)
        for i, rec in zip(ok, store.read(ok)):
            key = tuple(store.keys[i])
            want = mid if key == (1, 0) else make_record(int(key[1]))
            assert records_equal(rec, want), key
        fails = dict(store.failures())
        by_key = {tuple(store.keys[i]): f for i, f in fails.items()}
        assert by_key[(0, 40)].reason == Reason.TOO_LARGE
        assert "a400t96" in by_key[(0, 40)].message
        assert by_key[(0, 41)].reason == Reason.INTERNAL_ERROR
        assert "charges" in by_key[(0, 41)].message
        assert by_key[(0, 3)] == _expected(3)  # a Failure round-trips exactly
        assert store.sources([0]) == ["lib.smi:1"]
        with pytest.raises(ValueError, match="failed in prep"):
            store.read([3])
        d = store.describe()
        assert d["failures_by_reason"]["TOO_LARGE"] == 1
        assert sum(b["count"] for b in d["buckets"]) == d["ok"]


def test_many_writers_same_index_as_one(tmp_path):
    n = 120
    one, many = str(tmp_path / "one.h5"), str(tmp_path / "many.h5")
    _write(one, [((i % 2, i), make_item(i)) for i in range(n)], batch=1000, inputs=TWO)
    for rank in range(4):  # round-robin split, different batch sizes
        mine = [((i % 2, i), make_item(i)) for i in range(n) if i % 4 == rank]
        _write(many, mine[::-1], rank=rank, run="r1", batch=3 + rank, inputs=TWO)
    assert finalize(one, TWO) == {**finalize(many, TWO), "shards": 1}
    with FeatureStore(one) as a, FeatureStore(many) as b:
        assert np.array_equal(a.keys, b.keys)
        assert a.keys[:, 0].tolist() == sorted(a.keys[:, 0].tolist())  # (file, record) order
        assert a.ids(range(n)) == b.ids(range(n))
        ca, cb = a.chunks(16), b.chunks(16)
        assert [c.indices.tolist() for c in ca] == [c.indices.tolist() for c in cb]
        idx = np.concatenate([c.indices for c in cb])
        for x, y in zip(a.read(idx), b.read(idx)):
            assert records_equal(x, y)


def test_chunks_grouped_by_bucket_largest_first(tmp_path):
    out = str(tmp_path / "lib.h5")
    sizes = [(10, 2), (40, 10), (60, 14), (20, 3), (45, 11), (100, 30)] * 5
    _write(out, [((0, i), make_record(i, a, t)) for i, (a, t) in enumerate(sizes)])
    finalize(out, ["lib.smi"])
    with FeatureStore(out) as store:
        chunks = store.chunks(4)
        order = [c.bucket.index for c in chunks]
        assert order == sorted(order, reverse=True)
        assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
        assert sum(len(c.indices) for c in chunks) == len(sizes)
        for c in chunks:
            assert np.all(np.diff(c.indices) > 0) and len(c.indices) <= 4
            for rec in store.read(c.indices):
                assert bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs)) == c.bucket
        assert len(set(order)) >= 3


def test_duplicate_ids_renamed_stably(tmp_path):
    assert rename_duplicates(["A", "B", "A", "A#2", "A", "B"]) == [
        "A",
        "B",
        "A#3",
        "A#2",
        "A#4",
        "B#2",
    ]
    out = str(tmp_path / "lib.h5")
    ids = ["X", "Y", "X", "Z", "X"]
    items = [((i % 2, i), make_record(i, lig_id=s)) for i, s in enumerate(ids)]
    _write(out, items[3:], rank=1, inputs=TWO)  # rank 1 writes the later records first
    _write(out, items[:3], rank=0, inputs=TWO)
    counts = finalize(out, TWO)
    assert counts["renamed"] == 2
    with FeatureStore(out) as store:
        keys = [tuple(k) for k in store.keys.tolist()]
        got = dict(zip(keys, store.ids(range(5))))
        # global order: (0,0) X, (0,2) X, (0,4) X, (1,1) Y, (1,3) Z
        assert [got[(0, 0)], got[(0, 2)], got[(0, 4)]] == ["X", "X#2", "X#3"]
        assert store.original_ids(range(5)) == ["X", "X", "X", "Y", "Z"]
        assert [r.lig_id for r in store.read(range(5))] == store.ids(range(5))


def test_resume_after_abandoned_writer(tmp_path):
    out = str(tmp_path / "lib.h5")
    w = FeatureWriter(out, 0, "first", ["lib.smi"], batch_size=5)
    for i in range(13):  # two segments committed (10 ligands), 3 only buffered
        w.add((0, i), make_item(i))
    segdir = os.path.join(shards_dir(out), "r00000-first")
    open(os.path.join(segdir, "seg-000002.h5.123-abc.tmp"), "wb").write(b"\x89HDF half")
    del w  # "crash": never closed
    assert completed_keys(out) == {(0, i) for i in range(10)}
    done = completed_keys(out)
    with FeatureWriter(out, 0, "second", ["lib.smi"], batch_size=4) as w2:
        for i in range(30):
            if (0, i) not in done:
                w2.add((0, i), make_item(i))
    open(out + ".999-dead.tmp", "wb").write(b"\x89HDF")  # a finalize killed midway
    counts = finalize(out, ["lib.smi"])
    assert counts["total"] == 30
    assert not os.path.exists(out + ".999-dead.tmp")
    assert (
        not any(n.endswith(".tmp") for n in os.listdir(segdir)) if os.path.isdir(segdir) else True
    )
    assert sorted(os.listdir(shards_dir(out))) == ["r00000-first.h5", "r00000-second.h5"]
    with FeatureStore(out) as store:
        assert [tuple(k) for k in store.keys.tolist()] == [(0, i) for i in range(30)]
        assert store.ids(range(30)) == [f"L{i}" for i in range(30)]
    # finalize again (a rerun with nothing left to do) gives the same index
    assert finalize(out, ["lib.smi"]) == counts


def test_merge_crash_leftovers_are_deduplicated(tmp_path):
    out = str(tmp_path / "lib.h5")
    w = FeatureWriter(out, 2, "run", ["lib.smi"], batch_size=4)
    for i in range(10):
        w.add((0, i), make_item(i))
    w.flush()
    segdir = os.path.join(shards_dir(out), "r00002-run")
    saved = str(tmp_path / "saved")
    shutil.copytree(segdir, saved)
    w.close()  # merges and removes the segments
    shutil.copytree(saved, segdir)  # as if killed between the merge's replace and its unlinks
    assert len(completed_keys(out)) == 10
    counts = finalize(out, ["lib.smi"])
    assert counts["total"] == 10
    assert not os.path.isdir(segdir)


def test_inputs_mismatch_is_a_user_error(tmp_path):
    out = str(tmp_path / "lib.h5")
    _write(out, [((0, 0), make_item(0))])
    finalize(out, ["lib.smi"])
    with pytest.raises(UserError, match="other inputs"):
        FeatureWriter(out, 0, "again", ["other.smi"])
    with pytest.raises(UserError, match="other inputs"):
        finalize(out, ["other.smi"])
    with pytest.raises(ValueError, match="run_id"):
        FeatureWriter(out, 0, "bad/id", ["lib.smi"])
    w = FeatureWriter(out, 0, "keys", ["lib.smi"])
    with pytest.raises(ValueError, match="input index"):
        w.add((1, 0), make_item(0))  # only one input file
    w.add((0, 7), make_item(7))
    with pytest.raises(ValueError, match="twice"):
        w.add((0, 7), make_item(7))
    with pytest.raises(TypeError, match="LigandRecord or Failure"):
        w.add((0, 8), "not a record")
    w.close()


def test_reader_detects_changed_shard_and_missing_store(tmp_path):
    out = str(tmp_path / "lib.h5")
    _write(out, [((0, i), make_item(i)) for i in range(5)])
    finalize(out, ["lib.smi"])
    shard = os.path.join(shards_dir(out), "r00000-run1.h5")
    with h5py.File(shard, "r+") as f:
        f.attrs["uuid"] = "changed"
    with FeatureStore(out) as store, pytest.raises(UserError, match="changed after"):
        store.read([0])
    with pytest.raises(UserError, match="not found"):
        FeatureStore(str(tmp_path / "nope.h5"))


def test_empty_store(tmp_path):
    out = str(tmp_path / "lib.h5")
    assert finalize(out, ["empty.smi"])["total"] == 0
    with FeatureStore(out) as store:
        assert store.counts() == {"total": 0, "ok": 0, "failed": 0}
        assert store.chunks(8) == [] and store.failures() == [] and store.read([]) == []


def test_real_ligands_round_trip(tmp_path, shared_data):
    """LigandRecords made by hpcfold.chem from DUD-E SMILES and a PDBQT come back identical."""
    import itertools

    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records

    inputs = [
        str(shared_data / "dude" / "comt" / "actives.smi"),
        str(shared_data / "redock42" / "1ac8" / "ligand_xray.pdbqt"),
    ]
    out = str(tmp_path / "lib.h5")
    want = {}
    for rank, path in enumerate(inputs):  # one writer per input file, like two ranks
        with FeatureWriter(out, rank, "real", inputs) as w:
            for raw in itertools.islice(iter_records(path), 5):
                want[(rank, raw.index)] = prepare_record(raw, PrepOptions())
                w.add((rank, raw.index), want[(rank, raw.index)])
    finalize(out, inputs)
    with FeatureStore(out) as store:
        keys = [tuple(k) for k in store.keys.tolist()]
        assert keys == sorted(want)
        ok = np.flatnonzero(store.status == 0)
        assert len(ok) >= 5
        for i, rec in zip(ok, store.read(ok)):
            assert records_equal(rec, want[keys[i]]), keys[i]
            assert rec.coords.dtype == np.float32 and rec.frame_of_atom.dtype == np.int16
        assert keys[ok[-1]] == (1, 0)  # the PDBQT ligand, which has no mol block
        assert store.read([ok[-1]])[0].mol_index is None
