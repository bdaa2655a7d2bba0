"""training/loop.py: --resume continues exactly after a kill, torchrun (2 CPU processes, gloo)
completes, and a run that cannot start raises a TrainingError."""
import subprocess
import sys
import time

import pytest
import torch
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)
from training_support import REPO, run_task, subprocess_env

from training.errors import TrainingError
from training.tasks import LiftingTask, PoseNetOptions, PoseNetTask


def test_resume_after_kill_matches_uninterruptedrun_task(rhd_root, tmp_path):
    """SIGKILL a training process once it has written a checkpoint, --resume, and the following
    iterations match an uninterrupted run (dropout included: lifting)."""
    common = ["--batch-size", "3", "--checkpoint-every", "2", "--lr", "1e-4", "--lr-steps", "4"]
    same = {"batch_size": 3, "checkpoint_every": 2, "lr": 1e-4, "lr_steps": (4,)}  # as a TrainConfig
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "training.train", "lifting", "--data", str(rhd_root), "--out", str(killed),
           "--iterations", "100000", "--workers", "0", "--no-progress", "--seed", "7", *common]
    proc = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not (killed / "checkpoint.pt").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    n = torch.load(killed / "checkpoint.pt", weights_only=True)["iteration"]
    assert n >= 2 and n % 2 == 0
    stop = n + 3
    # resumed with a worker process: batches depend only on (seed, iteration), not on who loads them
    rest = run_task(LiftingTask(), rhd_root, killed, stop, resume=True, **same, workers=1)
    full = run_task(LiftingTask(), rhd_root, tmp_path / "full", stop, **same)
    assert [i for i, _ in rest] == list(range(n + 1, stop + 1))
    assert [i for i, _ in full] == list(range(1, stop + 1))
    for (i, a), (j, b) in zip(full[n:], rest):
        assert i == j and abs(a - b) < 1e-5, (i, a, b)
    wa = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    wb = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert wa["iteration"] == wb["iteration"] == stop
    for k, v in wa["model"].items():
        assert torch.allclose(v, wb["model"][k], atol=1e-6), k
    # resuming from a checkpoint of another network is refused
    with pytest.raises(TrainingError, match="lifting checkpoint"):
        run_task(PoseNetTask(), rhd_root, killed, stop + 1, resume=True)


def test_runs_that_cannot_start_raise(rhd_root, tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint at"):
        run_task(LiftingTask(), rhd_root, tmp_path / "empty", 1, resume=True)
    with pytest.raises(TrainingError, match="--lr-steps needs 1 values"):
        run_task(LiftingTask(), rhd_root, tmp_path / "steps", 1, lr_steps=(1, 2))
    with pytest.raises(TrainingError, match="lifting takes LiftingOptions, not PoseNetOptions"):
        run_task(LiftingTask(), rhd_root, tmp_path / "opts", 1, options=PoseNetOptions())


def test_torchrun_two_cpu_processes(rhd_root, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.train", "lifting", "--data", str(rhd_root), "--out", str(out), "--iterations", "3",
           "--batch-size", "2", "--workers", "0", "--no-progress", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=subprocess_env(), timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["iteration"] == 3 and len(ck["rng"]) == 2
    assert (out / "weights.pt").is_file()
