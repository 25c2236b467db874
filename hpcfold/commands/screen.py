"""``hpcfold screen CONFIG.yaml``: screen a ligand library, MPI-aware and resumable.

Runs the same way as ``mpiexec -n N hpcfold screen c.yaml``, under ``srun``, or alone. Rank 0
schedules chunks and is the only writer of the results store (it never imports JAX); the other
ranks bind a GPU or a core set and dock. Alone, rank 0 docks in-process. When the feature store
is missing, every rank first takes part in ``hpcfold prep``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import sys
import time

import numpy as np

from hpcfold import __version__
from hpcfold.config import ScreenConfig, check_inputs, load_screen_config
from hpcfold.errors import UserError
from hpcfold.mpi import binding as binding_mod
from hpcfold.mpi import null_kernel
from hpcfold.mpi.comm import abort_on_exception, check_launcher, setup_logging, world
from hpcfold.mpi.progress import Progress, rank_table
from hpcfold.mpi.scheduler import Task, TaskStream, WorkQueue, run_scheduler
from hpcfold.mpi.worker import LocalChannel, MPIChannel, run_worker
from hpcfold.types import Box, DockResult, Failure, Reason

HELP = "screen a ligand library (MPI-aware, resumable)"
LOG = logging.getLogger("hpcfold")


def add_arguments(parser) -> None:
    parser.add_argument("config", help="screen config (YAML), see configs/example.yaml")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every chunk")


def main(args) -> int:
    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    setup_logging(rank, size, logging.DEBUG if args.verbose else logging.INFO)
    with abort_on_exception(comm, "hpcfold screen"):
        check_launcher(comm)
        cfg = _load_config(comm, args.config)
        if rank == 0:  # receptor and box, before any ligand is prepared
            check_inputs(cfg)
        if rank == 0:  # a screen creates the folders of its stores (prep alone does not)
            for out in (cfg.features_path, cfg.output):
                os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        _ensure_features(comm, cfg)
        is_worker = size == 1 or rank != 0
        bind = binding_mod.bind(comm, cfg.device, is_worker=is_worker)
        LOG.info(bind.line())  # every rank, before any JAX import
        if bind.oversubscribed and bind.slot == 0:
            LOG.warning("more worker ranks than cores on %s: ranks share cores", bind.host)
        if rank != 0:
            box = _bcast_box(comm, None)
            run_worker(MPIChannel(comm), _kernel_factory(cfg, box, bind), _reader(cfg),
                       rank, extra_stats={"host": bind.host})  # fmt: skip
            return 0
        return _rank0(comm, cfg, bind)
    return 1  # not reached (abort_on_exception aborts or re-raises)


# ---------------------------------------------------------------------------------- set-up
def _load_config(comm, path: str) -> ScreenConfig:
    """Rank 0 validates first (one clear error message), then the other ranks load."""
    if comm.Get_rank() == 0:
        cfg = load_screen_config(path)
    if comm.Get_size() > 1:
        comm.Barrier()
    if comm.Get_rank() != 0:
        cfg = load_screen_config(path)
    return cfg


def _ensure_features(comm, cfg: ScreenConfig) -> None:
    """Use the feature store when it exists, otherwise prepare ``ligands`` into it (all ranks)."""
    path = cfg.features_path
    flag = np.array([os.path.isfile(path)], np.int64)
    if comm.Get_size() > 1:
        comm.Bcast(flag, root=0)
    if flag[0]:
        if comm.Get_rank() == 0 and cfg.ligands:
            from hpcfold.store.features import FeatureStore, normalize_inputs

            with FeatureStore(path) as store:
                if store.inputs != normalize_inputs(list(cfg.ligands)):
                    raise UserError(
                        f"feature store {path} was built from {store.inputs}, not from the "
                        f"config's ligands {list(cfg.ligands)}; use another features path"
                    )
        return
    if not cfg.ligands:
        raise UserError(f"feature store {path} does not exist and the config lists no ligands")
    for lig in cfg.ligands:
        if not os.path.isfile(lig):
            raise UserError(f"ligand file {lig} not found")
    from hpcfold.chem.prepare import PrepOptions
    from hpcfold.commands import prep as prep_cmd

    LOG.info("feature store %s missing: preparing %d ligand file(s)", path, len(cfg.ligands))
    try:
        opts = PrepOptions(**cfg.prep.options_dict())
    except ValueError as exc:
        raise UserError(f"prep: {exc}") from None
    counts = prep_cmd.run_prep(list(cfg.ligands), path, opts, comm, progress=sys.stderr.isatty())
    if comm.Get_size() > 1:
        comm.Barrier()  # the index exists before any rank opens it
    if counts is not None:
        LOG.info("prep: %d ligands, %d ok, %d failed", counts["total"], counts["ok"],
                 counts["failed"])  # fmt: skip


def _resolve_box(cfg: ScreenConfig) -> Box:
    """The config's box (rank 0), with Vina's warning logged when it is larger than 27000 A^3."""
    from hpcfold import boxes

    b = cfg.box
    try:
        if b.vina_config is not None:
            box = boxes.read_vina_config(b.vina_config)
        elif b.autobox_ligand is not None:
            box = boxes.autobox(boxes.ligand_coords(b.autobox_ligand), add=b.autobox_add)
        else:
            box = Box(tuple(b.center), tuple(b.size))
    except (OSError, ValueError) as exc:
        raise UserError(f"box: {exc}") from None
    warning = boxes.volume_warning(box, "a box around the binding site (box: autobox_ligand) "
                                   "or search: {preset: thorough} helps")  # fmt: skip
    if warning:
        LOG.warning("%s", warning)
    return box


def _bcast_box(comm, box: Box | None) -> Box:
    buf = np.zeros(6, np.float64) if box is None else np.array([*box.center, *box.size])
    if comm.Get_size() > 1:
        comm.Bcast(buf, root=0)
    return Box(tuple(float(v) for v in buf[:3]), tuple(float(v) for v in buf[3:]))


def _reader(cfg: ScreenConfig):
    """A worker reads only its chunks' rows (memory O(chunk), whatever the library size)."""
    from hpcfold.store.feature_reader import ChunkReader

    return ChunkReader(cfg.features_path).read


def _kernel_factory(cfg: ScreenConfig, box: Box, bind):
    """Built in the worker's main thread once the fetcher runs: imports JAX (after binding)."""

    def make():
        import functools

        if null_kernel.enabled():  # benchmarks/tests of the data path: no JAX at all
            return null_kernel.dock_null, "null"
        from hpcfold.chem.receptor import read_receptor
        from hpcfold.dock import context, engine

        device = binding_mod.finish_binding(bind, cfg.device)  # warns on a GPU fallback
        receptor = read_receptor(cfg.receptor)
        options = cfg.search  # checked when the config was loaded
        try:
            ctx = context.make_context(receptor, box, options, cache_dir=cfg.device.compile_cache)
        except ValueError as exc:  # a value the engine refuses
            raise UserError(f"search: {exc}") from None
        from hpcfold.commands.dock_worker import announcing  # the compile notice, logged

        cache = cfg.device.compile_cache or context.default_cache_dir()
        return announcing(functools.partial(engine.dock_ligands, ctx), options, cache,
                          LOG.info), device  # fmt: skip

    return make


# ---------------------------------------------------------------------------------- rank 0
def _versions() -> dict[str, str]:
    out = {"hpcfold": __version__, "python": sys.version.split()[0]}
    for pkg in ("numpy", "jax", "jaxlib", "h5py", "rdkit", "mpi4py", "psutil", "pyyaml"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = ""
    from mpi4py import MPI

    out["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise UserError(f"cannot read receptor {path}: {exc.strerror}") from None
    return h.hexdigest()


def _rank0(comm, cfg: ScreenConfig, bind) -> int:
    from hpcfold import runtime
    from hpcfold.store.features import FeatureStore
    from hpcfold.store.results import ResultsWriter

    runtime.return_large_frees()  # rank 0's RSS then follows its memory in use (see there)
    size = comm.Get_size()
    box = _resolve_box(cfg)
    meta = {
        "config": cfg.text,
        "config_path": cfg.source,
        "versions": _versions(),
        "receptor": cfg.receptor,
        "receptor_sha256": _sha256(cfg.receptor),
        "features": cfg.features_path,
        "box": {"center": list(box.center), "size": list(box.size)},
        "search": cfg.search.config_dict(),
        "chunk_size": cfg.chunk_size,
        "n_ranks": size,
        "engine": "null" if null_kernel.enabled() else "hpcfold",
        "keep_poses": cfg.keep_poses if cfg.keep_poses != "top_k" else f"top_{cfg.keep_top_k}",
        "hit_threshold": cfg.hit_threshold,
    }
    store = FeatureStore(cfg.features_path)
    meta["n_ligands"] = store.n_ligands
    meta["features_fingerprint"] = store.fingerprint
    _check_resume(cfg.output, meta)
    if null_kernel.enabled():
        LOG.warning("%s=1: the null docking kernel writes fake scores (benchmarks and tests "
                    "only)", null_kernel.ENV)  # fmt: skip
    writer = ResultsWriter(cfg.output, meta, commit_seconds=cfg.commit_interval, background=True,
                           max_poses=cfg.max_poses, hit_threshold=cfg.hit_threshold)  # fmt: skip
    try:
        total = store.n_ligands
        for block in store.iter_failures():  # ligands prep could not prepare: failed results
            idx = np.array([i for i, _ in block], np.int64)
            fresh = np.flatnonzero(~writer.is_done(idx))
            if fresh.size:
                writer.append(idx[fresh], [block[k][1] for k in fresh], _prep_info())
        n_done = writer.n_done()
        if writer.retried.size:
            LOG.info("%d ligands whose chunk raised twice (DOCK_ERROR) are docked once more",
                     writer.retried.size)  # fmt: skip
        n_left = n_tasks = 0  # a counting pass; the tasks themselves are made on demand
        for task in _tasks(store, writer, cfg.chunk_size):
            n_left, n_tasks = n_left + len(task.indices), n_tasks + 1
        LOG.info(
            "screen: %d ligands (%d failed in prep), %d already done, %d to dock in %d chunks "
            "on %d worker rank(s)", total, store.counts()["failed"], n_done, n_left,
            n_tasks, max(size - 1, 1),
        )  # fmt: skip
        progress = Progress(total, initial=n_done, initial_failed=writer.n_failed(),
                            interval=cfg.progress_interval)  # fmt: skip
        tasks = TaskStream(_tasks(store, writer, cfg.chunk_size))
        queue = WorkQueue(tasks, workers=list(range(1, size)) if size > 1 else [0])
        on_result = _result_handler(store, writer, progress)
        _bcast_box(comm, box)
        if size > 1:
            sched: dict = {}
            finals = run_scheduler(comm, queue, on_result, tick=progress.tick,
                                   hang_timeout=cfg.worker_timeout,
                                   on_wait=progress.set_waiting, stats=sched)  # fmt: skip
            LOG.info("scheduler: %d messages, %.1f s busy, longest stall %.3f s",
                     sched["messages"], sched["busy_s"], sched["max_stall_s"])  # fmt: skip
        else:
            channel = LocalChannel(queue, on_result, tick=progress.tick)
            run_worker(channel, _kernel_factory(cfg, box, bind), store.read, 0,
                       extra_stats={"host": bind.host})  # fmt: skip
            finals = {0: channel.final}
        progress.close()
        for r, st in finals.items():
            st.setdefault("host", bind.host if r == 0 else "")
        writer.record_stats({"ranks": {str(r): st for r, st in finals.items()}})
        n_done, n_failed = writer.n_done(), writer.n_failed()
    finally:
        writer.close()
    LOG.info("per-rank summary:\n%s", rank_table(finals))
    LOG.info("screen done: %d/%d ligands in %s (%d failed)", n_done, total, cfg.output,
             n_failed)  # fmt: skip
    if n_done != total:
        raise RuntimeError(f"{total - n_done} ligands are missing from {cfg.output}")
    rc = 0
    if n_failed == total:  # an empty library, or nothing docked: exit status 1
        LOG.warning(
            "warning: %s",
            "the library is empty"
            if total == 0
            else f"every one of the {total} ligands failed (hpcfold inspect {cfg.output})",
        )
        rc = 1
    if size > 1 and queue.excluded:  # hung ranks never stop: end the job without them
        LOG.warning("ending the job: rank(s) %s were excluded as hung (every ligand is "
                    "stored)", sorted(queue.excluded))  # fmt: skip
        sys.stdout.flush()
        sys.stderr.flush()
        comm.Abort(rc)
    return rc


def _tasks(store, writer, chunk_size: int):
    """The chunks' ligands not done yet, one Task at a time: O(chunk) per chunk (a lookup in
    the writer's done bitmap), O(N / chunk) in all, and no list of every chunk."""
    for chunk in store.iter_chunks(chunk_size):
        left = chunk.indices[~writer.is_done(chunk.indices)]
        if len(left):
            yield Task(chunk.chunk_id, chunk.bucket.index, left)


def _check_resume(output: str, meta: dict) -> None:
    """Resuming must not mix results of another box or other search settings."""
    from hpcfold.store.results import stored_meta

    old = stored_meta(output)  # the main file's attributes only: O(1) in the library size
    if old is None:
        return
    afresh = (f"to start afresh, use another output path or delete {output} and "
              f"{output}.parts")  # fmt: skip
    fp = old.get("features_fingerprint")
    if fp is not None and fp != meta["features_fingerprint"]:
        raise UserError(
            f"{output} holds results for another feature store: {meta['features']} changed "
            f"since (fingerprint {fp[:12]}... now {meta['features_fingerprint'][:12]}...); "
            + afresh
        )
    if old.get("engine", "hpcfold") != meta["engine"]:
        raise UserError(f"{output} was screened with the {old.get('engine', 'hpcfold')} "
                        f"engine, this run uses {meta['engine']}; " + afresh)  # fmt: skip
    for key in ("box", "search"):
        if key in old and old[key] != meta[key]:
            raise UserError(
                f"{output} holds results for {key} {old[key]}, this config has {meta[key]}: "
                "use another output to screen with new settings"
            )


def _prep_info() -> dict:
    now = time.time()
    return {"chunk_id": -1, "rank": 0, "device": "prep", "t_start": now, "t_done": now}


def _result_handler(store, writer, progress: Progress):
    def on_result(task: Task, items, info: dict, error: str | None, state: str) -> None:
        if state == "retry":
            LOG.warning("chunk %d raised on rank %s (%s): retrying once", task.chunk_id,
                        info.get("rank"), error)  # fmt: skip
            return
        ids = store.ids(task.indices)
        if state == "failed":
            LOG.warning("chunk %d raised twice: %d ligands failed (%s)", task.chunk_id,
                        len(ids), error)  # fmt: skip
            srcs, smis = store.sources(task.indices), store.smiles(task.indices)
            items = [
                Failure(i, src, smi, Reason.DOCK_ERROR, f"docking raised twice: {error}")
                for i, src, smi in zip(ids, srcs, smis, strict=True)
            ]
        got = [it.lig_id for it in items]
        if got != ids:
            raise RuntimeError(f"chunk {task.chunk_id}: results for {got[:3]}... do not match "
                               f"the chunk's ligands {ids[:3]}...")  # fmt: skip
        t0 = time.perf_counter()
        writer.append(task.indices, items, info)
        n_failed = sum(not isinstance(it, DockResult) for it in items)
        LOG.debug("chunk %d: %d ligands from rank %s %s in %.3f s (%d failed)",
                  task.chunk_id, len(items), info.get("rank"),
                  "queued" if writer.n_pending else "written and committed",
                  time.perf_counter() - t0, n_failed)  # fmt: skip
        progress.add(len(items), n_failed)

    return on_result
