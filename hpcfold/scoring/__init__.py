"""Scoring functions: one module per function, each defining one ``ScoringFunction`` value, and
the registry (``SCORING``) that every layer reads its choices, weights and term names from.

A ``ScoringFunction`` is data plus array-namespace-generic term curves: numpy builds the lookup
tables (``dock.tables``), jax.numpy evaluates the same curves in the search kernel
(``dock.kernel``) and the analytic intra term (``dock.energy``). The stores and messages carry
``len(TERMS)`` term columns in ``TERMS`` order (``hpcfold.types``); a function uses the slots
it needs and leaves the others 0 (Vinardo has no gauss2).

Adding a scoring function: a new module here defining its ``ScoringFunction`` and one line in
``_REGISTRY`` below, plus tests. Nothing else: the CLI's ``--scoring`` choices, the config
check, the tables, the kernel and the reported terms all derive from the registry. This package
imports numpy only (rank 0 of a screen and the stores read it without JAX).
"""

from __future__ import annotations

from hpcfold.scoring.base import ScoringFunction, Term, slope_step
from hpcfold.scoring.vina import VINA
from hpcfold.scoring.vinardo import VINARDO

_REGISTRY: tuple[ScoringFunction, ...] = (VINA, VINARDO)
SCORING: dict[str, ScoringFunction] = {sf.name: sf for sf in _REGISTRY}
NAMES: tuple[str, ...] = tuple(SCORING)
DEFAULT = "vina"


def get(name: str) -> ScoringFunction:
    """The registered scoring function ``name`` (case-insensitive). Raises ValueError naming
    the choices for an unknown one."""
    key = str(name).lower()
    if key not in SCORING:
        raise ValueError(f"unknown scoring function {name!r}; choose one of {', '.join(NAMES)}")
    return SCORING[key]


__all__ = ["DEFAULT", "NAMES", "SCORING", "ScoringFunction", "Term", "get", "slope_step"]
