"""hpcfold's Python API: dock, score and optimise ligands from a notebook or a script.

    from hpcfold import api
    rec = api.load_receptor("examples/fabp4/receptor.pdbqt")
    box = api.make_box(config="examples/fabp4/box.txt")
    mols = api.dock(rec, box, ["c1ccccc1C(=O)O benzoic"], preset="fast")
    mols[0].GetProp("hpcfold_affinity"), mols[0].GetNumConformers()

Ligands go in as RDKit ``Mol``s, SMILES strings ("SMILES" or "SMILES name"), SDF / SMILES / PDBQT
file paths, or prepared ``LigandRecord``s, alone or in a list. Every ligand comes out, in input
order, as an RDKit molecule (the poses as conformers, best first; the scores and terms as
properties named like the SDF tags of ``hpcfold dock``, ``POSE_TAGS``) or as a
``hpcfold.types.Failure`` with its reason. ``hpcfold dock`` and ``hpcfold score`` are thin
layers over ``Docker.dock_records`` and ``score_records``. Importing this module does not import
JAX; the first docking or scoring call does.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from hpcfold.errors import UserError
from hpcfold.types import TERMS, Box, DockResult, Failure, LigandRecord, ReceptorRecord

__all__ = ["POSE_TAGS", "Docker", "ScoringFunction", "dock", "load_receptor", "make_box",
           "optimize", "pose_tags", "prepare_ligands", "read_poses", "score", "score_records",
           "scoring_function", "write_sdf"]  # fmt: skip

# SD tags of a docked pose (``hpcfold dock --out x.sdf``) = RDKit property names of the API.
POSE_TAGS = ("hpcfold_affinity", "hpcfold_mode", "hpcfold_inter", "hpcfold_intra",
             "hpcfold_rmsd_to_best", *(f"hpcfold_{t}" for t in TERMS))  # fmt: skip
_LIGAND_SUFFIXES = (".smi", ".ism", ".txt", ".smiles", ".sdf", ".mol", ".pdbqt", ".gz")


# ------------------------------------------------------------------------------------ inputs
def load_receptor(path) -> ReceptorRecord:
    """A rigid receptor from a ``.pdbqt`` or a ``.pdb`` with hydrogens (Vina's typing)."""
    from hpcfold.chem.receptor import read_receptor

    return read_receptor(path)


def make_box(center=None, size=None, *, config=None, autobox_ligand=None, autobox_add=4.0) -> Box:
    """The search box (A): ``center`` + ``size`` (3 numbers each, Vina's full edge lengths), a
    Vina config file (``config``: its center_x .. size_z), or ``autobox_ligand`` (a PDBQT / PDB /
    SDF file or an RDKit Mol with coordinates) plus ``autobox_add`` A on every side."""
    from hpcfold import boxes

    given = [center is not None or size is not None, config is not None,
             autobox_ligand is not None]  # fmt: skip
    if given[0] and (center is None or size is None):
        raise UserError("make_box: give both center and size")
    if sum(given) != 1:
        raise UserError("make_box: give one of center+size, config or autobox_ligand")
    if config is not None:
        return boxes.read_vina_config(config)
    if autobox_ligand is not None:
        if hasattr(autobox_ligand, "GetConformer"):
            xyz = autobox_ligand.GetConformer().GetPositions()
        else:
            try:
                xyz = boxes.ligand_coords(autobox_ligand)
            except ValueError as exc:
                raise UserError(f"autobox_ligand: {exc}") from None
        return boxes.autobox(xyz, autobox_add)
    try:
        return Box(tuple(float(c) for c in center), tuple(float(s) for s in size))
    except (TypeError, ValueError) as exc:
        raise UserError(f"make_box: {exc}") from None


def _as_list(ligands) -> list:
    if isinstance(ligands, str | os.PathLike | LigandRecord) or hasattr(ligands, "GetAtoms"):
        return [ligands]
    return list(ligands)


def _is_path(item) -> bool:
    if isinstance(item, os.PathLike):
        return True
    return os.path.exists(item) or item.lower().endswith(_LIGAND_SUFFIXES)


def _has_3d(mol) -> bool:
    if mol.GetNumConformers() == 0:
        return False
    xyz = mol.GetConformer().GetPositions()
    return bool(mol.GetConformer().Is3D() and np.any(np.abs(xyz[:, 2]) > 1e-4))


def _mol_name(mol, k: int) -> str:
    name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    return name or f"mol:{k + 1}"


def prepare_ligands(ligands, keep_coords: bool = False) -> list[LigandRecord | Failure]:
    """LigandRecords (or Failures, with the reason) of ``ligands``, one per molecule: every
    record of every file (``hpcfold prep``'s preparation), each SMILES string, each Mol (its 3D
    conformer is kept when it has one, as for SDF input). ``keep_coords``: poses to score; a
    SMILES string is then refused (it has no pose). Raises UserError for a missing file."""
    from hpcfold.chem.prepare import PrepOptions, prepare_mol, prepare_record
    from hpcfold.chem.readers import RawRecord, iter_records

    opts, out = PrepOptions(), []
    for k, item in enumerate(_as_list(ligands)):
        if isinstance(item, LigandRecord | Failure):
            out.append(item)
        elif hasattr(item, "GetAtoms"):
            src = f"<Mol {k + 1}>"
            if keep_coords and not _has_3d(item):
                raise UserError(f"ligand {k + 1}: a pose to score needs 3D coordinates")
            out.append(prepare_mol(item, _mol_name(item, k), src, opts, _has_3d(item)))
        elif isinstance(item, str | os.PathLike) and _is_path(item):
            path = os.fspath(item)
            if keep_coords:
                out += read_poses(path)
                continue
            if not os.path.isfile(path):
                raise UserError(f"ligand file not found: {path}")
            out += [prepare_record(raw, opts) for raw in iter_records(path)]
        elif isinstance(item, str):
            if keep_coords:
                raise UserError(f"a SMILES string has no pose to score: {item!r}")
            cols = item.split()
            if not cols:
                raise UserError(f"ligand {k + 1}: empty SMILES string")
            lig_id = cols[1] if len(cols) > 1 else f"smiles:{k + 1}"
            raw = RawRecord("smiles", cols[0], lig_id, f"<SMILES {k + 1}>", k)
            out.append(prepare_record(raw, opts))
        else:
            raise UserError(f"ligand {k + 1}: not a Mol, SMILES, file or LigandRecord: {item!r}")
    return out


def _read_pdbqt(path: str) -> list[LigandRecord | Failure]:
    from hpcfold.chem.pdbqt import parse_ligand_pdbqt, split_models
    from hpcfold.types import Reason

    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    name = os.path.splitext(os.path.basename(path))[0]
    out: list[LigandRecord | Failure] = []
    for k, body in enumerate(split_models(text)):
        lig_id = f"{name}#{k + 1}"
        try:
            out.append(parse_ligand_pdbqt(body, lig_id, f"{path}:MODEL {k + 1}"))
        except ValueError as exc:
            out.append(Failure(lig_id, f"{path}:MODEL {k + 1}", "", Reason.PARSE_ERROR, str(exc)))
    if not out:
        raise UserError(f"{path}: no ligand found")
    return out


def _read_sdf(path: str) -> list[LigandRecord | Failure]:
    from rdkit import Chem

    from hpcfold.chem.prepare import PrepOptions, prepare_mol
    from hpcfold.types import Reason

    out: list[LigandRecord | Failure] = []
    opts = PrepOptions()
    for k, mol in enumerate(Chem.SDMolSupplier(path, removeHs=False, sanitize=True)):
        src = f"{path}:record {k + 1}"
        if mol is None:
            out.append(Failure(f"record{k + 1}", src, "", Reason.PARSE_ERROR, "unreadable record"))
            continue
        name = mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name") else None
        out.append(prepare_mol(mol, name or f"record{k + 1}", src, opts, keep_coords=True))
    if not out:
        raise UserError(f"{path}: no records")
    return out


def read_poses(path) -> list[LigandRecord | Failure]:
    """Ligand poses of a .pdbqt (one per MODEL) or .sdf file (one per record), as given."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"ligand file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".pdbqt":
        return _read_pdbqt(path)
    if suffix in (".sdf", ".mol"):
        return _read_sdf(path)
    raise UserError(f"unsupported ligand format {suffix!r}: use .pdbqt or .sdf")


# ----------------------------------------------------------------------------------- outputs
def pose_tags(res: DockResult, m: int, rmsd_to_best: float) -> dict[str, str]:
    """The SD tags / RDKit properties (``POSE_TAGS``) of pose ``m`` of a docking result."""
    tags = {"hpcfold_affinity": f"{res.affinity[m]:.3f}", "hpcfold_mode": str(m + 1),
            "hpcfold_inter": f"{res.inter[m]:.3f}", "hpcfold_intra": f"{res.intra[m]:.3f}",
            "hpcfold_rmsd_to_best": f"{rmsd_to_best:.3f}"}  # fmt: skip
    tags.update({f"hpcfold_{t}": f"{res.terms[m, k]:.4f}" for k, t in enumerate(TERMS)})
    return tags


def rmsd_to_best(rec: LigandRecord, res: DockResult) -> np.ndarray:
    """(M,) symmetry-corrected heavy-atom RMSD (A) of every pose to the best one."""
    from hpcfold.dock.cluster import sym_rmsd

    h = res.coords[:, rec.heavy_index]
    return sym_rmsd(h, h[0], rec.automorphisms)


def _set_prop(obj, key: str, text: str) -> None:
    try:
        val = float(text)
    except ValueError:
        obj.SetProp(key, text)
        return
    if key == "hpcfold_mode":
        obj.SetIntProp(key, int(val))
    else:
        obj.SetDoubleProp(key, val)


def to_mol(rec: LigandRecord, coords, tags: list[dict[str, str]]):
    """RDKit molecule of ``rec`` (its mol block, or one built from its PDBQT atoms) with one
    conformer per pose: coords (M, n, 3) A; ``tags[m]`` set on conformer m, the best pose's
    (m = 0) also on the molecule."""
    from rdkit import Chem

    from hpcfold.chem.sdf import write_pose_sdf

    mol = None
    for m, xyz in enumerate(np.asarray(coords)):
        block = write_pose_sdf(rec, xyz, rec.lig_id, {})
        one = Chem.MolFromMolBlock(block, removeHs=False)
        if one is None:  # e.g. guessed bond orders RDKit cannot sanitise: keep them as read
            one = Chem.MolFromMolBlock(block, removeHs=False, sanitize=False)
        conf = Chem.Conformer(one.GetConformer())
        for key, text in tags[m].items():
            _set_prop(conf, key, text)
        if mol is None:
            mol = Chem.Mol(one)
            mol.RemoveAllConformers()
            mol.SetProp("_Name", rec.lig_id)
            for key, text in tags[0].items():
                _set_prop(mol, key, text)
        mol.AddConformer(conf, assignId=True)
    return mol


def write_sdf(mols, path) -> None:
    """Write every conformer of every molecule (Failures skipped) as one SDF record, with that
    conformer's properties as SD tags: the file ``hpcfold dock --out x.sdf`` writes."""
    from rdkit import Chem

    with Chem.SDWriter(os.fspath(path)) as writer:
        for mol in _as_list(mols):
            if isinstance(mol, Failure):
                continue
            for conf in mol.GetConformers():
                out = Chem.Mol(mol)
                for key, val in conf.GetPropsAsDict().items():
                    out.SetProp(key, str(val))
                writer.write(out, confId=conf.GetId())


# ----------------------------------------------------------------------------------- docking
class Docker:
    """Docking and scoring into one receptor box (Vina's ``Vina`` object: receptor, maps and
    options held once, then any number of ligands). Options as ``hpcfold dock``'s flags:
    ``exhaustiveness`` is Vina's (8 = the preset's effort; E scales the chains by E/8);
    ``cpu``: worker processes for ``dock`` (0 = every core; poses are the same for any count);
    ``progress``: a bar on stderr (None: when stderr is a terminal)."""

    def __init__(self, receptor, box: Box, *, preset: str | None = None,
                 exhaustiveness: int | None = None, n_steps: int | None = None, seed: int = 0,
                 num_modes: int = 9, energy_range: float = 3.0, min_rmsd: float = 1.0,
                 scoring: str = "vina", weights: dict | None = None,
                 cache_dir: str | None = None, cpu: int = 1, progress: bool | None = None):  # fmt: skip
        from hpcfold.dock import engine

        if isinstance(receptor, str | os.PathLike):
            receptor = load_receptor(receptor)
        kw = {} if preset is None else {"preset": preset}
        if preset is not None and preset not in engine.PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(engine.PRESETS)}")
        if scoring not in ("vina", "vinardo"):
            raise UserError(f"scoring must be vina or vinardo, got {scoring!r}")
        for name, val in (("exhaustiveness", exhaustiveness), ("n_steps", n_steps),
                          ("num_modes", num_modes)):  # fmt: skip
            if val is not None and val < 1:
                raise UserError(f"{name} must be >= 1, got {val}")
        if cpu < 0:
            raise UserError(f"cpu must be >= 0 (0 = every core), got {cpu}")
        self.receptor, self.box, self.cpu, self.progress = receptor, box, cpu, progress
        self.cache_dir = cache_dir or engine.default_cache_dir()
        self.options = engine.SearchOptions(
            exhaustiveness=exhaustiveness, n_steps=n_steps, seed=seed, num_modes=num_modes,
            energy_range=energy_range, min_rmsd=min_rmsd, scoring=scoring, weights=weights, **kw,
        )  # fmt: skip
        self._ctx = None
        self.compiled_groups: set = set()  # (bucket index, glue) kernels this ctx has run

    @property
    def ctx(self):
        """The engine's DockContext (grids and kernels), built on first use."""
        if self._ctx is None:
            from hpcfold.dock import engine

            try:
                self._ctx = engine.make_context(
                    self.receptor, self.box, self.options, cache_dir=self.cache_dir
                )
            except ValueError as exc:
                raise UserError(str(exc)) from None
        return self._ctx

    def dock_records(self, records, cpu: int | None = None, progress: bool | None = None):
        """DockResult or Failure per LigandRecord / Failure of ``records``, in order."""
        from hpcfold.commands import dock_worker

        cpu = self.cpu if cpu is None else cpu
        show = sys.stderr.isatty() if (progress is None and self.progress is None) else bool(
            self.progress if progress is None else progress
        )  # fmt: skip
        return dock_worker.dock_all(self, list(records), cpu, show)

    def dock(self, ligands, cpu: int | None = None, progress: bool | None = None) -> list:
        """Dock ``ligands`` (see ``prepare_ligands``) -> per molecule an RDKit Mol (poses as
        conformers, best first, ``POSE_TAGS`` as properties) or a Failure."""
        items = prepare_ligands(ligands)
        out = []
        for item, res in zip(items, self.dock_records(items, cpu, progress), strict=True):
            if isinstance(res, Failure):
                out.append(res)
                continue
            to_best = rmsd_to_best(item, res)
            tags = [pose_tags(res, m, to_best[m]) for m in range(len(res.affinity))]
            out.append(to_mol(item, res.coords, tags))
        return out

    def score(self, ligands, local_only: bool = False) -> list:
        """Vina's score (``--score_only``; ``local_only``: after Vina's local optimisation) of
        each pose of ``ligands`` (Mols with 3D coordinates, SDF or PDBQT files) -> per pose a
        Mol with properties hpcfold_affinity, _inter, _intra and the terms, or a Failure."""
        from hpcfold.commands.dock_worker import compile_dir
        from hpcfold.dock import engine

        engine.enable_compilation_cache(compile_dir(self.options, self.cache_dir))
        items = prepare_ligands(ligands, keep_coords=True)
        ok = [it for it in items if isinstance(it, LigandRecord)]
        rows, coords = score_records(
            ok, self.receptor, self.box, self.options.scoring, self.options.weights,
            local_only, os.path.join(self.cache_dir, "grids"),
        ) if ok else ([], [])  # fmt: skip
        it = iter(zip(ok, rows, coords, strict=True))
        out = []
        for item in items:
            if isinstance(item, Failure):
                out.append(item)
                continue
            rec, row, xyz = next(it)
            tags = {f"hpcfold_{k}": f"{v:.4f}" for k, v in row.items()}
            out.append(to_mol(rec, xyz[None], [tags]))
        return out

    def optimize(self, ligands) -> list:
        """Vina's ``--local_only``: ``score(ligands, local_only=True)``."""
        return self.score(ligands, local_only=True)

    def scoring_function(self, ligand) -> ScoringFunction:
        """``scoring_function`` of this receptor, box and scoring for one ligand pose."""
        return scoring_function(self.receptor, self.box, ligand, self.options.scoring,
                                self.options.weights)  # fmt: skip


def dock(receptor, box: Box, ligands, **options) -> list:
    """``Docker(receptor, box, **options).dock(ligands)``."""
    return Docker(receptor, box, **options).dock(ligands)


def score(receptor, box: Box, ligands, **options) -> list:
    """``Docker(receptor, box, **options).score(ligands)``."""
    return Docker(receptor, box, **options).score(ligands)


def optimize(receptor, box: Box, ligands, **options) -> list:
    """``Docker(receptor, box, **options).optimize(ligands)``."""
    return Docker(receptor, box, **options).optimize(ligands)


def score_records(
    records, receptor, box, scoring="vina", weights=None, local_only=False, cache_dir=None
):
    """Vina's score on explicit receptor atoms of LigandRecords at their coordinates
    (``local_only``: minimised first, ``optimize.local_only``). Returns (rows, coords): per
    record a dict of floats (affinity, inter, intra, TERMS) and its (n, 3) final coordinates."""
    import jax

    from hpcfold.boxes import box_bounds
    from hpcfold.dock import batch, grids, kinematics, optimize, tables

    params = tables.make_params(scoring, weights)
    tb = tables.build_tables(params)
    lig = batch.pad_to_common(records)
    rec = batch.receptor_arrays(receptor, box, pad_multiple=256)
    lo, hi, _ = box_bounds(box)
    if local_only:
        poses = jax.vmap(kinematics.identity_pose)(lig)
        steps = optimize.default_max_steps(lig.n_atoms)
        grid = grids.cached_grid(receptor, box, params, cache_dir)
        _, coords = optimize.local_only(poses, lig, grid, rec, tb, lo, hi, steps)
        coords_lo = None
    else:  # the file's 3-decimal coordinates, split for double-like distances
        coords, coords_lo = batch.split_coords(lig.coords)
    aff, inter, intra, terms = (
        np.asarray(a) for a in optimize.score_poses(coords, lig, rec, tb, lo, hi, coords_lo)
    )
    coords = np.asarray(coords)
    rows = []
    for k in range(len(records)):
        row = {"affinity": float(aff[k]), "inter": float(inter[k]), "intra": float(intra[k])}
        row.update({t: float(terms[k, j]) for j, t in enumerate(TERMS)})
        rows.append(row)
    return rows, [coords[k, : r.n_atoms] for k, r in enumerate(records)]


# ------------------------------------------------------------------ differentiable scoring
class ScoringFunction:
    """Vina's scoring of one ligand in one receptor box as a JAX function of its coordinates:
    ``sf(coords)`` with coords (n, 3) A, the ligand's scored atoms in its PDBQT order (heavy
    atoms and polar hydrogens; ``sf.coords`` is the input pose) -> energy (kcal/mol, a JAX
    scalar). ``kind="affinity"``: Vina's reported score-only affinity, inter / (1 + w N_rot);
    ``"energy"``: inter + intra, the objective Vina's local optimisation minimises. Terms are
    interpolated on Vina's ``smooth`` table, so the function is continuous and ``jax.grad``
    gives Vina's forces; atoms outside the box pay Vina's penalty. Jittable."""

    def __init__(self, record: LigandRecord, receptor: ReceptorRecord, box: Box, scoring: str,
                 weights: dict | None, kind: str):  # fmt: skip
        import jax

        from hpcfold.boxes import box_bounds
        from hpcfold.dock import batch, tables

        if kind not in ("affinity", "energy"):
            raise UserError(f"kind must be affinity or energy, got {kind!r}")
        self.record, self.kind = record, kind
        self.coords = np.asarray(record.coords, np.float32)
        self._params = tables.make_params(scoring, weights)
        self._tables = tables.build_tables(self._params)
        padded = batch.pad_to_common([record])
        self._lig = type(padded)(*(None if a is None else np.asarray(a)[0] for a in padded))
        self._rec = batch.receptor_arrays(receptor, box, pad_multiple=256)
        lo, hi, _ = box_bounds(box)
        self._lo, self._hi = lo.astype(np.float32), hi.astype(np.float32)
        self._fn = jax.jit(self._energy)

    def _energy(self, coords):
        import jax.numpy as jnp

        from hpcfold.dock import energy

        lig = self._lig
        x = jnp.zeros(lig.coords.shape, coords.dtype).at[: self.coords.shape[0]].set(coords)
        # Vina's box rule (clamp, 10^6 per A outside) written so that inside the box the
        # penalty's gradient is exactly 0: slope * |x - clip(x)| would add +-10^6 terms that
        # cancel in float32 and round the gradient to multiples of 1/16 kcal/mol/A
        adj = jnp.clip(x, self._lo, self._hi)
        out = jnp.maximum(self._lo - x, 0.0) + jnp.maximum(x - self._hi, 0.0)
        penalty = 1.0e6 * jnp.sum(jnp.where((lig.atom_mask & (lig.xs >= 0))[:, None], out, 0.0))
        inter, _ = energy.inter_atoms(adj, lig, self._rec, self._tables, 1000.0, smooth=True)
        inter = inter + penalty
        if self.kind == "energy":
            return inter + energy.intra(x, lig, self._tables, 1000.0, smooth=True)
        return energy.affinity(inter, 0.0, 0.0, lig.n_rot, self._params)

    def __call__(self, coords):
        import jax.numpy as jnp

        coords = jnp.asarray(coords, jnp.float32)
        if coords.shape != self.coords.shape:
            raise ValueError(f"coords must have shape {self.coords.shape}, got {coords.shape}")
        return self._fn(coords)


def scoring_function(receptor, box: Box, ligand, scoring: str = "vina",
                     weights: dict | None = None, kind: str = "affinity") -> ScoringFunction:  # fmt: skip
    """``ScoringFunction`` of the first pose of ``ligand`` (a Mol with 3D coordinates, an SDF or
    PDBQT file, or a LigandRecord) in ``receptor`` (record or path) and ``box``."""
    if isinstance(receptor, str | os.PathLike):
        receptor = load_receptor(receptor)
    items = prepare_ligands(ligand, keep_coords=True)
    if isinstance(items[0], Failure):
        f = items[0]
        raise UserError(f"{f.lig_id}: {f.reason.name}: {f.message}")
    return ScoringFunction(items[0], receptor, box, scoring, weights, kind)
