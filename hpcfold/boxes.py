"""Search boxes: Vina config files and ligand-based autobox. numpy only (RDKit, lazily, to read
an SDF autobox ligand).

Vina convention: ``center`` is the box centre and ``size`` the full edge length (Angstrom).
"""

from __future__ import annotations

import os

import numpy as np

from hpcfold.errors import UserError
from hpcfold.types import Box

BOX_KEYS = ("center_x", "center_y", "center_z", "size_x", "size_y", "size_z")


def parse_vina_options(text: str, source: str = "<config>") -> dict[str, str]:
    """Every ``key = value`` of Vina config text (``#`` comments, blank lines skipped), values as
    written (stripped). Raises UserError for a line without '=' or a key given twice."""
    vals: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise UserError(f"{source}:{lineno}: expected 'key = value', got {raw.strip()!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        if key in vals:
            raise UserError(f"{source}:{lineno}: {key} is given twice")
        vals[key] = value
    return vals


def box_values(opts: dict[str, str], source: str = "<config>") -> dict[str, float]:
    """The box keys (``center_x`` .. ``size_z``) present in ``parse_vina_options`` output, as
    floats. Raises UserError for a value that is not a number."""
    out = {}
    for key in BOX_KEYS:
        if key in opts:
            try:
                out[key] = float(opts[key])
            except ValueError as exc:
                raise UserError(f"{source}: {key} is not a number: {opts[key]!r}") from exc
    return out


def parse_vina_config(text: str, source: str = "<config>") -> Box:
    """Box from Vina config text (``key = value`` lines, ``#`` comments; other keys ignored)."""
    vals = box_values(parse_vina_options(text, source), source)
    missing = [k for k in BOX_KEYS if k not in vals]
    if missing:
        raise UserError(f"{source}: missing {', '.join(missing)}")
    try:
        return Box(
            center=(vals["center_x"], vals["center_y"], vals["center_z"]),
            size=(vals["size_x"], vals["size_y"], vals["size_z"]),
        )
    except ValueError as exc:
        raise UserError(f"{source}: {exc}") from exc


def read_config_text(path) -> str:
    """Text of a Vina config file; UserError when it cannot be read."""
    try:
        with open(os.fspath(path), encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise UserError(f"cannot read box config {os.fspath(path)}: {exc}") from exc


def read_vina_config(path) -> Box:
    """Box from a Vina config file (``center_x = ...``, ``size_x = ...``)."""
    return parse_vina_config(read_config_text(path), os.fspath(path))


def autobox(coords, add: float = 4.0) -> Box:
    """Box around a ligand (smina's autobox_add convention): the ligand's axis-aligned extent plus
    ``add`` Angstrom on every side (so each edge grows by ``2 * add``), centred on the extent.
    coords (n, 3) Angstrom."""
    x = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    if x.shape[0] == 0 or not np.all(np.isfinite(x)):
        raise ValueError("autobox needs finite coordinates")
    lo, hi = x.min(axis=0), x.max(axis=0)
    center = (lo + hi) / 2
    size = hi - lo + 2 * float(add)
    return Box(center=tuple(float(c) for c in center), size=tuple(float(s) for s in size))


def ligand_coords(path) -> np.ndarray:
    """(n, 3) atom coordinates (A) of the first molecule of a PDB / PDBQT (up to the first
    ENDMDL) or SDF / MOL file, for ``autobox``. Raises ValueError for a missing or unreadable
    file, or one without atoms."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"autobox ligand not found: {path}")
    if path.lower().endswith((".sdf", ".mol")):
        from rdkit import Chem

        mol = next(iter(Chem.SDMolSupplier(path, removeHs=False, sanitize=False)), None)
        if mol is None or mol.GetNumConformers() == 0:
            raise ValueError(f"cannot read a molecule with coordinates from {path}")
        xyz = np.asarray(mol.GetConformer().GetPositions(), np.float64)
        bad = np.flatnonzero(~np.all(np.isfinite(xyz), axis=1))
        if bad.size:
            raise ValueError(f"{path}: atom {bad[0] + 1} has a non-finite coordinate")
        return xyz
    if not path.lower().endswith((".pdbqt", ".pdb")):
        raise ValueError(f"an autobox ligand must be .pdbqt, .pdb, .sdf or .mol, got {path}")
    xyz = []
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith(("ATOM", "HETATM")):
                try:
                    x = [float(line[30:38]), float(line[38:46]), float(line[46:54])]
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: bad coordinates") from None
                if not all(np.isfinite(x)):
                    raise ValueError(f"{path}:{lineno}: non-finite coordinate")
                xyz.append(x)
            elif line.startswith("ENDMDL") and xyz:
                break
    if not xyz:
        raise ValueError(f"no ATOM/HETATM records in {path}")
    return np.asarray(xyz, np.float64)


def box_bounds(box: Box, spacing: float = 0.375) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vina's grid box: ``n = ceil(size / spacing)`` voxels per axis, ``lo = center - spacing n/2``,
    ``hi = lo + spacing n``. Returns (lo (3,), hi (3,), n (3,) int)."""
    size = np.asarray(box.size, dtype=np.float64)
    center = np.asarray(box.center, dtype=np.float64)
    n = np.ceil(size / spacing).astype(np.int64)
    span = spacing * n
    lo = center - span / 2
    return lo, lo + span, n


def in_grid(coords, heavy, box: Box, margin: float = 1e-4) -> bool:
    """Vina's ``cache::is_in_grid``: every heavy (non-hydrogen) atom lies within the grid box
    (``box_bounds``) up to ``margin`` A on every axis. coords (n, 3) A, heavy (n,) bool."""
    x = np.asarray(coords, np.float64).reshape(-1, 3)[np.asarray(heavy, bool)]
    lo, hi, _ = box_bounds(box)
    return bool(np.all((x >= lo - margin) & (x <= hi + margin)))


LARGE_VOLUME = 27000.0  # A^3: above this Vina 1.2 warns "Search space volume is greater than ..."


def volume_warning(box: Box, advice: str) -> str | None:
    """Vina's warning for a search box larger than 27000 A^3 (a 30 A cube), ending with
    ``advice`` (what to do, in the caller's own option names); None for a smaller box. The
    search spreads the same effort over the whole box."""
    volume = float(np.prod(np.asarray(box.size, dtype=np.float64)))
    if volume <= LARGE_VOLUME:
        return None
    return (
        f"the search box is {volume:.0f} A^3, larger than {LARGE_VOLUME:.0f} A^3 (Vina warns "
        "here too): the same search effort is spread over a large box, so poses are missed "
        f"more often; {advice}"
    )


# Host memory per grid point while the maps are built (``hpcfold.dock.grids``): 19 float32 maps
# (76 B) held about four times (device result, host copy, transposed copy, padded device copy),
# plus each 4x4x4 block's padded list of receptor atoms within 9 A (a few hundred atoms of 16 B,
# ~64 B per point): ~370 B, rounded up.
GRID_BYTES_PER_POINT = 400
_GRID_PAD = 16  # grid points per axis are padded to a multiple of this (``grids.PAD_POINTS``)


def grid_bytes(box: Box, spacing: float = 0.375) -> int:
    """Estimated peak host memory (bytes) to build the grid maps of ``box``: ``n + 1`` points
    per axis (``box_bounds``) padded to a multiple of 16, times ``GRID_BYTES_PER_POINT``."""
    _, _, n = box_bounds(box, spacing)
    points = 1
    for k in n.tolist():
        points *= -(-(int(k) + 1) // _GRID_PAD) * _GRID_PAD
    return points * GRID_BYTES_PER_POINT


def available_memory() -> int | None:
    """Bytes of memory available to this process now (psutil; None when unknown)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        return None


def check_grid_memory(box: Box, advice: str, available: int | None = None) -> None:
    """Refuse a box whose grid maps would not fit in memory: UserError naming the memory the
    maps need and the memory available (``available`` bytes; default: ``available_memory``),
    with ``advice`` (what to do, in the caller's option names)."""
    need = grid_bytes(box)
    have = available_memory() if available is None else available
    if have is None or need <= have:
        return
    gib = 1 << 30
    raise UserError(
        f"the box {' x '.join(f'{s:g}' for s in box.size)} A needs about {need / gib:.1f} GiB "
        f"for its grid maps (0.375 A spacing), more than the {have / gib:.1f} GiB of memory "
        f"available",
        fix=advice,
    )
