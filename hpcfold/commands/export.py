"""``hpcfold export``: hits from a results store as SDF or PDBQT (poses) or CSV (one row each)."""

from __future__ import annotations

import argparse
import sys

HELP = "export hits from a results store to SDF, PDBQT or CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results store written by `hpcfold screen` (results.h5)")
    parser.add_argument(
        "-o", "--out", required=True,
        help="output file: .sdf or .pdbqt (poses) or .csv (one row per ligand)",
    )  # fmt: skip
    parser.add_argument(
        "--top", type=int, default=None, metavar="N",
        help="keep the N best-scoring ligands, best first (default: all, in store order)",
    )  # fmt: skip
    parser.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="X",
        help="keep ligands with affinity <= X kcal/mol (lower is better), e.g. -8.0",
    )
    parser.add_argument(
        "--poses", default="1", metavar="N|all",
        help="poses per ligand in SDF / PDBQT output: N or all (default 1: the best)",
    )  # fmt: skip
    parser.add_argument(
        "--include-clashes", action="store_true",
        help="keep ligands whose best pose is not clash-free (affinity > 0), left out by default",
    )  # fmt: skip
    parser.add_argument(
        "--ligand-template", metavar="SMILES|SDF", default=None,
        help="bond orders for PDBQT ligands without meeko's SMILES remarks (SDF output)",
    )  # fmt: skip
    parser.add_argument(
        "--include-failures",
        action="store_true",
        help="CSV only: append failed ligands with their reason and message",
    )


def main(args: argparse.Namespace) -> int:
    from hpcfold.commands.store_checks import check_output_file, check_store
    from hpcfold.errors import UserError, cut
    from hpcfold.report.export import export_hits

    check_store(args.results, "results")
    check_output_file(args.out)
    template = None
    if args.ligand_template:
        from hpcfold.chem.bond_orders import read_template

        template = read_template(args.ligand_template)
    try:
        res = export_hits(
            args.results,
            args.out,
            top=args.top,
            min_score=args.min_score,
            include_failures=args.include_failures,
            poses=args.poses,
            include_clashes=args.include_clashes,
            template=template,
        )
    except (OSError, KeyError) as exc:  # a damaged store, or a write that failed
        raise UserError(f"cannot export {args.results} to {args.out}: {cut(exc, 160)}") from None
    for lig_id, why in res.refused:
        print(f"{lig_id}: no SDF (bond orders not known for sure: {why}); written as PDBQT",
              file=sys.stderr)  # fmt: skip
    print(f"hpcfold export: wrote {res.n} ligands to {args.out}")
    if res.refused:
        print(f"hpcfold export: {len(res.refused)} ligands as PDBQT to {res.refused_path}")
    return 0
