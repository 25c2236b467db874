"""The ``ScoringFunction`` record: pairwise terms of the surface distance, their weights, the
atom radii, the cutoff and the non-pairwise final correction (Vina's 1 + w N_rot divisor)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from hpcfold.types import TERMS, XS_ACCEPTOR, XS_DONOR, XS_HYDROPHOBIC, XS_INDEX, XS_RADIUS

# Which type pairs a term applies to: every pair, two hydrophobic atoms, a donor with an acceptor.
PAIR_SETS = ("all", "hydrophobic", "hbond")


def slope_step(xp, bad: float, good: float, x):
    """Vina's slope_step: 0 on the bad side, 1 on the good side, linear between."""
    return xp.clip((x - bad) * (1.0 / (good - bad)), 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Term:
    """One pairwise term: ``value(xp, d)`` and ``slope(xp, d)`` (its derivative in d) of the
    surface distance d = r - R_i - R_j (A), array-namespace generic (numpy or jax.numpy);
    ``pairs``: one of ``PAIR_SETS``; ``slot``: its column in ``TERMS``."""

    slot: str
    pairs: str
    value: Callable
    slope: Callable

    def __post_init__(self):
        if self.slot not in TERMS or self.pairs not in PAIR_SETS:
            raise ValueError(f"bad term {self.slot!r} / {self.pairs!r}")


def gauss(offset: float, width: float, slot: str) -> Term:
    """exp(-((d - offset) / width)^2)."""

    def value(xp, d):
        u = (d - offset) * (1.0 / width)
        return xp.exp(-u * u)

    def slope(xp, d):
        u = (d - offset) * (1.0 / width)
        return (-2.0 / width) * u * xp.exp(-u * u)

    return Term(slot, "all", value, slope)


def repulsion(slot: str = "repulsion") -> Term:
    """d^2 for d < 0, else 0."""

    def value(xp, d):
        neg = xp.minimum(d, 0.0)
        return neg * neg

    def slope(xp, d):
        return 2.0 * xp.minimum(d, 0.0)

    return Term(slot, "all", value, slope)


def ramp(bad: float, good: float, slot: str, pairs: str) -> Term:
    """``slope_step(bad, good, d)`` on the type pairs ``pairs``."""

    def value(xp, d):
        return slope_step(xp, bad, good, d)

    def slope(xp, d):
        lo, hi = min(bad, good), max(bad, good)
        return xp.where((d > lo) & (d < hi), 1.0 / (good - bad), 0.0)

    return Term(slot, pairs, value, slope)


@dataclasses.dataclass(frozen=True)
class ScoringFunction:
    """A Vina-family scoring function.

    name: the registry key (``--scoring``); terms: the pairwise terms; weights: default weight
    per ``TERMS`` slot (0 for an unused slot) and ``rot`` last (Vina's N_rot weight);
    radii: XS type name -> radius (A) overriding Vina's (``types.XS_RADIUS``); cutoff: pair
    cutoff (A). The final, non-pairwise correction is Vina's: the reported affinity is the
    weighted sum divided by (1 + rot * N_rot) (``affinity``).
    """

    name: str
    terms: tuple[Term, ...]
    weights: tuple[float, ...]
    radii: tuple[tuple[str, float], ...] = ()
    cutoff: float = 8.0

    def __post_init__(self):
        if len(self.weights) != len(TERMS) + 1:
            raise ValueError(f"{self.name}: weights need {len(TERMS) + 1} values")

    @property
    def weight_names(self) -> tuple[str, ...]:
        return (*TERMS, "rot")

    def xs_radii(self) -> np.ndarray:
        """(19,) XS radii of this function, A."""
        r = XS_RADIUS.copy()
        for t, v in self.radii:
            r[XS_INDEX[t]] = v
        return r

    def pair_masks(self) -> dict[str, np.ndarray]:
        """``PAIR_SETS`` name -> (19, 19) bool mask of the XS type pairs it covers."""
        hydro = XS_HYDROPHOBIC[:, None] & XS_HYDROPHOBIC[None, :]
        hb = (XS_DONOR[:, None] & XS_ACCEPTOR[None, :]) | (XS_ACCEPTOR[:, None] & XS_DONOR[None, :])
        return {"all": np.ones_like(hydro), "hydrophobic": hydro, "hbond": hb}

    def affinity(self, e, n_rot, w_rot=None):
        """The reported affinity of a weighted pair sum ``e`` (inter + intra - intra_ref)."""
        w = self.weights[-1] if w_rot is None else w_rot
        return e / (1.0 + w * n_rot)
