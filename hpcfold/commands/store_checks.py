"""Checks the store commands (``inspect``, ``export``, ``report``) run before reading or
writing anything: the input is an hpcfold store of the right kind that HDF5 can open (a
missing, non-HDF5 or truncated file is a one-line UserError), and the output can be created.
h5py only."""

from __future__ import annotations

import os

from hpcfold.errors import UserError, cut, shorten

KINDS = {"results": "hpcfold-results", "features": "hpcfold-features"}  # the files' ``kind``


def store_kind(path: str) -> str | None:
    """The ``kind`` attribute of the HDF5 file at ``path`` (None when it has none). UserError
    for a missing path, a folder, or a file HDF5 cannot open (not HDF5, truncated)."""
    import h5py

    if not os.path.exists(path):
        raise UserError(f"{path} not found")
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not an hpcfold store file")
    try:
        with h5py.File(path, "r", locking=False) as f:
            kind = f.attrs.get("kind")
    except OSError as exc:
        raise UserError(
            f"{path} is not an HDF5 file, or a truncated one ({cut(exc, 160)})"
        ) from None
    return kind.decode() if isinstance(kind, bytes) else kind


def check_store(path: str, want: str) -> None:
    """UserError unless ``path`` is an hpcfold store of kind ``want`` (``KINDS`` key) whose
    metadata and first rows read (a results store is opened once, before any output is
    written; later read errors are the command's own one-line errors)."""
    kind = store_kind(path)
    if kind != KINDS[want]:
        other = {v: k for k, v in KINDS.items()}.get(kind)
        what = f"a {other} store" if other else "not an hpcfold store"
        raise UserError(f"{path} is {what}, not a {want} store (kind={shorten(kind)})")
    if want == "results":  # bounded: the datasets' shapes and a first block, not every row
        from hpcfold.store import results_io
        from hpcfold.store.results import open_results

        try:
            with open_results(path) as view:
                for f in view._files:
                    for name in results_io.dataset_names():
                        f[name].shape  # noqa: B018 - a missing dataset raises KeyError
                next(iter(view.iter_blocks(block_rows=1024)), None)
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"cannot read {path}: a damaged results store "
                            f"({type(exc).__name__}: {cut(exc, 120)})") from None  # fmt: skip


def _nearest_existing(folder: str) -> str:
    while not os.path.exists(folder):
        up = os.path.dirname(folder)
        if up == folder:
            break
        folder = up
    return folder


def check_output_file(path: str, flag: str = "-o") -> None:
    """UserError unless a file can be written at ``path`` (its missing folders created)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise UserError(f"{flag} {path} is a folder, not a file")
    _check_folder(os.path.dirname(path), flag, path)


def check_output_dir(path: str, flag: str = "-o") -> None:
    """UserError unless ``path`` is, or can be created as, a writable folder."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path} exists and is not a folder")
    _check_folder(path, flag, path)


def _check_folder(folder: str, flag: str, target: str) -> None:
    base = _nearest_existing(folder)
    if not os.path.isdir(base):
        raise UserError(f"cannot write {flag} {target}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {flag} {target}: {base} is not writable")
