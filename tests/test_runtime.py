"""hpcfold.runtime: the environment strings each function writes, and that XLA accepts them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hpcfold import runtime

FLAG = "--xla_cpu_multi_thread_eigen=false"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("", FLAG),
        ("--xla_force_host_platform_device_count=1", f"--xla_force_host_platform_device_count=1 {FLAG}"),
        # a bare token first makes XLA read XLA_FLAGS as a file name; in the middle it is ignored
        ("intra_op_parallelism_threads=1 --xla_dump_to=/tmp/x", f"--xla_dump_to=/tmp/x {FLAG}"),
        (f"--a=1 {FLAG} inter_op_parallelism_threads=2 --b=2", f"--a=1 --b=2 {FLAG}"),
        ("--xla_cpu_multi_thread_eigen=true --intra_op_parallelism_threads=4", FLAG),
    ],
)  # fmt: skip
def test_single_threaded_xla_flags(flags, expected):
    out = runtime.single_threaded_xla_flags(flags)
    assert out == expected
    assert runtime.single_threaded_xla_flags(out) == out  # idempotent


def test_configure_xla_cpu_sets_flags_and_pool_size_once():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1 intra_op_parallelism_threads=1"}
    assert runtime.configure_xla_cpu(env=env) is True
    once = dict(env)
    assert once == {"XLA_FLAGS": f"--xla_force_host_platform_device_count=1 {FLAG}", "NPROC": "1"}
    assert runtime.configure_xla_cpu(env=env) is True and env == once
    runtime.configure_xla_cpu(4, env=env)
    assert env["NPROC"] == "4" and env["XLA_FLAGS"].split().count(FLAG) == 1


def test_configure_xla_cpu_without_pool_size_leaves_nproc():
    env = {"NPROC": "7"}
    runtime.configure_xla_cpu(None, env=env)
    assert env == {"NPROC": "7", "XLA_FLAGS": FLAG}


def test_user_choice_wins_unless_forced():
    user = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"}
    env = dict(user)
    assert runtime.configure_xla_cpu(env=env) is False and env == user
    env = {runtime.OPT_OUT_VAR: "1"}
    assert runtime.configure_xla_cpu(env=env) is False and env == {runtime.OPT_OUT_VAR: "1"}
    env = dict(user)
    assert runtime.configure_xla_cpu(2, env=env, force=True) is True
    assert env == {"XLA_FLAGS": FLAG, "NPROC": "2"}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_configure_xla_cpu_rejects_bad_thread_counts(bad):
    env: dict = {}
    with pytest.raises(ValueError, match="integer >= 1"):
        runtime.configure_xla_cpu(bad, env=env)
    assert env == {}


def test_configure_math_threads():
    env: dict = {}
    runtime.configure_math_threads(3, env=env)
    assert env == {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    with pytest.raises(ValueError):
        runtime.configure_math_threads(0, env=env)


def test_configure_gpu_memory():
    env = {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.3"}
    runtime.configure_gpu_memory(False, env=env)
    assert env == {
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.3",
    }
    runtime.configure_gpu_memory(True, 0.45, env=env)
    assert env == {
        "XLA_PYTHON_CLIENT_PREALLOCATE": "true",
        "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.45",
    }
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            runtime.configure_gpu_memory(True, bad, env=env)


def test_configure_platform_and_visible_gpu():
    env: dict = {}
    runtime.configure_platform("cpu", env=env)
    assert env == {"JAX_PLATFORMS": "cpu"}
    runtime.configure_platform("cuda", env=env)
    assert env == {"JAX_PLATFORMS": "cuda"}
    runtime.configure_platform(None, env=env)
    assert env == {}
    with pytest.raises(ValueError, match="cpu, cuda"):
        runtime.configure_platform("rocm", env=env)
    runtime.configure_visible_gpu(" 3 ", env=env)
    assert env == {"CUDA_VISIBLE_DEVICES": "3"}
    with pytest.raises(ValueError):
        runtime.configure_visible_gpu("", env=env)


def test_xla_accepts_the_flags_it_gets():
    """A hostile XLA_FLAGS (a bare thread token first, which alone makes XLA abort) becomes one
    that a real JAX process starts with, single-threaded."""
    env = dict(
        os.environ, XLA_FLAGS="intra_op_parallelism_threads=1 --xla_cpu_multi_thread_eigen=true"
    )
    runtime.configure_xla_cpu(env=env, force=True)
    runtime.configure_platform("cpu", env=env)
    code = "import jax.numpy as jnp; print(float(jnp.arange(4.0).sum()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "6.0"


def test_return_large_frees_is_idempotent_and_says_whether_it_could():
    import ctypes

    first = runtime.return_large_frees()
    assert first is runtime.return_large_frees()
    if not hasattr(ctypes.CDLL(None), "mallopt"):  # not glibc: nothing set, and it says so
        assert first is False
