"""The process environment hpcfold sets for JAX, XLA and the math libraries: its one owner.

Every environment variable hpcfold writes is written here, one function per concern, each
saying why (the pattern of equinox's ``_config.py``: one module holds the process-wide
switches). JAX and XLA read these variables when their backend starts, i.e. at the first
computation or ``jax.devices()``; set them before that, which in practice means before
``import jax`` (``mpi.binding.bind`` for a screen's ranks, the docking engine for a process
that docks). Setting them later has no effect on the running process.

Each function takes ``env`` (default ``os.environ``), so a caller or a test can build an
environment without touching its own. Each is idempotent: calling it twice gives the same
environment as calling it once. This module imports nothing but the standard library.

Variables:
- ``XLA_FLAGS`` (``--xla_cpu_multi_thread_eigen=false``) and ``NPROC``: ``configure_xla_cpu``.
- ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``: ``configure_math_threads``.
- ``XLA_PYTHON_CLIENT_PREALLOCATE``, ``XLA_PYTHON_CLIENT_MEM_FRACTION``: ``configure_gpu_memory``.
- ``JAX_PLATFORMS``: ``configure_platform``.
- ``CUDA_VISIBLE_DEVICES``: ``configure_visible_gpu``.

One switch is not a variable: ``return_large_frees`` sets glibc's mmap threshold for the
running process (rank 0 of a screen).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SINGLE_THREAD_FLAG = "--xla_cpu_multi_thread_eigen=false"
# Set to anything, this leaves XLA's threading to XLA_FLAGS for a process that docks; a screen's
# ranks always run single-threaded (``force``), because their results must not depend on it.
OPT_OUT_VAR = "HPCFOLD_XLA_THREADS"
PLATFORMS = ("cpu", "cuda")

# Tokens that configure_xla_cpu takes out of XLA_FLAGS: any setting of Eigen's intra-op
# threading, and the bare ``intra_op_parallelism_threads=N`` / ``inter_op_...`` tokens often
# copied from forum answers. Those are not XLA flags: XLA (jaxlib 0.10) skips a bare token in
# the middle of XLA_FLAGS, reads XLA_FLAGS as the name of a flag file when it is the first token
# (and aborts: "Could not open file ... because it did not start with a --"), and aborts on
# ``--intra_op_parallelism_threads`` as an unknown flag. XLA has no thread-count flag: its CPU
# thread pool is sized from NPROC, else the process's CPU affinity.
_THREAD_TOKENS = re.compile(
    r"^(--xla_cpu_multi_thread_eigen(=\S*)?|-*(intra|inter)_op_parallelism_threads=\S*)$"
)


def _env(env: MutableMapping[str, str] | None) -> MutableMapping[str, str]:
    return os.environ if env is None else env


def single_threaded_xla_flags(flags: str) -> str:
    """``flags`` (an XLA_FLAGS value) with Eigen's intra-op threading off, exactly once.

    Other flags keep their order; thread tokens (see ``_THREAD_TOKENS``) are dropped, and
    ``--xla_cpu_multi_thread_eigen=false`` comes last. The result starts with ``--`` whenever
    it is not empty, so XLA never takes it for a file name.
    """
    kept = [t for t in flags.split() if not _THREAD_TOKENS.match(t)]
    return " ".join([*kept, SINGLE_THREAD_FLAG])


def configure_xla_cpu(
    threads: int | None = 1,
    *,
    env: MutableMapping[str, str] | None = None,
    force: bool = False,
) -> bool:
    """Run XLA's CPU kernels single-threaded, with a thread pool of ``threads`` -> applied?

    Why: the docking kernels are many tiny ops, so XLA's intra-op threads only add
    synchronisation (3x slower wall time measured on 2 busy cores), and the size of XLA's CPU
    thread pool changes how it partitions reductions, so a fixed size keeps results bitwise
    independent of the rank count and the core set. Speed comes from more processes, one per
    core (docs/architecture.md, "Bitwise determinism").

    Sets ``XLA_FLAGS`` to ``single_threaded_xla_flags`` of its value and, unless ``threads``
    is None, ``NPROC = threads`` (what XLA sizes its CPU thread pool from). Without ``force``
    the environment is left as it is, and False returned, when ``HPCFOLD_XLA_THREADS`` is set
    or XLA_FLAGS already chooses ``--xla_cpu_multi_thread_eigen`` (the user's choice wins in a
    process that docks); a screen's ranks pass ``force=True``. Idempotent. Raises ValueError
    for ``threads < 1``.
    """
    if threads is not None and (
        isinstance(threads, bool) or int(threads) != threads or threads < 1
    ):
        raise ValueError(f"XLA CPU threads must be an integer >= 1, got {threads!r}")
    e = _env(env)
    flags = e.get("XLA_FLAGS", "")
    if not force:
        chosen = [t for t in flags.split() if t.startswith("--xla_cpu_multi_thread_eigen")]
        if e.get(OPT_OUT_VAR) or chosen not in ([], [SINGLE_THREAD_FLAG]):
            return False
    e["XLA_FLAGS"] = single_threaded_xla_flags(flags)
    if threads is not None:
        e["NPROC"] = str(int(threads))
    return True


def configure_math_threads(threads: int, *, env: MutableMapping[str, str] | None = None) -> None:
    """OpenMP, OpenBLAS and MKL use ``threads`` threads (``THREAD_VARS``).

    Why: RDKit, numpy and a GPU rank's host-side work would otherwise start one thread per core
    of the node in every rank; a rank uses the cores of its own core set. Raises ValueError for
    ``threads < 1``.
    """
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ValueError(f"math library threads must be an integer >= 1, got {threads!r}")
    e = _env(env)
    for var in THREAD_VARS:
        e[var] = str(int(threads))


def configure_gpu_memory(
    preallocate: bool,
    fraction: float | None = None,
    *,
    env: MutableMapping[str, str] | None = None,
) -> None:
    """How JAX takes GPU memory: ``XLA_PYTHON_CLIENT_PREALLOCATE`` and ``..._MEM_FRACTION``.

    Why: JAX preallocates 75 % of a GPU by default, so a second rank on the same GPU (MPS, or a
    GPU shared with other jobs) fails; ``preallocate=False`` allocates as buckets compile,
    ``fraction`` (0 < f <= 1) caps what one process takes. ``fraction=None`` leaves JAX's
    default (any value already in the environment stays). Raises ValueError for a fraction
    outside (0, 1].
    """
    if fraction is not None and not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"GPU memory fraction must be in (0, 1], got {fraction!r}")
    e = _env(env)
    e["XLA_PYTHON_CLIENT_PREALLOCATE"] = "true" if preallocate else "false"
    if fraction is not None:
        e["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{float(fraction):g}"


def configure_platform(
    platform: str | None, *, env: MutableMapping[str, str] | None = None
) -> None:
    """Which backend JAX starts: ``JAX_PLATFORMS``.

    ``"cpu"``: CPU only (a CPU rank never probes for a GPU, which costs seconds and warnings);
    ``"cuda"``: the GPU or an error (``device.mode: gpu``); None: unset, so JAX tries the GPU and
    falls back to the CPU (``device.mode: auto``). Raises ValueError for another value.
    """
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(
            f"JAX platform must be one of {', '.join(PLATFORMS)} or None, got {platform!r}"
        )
    e = _env(env)
    if platform is None:
        e.pop("JAX_PLATFORMS", None)
    else:
        e["JAX_PLATFORMS"] = platform


def configure_visible_gpu(gpu: str, *, env: MutableMapping[str, str] | None = None) -> None:
    """This process sees only GPU ``gpu`` (an index or UUID): ``CUDA_VISIBLE_DEVICES``.

    Why: one rank per GPU; a rank that saw every GPU of its node would allocate on GPU 0 with
    every other rank. Raises ValueError for an empty id.
    """
    if not str(gpu).strip():
        raise ValueError("GPU id must not be empty")
    _env(env)["CUDA_VISIBLE_DEVICES"] = str(gpu).strip()


MMAP_THRESHOLD = 1 << 17  # glibc's default, made fixed
M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def return_large_frees(threshold: int = MMAP_THRESHOLD) -> bool:
    """Keep glibc's mmap threshold at ``threshold`` bytes, so every larger block is mapped on
    its own and returned to the OS when freed. glibc raises the threshold to the size of each
    mapped block freed (up to 32 MiB): rank 0's block copies (compaction, resume, commits of
    a few MB each, partly in a background thread's arena) then come from heaps it never
    shrinks, and its peak RSS grew with the store (~30 B per stored ligand from 2*10^5 to
    10^6 in a null-kernel screen, for no memory in use). False where there is no ``mallopt``
    (not glibc); the same as ``MALLOC_MMAP_THRESHOLD_`` in the environment at start."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))
