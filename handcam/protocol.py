"""The estimator's interface, as the app worker, the headless runner and the test fakes use it."""
from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

import numpy as np

from .results import FrameResult
from .settings import PipelineSettings


@runtime_checkable
class Tracker(Protocol):
    def process(self, frame: np.ndarray, settings: PipelineSettings | None = None, *, index: int | None = None,
                stream=None, timestamp: float | None = None) -> FrameResult: ...

    def reset(self) -> None: ...


@runtime_checkable
class Estimator(Protocol):
    settings: PipelineSettings
    device: object  # a torch.device (its ``type`` says 'cpu' or 'cuda')

    def estimate(self, frame: np.ndarray, settings: PipelineSettings | None = None) -> FrameResult: ...

    def estimate_batch(self, frames: Iterable[np.ndarray],
                       settings: PipelineSettings | None = None) -> list[FrameResult]: ...

    def tracker(self, **options) -> Tracker: ...

    def describe(self) -> str: ...
