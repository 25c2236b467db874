"""docs/python-api.md's first python block is a complete example: it runs from the repository
root as it is (fabp4, the fast preset, two ligands)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def first_python_block(text: str) -> str:
    m = re.search(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert m, "docs/python-api.md has no ```python block"
    return m.group(1)


def test_the_documented_example_runs(tmp_path):
    code = first_python_block((ROOT / "docs" / "python-api.md").read_text())
    assert "examples/fabp4" in code and 'preset="fast"' in code
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    env.setdefault("HPCFOLD_CACHE", str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    docked = [ln for ln in lines if " poses, best " in ln]
    assert len(docked) == 2 and all(ln.split()[1] == "3" for ln in docked)
    best = float(docked[0].split()[-2])
    score_only = float(next(ln for ln in lines if ln.startswith("score_only")).split()[1])
    assert best < -5 and abs(score_only - best) < 0.01  # the best pose rescored as it is
    assert any(ln.startswith("affinity ") for ln in lines)
