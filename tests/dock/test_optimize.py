"""Vina's BFGS: convergence, vmapped fixed-iteration batches, revert-on-worse, bounded line
searches (hpcfold.dock.optimize)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hpcfold.dock import optimize


def _quad(center):
    a = jnp.diag(jnp.array([1.0, 4.0, 9.0]))

    def f(x):
        d = x - center
        return 0.5 * d @ a @ d

    return jax.value_and_grad(f)


def test_bfgs_converges_on_quadratic():
    x, f = optimize.bfgs(_quad(jnp.array([1.0, -2.0, 0.5])), jnp.zeros(3), 50)
    np.testing.assert_allclose(np.asarray(x), [1.0, -2.0, 0.5], atol=1e-3)
    assert float(f) < 1e-6


def test_bfgs_vmaps_with_per_item_iterations():
    centers = jnp.array([[1.0, 0.0, 0.0], [0.0, 3.0, -1.0]])

    def run(c, steps):
        return optimize.bfgs(_quad(c), jnp.zeros(3), steps)

    x, f = jax.jit(jax.vmap(run))(centers, jnp.array([50, 0]))
    np.testing.assert_allclose(np.asarray(x[0]), [1.0, 0.0, 0.0], atol=1e-3)
    np.testing.assert_array_equal(np.asarray(x[1]), np.zeros(3))  # zero iterations: unchanged


def test_bfgs_rosenbrock_decreases_and_nan_reverts():
    def rosen(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    x0 = jnp.array([-1.2, 1.0])
    x, f = optimize.bfgs(jax.value_and_grad(rosen), x0, 200)
    assert float(f) < 1e-3

    def bad(x):  # NaN everywhere but the start: BFGS must return the start
        e = jnp.sum(x * x)
        return jnp.where(jnp.all(x == x0), e, jnp.nan)

    xb, fb = optimize.bfgs(jax.value_and_grad(bad), x0, 10)
    np.testing.assert_array_equal(np.asarray(xb), np.asarray(x0))
    assert np.isfinite(float(fb))


def test_bfgs_shrink_on_fail_stays_and_goes_on_halving():
    """With ``shrink_on_fail`` a line search that fails within ``max_trials`` leaves x where it
    is (never uphill) and the next iteration continues from a smaller step; Vina's rule keeps
    the last (uphill) trial point, here one in another, deeper well."""

    def e(x):  # a narrow well at 1e-3 (from 0: steps of alpha 1 and 1/2 land at 10 and 5,
        x = x[0]  # uphill) and a deeper, wider one at 6
        return jnp.minimum(0.5e4 * (x - 1e-3) ** 2, 100.0 * (x - 6.0) ** 2 - 50.0)

    vg = jax.jit(jax.value_and_grad(e))
    fun = lambda x: vg(x)[0]  # noqa: E731
    x1, f1 = optimize.bfgs(vg, jnp.zeros(1), 1, fun=fun, max_trials=2, shrink_on_fail=True)
    assert float(x1[0]) == 0.0 and float(f1) == float(vg(jnp.zeros(1))[0])  # failed: stayed
    x, f = optimize.bfgs(vg, jnp.zeros(1), 40, fun=fun, max_trials=2, shrink_on_fail=True)
    assert abs(float(x[0]) - 1e-3) < 1e-6 and float(f) < 1e-6  # the halving went on
    # without ``fun`` (a gradient at every trial) the path is the same: after a failed search
    # the next step uses x's gradient, not the last trial point's
    for iters in range(1, 9):
        a = optimize.bfgs(vg, jnp.zeros(1), iters, fun=fun, max_trials=2, shrink_on_fail=True)
        b = optimize.bfgs(vg, jnp.zeros(1), iters, max_trials=2, shrink_on_fail=True)
        assert float(a[0][0]) == float(b[0][0]), iters
    xv, fv = optimize.bfgs(vg, jnp.zeros(1), 40, fun=fun, max_trials=2)
    assert abs(float(xv[0]) - 6.0) < 1e-3 and float(fv) < -49.9  # Vina's rule jumped wells
