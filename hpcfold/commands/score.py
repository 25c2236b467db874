"""``hpcfold score``: Vina's ``--score_only`` / ``--local_only`` on explicit receptor atoms.

Every pose of the ligand file is scored: each MODEL of a (multi-model) PDBQT, each record of an
SDF (typed through ``hpcfold.chem.prepare.prepare_mol`` with the file's coordinates). Output per
pose: affinity (kcal/mol), inter, intra and the unweighted intermolecular terms; ``--json`` prints
a list of objects with keys affinity, inter, intra, gauss1, gauss2, repulsion, hydrophobic,
hbond. A pose that cannot be read or typed, or whose energy is not finite, is reported with
``null`` values and an ``error`` key, and the exit status is 1.

``--local-only`` minimises each pose first the way Vina 1.2's ``optimize()`` does (BFGS on
0.375 A grid maps of the box, cap 1000; that is what ``vina --local_only`` runs), then polishes
it with the same BFGS on explicit receptor atoms, and also runs that explicit-atom BFGS from the
input pose; the lower of the two ends is kept. Reported energies are on explicit atoms.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from hpcfold import scoring
from hpcfold.commands.vina_options import (
    BOX_KEYS,
    VINA_UNUSED,
    apply_vina_config,
    parse_bool,
    require,
    resolve_box,
)
from hpcfold.errors import UserError
from hpcfold.types import TERMS, Failure, LigandRecord

HELP = "score poses with a Vina-family scoring function (Vina's --score_only / --local_only)"
_WEIGHT_FLAGS = {
    "gauss1": "weight_gauss1", "gauss2": "weight_gauss2", "repulsion": "weight_repulsion",
    "hydrophobic": "weight_hydrophobic", "hbond": "weight_hydrogen", "rot": "weight_rot",
}  # fmt: skip


# Vina's config-file keys (see ``vina_options``): used where the command line leaves them unset,
# ignored with a warning (search settings: score runs no search), any other key is an error.
CONFIG_USED = {"receptor": str, "ligand": str, "out": str, "scoring": str,
               "local_only": parse_bool, "score_only": parse_bool,
               **{flag: float for flag in _WEIGHT_FLAGS.values()}}  # fmt: skip
CONFIG_IGNORED = (*VINA_UNUSED, "seed", "exhaustiveness", "num_modes", "min_rmsd",
                  "energy_range", "dir", "autobox")  # fmt: skip


def add_arguments(p) -> None:
    p.add_argument("--receptor", help="receptor .pdbqt (or .pdb with H)")
    p.add_argument("--ligand", help="ligand poses: .pdbqt (MODELs) or .sdf")
    p.add_argument("--config", help="Vina config file: box (center_x.., size_x..) and options")
    p.add_argument("--center", nargs=3, type=float, metavar=("X", "Y", "Z"))
    p.add_argument("--size", nargs=3, type=float, metavar=("X", "Y", "Z"))
    for key in BOX_KEYS:  # Vina's spelling, one axis each
        p.add_argument(
            f"--{key}", type=float, help="(Vina's spelling)" if key == "center_x" else None
        )
    p.add_argument("--scoring", choices=scoring.NAMES, help=f"one of {', '.join(scoring.NAMES)} "
                   f"(default {scoring.DEFAULT})")  # fmt: skip
    p.add_argument("--score-only", "--score_only", action="store_true",
                   help="(the default; Vina's spelling accepted)")  # fmt: skip
    p.add_argument(
        "--local-only",
        "--local_only",
        action="store_true",
        help="minimise each pose first (Vina's optimize + explicit-atom polish)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--out", help="with --local-only: write the minimised poses (PDBQT input)")
    p.add_argument("--grid-cache", help="directory caching receptor grids (--local-only)")
    for name, flag in _WEIGHT_FLAGS.items():
        p.add_argument(f"--{flag}", type=float, default=None, help=f"override the {name} weight")


def apply_config(args) -> dict[str, float]:
    """Fill ``args`` from ``--config`` (``CONFIG_USED``) where the command line left options
    unset; check receptor, ligand and scoring. Returns the config's box values."""
    box = apply_vina_config(
        args, CONFIG_USED, CONFIG_IGNORED, "score",
        why_ignored="hpcfold score runs no search", hint="for docking use hpcfold dock",
    )  # fmt: skip
    if args.scoring is None:
        args.scoring = "vina"
    require(args, ("receptor", "ligand"))
    return box


def _box(args, records, config_box: dict[str, float], failures=()):
    """The box as ``hpcfold dock`` resolves it (config, --center/--size, --center_x..); with
    none of them, a box around the poses plus 4 A on every side. With --local-only a box whose
    grid maps would not fit in memory is refused."""
    from hpcfold.boxes import autobox, check_grid_memory

    given = [args.center, args.size, *(getattr(args, k) for k in BOX_KEYS)]
    if config_box or any(v is not None for v in given):
        return resolve_box(args, config_box, grid_maps=args.local_only)
    if not records:
        why = f" ({failures[0].source}: {failures[0].message})" if failures else ""
        raise UserError(f"no box (give --config or --center/--size), and no pose of "
                        f"{args.ligand} could be read to put one around{why}")  # fmt: skip
    box = autobox(np.concatenate([r.coords for r in records]), add=4.0)
    if args.local_only:
        check_grid_memory(box, "give a box (--config or --center/--size)")
    return box


def check_in_box(records, box) -> None:
    """Vina's refusal (``Vina::score``): every heavy atom of every pose must lie in the box
    (``boxes.in_grid``); UserError naming the first pose outside and how many are."""
    from hpcfold.boxes import in_grid
    from hpcfold.types import AD_INDEX

    hydrogens = np.array([AD_INDEX[t] for t in ("H", "HD", "HS")])
    outside = [r for r in records if not in_grid(r.coords, ~np.isin(r.ad_types, hydrogens), box)]
    if outside:
        more = f" (and {len(outside) - 1} more poses)" if len(outside) > 1 else ""
        raise UserError(
            f"{outside[0].source}: the ligand is outside the grid box{more}",
            fix="increase the size of the grid box or center it accordingly around the ligand "
            "(Vina refuses this too)",
        )


def read_poses(path: str) -> list[LigandRecord | Failure]:
    """Ligand poses of a .pdbqt or .sdf file, one entry per MODEL / record (``api.read_poses``)."""
    from hpcfold import api

    return api.read_poses(path)


def score_records(
    records, receptor, box, scoring="vina", weights=None, local_only=False, cache_dir=None
):
    """``api.score_records``: (rows, coords) of LigandRecords scored at their coordinates."""
    from hpcfold import api

    return api.score_records(records, receptor, box, scoring, weights, local_only, cache_dir)


def main(args) -> int:
    from hpcfold import api

    config_box = apply_config(args)
    items = read_poses(args.ligand)
    receptor = api.load_receptor(args.receptor)
    ok = [it for it in items if isinstance(it, LigandRecord)]
    box = _box(args, ok, config_box, [it for it in items if isinstance(it, Failure)])
    check_in_box(ok, box)
    weights = {k: getattr(args, f, None) for k, f in _WEIGHT_FLAGS.items()}
    weights = {k: v for k, v in weights.items() if v is not None}
    rows, coords = (
        score_records(
            ok, receptor, box, args.scoring, weights or None, args.local_only, args.grid_cache
        )
        if ok
        else ([], [])
    )
    keys = ("affinity", "inter", "intra", *TERMS)
    results, status, it_rows = [], 0, iter(zip(rows, coords))
    for item in items:
        if isinstance(item, Failure):
            results.append(
                (item.source, dict.fromkeys(keys), f"{item.reason.name}: {item.message}")
            )
            status = 1
            continue
        row, _ = next(it_rows)
        if not all(math.isfinite(v) for v in row.values()):
            results.append((item.source, row, "NONFINITE_ENERGY: energy is not finite"))
            status = 1
        else:
            results.append((item.source, row, None))
    if args.out and args.local_only:
        _write_out(args.out, ok, rows, coords)
    if args.json:
        out = []
        for _, row, err in results:
            obj = {
                k: (row[k] if row[k] is not None and math.isfinite(row[k]) else None) for k in keys
            }
            if err:
                obj["error"] = err
            out.append(obj)
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return status
    print(
        f"# receptor {args.receptor}  scoring {args.scoring}  box center "
        f"{tuple(round(c, 3) for c in box.center)} size {tuple(round(s, 3) for s in box.size)}"
        + ("  (local optimisation)" if args.local_only else "")
    )
    print(
        f"{'pose':>4} {'affinity':>9} {'inter':>9} {'intra':>8} "
        + " ".join(f"{t:>11}" for t in TERMS)
        + "  source"
    )
    for k, (src, row, err) in enumerate(results, start=1):
        if err and row["affinity"] is None:
            print(
                f"{k:>4} {'-':>9} {'-':>9} {'-':>8} "
                + " ".join(f"{'-':>11}" for _ in TERMS)
                + f"  {src}  error: {err}"
            )
            continue
        print(
            f"{k:>4} {row['affinity']:9.3f} {row['inter']:9.3f} {row['intra']:8.3f} "
            + " ".join(f"{row[t]:11.4f}" for t in TERMS)
            + f"  {src}"
            + (f"  error: {err}" if err else "")
        )
    return status


def _write_out(path: str, records, rows, coords) -> None:
    parts = []
    for k, (r, row, x) in enumerate(zip(records, rows, coords), start=1):
        if r.pdbqt:
            from hpcfold.chem.pdbqt import write_pose_pdbqt

            body = write_pose_pdbqt(
                r, x, [f"REMARK VINA RESULT: {row['affinity']:9.3f}      0.000      0.000"]
            )
            parts.append(f"MODEL {k}\n{body}ENDMDL\n")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(parts))
