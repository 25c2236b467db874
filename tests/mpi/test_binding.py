"""Core planning, GPU discovery and the environment a rank gets before JAX starts."""

from __future__ import annotations

import psutil
import pytest

from hpcfold.config import DeviceConfig
from hpcfold.errors import UserError
from hpcfold.mpi.binding import bind, count_gpus, plan_cores
from hpcfold.mpi.comm import world


def test_plan_cores_disjoint_and_covering():
    cores = list(range(10))
    sets = [plan_cores(cores, 3, s)[0] for s in range(3)]
    assert sets == [(0, 1, 2, 3), (4, 5, 6), (7, 8, 9)]
    assert plan_cores([2, 5], 2, 1) == ((5,), False)


def test_plan_cores_oversubscribed_and_fixed_size():
    assert plan_cores([0, 1], 3, 2) == ((0,), True)
    assert plan_cores(list(range(8)), 2, 1, per_rank=2) == ((2, 3), False)
    assert plan_cores(list(range(4)), 4, 3, per_rank=2)[1] is True
    with pytest.raises(ValueError):
        plan_cores([0], 2, 2)


def test_count_gpus_from_env():
    assert count_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert count_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert count_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


def test_bind_single_rank_cpu_env():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1 intra_op_parallelism_threads=9",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    before = sorted(psutil.Process().cpu_affinity())
    b = bind(world(), DeviceConfig(mode="auto", gpu_memory_fraction=0.5), True, env=env)
    assert b.rank == 0 and b.local_rank == 0 and b.is_worker and b.gpu is None
    assert list(b.cores) == before and b.device == f"cpu:{len(before)}"
    n = str(len(before))
    assert env["JAX_PLATFORMS"] == "cpu" and env["OMP_NUM_THREADS"] == n
    assert env["NPROC"] == "1"  # XLA threads: fixed, whatever the core set
    assert env["OPENBLAS_NUM_THREADS"] == n and env["MKL_NUM_THREADS"] == n
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.5"
    flags = env["XLA_FLAGS"].split()
    assert "--xla_force_host_platform_device_count=1" in flags
    assert not any("intra_op" in f for f in flags)
    assert flags.count("--xla_cpu_multi_thread_eigen=false") == 1
    assert f"cores {b.cores[0]}" in b.line() and "worker device cpu" in b.line()


def test_bind_gpu_mode_without_gpu_fails():
    with pytest.raises(UserError, match="no NVIDIA GPU"):
        bind(world(), DeviceConfig(mode="gpu"), True, env={"CUDA_VISIBLE_DEVICES": ""})


def test_bind_picks_gpu_by_slot():
    env = {"CUDA_VISIBLE_DEVICES": "4,5"}
    b = bind(world(), DeviceConfig(mode="auto", preallocate=True), True, env=env)
    assert b.gpu == 4 and env["CUDA_VISIBLE_DEVICES"] == "4" and "JAX_PLATFORMS" not in env
    assert "NPROC" not in env
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"


def test_launcher_mismatch_is_refused():
    from hpcfold.mpi.comm import check_launcher, launcher_size

    assert launcher_size({}) is None
    assert launcher_size({"PMI_SIZE": "4"}) == 4
    assert launcher_size({"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "8"}) == 8
    assert launcher_size({"SLURM_STEP_ID": "4294967294", "SLURM_STEP_NUM_TASKS": "8"}) is None
    check_launcher(world(), {"PMI_SIZE": "1"})
    with pytest.raises(UserError, match="launcher started 8 processes"):
        check_launcher(world(), {"SLURM_STEP_ID": "3", "SLURM_STEP_NUM_TASKS": "8"})
