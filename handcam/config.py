"""One configuration object per run: what ``main.py`` was asked to do, built once by ``handcam.cli``
and handed to the app, the headless runners and the recorders (nothing below the CLI sees argparse).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .settings import PipelineSettings, RuntimeOptions

SOURCE_KINDS = ("camera", "video", "image")


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from: ('camera', index), ('video', path) or ('image', path)."""

    kind: str = "camera"
    value: int | str = 0

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"source kind must be one of {SOURCE_KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class Outputs:
    """Headless outputs (None: not written): JSON (image) / JSON lines (video), the 2x2 figure, an
    annotated video."""

    json: Path | None = None
    figure: Path | None = None
    video: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.json, self.figure, self.video) if p is not None]


@dataclass(frozen=True)
class RunConfig:
    """Everything one run of ``main.py`` needs.

    settings:    the pipeline's tunables; ``explicit`` names those given on the command line (the
                 window's saved values yield to them, and only to them)
    backend:     None: the library's default (``$HANDCAM_BACKEND``, else auto) -- a single headless image
                 defaults to torch in the CLI, where an ONNX export would cost more than the frame
    batch_size:  headless video: frames per estimator call (None: 8 on CUDA, 1 on a CPU)
    output_dir:  where the window saves screenshots and recordings (None: the current folder)
    smooth:      headless video: One Euro filter on each hand's keypoints (``handcam.smoothing``)
    """

    source: SourceSpec = field(default_factory=SourceSpec)
    weights: str | None = None
    device: str = "auto"
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    explicit: frozenset = frozenset()
    headless: bool = False
    outputs: Outputs = field(default_factory=Outputs)
    batch_size: int | None = None
    output_dir: Path | None = None
    verbose: bool = False
    smooth: bool = False

    def explicit_settings(self) -> dict:
        """The settings given on the command line, by name."""
        return {k: getattr(self.settings, k) for k in self.explicit}


def load_estimator(config: RunConfig):
    """The ``HandPoseEstimator`` a run's config asks for (its weights, device, settings, runtime)."""
    from .estimator import HandPoseEstimator

    return HandPoseEstimator.load(weights=config.weights, device=config.device, settings=config.settings,
                                  runtime=config.runtime)


def check_output_path(path) -> Path:
    """An output file we are about to write, checked before any work: its folder must exist and be
    writable, and the path must not be a folder. Raises ``InputError`` naming the problem and the fix."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write {path}: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: the folder {folder} does not exist; create it first "
                         f"or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {path}: the file exists and is read-only")
    return path


def check_output_folder(folder) -> Path:
    """A folder outputs go into (created when missing); InputError when it cannot be used."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot use {folder} for outputs: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {folder}: the folder is not writable")
    return folder
