"""Communicator helpers: the world communicator, rank-tagged logging, abort on exceptions.

Every command that may run under ``mpiexec`` wraps its body in ``abort_on_exception()``: an
uncaught exception on any rank prints a clear message tagged with the rank and calls
``COMM_WORLD.Abort`` so the launcher kills the whole job instead of leaving the other ranks
waiting forever. Works without a launcher too (MPI singleton: one rank).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterator

from hpcfold.errors import UserError

LOG = logging.getLogger("hpcfold")
ABORT_GRACE_S = 0.25  # seconds between printing a fatal error and MPI_Abort


def world():
    """``MPI.COMM_WORLD`` (initialises MPI on first use; one rank without a launcher)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def node_comm(comm=None):
    """The node-local (shared-memory) sub-communicator of ``comm``."""
    from mpi4py import MPI

    comm = comm if comm is not None else world()
    return comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())


def hostname() -> str:
    return socket.gethostname().split(".")[0]


def launcher_size(env=os.environ) -> int | None:
    """Number of processes the launcher started (mpiexec/srun environment), None if unknown."""
    for var in ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        if env.get(var, "").isdigit():
            return int(env[var])
    step = env.get("SLURM_STEP_ID", env.get("SLURM_STEPID", ""))
    if step.isdigit() and int(step) < 0xFFFFFFF0 and env.get("SLURM_STEP_NUM_TASKS", "").isdigit():
        return int(env["SLURM_STEP_NUM_TASKS"])  # an srun step (not the batch script itself)
    return None


def check_launcher(comm, env=os.environ) -> None:
    """Refuse to run N independent one-rank jobs (an MPI library that does not match the
    launcher, e.g. ``srun --mpi=none``): they would all write the same output."""
    n = launcher_size(env)
    if n is not None and n > 1 and comm.Get_size() == 1:
        raise UserError(
            f"the launcher started {n} processes but MPI sees only this one: mpi4py's MPI "
            "library does not match the launcher (use the matching mpiexec, or srun "
            "--mpi=pmi2/pmix with an MPI built for Slurm)"
        )


class _RankFilter(logging.Filter):
    def __init__(self, rank: int, size: int):
        super().__init__()
        self.rank, self.size = rank, size

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        record.size = self.size
        return True


def setup_logging(rank: int, size: int, level: int | str = logging.INFO) -> None:
    """Log to stderr as ``[hpcfold r3/8 12:00:01] message`` (every line carries the rank)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RankFilter(rank, size))
    handler.setFormatter(
        logging.Formatter("[hpcfold r%(rank)d/%(size)d %(asctime)s] %(message)s", "%H:%M:%S")
    )
    LOG.handlers[:] = [handler]
    LOG.setLevel(level)
    LOG.propagate = False


@contextlib.contextmanager
def abort_on_exception(comm=None, command: str = "hpcfold") -> Iterator[None]:
    """Turn an uncaught exception on any rank into ``comm.Abort`` (never a hang).

    With one rank the exception propagates unchanged (the CLI prints ``UserError`` messages
    without a traceback). With several ranks the rank prints the error (a ``UserError`` as one
    line, anything else with its traceback), flushes, and aborts the job with exit code 2
    (``UserError``) or 1 (anything else, ``KeyboardInterrupt`` included).
    """
    comm = comm if comm is not None else world()
    try:
        yield
    except SystemExit as exc:
        if comm.Get_size() > 1 and exc.code not in (0, None):
            _abort(comm, f"{command}: exited with status {exc.code}", int(exc.code or 1))
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure must end the whole job
        if comm.Get_size() == 1:
            raise
        rank = comm.Get_rank()
        if isinstance(exc, UserError):
            msg = f"{command}: error (rank {rank}): {exc}"
            code = 2
        else:
            tb = "".join(traceback.format_exception(exc)).rstrip()
            msg = f"{command}: rank {rank} on {hostname()} failed:\n{tb}"
            code = 1
        _abort(comm, msg + f"\n{command}: aborting all {comm.Get_size()} ranks", code)


def _abort(comm, message: str, code: int) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
        # the launcher forwards this rank's output through a pipe; Abort makes it kill every
        # process, and the message was once lost on the way (tests/mpi): give it a moment
        time.sleep(ABORT_GRACE_S)
    finally:
        comm.Abort(code)
        os._exit(code)  # Abort does not return; be sure anyway
