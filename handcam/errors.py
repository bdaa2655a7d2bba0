"""Errors that name the problem and the fix. The CLI prints them as one line; the GUI shows them."""


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
