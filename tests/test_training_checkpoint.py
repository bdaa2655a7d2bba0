"""training/checkpoint.py: exported weights load in the library; --init from them or a checkpoint."""
import torch
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)
from training_support import run_task

from handcam import weights
from training import checkpoint, tasks


def test_exported_weights_load_in_the_library(rhd_root, tmp_path):
    small = {"batch_size": 1, "options": tasks.HandSegOptions(crop_size=32)}
    run_task(tasks.HandSegTask(), rhd_root, tmp_path / "seg", 1, **small)
    sds, meta = weights.load_weights(tmp_path / "seg" / "weights.pt")
    assert set(sds) == {"handsegnet"} and meta["iterations"] == "1"
    nets = weights.build_networks(sds, ["handsegnet"])
    assert isinstance(nets["handsegnet"], torch.nn.Module)
    # --init from that file (and from a checkpoint) starts from those weights
    hist = run_task(tasks.HandSegTask(), rhd_root, tmp_path / "seg2", 1, **small,
                    init=str(tmp_path / "seg" / "checkpoint.pt"))
    assert len(hist) == 1
    from_ckpt = checkpoint.load_init_weights(tmp_path / "seg" / "checkpoint.pt")
    from_file = checkpoint.load_init_weights(tmp_path / "seg" / "weights.pt")
    assert set(from_ckpt) == set(from_file) == {"handsegnet"}
    for k, v in from_file["handsegnet"].items():
        assert torch.equal(v, from_ckpt["handsegnet"][k]), k


def test_rng_state_round_trip():
    import random

    import numpy as np

    st = checkpoint.rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    checkpoint.set_rng_state(st)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
