"""Command-line entry point: argument parsing only.

Each sub-command lives in ``hpcfold.commands.<name>`` and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``main(args) -> int``. Modules are imported lazily so that
``hpcfold --help`` and the MPI scheduler rank stay light (no JAX import where none is needed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from hpcfold import __version__
from hpcfold.errors import UserError

MAX_MESSAGE = 500  # characters of one error line (values inside are cut shorter already)
EXIT_USER, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130

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
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
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


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (whitespace runs collapsed), at most ``limit`` characters."""
    text = " ".join(str(text)[: 4 * limit].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 done; 1 the run finished but some inputs failed (every
    ligand failed, a pose could not be scored) or an unexpected error; 2 a user error (bad
    input or option, refused before any expensive work; argparse's usage errors too); 130
    interrupted. ``--debug`` (anywhere on the line) shows the traceback of an unexpected error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USER
    where = f"hpcfold {args.command}"
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("hpcfold: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as exc:  # a clear message for bad input, no traceback
        if debug:
            traceback.print_exc()
        print(f"{where}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USER
    except Exception as exc:  # noqa: BLE001 - one line, the traceback only with --debug
        if debug:
            traceback.print_exc()
        if isinstance(exc, MemoryError):
            what = "out of memory"
        elif isinstance(exc, OSError) and exc.filename is not None:
            what = f"{exc.strerror or type(exc).__name__}: {exc.filename}"
        else:
            what = f"{type(exc).__name__}: {exc}"
        hint = "" if debug else " (rerun with --debug for the traceback)"
        print(f"{where}: failed: {one_line(what)}{hint}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
