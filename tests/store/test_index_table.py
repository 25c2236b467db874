"""``finalize`` builds the index without Python strings: the same table and fingerprint as the
string table gave, ids compared as byte rows, and a peak that grows by tens of bytes per
ligand (tracemalloc), not by the ~700 of lists of ``str``."""

from __future__ import annotations

import hashlib
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from store_factory import make_item

from hpcfold.store import features, h5util, index_table
from hpcfold.store.features import FeatureStore, FeatureWriter, finalize

TWO = ["a.smi", "b.smi"]


def _write(out, items, rank=0, run="r1", batch=50):
    with FeatureWriter(out, rank, run, TWO, batch_size=batch) as w:
        for key, item in items:
            w.add(key, item)


def reference_fingerprint(store: FeatureStore) -> str:
    """The fingerprint as a sha256 over the string table (ids as stored, renamed)."""
    n = store.n_ligands
    f = store._f["ligands"]
    h = hashlib.sha256(b"hpcfold-features-v1")
    for name in ("key", "status", "reason", "n_atoms", "n_torsions", "n_pairs"):
        h.update(np.ascontiguousarray(f[name][()]).astype("<i8").tobytes())
    for texts in (store.ids(np.arange(n)), store.smiles(np.arange(n))):
        for text in texts:
            h.update(text.encode("utf-8", "surrogateescape") + b"\x00")
    return h.hexdigest()


def test_table_and_fingerprint_match_the_string_table(tmp_path):
    out = str(tmp_path / "lib.h5")
    items = [((i % 2, i), make_item(i)) for i in range(90)]
    dup = [((0, 1000 + i), make_item(i)) for i in range(5)]  # the ids L0..L4 again
    for rank in range(3):
        _write(out, items[rank::3] + (dup if rank == 1 else []), rank=rank)
    _write(out, items[10:20], rank=7, run="crash")  # leftovers: the same keys twice
    info = finalize(out, TWO)
    assert info["total"] == 95 and info["renamed"] == 5
    with FeatureStore(out) as store:
        ids = store.ids(np.arange(95))
        assert len(set(ids)) == 95 and ids.count("L3#2") == 1
        assert store.original_ids(np.arange(95)).count("L3") == 2
        keys = store.keys
        assert (np.diff(keys[:, 0] * 10**6 + keys[:, 1]) > 0).all()
        assert store.fingerprint == reference_fingerprint(store)
        want = {i: make_item(i) for i in range(90)}
        for k, (_fi, rec) in enumerate(keys.tolist()):
            if rec < 1000:
                assert store.smiles([k])[0] == want[rec].smiles


def test_unique_ids_never_become_python_strings(tmp_path, monkeypatch):
    out = str(tmp_path / "lib.h5")
    _write(out, [((0, i), make_item(i)) for i in range(60)])

    def refuse(*a, **k):
        raise AssertionError("ids turned into a list of str")

    monkeypatch.setattr(features, "rename_duplicates", refuse)
    monkeypatch.setattr(index_table, "strings", refuse)
    assert finalize(out, TWO)["total"] == 60


def test_has_duplicates_compares_bytes_and_lengths():
    def col(texts):
        enc = [t.encode() for t in texts]
        return np.frombuffer(b"".join(enc), np.uint8), h5util.offsets_from_lengths(
            [len(e) for e in enc]
        )

    for texts, sel, want in (
        (["a", "a\0", "b"], [0, 1, 2], False),
        (["a", "b", "a"], [0, 1, 2], True),
        (["a", "b", "a"], [0, 1], False),
        (["", "x", ""], [0, 2], True),
        (["y" * 300, "y" * 300], [0, 1], True),  # longer than MAX_FIXED_ID: as strings
    ):
        blob, off = col(texts)
        assert index_table.has_duplicates(blob, off, np.array(sel)) is want, texts


@pytest.mark.parametrize("n", [(1_000, 8_000)])
def test_finalize_peak_grows_by_the_numeric_columns_only(tmp_path, monkeypatch, n):
    monkeypatch.setattr(index_table, "BLOCK", 500)  # blocks smaller than both stores
    peaks = {}
    for size in n:
        out = str(tmp_path / f"lib{size}.h5")
        items = [((i % 2, i), replace(make_item(i % 500), lig_id=f"L{i}")) for i in range(size)]
        for rank in range(2):
            _write(out, items[rank::2], rank=rank, batch=4000)
        tracemalloc.start()
        try:
            finalize(out, TWO)
            peaks[size] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    per_ligand = (peaks[n[1]] - peaks[n[0]]) / (n[1] - n[0])
    assert per_ligand < 120, peaks  # ~55 B here; a list of str per ligand would be ~700 B
