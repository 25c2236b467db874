"""Vina / Vinardo pair-potential lookup tables per XS type pair (scoring reference §2, §6).

Tables are sampled on r^2 with ``FACTOR = 32`` samples per A^2 (Vina's ``precalculate``):
``smooth[k] = E(sqrt(k / 32))`` and ``fast[k] = (smooth[k] + smooth[k + 1]) / 2``; energies use
``fast[floor(32 r^2)]`` (score) or the linear interpolation of ``smooth`` (differentiable path).
Every term is zero for ``r >= 8`` A. Built once in float64 with numpy, stored as float32 jnp.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from hpcfold.types import N_XS, TERMS, XS_ACCEPTOR, XS_DONOR, XS_HYDROPHOBIC, XS_INDEX, XS_RADIUS

FACTOR = 32.0
CUTOFF = 8.0
CUTOFF2 = CUTOFF * CUTOFF
N_SAMPLES = int(FACTOR * CUTOFF2) + 3  # 2051, as Vina

WEIGHT_NAMES = (*TERMS, "rot")
# Vina 1.2's ``linearattraction`` (flexible macrocycles): weight x r between a glue pseudo-atom Gn
# and its CGn carbon, r < 20 A; ``weight_glue`` is 50 for vina and vinardo (not configurable here).
WEIGHT_GLUE = 50.0
GLUE_CUTOFF = 20.0
DEFAULT_WEIGHTS = {
    "vina": (-0.035579, -0.005156, 0.840245, -0.035069, -0.587439, 0.05846),
    "vinardo": (-0.045, 0.0, 0.8, -0.035, -0.6, 0.05846),
}


# Term shapes in surface distance d = r - R_i - R_j (A), shared by the tables and the search's
# analytic intra term (energy.intra_analytic): gauss1 width; gauss2 (offset, width) or None;
# slope_step (bad, good) ends of hydrophobic and hbond. Repulsion is d^2 for d < 0 in both.
TERM_SHAPES = {
    "vina": {"g1": 0.5, "g2": (3.0, 2.0), "hydro": (1.5, 0.5), "hbond": (0.0, -0.7)},
    "vinardo": {"g1": 0.8, "g2": None, "hydro": (2.5, 0.0), "hbond": (0.0, -0.6)},
}


@dataclasses.dataclass(frozen=True)
class ScoringParams:
    """Scoring function choice. weights: (gauss1, gauss2, repulsion, hydrophobic, hbond, rot) or
    None for the function's defaults."""

    name: str = "vina"
    weights: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.name not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown scoring function {self.name!r} (vina or vinardo)")
        if self.weights is not None and len(self.weights) != len(WEIGHT_NAMES):
            raise ValueError(f"weights need {len(WEIGHT_NAMES)} values {WEIGHT_NAMES}")

    @property
    def resolved_weights(self) -> tuple[float, ...]:
        return tuple(float(w) for w in (self.weights or DEFAULT_WEIGHTS[self.name]))

    def cache_key(self) -> str:
        """Stable text identifying the tables (for grid caches)."""
        return f"{self.name}:" + ",".join(f"{w:.9g}" for w in self.resolved_weights)


def make_params(name: str = "vina", weights: dict | None = None) -> ScoringParams:
    """ScoringParams from a name and optional weight overrides ``{'gauss1': ..., 'rot': ...}``."""
    name = str(name).lower()
    if name not in DEFAULT_WEIGHTS:
        raise ValueError(f"unknown scoring function {name!r} (vina or vinardo)")
    if not weights:
        return ScoringParams(name, None)
    w = dict(zip(WEIGHT_NAMES, DEFAULT_WEIGHTS[name]))
    for key, value in weights.items():
        if key not in w:
            raise ValueError(f"unknown weight {key!r}; known: {', '.join(WEIGHT_NAMES)}")
        w[key] = float(value)
    return ScoringParams(name, tuple(w[k] for k in WEIGHT_NAMES))


class Tables(NamedTuple):
    """Lookup tables. K = N_SAMPLES (2051), 19 = XS types.

    fast (19, 19, K): weighted total, Vina's ``fast``; smooth (19, 19, K): weighted total,
    Vina's ``smooth`` energy; terms (5, 19, 19, K): unweighted terms (TERMS order), ``fast``
    rule; w_rot (): N_rot weight; dor (19, 19, K): Vina's derivative samples (dE/dr) / r
    (central differences of ``smooth``, 0 at both ends), used for gradients.
    """

    fast: jnp.ndarray
    smooth: jnp.ndarray
    terms: jnp.ndarray
    w_rot: jnp.ndarray
    dor: jnp.ndarray


def xs_radii(name: str) -> np.ndarray:
    """(19,) XS radii for the scoring function (Vinardo: C 2.0, N 1.7, O 1.6)."""
    r = XS_RADIUS.copy()
    if name == "vinardo":
        for t, v in (("C_H", 2.0), ("C_P", 2.0), ("N_P", 1.7), ("N_D", 1.7), ("N_A", 1.7),
                     ("N_DA", 1.7), ("O_P", 1.6), ("O_D", 1.6), ("O_A", 1.6), ("O_DA", 1.6)):  # fmt: skip
            r[XS_INDEX[t]] = v
    return r


def _slope_step(bad: float, good: float, x: np.ndarray) -> np.ndarray:
    """Vina's slope_step: 0 on the bad side, 1 on the good side, linear between."""
    return np.clip((x - bad) / (good - bad), 0.0, 1.0)


def term_samples(name: str) -> np.ndarray:
    """(5, 19, 19, K) float64 unweighted term values at r = sqrt(k / 32) (``smooth`` samples)."""
    r = np.sqrt(np.arange(N_SAMPLES) / FACTOR)
    rad = xs_radii(name)
    d = r[None, None, :] - (rad[:, None] + rad[None, :])[:, :, None]  # (19, 19, K)
    inside = (r < CUTOFF)[None, None, :]
    hydro = (XS_HYDROPHOBIC[:, None] & XS_HYDROPHOBIC[None, :])[:, :, None]
    hb = (XS_DONOR[:, None] & XS_ACCEPTOR[None, :]) | (XS_ACCEPTOR[:, None] & XS_DONOR[None, :])
    hb = hb[:, :, None]
    shape = TERM_SHAPES[name]
    out = np.zeros((5, N_XS, N_XS, N_SAMPLES))
    out[0] = np.exp(-((d / shape["g1"]) ** 2))
    if shape["g2"] is not None:
        off, width = shape["g2"]
        out[1] = np.exp(-(((d - off) / width) ** 2))
    out[3] = np.where(hydro, _slope_step(*shape["hydro"], d), 0.0)
    out[4] = np.where(hb, _slope_step(*shape["hbond"], d), 0.0)
    out[2] = np.where(d < 0, d * d, 0.0)
    return np.where(inside, out, 0.0)


def _fast(smooth: np.ndarray) -> np.ndarray:
    nxt = np.concatenate([smooth[..., 1:], np.zeros_like(smooth[..., :1])], axis=-1)
    return (smooth + nxt) / 2


def _dor(smooth: np.ndarray) -> np.ndarray:
    """Vina's ``init_from_smooth_fst``: dor[i] = (s[i+1] - s[i-1]) / ((r[i+1] - r[i-1]) r[i])."""
    r = np.sqrt(np.arange(N_SAMPLES) / FACTOR)
    out = np.zeros_like(smooth)
    out[..., 1:-1] = (smooth[..., 2:] - smooth[..., :-2]) / ((r[2:] - r[:-2]) * r[1:-1])
    return out


def build_tables(params: ScoringParams) -> Tables:
    """Weighted/unweighted lookup tables for ``params`` (float32 jnp arrays)."""
    w = np.asarray(params.resolved_weights)
    terms = term_samples(params.name)
    smooth = np.einsum("t,tabk->abk", w[:5], terms)
    return Tables(
        fast=jnp.asarray(_fast(smooth), dtype=jnp.float32),
        smooth=jnp.asarray(smooth, dtype=jnp.float32),
        terms=jnp.asarray(_fast(terms), dtype=jnp.float32),
        w_rot=jnp.asarray(w[5], dtype=jnp.float32),
        dor=jnp.asarray(_dor(smooth), dtype=jnp.float32),
    )
