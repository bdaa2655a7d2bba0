"""``python -m training.showcase --weights W.pt --images PATH... --out SHEET.png``: a contact sheet of
what a weights file does on photos: each tile is one photo with the found hand's mask, crop box and
skeleton drawn (``handcam.draw.annotate``), and a caption with the side and the presence score, or
"no hand" when nothing was found.

PATH is an image or a folder of images; ``--count`` photos are taken evenly spread over all of them
(in name order; with ``--each``, from each PATH), so a sheet is reproducible and not picked by hand.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from handcam.draw import annotate
from handcam.estimator import HandPoseEstimator
from handcam.sources import image_files, load_image

from .errors import TrainingError, cli_main

log = logging.getLogger(__name__)


def collect_images(paths, count: int) -> list[Path]:
    """Images of ``paths`` (files, or folders' images in name order), ``count`` of them evenly spread."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += image_files(p)
        elif p.is_file():
            found.append(p)
        else:
            raise TrainingError(f"{p}: no such image or folder")
    if not found:
        raise TrainingError(f"no images in {', '.join(map(str, paths))}")
    if count >= len(found):
        return found
    return [found[int(i)] for i in np.linspace(0, len(found) - 1, count).round()]


def tile(frame: np.ndarray, result, size: tuple[int, int]) -> np.ndarray:
    """One photo with its result drawn, letterboxed into ``size`` (W, H), with a caption."""
    drawn = annotate(frame, result, mask_opacity=0.45)
    w, h = size
    s = min(w / drawn.shape[1], (h - 20) / drawn.shape[0])
    small = cv2.resize(drawn, (max(1, int(drawn.shape[1] * s)), max(1, int(drawn.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    out = np.full((h, w, 3), 255, np.uint8)
    y0, x0 = 20 + (h - 20 - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    if result.hands:
        caption = "  ".join(f"{h.side} ({h.side_score:.2f})" if h.side_score is not None else h.side
                            for h in result.hands)
        caption += f"  presence {min(h.presence for h in result.hands):.2f}"
    else:
        caption = "no hand"
    cv2.putText(out, caption, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def showcase(estimator, images, cols: int = 4, tile_size: tuple[int, int] = (320, 260)) -> np.ndarray:
    """The contact sheet (RGB uint8) of ``estimator`` on ``images`` (paths)."""
    tiles = []
    for path in images:
        frame = load_image(path)
        tiles.append(tile(frame, estimator.estimate(frame, with_mask=True), tile_size))
    rows = -(-len(tiles) // cols)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (rows * cols - len(tiles))
    return np.vstack([np.hstack(tiles[r * cols:(r + 1) * cols]) for r in range(rows)])


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--weights", help="handcam weights file (default: the estimator's search, e.g. the bundled file)")
    p.add_argument("--images", nargs="+", required=True, help="images or folders of images")
    p.add_argument("--count", type=int, default=20, help="photos on the sheet (evenly spread over the images)")
    p.add_argument("--each", action="store_true", help="--count photos from each PATH instead (evenly spread within "
                   "it): every source on the sheet, however many photos it has")
    p.add_argument("--cols", type=int, default=4, help="tiles per row")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--out", required=True, help="the sheet (PNG)")
    return p


@cli_main
def main(argv=None) -> int:
    args = build_parser("python -m training.showcase").parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.each:
        images = [img for path in args.images for img in collect_images([path], args.count)]
    else:
        images = collect_images(args.images, args.count)
    est = HandPoseEstimator.load(args.weights, device=args.device)
    sheet = showcase(est, images, cols=args.cols)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise TrainingError(f"cannot write {args.out}")
    print(f"{len(images)} photos -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
