"""Realism check: train a small hand-segmentation net on synthetic renders, look at its masks on real photos.

CPU-sized stand-in for HandSegNet: a small fully-convolutional encoder-decoder on 128x128 inputs,
label ``mask > 1`` (hand vs everything else, as HandSegNet's), trained for a bounded wall time.
The overlay sheet shows, for every real photograph, the predicted hand probability in red.

    python -m training.synth --out /tmp/synth_tc --count 20000 --seed 11 --size 128
    nice -n 10 python -m training.synth.transfer_check --data /tmp/synth_tc --real ../shared/data/real/images \\
        --out docs/synth_transfer.png --minutes 25
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import cli_main

log = logging.getLogger(__name__)


def _block(cin, cout, stride=1, dil=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dil, dilation=dil, bias=False),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(0.01, inplace=True))


class TinySegNet(nn.Module):
    """Encoder to 1/8 with dilated context, light decoder with skips; one hand logit per pixel.

    About 0.1 GMAC per 128x128 image, so that it trains on two shared CPU cores in minutes.
    """

    def __init__(self, w: int = 16):
        super().__init__()
        # 1/2
        self.e1 = nn.Sequential(nn.Conv2d(3, w, 5, 2, 2, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.01, True))
        self.e2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w))                                    # 1/4
        self.e3 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, dil=2), _block(4 * w, 4 * w, dil=4),
                                _block(4 * w, 4 * w, dil=8))                                                     # 1/8
        self.d2 = _block(4 * w + 2 * w, 24)
        self.d1 = nn.Sequential(nn.Conv2d(24 + w, w, 1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.01, True),
                                _block(w, w))
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        size = x.shape[2:]
        x = x / 255.0 - 0.5
        s1 = self.e1(x)
        s2 = self.e2(s1)
        y = self.e3(s2)
        y = self.d2(torch.cat([F.interpolate(y, size=s2.shape[2:], mode="bilinear", align_corners=False), s2], 1))
        y = self.d1(torch.cat([F.interpolate(y, size=s1.shape[2:], mode="bilinear", align_corners=False), s1], 1))
        return F.interpolate(self.out(y), size=size, mode="bilinear", align_corners=False)[:, 0]


def load_split(set_dir: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """All colour images (N, size, size, 3) RGB uint8 and hand masks (N, size, size) uint8 of a split."""
    files = sorted((set_dir / "color").glob("*.png"))
    X = np.zeros((len(files), size, size, 3), np.uint8)
    Y = np.zeros((len(files), size, size), np.uint8)
    for i, f in enumerate(files):
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        m = cv2.imread(str(set_dir / "mask" / f.name), cv2.IMREAD_UNCHANGED)
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            m = cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST)
        X[i], Y[i] = img, m > 1
        if i % 5000 == 0:
            log.info("loaded %d / %d", i, len(files))
    return X, Y


def _augment(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    """Flips, colour jitter (brightness, contrast, channel gains, greyscale) on a uint8->float batch."""
    x = x.float()
    n = x.shape[0]
    flip = torch.rand(n, generator=g) < 0.5
    x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
    gain = (1 + 0.25 * torch.randn(n, 1, 1, 1, generator=g)).clamp(0.5, 1.6)
    ch = (1 + 0.08 * torch.randn(n, 3, 1, 1, generator=g))
    mean = x.mean((1, 2, 3), keepdim=True)
    con = (1 + 0.2 * torch.randn(n, 1, 1, 1, generator=g)).clamp(0.6, 1.5)
    x = ((x - mean) * con + mean) * gain * ch
    grey = torch.rand(n, generator=g) < 0.05
    x[grey] = x[grey].mean(1, keepdim=True).expand(-1, 3, -1, -1)
    return x.clamp(0, 255), y


def train(X, Y, minutes: float, batch: int = 16, lr: float = 2e-3, seed: int = 0, val: int = 500, crop: int = 96):
    """Adam(W) with a cosine schedule over a wall-time budget on random crops; returns the net and a summary."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = TinySegNet()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    Xt = torch.from_numpy(X).permute(0, 3, 1, 2)          # uint8, shared memory
    Yt = torch.from_numpy(Y)
    val = min(val, len(X) // 5)
    ntr = len(X) - val
    t0 = time.time()
    it = 0
    budget = minutes * 60
    hist = []
    net.train()
    while time.time() - t0 < budget:
        idx = torch.randint(0, ntr, (batch,), generator=g)
        xb, yb = Xt[idx], Yt[idx]
        if crop and crop < xb.shape[-1]:
            offs = torch.randint(0, xb.shape[-1] - crop + 1, (batch, 2), generator=g).tolist()
            xb = torch.stack([xb[i, :, r:r + crop, c:c + crop] for i, (r, c) in enumerate(offs)])
            yb = torch.stack([yb[i, r:r + crop, c:c + crop] for i, (r, c) in enumerate(offs)])
        x, y = _augment(xb, yb.float(), g)
        frac = (time.time() - t0) / budget
        for pg in opt.param_groups:
            pg["lr"] = lr * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        logit = net(x)
        loss = F.binary_cross_entropy_with_logits(logit, y, pos_weight=torch.tensor(3.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss.detach()))
        it += 1
        if it % 100 == 0:
            log.info("it %d  %.1f min  loss %.4f", it, (time.time() - t0) / 60, np.mean(hist[-100:]))
    net.eval()
    # synthetic validation IoU
    inter = union = 0
    with torch.no_grad():
        for s in range(ntr, len(X), 100):
            p = net(Xt[s:s + 100].float()) > 0
            t = Yt[s:s + 100].bool()
            inter += int((p & t).sum())
            union += int((p | t).sum())
    return net, {"iterations": it, "minutes": (time.time() - t0) / 60, "train_samples": ntr, "val_samples": val,
                 "val_iou": inter / max(union, 1), "final_loss": float(np.mean(hist[-100:])) if hist else None}


def predict(net: nn.Module, rgb: np.ndarray, long_side: int = 160) -> np.ndarray:
    """Hand probability (H, W) of an RGB image at its own size (the net sees long_side pixels)."""
    h, w = rgb.shape[:2]
    s = long_side / max(h, w)
    nh, nw = max(8, int(round(h * s / 8)) * 8), max(8, int(round(w * s / 8)) * 8)
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        p = torch.sigmoid(net(torch.from_numpy(small).permute(2, 0, 1)[None].float()))[0].numpy()
    return cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)


def overlay_sheet(net, real_dir: Path, tile: int = 240, cols: int = 4, long_side: int = 160) -> tuple[np.ndarray, list]:
    files = sorted(p for p in real_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    tiles, stats = [], []
    for f in files:
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        prob = predict(net, rgb, long_side)
        h, w = rgb.shape[:2]
        s = tile / max(h, w)
        img = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        pr = cv2.resize(prob, (img.shape[1], img.shape[0]))
        over = img.astype(np.float32)
        over = over * (1 - 0.6 * pr[..., None]) + np.array([255, 0, 0], np.float32) * 0.6 * pr[..., None]
        over = over.astype(np.uint8)
        cnts, _ = cv2.findContours((pr > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(over, cnts, -1, (255, 255, 0), 1)
        canvas = np.full((tile, tile, 3), 32, np.uint8)
        canvas[:over.shape[0], :over.shape[1]] = over
        cv2.putText(canvas, f.stem[:28], (4, tile - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(canvas)
        stats.append({"image": f.name, "fg_fraction": float((prob > 0.5).mean()), "max_prob": float(prob.max())})
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 32))
    sheet = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    return sheet, stats


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synth.transfer_check",
                                description="Train a small hand-segmentation net on synthetic data; overlay its "
                                            "masks on real photographs.")
    p.add_argument("--data", required=True, help="synthetic dataset top folder (RHD layout)")
    p.add_argument("--set", dest="set_name", default="training", help="split folder to train on")
    p.add_argument("--real", required=True, help="folder of real photographs")
    p.add_argument("--out", required=True, help="overlay sheet PNG")
    p.add_argument("--minutes", type=float, default=25.0, help="training wall-time budget")
    p.add_argument("--size", type=int, default=128, help="training resolution")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--save", default="/tmp/synth_tinyseg.pt", help="where to keep the trained weights")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    torch.set_num_threads(a.threads)
    X, Y = load_split(Path(a.data) / a.set_name, a.size)
    log.info("%d samples, hand pixels %.2f%%", len(X), 100 * Y.mean())
    net, summary = train(X, Y, a.minutes)
    torch.save(net.state_dict(), a.save)
    sheet, stats = overlay_sheet(net, Path(a.real))
    cv2.imwrite(a.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    summary["real"] = stats
    Path(a.out).with_suffix(".json").write_text(json.dumps(summary, indent=1))
    log.info("summary: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
