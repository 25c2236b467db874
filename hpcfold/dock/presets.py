"""Search presets: effort versus speed, chosen by measurement (docs/benchmarks.md, Docking).

Uni-Dock's lesson holds on CPU too: many short Monte-Carlo chains find Vina's poses at a small
fraction of Vina's default effort (8 chains of ~10^4 steps). Keys:

- ``n_chains``: chains per ligand (Vina's exhaustiveness; ``--exhaustiveness`` overrides it).
- ``n_steps``: Monte-Carlo steps per chain (``--n-steps`` overrides it).
- ``opt_iters``: BFGS iterations per local optimisation inside a chain (Vina: (25+atoms)/3).
- ``final_iters``: BFGS iterations re-optimising each chain's best pose (cap v = 1000).
- ``refine_iters``: BFGS iterations of the final refinement on explicit receptor atoms.
- ``ls_trials`` / ``ls_shrink``: line-search trials per BFGS iteration, and whether a failed
  search stays and shrinks the step (default: Vina's 10 halvings, then the last trial point).
"""

from __future__ import annotations

from hpcfold.dock.search import SearchParams

PRESETS: dict[str, dict] = {
    "fast": {
        "n_chains": 64,
        "n_steps": 8,
        "opt_iters": 10,
        "final_iters": 20,
        "refine_iters": 8,
        "ls_trials": 3,
        "ls_shrink": True,
    },  # fmt: skip
    "balanced": {
        "n_chains": 128,
        "n_steps": 20,
        "opt_iters": 24,
        "final_iters": 100,
        "refine_iters": 12,
        "ls_trials": 3,
        "ls_shrink": True,
    },  # fmt: skip
    "thorough": {
        "n_chains": 256,
        "n_steps": 40,
        "opt_iters": 24,
        "final_iters": 200,
        "refine_iters": 30,
    },  # fmt: skip
}
# By measurement (docs/benchmarks.md, Docking). balanced: on 6 flexible FABP4 ligands (8-11
# torsions) 128 x 20 with 24 BFGS iterations per step and 100 for each chain's best pose came
# within 0.0-0.7 kcal/mol of Vina's default best scores, where 256 x 20 with 12 / 30
# iterations (the same CPU) was 0.7-1.5 worse and 64 x 80 (same CPU) 0.3-1.4 worse: longer local
# optimisation, not more or longer chains, is what flexible ligands need. Third session: line
# searches of at most 3 trials that stay and shrink H when they fail (``ls_shrink``, see
# ``optimize.bfgs``; Vina's 10 halvings made every vmapped chain pay for the slowest) halve
# balanced's cost at the same redocking accuracy (8/16 top-1, 11/16 within 0.3 kcal/mol of
# Vina default, against 8/16 and 10/16 before), and make fast both faster and better (its
# 10-iteration optimisations had wasted most iterations halving). thorough keeps Vina's line
# search: 11/16 and 15/16 (the shrinking variant: 10/16, 14/16 at 2/3 of the cost).
DEFAULT_PRESET = "balanced"


def resolve(
    preset: str, exhaustiveness: int | None, n_steps: int | None
) -> tuple[SearchParams, int]:
    """(SearchParams, refine_iters) for a preset name with Vina-style overrides.

    Raises ValueError for an unknown preset or a non-positive override.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = dict(PRESETS[preset])
    for key, val in (("n_chains", exhaustiveness), ("n_steps", n_steps)):
        if val is not None:
            if int(val) < 1:
                raise ValueError(f"{key} must be >= 1, got {val}")
            cfg[key] = int(val)
    refine_iters = cfg.pop("refine_iters")
    return SearchParams(**cfg), refine_iters
