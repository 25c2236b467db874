"""``hpcfold prep LIGAND_FILE... -o lib.h5``: prepare ligands into an HDF5 feature store.

Runs alone or as ``mpiexec -n N hpcfold prep ...``: the ranks share the records round-robin (the
k-th record over all input files, in order, goes to rank ``k mod N``), each rank writes its own
shard through ``hpcfold.store.features.FeatureWriter``, and rank 0 builds the index after a
barrier. Resumable: a rerun after a kill skips every record already committed to a shard
(``completed_mask``, one byte per record) and duplicates nothing; a rerun whose input files
changed meanwhile is refused. One prep per store at a time (``hpcfold.store.lock``). Only a missing/unreadable input file or an
unwritable output is fatal (a clear message and exit status 2); every ligand record ends in the
store as prepared or as a failure with a reason. An empty library, or one where every ligand
failed, ends with a warning and exit status 1. Without an MPI launcher mpi4py is not imported.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from hpcfold.chem.prepare import PrepOptions, prepare_record
from hpcfold.chem.readers import check_readable, iter_records
from hpcfold.errors import UserError

HELP = "prepare ligands into an HDF5 feature store"
_MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def add_arguments(parser) -> None:
    d = PrepOptions()
    parser.add_argument(
        "ligands",
        nargs="+",
        metavar="LIGAND_FILE",
        help="SMILES (.smi/.ism/.txt), SDF (.sdf) or PDBQT files, optionally .gz",
    )
    parser.add_argument("-o", "--output", required=True, help="feature store to write (lib.h5)")
    options = (  # (flag, PrepOptions field, help)
        ("--seed", "seed", "embedding seed, xor-ed with crc32 of each ligand id"),
        ("--max-heavy-atoms", "max_heavy_atoms", "larger ligands fail as TOO_LARGE"),
        ("--max-torsions", "max_torsions", "more torsions fail as TOO_MANY_TORSIONS"),
        ("--max-automorphisms", "max_automorphisms", "cap on symmetry matches kept"),
        ("--embed-max-iterations", "embed_max_iterations", "ETKDGv3 maxIterations"),
        ("--ff-max-iterations", "ff_max_iterations", "MMFF/UFF clean-up steps, 0 = none"),
    )
    for flag, field, text in options:
        default = getattr(d, field)
        parser.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    parser.add_argument(
        "--commit-every",
        type=int,
        default=200,
        help="ligands per crash-safe commit of each rank's shard (default 200)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")  # fmt: skip


def main(args) -> int:
    try:
        opts = PrepOptions(
            seed=args.seed,
            max_heavy_atoms=args.max_heavy_atoms,
            max_torsions=args.max_torsions,
            max_automorphisms=args.max_automorphisms,
            embed_max_iterations=args.embed_max_iterations,
            ff_max_iterations=args.ff_max_iterations,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.commit_every < 1:
        raise UserError("--commit-every must be >= 1")
    comm = _world() if _under_mpi() else None
    if comm is None:
        counts = run_prep(args.ligands, args.output, opts, None, not args.quiet, args.commit_every)
    else:
        from hpcfold.mpi.comm import abort_on_exception

        with abort_on_exception(comm, "hpcfold prep"):
            counts = run_prep(
                args.ligands, args.output, opts, comm, not args.quiet, args.commit_every
            )
    if counts is None:  # not rank 0
        return 0
    print(f"{counts['total']} ligands: {counts['ok']} ok, {counts['failed']} failed")
    if counts["ok"] == 0:  # an empty library, or every ligand failed: exit status 1
        why = (
            "no ligand records in " + ", ".join(args.ligands)
            if counts["total"] == 0
            else f"every one of the {counts['total']} ligands failed (hpcfold inspect {args.output})"
        )
        print(f"warning: {why}", file=sys.stderr)
        return 1
    return 0


def _under_mpi() -> bool:
    return any(os.environ.get(k) for k in _MPI_ENV)


def _world():
    from hpcfold.mpi.comm import world

    return world()


def _check_output(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"output directory does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"output directory is not writable: {parent}")
    if os.path.exists(path) and (os.path.isdir(path) or not os.access(path, os.W_OK)):
        raise UserError(f"output is not a writable file: {path}")


def _run_id(comm) -> str:
    """One run id for all ranks (rank 0's clock and pid), exchanged as a numpy array."""
    buf = np.zeros(2, dtype=np.int64)
    if comm is None or comm.Get_rank() == 0:
        buf[:] = (time.time_ns() // 1000, os.getpid())
    if comm is not None and comm.Get_size() > 1:
        comm.Bcast(buf, root=0)
    return f"{int(buf[0]):x}-{int(buf[1])}"


class _Bar:
    """Rank 0 progress on stderr: a bar on a terminal, a line every 10 s otherwise."""

    def __init__(self, total: int, skipped: int, size: int, enabled: bool):
        self.total, self.skipped, self.size, self.enabled = total, skipped, size, enabled
        self.done = self.failed = 0
        self.t0 = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.interval = 0.25 if self.tty else 10.0

    def add(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self.show()

    def show(self, end: str = "") -> None:
        dt = max(time.monotonic() - self.t0, 1e-9)
        rate = self.done / dt
        todo = max(self.total - self.skipped, 0)
        frac = self.done / todo if todo else 1.0
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        ranks = f" on rank 0 of {self.size}" if self.size > 1 else ""
        text = (
            f"prep [{bar}] {self.done}/{todo}{ranks} {rate:.2f} ligands/s, "
            f"{self.failed} failed" + (f", {self.skipped} done before" if self.skipped else "")
        )
        sys.stderr.write(("\r" + text) if self.tty else (text + "\n"))
        sys.stderr.write(end)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.show(end="\n" if self.tty else "")


def run_prep(
    inputs: list[str],
    output: str,
    opts: PrepOptions,
    comm=None,
    progress: bool = True,
    commit_every: int = 200,
) -> dict | None:
    """Prepare ``inputs`` into the feature store ``output`` on every rank of ``comm``.

    ``comm``: an mpi4py communicator or None (one process). Returns ``finalize``'s counts on rank
    0, None on the other ranks. Raises UserError for a missing input or an unwritable output.
    """
    from hpcfold.store.lock import StoreLock

    inputs = [os.fspath(p) for p in inputs]
    output = os.fspath(output)
    rank = comm.Get_rank() if comm is not None else 0
    size = comm.Get_size() if comm is not None else 1
    for path in inputs:
        check_readable(path)
    _check_output(output)
    lock = None
    if rank == 0:  # one prep per store (the other ranks wait at the barrier below)
        lock = StoreLock(output, "hpcfold prep").acquire()
    try:
        return _run_prep_locked(inputs, output, opts, comm, progress, commit_every, rank, size)
    finally:
        if lock is not None:
            lock.release()


def _run_prep_locked(inputs, output, opts, comm, progress, commit_every, rank, size):
    from hpcfold.store.features import FeatureWriter, finalize, shards_dir
    from hpcfold.store.resume import DoneKeys, check_inputs_unchanged, completed_mask

    if rank == 0:  # a changed input file is refused before any rank writes
        check_inputs_unchanged(output, inputs)
    if comm is not None and size > 1:
        comm.Barrier()
    done = completed_mask(output) if os.path.isdir(shards_dir(output)) else DoneKeys()
    run_id = _run_id(comm)
    if comm is not None and size > 1:
        comm.Barrier()  # every rank has read the resume keys before anyone writes
    bar = None
    if rank == 0 and progress:  # count rank 0's share for the bar (a streaming pass)
        g = mine = mine_done = 0
        for fi, path in enumerate(inputs):
            for raw in iter_records(path):
                if g % size == 0:
                    mine += 1
                    mine_done += (fi, raw.index) in done
                g += 1
        bar = _Bar(mine, mine_done, size, progress)
    writer = FeatureWriter(output, rank, run_id, inputs, batch_size=commit_every)
    try:
        g = 0
        for fi, path in enumerate(inputs):
            for raw in iter_records(path):
                take = g % size == rank
                g += 1
                if not take or (fi, raw.index) in done:
                    continue
                item = prepare_record(raw, opts)
                writer.add((fi, raw.index), item)
                if bar is not None:
                    bar.add(failed=not hasattr(item, "pdbqt"))
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    if comm is not None and size > 1:
        comm.Barrier()
    if rank != 0:
        return None
    return finalize(output, inputs)
