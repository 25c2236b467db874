"""Shared fixtures: paths to ../shared data, a CPU-only JAX, a scratch directory."""

from __future__ import annotations

import os
import pathlib

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("HPCFOLD_SHARED", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    if not DATA.is_dir():
        pytest.fail(f"shared test data not found at {DATA} (set HPCFOLD_SHARED)")
    return DATA
