"""Exceptions shared by all layers."""


class UserError(Exception):
    """Bad user input (missing file, bad config, unsupported receptor...).

    The CLI prints the message without a traceback and exits with status 2.
    """
