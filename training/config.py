"""The configuration of one training run: :class:`TrainConfig`, immutable, built once by the command
line (``training.train.config_from_args``) or in code (:meth:`TrainConfig.for_task`), and read by
:mod:`training.loop`, :mod:`training.tasks` and :mod:`training.checkpoint`.

The options only one task has (crop size, hue, scoremap width) are a small frozen dataclass of that
task (``task.Options``: :class:`training.tasks.HandSegOptions`, ``PoseNetOptions``, ``LiftingOptions``),
held in :attr:`TrainConfig.options`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augment import Extras
from .mixed import Geometric


@dataclass(frozen=True)
class TrainConfig:
    """How to train one network (the flags of ``python -m training.train TASK``).

    data, out:          RHD top folder (or a synthetic dataset in its layout); run folder
    iterations:         total training iterations (a resumed run continues up to it)
    batch_size:         samples per iteration per process
    lr, lr_steps:       initial learning rate (later ones keep the recipe's ratios); the iterations
                        at which it drops, one per later value of the recipe's schedule
    checkpoint_every:   write RUN_DIR/checkpoint.pt every N iterations and at the end
    arch:               network family of :mod:`handcam.models.registry`
    workers:            DataLoader worker processes (0 = load in the main process)
    seed:               seed of model init, data order, augmentation and dropout
    device, amp:        "auto" / "cpu" / "cuda"; mixed precision "auto" / "off" / "bf16" / "fp16" (CUDA only)
    resume:             continue exactly from RUN_DIR/checkpoint.pt
    init:               weights file or checkpoint to initialise from (ignored with ``resume``)
    log_every:          TensorBoard / log.jsonl interval in iterations
    progress:           show a tqdm progress bar
    extras:             augmentations beyond the release recipe
    real:               teacher label files (``python -m training.teacher --masks``) trained on beside ``data``
    hand_free:          folders of photos without hands (HandSegNet: every pixel background)
    real_repeat, hand_free_repeat: how many times each real / hand-free frame is in an epoch
    real_boxes:         human hand-box files of the ``real`` photos (``training.labels.read_boxes``): boxes without
                        a teacher hand are hands the teacher missed, not trained on
    composite:          composited frames per epoch (:mod:`training.composite`: the renders' and ``real`` hands
                        pasted onto the ``hand_free`` photos, wallpapers and procedural backgrounds); 0 = none
    box_jitter:         PoseNet: share of crops cut around a wrong box (too large, too small, off-centre, with
                        the forearm: :func:`training.crops.jittered_box`)
    geometric:          random scale / rotation / mirror of :mod:`training.mixed` (None: the release recipe's
                        own crops); the mixed data is used with it, with ``real`` / ``hand_free``, and for a
                        3-class HandSegNet
    options:            the task's own options (an instance of ``task.Options``)
    """

    data: str | Path
    out: str | Path
    iterations: int
    batch_size: int
    lr: float
    lr_steps: tuple[int, ...]
    checkpoint_every: int
    options: Any
    arch: str = "paper"
    workers: int = 0
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    resume: bool = False
    init: str | Path | None = None
    log_every: int = 20
    progress: bool = True
    extras: Extras = field(default_factory=Extras)
    real: tuple[str, ...] = ()
    hand_free: tuple[str, ...] = ()
    real_repeat: int = 1
    hand_free_repeat: int = 1
    real_boxes: tuple[str, ...] = ()
    composite: int = 0
    box_jitter: float = 0.0
    geometric: Geometric | None = None

    @property
    def mixed(self) -> bool:
        """Whether the run trains on :mod:`training.mixed`'s sources instead of the release's RHD crops."""
        return bool(self.real or self.hand_free or self.composite or self.geometric is not None)

    @classmethod
    def for_task(cls, task, data, out, **changes) -> TrainConfig:
        """``task``'s release recipe (iterations, batch size, schedule, checkpoint interval) and default
        options on ``data`` -> ``out``, with ``changes`` (any other field) applied."""
        r = task.recipe
        base = dict(iterations=r.iterations, batch_size=r.batch_size, lr=r.lrs[0], lr_steps=tuple(r.lr_steps),
                    checkpoint_every=r.checkpoint_every, options=task.Options())
        return cls(data=data, out=out, **{**base, **changes})

    def record(self) -> dict:
        """The configuration as one flat dict of plain values (stored in checkpoints)."""
        flat = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "geometric" and v is not None:
                flat.update({f"geometric_{k}": x for k, x in dataclasses.asdict(v).items()})
            elif dataclasses.is_dataclass(v):
                flat.update(dataclasses.asdict(v))
            else:
                flat[f.name] = list(v) if isinstance(v, tuple) else v if _plain(v) else str(v)
        return flat


def _plain(v) -> bool:
    return v is None or isinstance(v, (int, float, str, bool))
