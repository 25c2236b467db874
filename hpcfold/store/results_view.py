"""Results store reader: ``open_results`` -> ``ResultsView``, and ``validate_results``.

A view reads the main ``results.h5`` plus the parts not yet compacted (seq greater than the
main file's ``compacted_through``), so it works while no writer is open, after a crash, and
after compaction. Rows are deduplicated by ligand index (first committed wins).

Two ways to read: ``table`` (every row in memory, sorted by ligand index; small stores, tests)
and ``iter_blocks`` (rows in blocks of bounded size, in commit order, with a bitmap of the
indices already seen: N/8 bytes), on which ``export``, ``report`` and ``inspect`` stream. A
block's ``loc`` column is an opaque handle for ``pose_values_at``; the file layout stays here.

``clash_flag`` derives the clash flag from the stored best affinity at read time, so the store
format does not carry it.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import time
import warnings

import numpy as np

from hpcfold.errors import UserError
from hpcfold.store import h5util, results_io
from hpcfold.types import SCHEMA_VERSION, Reason

STATUS_NAMES = np.array(["ok", "failed"], dtype=object)
BLOCK_ROWS = 65536
# source file, row, pose_values offset, pose_coords offset, n_poses, n_atoms, text offset,
# and the byte length of each text column
LOC_FIELDS = 7 + len(results_io.LIGAND_TEXT)
TEXT_SPAN = 1 << 16  # text of rows closer than this many bytes is read as one slice


def clash_flag(affinity) -> np.ndarray:
    """(N,) bool: the best pose is not clash-free, i.e. its affinity (kcal/mol) is > 0.

    Vina's affinity is the intermolecular energy over (1 + w N_rot), so it is positive exactly
    when the weighted repulsion outweighs every attractive term in the best pose found: no pose
    fits the site without a clash. NaN (a failed ligand) is not flagged.
    """
    a = np.asarray(affinity, dtype=np.float64)
    return np.greater(a, 0.0, where=np.isfinite(a), out=np.zeros(a.shape, dtype=bool))


def _open_sources(path: str, skipped: list[str] | None = None):
    """(main file, [live part files]) opened read-only; retries if a compaction races us.
    Damaged parts are left out with a warning ("path: why" appended to ``skipped``)."""
    for attempt in range(5):
        if skipped is not None:
            skipped.clear()
        main = h5util.open_ro(path)
        files = [main]
        try:
            if main.attrs.get("kind") != results_io.MAIN_KIND:
                raise UserError(f"{path} is not an hpcfold results store")
            if int(main.attrs["schema_version"]) != SCHEMA_VERSION:
                raise UserError(f"{path}: results schema {main.attrs['schema_version']}")
            through = int(main.attrs["compacted_through"])
            for seq, p in results_io.list_parts(path):
                if seq > through:
                    try:
                        f = h5util.open_ro(p)
                    except FileNotFoundError:
                        raise
                    except OSError as exc:  # truncated by a crash: the next screen redoes it
                        warnings.warn(f"skipped unreadable results part {p}: {exc}",
                                      stacklevel=2)  # fmt: skip
                        if skipped is not None:
                            skipped.append(f"{p}: unreadable")
                        continue
                    why = results_io.verify(f)  # parts are small: checked on every open
                    if why is not None:
                        f.close()
                        warnings.warn(f"skipped corrupt results part {p}: {why}", stacklevel=2)
                        if skipped is not None:
                            skipped.append(f"{p}: {why}")
                        continue
                    files.append(f)
            return files
        except FileNotFoundError:
            for f in files:
                f.close()
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _raw(files) -> tuple[dict, dict]:
    """Concatenated ligand and chunk columns of all files, with source file and row."""
    lig, chk = collections.defaultdict(list), collections.defaultdict(list)
    for s, f in enumerate(files):
        g = results_io.load_group(f, "ligands")
        for k, v in g.items():
            lig[k].append(v)
        n = len(g["index"])
        lig["_src"].append(np.full(n, s, np.int32))
        lig["_row"].append(np.arange(n, dtype=np.int64))
        for k, v in results_io.load_group(f, "chunks").items():
            chk[k].append(v)

    def cat(d):
        return {
            k: np.concatenate(v)
            if isinstance(v[0], np.ndarray)
            else h5util.text_array(list(itertools.chain.from_iterable(v)))
            for k, v in d.items()
        }

    return cat(lig), cat(chk)


def _cat_chunks(files) -> dict:
    """The chunk tables of all files, concatenated (one row per committed chunk)."""
    chk = collections.defaultdict(list)
    for f in files:
        for k, v in results_io.load_group(f, "chunks").items():
            chk[k].append(v)
    return {
        k: np.concatenate(v)
        if isinstance(v[0], np.ndarray)
        else h5util.text_array(list(itertools.chain.from_iterable(v)))
        for k, v in chk.items()
    }


class ResultsView:
    """Read-only results: ``table`` (numpy columns sorted by ligand index), ``poses(i)``,
    ``meta``, ``chunks`` (per-chunk time series), ``rank_stats()``, ``sessions``."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise UserError(f"results store {self.path} not found")
        self.skipped: list[str] = []  # damaged parts left out (a screen docks them again)
        self._files = _open_sources(self.path, self.skipped)
        main = self._files[0]
        self.meta: dict = json.loads(main.attrs["meta_json"])
        self.sessions: list = json.loads(main.attrs["sessions_json"])
        for f in self._files[1:]:
            if "meta_json" in f.attrs:
                self.sessions.append({"session": int(f.attrs["session"]),
                                      "t_start": float(f.attrs["t_start"]),
                                      "meta": json.loads(f.attrs["meta_json"])})  # fmt: skip
        self.stats: list = results_io.json_attr(main, "stats_json", [])
        self.stats += [json.loads(f.attrs["stats_json"]) for f in self._files[1:]
                       if "stats_json" in f.attrs]  # fmt: skip
        self.n_parts = len(self._files) - 1
        self.chunks = _cat_chunks(self._files)
        self._table: dict[str, np.ndarray] | None = None
        self._pose_off: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """Every row in memory (see the module docstring), loaded on first use."""
        if self._table is None:
            self._load_table()
        return self._table

    def _load_table(self) -> None:
        lig, _ = _raw(self._files)
        self.raw_rows = len(lig["index"])
        # per index the first committed row wins, except that any row beats a DOCK_ERROR
        # failure (a ligand whose chunk raised twice is docked once more on resume)
        dock_err = (lig["status"] != 0) & (lig["reason"] == int(Reason.DOCK_ERROR))
        order = np.lexsort((np.arange(len(lig["index"])), dock_err, lig["index"]))
        keep = np.ones(len(order), bool)
        keep[1:] = lig["index"][order][1:] != lig["index"][order][:-1]
        sel = order[keep]
        self.retried = int(np.count_nonzero(dock_err[order[~keep]]))  # superseded failures
        self.duplicates = int(len(order) - len(sel)) - self.retried
        self._src, self._row = lig.pop("_src")[sel], lig.pop("_row")[sel]
        t = {k: v[sel] for k, v in lig.items()}
        t["status_code"] = t["status"]
        t["status"] = STATUS_NAMES[np.clip(t["status"], 0, 1)]
        t["reason_name"] = h5util.text_array([Reason(int(r)).name for r in t["reason"]])
        t["clash"] = clash_flag(t["affinity"])
        self._table = t

    def iter_blocks(self, block_rows: int | None = None, text: bool = True):
        """Deduplicated rows in blocks of at most ``block_rows``: dicts of numpy columns
        (``LIGAND_DTYPE`` fields, ``status`` names, ``status_code``, ``clash`` (B,) bool,
        ``loc`` (B, ``LOC_FIELDS``) int64 for ``pose_values_at`` and ``text_at`` and, with
        ``text``, ``lig_id``, ``smiles``, ``message``, ``device`` as object arrays of str).
        ``block_rows`` default
        ``BLOCK_ROWS``. Memory: one block plus N/8 bytes."""
        block_rows = int(block_rows or BLOCK_ROWS)
        n_lig = self.meta.get("n_ligands")
        seen = np.zeros(int(n_lig) // 8 + 1 if n_lig else 0, dtype=np.uint8)  # 1 bit per index
        for s, f in enumerate(self._files):
            g = f["ligands"]
            n = int(g["rows"].shape[0])
            pv = pc = tx = 0
            for start in range(0, n, block_rows):
                stop = min(n, start + block_rows)
                rows = g["rows"][start:stop]
                lens = g["text_len"][start:stop].astype(np.int64)
                m = rows["n_poses"].astype(np.int64)
                pvs = pv + np.concatenate([[0], np.cumsum(m)[:-1]])
                pcs = pc + np.concatenate([[0], np.cumsum(m * rows["n_atoms"])[:-1]])
                pv, pc = pv + int(m.sum()), pc + int((m * rows["n_atoms"]).sum())
                idx = rows["index"].astype(np.int64)
                if idx.size and int(idx.max()) >= seen.size * 8:  # grow geometrically
                    size = max(int(idx.max()) // 8 + 1, 2 * seen.size)
                    seen = np.concatenate([seen, np.zeros(size - seen.size, np.uint8)])
                fresh = (seen[idx >> 3] & (1 << (idx & 7)).astype(np.uint8)) == 0
                _, first = np.unique(idx, return_index=True)
                once = np.zeros(idx.size, bool)
                once[first] = True
                keep = np.flatnonzero(fresh & once)
                np.bitwise_or.at(seen, idx[keep] >> 3, (1 << (idx[keep] & 7)).astype(np.uint8))
                block = {k: rows[k][keep] for k in rows.dtype.names}
                block["status_code"] = block["status"]
                block["status"] = STATUS_NAMES[np.clip(block["status"], 0, 1)]
                block["clash"] = clash_flag(block["affinity"])
                txs = tx + np.concatenate([[0], np.cumsum(lens.sum(axis=1))[:-1]])
                block["loc"] = np.stack([np.full(idx.size, s), np.arange(start, stop), pvs, pcs,
                                         m, rows["n_atoms"], txs, *lens.T],
                                        axis=1)[keep].astype(np.int64)  # fmt: skip
                ntext = int(lens.sum())
                if text:
                    raw = g["text"][tx : tx + ntext].tobytes()
                    ends = np.cumsum(lens.reshape(-1)).reshape(lens.shape)
                    starts = ends - lens
                    for k, c in enumerate(results_io.LIGAND_TEXT):
                        block[c] = h5util.text_array([
                            raw[a:b].decode("utf-8", "surrogateescape")
                            for a, b in zip(starts[keep, k].tolist(), ends[keep, k].tolist())
                        ])  # fmt: skip
                tx += ntext
                yield block

    def text_at(self, locs) -> dict[str, np.ndarray]:
        """The text columns (``LIGAND_TEXT``, object arrays of str) of the rows at ``locs``
        (K, ``LOC_FIELDS``) from blocks read with ``text=False``: rows near each other are read
        as one slice, so a top-K reads and decodes about K rows' text, not the store's."""
        locs = np.asarray(locs, np.int64).reshape(-1, LOC_FIELDS)
        out = {c: [""] * len(locs) for c in results_io.LIGAND_TEXT}
        order = np.lexsort((locs[:, 6], locs[:, 0])).tolist()
        k = 0
        while k < len(order):
            s, lo = int(locs[order[k], 0]), int(locs[order[k], 6])
            run, hi = [], lo
            while (
                k < len(order)
                and int(locs[order[k], 0]) == s
                and locs[order[k], 6] - hi < TEXT_SPAN
            ):
                run.append(order[k])
                hi = max(hi, int(locs[order[k], 6] + locs[order[k], 7:].sum()))
                k += 1
            raw = self._files[s]["ligands/text"][lo:hi].tobytes()
            for r in run:
                a = int(locs[r, 6]) - lo
                for c, n in zip(results_io.LIGAND_TEXT, locs[r, 7:].tolist()):
                    out[c][r] = raw[a : a + n].decode("utf-8", "surrogateescape")
                    a += n
        return {c: h5util.text_array(v) for c, v in out.items()}

    def pose_values_at(self, loc) -> tuple[np.ndarray, np.ndarray]:
        """(coords (M, n, 3) float32 A, values (M, 3): affinity, inter, intra) of one row's
        poses, ``loc`` a row of a block's ``loc`` column."""
        s, row, pv, pc, m, n = (int(v) for v in loc[:6])
        g = self._files[s]["ligands"]
        values = g["pose_values"][pv : pv + m]
        coords = g["pose_coords"][pc : pc + m * n]
        return coords.reshape(m, n, 3), values.reshape(m, 3)

    def __len__(self) -> int:
        return int(len(self.table["index"]))

    def row_of(self, index: int) -> int:
        idx = self.table["index"]
        r = int(np.searchsorted(idx, index))
        if r >= len(idx) or idx[r] != index:
            raise KeyError(f"ligand {index} has no result in {self.path}")
        return r

    def poses(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(coords (M, n, 3) float32, affinity (M,)) of ligand with global index ``i``."""
        r = self.row_of(int(i))
        src, row = int(self._src[r]), int(self._row[r])
        if src not in self._pose_off:
            rows = self._files[src]["ligands/rows"]
            self._pose_off[src] = results_io.pose_offsets(rows["n_poses"], rows["n_atoms"])
        pv, pc = self._pose_off[src]
        m, n = int(self.table["n_poses"][r]), int(self.table["n_atoms"][r])
        return results_io.read_poses(self._files[src], row, m, n, int(pv[row]), int(pc[row]))

    def rank_stats(self) -> dict[str, np.ndarray]:
        """Per rank over all sessions: ligands, chunks, busy_s, wall_s, busy_fraction, device.

        Only docking chunks count (chunk_id >= 0; the screen stores prep failures as chunk -1).

        wall_s sums the chunks' wall_s when the screen passed it, else it is the span of that
        rank's chunk completions per session (first chunk start to last t_done).
        """
        c = self.chunks
        ranks = np.unique(c["rank"]) if len(c["rank"]) else np.zeros(0, np.int32)
        out = {k: [] for k in ("rank", "device", "ligands", "chunks", "busy_s", "wall_s")}
        for r in ranks.tolist():
            m = (c["rank"] == r) & (c["n"] > 0) & (c["chunk_id"] >= 0)
            if not m.any():
                continue
            out["rank"].append(r)
            out["device"].append(str(c["device"][m][-1]))
            out["ligands"].append(int(c["n"][m].sum()))
            out["chunks"].append(int(m.sum()))
            out["busy_s"].append(float(c["busy_s"][m].sum()))
            wall = float(c["wall_s"][m].sum())
            if wall <= 0:
                for sess in np.unique(c["session"][m]).tolist():
                    ms = m & (c["session"] == sess)
                    wall += float(c["t_done"][ms].max() - (c["t_done"][ms] - c["busy_s"][ms]).min())
            out["wall_s"].append(wall)
        res = {k: np.asarray(v) for k, v in out.items()}
        res["device"] = h5util.text_array(out["device"])
        wall = res["wall_s"].astype(np.float64)
        res["busy_fraction"] = np.divide(
            res["busy_s"], wall, out=np.zeros_like(wall), where=wall > 0
        )
        return res

    def describe(self) -> dict:
        """Counts, failures by reason, best and median affinity, clash-flagged ligands, per-rank
        statistics; streamed (``iter_blocks``), the median exact to 0.001 kcal/mol."""
        total = ok = clashes = 0
        reasons: collections.Counter = collections.Counter()
        best = np.inf
        hist = np.zeros(len(_MEDIAN_EDGES) + 1, dtype=np.int64)
        for b in self.iter_blocks(text=False):
            good = b["status_code"] == 0
            total += int(good.size)
            ok += int(good.sum())
            clashes += int((b["clash"] & good).sum())
            for code, cnt in zip(*np.unique(b["reason"][~good], return_counts=True)):
                reasons[Reason(int(code)).name] += int(cnt)
            aff = b["affinity"][good].astype(np.float64)
            aff = aff[np.isfinite(aff)]
            if aff.size:
                best = min(best, float(aff.min()))
                hist += np.bincount(np.searchsorted(_MEDIAN_EDGES, aff), minlength=hist.size)
        n_lig = self.meta.get("n_ligands")
        rs = self.rank_stats()
        return {
            "kind": "results", "path": self.path, "schema_version": SCHEMA_VERSION,
            "total": total, "ok": ok, "failed": total - ok, "clash_flagged": clashes,
            "n_ligands": None if n_lig is None else int(n_lig),
            "missing": None if n_lig is None else int(n_lig) - total,
            "failures_by_reason": dict(sorted(reasons.items())),
            "best_affinity": float(best) if np.isfinite(best) else None,
            "median_affinity": _hist_median(hist),
            "chunks": int(np.count_nonzero(self.chunks["n"] > 0)), "sessions": len(self.sessions),
            "uncompacted_parts": self.n_parts,
            "duplicates": sum(int(f["ligands/rows"].shape[0]) for f in self._files) - total,
            "ranks": [
                {"rank": int(r), "device": str(d), "ligands": int(n), "busy_fraction": float(b)}
                for r, d, n, b in zip(rs["rank"], rs["device"], rs["ligands"], rs["busy_fraction"])
            ],
            "meta": {k: self.meta[k] for k in ("receptor_sha256", "features", "versions")
                     if k in self.meta},
            "bytes": int(os.path.getsize(self.path)),
        }  # fmt: skip

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    def __enter__(self) -> ResultsView:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# Bins of the streamed median: 0.001 kcal/mol from -100 to +100 (outside: the end bins).
_MEDIAN_EDGES = np.round(np.arange(-100.0, 100.0005, 0.001), 3)


def _hist_median(hist: np.ndarray) -> float | None:
    """Median of the values counted in ``hist`` (bins of ``_MEDIAN_EDGES``), to 0.001."""
    n = int(hist.sum())
    if n == 0:
        return None
    cum = np.cumsum(hist)
    lo = int(np.searchsorted(cum, (n + 1) // 2))  # the lower middle value's bin
    hi = int(np.searchsorted(cum, n // 2 + 1))  # the upper middle value's bin

    def mid(k: int) -> float:
        k = min(max(k, 1), len(_MEDIAN_EDGES) - 1)
        return float(0.5 * (_MEDIAN_EDGES[k - 1] + _MEDIAN_EDGES[k]))

    return 0.5 * (mid(lo) + mid(hi))


def open_results(path: str) -> ResultsView:
    return ResultsView(path)


def validate_results(path: str, check_features: bool = True) -> dict:
    """Counts and consistency checks of a results store (main file plus live parts).

    Returns ``{'valid', 'errors', 'total', 'ok', 'failed', 'duplicates', 'n_ligands',
    'missing', 'parts'}``; ``valid`` is False when any check fails (``errors`` says which).
    """
    errors: list[str] = []
    with ResultsView(path) as v:
        t, n = v.table, len(v)
        errors.extend(f"damaged part {x}" for x in v.skipped)
        if v.duplicates:
            errors.append(f"{v.duplicates} duplicate ligand rows")
        n_lig = v.meta.get("n_ligands")
        if n_lig is not None and n and (t["index"].min() < 0 or t["index"].max() >= int(n_lig)):
            errors.append(f"ligand index outside [0, {n_lig})")
        ok = t["status_code"] == 0
        if np.any((t["status_code"] != 0) & (t["status_code"] != 1)):
            errors.append("status codes other than 0/1")
        no_pose = t["n_poses"] < 1
        hit = v.meta.get("hit_threshold")
        if hit is not None:  # the pose policy keeps poses for hits only
            no_pose &= t["affinity"] <= float(hit)
        if np.any(ok & (no_pose | ~np.isfinite(t["affinity"]) | (t["reason"] != 0))):
            errors.append("ok rows without poses, with a non-finite affinity or a reason")
        if np.any(~ok & ((t["n_poses"] != 0) | (t["reason"] == 0))):
            errors.append("failed rows with poses or without a reason")
        if any(not s for s in t["lig_id"]):
            errors.append("empty ligand ids")
        if int(v.chunks["n"].sum()) != v.raw_rows:
            errors.append(f"chunk table counts {int(v.chunks['n'].sum())} rows, found {v.raw_rows}")
        errors.extend(_check_ragged(v._files))
        feats = v.meta.get("features")
        if check_features and feats and os.path.isfile(str(feats)) and n:
            from hpcfold.store.feature_reader import FeatureStore

            with FeatureStore(str(feats)) as fs:
                if n_lig is not None and fs.n_ligands != int(n_lig):
                    errors.append(f"feature store has {fs.n_ligands} ligands, meta {n_lig}")
                elif int(t["index"].max()) < fs.n_ligands:
                    want = fs.ids(t["index"])
                    bad = sum(a != b for a, b in zip(want, t["lig_id"].tolist()))
                    if bad:
                        errors.append(f"{bad} ligand ids differ from the feature store's")
        return {
            "valid": not errors, "errors": errors, "total": n, "ok": int(ok.sum()),
            "failed": int((~ok).sum()), "duplicates": v.duplicates,
            "n_ligands": None if n_lig is None else int(n_lig),
            "missing": None if n_lig is None else int(n_lig) - n, "parts": v.n_parts,
        }  # fmt: skip


def _check_ragged(files) -> list[str]:
    """Sizes of the packed text and pose datasets agree with the row columns, file by file."""
    errors = []
    for f in files:
        why = results_io.verify(f)  # every file's CRC-32s (bounded memory)
        if why is not None:
            errors.append(f"{f.filename}: {why}")
        for group, (_, text_cols, _) in results_io.GROUPS.items():
            g = f[group]
            lens = g["text_len"][()]
            if lens.shape != (g["rows"].shape[0], len(text_cols)) or np.any(lens < 0):
                errors.append(f"{f.filename}: bad {group}/text_len")
            elif int(lens.sum()) != g["text"].shape[0]:
                errors.append(f"{f.filename}: {group}/text size does not match text_len")
        rows = f["ligands/rows"][()]
        m, n = rows["n_poses"].astype(np.int64), rows["n_atoms"].astype(np.int64)
        if np.any(m < 0) or np.any(n < 0):
            errors.append(f"{f.filename}: negative n_poses or n_atoms")
        if int(m.sum()) != f["ligands/pose_values"].shape[0]:
            errors.append(f"{f.filename}: pose_values size does not match n_poses")
        if int((m * n).sum()) != f["ligands/pose_coords"].shape[0]:
            errors.append(f"{f.filename}: pose_coords size does not match n_poses * n_atoms")
    return errors
