"""Screen configuration: frozen dataclasses loaded strictly from YAML (``hpcfold screen C.yaml``).

Every key is documented in the docstring of the dataclass that holds it (``Attributes``), the
user guide's config reference is checked against ``config_keys()``. Unknown keys are errors that
name the key with its section (``search.exhaustivness``). Relative paths are resolved against the
directory of the config file, so a config and its inputs can move together. Only
``yaml.safe_load`` is used. This module imports nothing heavier than yaml (rank 0 of a screen
loads it and must stay light).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from typing import Any

import yaml

from hpcfold.dock.presets import SearchOptions
from hpcfold.errors import OptionError, UserError, cut, shorten

# A config is a few dozen values; anchors and aliases may share sections, but a document that
# expands to more values than this is an alias bomb ("billion laughs": 570 bytes -> 10^9).
MAX_YAML_VALUES = 100_000
PATH = {"path": True}  # field metadata: a path, resolved against the config file's directory
# field metadata: not a user key (filled by the loader, or set from Python only:
# ``hpcfold.dock.presets.NOT_IN_CONFIG``); the loader leaves such a field at its default
INTERNAL = {"internal": True}


def _user_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a section that are config keys (not ``INTERNAL``)."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


@dataclasses.dataclass(frozen=True)
class BoxConfig:
    """Search box: give exactly one of ``center``+``size``, ``vina_config`` or ``autobox_ligand``.

    Attributes:
        center: box center ``[x, y, z]`` in Angstrom (with ``size``).
        size: full edge lengths ``[x, y, z]`` in Angstrom, Vina's convention (with ``center``).
        vina_config: path to an AutoDock Vina config file (``center_x = ...``, ``size_x = ...``);
            other keys in that file are ignored.
        autobox_ligand: path to a ligand (PDBQT/PDB/SDF) whose extent defines the box.
        autobox_add: padding in Angstrom added on every side of ``autobox_ligand`` (default 4).
    """

    center: tuple[float, ...] | None = None
    size: tuple[float, ...] | None = None
    vina_config: str | None = dataclasses.field(default=None, metadata=PATH)
    autobox_ligand: str | None = dataclasses.field(default=None, metadata=PATH)
    autobox_add: float = 4.0

    def _check(self, where: str) -> None:
        given = [
            name
            for name, on in (
                ("center/size", self.center is not None or self.size is not None),
                ("vina_config", self.vina_config is not None),
                ("autobox_ligand", self.autobox_ligand is not None),
            )
            if on
        ]
        if len(given) != 1:
            raise UserError(
                f"{where}: give exactly one of center+size, vina_config or autobox_ligand"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if given == ["center/size"]:
            if self.center is None or self.size is None:
                raise UserError(f"{where}: center and size go together")
            if len(self.center) != 3 or len(self.size) != 3:
                raise UserError(f"{where}: center and size need three numbers each")
            if not all(s > 0 for s in self.size):
                raise UserError(f"{where}.size: edge lengths must be positive, got "
                                f"{list(self.size)}")  # fmt: skip
        if self.autobox_add < 0:
            raise UserError(f"{where}.autobox_add must be >= 0")


@dataclasses.dataclass(frozen=True)
class DeviceConfig:
    """Where each rank runs the docking kernel.

    Attributes:
        mode: ``auto`` (a GPU when JAX sees one, GPU ``local_rank mod n_gpus``; else CPU),
            ``cpu`` or ``gpu`` (fail when no GPU initialises instead of falling back to CPU).
        gpu_memory_fraction: fraction of each GPU's memory JAX may take
            (``XLA_PYTHON_CLIENT_MEM_FRACTION``); null = JAX's default.
        preallocate: preallocate that memory up front (``XLA_PYTHON_CLIENT_PREALLOCATE``).
        compile_cache: cache directory shared by all ranks and runs: JAX's persistent
            compilation cache in its ``jax/`` subfolder, receptor grid maps in ``grids/``;
            null = ``$HPCFOLD_CACHE`` or ``~/.cache/hpcfold``.
        cores_per_rank: CPU cores per worker rank; null = the node's cores divided evenly among
            the node's worker ranks.
        cpu_threads: XLA threads per CPU worker rank (``NPROC``). CPU results are bitwise
            identical across rank counts and chunk sizes for a fixed value; the default 1 makes
            one process and ``mpiexec -n N`` agree. Scale with ranks (one per core) first.
    """

    mode: str = "auto"
    gpu_memory_fraction: float | None = None
    preallocate: bool = False
    compile_cache: str | None = dataclasses.field(default=None, metadata=PATH)
    cores_per_rank: int | None = None
    cpu_threads: int = 1

    def _check(self, where: str) -> None:
        if self.cpu_threads < 1:
            raise UserError(f"{where}.cpu_threads must be >= 1, got {self.cpu_threads}")
        if self.mode not in ("auto", "cpu", "gpu"):
            raise UserError(f"{where}.mode must be auto, cpu or gpu, got {shorten(self.mode)}")
        frac = self.gpu_memory_fraction
        if frac is not None and not 0.0 < frac <= 1.0:
            raise UserError(f"{where}.gpu_memory_fraction must be in (0, 1], got {frac}")
        if self.cores_per_rank is not None and self.cores_per_rank < 1:
            raise UserError(f"{where}.cores_per_rank must be >= 1")


@dataclasses.dataclass(frozen=True)
class PrepConfig:
    """Ligand preparation settings (``hpcfold.chem.prepare.PrepOptions``), used when the
    feature store has to be built first. null = PrepOptions' default.

    Attributes:
        seed: RDKit embedding seed.
        max_heavy_atoms: ligands with more heavy atoms fail as TOO_LARGE.
        max_torsions: ligands with more rotatable bonds fail as TOO_MANY_TORSIONS.
        max_automorphisms: cap on symmetry permutations kept for RMSD.
        embed_max_iterations: RDKit embedding attempts.
        ff_max_iterations: force-field minimisation iterations after embedding.
    """

    seed: int | None = None
    max_heavy_atoms: int | None = None
    max_torsions: int | None = None
    max_automorphisms: int | None = None
    embed_max_iterations: int | None = None
    ff_max_iterations: int | None = None

    def _check(self, where: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and value < 0:
                raise UserError(f"{where}.{f.name} must be >= 0, got {value}")

    def options_dict(self) -> dict[str, Any]:
        """Keyword arguments for ``PrepOptions`` (only the keys that were set)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass(frozen=True)
class ScreenConfig:
    """Top level of a screen config file.

    Attributes:
        receptor: receptor file (``.pdbqt``, or ``.pdb`` with hydrogens).
        box: the search box (section, see ``BoxConfig``).
        ligands: ligand files (SMILES ``.smi``, ``.sdf``, ``.pdbqt``), one path or a list; they
            are prepared into ``features`` when that store does not exist yet.
        features: feature store from ``hpcfold prep``; default: ``<output stem>.features.h5``
            next to ``output``. Built (MPI-parallel, resumable) from ``ligands`` when missing.
        output: results store (HDF5); rerunning the same config resumes it.
        chunk_size: ligands handed to a rank at a time (results do not depend on it).
        search: docking search (section, see ``hpcfold.dock.presets.SearchOptions``: the one
            model of a search's settings, which checks them).
        device: device binding (section, see ``DeviceConfig``).
        prep: ligand preparation (section, see ``PrepConfig``).
        progress_interval: seconds between progress log lines when stderr is not a terminal.
        commit_interval: seconds between commits of the results store: chunks that arrive
            within this window are committed together as one crash-safe part file (0: one
            commit per chunk). A crash loses at most this window, which the rerun redoes.
        worker_timeout: seconds a worker rank holding chunks may stay silent before it counts
            as hung: its chunks go to the other ranks and it is excluded (0: derived from the
            chunk times seen, max(60 s, 10 x the slowest), 600 s before the first result).
        keep_poses: which poses the results store keeps per ligand: ``all`` (every mode),
            ``best`` (the best one) or ``top_k`` (the ``keep_top_k`` best). Scores are always
            kept.
        keep_top_k: poses kept per ligand with ``keep_poses: top_k``.
        hit_threshold: when set (kcal/mol), only ligands with a best affinity at or below it
            keep poses; the others keep their scores only (a 10^9 screen stores ~60 bytes
            per non-hit).
    """

    receptor: str = dataclasses.field(metadata=PATH)
    output: str = dataclasses.field(metadata=PATH)
    box: BoxConfig
    ligands: tuple[str, ...] = dataclasses.field(default=(), metadata=PATH)
    features: str | None = dataclasses.field(default=None, metadata=PATH)
    chunk_size: int = 32
    search: SearchOptions = SearchOptions()
    device: DeviceConfig = DeviceConfig()
    prep: PrepConfig = PrepConfig()
    progress_interval: float = 10.0
    commit_interval: float = 2.0
    worker_timeout: float = 0.0
    keep_poses: str = "all"
    keep_top_k: int = 3
    hit_threshold: float | None = None
    source: str = dataclasses.field(default="", metadata=INTERNAL)  # the config file's path
    text: str = dataclasses.field(default="", metadata=INTERNAL)  # the config file's text

    def _check(self, where: str) -> None:
        if self.chunk_size < 1:
            raise UserError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if not self.progress_interval > 0:
            raise UserError(f"progress_interval must be > 0, got {self.progress_interval}")
        if self.commit_interval < 0:
            raise UserError(f"commit_interval must be >= 0, got {self.commit_interval}")
        if not self.worker_timeout >= 0:  # NaN fails too
            raise UserError(f"worker_timeout must be >= 0, got {self.worker_timeout}")
        if self.keep_poses not in ("all", "best", "top_k"):
            raise UserError(f"keep_poses must be all, best or top_k, got {self.keep_poses!r}")
        if self.keep_top_k < 1:
            raise UserError(f"keep_top_k must be >= 1, got {self.keep_top_k}")
        if self.hit_threshold is not None and not math.isfinite(self.hit_threshold):
            raise UserError(f"hit_threshold must be a finite number, got {self.hit_threshold}")
        if not self.ligands and self.features is None:
            raise UserError("give ligands (files to prepare) and/or features (a prep store)")

    @property
    def max_poses(self) -> int | None:
        """Poses kept per ligand under ``keep_poses`` (None: all)."""
        return {"all": None, "best": 1, "top_k": self.keep_top_k}[self.keep_poses]

    @property
    def features_path(self) -> str:
        """The feature store path (explicit, or derived from ``output``)."""
        if self.features is not None:
            return self.features
        stem = self.output[:-3] if self.output.endswith(".h5") else self.output
        return stem + ".features.h5"


# --------------------------------------------------------------------------------------------
def config_keys(cls: type = ScreenConfig, prefix: str = "") -> list[str]:
    """All user keys, dotted (``search.preset``), for docs checks."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in _user_fields(cls):
        keys.append(prefix + f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(config_keys(hints[f.name], prefix + f.name + "."))
    return keys


def load_screen_config(path: str | os.PathLike) -> ScreenConfig:
    """Read and validate a screen config; raises ``UserError`` naming the offending key."""
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UserError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    try:
        # the node graph first (aliases shared, not expanded), then the values
        _check_aliases(yaml.compose(text, Loader=yaml.SafeLoader))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: the config must be a mapping of keys to values")
    cfg = _build(ScreenConfig, data, "", os.path.dirname(path), path)
    return dataclasses.replace(cfg, source=path, text=text)


def _check_aliases(node) -> None:
    """Refuse a document expanding to more than ``MAX_YAML_VALUES`` values once its aliases are
    followed, before anything is constructed (an alias bomb). YAMLError."""
    if node is not None and _expanded_size(node, {}, set()) > MAX_YAML_VALUES:
        raise yaml.YAMLError(
            f"the document expands to more than {MAX_YAML_VALUES} values through its "
            "aliases (&anchor / *alias): refused as an alias bomb"
        )


def _expanded_size(node, sizes: dict[int, int], busy: set[int]) -> int:
    """Values in ``node`` with every alias expanded (memoised per node; a cycle is refused).
    Stops counting once past ``MAX_YAML_VALUES``."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in busy:
        raise yaml.YAMLError("a recursive alias (an anchor used inside itself)")
    busy.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, busy)
        if total > MAX_YAML_VALUES:
            break
    busy.discard(key)
    sizes[key] = total
    return total


def _build(cls: type, data: Any, where: str, base: str, path: str):
    label = where or "the top level"
    if not isinstance(data, dict):
        raise UserError(f"{path}: {label} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in _user_fields(cls)}
    for key in data:
        if key not in fields:
            raise UserError(
                f"{path}: unknown key '{where + '.' if where else ''}{cut(key)}' "
                f"(allowed in {label}: {', '.join(fields)})"
            )
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"{path}: missing required key '{key}'")
            continue
        kwargs[name] = _convert(hints[name], data[name], key, base, path, f.metadata.get("path"))
    try:
        obj = cls(**kwargs)
    except OptionError as exc:  # a section that checks itself (SearchOptions) names the key alone
        raise exc.named(f"{where}.{exc.key}") from None
    if hasattr(obj, "_check"):
        obj._check(where or "config")
    return obj


def _convert(hint, value, key: str, base: str, path: str, is_path: bool):
    if dataclasses.is_dataclass(hint):
        return _build(hint, {} if value is None else value, key, base, path)
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        if is_path and not isinstance(value, list | tuple | str):
            raise UserError(f"{path}: '{key}' must be a path or a list of paths")
        return tuple(_convert(args[0], v, key, base, path, is_path) for v in items)
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"{path}: '{key}' must be true or false, got {shorten(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{path}: '{key}' must be an integer, got {shorten(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{path}: '{key}' must be a number, got {shorten(value)}")
        if not math.isfinite(value):
            raise UserError(f"{path}: '{key}' must be a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise UserError(f"{path}: '{key}' must be a non-empty string, got {shorten(value)}")
        if is_path:
            return os.path.normpath(os.path.join(base, os.path.expanduser(value)))
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # programming error


def config_box(b: BoxConfig):
    """The ``hpcfold.types.Box`` of a box section (reads its Vina config or autobox ligand).
    Raises UserError for an unreadable file or non-finite / non-positive values."""
    from hpcfold import boxes
    from hpcfold.types import Box

    try:
        if b.vina_config is not None:
            return boxes.read_vina_config(b.vina_config)
        if b.autobox_ligand is not None:
            return boxes.autobox(boxes.ligand_coords(b.autobox_ligand), add=b.autobox_add)
        return Box(tuple(b.center), tuple(b.size))
    except (OSError, ValueError) as exc:
        raise UserError(f"box: {exc}") from None


def check_inputs(cfg: ScreenConfig) -> None:
    """What a screen checks before it prepares or docks anything (rank 0; no JAX): the
    receptor exists and parses into atoms, the box resolves and its grid maps fit in memory.
    The loader has already checked every number, the preset and the scoring. UserError."""
    from hpcfold import boxes
    from hpcfold.chem.receptor import read_receptor

    if not os.path.isfile(cfg.receptor):
        what = "is a folder" if os.path.isdir(cfg.receptor) else "not found"
        raise UserError(f"receptor {cfg.receptor} {what}", fix="fix 'receptor' in the config")
    read_receptor(cfg.receptor)
    boxes.check_grid_memory(config_box(cfg.box), "give a smaller box in the config (box: "
                            "center/size, or autobox_ligand around the binding site)")  # fmt: skip
