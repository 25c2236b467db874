"""Vina config files (``--config``) and boxes for the commands that speak Vina: ``dock`` and
``score``.

Vina 1.2 takes every command-line option in its config file too, and the command line wins.
Each command names the keys it uses (filled into ``args`` where the command line left them
unset) and the keys it ignores (a warning says so); any other key (``flex``, ``maps``, a typo)
is an error, so that no setting is dropped silently.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from hpcfold import scoring
from hpcfold.boxes import (
    BOX_KEYS,
    autobox,
    box_values,
    check_grid_memory,
    ligand_coords,
    parse_vina_options,
    read_config_text,
)
from hpcfold.errors import UserError, shorten
from hpcfold.types import Box

__all__ = ["BOX_KEYS", "VINA_UNUSED", "apply_vina_config", "check_numbers", "parse_bool",
           "require", "resolve_box"]  # fmt: skip
# Number options and the least value each may take (all must be finite). A NaN weight makes
# every energy NaN. The search settings (energy_range, exhaustiveness, ...) are checked by
# ``hpcfold.dock.presets.SearchOptions`` (``hpcfold dock``'s ``search_options``).
_RANGES = (("autobox_add", 0),)
_FINITE = ("center", "size", *BOX_KEYS, "weight_gauss1", "weight_gauss2", "weight_repulsion",
           "weight_hydrophobic", "weight_hydrogen", "weight_rot")  # fmt: skip
# Vina options no hpcfold command has a use for, with their argument types (None: a switch).
# Accepted with a warning, so that a Vina command line or config file runs as it is.
VINA_UNUSED = {"cpu": int, "verbosity": int, "max_evals": int, "spacing": float,
               "write_maps": str, "force_even_voxels": None, "no_refine": None}  # fmt: skip
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """A Vina (boost program_options) switch value: 1/true/yes/on or 0/false/no/off."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a switch value (true/false): {text!r}")


def apply_vina_config(
    args,
    used: dict[str, Callable[[str], object]],
    ignored: tuple[str, ...],
    command: str,
    why_ignored: str,
    hint: str = "",
    as_list: tuple[str, ...] = (),
) -> dict[str, float]:
    """Fill ``args.<key>`` from the ``args.config`` file for every key of ``used`` that the
    command line left unset (None, or False for a switch); keys in ``as_list`` are set as a
    one-element list (options with ``nargs``). Keys of ``ignored`` get a warning on stderr; others are an error.

    used: key -> converter (str, int, float, ``parse_bool``). Returns the box values present
    (``BOX_KEYS``, floats). Raises UserError for an unknown key, a bad value, a key given twice
    or an unreadable file. No ``args.config``: returns {} and sets nothing.
    """
    if not args.config:
        return {}
    opts = parse_vina_options(read_config_text(args.config), args.config)
    bad = [k for k in opts if k not in used and k not in ignored + BOX_KEYS]
    if bad:
        raise UserError(
            f"{args.config}: hpcfold {command} does not support {', '.join(bad)} (it reads "
            f"the box, {', '.join(used)}{'; ' + hint if hint else ''})"
        )
    skipped = [k for k in opts if k in ignored]
    if skipped:
        print(f"warning: {args.config}: ignored {', '.join(skipped)} ({why_ignored})",
              file=sys.stderr)  # fmt: skip
    for key, kind in used.items():
        current = getattr(args, key, None)
        if key not in opts or (current is not None and current is not False):
            continue
        try:
            val = kind(opts[key])
        except ValueError:
            raise UserError(f"{args.config}: bad value for {key}: {shorten(opts[key])}") from None
        setattr(args, key, [val] if key in as_list else val)
    return box_values(opts, args.config)


def require(args, keys: tuple[str, ...]) -> None:
    """Check what every Vina-style command needs once the config is applied: ``args.scoring``
    is a registered scoring function, and each of ``keys`` is set. Raises UserError."""
    if args.scoring not in scoring.NAMES:
        raise UserError(f"scoring must be one of {', '.join(scoring.NAMES)}, got "
                        f"{shorten(args.scoring)}")  # fmt: skip
    check_numbers(args)
    missing = [k for k in keys if not getattr(args, k)]
    if missing:
        raise UserError(
            "give " + ", ".join(f"--{k}" for k in missing) + " (or set them in --config)"
        )


def check_numbers(args) -> None:
    """Every number option present on ``args`` is finite and in range (``_RANGES``; box sizes
    are checked with the box). Raises UserError naming the option and its value."""
    for name in _FINITE:
        value = getattr(args, name, None)
        for v in value if isinstance(value, list | tuple) else [value]:
            if v is not None and not math.isfinite(v):
                raise UserError(f"--{name} must be a finite number, got {v}")
    for name, low in _RANGES:
        v = getattr(args, name, None)
        if v is None:
            continue
        if not (math.isfinite(v) and v >= low):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number >= {low}, "
                            f"got {v}")  # fmt: skip


def resolve_box(args, config_box: dict[str, float] | None = None, grid_maps: bool = True) -> Box:
    """Box from the config's box keys (``config_box``, else read from --config), overridden by
    --center/--size, then by Vina's --center_x .. --size_z; or from --autobox-ligand (for the
    commands that have it). ``grid_maps``: the command builds grid maps of the box, so a box
    whose maps would not fit in memory is refused (``boxes.check_grid_memory``)."""
    box = _resolve_box(args, config_box)
    if grid_maps:
        check_grid_memory(box, "give a smaller box (--size, or --autobox-ligand around the "
                          "binding site)")  # fmt: skip
    return box


def _resolve_box(args, config_box: dict[str, float] | None) -> Box:
    per_axis = {k: getattr(args, k, None) for k in BOX_KEYS}
    if getattr(args, "autobox_ligand", None):
        if args.config or args.center or args.size or any(v is not None for v in per_axis.values()):
            raise UserError("--autobox-ligand cannot be combined with a box (--config/--center/"
                            "--size/--center_x..)")  # fmt: skip
        try:
            return autobox(ligand_coords(args.autobox_ligand), args.autobox_add)
        except ValueError as exc:
            raise UserError(f"--autobox-ligand: {exc}") from None
    if config_box is None:
        config_box = {}
        if args.config:
            config_box = box_values(parse_vina_options(read_config_text(args.config)), args.config)
    vals = dict(config_box)
    for name, given in (("center", args.center), ("size", args.size)):
        if given:
            vals.update({f"{name}_{ax}": float(v) for ax, v in zip("xyz", given, strict=True)})
    vals.update({k: v for k, v in per_axis.items() if v is not None})
    missing = [k for k in BOX_KEYS if k not in vals]
    if missing:
        raise UserError("give the box: --config, --center and --size, or --autobox-ligand "
                        f"(missing {', '.join(missing)})")  # fmt: skip
    try:
        return Box(center=tuple(vals[k] for k in BOX_KEYS[:3]),
                   size=tuple(vals[k] for k in BOX_KEYS[3:]))  # fmt: skip
    except ValueError as exc:
        raise UserError(str(exc)) from None
