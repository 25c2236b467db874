"""Job templates in jobs/: valid bash, commented, and all running the same screen command."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

JOBS = {
    "slurm-gpu.sh": "#SBATCH",
    "slurm-cpu.sh": "#SBATCH",
    "pbs.sh": "#PBS",
    "lsf.sh": "#BSUB",
    "flux.sh": "#FLUX:",
}
SCREEN = 'hpcfold screen "$CONFIG"'


def _code_lines(text: str) -> list[str]:
    """Non-comment lines, with backslash continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def test_every_template_is_there():
    assert sorted(p.name for p in (ROOT / "jobs").glob("*.sh")) == sorted(JOBS)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_template_syntax_and_command(name):
    path = ROOT / "jobs" / name
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the job templates"
    proc = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith("#!/bin/bash\n")
    # scheduler directives and a usage comment saying how to submit and resume
    assert sum(ln.startswith(JOBS[name]) for ln in text.splitlines()) >= 3
    assert "Submit:" in text and "Resume:" in text
    comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
    assert len(comments) >= 10, "templates must explain themselves"
    # the same screen command, run exactly once through the launcher
    runs = [ln for ln in _code_lines(text) if "hpcfold screen" in ln]
    assert len(runs) == 1, runs
    assert runs[0].endswith(SCREEN), runs[0]
    launcher = runs[0].split()[0]
    assert launcher in ("srun", "mpiexec", "mpirun", "flux"), launcher
    assert "set -euo pipefail" in text


def test_slurm_binding():
    gpu = (ROOT / "jobs" / "slurm-gpu.sh").read_text()
    assert "--gpus-per-task=1" in gpu and "--gpu-bind" in gpu  # one rank per GPU
    cpu = (ROOT / "jobs" / "slurm-cpu.sh").read_text()
    assert re.search(r"#SBATCH --nodes=([2-9]|\d\d)", cpu)  # multi-node
    assert "--cpus-per-task" in cpu and "--cpu-bind=cores" in cpu  # ranks per core set
