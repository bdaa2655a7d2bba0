"""training/data.py: the per-network datasets and the deterministic sampler."""
import torch
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)

from training import augment as A
from training.data import CropDataset, HandSegDataset, SeededBatchSampler


def test_datasets_and_sampler(rhd_root):
    seg = HandSegDataset(rhd_root, crop_size=128)
    s = seg[(0, (0, 0))]
    assert s["image"].shape == (3, 128, 128) and s["image"].dtype == torch.float32
    assert s["hand_mask"].shape == (128, 128) and set(s["hand_mask"].unique().tolist()) <= {0, 1}
    assert torch.equal(seg[(0, (0, 0))]["image"], s["image"])  # a sample is a function of its seed
    crop = CropDataset(rhd_root, crop_size=256)
    c = crop[(1, (0, 7))]
    assert c["image"].shape == (3, 256, 256) and c["uv"].shape == (21, 2)
    lift = CropDataset(rhd_root, noise=A.LIFTING_NOISE, with_image=False)
    assert "image" not in lift[(1, (0, 7))]
    # sampler: deterministic, resumable, shards ranks without overlap
    full = list(SeededBatchSampler(6, 2, seed=3, start=0, stop=5))
    assert list(SeededBatchSampler(6, 2, seed=3, start=2, stop=5)) == full[2:]
    ep0 = sorted(i for b in full[:3] for i, _ in b)
    assert ep0 == list(range(6))
    r0 = list(SeededBatchSampler(6, 1, 3, 0, 3, rank=0, world=2))
    r1 = list(SeededBatchSampler(6, 1, 3, 0, 3, rank=1, world=2))
    assert sorted(i for b in r0 + r1 for i, _ in b) == list(range(6))
