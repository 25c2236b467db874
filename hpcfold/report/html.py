"""``hpcfold report``: one static HTML page (index.html) with PNG plots for a results store.

Sections: summary (counts, run metadata), score distribution, top hits (2D depictions and a
table), throughput over time and busy % per rank, failures by reason and, when ligands carry
activity labels (see ``hpcfold.report.labels``), ROC curve and enrichment (EF1%, EF5%, ROC
AUC). Failed ligands that carry a label rank last (tied) in the enrichment, so failures cost
recall as they would in a real screen. Ligands whose best pose is not clash-free
(``results_view.clash_flag``) are counted and left out of the top hits and the score plot unless
``include_clashes``.

The store is streamed (``ResultsView.iter_blocks``): memory is one block, the top hits, the
failure counts and the labelled ligands' scores (for ROC), whatever the number of ligands.
"""

from __future__ import annotations

import html
import json
import os
import time

import numpy as np

from hpcfold.errors import UserError
from hpcfold.report import metrics, plots
from hpcfold.report.export import (
    best_first,
    feature_store_path,
    hit_mask,
    reason_name,
    take_rows,
    text,
)
from hpcfold.report.labels import label_of_name, read_labels_csv

PNG_NAMES = ("scores.png", "top_hits.png", "throughput.png", "busy.png", "failures.png")
ROC_PNG = "roc.png"
EF_FRACTIONS = (0.01, 0.05)


def docking_chunks(view) -> dict[str, np.ndarray]:
    """The results store's chunk table without empty chunks and without the rank-0 record of
    ligands that already failed in prep (device ``prep``): the docking time series."""
    c = view.chunks
    if not len(c["n"]):
        return {k: np.asarray(v)[:0] for k, v in c.items()}
    device = np.array([text(d) for d in c["device"]], dtype=object)
    keep = (np.asarray(c["n"]) > 0) & (device != "prep")
    return {k: np.asarray(v)[keep] for k, v in c.items()}


def _session_spans(view, c: dict) -> dict[int, tuple[float, float]]:
    """{session: (start, end)} of the docking: from the session's start (writer opened; else the
    first chunk's start) to its last stored chunk."""
    starts = {int(s["session"]): float(s["t_start"]) for s in view.sessions if "t_start" in s}
    spans = {}
    for sess in np.unique(c["session"]).tolist():
        m = c["session"] == sess
        first = float(np.min(c["t_done"][m] - c["busy_s"][m]))  # first chunk's start
        spans[int(sess)] = (min(starts.get(int(sess), first), first), float(np.max(c["t_done"][m])))
    return spans


def timeline(view) -> tuple[np.ndarray, np.ndarray, float | None, float]:
    """(t_done (C,) unix s and ligands (C,) of each docking chunk, screen start or None, wall
    seconds of docking). Per chunk, not per ligand: the size does not grow with the library.

    Wall time sums the sessions' spans (a resumed screen has several sessions).
    """
    c = docking_chunks(view)
    spans = _session_spans(view, c)
    wall = sum(max(0.0, end - begin) for begin, end in spans.values())
    start = min(b for b, _ in spans.values()) if spans else None
    return np.asarray(c["t_done"], np.float64), np.asarray(c["n"], np.int64), start, wall


def worker_stats(view) -> dict[str, np.ndarray]:
    """Per docking rank: rank (R,), device (R,) str, ligands (R,), busy_fraction (R,) = kernel
    seconds of its chunks / wall seconds of the sessions it worked in (start-up and compilation
    count as busy only when they happened inside a chunk)."""
    c = docking_chunks(view)
    spans = _session_spans(view, c)
    out: dict[str, list] = {"rank": [], "device": [], "ligands": [], "busy_fraction": []}
    for r in np.unique(c["rank"]).tolist():
        m = c["rank"] == r
        wall = sum(spans[int(s)][1] - spans[int(s)][0] for s in np.unique(c["session"][m]).tolist())
        busy = float(np.sum(c["busy_s"][m]))
        out["rank"].append(int(r))
        out["device"].append(text(c["device"][np.flatnonzero(m)[-1]]))
        out["ligands"].append(int(np.sum(c["n"][m])))
        out["busy_fraction"].append(busy / wall if wall > 0 else 0.0)
    return {k: np.asarray(v) for k, v in out.items()}


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
.smiles { font-family: monospace; font-size: 0.85em; word-break: break-all; }
.note { color: #666; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.6em; font-size: 0.85em; overflow-x: auto; }
"""


def _e(x) -> str:
    return html.escape(text(x))


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _meta_html(meta: dict) -> str:
    """The run metadata: scalars and small dicts as a table, the config text verbatim."""
    rows = []
    for key in sorted(k for k in meta if k != "config"):
        value = meta[key]
        s = (
            json.dumps(value, sort_keys=True, default=str)
            if isinstance(value, dict | list)
            else text(value)
        )
        rows.append((str(key), s if len(s) <= 400 else s[:400] + " ..."))
    out = _kv_table(rows)
    if meta.get("config"):
        out += f"<p>Screen config:</p><pre>{_e(meta['config'])}</pre>"
    return out


def _img(name: str, alt: str) -> str:
    return f'<p><img src="{_e(name)}" alt="{_e(alt)}"></p>'


def _hits_table(top: dict, labels: np.ndarray | None) -> str:
    """``top``: the best hits as one block (best first); ``labels`` (H,) int8 1/0/-1 or None."""
    head = "<tr><th>#</th><th>ligand</th><th>affinity</th><th>inter</th><th>intra</th>"
    head += "<th>label</th>" if labels is not None else ""
    head += "<th>SMILES</th></tr>"
    body = []
    for n in range(len(top.get("index", ()))):
        lab = ""
        if labels is not None:
            lab = f"<td>{ {1: 'active', 0: 'decoy'}.get(int(labels[n]), '') }</td>"
        body.append(
            f"<tr><td class=num>{n + 1}</td><td>{_e(top['lig_id'][n])}</td>"
            f"<td class=num>{float(top['affinity'][n]):.2f}</td>"
            f"<td class=num>{float(top['inter'][n]):.2f}</td>"
            f"<td class=num>{float(top['intra'][n]):.2f}</td>{lab}"
            f"<td class=smiles>{_e(top['smiles'][n])}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _failure_table(counts: dict[str, int], example: dict[str, str]) -> str:
    if not counts:
        return "<p>No failures: every ligand was docked.</p>"
    body = "".join(
        f"<tr><td>{_e(k)}</td><td class=num>{v}</td><td>{_e(example[k][:200])}</td></tr>"
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"<table><tr><th>reason</th><th>ligands</th><th>example</th></tr>{body}</table>"


def _enrichment_section(scores, active, origin: str | None, out_dir: str) -> str:
    """HTML for the ROC/enrichment section from the labelled ligands' ``scores`` (L,) (failures
    already ranked last) and ``active`` (L,) bool; writes roc.png when both classes are present
    (and removes a stale one otherwise)."""
    roc_path = os.path.join(out_dir, ROC_PNG)
    if os.path.exists(roc_path):
        os.remove(roc_path)
    if origin is None or scores.size == 0:
        return (
            "<p>No activity labels (name the input files <i>actives</i> / <i>decoys</i>, or "
            "pass <code>--labels</code> with an id,label CSV): no ROC or enrichment.</p>"
        )
    result = metrics.enrichment(scores, active, EF_FRACTIONS)
    n_act = int(active.sum())
    if result is None:
        return (
            f"<p>Labels from {_e(origin)}: {n_act} actives, {scores.size - n_act} decoys; "
            "both classes are needed for ROC and enrichment.</p>"
        )
    fpr, tpr = metrics.roc_curve(scores, active)
    plots.roc(fpr, tpr, result.auc, roc_path, result.ef)
    kv = [("actives", str(result.n_actives)), ("decoys", str(result.n_decoys))]
    kv.append(("ROC AUC", f"{result.auc:.3f}"))
    for f in EF_FRACTIONS:
        n = metrics.n_selected(scores.size, f)
        kv.append((f"EF{100 * f:g}%", f"{result.ef[f]:.2f} (top {n} of {scores.size})"))
    return (
        f"<p class=note>Labels from {_e(origin)}; ranking by best affinity.{{failed_note}}</p>"
        + _kv_table(kv)
        + _img(ROC_PNG, "ROC curve")
    )


class _Labeller:
    """Activity labels per block (1 active, 0 decoy, -1 unknown): from a CSV of ids or from the
    input file each ligand was read from; ``origin`` None when nothing can carry a label."""

    def __init__(self, view, results_path: str, labels_csv: str | None):
        self.by_id, self.store, self.by_file = None, None, {}
        self.origin: str | None = None
        if labels_csv:
            self.by_id = read_labels_csv(labels_csv)
            self.origin = f"labels file {os.path.basename(labels_csv)}"
            return
        try:
            features = feature_store_path(view, results_path)
        except UserError:
            return  # the feature store moved: no labels from file names
        from hpcfold.store.features import FeatureStore

        store = FeatureStore(features)
        if all(label_of_name(p) is None for p in store.inputs):
            store.close()
            return
        self.store = store
        self.origin = "input file names (active / decoy in the file name)"

    def __call__(self, block: dict) -> np.ndarray:
        n = len(block["index"])
        out = np.full(n, -1, dtype=np.int8)
        if self.by_id is not None:
            for k, lig_id in enumerate(block["lig_id"]):
                lab = self.by_id.get(text(lig_id))
                if lab is not None:
                    out[k] = int(lab)
        elif self.store is not None:
            from hpcfold.report.labels import source_file

            for k, source in enumerate(self.store.sources(np.asarray(block["index"], np.int64))):
                name = source_file(source)
                if name not in self.by_file:
                    self.by_file[name] = label_of_name(name)
                if self.by_file[name] is not None:
                    out[k] = int(self.by_file[name])
        return out

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _enrichment(scores, active, failed, origin, out_dir: str) -> str:
    """The enrichment section from the per-block labelled scores; failed ligands rank last."""
    s = np.concatenate(scores) if scores else np.zeros(0)
    y = np.concatenate(active) if active else np.zeros(0, bool)
    bad = np.concatenate(failed) if failed else np.zeros(0, bool)
    ok_scores = s[~bad]
    worst = float(ok_scores.max()) + 1.0 if ok_scores.size else 0.0
    s = np.where(bad, worst, s)
    html_text = _enrichment_section(s, y, origin, out_dir)
    n_bad = int(bad.sum())
    note = f" {n_bad} labelled ligands failed and rank last." if n_bad else ""
    return html_text.replace("{failed_note}", note)


def write_report(
    results_path: str, out_dir: str, labels_csv: str | None = None, top: int = 12,
    include_clashes: bool = False,
):  # fmt: skip
    """Write ``out_dir/index.html`` and its PNGs for a results store; returns the HTML path."""
    from hpcfold.store.results import open_results

    if not os.path.exists(results_path):
        raise UserError(f"results store {results_path} not found")
    os.makedirs(out_dir, exist_ok=True)
    with open_results(str(results_path)) as view:
        page = _render(view, str(results_path), out_dir, labels_csv, top, include_clashes)
    from hpcfold.report.writers import AtomicFile

    out = os.path.join(out_dir, "index.html")
    page_file = AtomicFile(out)
    page_file.fh.write(page)
    page_file.commit()
    return out


HIST_EDGES = np.round(np.arange(-50.0, 50.0001, 0.1), 1)  # score plot bins, kcal/mol


def _render(view, results_path, out_dir, labels_csv, top: int, include_clashes: bool) -> str:
    """Write the PNGs into ``out_dir``; return the page's HTML text (one pass over the store)."""
    meta = dict(view.meta)
    p = lambda name: os.path.join(out_dir, name)  # noqa: E731
    n_total = n_docked = n_flagged = 0
    best = np.inf
    counts: dict[str, int] = {}
    example: dict[str, str] = {}
    hist = np.zeros((3, len(HIST_EDGES) - 1), dtype=np.int64)  # all, actives, decoys
    hits: dict | None = None
    scores, active, failed_lab = [], [], []
    n_unlabelled_hits = 0
    labeller = _Labeller(view, results_path, labels_csv)
    try:
        for block in view.iter_blocks():
            n_total += len(block["index"])
            aff = np.asarray(block["affinity"], dtype=np.float64)
            docked = (block["status_code"] == 0) & np.isfinite(aff)
            n_docked += int(docked.sum())
            n_flagged += int((docked & block["clash"]).sum())
            if docked.any():
                best = min(best, float(aff[docked].min()))
            for i in np.flatnonzero(~docked).tolist():
                name = reason_name(block["reason"][i])
                counts[name] = counts.get(name, 0) + 1
                example.setdefault(name, f"{text(block['lig_id'][i])}: {text(block['message'][i])}")
            lab = labeller(block) if labeller.origin is not None else None
            keep = hit_mask(block, None, include_clashes)
            shown = np.clip(np.searchsorted(HIST_EDGES, aff[keep], side="right") - 1, 0,
                            hist.shape[1] - 1)  # fmt: skip
            np.add.at(hist[0], shown, 1)
            if lab is not None:
                np.add.at(hist[1], shown[lab[keep] == 1], 1)
                np.add.at(hist[2], shown[lab[keep] == 0], 1)
                n_unlabelled_hits += int((lab[keep] < 0).sum())
                known = lab >= 0
                scores.append(aff[known])
                active.append(lab[known] == 1)
                failed_lab.append(~docked[known])
            cand = best_first(take_rows(block, np.flatnonzero(keep)), max(top, 50))
            hits = cand if hits is None else best_first(
                {c: np.concatenate([hits[c], cand[c]]) for c in hits}, max(top, 50)
            )  # fmt: skip
        hits = hits or {}
        top_labels = labeller(hits) if labeller.origin is not None and hits else None
    finally:
        labeller.close()
    n_failed = n_total - n_docked
    by_label = labeller.origin is not None and n_unlabelled_hits == 0
    plots.score_distribution(
        HIST_EDGES, hist[0], p("scores.png"), hist[1] if by_label else None,
        hist[2] if by_label else None,
        note=f", {n_flagged} clash-flagged left out" if n_flagged and not include_clashes else "",
    )  # fmt: skip
    top_n = {k: v[:top] for k, v in hits.items()}
    plots.top_hits(
        [text(x) for x in top_n.get("smiles", ())], [text(x) for x in top_n.get("lig_id", ())],
        np.asarray(top_n.get("affinity", ()), dtype=np.float64), p("top_hits.png"), n=top,
    )  # fmt: skip
    t_done, n_done, start, wall = timeline(view)
    plots.throughput(t_done, p("throughput.png"), t_start=start, counts=n_done)
    ws = worker_stats(view)
    plots.busy_per_rank(
        ws["rank"], ws["busy_fraction"], p("busy.png"), [text(d) for d in ws["device"]]
    )
    failure_html = _failure_table(counts, example)
    plots.failures_by_reason(counts, p("failures.png"))
    enrich_html = _enrichment(scores, active, failed_lab, labeller.origin, out_dir)
    hits_html = _hits_table(hits, top_labels)
    flagged_note = (
        "" if not n_flagged else
        f"<p class=note>{n_flagged} docked ligands have no clash-free pose (best affinity &gt; 0 "
        f"kcal/mol) and are {'shown' if include_clashes else 'left out'} here"
        f"{'' if include_clashes else ' (hpcfold report --include-clashes shows them)'}.</p>"
    )  # fmt: skip
    rate = f"{int(n_done.sum()) / wall:.2f} ligands/s" if wall > 0 else "n/a"
    summary = [
        ("results store", os.path.abspath(results_path)),
        ("ligands", str(n_total)),
        ("docked", str(n_docked)),
        ("clash-flagged (no clash-free pose)", str(n_flagged)),
        ("failed", str(n_failed)),
        ("best affinity", f"{best:.2f} kcal/mol" if np.isfinite(best) else "n/a"),
        ("wall time", f"{wall:.1f} s ({rate})" if wall > 0 else "n/a"),
        ("worker ranks", str(len(ws["rank"]))),
    ]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hpcfold report</title>
<style>{CSS}</style></head><body>
<h1>hpcfold screening report</h1>
<p class=note>Generated {_e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))}.</p>
<h2>Summary</h2>{_kv_table(summary)}
<h2>Score distribution</h2>{_img("scores.png", "score distribution")}
<h2>Top hits</h2>{_img("top_hits.png", "top hits")}
{flagged_note}{hits_html}
<h2>Enrichment</h2>{enrich_html}
<h2>Throughput</h2>{_img("throughput.png", "ligands per second over time")}
<h2>Busy % per rank</h2>
<p class=note>Per rank: seconds spent docking its chunks (first-chunk compilation included) / wall seconds of the screen, from its start to its last stored result.</p>
{_img("busy.png", "busy percent per rank")}
<h2>Failures</h2>{_img("failures.png", "failures by reason")}{failure_html}
<h2>Run metadata</h2>{_meta_html(meta)}
</body></html>
"""
    return page
