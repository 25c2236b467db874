"""The user guide documents every config key and every CLI sub-command; the HPC guide covers
its topics; relative links in both guides point at files that exist."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import typing

import pytest

from hpcfold import config
from hpcfold.cli import COMMANDS, build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
USER_GUIDE = ROOT / "docs" / "user-guide.md"
HPC_GUIDE = ROOT / "docs" / "hpc-guide.md"


def _section(text: str, heading: str) -> str:
    """Text of the '## heading' section, up to the next level-2 heading."""
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"section '## {heading}' missing"
    return m.group(1)


def _dataclass_keys(cls, prefix: str = "") -> list[str]:
    """Dotted user keys of a config dataclass, walked independently of config.config_keys."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        out.append(prefix + f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            out += _dataclass_keys(hints[f.name], prefix + f.name + ".")
    return out


def test_walk_matches_config_keys():
    assert _dataclass_keys(config.ScreenConfig) == config.config_keys()
    sections = {k.split(".")[0] for k in config.config_keys() if "." in k}
    assert sections >= {"box", "search", "device", "prep"}


@pytest.mark.parametrize("key", _dataclass_keys(config.ScreenConfig))
def test_config_key_documented(key):
    reference = _section(USER_GUIDE.read_text(), "Config reference")
    # each key has its own table row: | `search.preset` | default | meaning |
    assert re.search(rf"^\| `{re.escape(key)}` \|", reference, re.M), (
        f"config key {key!r} is not in the user guide's config reference"
    )


def test_no_stale_keys_documented():
    reference = _section(USER_GUIDE.read_text(), "Config reference")
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", reference, re.M))
    assert documented == set(config.config_keys())


def _options(command: str) -> list[str]:
    """Long option strings of a sub-command, from its real argument parser."""
    parser = build_parser([command])
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    actions = sub.choices[command]._actions
    return [s for a in actions for s in a.option_strings if s.startswith("--") and s != "--help"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_documented(command):
    commands = _section(USER_GUIDE.read_text(), "Commands")
    m = re.search(rf"^### hpcfold {command}\s*$(.*?)(?=^### |\Z)", commands, re.M | re.S)
    assert m, f"no '### hpcfold {command}' in the user guide's Commands section"
    missing = [o for o in _options(command) if f"`{o}" not in m.group(1)]
    assert not missing, f"hpcfold {command}: options not documented: {missing}"


def test_hpc_guide_topics():
    text = HPC_GUIDE.read_text().lower()
    for topic in ("mpirun", "srun", "binding", "chunk_size", "compile_cache", "gpu memory",
                  "resum", "wall-clock"):  # fmt: skip
        assert topic in text, topic
    for job in sorted((ROOT / "jobs").glob("*.sh")):
        assert f"jobs/{job.name}" in HPC_GUIDE.read_text(), f"{job.name} not described"


@pytest.mark.parametrize("doc", [USER_GUIDE, HPC_GUIDE], ids=lambda p: p.name)
def test_relative_links_exist(doc):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_errors_section_lists_exit_codes_and_every_failure_reason():
    from hpcfold.types import Reason

    errors = _section(USER_GUIDE.read_text(), "Errors")
    for code in ("0", "1", "2", "130"):
        assert re.search(rf"^\| {code} \|", errors, re.M), f"exit status {code} not documented"
    missing = [r.name for r in Reason if r != Reason.OK and f"| `{r.name}` |" not in errors]
    assert not missing, f"failure reasons not in the user guide's Errors section: {missing}"
