"""Docking engine on real redock42 inputs with a tiny search (hpcfold.dock.engine, its context
and the refinement).

One compilation per bucket (trace counter), bitwise determinism (same seed twice; the same ligand
in different batches, beside a NaN ligand), the DockResult contract and Failures.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hpcfold.boxes import box_bounds, read_vina_config
from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.receptor import read_receptor
from hpcfold.dock import context, engine, refine
from hpcfold.dock.batch import FAR
from hpcfold.dock.presets import PRESETS, SearchOptions
from hpcfold.types import DockResult, Failure, Reason, bucket_for

OPTS = SearchOptions(
    preset="fast", exhaustiveness=4, n_steps=4, num_modes=3, energy_range=3.0, batch_size=2
)


def ligand(data, cid, lig_id):
    text = (data / "redock42" / cid / "ligand_xray.pdbqt").read_text()
    return parse_ligand_pdbqt(text, lig_id, f"{cid}/ligand_xray.pdbqt")


@pytest.fixture(scope="module")
def setup(shared_data, tmp_path_factory):
    d = shared_data / "redock42" / "1hnn"
    rec = read_receptor(str(d / "receptor.pdbqt"))
    box = read_vina_config(d / "box.txt")
    cache = str(tmp_path_factory.getbasetemp() / "hpcfold-cache")
    ligs = {
        "A": ligand(shared_data, "1hnn", "lig-A"),
        "B": ligand(shared_data, "1p2y", "lig-B"),
        "C": ligand(shared_data, "1lrh", "lig-C"),
    }
    nan = ligs["C"]
    ligs["N"] = dataclasses.replace(
        nan, lig_id="lig-NaN", coords=np.full_like(nan.coords, np.nan)
    )  # fmt: skip
    return rec, box, cache, ligs


def test_batches_traces_and_determinism(setup):
    rec, box, cache, ligs = setup
    ctx = context.make_context(rec, box, OPTS, cache_dir=cache)
    bucket = bucket_for(ligs["A"].n_atoms, ligs["A"].n_torsions, len(ligs["A"].intra_pairs))
    assert all(
        bucket_for(x.n_atoms, x.n_torsions, len(x.intra_pairs)) == bucket for x in ligs.values()
    )
    before = engine.TRACE_COUNTS[bucket.name]
    r1 = engine.dock_ligands(ctx, [ligs["A"], ligs["B"]])  # one chunk
    r2 = engine.dock_ligands(ctx, [ligs["N"], ligs["A"], ligs["C"]])  # two chunks, one padded
    assert engine.TRACE_COUNTS[bucket.name] - before == 1  # one compilation for the bucket
    assert [r.lig_id for r in r1] == ["lig-A", "lig-B"]
    assert [r.lig_id for r in r2] == ["lig-NaN", "lig-A", "lig-C"]
    assert isinstance(r2[0], Failure) and r2[0].reason == Reason.NONFINITE_ENERGY
    a1, a2 = r1[0], r2[1]
    assert isinstance(a1, DockResult) and isinstance(a2, DockResult)
    np.testing.assert_array_equal(a1.coords, a2.coords)  # neighbours never matter
    np.testing.assert_array_equal(a1.affinity, a2.affinity)

    again = context.make_context(rec, box, OPTS, cache_dir=cache)
    a3 = engine.dock_ligands(again, [ligs["A"]])[0]
    np.testing.assert_array_equal(a1.coords, a3.coords)  # same seed, fresh context
    other = context.make_context(rec, box, dataclasses.replace(OPTS, seed=7), cache_dir=cache)
    a4 = engine.dock_ligands(other, [ligs["A"]])[0]
    assert not np.array_equal(a1.coords, a4.coords)


def test_restarting_search_is_batch_independent_and_deterministic(setup):
    """The default preset's cross-chain restarts stay inside one ligand: a ligand docks the
    same beside another ligand or alone, and twice with the same seed."""
    rec, box, cache, ligs = setup
    opts = SearchOptions(exhaustiveness=4, n_steps=6, num_modes=3, batch_size=2)
    ctx = context.make_context(rec, box, opts, cache_dir=cache)
    assert ctx.search.restart_every and ctx.search.restart_every < 6  # restarts do happen
    pair = engine.dock_ligands(ctx, [ligs["B"], ligs["A"]])
    alone = engine.dock_ligands(ctx, [ligs["A"]])[0]
    again = engine.dock_ligands(context.make_context(rec, box, opts, cache_dir=cache), [ligs["A"]])
    for res in (pair[1], alone, again[0]):
        assert isinstance(res, DockResult)
        np.testing.assert_array_equal(res.coords, pair[1].coords)
        np.testing.assert_array_equal(res.affinity, pair[1].affinity)


def test_vmapped_ligands_are_batch_independent(setup, monkeypatch):
    """An accelerator's kernel vmaps the ligands of a call (``ligand_lanes``); run here on CPU:
    the kernel really maps in lanes of two, and a ligand's poses are the same beside another
    ligand, beside a NaN ligand and in a padded chunk. (Against one ligand at a time, the
    vmapped program may round differently.)"""
    import jax

    rec, box, cache, ligs = setup
    base = context.make_context(rec, box, OPTS, cache_dir=cache)
    assert base.ligand_lanes == 1  # CPU: one ligand at a time
    ctx = dataclasses.replace(base, ligand_lanes=2)  # shares base's kernel cache: keyed by lanes
    lax_map, lanes_seen = jax.lax.map, []

    def spy(f, xs, **kw):
        lanes_seen.append(kw.get("batch_size"))
        return lax_map(f, xs, **kw)

    monkeypatch.setattr(jax.lax, "map", spy)
    bucket = bucket_for(ligs["A"].n_atoms, ligs["A"].n_torsions, len(ligs["A"].intra_pairs))
    before = engine.TRACE_COUNTS[bucket.name]
    r1 = engine.dock_ligands(ctx, [ligs["A"], ligs["B"]])
    r2 = engine.dock_ligands(ctx, [ligs["N"], ligs["A"], ligs["C"]])
    assert engine.TRACE_COUNTS[bucket.name] - before == 1
    assert lanes_seen == [2]  # traced once, two ligands per lane step
    assert isinstance(r2[0], Failure) and r2[0].reason == Reason.NONFINITE_ENERGY
    for a, b in ((r1[0], r2[1]), (r1[1], engine.dock_ligands(ctx, [ligs["B"]])[0])):
        np.testing.assert_array_equal(a.coords, b.coords)
        np.testing.assert_array_equal(a.affinity, b.affinity)
    assert all(isinstance(r, DockResult) for r in (*r1, *r2[1:]))


def test_result_contract(setup):
    rec, box, cache, ligs = setup
    ctx = context.make_context(rec, box, OPTS, cache_dir=cache)
    res = engine.dock_ligands(ctx, [ligs["A"]])[0]
    assert isinstance(res, DockResult)
    m, n = len(res.affinity), ligs["A"].n_atoms
    assert 1 <= m <= OPTS.num_modes
    assert res.coords.shape == (m, n, 3) and res.terms.shape == (m, 5)
    for a in (res.coords, res.affinity, res.inter, res.intra, res.terms):
        assert np.all(np.isfinite(a)) and a.dtype == np.float32
    assert np.all(np.diff(res.affinity) >= -1e-4)  # best first
    assert res.affinity[-1] <= res.affinity[0] + OPTS.energy_range + 1e-4
    # Vina's UNBOUND convention: intra_ref = the top pose's intra, for every mode
    w = 1.0 + 0.05846 * ligs["A"].n_rot
    expect = (res.inter + res.intra - res.intra[0]) / w
    np.testing.assert_allclose(res.affinity, expect, atol=2e-3)
    lo, hi, _ = box_bounds(box)
    heavy = res.coords[:, ligs["A"].heavy_index]
    assert np.all(heavy >= lo - 1e-3) and np.all(heavy <= hi + 1e-3)
    assert res.seconds > 0


def test_failures_and_options(setup):
    rec, box, cache, ligs = setup
    ctx = context.make_context(rec, box, OPTS, cache_dir=cache)
    huge = dataclasses.replace(
        ligs["A"], lig_id="huge", intra_pairs=np.zeros((70000, 2), np.int32)
    )  # fmt: skip
    out = engine.dock_ligands(ctx, [huge])
    assert isinstance(out[0], Failure) and out[0].reason == Reason.TOO_LARGE
    assert engine.dock_ligands(ctx, []) == []
    with pytest.raises(ValueError, match="unknown preset"):  # refused before any context
        SearchOptions(preset="nope")
    k1 = context.ligand_key(0, "lig-A")
    assert k1.dtype == np.uint32 and np.array_equal(k1, context.ligand_key(0, "lig-A"))
    assert not np.array_equal(k1, context.ligand_key(1, "lig-A"))
    assert not np.array_equal(k1, context.ligand_key(0, "lig-B"))
    assert set(PRESETS) == {"fast", "balanced", "thorough"}


def test_no_nonfinite_over_200_dude_ligands(shared_data, tmp_path_factory):
    """200 FABP4 actives and decoys (SMILES -> hpcfold prep) with a minimal search: every
    ligand comes out, docked ones with finite values only."""
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records

    d = shared_data / "dude" / "fabp4"
    raws = list(iter_records(str(d / "actives.smi")))[:40]
    raws += list(iter_records(str(d / "decoys.smi")))[:160]
    items = [prepare_record(r, PrepOptions()) for r in raws]
    records = [r for r in items if not isinstance(r, Failure)]
    assert len(records) >= 190
    opts = SearchOptions(
        preset="fast", exhaustiveness=2, n_steps=1, num_modes=1, batch_size=8
    )  # fmt: skip
    ctx = context.make_context(
        read_receptor(str(d / "receptor.pdbqt")), read_vina_config(d / "box.txt"), opts,
        cache_dir=str(tmp_path_factory.getbasetemp() / "hpcfold-cache"),
    )  # fmt: skip
    out = engine.dock_ligands(ctx, records)
    assert [r.lig_id for r in out] == [r.lig_id for r in records]
    failed = [r for r in out if isinstance(r, Failure)]
    assert not failed, failed[:3]
    for res in out:
        for a in (res.coords, res.affinity, res.inter, res.intra, res.terms):
            assert np.all(np.isfinite(a)), res.lig_id


def test_kernel_batch_shrinks_for_large_buckets_on_accelerators():
    from types import SimpleNamespace

    from hpcfold.types import BUCKETS

    gpu = SimpleNamespace(options=SimpleNamespace(batch_size=None), batch_size=64)
    sizes = [engine.kernel_batch(gpu, b) for b in BUCKETS]
    assert sizes[:4] == [64] * 4 and sizes == sorted(sizes, reverse=True) and sizes[-1] >= 1
    assert max(s * b.n_atoms**2 for s, b in zip(sizes, BUCKETS)) <= 64 * 96 * 96
    cpu = SimpleNamespace(options=SimpleNamespace(batch_size=None), batch_size=1)
    assert {engine.kernel_batch(cpu, b) for b in BUCKETS} == {1}
    fixed = SimpleNamespace(options=SimpleNamespace(batch_size=8), batch_size=8)
    assert {engine.kernel_batch(fixed, b) for b in BUCKETS} == {8}  # explicit wins


def test_refinement_neighbours_are_the_receptor_atoms_within_reach(shared_data, setup):
    """Each pose's refinement sees exactly the receptor atoms within REFINE_REACH of one of its
    real atoms (brute force over every atom pair), padded far away with type -1 to 256s."""
    from hpcfold.dock import batch

    rec, box, _, ligs = setup
    atoms = batch.receptor_arrays(rec, box, pad_multiple=64)
    lig = ligs["A"]
    rng = np.random.default_rng(3)
    n = lig.coords.shape[0]
    xyz = np.concatenate([lig.coords, np.zeros((4, 3))])[None] + rng.normal(0, 3, (5, 1, 3))
    mask = np.arange(n + 4) < n  # 4 padded atoms at the origin must not count
    got = refine.neighbours(atoms, xyz.astype(np.float32), mask)
    rc = np.asarray(atoms.coords, np.float64)
    assert got.coords.shape[1] % 256 == 0 and got.xs.shape == got.coords.shape[:2]
    for r in range(len(xyz)):
        d = np.sqrt(((rc[:, None] - xyz[r, :n].astype(np.float32)) ** 2).sum(-1)).min(axis=1)
        want = np.flatnonzero(d < refine.REFINE_REACH)
        real = got.xs[r] >= 0
        assert real.sum() == len(want) > 0
        np.testing.assert_array_equal(got.coords[r][real], rc[want].astype(np.float32))
        assert np.all(got.coords[r][~real] == FAR)
    xyz[2, 0] = np.nan  # a non-finite pose has no neighbours and leaves the others as they were
    nan = refine.neighbours(atoms, xyz.astype(np.float32), mask)
    assert np.all(nan.xs[2] == -1)
    for r in (0, 1, 3, 4):
        np.testing.assert_array_equal(nan.xs[r][nan.xs[r] >= 0], got.xs[r][got.xs[r] >= 0])
