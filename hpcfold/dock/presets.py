"""Search presets: effort versus speed, chosen by measurement (docs/benchmarks.md, Docking).

Uni-Dock's lesson holds on CPU too: many short Monte-Carlo chains find Vina's poses at a small
fraction of Vina's default effort (8 chains of ~10^4 steps). Keys:

- ``n_chains``: chains per ligand at Vina's default exhaustiveness 8 (``--exhaustiveness E``
  scales them by E/8, ``resolve``).
- ``n_steps``: Monte-Carlo steps per chain (``--n-steps`` overrides it).
- ``opt_iters``: BFGS iterations per local optimisation inside a chain (Vina: (25+atoms)/3).
- ``final_iters``: BFGS iterations re-optimising each chain's best pose (cap v = 1000).
- ``refine_iters``: BFGS iterations of the final refinement on explicit receptor atoms.
- ``ls_trials`` / ``ls_shrink``: line-search trials per BFGS iteration, and whether a failed
  search stays and shrinks the step (default: Vina's 10 halvings, then the last trial point).
- ``restart_every``: Monte-Carlo steps between elitist restarts (the worst half of the chains
  continue from the best half's poses, ``search.restart_worst``); absent: independent chains.
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
        "n_chains": 64,
        "n_steps": 40,
        "opt_iters": 24,
        "final_iters": 100,
        "refine_iters": 12,
        "ls_trials": 3,
        "ls_shrink": True,
        "restart_every": 5,
    },  # fmt: skip
    "thorough": {
        "n_chains": 256,
        "n_steps": 40,
        "opt_iters": 24,
        "final_iters": 200,
        "refine_iters": 30,
    },  # fmt: skip
}
# Why these values (measurements in docs/benchmarks.md, design section). balanced: flexible
# ligands need long local optimisation per step (24 BFGS iterations, 100 for each chain's best
# pose); line searches of at most 3 trials that stay and shrink H when they fail (``ls_shrink``,
# ``optimize.bfgs``) halve the cost at the same accuracy, since in lockstep every chain pays for
# the slowest one's trials. At equal numbers of local optimisations, 64 chains x 40 steps whose
# worst half restarts from the best half's poses every 5 steps (``restart_every``) redock more
# of the 32 smallest redock42 complexes than 128 independent chains x 20 steps (about 20 against
# 16 of 32): independent short chains rarely reach the deep, narrow basins of larger ligands in
# large boxes, restarts put the effort there. Islands, fresh restarts, other temperatures,
# pocket starts and early stopping did not beat it. Its top-1 rate there is ~0.6, +-2 complexes
# from seed to seed. thorough keeps Vina's line search and independent chains.
DEFAULT_PRESET = "balanced"


def resolve(
    preset: str, exhaustiveness: int | None, n_steps: int | None
) -> tuple[SearchParams, int]:
    """(SearchParams, refine_iters) for a preset name with Vina-style overrides.

    ``exhaustiveness`` has Vina's meaning, the search effort relative to Vina's default 8: the
    preset's ``n_chains * exhaustiveness / 8`` chains (rounded half up, at least 1), so 8 is the
    preset itself, bit for bit, and 16 doubles its chains. ``n_steps`` replaces the preset's
    Monte-Carlo steps per chain.

    Raises ValueError for an unknown preset or a non-positive override.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = dict(PRESETS[preset])
    for key, val in (("exhaustiveness", exhaustiveness), ("n_steps", n_steps)):
        if val is not None and int(val) < 1:
            raise ValueError(f"{key} must be >= 1, got {val}")
    if exhaustiveness is not None:
        cfg["n_chains"] = max(1, (cfg["n_chains"] * int(exhaustiveness) + 4) // 8)
    if n_steps is not None:
        cfg["n_steps"] = int(n_steps)
    refine_iters = cfg.pop("refine_iters")
    return SearchParams(**cfg), refine_iters
