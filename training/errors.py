"""Errors of the training side: the message names the problem and the fix. Library code raises them;
the command-line mains print ``error: <message>`` and exit with status 2."""
from __future__ import annotations

from handcam.errors import USER_ERRORS, HandcamError, cli_main

__all__ = ["TrainingError", "DatasetNotFoundError", "USER_ERRORS", "cli_main"]


class TrainingError(HandcamError, ValueError):
    """A run that cannot start or continue as asked (flags that do not fit, a checkpoint of another task)."""


class DatasetNotFoundError(TrainingError, FileNotFoundError):
    """No dataset where ``--data`` points."""
