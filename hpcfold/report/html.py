"""``hpcfold report``: one static HTML page (index.html) with PNG plots for a results store.

Sections: summary (counts, run metadata), score distribution, top hits (2D depictions and a
table), throughput over time and busy % per rank, failures by reason and, when ligands carry
activity labels (see ``hpcfold.report.labels``), ROC curve and enrichment (EF1%, EF5%, ROC
AUC). Failed ligands that carry a label rank last (tied) in the enrichment, so failures cost
recall as they would in a real screen.
"""

from __future__ import annotations

import html
import json
import os
import time

import numpy as np

from hpcfold.errors import UserError
from hpcfold.report import metrics, plots
from hpcfold.report.export import ok_mask, reason_name, text
from hpcfold.report.labels import Labels, table_labels

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


def timeline(view) -> tuple[np.ndarray, float | None, float]:
    """(t_done per docked ligand (L,) unix s, screen start or None, wall seconds of docking).

    Wall time sums the sessions' spans (a resumed screen has several sessions).
    """
    c = docking_chunks(view)
    t_done = np.repeat(np.asarray(c["t_done"], np.float64), np.asarray(c["n"], np.int64))
    spans = _session_spans(view, c)
    wall = sum(max(0.0, end - begin) for begin, end in spans.values())
    return t_done, (min(b for b, _ in spans.values()) if spans else None), wall


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


def _hits_table(table: dict, rows: np.ndarray, labels: Labels | None) -> str:
    head = "<tr><th>#</th><th>ligand</th><th>affinity</th><th>inter</th><th>intra</th>"
    head += "<th>label</th>" if labels is not None else ""
    head += "<th>SMILES</th></tr>"
    body = []
    for n, i in enumerate(rows, 1):
        lab = ""
        if labels is not None:
            lab = (
                f"<td>{'active' if labels.active[i] else 'decoy'}</td>"
                if labels.known[i]
                else "<td></td>"
            )
        body.append(
            f"<tr><td class=num>{n}</td><td>{_e(table['lig_id'][i])}</td>"
            f"<td class=num>{float(table['affinity'][i]):.2f}</td>"
            f"<td class=num>{float(table['inter'][i]):.2f}</td>"
            f"<td class=num>{float(table['intra'][i]):.2f}</td>{lab}"
            f"<td class=smiles>{_e(table['smiles'][i])}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _failure_table(table: dict, failed: np.ndarray) -> tuple[dict[str, int], str]:
    counts: dict[str, int] = {}
    example: dict[str, str] = {}
    for i in failed:
        name = reason_name(table["reason"][i])
        counts[name] = counts.get(name, 0) + 1
        example.setdefault(name, f"{text(table['lig_id'][i])}: {text(table['message'][i])}")
    if not counts:
        return counts, "<p>No failures: every ligand was docked.</p>"
    body = "".join(
        f"<tr><td>{_e(k)}</td><td class=num>{v}</td><td>{_e(example[k][:200])}</td></tr>"
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return counts, f"<table><tr><th>reason</th><th>ligands</th><th>example</th></tr>{body}</table>"


def _enrichment_section(table, ok, labels: Labels | None, out_dir: str) -> str:
    """HTML for the ROC/enrichment section; writes roc.png when both classes are present (and
    removes a stale one otherwise)."""
    roc_path = os.path.join(out_dir, ROC_PNG)
    if os.path.exists(roc_path):
        os.remove(roc_path)
    if labels is None:
        return (
            "<p>No activity labels (name the input files <i>actives</i> / <i>decoys</i>, or "
            "pass <code>--labels</code> with an id,label CSV): no ROC or enrichment.</p>"
        )
    affinity = np.asarray(table["affinity"], dtype=np.float64)
    rows = np.flatnonzero(labels.known)
    worst = float(affinity[ok].max()) + 1.0 if ok.any() else 0.0
    scores = np.where(ok[rows], affinity[rows], worst)  # failures rank last, tied
    result = metrics.enrichment(scores, labels.active[rows], EF_FRACTIONS)
    n_act = int(labels.active[rows].sum())
    if result is None:
        return (
            f"<p>Labels from {_e(labels.origin)}: {n_act} actives, {rows.size - n_act} decoys; "
            "both classes are needed for ROC and enrichment.</p>"
        )
    fpr, tpr = metrics.roc_curve(scores, labels.active[rows])
    plots.roc(fpr, tpr, result.auc, roc_path, result.ef)
    kv = [("actives", str(result.n_actives)), ("decoys", str(result.n_decoys))]
    kv.append(("ROC AUC", f"{result.auc:.3f}"))
    for f in EF_FRACTIONS:
        n = metrics.n_selected(rows.size, f)
        kv.append((f"EF{100 * f:g}%", f"{result.ef[f]:.2f} (top {n} of {rows.size})"))
    failed = int((~ok[rows]).sum())
    note = f" {failed} labelled ligands failed and rank last." if failed else ""
    return (
        f"<p class=note>Labels from {_e(labels.origin)}; ranking by best affinity.{note}</p>"
        + _kv_table(kv)
        + _img(ROC_PNG, "ROC curve")
    )


def write_report(results_path: str, out_dir: str, labels_csv: str | None = None, top: int = 12):
    """Write ``out_dir/index.html`` and its PNGs for a results store; returns the HTML path."""
    from hpcfold.store.results import open_results

    if not os.path.exists(results_path):
        raise UserError(f"results store {results_path} not found")
    os.makedirs(out_dir, exist_ok=True)
    with open_results(str(results_path)) as view:
        page = _render(view, str(results_path), out_dir, labels_csv, top)
    out = os.path.join(out_dir, "index.html")
    with open(out + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(out + ".tmp", out)
    return out


def _render(view, results_path: str, out_dir: str, labels_csv: str | None, top: int) -> str:
    """Write the PNGs into ``out_dir``; return the page's HTML text."""
    table, meta = view.table, dict(view.meta)
    ok = ok_mask(table)
    affinity = np.asarray(table["affinity"], dtype=np.float64)
    index = np.asarray(table["index"])
    hits = np.flatnonzero(ok)
    hits = hits[np.lexsort((index[hits], affinity[hits]))]
    failed = np.flatnonzero(~ok)
    labels = table_labels(view, results_path, table, labels_csv)
    p = lambda name: os.path.join(out_dir, name)  # noqa: E731

    hit_labels = labels.active[hits] if labels is not None and labels.known[hits].all() else None
    plots.score_distribution(affinity[hits], p("scores.png"), hit_labels)
    top_rows = hits[:top]
    plots.top_hits(
        [text(s) for s in np.asarray(table["smiles"])[top_rows]],
        [text(s) for s in np.asarray(table["lig_id"])[top_rows]],
        affinity[top_rows],
        p("top_hits.png"),
        n=top,
    )
    t_done, start, wall = timeline(view)
    plots.throughput(t_done, p("throughput.png"), t_start=start)
    ws = worker_stats(view)
    plots.busy_per_rank(
        ws["rank"], ws["busy_fraction"], p("busy.png"), [text(d) for d in ws["device"]]
    )
    counts, failure_html = _failure_table(table, failed)
    plots.failures_by_reason(counts, p("failures.png"))
    enrich_html = _enrichment_section(table, ok, labels, out_dir)

    rate = f"{t_done.size / wall:.2f} ligands/s" if wall > 0 else "n/a"
    summary = [
        ("results store", os.path.abspath(results_path)),
        ("ligands", str(len(index))),
        ("docked", str(hits.size)),
        ("failed", str(failed.size)),
        ("best affinity", f"{affinity[hits[0]]:.2f} kcal/mol" if hits.size else "n/a"),
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
{_hits_table(table, hits[: max(top, 50)], labels)}
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
