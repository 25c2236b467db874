"""Feature store at scale: bitmap resume keys, the worker's ChunkReader, the content
fingerprint, and prep's check that its inputs did not change."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from store_factory import make_item, records_equal

from hpcfold.errors import UserError
from hpcfold.store import feature_reader
from hpcfold.store.feature_reader import ChunkReader, gather, gather_text
from hpcfold.store.features import FeatureStore, FeatureWriter, completed_keys, finalize
from hpcfold.store.resume import check_inputs_unchanged, completed_mask

TWO = ["a.smi", "b.smi"]


def _write(out, items, rank=0, run="r1", batch=7):
    with FeatureWriter(out, rank, run, TWO, batch_size=batch) as w:
        for key, item in items:
            w.add(key, item)


def test_completed_mask_matches_the_key_set(tmp_path):
    out = str(tmp_path / "lib.h5")
    keys = [(i % 2, 3 * i + 1) for i in range(90)]
    _write(out, [(k, make_item(i)) for i, k in enumerate(keys[:50])])
    w = FeatureWriter(out, 1, "r2", TWO, batch_size=5)  # a writer killed before close
    for i, k in enumerate(keys[50:70]):
        w.add(k, make_item(50 + i))
    w.flush()
    done = completed_mask(out)
    assert len(done) == len(completed_keys(out)) == 70
    every = {(f, r) for f in range(3) for r in range(-1, 300)}
    assert {k for k in every if k in done} == completed_keys(out)
    assert (0, 10**9) not in done and (7, 1) not in done


def test_completed_mask_reads_keys_in_blocks(tmp_path, monkeypatch):
    from hpcfold.store import resume

    out = str(tmp_path / "lib.h5")
    _write(out, [((i % 2, i), make_item(i)) for i in range(40)], batch=40)
    sizes = []
    add = resume.DoneKeys.add
    monkeypatch.setattr(resume, "KEY_BLOCK", 6)
    monkeypatch.setattr(
        resume.DoneKeys, "add", lambda self, k: sizes.append(len(k)) or add(self, k)
    )
    assert len(completed_mask(out)) == 40 and max(sizes) == 6


def test_chunk_reader_reads_only_the_chunk_and_matches_the_store(tmp_path):
    out = str(tmp_path / "lib.h5")
    items = [((i % 2, i), make_item(i)) for i in range(150)]
    for rank in range(3):
        _write(out, items[rank::3], rank=rank, batch=4 + rank)
    finalize(out, TWO)
    reader = ChunkReader(out)
    with FeatureStore(out) as store:
        for chunk in store.chunks(9):
            got, want = reader.read(chunk.indices), store.read(chunk.indices)
            assert [r.lig_id for r in got] == store.ids(chunk.indices)
            assert all(records_equal(a, b) for a, b in zip(got, want))
        bad = int(np.flatnonzero(store.status != 0)[0])
    with pytest.raises(ValueError, match="failed in prep"):
        reader.read([bad])
    with pytest.raises(IndexError):
        reader.read([150])
    reader.close()


def test_chunk_reader_memory_is_bounded_whatever_the_shards(tmp_path):
    """A worker's reader keeps at most ``WORKER_OPEN_SHARDS`` shards open, each file (and the
    index) with a ``WORKER_CACHE_BYTES`` chunk cache per dataset: its memory is the same for a
    library of 1 shard or 1,000 (HDF5 fills each cache up to its size as chunks are read)."""
    out = str(tmp_path / "lib.h5")
    items = [((i % 2, i), make_item(i)) for i in range(120)]
    for rank in range(6):
        _write(out, items[rank::6], rank=rank)
    finalize(out, TWO)
    reader = ChunkReader(out)
    with FeatureStore(out) as store:
        for chunk in store.chunks(5):
            reader.read(chunk.indices)
            assert len(reader._shards.open) <= feature_reader.WORKER_OPEN_SHARDS
    files = [reader._f] + [sh.file for sh in reader._shards.open.values()]
    for f in files:
        assert f.id.get_access_plist().get_cache()[2] == feature_reader.WORKER_CACHE_BYTES
    reader.close()


def test_gather_any_order_and_far_apart(tmp_path):
    import h5py

    with h5py.File(tmp_path / "g.h5", "w") as f:
        f["x"] = np.arange(100_000) * 3
        g = f.create_group("t")
        words = [f"w{i}" * (i % 4) for i in range(20_000)]
        g["data"] = np.frombuffer("".join(words).encode(), np.uint8)
        g["offsets"] = np.concatenate([[0], np.cumsum([len(w) for w in words])])
        idx = np.array([99_999, 5, 50_000, 6, 0, 12_345])
        assert gather(f["x"], idx).tolist() == (idx * 3).tolist()
        tidx = np.array([19_999, 3, 7, 10_000, 1])
        assert gather_text(g, tidx) == [words[i] for i in tidx]


def test_fingerprint_is_content_not_layout(tmp_path):
    a, b, c = (str(tmp_path / f"{x}.h5") for x in "abc")
    items = [((i % 2, i), make_item(i)) for i in range(60)]
    _write(a, items, batch=1000)
    for rank in range(3):  # other ranks and batches: same content
        _write(b, items[rank::3], rank=rank, batch=3)
    _write(c, items[:-1])  # one ligand fewer
    for p in (a, b, c):
        finalize(p, TWO)
    fa, fb, fc = (FeatureStore(p).fingerprint for p in (a, b, c))
    assert fa == fb and fa != fc and len(fa) == 64


def test_prep_resume_refuses_a_changed_input(tmp_path):
    src = tmp_path / "a.smi"
    src.write_text("CCO one\n" * 1000)
    out = str(tmp_path / "lib.h5")
    check_inputs_unchanged(out, [str(src)])  # first run: records the inputs
    with FeatureWriter(out, 0, "r1", [str(src)], batch_size=2) as w:
        w.add((0, 0), make_item(0))
    check_inputs_unchanged(out, [str(src)])  # unchanged: resumes
    mtime = os.stat(src).st_mtime_ns
    src.write_text("CCO one\n" * 999 + "CCN two\n")  # same size, other tail
    os.utime(src, ns=(time.time_ns(), mtime))  # mtime kept: only the hash tells
    with pytest.raises(UserError, match=r"changed since the interrupted prep .*\(sha256_head"):
        check_inputs_unchanged(out, [str(src)])
    src.write_text("CCO one\n" * 1001)
    with pytest.raises(UserError, match="size, mtime_ns, sha256_head_tail differ.*afresh"):
        check_inputs_unchanged(out, [str(src)])


def test_iter_chunks_equals_chunks_in_bounded_blocks(tmp_path):
    out = str(tmp_path / "lib.h5")
    _write(out, [((i % 2, i), make_item(i)) for i in range(140)])
    finalize(out, TWO)
    with FeatureStore(out) as store:
        for size in (1, 5, 16, 1000):
            want = [(c.chunk_id, c.bucket.index, c.indices.tolist()) for c in store.chunks(size)]
            for block in (7, 64, 1 << 22):  # chunks straddle the blocks
                got = [(c.chunk_id, c.bucket.index, c.indices.tolist())
                       for c in store.iter_chunks(size, block=block)]  # fmt: skip
                assert got == want, (size, block)
