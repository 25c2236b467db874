"""Search options: the one model of a docking search's settings, and the named presets.

Two frozen dataclasses. ``SearchParams`` is a search's effort, fully resolved (what the compiled
search and the refinement run); the presets are values of it, ``PRESETS``. ``SearchOptions``
is a search as a user sets it: a preset name, Vina-style overrides (``exhaustiveness``,
``n_steps``) and the output settings. It checks itself when it is built (``__post_init__``),
and ``SearchOptions.params`` applies the overrides to the preset: the screen config's
``search:`` section (``hpcfold.config``), the flags of ``hpcfold dock`` and the Python API
(``hpcfold.api.Docker``) all build a ``SearchOptions``, so every setting is checked once, in
one place, with one wording (``OptionError``: each front end names the option its own way).

Standard library and ``hpcfold.scoring`` (numpy) only: rank 0 of a screen checks a config's
search section with this module and never imports JAX.

Effort keys (``SearchParams``):

- ``n_chains``: chains per ligand at Vina's default exhaustiveness 8 (``exhaustiveness E``
  scales them by E/8).
- ``n_steps``: Monte-Carlo steps per chain (the ``n_steps`` option replaces it).
- ``opt_iters``: BFGS iterations per local optimisation inside a chain (Vina: (25+atoms)/3).
- ``final_iters``: BFGS iterations re-optimising each chain's best pose (cap v = 1000).
- ``refine_iters``: BFGS iterations of the final refinement on explicit receptor atoms.
- ``ls_trials`` / ``ls_shrink``: line-search trials per BFGS iteration, and whether a failed
  search stays and shrinks the step (default: Vina's 10 halvings, then the last trial point).
- ``restart_every``: Monte-Carlo steps between elitist restarts (the worst half of the chains
  continue from the best half's poses, ``search.restart_worst``); 0: independent chains.
"""

from __future__ import annotations

import dataclasses
import math

from hpcfold import scoring
from hpcfold.errors import OptionError, shorten


@dataclasses.dataclass(frozen=True)
class SearchParams:
    """Effort of one search, fully resolved (static: it fixes the compiled program).

    n_chains: independent Monte-Carlo chains per ligand.
    n_steps: Monte-Carlo steps per chain.
    opt_iters: BFGS iterations per local optimisation during the chain.
    final_iters: BFGS iterations re-optimising each chain's best pose with ``final_caps``.
    refine_iters: BFGS iterations of the final refinement on explicit receptor atoms
    (``hpcfold.dock.refine``).
    restart_every / restart_frac: see ``search.search_ligand``.
    """

    n_chains: int
    n_steps: int
    opt_iters: int
    final_iters: int
    refine_iters: int
    temperature: float = 1.2
    mc_caps: tuple[float, float] = (10.0, 1.5)  # Vina's hunt_cap: (intra v, inter v)
    final_caps: tuple[float, float] = (1000.0, 1000.0)  # Vina's authentic_v
    pos_amplitude: float = 2.0  # A, Vina's mutation amplitude
    ls_trials: int = 10  # line-search halvings per BFGS step (Vina: 10)
    ls_shrink: bool = False  # a failed line search stays and shrinks H (``optimize.bfgs``)
    restart_every: int = 0  # MC steps between elitist restarts (0: independent chains)
    restart_frac: float = 0.5  # share of chains restarted from the best ones (<= 0.5)


# The presets: effort versus speed, chosen by measurement (docs/benchmarks.md, Docking).
PRESETS: dict[str, SearchParams] = {
    "fast": SearchParams(
        n_chains=64,
        n_steps=8,
        opt_iters=10,
        final_iters=20,
        refine_iters=8,
        ls_trials=3,
        ls_shrink=True,
    ),  # fmt: skip
    "balanced": SearchParams(
        n_chains=160,
        n_steps=40,
        opt_iters=24,
        final_iters=200,
        refine_iters=30,
        ls_trials=3,
        ls_shrink=True,
        restart_every=5,
    ),  # fmt: skip
    "thorough": SearchParams(
        n_chains=256,
        n_steps=40,
        opt_iters=24,
        final_iters=200,
        refine_iters=30,
    ),  # fmt: skip
}
DEFAULT_PRESET = "balanced"
# Why these values (measurements in docs/benchmarks.md, Docking). Uni-Dock's lesson holds on
# CPU too: many short Monte-Carlo chains find Vina's poses at a small fraction of Vina's default
# effort (8 chains of ~10^4 steps). balanced: flexible ligands need long local optimisation per
# step (24 BFGS iterations, 200 for each chain's best pose); line searches of at most 3 trials
# that stay and shrink H when they fail (``ls_shrink``, ``optimize.bfgs``) halve the cost at the
# same accuracy, since in lockstep every chain pays for the slowest one's trials. Chains whose
# worst half restarts from the best half's poses every 5 steps (``restart_every``) redock more
# than independent chains at equal effort: independent short chains rarely reach the deep,
# narrow basins of larger ligands in large boxes, restarts put the effort there. Breadth is
# what the measurements reward next: on the same 30 fabp4 ligands (D0), 64, 128 and 160 such
# chains score within 0.3 kcal/mol of Vina's best for 18, 23 and 28 of them, for 1, 2.2 and
# 2.7x the CPU; longer final optimisations or Vina's line search in them cost more and did not
# add to it. Islands, fresh
# restarts, other temperatures, pocket starts and early stopping did not help. thorough keeps
# Vina's line search and independent chains. ``exhaustiveness`` scales the chains (balanced at
# 4: 80 chains, about half the CPU).

# field metadata: set from Python only, not a key of a screen config's ``search`` section (the
# marker ``hpcfold.config`` skips, ``INTERNAL`` there)
NOT_IN_CONFIG = {"internal": True}


@dataclasses.dataclass(frozen=True)
class SearchOptions:
    """A docking search as a user sets it: the ``search:`` section of a screen config, the
    search flags of ``hpcfold dock``, the search keywords of ``hpcfold.api.Docker``. Checked
    when built (``OptionError`` naming the setting); ``params`` is the resolved effort.

    Attributes:
        preset: search preset name, a key of ``hpcfold.dock.presets.PRESETS`` (default
            ``DEFAULT_PRESET``); ``exhaustiveness`` and ``n_steps`` adjust it.
        exhaustiveness: Vina's: the search effort relative to Vina's default 8, the preset's
            ``n_chains * exhaustiveness / 8`` chains (null = the preset's, as 8).
        n_steps: Monte-Carlo steps per chain (null = preset's).
        seed: random seed; each ligand's stream is derived from (seed, ligand id), so results do
            not depend on ranks or chunking.
        scoring: scoring function, a name in ``hpcfold.scoring.NAMES``.
        num_modes: poses kept per ligand.
        energy_range: keep poses within this many kcal/mol of the best one.
        min_rmsd: poses closer than this RMSD (Angstrom) to a better one are dropped.
        weights: (Python only) scoring weights replacing the function's defaults, by term name.
        batch_size: (Python only) ligands per kernel call (None: 1 on CPU; on an accelerator
            64, fewer for the large-ligand buckets, ``engine.kernel_batch``).
        compile_cache: (Python only) persistent JAX compilation cache directory (None:
            ``<cache_dir>/jax``; '' disables it).
    """

    preset: str = DEFAULT_PRESET
    exhaustiveness: int | None = None
    n_steps: int | None = None
    seed: int = 0
    scoring: str = scoring.DEFAULT
    num_modes: int = 9
    energy_range: float = 3.0
    min_rmsd: float = 1.0
    weights: dict | None = dataclasses.field(default=None, metadata=NOT_IN_CONFIG)
    batch_size: int | None = dataclasses.field(default=None, metadata=NOT_IN_CONFIG)
    compile_cache: str | None = dataclasses.field(default=None, metadata=NOT_IN_CONFIG)

    def __post_init__(self) -> None:
        """The one check of every setting. Raises OptionError (a UserError and a ValueError)."""
        if not isinstance(self.preset, str) or self.preset not in PRESETS:
            raise OptionError("preset", f"must be one of {', '.join(PRESETS)}: unknown preset "
                              f"{shorten(self.preset)}")  # fmt: skip
        if self.scoring not in scoring.NAMES:
            raise OptionError("scoring", f"must be one of {', '.join(scoring.NAMES)}, got "
                              f"{shorten(self.scoring)}")  # fmt: skip
        for key in ("exhaustiveness", "n_steps", "num_modes"):
            value = getattr(self, key)
            if value is not None and not value >= 1:
                raise OptionError(key, f"must be >= 1, got {shorten(value)}")
        for key in ("energy_range", "min_rmsd"):
            value = getattr(self, key)
            if not math.isfinite(value):  # a NaN energy_range keeps no pose
                raise OptionError(key, f"must be a finite number, got {shorten(value)}")
            if value < 0:
                raise OptionError(key, f"must be >= 0, got {shorten(value)}")

    @property
    def params(self) -> SearchParams:
        """The preset's effort with this search's overrides: ``exhaustiveness`` E gives
        ``n_chains * E / 8`` chains (rounded half up, at least 1), so 8 is the preset itself,
        bit for bit, and 16 doubles its chains; ``n_steps`` replaces the preset's steps."""
        p = PRESETS[self.preset]
        if self.exhaustiveness is not None:
            chains = max(1, (p.n_chains * int(self.exhaustiveness) + 4) // 8)
            p = dataclasses.replace(p, n_chains=chains)
        if self.n_steps is not None:
            p = dataclasses.replace(p, n_steps=int(self.n_steps))
        return p

    def config_dict(self) -> dict:
        """The settings a screen config's ``search`` section holds, in field order: what a
        results store records (and compares when a screen resumes)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not f.metadata.get("internal")}  # fmt: skip
