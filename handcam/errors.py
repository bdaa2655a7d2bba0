"""Errors that name the problem and the fix. The CLIs print them as one line; the GUI shows them."""
from __future__ import annotations

import functools
import sys


class HandcamError(Exception):
    """Base class: the message is meant for the user, complete and on one line."""


class InputError(HandcamError, ValueError):
    """A frame, image or video that cannot be used (missing, unreadable, wrong shape)."""


class WeightsError(HandcamError):
    """Weights that cannot be used: corrupt, wrong architecture, mismatched shapes, bad checksum."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """No weights where they were looked for; the message says how to get them."""


class SourceError(HandcamError):
    """A camera or video that cannot be opened or stopped delivering frames."""


#: What the command-line mains turn into ``error: ...`` and exit status 2 (anything else is a bug and
#: keeps its traceback).
USER_ERRORS = (HandcamError, ValueError)


def print_error(message) -> int:
    """Print ``error: <message on one line>`` to stderr; returns the exit status 2."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def cli_main(main):
    """Decorate a CLI ``main(argv) -> int``: a user error prints one line (``print_error``) and returns 2."""
    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            return main(argv)
        except USER_ERRORS as e:
            return print_error(e)

    return wrapper
