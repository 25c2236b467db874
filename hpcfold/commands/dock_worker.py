"""Docking on every core for ``hpcfold dock`` and ``hpcfold.api``: worker processes, no pickle.

``dock_all`` docks in this process (one worker, or an accelerator: its ligand lanes are the
parallelism) or in N worker processes, ``python -m hpcfold.commands.dock_worker JOBDIR CORE``,
each pinned to one core with a single-threaded XLA. The parent writes the receptor, box, options
and prepared ligands to ``JOBDIR/job.npz`` (numpy arrays and JSON text, read with
``allow_pickle=False``), sends ligand indices on each worker's stdin, and reads each result from
``JOBDIR/res<j>.npz`` when the worker prints ``done <j>``. A ligand's poses depend only on
(seed, ligand id, inputs), so they are the same for any number of workers.

Compilation: the first ligand of a size bucket whose kernel is not yet in the persistent
compilation cache goes to one worker only, and the bucket's other ligands wait until it is done;
then every worker loads the compiled kernel from the cache instead of compiling it again. A
stamp file per kernel in the cache folder records that it was compiled, for the notice
"compiling the docking kernel for bucket X (first run only; cached in DIR)".

A worker that dies fails the ligand it was docking (the reason quotes its stderr), the others
carry on; with no worker left every remaining ligand fails with that reason. Nothing hangs.
Test hook (tests and fault drills only): ``HPCFOLD_TEST_DOCK_WORKER_DIE=j`` makes the worker that
gets ligand j (its index among the docked ligands) kill itself with SIGKILL.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile

import numpy as np

from hpcfold.dock.presets import SearchOptions
from hpcfold.mpi.progress import Progress
from hpcfold.types import (
    Box,
    DockResult,
    Failure,
    LigandRecord,
    Reason,
    ReceptorRecord,
    bucket_for,
    has_glue,
)

_COMPILED_KEYS = ("preset", "exhaustiveness", "n_steps", "scoring", "weights", "batch_size")


# ------------------------------------------------------------------------- npz records
def _put(arrays: dict, prefix: str, obj) -> None:
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        if val is not None:
            arrays[f"{prefix}{f.name}"] = np.asarray(int(val) if f.name == "reason" else val)


def _get(z, prefix: str, cls):
    kw = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if key not in z:
            continue  # a None field
        a = z[key]
        if a.ndim == 0:  # a str, float, int or bool field
            a = a.item()
        kw[f.name] = Reason(a) if f.name == "reason" else a
    return cls(**kw)


def write_job(path: str, receptor: ReceptorRecord, box: Box, options, cache_dir: str,
              records: list[LigandRecord]) -> None:  # fmt: skip
    """Everything a worker needs, as numpy arrays (``records``: r<j>_<field>)."""
    arrays: dict = {"box": np.array([*box.center, *box.size], np.float64),
                    "options": np.asarray(json.dumps(dataclasses.asdict(options))),
                    "cache_dir": np.asarray(cache_dir), "n": np.asarray(len(records))}  # fmt: skip
    _put(arrays, "rec_", receptor)
    for j, r in enumerate(records):
        _put(arrays, f"r{j}_", r)
    np.savez(path, **arrays)


def _save_result(path: str, res: DockResult | Failure) -> None:
    arrays = {"failed": np.asarray(isinstance(res, Failure))}
    _put(arrays, "", res)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_result(path: str) -> DockResult | Failure:
    with np.load(path, allow_pickle=False) as z:
        return _get(z, "", Failure if bool(z["failed"]) else DockResult)


# ------------------------------------------------------------------ compile bookkeeping
def compile_dir(options, cache_dir: str) -> str:
    """The persistent compilation cache folder of these options ('' = disabled)."""
    cc = options.compile_cache
    return os.path.join(cache_dir, "jax") if cc is None else cc


def _stamp(options, cache_dir: str, group: tuple[int, bool]) -> str | None:
    """Path of the file that records the kernel of ``group`` (bucket index, glue) as compiled
    for these options, this JAX and this backend; None when the cache is disabled."""
    folder = compile_dir(options, cache_dir)
    if not folder:
        return None
    import jax

    # the options that shape the compiled search (seed, num_modes, ... are runtime values)
    what = {k: getattr(options, k) for k in _COMPILED_KEYS}
    what.update(group=list(group), jax=importlib.metadata.version("jax"),
                backend=jax.default_backend())  # fmt: skip
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]
    return os.path.join(folder, "hpcfold-kernels", key)


def _mark_compiled(stamp: str | None) -> None:
    if stamp and not os.path.exists(stamp):
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        with open(stamp, "w", encoding="utf-8"):
            pass


def _notice_text(options, cache_dir: str, group, stamp: str | None) -> str | None:
    """The compile notice of ``group``'s kernel; None when it is cached already."""
    name = _bucket_name(group)
    if stamp is None:
        return (f"compiling the docking kernel for bucket {name} (not cached: the "
                "compilation cache is disabled)")  # fmt: skip
    if os.path.exists(stamp):
        return None
    where = compile_dir(options, cache_dir)
    return f"compiling the docking kernel for bucket {name} (first run only; cached in {where})"


def _bucket_name(group) -> str:
    from hpcfold.types import BUCKETS

    return BUCKETS[group[0]].name + (" (macrocycle)" if group[1] else "")


def _notice(progress: Progress, options, cache_dir: str, group, stamp: str | None) -> None:
    text = _notice_text(options, cache_dir, group, stamp)
    if text:
        progress.message(text)
    progress.status = f"loading/compiling bucket {_bucket_name(group)}"


def announcing(kernel, options, cache_dir: str, say):
    """``kernel(records) -> results`` (``engine.dock_ligands`` bound to a context) that first
    calls ``say(notice)`` for each kernel group of ``records`` this wrapper has not run yet and
    whose kernel is not in the compilation cache (``hpcfold screen``'s workers log it)."""
    seen: set = set()

    def run(records):
        new = {g for g in map(_group, records) if g is not None and g not in seen}
        stamps = {g: _stamp(options, cache_dir, g) for g in new}
        for g in sorted(new):
            text = _notice_text(options, cache_dir, g, stamps[g])
            if text:
                say(text)
        out = kernel(records)
        for g in new:
            _mark_compiled(stamps[g])
        seen.update(new)
        return out

    return run


def _group(rec: LigandRecord) -> tuple[int, bool] | None:
    b = bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs))
    return None if b is None else (b.index, bool(has_glue(rec.ad_types)))


# ------------------------------------------------------------------------------- parent
def n_workers(cpu: int, n_ligands: int) -> int:
    """Worker processes for ``n_ligands``: ``cpu`` (0 = every core this process may use), at
    most one per ligand; 1 (this process) on an accelerator, whose ligand lanes batch."""
    from hpcfold.mpi.binding import count_gpus

    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms != "cpu" and (count_gpus() or platforms not in ("", "cpu")):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpu or cores or 1, n_ligands))


def dock_all(docker, items: list, cpu: int, show: bool) -> list[DockResult | Failure]:
    """DockResult or Failure per entry of ``items`` (LigandRecords and Failures), in order."""
    out: list = [it if isinstance(it, Failure) else None for it in items]
    todo = [i for i, it in enumerate(items) if isinstance(it, LigandRecord)]
    progress = Progress(len(items), stream=sys.stderr, plain=True, enabled=show)
    progress.add(len(items) - len(todo), len(items) - len(todo))
    n = n_workers(cpu, len(todo))
    with progress.ticking():
        if n <= 1:
            _in_process(docker, items, todo, out, progress)
        elif todo:
            _in_workers(docker, items, todo, out, n, progress)
    progress.status = ""
    progress.close()
    return out


def _in_process(docker, items, todo, out, progress: Progress) -> None:
    from hpcfold.dock import engine
    from hpcfold.types import BUCKETS

    ctx = docker.ctx
    seen = docker.compiled_groups  # kernels this context has run (compiled or loaded)
    groups: dict = collections.defaultdict(list)
    for i in todo:
        groups[_group(items[i])].append(i)
    for g in sorted(groups, key=lambda g: (g is None, g or (0, False))):
        idx = groups[g]
        bs = 1 if g is None else engine.kernel_batch(ctx, BUCKETS[g[0]])
        stamp = None if g is None else _stamp(docker.options, docker.cache_dir, g)
        for start in range(0, len(idx), bs):
            chunk = idx[start : start + bs]
            if g is not None and g not in seen:
                _notice(progress, docker.options, docker.cache_dir, g, stamp)
            results = engine.dock_ligands(ctx, [items[i] for i in chunk])
            if g is not None and g not in seen:
                seen.add(g)
                _mark_compiled(stamp)
                progress.status = ""
            for i, res in zip(chunk, results, strict=True):
                out[i] = res
            progress.add(len(chunk), sum(isinstance(r, Failure) for r in results))


def _in_workers(docker, items, todo, out, n: int, progress: Progress) -> None:
    from hpcfold.dock import grids, tables

    opts, cache_dir = docker.options, docker.cache_dir
    params = tables.make_params(opts.scoring, opts.weights)  # the grid once, not in N workers
    grids.cached_grid(docker.receptor, docker.box, params, os.path.join(cache_dir, "grids"))
    with tempfile.TemporaryDirectory(prefix="hpcfold-dock-") as tmp:
        records = [items[i] for i in todo]
        write_job(os.path.join(tmp, "job.npz"), docker.receptor, docker.box, opts, cache_dir,
                  records)  # fmt: skip
        _Pool(tmp, records, n, opts, cache_dir, progress).run(
            lambda j, res: out.__setitem__(todo[j], res)
        )


class _Pool:
    """Worker processes fed with ligand indices, one outstanding ligand each."""

    def __init__(self, tmp, records, n, options, cache_dir, progress: Progress):
        self.tmp, self.records, self.progress = tmp, records, progress
        self.options, self.cache_dir = options, cache_dir
        self.pending: dict = collections.OrderedDict()
        for j, r in sorted(enumerate(records), key=lambda t: _group(t[1]) or (1 << 30, False)):
            self.pending.setdefault(_group(r), collections.deque()).append(j)
        self.stamps = {g: None if g is None else _stamp(options, cache_dir, g)
                       for g in self.pending}  # fmt: skip
        self.ready = {g for g, s in self.stamps.items() if g is None or (s and os.path.exists(s))}
        self.compiling: set = set()
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                                              if p))  # fmt: skip
        self.procs, self.errs = [], []
        for w in range(n):
            err = open(os.path.join(tmp, f"err{w}.txt"), "w+", encoding="utf-8")  # noqa: SIM115
            cmd = [sys.executable, "-m", "hpcfold.commands.dock_worker", tmp,
                   str(cores[w % len(cores)])]  # fmt: skip
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=err, env=env, text=True, bufsize=1))  # fmt: skip
            self.errs.append(err)
        self.busy: dict[int, tuple[int, tuple | None]] = {}

    def _next(self):
        for g, queue in self.pending.items():
            if queue and (g in self.ready or g not in self.compiling):
                if g not in self.ready:
                    self.compiling.add(g)
                    _notice(self.progress, self.options, self.cache_dir, g, self.stamps[g])
                j = queue.popleft()
                return j, g
        return None

    def _feed(self, w: int) -> None:
        nxt = self._next()
        if nxt is None:
            return
        self.busy[w] = nxt
        self.procs[w].stdin.write(f"{nxt[0]}\n")
        self.procs[w].stdin.flush()

    def _why(self, w: int) -> str:
        self.procs[w].wait()
        self.errs[w].seek(0)
        tail = [ln for ln in self.errs[w].read().splitlines() if ln.strip()][-3:]
        return (f"docking worker process {w} exited with status {self.procs[w].returncode}: "
                + (" | ".join(tail) or "no message"))  # fmt: skip

    def run(self, put) -> None:
        sel = selectors.DefaultSelector()
        for w, p in enumerate(self.procs):
            sel.register(p.stdout, selectors.EVENT_READ, w)
        alive, last_error = set(range(len(self.procs))), ""
        try:
            for w in list(alive):
                self._feed(w)
            while self.busy or (alive and any(self.pending.values())):
                for w in list(alive):
                    if w not in self.busy:
                        self._feed(w)
                for key, _ in sel.select(timeout=1.0):
                    w = key.data
                    line = self.procs[w].stdout.readline()
                    if not line:  # the worker died
                        sel.unregister(key.fileobj)
                        alive.discard(w)
                        last_error = self._why(w)
                        if w in self.busy:
                            j, g = self.busy.pop(w)
                            self.compiling.discard(g)
                            put(j, self._failure(j, last_error))
                            self.progress.add(1, 1)
                        continue
                    if not line.startswith("done "):
                        continue
                    j, g = self.busy.pop(w)
                    res = _load_result(os.path.join(self.tmp, f"res{j}.npz"))
                    if g is not None and g not in self.ready:
                        self.ready.add(g)
                        _mark_compiled(self.stamps[g])
                        self.progress.status = ""
                    put(j, res)
                    self.progress.add(1, int(isinstance(res, Failure)))
                if not alive:
                    break
            for queue in self.pending.values():  # no worker left
                while queue:
                    j = queue.popleft()
                    put(j, self._failure(j, last_error))
                    self.progress.add(1, 1)
        finally:
            for p in self.procs:
                try:
                    p.stdin.close()
                except OSError:
                    pass  # a dead worker's pipe
            for p in self.procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in self.errs:
                f.close()
            sel.close()

    def _failure(self, j: int, why: str) -> Failure:
        r = self.records[j]
        return Failure(r.lig_id, r.source, r.smiles, Reason.DOCK_ERROR, why)


# ------------------------------------------------------------------------------- worker
def main(argv: list[str]) -> int:
    """Worker: JOBDIR CORE. Reads ligand indices on stdin, writes JOBDIR/res<j>.npz, prints
    ``done <j>``; exits at the end of stdin."""
    jobdir, core = argv
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {int(core)})
        except OSError:
            pass  # a core outside this process's set: run unpinned
    from hpcfold.dock import context, engine  # JAX, after the worker is pinned to its core

    with np.load(os.path.join(jobdir, "job.npz"), allow_pickle=False) as z:
        c = z["box"]
        box = Box(tuple(float(v) for v in c[:3]), tuple(float(v) for v in c[3:]))
        options = SearchOptions(**json.loads(str(z["options"])))
        cache_dir = str(z["cache_dir"])
        receptor = _get(z, "rec_", ReceptorRecord)
        records = [_get(z, f"r{j}_", LigandRecord) for j in range(int(z["n"]))]
    ctx = context.make_context(receptor, box, options, cache_dir=cache_dir)
    die = os.environ.get("HPCFOLD_TEST_DOCK_WORKER_DIE", "")
    for line in sys.stdin:
        if not line.strip():
            continue
        j = int(line)
        if str(j) == die:  # test hook: die like a worker killed for memory
            sys.stderr.write(f"test hook: docking worker dies on ligand {j}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        res = engine.dock_ligands(ctx, [records[j]])[0]
        _save_result(os.path.join(jobdir, f"res{j}.npz"), res)
        sys.stdout.write(f"done {j}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
