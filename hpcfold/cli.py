"""Command-line entry point: argument parsing only.

Each sub-command lives in ``hpcfold.commands.<name>`` and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``main(args) -> int``. Modules are imported lazily so that
``hpcfold --help`` and the MPI scheduler rank stay light (no JAX import where none is needed).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hpcfold import __version__
from hpcfold.errors import UserError

COMMANDS = {
    "prep": ("hpcfold.commands.prep", "prepare ligands into an HDF5 feature store"),
    "inspect": ("hpcfold.commands.inspect", "describe an hpcfold store (features or results)"),
    "score": ("hpcfold.commands.score", "score poses with Vina/Vinardo (Vina's --score_only)"),
    "dock": ("hpcfold.commands.dock", "dock a few ligands into one receptor (Vina conventions)"),
    "screen": ("hpcfold.commands.screen", "screen a ligand library (MPI-aware, resumable)"),
    "export": ("hpcfold.commands.export", "export hits from a results store to SDF or CSV"),
    "report": ("hpcfold.commands.report", "write an HTML report with plots for a results store"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpcfold", description="MPI-native virtual screening with Vina-exact JAX scoring."
    )
    parser.add_argument("--version", action="version", version=f"hpcfold {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if wanted == name:  # import only the module that runs
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("hpcfold: interrupted", file=sys.stderr)
        return 130
    except UserError as exc:  # a clear message for bad input, no traceback
        print(f"hpcfold {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
