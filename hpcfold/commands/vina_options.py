"""Vina config files (``--config``) for the commands that speak Vina: ``dock`` and ``score``.

Vina 1.2 takes every command-line option in its config file too, and the command line wins.
Each command names the keys it uses (filled into ``args`` where the command line left them
unset) and the keys it ignores (a warning says so); any other key (``flex``, ``maps``, a typo)
is an error, so that no setting is dropped silently.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from hpcfold.errors import UserError

BOX_KEYS = ("center_x", "center_y", "center_z", "size_x", "size_y", "size_z")
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
    from hpcfold.boxes import box_values, parse_vina_options, read_config_text

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
            raise UserError(f"{args.config}: bad value for {key}: {opts[key]!r}") from None
        setattr(args, key, [val] if key in as_list else val)
    return box_values(opts, args.config)
