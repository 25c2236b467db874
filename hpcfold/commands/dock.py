"""``hpcfold dock``: dock a few ligands into one receptor, with AutoDock Vina's conventions.

    hpcfold dock --receptor R.pdbqt --ligand L1.pdbqt L2.sdf L3.smi --config box.txt \\
        [--center X Y Z --size X Y Z] [--autobox-ligand X.pdbqt [--autobox-add 4]] \\
        [--preset balanced] [--exhaustiveness N] [--seed S] --out OUT.pdbqt|OUT.sdf
    hpcfold dock --receptor R.pdbqt --batch L1.pdbqt L2.pdbqt ... --dir OUT --config box.txt

Vina's command lines and config files work as they are (``apply_config``; Vina's defaults: one
ligand file without --out writes NAME_out.pdbqt beside it, --batch writes OUT/NAME_out.pdbqt).

All ligands of one call are prepared, then docked together (batched per size bucket). Output goes
through the writer registry (``hpcfold.report.writers``), as for ``export``: PDBQT with Vina's
remarks, SDF with one documented tag set.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from hpcfold.commands.vina_options import BOX_KEYS, VINA_UNUSED, require, resolve_box
from hpcfold.errors import UserError
from hpcfold.types import DockResult, Failure

HELP = "dock a few ligands into one receptor (Vina conventions)"


# Vina's config-file keys (Vina 1.2 takes every command-line option there too; the command line
# wins). Used: set the option of the same name when it is not on the command line. Ignored: a
# warning says so. Anything else (flex, maps, score_only, weight_*, typos) is an error, so no
# setting is dropped silently.
CONFIG_USED = {"receptor": str, "ligand": str, "out": str, "exhaustiveness": int, "seed": int,
               "num_modes": int, "energy_range": float, "min_rmsd": float,
               "scoring": str, "batch": str, "dir": str}  # fmt: skip
# Vina's options without a use here (``VINA_UNUSED``) are accepted on the command line and in
# the config file, with a warning, so that a Vina command line runs.
CONFIG_IGNORED = tuple(VINA_UNUSED)
DEFAULTS = {"seed": 0, "num_modes": 9, "energy_range": 3.0, "min_rmsd": 1.0, "scoring": "vina"}


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
    p.add_argument("--preset", default=None, help="fast | balanced (default) | thorough")
    p.add_argument("--exhaustiveness", type=int, help="Monte-Carlo chains per ligand")
    p.add_argument("--n-steps", type=int, help="Monte-Carlo steps per chain")
    p.add_argument("--seed", type=int, help="random seed (0)")
    p.add_argument("--scoring", choices=["vina", "vinardo"], help="vina (default) or vinardo")
    p.add_argument("--num-modes", "--num_modes", type=int, help="poses per ligand (9)")
    p.add_argument("--energy-range", "--energy_range", type=float,
                   help="kcal/mol above the best pose (3)")  # fmt: skip
    p.add_argument("--min-rmsd", "--min_rmsd", type=float,
                   help="A between output poses (symmetry-corrected; 1)")  # fmt: skip
    p.add_argument("--cache-dir", help="grid and compilation cache (default ~/.cache/hpcfold)")
    for key, kind in VINA_UNUSED.items():
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
    values (``BOX_KEYS`` present). Raises UserError for an unsupported or unknown key, a bad
    value or a missing receptor / ligand / out."""
    from hpcfold.commands.vina_options import apply_vina_config

    given = [k for k in VINA_UNUSED if getattr(args, k, None) not in (None, False)]
    if given:
        print(f"warning: ignored --{', --'.join(given)} (Vina options hpcfold has no use for; "
              "it sets its effort with --preset and --exhaustiveness)", file=sys.stderr)  # fmt: skip
    box = apply_vina_config(
        args, CONFIG_USED, CONFIG_IGNORED, "dock",
        why_ignored="hpcfold sets its effort with --preset and --exhaustiveness",
        hint="for score_only / local_only use hpcfold score [--local-only]",
        as_list=("ligand", "batch"),
    )  # fmt: skip
    for key, val in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, val)
    if not args.min_rmsd >= 0:
        raise UserError(f"min_rmsd must be >= 0, got {args.min_rmsd}")
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


def _out_name(path: str, folder: str | None = None) -> str:
    """Vina's output name for a ligand file: NAME_out.pdbqt (NAME_out.sdf for SDF / SMILES
    input, which keeps bond orders), beside the file or in ``folder``."""
    stem, ext = os.path.splitext(path)
    if folder is not None:
        stem = os.path.join(folder, os.path.basename(stem))
    return f"{stem}_out{'.pdbqt' if ext.lower() == '.pdbqt' else '.sdf'}"


def read_ligands(paths: list[str]) -> list:
    """LigandRecord or Failure per record of every file (prepared with hpcfold's chem layer)."""
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records

    opts = PrepOptions()
    items = []
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"ligand file not found: {path}")
        for raw in iter_records(path):
            items.append(prepare_record(raw, opts))
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
    from hpcfold.boxes import volume_warning
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock.engine import PRESETS, SearchOptions, dock_ligands, make_context

    config_box = apply_config(args)
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
    if args.preset is not None and args.preset not in PRESETS:
        raise UserError(f"unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    for name in ("exhaustiveness", "n_steps", "num_modes"):
        val = getattr(args, name)
        if val is not None and val < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1")
    if not os.path.isfile(args.receptor):
        raise UserError(f"receptor not found: {args.receptor}")
    receptor = read_receptor(args.receptor)
    box = resolve_box(args, config_box)
    warning = volume_warning(box, "a box around the binding site (--autobox-ligand) or "
                             "--preset thorough helps")  # fmt: skip
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    per_file = [read_ligands([f]) for f in files]
    items = [it for group in per_file for it in group]
    out_of = [o for o, group in zip(outs, per_file, strict=True) for _ in group]
    kw = {} if args.preset is None else {"preset": args.preset}
    opts = SearchOptions(
        exhaustiveness=args.exhaustiveness, n_steps=args.n_steps, seed=args.seed,
        num_modes=args.num_modes, energy_range=args.energy_range, min_rmsd=args.min_rmsd,
        scoring=args.scoring, **kw,
    )  # fmt: skip
    ctx = make_context(receptor, box, opts, cache_dir=args.cache_dir)
    records = [it for it in items if not isinstance(it, Failure)]
    docked = iter(dock_ligands(ctx, records))
    results = [it if isinstance(it, Failure) else (it, next(docked)) for it in items]
    from hpcfold.report.writers import open_writer

    writers = {o: open_writer(o, template=template) for o in outs}
    n_ok = 0
    try:
        for item, out in zip(results, out_of, strict=True):
            if isinstance(item, Failure):
                print(f"{item.lig_id}: {item.reason.name}: {item.message}", file=sys.stderr)
                continue
            rec, res = item
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
