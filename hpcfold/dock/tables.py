"""Pair-potential lookup tables per XS type pair of a registered scoring function
(``hpcfold.scoring``; scoring reference §2, §6).

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

from hpcfold import scoring
from hpcfold.types import N_XS, TERMS

FACTOR = 32.0
CUTOFF = 8.0
CUTOFF2 = CUTOFF * CUTOFF
N_SAMPLES = int(FACTOR * CUTOFF2) + 3  # 2051, as Vina

WEIGHT_NAMES = (*TERMS, "rot")
# Vina 1.2's ``linearattraction`` (flexible macrocycles): weight x r between a glue pseudo-atom Gn
# and its CGn carbon, r < 20 A; ``weight_glue`` is 50 for every function (not configurable here).
WEIGHT_GLUE = 50.0
GLUE_CUTOFF = 20.0


@dataclasses.dataclass(frozen=True)
class ScoringParams:
    """Scoring function choice. weights: (gauss1, gauss2, repulsion, hydrophobic, hbond, rot) or
    None for the function's defaults."""

    name: str = "vina"
    weights: tuple[float, ...] | None = None

    def __post_init__(self):
        scoring.get(self.name)  # ValueError naming the choices
        if self.weights is not None and len(self.weights) != len(WEIGHT_NAMES):
            raise ValueError(f"weights need {len(WEIGHT_NAMES)} values {WEIGHT_NAMES}")

    @property
    def function(self) -> scoring.ScoringFunction:
        return scoring.get(self.name)

    @property
    def resolved_weights(self) -> tuple[float, ...]:
        return tuple(float(w) for w in (self.weights or self.function.weights))

    def cache_key(self) -> str:
        """Stable text identifying the tables (for grid caches)."""
        return f"{self.name}:" + ",".join(f"{w:.9g}" for w in self.resolved_weights)


def make_params(name: str = "vina", weights: dict | None = None) -> ScoringParams:
    """ScoringParams from a name and optional weight overrides ``{'gauss1': ..., 'rot': ...}``."""
    name = scoring.get(name).name
    if not weights:
        return ScoringParams(name, None)
    w = dict(zip(WEIGHT_NAMES, scoring.get(name).weights))
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
    """(19,) XS radii of the scoring function ``name`` (A)."""
    return scoring.get(name).xs_radii()


def term_samples(name: str) -> np.ndarray:
    """(5, 19, 19, K) float64 unweighted term values at r = sqrt(k / 32) (``smooth`` samples):
    each term of the scoring function in its ``TERMS`` slot, on its type pairs; 0 at r >= 8 A."""
    sf = scoring.get(name)
    r = np.sqrt(np.arange(N_SAMPLES) / FACTOR)
    rad = sf.xs_radii()
    d = r[None, None, :] - (rad[:, None] + rad[None, :])[:, :, None]  # (19, 19, K)
    inside = (r < sf.cutoff)[None, None, :]
    masks = sf.pair_masks()
    out = np.zeros((len(TERMS), N_XS, N_XS, N_SAMPLES))
    for term in sf.terms:
        k = TERMS.index(term.slot)
        out[k] = np.where(masks[term.pairs][:, :, None], term.value(np, d), 0.0)
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
    smooth = np.einsum("t,tabk->abk", w[: len(TERMS)], terms)
    return Tables(
        fast=jnp.asarray(_fast(smooth), dtype=jnp.float32),
        smooth=jnp.asarray(smooth, dtype=jnp.float32),
        terms=jnp.asarray(_fast(terms), dtype=jnp.float32),
        w_rot=jnp.asarray(w[5], dtype=jnp.float32),
        dor=jnp.asarray(_dor(smooth), dtype=jnp.float32),
    )
