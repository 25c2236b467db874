"""``hpcfold inspect FILE.h5 [--json]``: describe any hpcfold store (features or results).

Prints kind, schema version, counts, failures by reason and buckets (features) or affinity
summary, clash-flagged ligands and per-rank statistics (results; streamed, bounded memory). ``--json`` prints one JSON object that always has the
integer keys ``total``, ``ok`` and ``failed``. A prep run that did not finish (shards but no
index) is described from its shards.
"""

from __future__ import annotations

import json
import os

from hpcfold.errors import UserError, cut, shorten

HELP = "describe an hpcfold store (features or results)"


def add_arguments(parser) -> None:
    parser.add_argument("path", metavar="FILE.h5", help="feature store or results store")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def describe(path: str) -> dict:
    """The description of the store at ``path`` (see the module docstring)."""
    from hpcfold.commands.store_checks import store_kind
    from hpcfold.store import feature_reader, features, results_io, results_view

    if not os.path.exists(path) and os.path.isdir(features.shards_dir(path)):
        return _unfinalized(path)
    kind = store_kind(path)  # UserError: missing, a folder, not HDF5, truncated
    try:
        if kind == feature_reader.INDEX_KIND:
            with feature_reader.FeatureStore(path) as store:
                return store.describe()
        if kind == results_io.MAIN_KIND:
            with results_view.ResultsView(path) as view:
                return view.describe()
    except (OSError, KeyError) as exc:  # a damaged store (a dataset cut or missing)
        raise UserError(f"cannot read {path}: {cut(exc, 160)}") from None
    raise UserError(f"{path} is not an hpcfold store (kind={shorten(kind)})")


def _unfinalized(path: str) -> dict:
    """Counts from the committed shards of a prep run that has not been finalized yet."""
    import collections

    from hpcfold.store import features, h5util
    from hpcfold.types import SCHEMA_VERSION, Reason

    sdir = features.shards_dir(path)
    keys, reasons = set(), collections.Counter()
    for rel in features.list_sources(sdir):
        with h5util.open_ro(os.path.join(sdir, rel)) as f:
            rows = f["ligands/rows"][()]
            k, r = rows["key"], rows["reason"]
        for kk, rr in zip(map(tuple, k.tolist()), r.tolist()):
            if kk not in keys:
                keys.add(kk)
                if rr:
                    reasons[Reason(rr).name] += 1
    failed = int(sum(reasons.values()))
    return {
        "kind": "features (not finalized: rerun the same hpcfold prep)", "path": path,
        "schema_version": SCHEMA_VERSION, "total": len(keys), "ok": len(keys) - failed,
        "failed": failed, "failures_by_reason": dict(sorted(reasons.items())),
        "shards": len(features.list_sources(sdir)), "buckets": [],
        "finalized": False,
    }  # fmt: skip


def format_text(d: dict) -> str:
    lines = [
        f"{d['path']}: hpcfold {d['kind']} store, schema version {d['schema_version']}",
        f"  ligands: {d['total']} total, {d['ok']} ok, {d['failed']} failed",
    ]
    if d.get("missing"):
        lines.append(f"  missing: {d['missing']} of {d['n_ligands']} ligands have no result yet")
    for name, n in d.get("failures_by_reason", {}).items():
        lines.append(f"    {name:<20} {n}")
    if d.get("buckets"):
        lines.append("  buckets (atoms, torsions, intra pairs): ok ligands")
        for b in d["buckets"]:
            if b["count"]:
                lines.append(f"    {b['name']:<10} ({b['n_atoms']}, {b['n_torsions']}, "
                             f"{b['n_pairs']}): {b['count']}")  # fmt: skip
    if d["kind"] == "features":
        lines.append(f"  inputs: {', '.join(d['inputs'])}")
        lines.append(f"  shards: {d['shards']}, renamed duplicate ids: {d['renamed_ids']}, "
                     f"{d['bytes_per_ligand']:.0f} bytes/ligand")  # fmt: skip
    if d["kind"] == "results":
        if d.get("clash_flagged"):
            lines.append(f"  clash-flagged: {d['clash_flagged']} docked ligands have no "
                         "clash-free pose (best affinity > 0 kcal/mol)")  # fmt: skip
        if d.get("best_affinity") is not None:
            lines.append(f"  affinity: best {d['best_affinity']:.2f}, median "
                         f"{d['median_affinity']:.2f} kcal/mol")  # fmt: skip
        lines.append(f"  chunks: {d['chunks']}, sessions: {d['sessions']}, "
                     f"uncompacted parts: {d['uncompacted_parts']}")  # fmt: skip
        for r in d.get("ranks", []):
            lines.append(f"    rank {r['rank']:>4} {r['device']:<12} {r['ligands']:>9} ligands, "
                         f"busy {100 * r['busy_fraction']:.1f}%")  # fmt: skip
        if d.get("meta", {}).get("receptor_sha256"):
            lines.append(f"  receptor sha256: {d['meta']['receptor_sha256']}")
    return "\n".join(lines)


def main(args) -> int:
    d = describe(args.path)
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True, default=str))
    else:
        print(format_text(d))
    return 0
