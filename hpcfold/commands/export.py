"""``hpcfold export``: hits from a results store as SDF (best pose per ligand) or CSV."""

from __future__ import annotations

import argparse

HELP = "export hits from a results store to SDF or CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results store written by `hpcfold screen` (results.h5)")
    parser.add_argument(
        "-o", "--out", required=True, help="output file: .sdf (best pose per ligand) or .csv"
    )
    parser.add_argument(
        "--top", type=int, default=None, metavar="N", help="keep the N best-scoring ligands"
    )
    parser.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="X",
        help="keep ligands with affinity <= X kcal/mol (lower is better), e.g. -8.0",
    )
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
    try:
        n = export_hits(
            args.results,
            args.out,
            top=args.top,
            min_score=args.min_score,
            include_failures=args.include_failures,
        )
    except (OSError, KeyError) as exc:  # a damaged store, or a write that failed
        raise UserError(f"cannot export {args.results} to {args.out}: {cut(exc, 160)}") from None
    print(f"hpcfold export: wrote {n} ligands to {args.out}")
    return 0
