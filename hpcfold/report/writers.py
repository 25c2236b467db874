"""One writer per output format, chosen by suffix: ``WRITERS = {".sdf", ".pdbqt", ".csv"}``.

``dock``, ``export`` and the Python API write through ``open_writer(path)``, so every output of
hpcfold carries one schema (docs/file-formats.md, "Output files"):

- PDBQT: one ``MODEL`` per pose with Vina's remarks (``REMARK VINA RESULT:  affinity  rmsd_lb
  rmsd_ub``, ``INTER + INTRA``, ``INTER``, ``INTRA``, ``NAME``) and the input atom order.
- SDF: one record per pose, named by the ligand id (``hpcfold.chem.sdf.sdf_name``), tags
  ``SDF_TAGS``: ``minimizedAffinity`` (smina / gnina's score tag, which their tools and most
  SDF pipelines read), ``meeko`` (JSON ``free_energy``, ``intermolecular_energy``,
  ``internal_energy``: what meeko's ``mk_export.py`` writes for Vina poses) and ``hpcfold_*``
  details. A ligand whose molecule is not known for sure (``BondOrderError``) is written to
  ``<out>.refused.pdbqt`` instead, and the reason is returned.
- CSV: one row per ligand (``CSV_COLUMNS``), scores of its best pose.

Every file is written to a new, exclusively created temporary file in the target folder
(random name, ``O_EXCL``: never a file or link that already exists) and renamed over the
target at ``close()``; ``abort()`` (or an exception in a ``with`` block) removes it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from hpcfold.errors import UserError
from hpcfold.types import TERMS, LigandRecord

CSV_COLUMNS: tuple[str, ...] = (
    "ligand_id", "smiles", "status", "affinity", "inter", "intra", *TERMS,
    "n_poses", "seconds", "rank", "device", "index", "reason", "message", "clash",
)  # fmt: skip
SDF_TAGS: tuple[str, ...] = (
    "minimizedAffinity", "meeko", "hpcfold_ligand_id", "hpcfold_smiles", "hpcfold_mode",
    "hpcfold_affinity", "hpcfold_inter", "hpcfold_intra", *(f"hpcfold_{t}" for t in TERMS),
    "hpcfold_rmsd_lb", "hpcfold_rmsd_ub", "hpcfold_clash",
)  # fmt: skip


@dataclass(frozen=True)
class LigandOutput:
    """What the writers write for one ligand. M poses, best first; n atoms.

    ``record``: the ligand (needed by SDF / PDBQT); ``coords`` (M, n, 3) A; ``affinity``,
    ``inter``, ``intra`` (M,) kcal/mol; ``terms`` (M, 5) in ``TERMS`` order, NaN where unknown
    (the results store keeps the terms of the best pose only); ``rmsd_lb`` / ``rmsd_ub`` (M,)
    Vina's RMSD bounds to the best pose, A; ``clash`` (M,) bool (``results_view.clash_flag``);
    ``fields``: the other CSV columns (status, seconds, rank, device, index, reason, message).
    """

    lig_id: str
    affinity: np.ndarray
    inter: np.ndarray
    intra: np.ndarray
    terms: np.ndarray
    clash: np.ndarray
    record: LigandRecord | None = None
    coords: np.ndarray | None = None
    rmsd_lb: np.ndarray | None = None
    rmsd_ub: np.ndarray | None = None
    smiles: str = ""
    fields: dict = field(default_factory=dict)

    @property
    def n_poses(self) -> int:
        return int(len(self.affinity))


def rmsd_bounds(record: LigandRecord, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vina's (rmsd l.b., rmsd u.b.) (M,) of every pose (M, n, 3) to the first one."""
    from hpcfold.dock.cluster import vina_rmsd_bounds  # numpy only

    return vina_rmsd_bounds(coords, coords[0], record.ad_types)


def _fmt(x, digits: int = 3) -> str:
    x = float(x)
    return f"{x:.{digits}f}" if math.isfinite(x) else ""


class AtomicFile:
    """A text file created exclusively beside ``path`` and renamed over it at ``commit``."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self.tmp = tempfile.mkstemp(
                dir=folder, prefix=f".{os.path.basename(self.path)}.", suffix=".tmp"
            )
        except OSError as exc:
            raise UserError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.fh.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


class _Writer:
    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._file = AtomicFile(self.path)
        self.n_ligands = 0

    def close(self) -> None:
        self._file.commit()

    def abort(self) -> None:
        self._file.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class PdbqtWriter(_Writer):
    """PDBQT poses, Vina's layout: ``MODEL k`` ... ``ENDMDL``, numbered through the file."""

    def __init__(self, path: str):
        super().__init__(path)
        self._model = 1

    def write(self, lig: LigandOutput) -> str | None:
        from hpcfold.chem.pdbqt import write_pose_pdbqt

        if lig.record is None or lig.coords is None:
            raise ValueError(f"{lig.lig_id}: PDBQT output needs the record and the poses")
        lb, ub = _bounds(lig)
        for m in range(lig.n_poses):
            remarks = [
                f"REMARK VINA RESULT: {lig.affinity[m]:9.3f} {lb[m]:10.3f} {ub[m]:10.3f}",
                f"REMARK INTER + INTRA:    {lig.inter[m] + lig.intra[m]:12.3f}",
                f"REMARK INTER:            {lig.inter[m]:12.3f}",
                f"REMARK INTRA:            {lig.intra[m]:12.3f}",
                f"REMARK NAME = {' '.join(lig.lig_id.splitlines())}",
            ]
            body = write_pose_pdbqt(lig.record, lig.coords[m], remarks)
            self._file.fh.write(f"MODEL {self._model}\n{body}ENDMDL\n")
            self._model += 1
        self.n_ligands += 1
        return None


def _bounds(lig: LigandOutput) -> tuple[np.ndarray, np.ndarray]:
    if lig.rmsd_lb is not None and lig.rmsd_ub is not None:
        return lig.rmsd_lb, lig.rmsd_ub
    return rmsd_bounds(lig.record, lig.coords)


def sdf_tags(lig: LigandOutput, m: int, smiles: str) -> dict[str, str]:
    """The ``SDF_TAGS`` of pose ``m`` (0-based) of ``lig``; ``smiles``: the written molecule."""
    lb, ub = _bounds(lig)
    a, inter, intra = float(lig.affinity[m]), float(lig.inter[m]), float(lig.intra[m])
    tags = {
        "minimizedAffinity": _fmt(a),
        "meeko": json.dumps(
            {
                "free_energy": round(a, 3),
                "intermolecular_energy": round(inter, 3),
                "internal_energy": round(intra, 3),
            }
        ),  # fmt: skip
        "hpcfold_ligand_id": lig.lig_id,
        "hpcfold_smiles": smiles,
        "hpcfold_mode": str(m + 1),
        "hpcfold_affinity": _fmt(a),
        "hpcfold_inter": _fmt(inter),
        "hpcfold_intra": _fmt(intra),
    }
    terms = np.asarray(lig.terms, dtype=np.float64).reshape(lig.n_poses, len(TERMS))
    tags.update({f"hpcfold_{t}": _fmt(terms[m, k], 4) for k, t in enumerate(TERMS)})
    tags["hpcfold_rmsd_lb"] = _fmt(lb[m])
    tags["hpcfold_rmsd_ub"] = _fmt(ub[m])
    tags["hpcfold_clash"] = "1" if bool(lig.clash[m]) else "0"
    return tags


class SdfWriter(_Writer):
    """SDF poses with ``SDF_TAGS``; ligands without a sure molecule go to ``<path>.refused.pdbqt``.

    ``template``: an RDKit molecule for PDBQT ligands without remarks (``--ligand-template``).
    ``refused``: [(ligand id, reason)] of the ligands written as PDBQT instead.
    """

    def __init__(self, path: str, template=None):
        super().__init__(path)
        self.template = template
        self.refused: list[tuple[str, str]] = []
        self._fallback: PdbqtWriter | None = None

    @property
    def refused_path(self) -> str:
        return f"{self.path}.refused.pdbqt"

    def write(self, lig: LigandOutput) -> str | None:
        from hpcfold.chem.bond_orders import BondOrderError, ligand_chemistry
        from hpcfold.chem.sdf import write_pose_sdf

        if lig.record is None or lig.coords is None:
            raise ValueError(f"{lig.lig_id}: SDF output needs the record and the poses")
        try:
            chem = ligand_chemistry(lig.record, self.template)
            parts = [
                write_pose_sdf(lig.record, lig.coords[m], lig.lig_id,
                               sdf_tags(lig, m, chem.smiles or lig.smiles), chem=chem)
                for m in range(lig.n_poses)
            ]  # fmt: skip
        except BondOrderError as exc:
            if self._fallback is None:
                self._fallback = PdbqtWriter(self.refused_path)
            self._fallback.write(lig)
            self.refused.append((lig.lig_id, str(exc)))
            return str(exc)
        self._file.fh.write("".join(parts))
        self.n_ligands += 1
        return None

    def close(self) -> None:
        super().close()
        if self._fallback is not None:
            self._fallback.close()
        elif os.path.lexists(self.refused_path) and os.path.isfile(self.refused_path):
            os.remove(self.refused_path)  # a stale one from an earlier run of this output

    def abort(self) -> None:
        super().abort()
        if self._fallback is not None:
            self._fallback.abort()


class CsvWriter(_Writer):
    """One row per ligand, ``CSV_COLUMNS``; a failed ligand (no poses) has empty scores."""

    def __init__(self, path: str):
        super().__init__(path)
        self._csv = csv.writer(self._file.fh)
        self._csv.writerow(CSV_COLUMNS)

    def write(self, lig: LigandOutput) -> str | None:
        ok = lig.n_poses > 0
        f = lig.fields
        scores = (
            [lig.affinity[0], lig.inter[0], lig.intra[0], *np.asarray(lig.terms)[0]] if ok else []
        )
        self._csv.writerow([
            lig.lig_id, lig.smiles, f.get("status", "ok" if ok else "failed"),
            *(_fmt(s) for s in scores), *([""] * (3 + len(TERMS) - len(scores))),
            str(f.get("n_poses", lig.n_poses)), f.get("seconds", ""), f.get("rank", ""),
            f.get("device", ""), f.get("index", ""), f.get("reason", ""), f.get("message", ""),
            ("1" if bool(lig.clash[0]) else "0") if ok else "",
        ])  # fmt: skip
        self.n_ligands += 1
        return None

    def write_rows(self, rows: list[list[str]]) -> None:
        """Rows already in ``CSV_COLUMNS`` order (``hpcfold.report.export.csv_rows``)."""
        self._csv.writerows(rows)
        self.n_ligands += len(rows)


WRITERS = {".sdf": SdfWriter, ".pdbqt": PdbqtWriter, ".csv": CsvWriter}


def writer_class(path: str):
    """The writer for ``path``'s suffix; UserError for any other suffix."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in WRITERS:
        raise UserError(f"output must end in {', '.join(WRITERS)}, got {path}")
    return WRITERS[suffix]


def open_writer(path: str, template=None):
    """A writer for ``path`` (``with open_writer(p) as w: w.write(lig)``)."""
    cls = writer_class(path)
    return cls(path, template=template) if cls is SdfWriter else cls(path)
