"""One help text per command: the module's ``HELP`` is what ``hpcfold --help`` and
``hpcfold <cmd> --help`` show, and the top-level help imports no command module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from hpcfold import cli


def _flat(text: str) -> str:
    return " ".join(text.split())  # argparse re-wraps long lines


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_command_help_shows_the_module_help(command, capsys):
    help_text = importlib.import_module(cli.COMMANDS[command]).HELP
    assert isinstance(help_text, str) and help_text.strip() and "\n" not in help_text
    assert cli.command_help(cli.COMMANDS[command]) == help_text  # the source reader agrees
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = _flat(capsys.readouterr().out)
    assert out.startswith(f"usage: hpcfold {command}")
    assert _flat(help_text) in out


def test_top_level_help_lists_every_module_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = _flat(capsys.readouterr().out)
    for command, module in cli.COMMANDS.items():
        assert f"{command} {_flat(importlib.import_module(module).HELP)}" in out


def test_top_level_help_imports_no_command_module():
    code = (
        "import sys; from hpcfold import cli; cli.build_parser([]); "
        "print(sorted(m for m in sys.modules if m.startswith('hpcfold.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_help_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "nohelp_cmd.py").write_text('DESCRIPTION = "x"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="no HELP string"):
        cli.command_help("nohelp_cmd")
