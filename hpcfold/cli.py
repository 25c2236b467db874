"""Command-line entry point: argument parsing only.

Each sub-command lives in ``hpcfold.commands.<name>`` and exposes ``HELP`` (one line: the
command's only help text, shown by ``hpcfold --help`` and as ``hpcfold <cmd> --help``'s
description), ``add_arguments(parser)`` and ``main(args) -> int``. Only the module of the
command that runs is imported, so that ``hpcfold --help`` and the MPI scheduler rank stay light
(no JAX import where none is needed); the other commands' ``HELP`` is read from their source.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pathlib
import sys
import traceback

from hpcfold import __version__
from hpcfold.errors import UserError

MAX_MESSAGE = 500  # characters of one error line (values inside are cut shorter already)
EXIT_USER, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130

COMMANDS = {
    name: f"hpcfold.commands.{name}"
    for name in ("prep", "inspect", "score", "dock", "screen", "export", "report")
}


def command_help(module: str) -> str:
    """The ``HELP`` string of a command module, read from its source without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise RuntimeError(f"command module {module} not found")
    tree = ast.parse(pathlib.Path(spec.origin).read_text(encoding="utf-8"), spec.origin)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise RuntimeError(f"command module {module} has no HELP string")


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
    for name, module in COMMANDS.items():
        if wanted == name:  # import only the module that runs
            mod = importlib.import_module(module)
            p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
            mod.add_arguments(p)
            p.set_defaults(_module=mod)
        else:
            help_text = command_help(module)
            sub.add_parser(name, help=help_text, description=help_text)
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
