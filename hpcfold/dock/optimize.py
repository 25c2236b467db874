"""Vina's BFGS local optimiser (pure JAX, vmappable).

``bfgs`` follows Vina's ``bfgs.h`` step by step (scoring reference §4): H = I; p = -H g; backtracking
line search from alpha = 1 (up to 10 halvings, Armijo c = 1e-4; after 10 failures the last trial
point is kept); stop when |g| (the gradient *before* the step, as Vina) < 1e-5; after the first
step H is rescaled to (alpha y.p / y.y) I; inverse-BFGS update skipped when alpha y.p is not
positive; the start is restored when the end is not better (NaN included).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hpcfold.dock import kinematics

C0 = 1.0e-4
MAX_TRIALS = 10
GTOL = 1.0e-5
_EPS_UPDATE = 1.0e-7  # float32 stand-in for Vina's epsilon in the update guard


def _add(x, p, alpha):
    return x + alpha * p


def bfgs(
    fun_and_grad,
    x0: jnp.ndarray,
    max_iters,
    increment=None,
    fun=None,
    max_trials=None,
    shrink_on_fail: bool = False,
):
    """Minimise with Vina's BFGS, one problem (``bfgs_batched`` with a batch of one). Returns
    (x, f).

    fun_and_grad(x) -> (f (), g (n,)), g in the space ``increment(x, p, alpha)`` steps in
    (default: x + alpha p, n = x.size; for poses use ``kinematics.apply_change`` via
    ``pose_increment``). max_iters: int or traced int (``lax.while_loop``, vmappable).

    Search-speed options (defaults reproduce Vina): ``fun(x) -> f ()`` lets the line search try
    step lengths with the energy alone and take one gradient at the accepted point (a vmapped
    while loop runs as long as its slowest lane, so value-only trials matter); ``max_trials``
    caps the halvings (default ``MAX_TRIALS`` = 10, Vina's). ``shrink_on_fail``: when no step
    length passes within ``max_trials``, stay at x and scale H by 0.5^max_trials, so the next
    iteration goes on halving where this one stopped (Vina instead moves to the last trial
    point). With a small ``max_trials`` a vmapped line search then costs a few evaluations per
    iteration, not the slowest lane's ten, and a failed search never moves uphill.
    """
    inc = increment or _add

    def fg(xb):
        f, g = fun_and_grad(xb[0])
        return f[None], g[None]

    value = None if fun is None else (lambda xb: fun(xb[0])[None])
    x, f = bfgs_batched(
        fg, x0[None], max_iters, lambda xb, p, a: inc(xb[0], p[0], a[0])[None], value,
        max_trials, shrink_on_fail,
    )  # fmt: skip
    return x[0], f[0]


def bfgs_batched(
    fun_and_grad,
    x0: jnp.ndarray,
    max_iters: int,
    increment,
    fun=None,
    max_trials=None,
    shrink_on_fail: bool = False,
):
    """``bfgs`` for a batch of independent problems at once, without ``vmap``: x0 (C, D);
    fun_and_grad(x (C, D)) -> (f (C,), g (C, n)); fun(x) -> f (C,); increment(x, p (C, n),
    alpha (C,)) -> x (C, D). Returns (x (C, D), f (C,)).

    Each row follows ``bfgs`` step for step (the same line search, Hessian updates and stops);
    the rows run in lockstep, a finished row keeps its values, and the loops end when every row
    is done (what ``vmap(bfgs)`` does). Written batched so that the objective sees the whole
    batch as one call: under ``vmap`` of a ``while_loop`` the batched objective measured 2x
    slower per evaluation.
    """
    n_trials = MAX_TRIALS if max_trials is None else int(max_trials)
    f0, g0 = fun_and_grad(x0)
    c, n = g0.shape
    dtype = g0.dtype

    def dot(a, b):
        return jnp.sum(a * b, axis=-1)

    def matvec(h, v):
        return jnp.einsum("cij,cj->ci", h, v)

    def line_search(x, f, g, p, active):
        pg = dot(p, g)

        def cond(s):
            trial, _, _, _, _, ok = s
            return (trial < n_trials) & jnp.any(active & ~ok)

        def body(s):
            trial, alpha, x_new, f1, g_new, ok = s
            x_try = increment(x, p, alpha)
            if fun is None:
                f_try, g_try = fun_and_grad(x_try)
            else:
                f_try, g_try = fun(x_try), g
            ok_try = f_try - f < C0 * alpha * pg
            go = ~ok  # rows still searching take this trial
            x_new = jnp.where(go[:, None], x_try, x_new)
            f1 = jnp.where(go, f_try, f1)
            g_new = jnp.where(go[:, None], g_try, g_new)
            alpha = jnp.where(go & ~ok_try, alpha * 0.5, alpha)
            return trial + 1, alpha, x_new, f1, g_new, ok | ok_try

        init = (jnp.int32(0), jnp.ones(c, dtype), x, f, g, jnp.zeros(c, bool))
        _, alpha, x_new, f1, g_new, ok = jax.lax.while_loop(cond, body, init)
        if shrink_on_fail:  # stay (with x's gradient); alpha 0 skips the update below
            x_new = jnp.where(ok[:, None], x_new, x)
            f1, alpha = jnp.where(ok, f1, f), alpha * ok
            g_new = jnp.where(ok[:, None], g_new, g)
        if fun is not None:
            f1, g_new = fun_and_grad(x_new)
        return alpha, x_new, f1, g_new, ok

    eye = jnp.eye(n, dtype=dtype)

    def cond(s):
        step, _, _, _, _, done, _ = s
        return (step < max_iters) & jnp.any(~done)

    def body(s):
        step, x, f, g, h, done, scaled = s
        active = ~done
        p = -matvec(h, g)
        alpha, x_new, f1, g_new, ok = line_search(x, f, g, p, active)
        y = g_new - g
        gg = dot(g, g)
        stop = ~(gg >= GTOL * GTOL)
        yy = dot(y, y)
        big = yy > 1e-30
        scale = jnp.where(big, alpha * dot(y, p) / jnp.where(big, yy, 1.0), 1.0)
        first = (step == 0) if not shrink_on_fail else (~scaled & ok)
        h1 = jnp.where((first & big)[:, None, None], eye * scale[:, None, None], h)
        if shrink_on_fail:
            h1 = jnp.where(ok[:, None, None], h1, h1 * (0.5**n_trials))
            scaled_new = scaled | ok
        else:
            scaled_new = scaled
        yp = dot(y, p)
        upd = alpha * yp >= _EPS_UPDATE
        r = 1.0 / jnp.where(upd, alpha * yp, 1.0)
        minus_hy = -matvec(h1, y)
        yhy = -dot(y, minus_hy)
        outer = lambda a, b: a[:, :, None] * b[:, None, :]  # noqa: E731
        h_new = (
            h1
            + (alpha * r)[:, None, None] * (outer(minus_hy, p) + outer(p, minus_hy))
            + (alpha * alpha * (r * r * yhy + r))[:, None, None] * outer(p, p)
        )
        h1 = jnp.where(upd[:, None, None], h_new, h1)
        g_next = jnp.where(stop[:, None], g, g_new)
        h1 = jnp.where(stop[:, None, None], h, h1)
        a2, a3 = active[:, None], active[:, None, None]
        return (
            step + 1,
            jnp.where(a2, x_new, x),
            jnp.where(active, f1, f),
            jnp.where(a2, g_next, g),
            jnp.where(a3, h1, h),
            done | (active & stop),
            jnp.where(active, scaled_new, scaled),
        )

    init = (jnp.int32(0), x0, f0, g0, jnp.broadcast_to(eye, (c, n, n)), jnp.zeros(c, bool),
            jnp.zeros(c, bool))  # fmt: skip
    _, x, f, _, _, _, _ = jax.lax.while_loop(cond, body, init)
    better = f <= f0
    return jnp.where(better[:, None], x, x0), jnp.where(better, f, f0)


def pose_increment(pose, p, alpha):
    """BFGS step for pose vectors: ``apply_change(pose, alpha * p)``."""
    return kinematics.apply_change(pose, alpha * p)
