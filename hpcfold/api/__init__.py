"""hpcfold's Python API: dock, score and optimise ligands from a notebook or a script.

    from hpcfold import api
    rec = api.load_receptor("examples/fabp4/receptor.pdbqt")
    box = api.make_box(config="examples/fabp4/box.txt")
    mols = api.dock(rec, box, ["c1ccccc1C(=O)O benzoic"], preset="fast")
    mols[0].GetProp("hpcfold_affinity"), mols[0].GetNumConformers()

Ligands go in as RDKit ``Mol``s, SMILES strings ("SMILES" or "SMILES name"), SDF / SMILES / PDBQT
file paths, or prepared ``LigandRecord``s, alone or in a list. Every ligand comes out, in input
order, as an RDKit molecule (the poses as conformers, best first; the scores and terms as
properties named like the SDF tags of ``hpcfold dock``, ``POSE_TAGS``) or as a
``hpcfold.types.Failure`` with its reason. ``hpcfold dock`` and ``hpcfold score`` are thin
layers over ``Docker.dock_records`` and ``score_records``. Importing this module does not import
JAX; the first docking or scoring call does. Modules: ``inputs``, ``outputs``, ``scoring``.
"""

from __future__ import annotations

import os
import sys

from hpcfold.api.inputs import load_receptor, make_box, prepare_ligands, read_poses
from hpcfold.api.outputs import POSE_TAGS, pose_tags, rmsd_to_best, to_mol, write_sdf
from hpcfold.api.scoring import ScoringFunction, score_records, scoring_function
from hpcfold.dock.presets import SearchOptions
from hpcfold.errors import UserError
from hpcfold.types import Box, Failure, LigandRecord

__all__ = ["POSE_TAGS", "Docker", "ScoringFunction", "dock", "load_receptor", "make_box",
           "optimize", "pose_tags", "prepare_ligands", "read_poses", "rmsd_to_best", "score",
           "score_records", "scoring_function", "to_mol", "write_sdf"]  # fmt: skip


class Docker:
    """Docking and scoring into one receptor box (Vina's ``Vina`` object: receptor, maps and
    options held once, then any number of ligands). Search settings as ``hpcfold dock``'s
    flags, None = the default of ``SearchOptions`` (``hpcfold.dock.presets``), which checks
    them: ``exhaustiveness`` is Vina's (8 = the preset's effort; E scales the chains by E/8);
    ``cpu``: worker processes for ``dock`` (0 = every core; poses are the same for any count);
    ``progress``: a bar on stderr (None: when stderr is a terminal). ``Docker.with_options``
    takes a ready ``SearchOptions``."""

    def __init__(self, receptor, box: Box, *, preset: str | None = None,
                 exhaustiveness: int | None = None, n_steps: int | None = None,
                 seed: int | None = None, num_modes: int | None = None,
                 energy_range: float | None = None, min_rmsd: float | None = None,
                 scoring: str | None = None, weights: dict | None = None,
                 cache_dir: str | None = None, cpu: int = 1, progress: bool | None = None):  # fmt: skip
        if isinstance(receptor, str | os.PathLike):
            receptor = load_receptor(receptor)
        given = {"preset": preset, "exhaustiveness": exhaustiveness, "n_steps": n_steps,
                 "seed": seed, "num_modes": num_modes, "energy_range": energy_range,
                 "min_rmsd": min_rmsd, "scoring": scoring, "weights": weights}  # fmt: skip
        options = SearchOptions(**{k: v for k, v in given.items() if v is not None})
        self._setup(receptor, box, options, cache_dir, cpu, progress)

    @classmethod
    def with_options(cls, receptor, box: Box, options: SearchOptions, *,
                     cache_dir: str | None = None, cpu: int = 1,
                     progress: bool | None = None) -> Docker:  # fmt: skip
        """A Docker for ready, checked ``options`` (what ``hpcfold dock`` builds from its flags
        before it reads any input)."""
        if isinstance(receptor, str | os.PathLike):
            receptor = load_receptor(receptor)
        self = cls.__new__(cls)
        self._setup(receptor, box, options, cache_dir, cpu, progress)
        return self

    def _setup(self, receptor, box, options, cache_dir, cpu, progress) -> None:
        from hpcfold.dock.context import default_cache_dir  # JAX: not when the API is imported

        if cpu < 0:
            raise UserError(f"cpu must be >= 0 (0 = every core), got {cpu}")
        self.receptor, self.box, self.cpu, self.progress = receptor, box, cpu, progress
        self.cache_dir = cache_dir or default_cache_dir()
        self.options = options
        self._ctx = None
        self.compiled_groups: set = set()  # (bucket index, glue) kernels this ctx has run

    @property
    def ctx(self):
        """The engine's DockContext (grids and kernels), built on first use."""
        if self._ctx is None:
            from hpcfold.dock import context

            try:
                self._ctx = context.make_context(
                    self.receptor, self.box, self.options, cache_dir=self.cache_dir
                )
            except ValueError as exc:
                raise UserError(str(exc)) from None
        return self._ctx

    def dock_records(self, records, cpu: int | None = None, progress: bool | None = None):
        """DockResult or Failure per LigandRecord / Failure of ``records``, in order."""
        from hpcfold.commands import dock_worker

        cpu = self.cpu if cpu is None else cpu
        show = sys.stderr.isatty() if (progress is None and self.progress is None) else bool(
            self.progress if progress is None else progress
        )  # fmt: skip
        return dock_worker.dock_all(self, list(records), cpu, show)

    def dock(self, ligands, cpu: int | None = None, progress: bool | None = None) -> list:
        """Dock ``ligands`` (see ``prepare_ligands``) -> per molecule an RDKit Mol (poses as
        conformers, best first, ``POSE_TAGS`` as properties) or a Failure."""
        items = prepare_ligands(ligands)
        out = []
        for item, res in zip(items, self.dock_records(items, cpu, progress), strict=True):
            if isinstance(res, Failure):
                out.append(res)
                continue
            out.append(to_mol(item, res.coords, pose_tags(item, res)))
        return out

    def score(self, ligands, local_only: bool = False) -> list:
        """Vina's score (``--score_only``; ``local_only``: after Vina's local optimisation) of
        each pose of ``ligands`` (Mols with 3D coordinates, SDF or PDBQT files) -> per pose a
        Mol with properties hpcfold_affinity, _inter, _intra and the terms, or a Failure."""
        from hpcfold.commands.dock_worker import compile_dir
        from hpcfold.dock import context

        context.enable_compilation_cache(compile_dir(self.options, self.cache_dir))
        items = prepare_ligands(ligands, keep_coords=True)
        ok = [it for it in items if isinstance(it, LigandRecord)]
        rows, coords = score_records(
            ok, self.receptor, self.box, self.options.scoring, self.options.weights,
            local_only, os.path.join(self.cache_dir, "grids"),
        ) if ok else ([], [])  # fmt: skip
        it = iter(zip(ok, rows, coords, strict=True))
        out = []
        for item in items:
            if isinstance(item, Failure):
                out.append(item)
                continue
            rec, row, xyz = next(it)
            tags = {f"hpcfold_{k}": f"{v:.4f}" for k, v in row.items()}
            out.append(to_mol(rec, xyz[None], [tags]))
        return out

    def optimize(self, ligands) -> list:
        """Vina's ``--local_only``: ``score(ligands, local_only=True)``."""
        return self.score(ligands, local_only=True)

    def scoring_function(self, ligand) -> ScoringFunction:
        """``scoring_function`` of this receptor, box and scoring for one ligand pose."""
        return scoring_function(self.receptor, self.box, ligand, self.options.scoring,
                                self.options.weights)  # fmt: skip


def dock(receptor, box: Box, ligands, **options) -> list:
    """``Docker(receptor, box, **options).dock(ligands)``."""
    return Docker(receptor, box, **options).dock(ligands)


def score(receptor, box: Box, ligands, **options) -> list:
    """``Docker(receptor, box, **options).score(ligands)``."""
    return Docker(receptor, box, **options).score(ligands)


def optimize(receptor, box: Box, ligands, **options) -> list:
    """``Docker(receptor, box, **options).optimize(ligands)``."""
    return Docker(receptor, box, **options).optimize(ligands)
