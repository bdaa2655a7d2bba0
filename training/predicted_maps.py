"""PoseNet's own scoremaps of labelled hands, with each hand's 3D: what the lifting networks meet at run time.

The release trains PosePrior + ViewPoint on ground-truth scoremaps (clean Gaussians at the true keypoints)
of the renders only. At run time they read PoseNet's predicted maps: blurred, with doubled or missing peaks
where PoseNet is unsure, of real hands whose poses the renders never showed. This command makes such inputs
once (PoseNet is frozen while the lifting trains, so its maps are the same every epoch): the hand crops
PoseNet trains on (:class:`training.crops.HandCrops`: keypoint-centred crops with scale, rotation and centre
noise, a share of them wrong boxes, mirror, photometric changes) of renders (exact 3D) and of teacher-labelled
photos (the teacher's world landmarks), through a weights file's PoseNet, stored as

- ``scoremaps``: N x 21 x s x s float16, the last stage (the lifting's input before any resize);
- ``xyz``:       N x 21 x 3 float32, the hand's 3D turned with its crop (``crops.crop_xyz``), wrist at 0;
- ``hand_side``: N x 2 float32 one-hot of the hand in the crop (a mirrored crop swaps it);
- ``source``:    N int16, the index of the sample's source in ``sources`` (0: the renders).

``python -m training.train lifting --scoremaps FILE`` trains on it. Hands without 3D are skipped.

    python -m training.predicted_maps --weights weights/handcam-lite.pt --data RENDERS \\
        --real LABELS.jsonl ... --passes 2 --out maps.npz
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from handcam.models import registry
from handcam.weights import build_networks, load_weights

from . import mixed as M
from .crops import HandCrops
from .errors import TrainingError, cli_main

log = logging.getLogger(__name__)

#: The arrays of a predicted-maps file, and their dtypes.
FIELDS = {"scoremaps": np.float16, "xyz": np.float32, "hand_side": np.float32, "source": np.int16}


def hand_crops(data, real, passes: int, box_jitter: float, render_limit: int | None, seed: int):
    """The crops (a HandCrops view repeated ``passes`` times, each pass with other random draws) and the
    sources' names. Only hands with 3D are kept."""
    sources = []
    if data is not None:
        sources.append(M.RenderFrames(data, "training"))
    sources += [M.TeacherFrames(p) for p in real]
    if not sources:
        raise TrainingError("no source: give --data (renders) and/or --real (teacher labels)")
    mix = M.Mixture([(s, 1) for s in sources])
    arch = registry.get("lite")
    crops = HandCrops(mix, arch.input_size[1], arch.crop_size, box_jitter=box_jitter)
    items = []
    renders_taken = 0
    for n, (k, j) in enumerate(crops.items):
        source, i = mix.items[k]
        hand = source.hands(i)[j]
        if hand.xyz is None:
            continue
        if isinstance(source, M.RenderFrames):
            if render_limit is not None and renders_taken >= render_limit:
                continue
            renders_taken += 1
        items.append(n)
    if not items:
        raise TrainingError("none of the sources' hands has 3D (teacher labels need keypoints_world)")
    source_of = [sources.index(mix.items[crops.items[n][0]][0]) for n in items]
    keys = [(n, (seed, p)) for p in range(passes) for n in items]
    return crops, keys, np.array(source_of * passes, np.int16), [s.name for s in sources]


class _Keyed(torch.utils.data.Dataset):
    """HandCrops samples at explicit keys ((index, seed words): the seeded keys of ``training.data``)."""

    def __init__(self, crops, keys):
        self.crops, self.keys = crops, keys

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, n):
        return self.crops[self.keys[n]]


def predict_maps(weights, data=None, real=(), passes: int = 1, box_jitter: float = 0.3,
                 render_limit: int | None = None, batch_size: int = 64, workers: int = 1, seed: int = 0,
                 limit: int | None = None) -> dict:
    """The arrays of :data:`FIELDS` (and ``sources``: the sources' names) for ``weights``'s PoseNet."""
    state, meta = load_weights(weights)
    arch = meta.get("architecture", "paper")
    if arch != "lite":
        raise TrainingError(f"{weights}: a {arch} weights file; predicted maps are made for the lite family")
    posenet = build_networks(state, ["posenet"], arch, source=str(weights))["posenet"]
    crops, keys, source, names = hand_crops(data, real, passes, box_jitter, render_limit, seed)
    if limit is not None:
        keys, source = keys[:limit], source[:limit]
    loader = DataLoader(_Keyed(crops, keys), batch_size=batch_size, shuffle=False, num_workers=workers)
    out = {k: [] for k in ("scoremaps", "xyz", "hand_side")}
    done = 0
    with torch.inference_mode():
        for batch in loader:
            maps = posenet(batch["image"])[-1].float()          # the last stage: what the lift stage reads
            out["scoremaps"].append(maps.numpy().astype(np.float16))
            out["xyz"].append(batch["xyz"].numpy())
            out["hand_side"].append(batch["hand_side"].numpy())
            done += len(maps)
            if done // batch_size % 20 == 0:
                log.info("%d / %d crops", done, len(keys))
    arrays = {k: np.concatenate(v).astype(FIELDS[k]) for k, v in out.items()}
    arrays["source"] = source
    arrays["sources"] = np.array(names)
    return arrays


def read_maps(path) -> dict[str, np.ndarray]:
    """A predicted-maps file -> its arrays, checked; TrainingError naming the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"--scoremaps {path}: no such file; make it with python -m training.predicted_maps")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in (*FIELDS, "sources")}
    except (KeyError, ValueError, OSError) as e:
        raise TrainingError(f"--scoremaps {path}: not a predicted-maps file ({e}); make it with "
                            f"python -m training.predicted_maps") from None
    n = len(arrays["scoremaps"])
    if arrays["scoremaps"].ndim != 4 or any(len(arrays[k]) != n for k in FIELDS):
        raise TrainingError(f"--scoremaps {path}: its arrays disagree in length or shape")
    return arrays


class PredictedMaps(torch.utils.data.Dataset):
    """Samples of one or more predicted-maps files: ``{"scoremap": 21 x s x s float32, "xyz", "hand_side"}``."""

    def __init__(self, paths):
        files = [read_maps(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        sizes = {f["scoremaps"].shape[1:] for f in files}
        if len(sizes) != 1:
            raise TrainingError(f"--scoremaps: the files' maps differ in shape ({sorted(sizes)})")
        self.scoremaps = np.concatenate([f["scoremaps"] for f in files])
        self.xyz = np.concatenate([f["xyz"] for f in files])
        self.hand_side = np.concatenate([f["hand_side"] for f in files])

    def __len__(self) -> int:
        return len(self.scoremaps)

    def __getitem__(self, key):
        n = key[0] if isinstance(key, tuple) else key
        n %= len(self.scoremaps)
        return {"scoremap": torch.from_numpy(self.scoremaps[n].astype(np.float32)),
                "xyz": torch.from_numpy(self.xyz[n]), "hand_side": torch.from_numpy(self.hand_side[n])}


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.predicted_maps", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="a lite weights file; its PoseNet makes the maps")
    p.add_argument("--data", default=None, help="RHD-layout renders (python -m training.synth): exact 3D")
    p.add_argument("--real", nargs="*", default=[], help="teacher labels (JSONL with keypoints_world)")
    p.add_argument("--passes", type=int, default=1, help="crops per hand, each with its own random crop")
    p.add_argument("--box-jitter", type=float, default=0.3, help="share of crops cut from a wrong box "
                   "(too large, too small, off-centre, with the forearm), as PoseNet trains")
    p.add_argument("--render-limit", type=int, default=None, help="at most this many rendered hands per pass")
    p.add_argument("--limit", type=int, default=None, help="stop after this many crops (a quick look)")
    p.add_argument("--batch-size", type=int, default=64, help="crops per PoseNet call")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes")
    p.add_argument("--seed", type=int, default=0, help="seed of the crops' random draws")
    p.add_argument("--out", required=True, help="the .npz file to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arrays = predict_maps(args.weights, args.data, args.real, args.passes, args.box_jitter, args.render_limit,
                          args.batch_size, args.workers, args.seed, args.limit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    counts = np.bincount(arrays["source"], minlength=len(arrays["sources"]))
    for name, c in zip(arrays["sources"], counts):
        print(f"{c:7d}  {name}")
    print(f"{len(arrays['scoremaps'])} crops -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
