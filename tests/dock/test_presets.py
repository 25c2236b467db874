"""The search-options model (hpcfold.dock.presets): presets are values of ``SearchParams``,
``SearchOptions`` checks every setting once when built and ``params`` applies the overrides;
the screen config, ``hpcfold dock`` and the Python API all go through it, with one wording."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from hpcfold import api, cli
from hpcfold.commands import dock
from hpcfold.config import load_screen_config
from hpcfold.dock.presets import DEFAULT_PRESET, PRESETS, SearchOptions, SearchParams
from hpcfold.errors import OptionError, UserError
from hpcfold.types import Box

BOX = Box((0.0, 0.0, 0.0), (20.0, 20.0, 20.0))
CONFIG = """
receptor: rec.pdbqt
box: {center: [1, 2, 3], size: [20, 20, 20]}
ligands: lib.smi
output: out/results.h5
"""


def _config(tmp_path, search: str):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + f"search: {search}\n")
    return load_screen_config(path)


def _flags(**given) -> argparse.Namespace:
    return argparse.Namespace(**{**dict.fromkeys(dock.SEARCH_KEYS), **given})


def _errors(tmp_path, capsys, key: str, value) -> dict[str, str]:
    """The message of each front end for ``key: value``."""
    out = {}
    with pytest.raises(UserError) as exc:
        _config(tmp_path, f"{{{key}: {value}}}")
    out["config"] = str(exc.value)
    flag = "--" + key.replace("_", "-")
    argv = ["dock", "--receptor", "r.pdbqt", "--ligand", "l.pdbqt", "--center", "0", "0", "0",
            "--size", "20", "20", "20", "--out", str(tmp_path / "o.pdbqt"), flag, str(value)]  # fmt: skip
    assert cli.main(argv) == 2
    out["cli"] = capsys.readouterr().err.strip().partition("error: ")[2]
    with pytest.raises(UserError) as exc:
        api.Docker(object(), BOX, **{key: value})  # refused before the receptor is used
    out["api"] = str(exc.value)
    return out


def test_presets_are_values_of_the_model():
    assert DEFAULT_PRESET in PRESETS and SearchOptions().preset == DEFAULT_PRESET
    for name, params in PRESETS.items():
        assert type(params) is SearchParams
        assert SearchOptions(preset=name).params is params  # no override: the value itself
        assert SearchOptions(preset=name, exhaustiveness=8).params == params
    assert [PRESETS[n].refine_iters for n in ("fast", "balanced", "thorough")] == [8, 30, 30]


def test_overrides_are_applied_in_one_place(tmp_path):
    """Equal settings from the config, the command line and the API are one SearchOptions, whose
    ``params`` carries the overrides."""
    from_config = _config(tmp_path, "{preset: fast, exhaustiveness: 16, n_steps: 5}").search
    from_cli = dock.search_options(_flags(preset="fast", exhaustiveness=16, n_steps=5))
    from_api = api.Docker(object(), BOX, preset="fast", exhaustiveness=16, n_steps=5).options
    assert from_config == from_cli == from_api
    p = from_api.params
    assert (p.n_chains, p.n_steps) == (2 * PRESETS["fast"].n_chains, 5)
    assert dataclasses.replace(p, n_chains=64, n_steps=8) == PRESETS["fast"]
    assert SearchOptions(preset="thorough", exhaustiveness=1).params.n_chains == 32
    assert SearchOptions(preset="fast", exhaustiveness=3).params.n_chains == 24  # half up


def test_exhaustiveness_below_one_is_refused_with_one_message(tmp_path, capsys):
    got = _errors(tmp_path, capsys, "exhaustiveness", 0)
    assert got == {"config": "search.exhaustiveness must be >= 1, got 0",
                   "cli": "--exhaustiveness must be >= 1, got 0",
                   "api": "exhaustiveness must be >= 1, got 0"}  # fmt: skip
    with pytest.raises(OptionError) as exc:
        SearchOptions(exhaustiveness=0)
    assert (exc.value.key, exc.value.problem) == ("exhaustiveness", "must be >= 1, got 0")
    assert isinstance(exc.value, ValueError)


def test_unknown_preset_is_refused_with_one_message(tmp_path, capsys):
    got = _errors(tmp_path, capsys, "preset", "turbo")
    problem = "must be one of fast, balanced, thorough: unknown preset 'turbo'"
    assert got == {"config": f"search.preset {problem}", "cli": f"--preset {problem}",
                   "api": f"preset {problem}"}  # fmt: skip


@pytest.mark.parametrize(
    "given,problem",
    [({"n_steps": 0}, "n_steps must be >= 1, got 0"),
     ({"num_modes": 0}, "num_modes must be >= 1, got 0"),
     ({"energy_range": float("nan")}, "energy_range must be a finite number, got nan"),
     ({"energy_range": -3.0}, "energy_range must be >= 0, got -3.0"),
     ({"min_rmsd": float("inf")}, "min_rmsd must be a finite number, got inf"),
     ({"scoring": "ad4"}, "scoring must be one of vina, vinardo, got 'ad4'")],
)  # fmt: skip
def test_every_setting_is_checked_by_the_model(given, problem):
    with pytest.raises(OptionError, match=f"^{re.escape(problem)}$"):
        SearchOptions(**given)
    key = next(iter(given))
    flag = "--" + key.replace("_", "-")
    with pytest.raises(UserError, match=f"^{re.escape(flag + problem[len(key) :])}$"):
        dock.search_options(_flags(**given))


def test_the_model_is_the_only_check(tmp_path, capsys, monkeypatch):
    """With the model's check switched off, no front end refuses exhaustiveness 0 or an
    unknown preset on its own: the check exists once."""
    monkeypatch.setattr(SearchOptions, "__post_init__", lambda self: None)
    for key, value in (("exhaustiveness", 0), ("preset", "turbo")):
        assert getattr(_config(tmp_path, f"{{{key}: {value}}}").search, key) == value
        assert getattr(dock.search_options(_flags(**{key: value})), key) == value
        assert getattr(api.Docker(object(), BOX, **{key: value}).options, key) == value


def test_config_section_keys_are_the_models():
    cfg = SearchOptions(weights={"gauss1": -0.03}, batch_size=2, compile_cache="")
    assert list(cfg.config_dict()) == ["preset", "exhaustiveness", "n_steps", "seed", "scoring",
                                       "num_modes", "energy_range", "min_rmsd"]  # fmt: skip
    assert dock.SEARCH_KEYS == tuple(cfg.config_dict())
