"""The one error path of every command: exit codes, one-line messages, ``--debug``."""

from __future__ import annotations

import pytest

from hpcfold import cli
from hpcfold.errors import UserError, shorten


def test_user_error_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("receptor: r.pdbqt\noutput: o.h5\nbox: {center: [1, 2, 3], size: [1, 1, 1]}\n"
                   "ligands: l.smi\nsearch: {energy_range: .nan}\n")  # fmt: skip
    assert cli.main(["screen", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hpcfold screen: error: ") and "energy_range" in err
    assert "\n" not in err and "Traceback" not in err


def test_unexpected_error_is_one_line_exit_1_and_debug_shows_traceback(monkeypatch, capsys):
    from hpcfold.commands import inspect

    def boom(path):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(inspect, "describe", boom)
    assert cli.main(["inspect", "x.h5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("hpcfold inspect: failed: RuntimeError: kaboom second line "
                   "(rerun with --debug for the traceback)")  # fmt: skip
    assert cli.main(["--debug", "inspect", "x.h5"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "kaboom" in err
    assert cli.main(["inspect", "x.h5", "--debug"]) == 1  # anywhere on the line
    assert "Traceback" in capsys.readouterr().err


def test_user_error_fix_and_one_line_cap(capsys):
    err = UserError("bad value " + shorten("x" * 10_000), fix="give a shorter one")
    assert str(err).endswith("; give a shorter one") and len(str(err)) < 200
    assert len(cli.one_line("a\n" * 10_000)) == cli.MAX_MESSAGE


@pytest.mark.parametrize(
    "value,text",
    [("abc", "'abc'"), (float("nan"), "nan"), ([1] * 10**6, "a list of 1000000 items"),
     ("a\nb", "'a b'"), ("y" * 100, "'" + "y" * 77 + "...' (100 characters)")],
)  # fmt: skip
def test_shorten(value, text):
    assert shorten(value) == text
