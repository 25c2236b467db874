"""Device binding for one rank: node-local rank, disjoint CPU core sets, GPU choice, JAX env.

Call ``bind()`` BEFORE JAX is imported (thread counts and GPU visibility are read from the
environment when JAX starts), then ``finish_binding()`` after importing JAX to check what it
actually got (a GPU that fails to initialise falls back to CPU with a warning, or fails when the
config says ``gpu``). Rank 0 of a multi-rank job is the scheduler: it takes no core set and
sleeps while it waits, so the node's cores go to the worker ranks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

import numpy as np

from hpcfold import runtime
from hpcfold.errors import UserError
from hpcfold.mpi.comm import hostname, node_comm

LOG = logging.getLogger("hpcfold")


@dataclasses.dataclass(frozen=True)
class Binding:
    """What one rank runs on. ``slot`` = index among the worker ranks of its node."""

    host: str
    rank: int
    size: int
    local_rank: int
    local_size: int
    is_worker: bool
    slot: int
    node_workers: int
    cores: tuple[int, ...]
    gpu: int | None  # physical GPU index chosen (None = CPU)
    oversubscribed: bool = False

    @property
    def device(self) -> str:
        return f"gpu:{self.gpu}" if self.gpu is not None else f"cpu:{len(self.cores)}"

    def line(self, device: str | None = None) -> str:
        role = "worker" if self.is_worker else "scheduler"
        cores = _ranges(self.cores) if self.is_worker else "none (sleeps)"
        return (
            f"host {self.host} rank {self.rank}/{self.size} local {self.local_rank}/"
            f"{self.local_size} {role} device {device or self.device} cores {cores}"
        )


def plan_cores(
    available: list[int], n_workers: int, slot: int, per_rank: int | None = None
) -> tuple[tuple[int, ...], bool]:
    """Disjoint core set for worker ``slot`` of ``n_workers`` on a node -> (cores, oversubscribed).

    ``available`` is the node's usable cores (sorted). Cores are split evenly (the first
    ``len % n`` workers get one more); with more workers than cores, workers share cores
    round-robin and ``oversubscribed`` is True. ``per_rank`` fixes the set size instead.
    """
    if not available or n_workers < 1 or not 0 <= slot < n_workers:
        raise ValueError(f"bad core plan: {len(available)} cores, slot {slot} of {n_workers}")
    n = len(available)
    if per_rank is None and n_workers <= n:
        base, extra = divmod(n, n_workers)
        start = slot * base + min(slot, extra)
        return tuple(available[start : start + base + (slot < extra)]), False
    per = per_rank or 1
    over = per * n_workers > n
    start = (slot * per) % n
    return tuple(available[(start + i) % n] for i in range(min(per, n))), over


def count_gpus(env=os.environ) -> list[str]:
    """GPU ids visible to this process, found without importing JAX (NVIDIA only)."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v for v in (x.strip() for x in visible.split(",")) if v and v != "-1"]
    try:
        found = sorted(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        found = [d for d in _listdir("/dev") if re.fullmatch(r"nvidia\d+", d)]
    return [str(i) for i in range(len(found))]


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def bind(comm, device_cfg, is_worker: bool, env=os.environ) -> Binding:
    """Choose cores and device for this rank and set the process environment for JAX.

    Collective over ``comm``: every rank calls it. Under Slurm the launcher's CPU binding (when
    ranks of a node already have different affinity masks) is kept as it is.
    """
    import psutil

    node = node_comm(comm)
    local_rank, local_size = node.Get_rank(), node.Get_size()
    flags = np.zeros(local_size, np.int64)
    node.Allgather(np.array([int(is_worker)], np.int64), flags)
    slot = int(flags[:local_rank].sum())
    node_workers = int(flags.sum())
    proc = psutil.Process()
    available = sorted(proc.cpu_affinity())
    sig = np.array([len(available), available[0], sum(available)], np.int64)
    sigs = np.zeros((local_size, 3), np.int64)
    node.Allgather(sig, sigs)
    node.Free()
    launcher_bound = bool((sigs != sigs[0]).any())
    cores, over = tuple(available), False
    if is_worker and not launcher_bound:
        cores, over = plan_cores(available, node_workers, slot, device_cfg.cores_per_rank)
        proc.cpu_affinity(list(cores))
    gpu = None
    gpus = count_gpus(env) if device_cfg.mode != "cpu" else []
    if is_worker and gpus:
        gpu = int(gpus[slot % len(gpus)]) if gpus[slot % len(gpus)].isdigit() else slot
        runtime.configure_visible_gpu(gpus[slot % len(gpus)], env=env)
    elif device_cfg.mode == "gpu" and is_worker:
        raise UserError("device.mode is gpu but no NVIDIA GPU is visible on " + hostname())
    # "auto" with a GPU leaves JAX_PLATFORMS unset, so JAX falls back to CPU if the GPU fails.
    platform = "cpu" if gpu is None else ("cuda" if device_cfg.mode == "gpu" else None)
    runtime.configure_platform(platform, env=env)
    runtime.configure_gpu_memory(device_cfg.preallocate, device_cfg.gpu_memory_fraction, env=env)
    runtime.configure_math_threads(max(1, len(cores)), env=env)
    # Forced on every rank, whatever its core count: the compiled kernels (and the persistent
    # compilation cache's keys) are then the same for 1 or N ranks, so CPU results are bitwise
    # independent of the rank count. A CPU rank's XLA thread pool is fixed at
    # device.cpu_threads; a GPU rank's is left to XLA (its host side runs little).
    runtime.configure_xla_cpu(device_cfg.cpu_threads if gpu is None else None, env=env, force=True)
    return Binding(
        host=hostname(),
        rank=comm.Get_rank(),
        size=comm.Get_size(),
        local_rank=local_rank,
        local_size=local_size,
        is_worker=is_worker,
        slot=slot,
        node_workers=node_workers,
        cores=cores,
        gpu=gpu,
        oversubscribed=over,
    )


def finish_binding(binding: Binding, device_cfg) -> str:
    """After ``import jax``: check the device JAX got -> device label (``gpu:0``, ``cpu:4``)."""
    import jax

    try:
        platform = jax.devices()[0].platform
    except RuntimeError as exc:
        if device_cfg.mode == "gpu":
            raise UserError(f"device.mode is gpu but JAX could not start a GPU: {exc}") from None
        raise
    if binding.gpu is not None and platform != "gpu":
        if device_cfg.mode == "gpu":
            raise UserError(f"GPU {binding.gpu} did not initialise on {binding.host}")
        LOG.warning("GPU %s did not initialise; falling back to CPU", binding.gpu)
        return f"cpu:{len(binding.cores)}"
    return binding.device


def _ranges(cores: tuple[int, ...]) -> str:
    out, start, prev = [], None, None
    for c in cores:
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            out.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = c
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(out)
