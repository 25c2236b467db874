"""Streaming ligand readers: SMILES, SDF and PDBQT files (optionally gzip-compressed).

``iter_records(path)`` yields one ``RawRecord`` per ligand record, reading the file line by line
(a 10^8-line library never sits in memory). Nothing here parses chemistry: ``prepare_record``
(hpcfold.chem.prepare) turns a record into a ``LigandRecord`` or a ``Failure``.

Conventions (docs/input-formats.md):
- ``index`` is the 0-based record number in its file; ``source`` is ``path:line`` with the 1-based
  line of the record's first line.
- A record without an id gets the stable id ``<file stem>:<index + 1>`` (e.g. ``actives:7``).
  Duplicate ids are kept as given here; the feature store's ``finalize`` renames them stably.
- SMILES: ``.smi``, ``.ism``, ``.txt``; whitespace-separated columns, SMILES first, id second,
  further columns ignored; blank lines and lines starting with ``#`` are not records.
- SDF: ``.sdf``, ``.sdf.gz``; records end with ``$$$$`` (a last record that has ``M  END`` but no
  ``$$$$`` is complete); the title line is the id. A record cut short is a TRUNCATED_RECORD.
- PDBQT: ``.pdbqt``; a file with ``MODEL``/``ENDMDL`` blocks gives one record per model, else the
  file is one record. The id comes from ``REMARK  Name = ...`` (Open Babel, ZINC) or
  ``REMARK NAME``/``COMPND``, else it is generated.
- A line that is not valid UTF-8 makes its record a ``Failure(ENCODING_ERROR)``.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Iterator
from typing import BinaryIO

from hpcfold.errors import UserError
from hpcfold.types import Failure, Reason

# A line longer than this is not read whole (memory stays bounded on a file without newlines):
# its record is TOO_LARGE. 1 MiB is far above any SMILES prepare accepts (16 characters per
# allowed heavy atom, ``prepare.SMILES_CHARS_PER_HEAVY_ATOM``).
MAX_LINE_BYTES = 1 << 20
SMILES_SUFFIXES = (".smi", ".ism", ".txt", ".smiles")
SDF_SUFFIXES = (".sdf", ".mol")
PDBQT_SUFFIXES = (".pdbqt",)


@dataclasses.dataclass(frozen=True)
class RawRecord:
    """One ligand record as read from a file, before any chemistry.

    kind: 'smiles' | 'sdf' | 'pdbqt'; text: the SMILES, the SDF record (up to ``$$$$``) or one
    PDBQT model; index: 0-based record number in the file; error: set when the record is
    unusable before parsing (encoding, truncation).
    """

    kind: str
    text: str
    lig_id: str
    source: str
    index: int
    error: Failure | None = None


def _base_and_gz(path: str) -> tuple[str, bool]:
    name = os.path.basename(path)
    if name.lower().endswith(".gz"):
        return name[:-3], True
    return name, False


def file_kind(path: str) -> str:
    """'smiles' | 'sdf' | 'pdbqt' from the file name (``.gz`` allowed); UserError otherwise."""
    base, _ = _base_and_gz(os.fspath(path))
    ext = os.path.splitext(base)[1].lower()
    if ext in SMILES_SUFFIXES:
        return "smiles"
    if ext in SDF_SUFFIXES:
        return "sdf"
    if ext in PDBQT_SUFFIXES:
        return "pdbqt"
    raise UserError(
        f"{path}: unknown ligand file type {ext!r}; use SMILES (.smi/.ism/.txt), SDF (.sdf) or "
        "PDBQT (.pdbqt), optionally gzip-compressed (.gz)"
    )


def file_stem(path: str) -> str:
    base, _ = _base_and_gz(os.fspath(path))
    return os.path.splitext(base)[0]


def _open(path: str) -> BinaryIO:
    base, gz = _base_and_gz(path)
    try:
        if gz:
            fh = gzip.open(path, "rb")
            fh.peek(1)  # raise now on a file that is not gzip
            return fh  # type: ignore[return-value]
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"ligand file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"ligand file is a directory: {path}") from None
    except PermissionError:
        raise UserError(f"ligand file is not readable (permission denied): {path}") from None
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read ligand file {path}: {exc}") from None


def check_readable(path: str) -> None:
    """Raise UserError unless ``path`` is a ligand file hpcfold can open."""
    file_kind(path)
    _open(path).close()


def iter_records(path: str) -> Iterator[RawRecord]:
    """Stream the ligand records of ``path`` (see the module docstring for the formats)."""
    path = os.fspath(path)
    kind = file_kind(path)
    fh = _open(path)
    try:
        reader = {"smiles": _smiles, "sdf": _sdf, "pdbqt": _pdbqt}[kind]
        try:
            yield from reader(fh, path)
        except (OSError, EOFError) as exc:  # e.g. a corrupt or cut gzip stream
            raise UserError(f"cannot read ligand file {path}: {exc}") from None
    finally:
        fh.close()


def _decode(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _gen_id(path: str, index: int) -> str:
    return f"{file_stem(path)}:{index + 1}"


def _bounded_lines(fh: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """(line, its full length in bytes): lines longer than ``MAX_LINE_BYTES`` come back cut to
    that many bytes, the rest of the line read in pieces and dropped."""
    while True:
        line = fh.readline(MAX_LINE_BYTES)
        if not line:
            return
        n = len(line)
        while n >= MAX_LINE_BYTES and not line.endswith(b"\n"):
            more = fh.readline(MAX_LINE_BYTES)
            if not more:
                break
            n += len(more)
            if more.endswith(b"\n"):
                break
        yield line, n


def _smiles(fh: BinaryIO, path: str) -> Iterator[RawRecord]:
    index = 0
    for lineno, (raw, n_bytes) in enumerate(_bounded_lines(fh), start=1):
        source = f"{path}:{lineno}"
        if n_bytes > MAX_LINE_BYTES:
            lig_id = _gen_id(path, index)
            msg = f"line of {n_bytes} bytes, longer than {MAX_LINE_BYTES}: not a SMILES record"
            yield RawRecord("smiles", "", lig_id, source, index,
                            Failure(lig_id, source, "", Reason.TOO_LARGE, msg))  # fmt: skip
            index += 1
            continue
        text = _decode(raw)
        if text is None:
            if not raw.strip():
                continue
            cols = raw.split()
            lig_id = _gen_id(path, index)
            if len(cols) > 1:
                lig_id = cols[1].decode("utf-8", errors="replace")
            smi = cols[0].decode("utf-8", errors="replace")
            err = Failure(lig_id, source, smi, Reason.ENCODING_ERROR, "line is not valid UTF-8")
            yield RawRecord("smiles", smi, lig_id, source, index, err)
            index += 1
            continue
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cols = stripped.split()
        lig_id = cols[1] if len(cols) > 1 else _gen_id(path, index)
        yield RawRecord("smiles", cols[0], lig_id, source, index)
        index += 1


def _text_lines(fh: BinaryIO) -> Iterator[tuple[int, str, bool]]:
    """(1-based line number, text without the line end, whether it was valid UTF-8)."""
    for lineno, raw in enumerate(fh, start=1):
        text = _decode(raw)
        ok = text is not None
        if not ok:
            text = raw.decode("utf-8", errors="replace")
        yield lineno, text.rstrip("\r\n"), ok


def _sdf(fh: BinaryIO, path: str) -> Iterator[RawRecord]:
    index = 0
    lines: list[str] = []
    first_line = 0
    bad = False
    for lineno, text, ok in _text_lines(fh):
        bad = bad or not ok
        if not lines:
            first_line = lineno
        if text.startswith("$$$$"):
            if any(line.strip() for line in lines) or bad:
                yield _sdf_record(lines, path, first_line, index, bad, complete=True)
                index += 1
            lines, bad = [], False
            continue
        lines.append(text)
    if any(line.strip() for line in lines) or bad:
        complete = any(line.startswith("M  END") for line in lines)
        yield _sdf_record(lines, path, first_line, index, bad, complete=complete)


def _sdf_record(lines, path, first_line, index, bad, complete) -> RawRecord:
    source = f"{path}:{first_line}"
    title = lines[0].strip() if lines else ""
    lig_id = title or _gen_id(path, index)
    text = "\n".join(lines) + "\n$$$$\n"
    err = None
    if bad:
        err = Failure(lig_id, source, "", Reason.ENCODING_ERROR, "record is not valid UTF-8")
    elif not complete:
        msg = f"SDF record cut short (no 'M  END' / '$$$$' before the end of {path})"
        err = Failure(lig_id, source, "", Reason.TRUNCATED_RECORD, msg)
    return RawRecord("sdf", text, lig_id, source, index, err)


def _pdbqt_name(lines: list[str]) -> str:
    for line in lines:
        up = line.upper()
        if up.startswith("REMARK") and "NAME" in up and "=" in line:
            key, _, value = line.partition("=")
            if key.split()[-1].upper() == "NAME" and value.strip():
                return value.strip()
        if up.startswith("COMPND") and line[6:].strip():
            return line[6:].strip()
    return ""


def _has_atoms(lines: list[str]) -> bool:
    return any(line.startswith(("ATOM", "HETATM")) for line in lines)


def _pdbqt(fh: BinaryIO, path: str) -> Iterator[RawRecord]:
    index = 0
    lines: list[str] = []
    first_line = 1
    in_model = False
    bad = False

    def emit(truncated: bool) -> RawRecord:
        source = f"{path}:{first_line}"
        lig_id = _pdbqt_name(lines) or _gen_id(path, index)
        err = None
        if bad:
            err = Failure(lig_id, source, "", Reason.ENCODING_ERROR, "record is not valid UTF-8")
        elif truncated:
            msg = f"PDBQT MODEL without ENDMDL before the end of {path}"
            err = Failure(lig_id, source, "", Reason.TRUNCATED_RECORD, msg)
        return RawRecord("pdbqt", "\n".join(lines) + "\n", lig_id, source, index, err)

    for lineno, text, ok in _text_lines(fh):
        bad = bad or not ok
        tag = text[:6].strip().upper()
        if tag == "MODEL":
            if _has_atoms(lines):  # atoms before the first MODEL: a record of their own
                yield emit(truncated=False)
                index += 1
            lines, in_model, bad = [], True, False
            continue
        if tag == "ENDMDL":
            if _has_atoms(lines) or bad:
                yield emit(truncated=False)
                index += 1
            lines, in_model, bad = [], False, False
            continue
        if not lines:
            if not text.strip():
                continue
            first_line = lineno
        lines.append(text)
    if _has_atoms(lines) or bad:
        yield emit(truncated=in_model)
