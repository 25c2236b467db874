"""``hpcfold dock``: dock a few ligands into one receptor, with AutoDock Vina's conventions.

    hpcfold dock --receptor R.pdbqt --ligand L1.pdbqt L2.sdf L3.smi --config box.txt \\
        [--center X Y Z --size X Y Z] [--autobox-ligand X.pdbqt [--autobox-add 4]] \\
        [--preset balanced] [--exhaustiveness N] [--seed S] --out OUT.pdbqt|OUT.sdf
    hpcfold dock --receptor R.pdbqt --batch L1.pdbqt L2.pdbqt ... --dir OUT --config box.txt

Vina's command lines and config files work as they are (``apply_config``; Vina's defaults: one
ligand file without --out writes NAME_out.pdbqt beside it, --batch writes OUT/NAME_out.pdbqt).

All ligands of one call are prepared, then docked through ``hpcfold.api.Docker``: on ``--cpu``
worker processes, one core each (0: every core; ``hpcfold.commands.dock_worker``), or in this
process, batched per size bucket (one ligand, one worker, or an accelerator). Output goes
through the writer registry (``hpcfold.report.writers``), as for ``export``: PDBQT with Vina's
remarks, SDF with one documented tag set (docs/file-formats.md).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from hpcfold import scoring
from hpcfold.commands.vina_options import (
    BOX_KEYS,
    VINA_UNUSED,
    parse_bool,
    require,
    resolve_box,
)
from hpcfold.dock.presets import DEFAULT_PRESET, PRESETS, SearchOptions
from hpcfold.errors import OptionError, UserError
from hpcfold.types import DockResult, Failure

HELP = "dock a few ligands into one receptor (Vina conventions)"


# Vina's config-file keys (Vina 1.2 takes every command-line option there too; the command line
# wins). Used: set the option of the same name when it is not on the command line, with Vina's
# meaning (exhaustiveness scales the effort, 8 = the preset; cpu: worker processes, 0 = all;
# score_only / local_only: ``hpcfold score``). Ignored: a warning gives the reason
# (``WHY_IGNORED``). Anything else (flex, maps, weight_*, typos) is an error, so no setting is
# dropped silently.
CONFIG_USED = {"receptor": str, "ligand": str, "out": str, "exhaustiveness": int, "seed": int,
               "num_modes": int, "energy_range": float, "min_rmsd": float, "cpu": int,
               "scoring": str, "batch": str, "dir": str, "score_only": parse_bool,
               "local_only": parse_bool}  # fmt: skip
# Vina's options without a use here are accepted on the command line and in the config file,
# with a warning that says why, so that a Vina command line runs.
UNUSED = {k: v for k, v in VINA_UNUSED.items() if k != "cpu"}
WHY_IGNORED = {
    "verbosity": "hpcfold prints its own progress",
    "max_evals": "the effort is set by --preset and --exhaustiveness, not by evaluations",
    "spacing": "hpcfold's grid maps are always Vina's default 0.375 A",
    "write_maps": "hpcfold keeps its grids in --cache-dir, not as AutoDock maps",
    "force_even_voxels": "hpcfold's grids have Vina's default voxel counts",
    "no_refine": "hpcfold always refines the poses on explicit receptor atoms",
}
CONFIG_IGNORED = tuple(UNUSED)
# scoring also for --score_only (hpcfold score); unset search settings: SearchOptions' defaults
DEFAULTS = {"scoring": scoring.DEFAULT, "cpu": 0}
# The flags (and Vina config keys) that are search settings, as in a screen config's ``search``
# section; ``search_options`` has ``SearchOptions`` check them.
SEARCH_KEYS = tuple(SearchOptions().config_dict())


def add_arguments(p) -> None:
    p.add_argument("--receptor", help="receptor PDBQT (or PDB with hydrogens)")
    p.add_argument("--ligand", nargs="+", help="PDBQT, SDF or SMILES files")
    p.add_argument("--batch", nargs="+",
                   help="Vina's batch mode: ligand files, each docked into --dir/NAME_out.pdbqt "
                   "(NAME_out.sdf for SDF / SMILES files)")  # fmt: skip
    p.add_argument("--dir", help="output folder of --batch")
    p.add_argument("--config", help="Vina config file: box (center_x.., size_x..) and options")
    p.add_argument("--center", nargs=3, type=float, metavar=("X", "Y", "Z"))
    p.add_argument("--size", nargs=3, type=float, metavar=("X", "Y", "Z"))
    for key in BOX_KEYS:  # Vina's spelling, one axis each
        p.add_argument(
            f"--{key}", type=float, help="(Vina's spelling)" if key == "center_x" else None
        )
    p.add_argument(
        "--autobox-ligand", "--autobox_ligand", help="box around this ligand (PDBQT/SDF)"
    )
    p.add_argument("--autobox-add", "--autobox_add", type=float, default=4.0,
                   help="A added on every side (4)")  # fmt: skip
    p.add_argument("--preset", default=None, help=" | ".join(
        f"{n} (default)" if n == DEFAULT_PRESET else n for n in PRESETS))  # fmt: skip
    p.add_argument("--exhaustiveness", type=int,
                   help="Vina's: effort relative to 8, the preset's (chains x E/8)")  # fmt: skip
    p.add_argument("--cpu", type=int,
                   help="worker processes, one core each (0, the default: every core)")  # fmt: skip
    p.add_argument("--score_only", "--score-only", action="store_true",
                   help="score the ligand's pose as it is (runs hpcfold score)")  # fmt: skip
    p.add_argument("--local_only", "--local-only", action="store_true",
                   help="minimise the pose, then score it (runs hpcfold score --local-only)")  # fmt: skip
    p.add_argument("--n-steps", type=int, help="Monte-Carlo steps per chain")
    p.add_argument("--seed", type=int, help="random seed (0)")
    p.add_argument("--scoring", choices=scoring.NAMES, help=f"one of {', '.join(scoring.NAMES)} "
                   f"(default {scoring.DEFAULT})")  # fmt: skip
    p.add_argument("--num-modes", "--num_modes", type=int, help="poses per ligand (9)")
    p.add_argument("--energy-range", "--energy_range", type=float,
                   help="kcal/mol above the best pose (3)")  # fmt: skip
    p.add_argument("--min-rmsd", "--min_rmsd", type=float,
                   help="A between output poses (symmetry-corrected; 1)")  # fmt: skip
    p.add_argument("--cache-dir", help="grid and compilation cache (default ~/.cache/hpcfold)")
    for key, kind in UNUSED.items():
        if kind is None:
            p.add_argument(f"--{key}", action="store_true", help=argparse.SUPPRESS)
        else:
            p.add_argument(f"--{key}", type=kind, help=argparse.SUPPRESS)
    p.add_argument("--out", help="output .pdbqt or .sdf (one ligand file: LIGAND_out.pdbqt, "
                   "or LIGAND_out.sdf for SDF / SMILES input, as Vina names it)")  # fmt: skip
    p.add_argument("--ligand-template", metavar="SMILES|SDF",
                   help="bond orders for PDBQT ligands without meeko's remarks (SDF output)")  # fmt: skip


def apply_config(args) -> dict[str, float]:
    """Fill ``args`` from ``--config`` (Vina's keys, see ``CONFIG_USED``) where the command line
    left an option unset, then the defaults; check the required ones. Returns the config's box
    values (``BOX_KEYS`` present) and sets ``args.search_options`` (``search_options``), the
    search flags to the values in effect.
    Raises UserError for an unsupported or unknown key, a bad value or a missing receptor /
    ligand / out."""
    from hpcfold.commands.vina_options import apply_vina_config

    for key in UNUSED:
        if getattr(args, key, None) not in (None, False):
            print(f"warning: ignored --{key} ({WHY_IGNORED[key]})", file=sys.stderr)
    why = ""
    if args.config:  # the reasons for the keys this file sets
        from hpcfold.boxes import parse_vina_options, read_config_text

        keys = parse_vina_options(read_config_text(args.config), args.config)
        why = "; ".join(f"{k}: {WHY_IGNORED[k]}" for k in keys if k in WHY_IGNORED)
    box = apply_vina_config(
        args, CONFIG_USED, CONFIG_IGNORED, "dock", why_ignored=why,
        hint="the search effort is --preset and --exhaustiveness",
        as_list=("ligand", "batch"),
    )  # fmt: skip
    for key, val in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, val)
    args.search_options = search_options(args)
    for key, val in args.search_options.config_dict().items():  # the settings in effect
        setattr(args, key, val)
    if args.cpu < 0:
        raise UserError(f"--cpu must be >= 0 (0 = every core), got {args.cpu}")
    if args.score_only or args.local_only:  # Vina's modes without a search: hpcfold score
        require(args, ("receptor", "ligand"))
        return box
    if args.batch:  # Vina's batch mode: one output per ligand file, in --dir
        if args.ligand or args.out:
            raise UserError("--batch goes with --dir, not with --ligand / --out")
        if not args.dir:
            raise UserError("--batch needs --dir, the output folder")
    elif args.dir:
        raise UserError("--dir is the output folder of --batch")
    elif not args.out and args.ligand and len(args.ligand) == 1:  # Vina's default output name
        args.out = _out_name(args.ligand[0])
        print(f"writing to {args.out} (--out not given)", file=sys.stderr)
    require(args, ("receptor", "batch") if args.batch else ("receptor", "ligand", "out"))
    return box


def search_options(args) -> SearchOptions:
    """The search settings of the command line and the Vina config file (``SEARCH_KEYS``;
    unset: the defaults of ``SearchOptions``, which checks them). Raises UserError naming the
    flag."""
    given = {k: getattr(args, k) for k in SEARCH_KEYS if getattr(args, k, None) is not None}
    try:
        return SearchOptions(**given)
    except OptionError as exc:
        raise exc.named(f"--{exc.key.replace('_', '-')}") from None


def _out_name(path: str, folder: str | None = None) -> str:
    """Vina's output name for a ligand file: NAME_out.pdbqt (NAME_out.sdf for SDF / SMILES
    input, which keeps bond orders), beside the file or in ``folder``."""
    stem, ext = os.path.splitext(path)
    if folder is not None:
        stem = os.path.join(folder, os.path.basename(stem))
    return f"{stem}_out{'.pdbqt' if ext.lower() == '.pdbqt' else '.sdf'}"


def read_ligands(paths: list[str]) -> list:
    """LigandRecord or Failure per record of every file (``api.prepare_ligands``)."""
    from hpcfold import api

    items = [it for path in paths for it in api.prepare_ligands(path)]
    if not items:
        raise UserError("no ligand records in " + ", ".join(paths))
    return items


def _rmsds(res: DockResult, rec) -> tuple[np.ndarray, np.ndarray]:
    """Vina's (rmsd l.b., rmsd u.b.) of every mode to the best one (``vina_rmsd_bounds``)."""
    from hpcfold.dock.cluster import vina_rmsd_bounds

    return vina_rmsd_bounds(res.coords, res.coords[0], rec.ad_types)


def format_table(rec, res: DockResult) -> str:
    """Vina's table of modes: affinity and Vina's rmsd l.b. / u.b. to the best mode."""
    lb, ub = _rmsds(res, rec)
    rows = ["mode |   affinity | dist from best mode", "     | (kcal/mol) | rmsd l.b.| rmsd u.b.",
            "-----+------------+----------+----------"]  # fmt: skip
    rows += [f"{m + 1:4d} {a:12.3f} {lb[m]:10.3f} {ub[m]:10.3f}"
             for m, a in enumerate(res.affinity)]  # fmt: skip
    return "\n".join(rows) + "\n"


def _score(args, config_box: dict[str, float]) -> int:
    """``--score_only`` / ``--local_only``: ``hpcfold score`` on the same receptor, pose and box
    (Vina's modes that run no search)."""
    from hpcfold.commands import score

    if len(args.ligand) != 1:
        raise UserError("--score_only / --local_only score one ligand file")
    if args.batch:
        raise UserError("--score_only / --local_only take --ligand, not --batch")
    given = [args.center, args.size, args.autobox_ligand, *(getattr(args, k) for k in BOX_KEYS)]
    center = size = None
    if config_box or any(v is not None for v in given):  # else score's box around the poses
        box = resolve_box(args, config_box)
        center, size = list(box.center), list(box.size)
    grids = os.path.join(args.cache_dir, "grids") if args.cache_dir else None
    ns = argparse.Namespace(
        receptor=args.receptor, ligand=args.ligand[0], config=None, center=center, size=size,
        **dict.fromkeys(BOX_KEYS), scoring=args.scoring, score_only=args.score_only,
        local_only=args.local_only, json=False, out=args.out if args.local_only else None,
        grid_cache=grids,
    )  # fmt: skip
    return score.main(ns)


def ligand_output(rec, res: DockResult):
    """One docked ligand as input of the output writers (``hpcfold.report.writers``)."""
    from hpcfold.report.writers import LigandOutput
    from hpcfold.store.results_view import clash_flag

    lb, ub = _rmsds(res, rec)
    return LigandOutput(
        rec.lig_id, res.affinity, res.inter, res.intra, res.terms, clash_flag(res.affinity),
        record=rec, coords=res.coords, rmsd_lb=lb, rmsd_ub=ub, smiles=rec.smiles,
    )  # fmt: skip


def main(args) -> int:
    from hpcfold import api
    from hpcfold.boxes import volume_warning

    config_box = apply_config(args)
    if args.score_only or args.local_only:
        return _score(args, config_box)
    template = None  # checked before any docking
    if getattr(args, "ligand_template", None):
        from hpcfold.chem.bond_orders import read_template

        template = read_template(args.ligand_template)
    files = args.batch or args.ligand
    outs = [_out_name(f, args.dir) for f in files] if args.batch else [args.out] * len(files)
    if args.out and not args.out.lower().endswith((".pdbqt", ".sdf")):
        raise UserError(f"--out must end with .pdbqt or .sdf, got {args.out}")
    if args.batch:
        clash = sorted({o for o in outs if outs.count(o) > 1})
        if clash:
            raise UserError(f"--batch files would share an output: {', '.join(clash)}")
        try:
            os.makedirs(args.dir, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create --dir {args.dir}: {exc}") from None
    folders = {os.path.dirname(os.path.abspath(o)) for o in outs}
    for folder in sorted(folders):  # fail now, not after the docking
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UserError(f"cannot write the output to {folder}: not a writable folder "
                            "(give --out elsewhere)")  # fmt: skip
    receptor = api.load_receptor(args.receptor)
    box = resolve_box(args, config_box)
    warning = volume_warning(box, "a box around the binding site (--autobox-ligand) or "
                             "--preset thorough helps")  # fmt: skip
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    per_file = [read_ligands([f]) for f in files]
    items = [it for group in per_file for it in group]
    out_of = [o for o, group in zip(outs, per_file, strict=True) for _ in group]
    docker = api.Docker.with_options(receptor, box, args.search_options,
                                     cache_dir=args.cache_dir, cpu=args.cpu, progress=True)  # fmt: skip
    docked = docker.dock_records(items)
    from hpcfold.report.writers import open_writer

    writers = {o: open_writer(o, template=template) for o in outs}
    n_ok = 0
    try:
        for rec, res, out in zip(items, docked, out_of, strict=True):
            if isinstance(res, Failure):
                print(f"{res.lig_id}: {res.reason.name}: {res.message}", file=sys.stderr)
                continue
            n_ok += 1
            refused = writers[out].write(ligand_output(rec, res))
            if refused:
                print(f"{rec.lig_id}: no SDF (bond orders not known for sure: {refused}); "
                      f"written to {writers[out].refused_path}", file=sys.stderr)  # fmt: skip
            print(f"{rec.lig_id}: {len(res.affinity)} modes, best {res.affinity[0]:.3f} kcal/mol")
            print(format_table(rec, res))
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    where = args.dir if args.batch else args.out
    print(f"wrote {n_ok}/{len(items)} docked ligands to {where}")
    return 0 if n_ok == len(items) else 1
