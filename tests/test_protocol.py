"""The estimator interface: the real estimator, its tracker and the app's fakes all satisfy it."""
from app_fakes import FakeEstimator

from handcam.protocol import Estimator, Tracker


def test_the_real_estimator_and_its_tracker_satisfy_the_protocol(lite_estimator):
    assert isinstance(lite_estimator, Estimator)
    assert isinstance(lite_estimator.tracker(), Tracker)


def test_the_fakes_satisfy_the_protocol():
    fake = FakeEstimator()
    assert isinstance(fake, Estimator) and isinstance(fake.tracker(), Tracker)


def test_something_else_does_not():
    class NotAnEstimator:
        def __call__(self, frame):
            return None

    assert not isinstance(NotAnEstimator(), Estimator)
