"""The error classes: what callers can catch them as."""
from handcam.errors import HandcamError, InputError, SourceError, WeightsError, WeightsNotFoundError


def test_hierarchy():
    assert issubclass(InputError, HandcamError) and issubclass(InputError, ValueError)
    assert issubclass(WeightsNotFoundError, WeightsError) and issubclass(WeightsNotFoundError, FileNotFoundError)
    assert issubclass(SourceError, HandcamError) and not issubclass(SourceError, ValueError)
    assert str(InputError("no frames given")) == "no frames given"
