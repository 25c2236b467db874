"""A real small screen, run once per test session: ``hpcfold prep`` + ``hpcfold screen`` on 8
FABP4 ligands from examples/fabp4 (3 actives, 5 decoys) plus one unparsable SMILES, with the
cheapest search preset. Export and report tests read its stores (no hand-made fixture)."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fabp4"
N_ACTIVES, N_DECOYS = 3, 5
BAD_LINE = "C1=CC=CC=C1(C)(C)(C)(C) bad_decoy_valence"  # RDKit rejects it: a prep failure


@dataclasses.dataclass(frozen=True)
class SmallScreen:
    dir: pathlib.Path
    results: pathlib.Path
    features: pathlib.Path
    active_ids: frozenset[str]
    decoy_ids: frozenset[str]  # the unparsable one included
    bad_id: str


def _hpcfold(args: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "hpcfold", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, f"hpcfold {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def small_screen(tmp_path_factory) -> SmallScreen:
    d = tmp_path_factory.mktemp("small-screen")
    actives = (EXAMPLE / "actives.smi").read_text().splitlines()[:N_ACTIVES]
    decoys = (EXAMPLE / "decoys.smi").read_text().splitlines()[:N_DECOYS] + [BAD_LINE]
    (d / "actives.smi").write_text("\n".join(actives) + "\n")
    (d / "decoys.smi").write_text("\n".join(decoys) + "\n")
    _hpcfold(["prep", "actives.smi", "decoys.smi", "-o", "lib.h5", "--quiet"], d)
    cache = os.environ.get("HPCFOLD_CACHE")  # CI keeps compiled kernels between runs
    cache_dir = pathlib.Path(cache) if cache else d / "cache"  # jax/ and grids/ inside
    (d / "screen.yaml").write_text(
        f"receptor: {EXAMPLE / 'receptor.pdbqt'}\n"
        f"box: {{vina_config: {EXAMPLE / 'box.txt'}}}\n"
        "features: lib.h5\n"
        "output: results.h5\n"
        "chunk_size: 4\n"
        "search: {preset: fast, exhaustiveness: 1, seed: 0}\n"
        f"device: {{mode: cpu, compile_cache: {cache_dir}}}\n"
    )
    _hpcfold(["screen", "screen.yaml"], d)
    return SmallScreen(
        dir=d,
        results=d / "results.h5",
        features=d / "lib.h5",
        active_ids=frozenset(line.split()[1] for line in actives),
        decoy_ids=frozenset(line.split()[1] for line in decoys),
        bad_id="bad_decoy_valence",
    )
