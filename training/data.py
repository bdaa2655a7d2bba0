"""Datasets per network and the deterministic sampler behind exact ``--resume``.

The sampler yields batches of ``(index, seed)`` pairs. Sample position ``p`` of the (global, over all
processes) stream is drawn from the epoch permutation ``p // N`` (seeded by ``(seed, epoch)``) and its
augmentation seed is ``(seed, p)``. Everything a batch contains is therefore a function of
``(seed, iteration)`` alone: resuming at iteration ``i`` reproduces the batches an uninterrupted run
would have seen, whatever the number of DataLoader workers.

Each dataset decodes only what its network needs: HandSegNet reads colour + mask, PoseNet colour +
mask (the mask decides the dominant hand), lifting only the mask.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from . import augment as A
from .rhd import RHD, dominant_side, select_hand


class SeededBatchSampler(Sampler):
    """Batches of (index, seed) for iterations ``[start, stop)`` of rank ``rank`` of ``world``."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0,
                 world: int = 1, shuffle: bool = True):
        if n <= 0:
            raise ValueError("empty dataset")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.stop, self.rank, self.world, self.shuffle = start, stop, rank, world, shuffle
        self._perm_epoch, self._perm = None, None

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def _index(self, p: int) -> int:
        epoch, k = divmod(p, self.n)
        if not self.shuffle:
            return k
        if self._perm_epoch != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g).tolist(), epoch
        return self._perm[k]

    def __iter__(self):
        b, w = self.batch_size, self.world
        for it in range(self.start, self.stop):
            base = (it * w + self.rank) * b
            yield [(self._index(p), (self.seed, p)) for p in range(base, base + b)]


class _RHDTask(Dataset):
    def __init__(self, root, split: str = "training", extras: A.Extras = A.Extras(), reader: RHD | None = None):
        self.rhd = reader if reader is not None else RHD(root, split)
        self.extras = extras

    def __len__(self) -> int:
        return len(self.rhd)

    @staticmethod
    def _rng(key) -> np.random.Generator:
        if isinstance(key, tuple):
            idx, seed = key
            return int(idx), np.random.default_rng(list(seed))
        return int(key), np.random.default_rng(0)

    def __getitem__(self, key):
        i, rng = self._rng(key)
        return self.item(i, rng)


class HandSegDataset(_RHDTask):
    """Random ``crop_size`` crops of the frame and the hand mask (label > 1), hue shift +-hue."""

    def __init__(self, root, split="training", crop_size: int = 256, hue: float = 0.1, downscale: float = 1.0,
                 **kw):
        super().__init__(root, split, **kw)
        self.crop_size, self.hue, self.downscale = crop_size, hue, downscale

    def item(self, i, rng):
        image, mask = self.rhd.color(i), self.rhd.mask(i)
        if self.downscale != 1.0:  # a network that runs on smaller frames sees hands at its own scale
            h, w = mask.shape
            size = (max(1, round(w * self.downscale)), max(1, round(h * self.downscale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        if self.extras.draw_flip(rng):
            image, mask = A.mirror_image(image), A.mirror_mask(mask)
        if self.crop_size:
            image, mask = A.random_crop(rng, image, mask, self.crop_size)
        if self.hue > 0:
            image = A.shift_hue(image, float(rng.uniform(-self.hue, self.hue)))
        image = self.extras.apply_photometric(rng, image)
        return {"image": torch.from_numpy(A.normalize(image)),
                "hand_mask": torch.from_numpy((mask > 1).astype(np.int64))}


class CropDataset(_RHDTask):
    """Keypoint-centred hand crops (PoseNet, lifting). ``with_image=False`` skips decoding colour."""

    def __init__(self, root, split="training", noise: A.CropNoise = A.POSENET_NOISE, crop_size: int = 256,
                 with_image: bool = True, use_wrist: bool = False, **kw):
        super().__init__(root, split, **kw)
        self.noise, self.crop_size, self.with_image, self.use_wrist = noise, crop_size, with_image, use_wrist

    def item(self, i, rng):
        mask = self.rhd.mask(i)
        image = self.rhd.color(i) if self.with_image else None
        h, w = mask.shape
        flip = self.extras.draw_flip(rng)
        hand = select_hand(self.rhd.annotation(i), dominant_side(mask), use_wrist=self.use_wrist,
                           mirror_width=w if flip else None)
        uv, centre, scale = A.hand_crop(hand.uv, hand.vis, (h, w), rng, self.noise, self.crop_size)
        out = {
            "uv": torch.from_numpy(A.to_crop(uv, centre, scale, self.crop_size)),
            "vis": torch.from_numpy(hand.vis.copy()),
            "hand_side": torch.from_numpy(hand.hand_side),
            "coord_can": torch.from_numpy(hand.coord_can),
            "rot_mat": torch.from_numpy(hand.rot_mat),
            "xyz": torch.from_numpy(hand.xyz),
            "scale3d": torch.tensor(hand.scale, dtype=torch.float32),
            "crop_scale": torch.tensor(scale, dtype=torch.float32),
            "crop_center": torch.from_numpy(centre.astype(np.float32)),
            "uv_frame": torch.from_numpy(hand.uv),
        }
        if image is not None:
            if flip:
                image = A.mirror_image(image)
            image = self.extras.apply_photometric(rng, image)
            out["image"] = torch.from_numpy(A.crop_normalized(image, centre, scale, self.crop_size))
        return out
