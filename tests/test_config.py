"""Screen config: strict keys, types, relative paths, the shipped examples."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from hpcfold.config import ScreenConfig, config_keys, load_screen_config
from hpcfold.errors import UserError

ROOT = pathlib.Path(__file__).resolve().parents[1]

MINIMAL = """
receptor: rec.pdbqt
box: {center: [1, 2, 3], size: [20, 20, 20.5]}
ligands: lib.smi
output: out/results.h5
"""


def write(tmp_path, text: str) -> pathlib.Path:
    (tmp_path / "sub").mkdir(exist_ok=True)
    path = tmp_path / "sub" / "c.yaml"
    path.write_text(text)
    return path


def test_minimal_config_defaults_and_paths(tmp_path):
    cfg = load_screen_config(write(tmp_path, MINIMAL))
    base = tmp_path / "sub"
    assert cfg.receptor == str(base / "rec.pdbqt")
    assert cfg.ligands == (str(base / "lib.smi"),)
    assert cfg.output == str(base / "out" / "results.h5")
    assert cfg.features_path == str(base / "out" / "results.features.h5")
    assert cfg.box.center == (1.0, 2.0, 3.0) and cfg.box.size == (20.0, 20.0, 20.5)
    assert cfg.chunk_size == 32 and cfg.search.preset == "balanced" and cfg.device.mode == "auto"
    assert cfg.prep.options_dict() == {} and cfg.text.startswith("\nreceptor")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.chunk_size = 3  # type: ignore[misc]


def test_full_config(tmp_path):
    text = MINIMAL.replace("box: {center: [1, 2, 3], size: [20, 20, 20.5]}",
                           "box: {vina_config: ../box.txt}") + """
features: /abs/lib.h5
chunk_size: 8
search: {preset: fast, exhaustiveness: 4, n_steps: 10, seed: 7, scoring: vinardo,
         num_modes: 3, energy_range: 2, min_rmsd: 1.5}
device: {mode: cpu, gpu_memory_fraction: 0.8, preallocate: true, compile_cache: cache,
         cores_per_rank: 2, cpu_threads: 2}
prep: {seed: 3, max_heavy_atoms: 50, max_torsions: 10, max_automorphisms: 9,
       embed_max_iterations: 5, ff_max_iterations: 0}
progress_interval: 1
"""  # fmt: skip
    cfg = load_screen_config(write(tmp_path, text))
    assert cfg.box.vina_config == str(tmp_path / "box.txt") and cfg.features == "/abs/lib.h5"
    assert cfg.search.config_dict() == {
        "preset": "fast", "exhaustiveness": 4, "n_steps": 10, "seed": 7, "scoring": "vinardo",
        "num_modes": 3, "energy_range": 2.0, "min_rmsd": 1.5}  # fmt: skip
    assert cfg.device.compile_cache == str(tmp_path / "sub" / "cache")
    assert cfg.prep.options_dict()["ff_max_iterations"] == 0


@pytest.mark.parametrize(
    "extra, match",
    [
        ("chunk_sise: 3", "unknown key 'chunk_sise'"),
        ("search: {exhaustivness: 3}", "unknown key 'search.exhaustivness'"),
        ("device: {mode: tpu}", "device.mode must be auto, cpu or gpu"),
        ("device: {gpu_memory_fraction: 1.5}", "gpu_memory_fraction"),
        ("chunk_size: 0", "chunk_size must be >= 1"),
        ("commit_interval: -1", "commit_interval must be >= 0"),
        ("device: {cpu_threads: 0}", "device.cpu_threads must be >= 1"),
        ("chunk_size: 2.5", "'chunk_size' must be an integer"),
        ("chunk_size: true", "'chunk_size' must be an integer"),
        ("search: {scoring: ad4}", "scoring must be one of vina, vinardo"),
        ("search: [1, 2]", "search must be a mapping"),
        ("device: {preallocate: 1}", "'device.preallocate' must be true or false"),
        ("prep: {max_torsion: 3}", "unknown key 'prep.max_torsion'"),
    ],
)
def test_bad_values_name_the_key(tmp_path, extra, match):
    with pytest.raises(UserError, match=match):
        load_screen_config(write(tmp_path, MINIMAL + extra + "\n"))


@pytest.mark.parametrize(
    "box, match",
    [
        ("{center: [1, 2, 3]}", "center and size go together"),
        ("{center: [1, 2], size: [1, 2]}", "three numbers"),
        ("{center: [1, 2, 3], size: [1, 0, 2]}", "positive"),
        ("{center: [1, 2, 3], size: [1, 1, 2], vina_config: b.txt}", "exactly one"),
        ("{}", "exactly one"),
        ("{autobox_ligand: x.pdbqt, autobox_add: -1}", "autobox_add"),
        ("{centre: [1, 2, 3]}", "unknown key 'box.centre'"),
    ],
)
def test_bad_boxes(tmp_path, box, match):
    text = MINIMAL.replace("{center: [1, 2, 3], size: [20, 20, 20.5]}", box)
    with pytest.raises(UserError, match=match):
        load_screen_config(write(tmp_path, text))


def test_missing_and_malformed(tmp_path):
    with pytest.raises(UserError, match="missing required key 'output'"):
        load_screen_config(write(tmp_path, MINIMAL.replace("output: out/results.h5", "")))
    with pytest.raises(UserError, match="ligands.*features"):
        load_screen_config(write(tmp_path, MINIMAL.replace("ligands: lib.smi", "")))
    with pytest.raises(UserError, match="not valid YAML"):
        load_screen_config(write(tmp_path, "receptor: [unclosed"))
    with pytest.raises(UserError, match="must be a mapping"):
        load_screen_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(UserError, match="cannot read config"):
        load_screen_config(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="must be a non-empty string"):
        load_screen_config(write(tmp_path, MINIMAL.replace("rec.pdbqt", "''")))


@pytest.mark.parametrize("name", ["example.yaml", "gpu-node.yaml", "cpu-cluster.yaml"])
def test_shipped_configs_load(name):
    cfg = load_screen_config(ROOT / "configs" / name)
    assert isinstance(cfg, ScreenConfig) and cfg.output.endswith(".h5")


def test_example_config_points_at_the_bundled_example():
    cfg = load_screen_config(ROOT / "configs" / "example.yaml")
    for path in (cfg.receptor, cfg.box.vina_config, *cfg.ligands):
        assert pathlib.Path(path).is_file(), path


def test_every_key_is_documented_in_its_docstring():
    keys = config_keys()
    assert "search.preset" in keys and "device.compile_cache" in keys and "source" not in keys
    import hpcfold.config as mod

    for key in keys:
        section, _, name = key.rpartition(".")
        cls = {"": mod.ScreenConfig, "box": mod.BoxConfig, "search": mod.SearchOptions,
               "device": mod.DeviceConfig, "prep": mod.PrepConfig}[section]  # fmt: skip
        assert f"{name}:" in cls.__doc__, key


@pytest.mark.parametrize(
    "line",
    [
        "search: {energy_range: .nan}",
        "search: {min_rmsd: .nan}",
        "search: {energy_range: -3}",
        "commit_interval: .nan",
        "commit_interval: .inf",
        "progress_interval: .nan",
        "progress_interval: 0",
        "device: {gpu_memory_fraction: .nan}",
    ],
)
def test_non_finite_or_out_of_range_numbers_are_refused(tmp_path, line):
    key = line.split(":")[0] if "{" not in line else line.split("{")[1].split(":")[0]
    with pytest.raises(UserError, match=key):
        load_screen_config(write(tmp_path, MINIMAL + line + "\n"))


@pytest.mark.parametrize("box", ["{center: [.nan, 2, 3], size: [20, 20, 20]}",
                                 "{center: [1, 2, 3], size: [20, .inf, 20]}",
                                 "{center: [1, 2, 3], size: [20, .nan, 20]}",
                                 "{vina_config: b.txt, autobox_add: .nan}"])  # fmt: skip
def test_non_finite_box_is_refused(tmp_path, box):
    text = MINIMAL.replace("{center: [1, 2, 3], size: [20, 20, 20.5]}", box)
    with pytest.raises(UserError, match="finite"):
        load_screen_config(write(tmp_path, text))


def test_unknown_preset_is_refused_by_the_loader(tmp_path):
    with pytest.raises(UserError, match="search.preset must be one of fast, balanced"):
        load_screen_config(write(tmp_path, MINIMAL + "search: {preset: turbo}\n"))


def test_search_section_is_the_search_options_model():
    """The ``search:`` section is ``SearchOptions`` itself: its keys, defaults and preset
    names come from hpcfold.dock.presets, none is kept in hpcfold.config."""
    import hpcfold.config as mod
    from hpcfold.dock.presets import DEFAULT_PRESET, SearchOptions

    assert mod.ScreenConfig.__dataclass_fields__["search"].default == SearchOptions()
    assert SearchOptions().preset == DEFAULT_PRESET
    assert not hasattr(mod, "PRESET_NAMES")
    assert [k for k in mod.config_keys() if k.startswith("search.")] == [
        f"search.{k}" for k in SearchOptions().config_dict()
    ]


BOMB = "".join(
    f"{k}: &{k} [" + ",".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
    for p, k in zip(["", *"abcdefgh"], "abcdefghi")
)


@pytest.mark.parametrize("where", ["receptor: *i\n", "ligands: *i\n", "search: {preset: *i}\n"])
def test_yaml_alias_bomb_is_refused_quickly(tmp_path, where):
    import time

    path = write(tmp_path, BOMB + where.replace("*i", "*i") + "output: o.h5\n")
    assert len(path.read_bytes()) < 1000  # 9^9 strings once expanded
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="alias bomb") as err:
        load_screen_config(path)
    assert time.perf_counter() - t0 < 1.0
    assert len(str(err.value)) < 300


def test_shared_anchors_are_still_accepted(tmp_path):
    text = MINIMAL + "search: &s {preset: fast}\n"
    assert load_screen_config(write(tmp_path, text)).search.preset == "fast"


def test_long_values_are_cut_short_in_messages(tmp_path):
    with pytest.raises(UserError) as err:
        load_screen_config(write(tmp_path, MINIMAL + f"chunk_size: {'x' * 5000}\n"))
    assert len(str(err.value)) < 300 and "5000 characters" in str(err.value)
