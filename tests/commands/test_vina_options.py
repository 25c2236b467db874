"""Vina config files shared by ``dock`` and ``score`` (commands.vina_options)."""

from __future__ import annotations

import argparse

import pytest

from hpcfold.commands.vina_options import apply_vina_config, parse_bool
from hpcfold.errors import UserError


def test_parse_bool_takes_boost_switch_values():
    for text in ("1", "true", "Yes", " on "):
        assert parse_bool(text) is True
    for text in ("0", "false", "NO", "off"):
        assert parse_bool(text) is False
    with pytest.raises(ValueError):
        parse_bool("maybe")


def _args(config, **given):
    base = {
        "config": str(config) if config else None,
        "seed": None,
        "local_only": False,
        "ligand": None,
    }
    return argparse.Namespace(**(base | given))


def test_command_line_wins_even_when_it_says_zero_or_false(tmp_path, capsys):
    conf = tmp_path / "c.txt"
    conf.write_text("seed = 5\nlocal_only = true\nligand = a.pdbqt\ncenter_x = 1.5\ncpu = 8\n")
    used = {"seed": int, "local_only": parse_bool, "ligand": str}
    args = _args(conf, seed=0)
    box = apply_vina_config(args, used, ("cpu",), "dock", "why", as_list=("ligand",))
    assert args.seed == 0 and args.local_only is True and args.ligand == ["a.pdbqt"]
    assert box == {"center_x": 1.5}
    assert "ignored cpu (why)" in capsys.readouterr().err
    args = _args(conf)
    apply_vina_config(args, used, ("cpu",), "score", "why")
    assert args.seed == 5 and args.ligand == "a.pdbqt"


def test_bad_values_and_unknown_keys_are_errors(tmp_path):
    conf = tmp_path / "c.txt"
    conf.write_text("local_only = sometimes\n")
    with pytest.raises(UserError, match="bad value for local_only"):
        apply_vina_config(_args(conf), {"local_only": parse_bool}, (), "score", "")
    conf.write_text("seed = 1\nrandomize_only = true\n")
    with pytest.raises(UserError, match="does not support randomize_only.*use hpcfold dock"):
        apply_vina_config(_args(conf), {"seed": int}, (), "score", "", hint="use hpcfold dock")
    assert apply_vina_config(_args(None), {"seed": int}, (), "score", "") == {}


@pytest.mark.parametrize(
    "given,match",
    [({"center": [0.0, float("nan"), 0.0]}, "--center"), ({"size_x": float("inf")}, "--size_x"),
     ({"weight_gauss1": float("nan")}, "--weight_gauss1"), ({"autobox_add": -1.0}, "--autobox-add")],
)  # fmt: skip
def test_require_refuses_non_finite_and_out_of_range_numbers(given, match):
    from hpcfold.commands.vina_options import require

    args = argparse.Namespace(scoring="vina", receptor="r", **given)
    with pytest.raises(UserError, match=match):
        require(args, ("receptor",))


def test_require_accepts_valid_numbers():
    from hpcfold.commands.vina_options import require

    args = argparse.Namespace(scoring="vina", receptor="r", energy_range=0.0, min_rmsd=0.0,
                              center=[1.0, 2.0, 3.0], size=[20.0, 20.0, 20.0], num_modes=1)  # fmt: skip
    require(args, ("receptor",))
