"""Contact sheet of an RHD-layout dataset: a grid of samples, the 2D skeleton drawn on every other one.

``python -m training.synth.contact_sheet --data DIR --out docs/synth_samples.png``
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from handcam.skeleton import BONES, NUM_KEYPOINTS, bone_colors_uint8

from ..errors import DatasetNotFoundError, cli_main
from ..rhd_format import load_annotations

log = logging.getLogger(__name__)


def draw_skeleton(img_rgb: np.ndarray, uv_vis: np.ndarray) -> np.ndarray:
    """Draw both hands' bones (skeleton.BONES colours); filled dots visible, rings occluded keypoints."""
    out = img_rgb.copy()
    cols = bone_colors_uint8()
    h, w = out.shape[:2]
    for hand in range(2):
        kp = uv_vis[hand * NUM_KEYPOINTS:(hand + 1) * NUM_KEYPOINTS]
        if not kp[:, 2].any():
            continue
        inside = (kp[:, 0] > -w) & (kp[:, 0] < 2 * w) & (kp[:, 1] > -h) & (kp[:, 1] < 2 * h)
        for (a, b), c in zip(BONES, cols):
            if inside[a] and inside[b]:
                pa, pb = (int(round(kp[a, 0])), int(round(kp[a, 1]))), (int(round(kp[b, 0])), int(round(kp[b, 1])))
                cv2.line(out, pa, pb,
                         tuple(int(x) for x in c), 2, cv2.LINE_AA)
        for k in range(NUM_KEYPOINTS):
            if inside[k]:
                p = (int(round(kp[k, 0])), int(round(kp[k, 1])))
                cv2.circle(out, p, 3, (255, 255, 255), -1 if kp[k, 2] else 1, cv2.LINE_AA)
    return out


def contact_sheet(set_dir: str | Path, ids: list[int], cols: int = 8, tile: int = 160) -> np.ndarray:
    """RGB grid of the given samples of ``set_dir`` (an RHD split folder), skeleton on odd tiles."""
    set_dir = Path(set_dir)
    found = sorted(set_dir.glob("anno_*.pickle"))
    if not found:
        raise DatasetNotFoundError(f"{set_dir}: no anno_<set>.pickle; --data must be a dataset's top folder "
                                   f"(RHD's layout) and --set one of its splits")
    anno = load_annotations(found[0])
    tiles = []
    for n, i in enumerate(ids):
        img = cv2.cvtColor(cv2.imread(str(set_dir / "color" / f"{i:05d}.png")), cv2.COLOR_BGR2RGB)
        if n % 2 == 1:
            img = draw_skeleton(img, anno[i]["uv_vis"])
        tiles.append(cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)]
    return np.vstack(rows)


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synth.contact_sheet",
                                description="Contact sheet of a synthetic (or RHD) dataset.")
    p.add_argument("--data", required=True, help="dataset top folder (contains <set>/color ...)")
    p.add_argument("--set", dest="set_name", default="training", help="split folder to show (training or evaluation)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--rows", type=int, default=8, help="rows of tiles (samples 0 .. rows x cols - 1)")
    p.add_argument("--cols", type=int, default=8, help="tiles per row")
    p.add_argument("--tile", type=int, default=160, help="tile side in pixels")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    ids = list(range(a.rows * a.cols))
    sheet = contact_sheet(Path(a.data) / a.set_name, ids, a.cols, a.tile)
    cv2.imwrite(a.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    log.info("wrote %s", a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
