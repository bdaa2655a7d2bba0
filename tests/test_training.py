"""Training: each network overfits a fixed batch, --resume continues exactly, torchrun (2 CPU
processes, gloo) completes, the CLIs explain themselves and export weights the library loads."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from rhd_tiny import make_rhd
from training import loop
from training.tasks import HandSegTask, LiftingTask, PoseNetTask

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rhd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("rhd")
    make_rhd(root)
    return root


def _args(task, root, out, *extra):
    p = loop.build_parser(task.recipe, "")
    task.add_args(p)
    return p.parse_args(["--data", str(root), "--out", str(out), *extra])


# small crops keep the full-size networks affordable on a CPU; lifting needs its fixed 32x32 input
@pytest.mark.parametrize("task_cls,extra,lr,steps", [
    (HandSegTask, ["--crop-size", "32"], 3e-4, 6),
    (PoseNetTask, ["--crop-size", "32", "--sigma", "4"], 3e-4, 6),
    (LiftingTask, [], 1e-3, 12),
])
def test_overfit_fixed_batch(rhd_root, tmp_path, task_cls, extra, lr, steps):
    torch.manual_seed(0)
    task = task_cls()
    args = _args(task, rhd_root, tmp_path, *extra)
    ds = task.dataset(args)
    batch = default_collate([ds[(i, (0, i))] for i in range(2)])
    model = task.build_model(args)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr)
    losses = []
    for _ in range(steps):
        loss = task.loss(model, batch, args)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] and sum(losses[-3:]) / 3 < 0.95 * losses[0], losses


def _run(task, root, out, iterations, *extra):
    args = ["--data", str(root), "--out", str(out), "--iterations", str(iterations), "--workers", "0",
            "--no-progress", "--seed", "7", *extra]
    return loop.main(task, "", args)


def test_resume_after_kill_matches_uninterrupted_run(rhd_root, tmp_path):
    """SIGKILL a training process once it has written a checkpoint, --resume, and the following
    iterations match an uninterrupted run (dropout included: lifting)."""
    import time

    common = ["--batch-size", "3", "--checkpoint-every", "2", "--lr", "1e-4", "--lr-steps", "4"]
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "training.train_lifting", "--data", str(rhd_root), "--out", str(killed),
           "--iterations", "100000", "--workers", "0", "--no-progress", "--seed", "7", *common]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    rest = _run(LiftingTask(), rhd_root, killed, stop, "--resume", *common, "--workers", "1")
    full = _run(LiftingTask(), rhd_root, tmp_path / "full", stop, *common)
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
    with pytest.raises(SystemExit, match="lifting checkpoint"):
        _run(PoseNetTask(), rhd_root, killed, stop + 1, "--resume")


def test_exported_weights_load_in_the_library(rhd_root, tmp_path):
    weights = pytest.importorskip("handcam.weights")
    _run(HandSegTask(), rhd_root, tmp_path / "seg", 1, "--batch-size", "1", "--crop-size", "32")
    sds, meta = weights.load_weights(tmp_path / "seg" / "weights.pt")
    assert set(sds) == {"handsegnet"} and meta["iterations"] == "1"
    nets = weights.build_networks(sds, ["handsegnet"])
    assert isinstance(nets["handsegnet"], torch.nn.Module)
    # --init from that file (and from a checkpoint) starts from those weights
    hist = _run(HandSegTask(), rhd_root, tmp_path / "seg2", 1, "--batch-size", "1", "--crop-size", "32",
                "--init", str(tmp_path / "seg" / "checkpoint.pt"))
    assert len(hist) == 1


def test_lr_schedule():
    r = HandSegTask.recipe
    assert [loop.lr_at(i, r.lrs, r.lr_steps) for i in (0, 19_999, 20_000, 29_999, 30_000, 39_999)] == \
        [1e-5, 1e-5, 1e-6, 1e-6, 1e-7, 1e-7]
    assert PoseNetTask.recipe.iterations == 30_000 and LiftingTask.recipe.iterations == 80_000


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_help_and_arch_lite(rhd_root, tmp_path):
    out = subprocess.run([sys.executable, "-m", "training.train_posenet", "--help"], capture_output=True, text=True,
                         cwd=REPO, env=_env(), timeout=120)
    assert out.returncode == 0
    for flag in ("--data", "--out", "--iterations", "--resume", "--init", "--device", "--batch-size", "--lr",
                 "--checkpoint-every", "--workers", "--seed", "--arch", "--amp"):
        assert flag in out.stdout
    assert "30000" in out.stdout and "1e-05@10k" in out.stdout
    try:
        import handcam.models.lite  # noqa: F401
    except ImportError:
        with pytest.raises(SystemExit, match="handcam.models.lite"):
            _run(LiftingTask(), rhd_root, tmp_path / "lite", 1, "--arch", "lite")
        return
    # the lite family trains with the same commands and exports weights the library builds
    weights = pytest.importorskip("handcam.weights")
    for task, extra, keys in ((HandSegTask(), ["--crop-size", "32"], ["handsegnet"]),
                              (PoseNetTask(), ["--crop-size", "64"], ["posenet"]),
                              (LiftingTask(), [], ["poseprior", "viewpoint"])):
        out = tmp_path / f"lite_{task.recipe.name}"
        hist = _run(task, rhd_root, out, 1, "--arch", "lite", "--batch-size", "2", *extra)
        assert len(hist) == 1 and torch.isfinite(torch.tensor(hist[0][1]))
        sds, meta = weights.load_weights(out / "weights.pt")
        assert meta["architecture"] == "lite"
        weights.build_networks(sds, keys, architecture="lite")


def test_torchrun_two_cpu_processes(rhd_root, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.train_lifting", "--data", str(rhd_root), "--out", str(out), "--iterations", "3",
           "--batch-size", "2", "--workers", "0", "--no-progress", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env(), timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["iteration"] == 3 and len(ck["rng"]) == 2
    assert (out / "weights.pt").is_file()


def test_export_merges_runs(tmp_path):
    weights = pytest.importorskip("handcam.weights")
    models = pytest.importorskip("handcam.models")
    from training.export import merge

    torch.manual_seed(0)
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    weights.save_weights(a, {"handsegnet": models.HandSegNet().state_dict(), "posenet": models.PoseNet().state_dict()}, {})
    pp, vp = models.PosePrior().state_dict(), models.ViewPoint().state_dict()
    posenet2 = models.PoseNet().state_dict()
    weights.save_weights(b, {"poseprior": pp, "viewpoint": vp, "posenet": posenet2}, {})
    src = merge([a, b], tmp_path / "all.pt")
    assert src["posenet"] == str(b) and src["handsegnet"] == str(a)
    sds, _ = weights.load_weights(tmp_path / "all.pt")
    assert set(sds) == {"handsegnet", "posenet", "poseprior", "viewpoint"}
    k = next(iter(posenet2))
    assert torch.equal(sds["posenet"][k], posenet2[k])
    weights.build_networks(sds)  # the estimator's loader accepts it
