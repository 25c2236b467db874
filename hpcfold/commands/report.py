"""``hpcfold report``: an HTML page with PNG plots (scores, top hits, throughput, failures,
ROC/enrichment when ligands carry active/decoy labels) for a results store."""

from __future__ import annotations

import argparse

HELP = "write an HTML report with plots for a results store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results store written by `hpcfold screen` (results.h5)")
    parser.add_argument(
        "-o", "--out", required=True, metavar="DIR", help="output folder (index.html + PNGs)"
    )
    parser.add_argument(
        "--labels",
        default=None,
        metavar="CSV",
        help="activity labels as 'id,label' rows (label active/decoy or 1/0); default: from the "
        "input file names (a file named *active* or *decoy*)",
    )
    parser.add_argument(
        "--top", type=int, default=12, metavar="N", help="hits drawn as 2D depictions (12)"
    )
    parser.add_argument(
        "--include-clashes", action="store_true",
        help="show ligands whose best pose is not clash-free (affinity > 0) among the hits",
    )  # fmt: skip


def main(args: argparse.Namespace) -> int:
    from hpcfold.commands.store_checks import check_output_dir, check_store
    from hpcfold.errors import UserError, cut
    from hpcfold.report.html import write_report

    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    check_store(args.results, "results")
    check_output_dir(args.out)
    try:
        path = write_report(
            args.results, args.out, labels_csv=args.labels, top=args.top,
            include_clashes=args.include_clashes,
        )  # fmt: skip
    except (OSError, KeyError) as exc:  # a damaged store, or a write that failed
        raise UserError(f"cannot report {args.results} to {args.out}: {cut(exc, 160)}") from None
    print(f"hpcfold report: wrote {path}")
    return 0
