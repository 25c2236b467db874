"""Exceptions shared by all layers, and the one rule for echoing user values in messages."""

from __future__ import annotations

MAX_ECHO = 80  # characters of a user value echoed in a message (a YAML bomb expands to GBs)


def shorten(value, limit: int = MAX_ECHO) -> str:
    """Text of ``value`` for an error message: one line, at most ``limit`` characters (then
    ``...`` and the full length). A container is named by type and size only: the repr of a
    nested alias expansion can be gigabytes."""
    if isinstance(value, list | tuple | dict | set):
        return f"a {type(value).__name__} of {len(value)} items"
    text = value if isinstance(value, str) else repr(value)
    n = len(text)
    text = " ".join(text[: limit + 1].split())  # one line
    if n > limit:
        return repr(text[: limit - 3] + "...") + f" ({n} characters)"
    return repr(text) if isinstance(value, str) else text


def cut(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` on one line, cut to ``limit`` characters (ending with ``...`` when cut)."""
    one = " ".join(str(text)[: 2 * limit].split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


class UserError(Exception):
    """Bad user input (missing file, bad config, unsupported receptor...).

    ``message`` says what is wrong (with the offending value, cut short by ``shorten``),
    ``fix`` (optional) what to do. The CLI prints ``hpcfold CMD: error: MESSAGE (FIX)`` as one
    line without a traceback and exits with status 2.
    """

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message + (f"; {self.fix}" if self.fix else "")


class OptionError(UserError, ValueError):
    """A bad value of one named setting of a model that checks itself (``SearchOptions``).

    ``key`` is the setting's field name (``exhaustiveness``), ``problem`` what is wrong with
    its value (``must be >= 1, got 0``); the message is ``NAME PROBLEM``. Each front end keeps
    the problem's words and names the setting its own way (``named``): ``search.exhaustiveness``
    in a screen config, ``--exhaustiveness`` on the command line, the keyword in Python. A
    ValueError too, as every bad value the engine refuses."""

    def __init__(self, key: str, problem: str, name: str | None = None):
        super().__init__(f"{name or key} {problem}")
        self.key, self.problem = key, problem

    def named(self, name: str) -> OptionError:
        """The same error with the setting called ``name``."""
        return OptionError(self.key, self.problem, name)
