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

from hpcfold import __version__
from hpcfold.errors import UserError

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
