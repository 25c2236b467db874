"""Monte-Carlo search on a toy pose energy with a known global minimum (hpcfold.dock.search)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hpcfold.dock import search
from hpcfold.dock.optimize import bfgs
from hpcfold.dock.presets import SearchParams

T_PAD = 4
TARGET = np.array([1.0, -2.0, 0.5], np.float32)
PARAMS = SearchParams(n_chains=6, n_steps=12, opt_iters=8, final_iters=12, refine_iters=8)
LO, HI = jnp.full(3, -4.0), jnp.full(3, 4.0)
TRACES = {"n": 0}


def toy_energy(pose, data, caps):
    """Quadratic well in position, prefers the identity orientation (up to sign), and a
    multi-minimum torsion term whose global minimum per torsion is at 0 (value -2.5)."""
    TRACES["n"] += 1
    q = pose[3:7]
    tors = pose[7:]
    e_tors = jnp.sum(data["mask"] * -(1.5 * jnp.cos(3 * tors) + jnp.cos(tors)))
    return jnp.sum((pose[:3] - data["target"]) ** 2) + 3.0 * (1.0 - q[0] ** 2) + e_tors


def run(key, n_tors):
    data = {"target": jnp.asarray(TARGET), "mask": (jnp.arange(T_PAD) < n_tors).astype(jnp.float32)}
    return search.search_ligand(
        key, data, n_tors, 1.5, LO, HI, T_PAD, toy_energy, bfgs, PARAMS
    )  # fmt: skip


RUN = jax.jit(run)


def test_finds_global_minimum_and_keeps_padding_fixed():
    poses, energies = RUN(jax.random.PRNGKey(3), 3)
    poses, energies = np.asarray(poses), np.asarray(energies)
    assert poses.shape == (PARAMS.n_chains, 7 + T_PAD) and energies.shape == (PARAMS.n_chains,)
    assert np.all(np.isfinite(energies))
    best = poses[np.argmin(energies)]
    assert np.min(energies) == pytest.approx(-7.5, abs=1e-3)
    np.testing.assert_allclose(best[:3], TARGET, atol=1e-2)
    assert abs(abs(best[3]) - 1.0) < 1e-3  # identity orientation (q or -q)
    np.testing.assert_allclose(best[7:10], 0.0, atol=1e-2)
    assert np.all(poses[:, 10] == 0.0)  # the padded torsion never moves
    np.testing.assert_allclose(np.linalg.norm(poses[:, 3:7], axis=1), 1.0, atol=1e-5)
    assert np.all(np.abs(poses[:, 7:]) <= np.pi + 1e-6)


def test_one_trace_for_many_calls_and_bitwise_determinism():
    before = TRACES["n"]
    f = jax.jit(lambda key, n: run(key, n))  # a new function: traced afresh here
    a = f(jax.random.PRNGKey(11), 2)
    traced = TRACES["n"] - before
    b = f(jax.random.PRNGKey(11), 2)
    c = f(jax.random.PRNGKey(12), 3)  # another key and another torsion count: no retrace
    assert TRACES["n"] - before == traced > 0
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
    np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(c[0]))


def test_mutate_changes_exactly_one_entity():
    pose = jnp.concatenate([jnp.zeros(3), jnp.array([1.0, 0, 0, 0]), jnp.zeros(T_PAD)])
    kinds = set()
    for i in range(40):
        new = np.asarray(search.mutate(jax.random.PRNGKey(i), pose, 3, 2.0, 2.0))
        moved = [
            bool(np.any(new[:3] != 0)),
            bool(np.any(np.abs(new[3:7] - [1, 0, 0, 0]) > 1e-7)),
            *[bool(new[7 + t] != 0) for t in range(T_PAD)],
        ]
        assert sum(moved) == 1, new
        assert not moved[2 + 3]  # torsion 3 is padding
        assert np.linalg.norm(new[:3]) <= 2.0 + 1e-6
        kinds.add(moved.index(True))
    assert kinds == {0, 1, 2, 3, 4}


def test_random_pose_in_box_and_gyration_radius():
    for i in range(20):
        p = np.asarray(search.random_pose(jax.random.PRNGKey(i), 2, T_PAD, LO, HI))
        assert np.all(p[:3] >= -4.0) and np.all(p[:3] <= 4.0)
        assert np.linalg.norm(p[3:7]) == pytest.approx(1.0, abs=1e-5)
        assert np.all(np.abs(p[7:9]) <= np.pi) and np.all(p[9:] == 0)
    xyz = jnp.array([[1.0, 0, 0], [-1.0, 0, 0], [50.0, 50, 50]])
    rg = search.gyration_radius(xyz, jnp.array([True, True, False]))
    assert float(rg) == pytest.approx(1.0, abs=1e-6)


def test_restart_worst_moves_the_worst_chains_to_the_best_poses():
    c, d = 6, 3
    best_pose = jnp.arange(c * d, dtype=jnp.float32).reshape(c, d)
    best_e = jnp.array([-1.0, -5.0, 3.0, -2.0, 7.0, -2.0])
    pose, e = best_pose + 100.0, best_e + 10.0
    carry, losers = search.restart_worst((pose, e, best_pose, best_e), 2)
    new_pose, new_e, kept_pose, kept_e = carry
    assert list(np.asarray(losers)) == [2, 4]
    new_pose, new_e = np.asarray(new_pose), np.asarray(new_e)
    # rank for rank: 2nd worst (chain 2, e 3) <- best (chain 1, e -5); worst (chain 4, e 7)
    # <- 2nd best (chain 3, the first of the two -2.0 ties)
    np.testing.assert_array_equal(new_pose[2], np.asarray(best_pose[1]))
    np.testing.assert_array_equal(new_pose[4], np.asarray(best_pose[3]))
    assert new_e[2] == -5.0 and new_e[4] == -2.0
    np.testing.assert_array_equal(new_pose[[0, 1, 3, 5]], np.asarray(best_pose)[[0, 1, 3, 5]])
    np.testing.assert_array_equal(np.asarray(kept_pose), np.asarray(best_pose))  # own bests kept
    np.testing.assert_array_equal(np.asarray(kept_e), np.asarray(best_e))


def test_restarting_search_is_deterministic_and_finds_the_minimum():
    params = dataclasses.replace(PARAMS, n_chains=8, restart_every=4, restart_frac=0.5)
    data = {"target": jnp.asarray(TARGET), "mask": (jnp.arange(T_PAD) < 3).astype(jnp.float32)}
    f = jax.jit(
        lambda k: search.search_ligand(k, data, 3, 1.5, LO, HI, T_PAD, toy_energy, bfgs, params)
    )
    a, b = f(jax.random.PRNGKey(5)), f(jax.random.PRNGKey(5))
    # 8 chains, then 4 restarted chains' bests at each of the restarts after steps 4 and 8
    assert search.n_archived(params) == 8 and a[0].shape == (16, 7 + T_PAD)
    arch, arch_e = np.asarray(a[0][8:]), np.asarray(a[1][8:])
    # both restarts filled their slots: distinct poses, none of them the unwritten fill value
    assert len(np.unique(arch, axis=0)) == 8
    assert np.all(arch_e >= -7.5 - 1e-3) and np.all(arch_e < search.BIG)
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
    assert float(np.min(np.asarray(a[1]))) == pytest.approx(-7.5, abs=1e-3)
    assert np.all(np.isfinite(np.asarray(a[1])))
