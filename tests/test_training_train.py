"""training/train.py: one command line over the task registry; it explains itself, trains the lite
family with the same commands, and turns user errors into one line and exit status 2."""
import dataclasses
import subprocess
import sys

import pytest
import torch
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)
from training_support import REPO, run_args, subprocess_env

from handcam import weights
from training import train
from training.augment import Extras
from training.config import TrainConfig
from training.errors import TrainingError
from training.tasks import TASKS, LiftingOptions, PoseNetOptions


def _main(task, root, out, iterations, *extra):
    return train.main(run_args(task, root, out, iterations, *extra))


def test_help_lists_tasks_and_flags():
    out = subprocess.run([sys.executable, "-m", "training.train", "--help"], capture_output=True, text=True,
                         cwd=REPO, env=subprocess_env(), timeout=120)
    text = " ".join(out.stdout.split())  # as wrapped to the terminal
    assert out.returncode == 0 and "python -m training.train" in text
    for name, cls in TASKS.items():  # every task with its recipe
        assert name in text and f"{cls.recipe.iterations // 1000}k iterations" in text
    out = subprocess.run([sys.executable, "-m", "training.train", "posenet", "--help"], capture_output=True,
                         text=True, cwd=REPO, env=subprocess_env(), timeout=120)
    assert out.returncode == 0
    for flag in ("--data", "--out", "--iterations", "--resume", "--init", "--device", "--batch-size", "--lr",
                 "--checkpoint-every", "--workers", "--seed", "--arch", "--amp"):
        assert flag in out.stdout
    assert "30000" in out.stdout and "1e-05@10k" in out.stdout
    # every flag of every task has a help text
    parser = train.build_parser()
    sub = next(a for a in parser._actions if a.dest == "task")
    for name, sp in sub.choices.items():
        for action in sp._actions:
            assert action.help, (name, action.dest)


def test_flags_become_one_config(tmp_path):
    # the flags are turned into an immutable TrainConfig with the task's own options, once, in the CLI
    task, config = train.parse(["posenet", "--data", "d", "--out", "o", "--crop-size", "64", "--flip", "0.5",
                                "--lr-steps", "5", "--no-progress", "--init", "w.pt", "--workers", "0"])
    assert task.name == "posenet" and config.options == PoseNetOptions(crop_size=64, sigma=None)
    assert config.extras == Extras(flip=0.5) and config.lr_steps == (5,) and config.lr == 1e-4
    assert (config.iterations, config.batch_size, config.progress, config.init) == (30_000, 8, False, "w.pt")
    assert config == TrainConfig.for_task(task, "d", "o", options=config.options, extras=config.extras,
                                          lr_steps=(5,), progress=False, init="w.pt", workers=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0
    _, lifting = train.parse(["lifting", "--data", "d", "--out", "o", "--sigma", "12"])
    assert lifting.options == LiftingOptions(sigma=12.0) and lifting.record()["sigma"] == 12.0


def test_arch_lite(rhd_root, tmp_path):
    try:
        import handcam.models.lite  # noqa: F401
    except ImportError:
        with pytest.raises(TrainingError, match="handcam.models.lite"):
            train.run(*train.parse(["lifting", "--data", str(rhd_root), "--out", str(tmp_path / "lite"),
                                    "--arch", "lite"]))
        return
    # the lite family trains with the same commands and exports weights the library builds
    for task, extra, keys in (("handsegnet", ["--crop-size", "32"], ["handsegnet"]),
                              ("posenet", ["--crop-size", "64"], ["posenet"]),
                              ("lifting", [], ["poseprior", "viewpoint"])):
        out = tmp_path / f"lite_{task}"
        assert _main(task, rhd_root, out, 1, "--arch", "lite", "--batch-size", "2", *extra) == 0
        ck = torch.load(out / "checkpoint.pt", weights_only=True)
        assert ck["iteration"] == 1
        sds, meta = weights.load_weights(out / "weights.pt")
        assert meta["architecture"] == "lite"
        weights.build_networks(sds, keys, architecture="lite")


def test_user_errors_exit_2(rhd_root, tmp_path, capsys):
    assert _main("lifting", rhd_root, tmp_path / "a", 2, "--batch-size", "2") == 0
    capsys.readouterr()
    # resuming from a checkpoint of another network is refused: one line, status 2
    assert _main("posenet", rhd_root, tmp_path / "a", 3, "--resume") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --resume:") and "lifting checkpoint" in err and len(err.splitlines()) == 1
    assert _main("lifting", tmp_path / "no_rhd", tmp_path / "b", 1) == 2
    assert "anno_training.pickle" in capsys.readouterr().err
    assert _main("posenet", rhd_root, tmp_path / "c", 1, "--init", str(tmp_path / "a" / "weights.pt")) == 2
    assert "no 'posenet' network" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert _main("lifting", rhd_root, tmp_path / "d", 1, "--device", "cuda") == 2
        assert "no CUDA device" in capsys.readouterr().err
