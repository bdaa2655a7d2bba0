"""Composited training frames: real and rendered hands cut out with their masks and pasted onto other
backgrounds at every scale, position and rotation, then degraded like the cameras the app meets.

:class:`CompositeFrames` is a :class:`training.mixed.FrameSource` (image, side mask, labelled hands), so
HandSegNet and PoseNet train on it beside the other sources with their own augmentations on top. Frame
``i`` is a pure function of ``(seed, i)`` (``--resume`` stays exact; the worker count changes nothing).

One frame:

- **canvas**: a hand-free photo (windows of real frames with people, rooms and clothes; wallpapers from
  Debian's packages when installed) resized to one of :data:`CANVASES`, or a procedural background;
- **hands** (none, one or two): a hand of a donor frame (teacher-labelled photos, renders), either cut
  out along its mask (the mask stops at the wrist), or pasted with its surroundings in a soft elliptic
  patch, where the forearm and whatever else surrounds the hand keep their donor label (background);
  scaled so that its keypoints' box spans ``size`` of the canvas's shorter side (log-uniform: from a
  few dozen pixels to filling the frame), rotated, mirrored (the side swaps), placed anywhere (partly
  outside the frame too) or over a skin-coloured part of the canvas (faces, arms, bodies), its skin tone
  shifted on its own;
- **camera**: grayscale or IR-like frames, low resolution (down then up), motion blur, noise, exposure,
  colour casts, JPEG.

Labels follow the pixels: a pasted hand's pixels take its side, its soft border is ignored (255), a
hand hidden under a later one loses the covered keypoints' visibility, keypoints outside the frame are
not visible, and a hand with fewer than :data:`training.mixed.MIN_VISIBLE` visible keypoints stays in
the mask but is no PoseNet sample.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .mixed import BACKGROUND, IGNORE, LEFT, MIN_VISIBLE, RIGHT, FrameSource, Hand, apply_affine, similarity
from .synth.backgrounds import procedural

log = logging.getLogger(__name__)

#: Canvas sizes (width, height): landscape webcams, portrait phones, wide video, square crops.
CANVASES: tuple[tuple[int, int], ...] = ((640, 480), (480, 640), (640, 360), (512, 512))
_SIDE_LABEL = (LEFT, RIGHT)


@dataclass(frozen=True)
class CompositeOptions:
    """How composites are drawn (probabilities per frame or per hand).

    frames:      composites per epoch (each a different frame)
    size:        a hand's keypoint box as a fraction of the canvas's shorter side, log-uniform in (lo, hi)
    two_hands / no_hand: share of frames with two hands / with none
    context:     share of hands pasted with their surroundings (forearm as background) instead of cut out
    on_skin:     share of hands placed over a skin-coloured part of the canvas (faces, arms)
    procedural:  share of procedural canvases
    upright:     share of hands rotated by at most +-45 degrees (the rest: any angle)
    skin_shift:  share of hands whose colour is shifted on their own
    grayscale, infrared, low_res, motion_blur, noise, jpeg, cast: shares of frames so degraded
    """

    frames: int = 8000
    size: tuple[float, float] = (0.05, 1.0)
    two_hands: float = 0.3
    no_hand: float = 0.05
    context: float = 0.5
    on_skin: float = 0.3
    procedural: float = 0.2
    upright: float = 0.7
    skin_shift: float = 0.6
    grayscale: float = 0.12
    infrared: float = 0.05
    low_res: float = 0.2
    motion_blur: float = 0.12
    noise: float = 0.3
    jpeg: float = 0.35
    cast: float = 0.3


@dataclass(frozen=True)
class _Donor:
    source: int
    frame: int
    hand: int


class CompositeFrames(FrameSource):
    """``options.frames`` composites of ``donors`` (hands) on ``backgrounds`` (hand-free frames).

    donors:      sources with labelled hands and side masks, each with a weight (a hand is drawn by first
                 drawing a source by weight, then one of its hands uniformly)
    backgrounds: hand-free sources (every pixel background); photos from ``extra_photos`` too (RGB arrays)
    """

    def __init__(self, donors: list[tuple[FrameSource, float]], backgrounds: list[FrameSource],
                 options: CompositeOptions = CompositeOptions(), seed: int = 0,
                 extra_photos: list[np.ndarray] | None = None):
        self.options, self.seed = options, int(seed)
        self.donors = [s for s, _ in donors]
        self.hands_of: list[list[_Donor]] = []
        for k, (s, _) in enumerate(donors):
            self.hands_of.append([_Donor(k, i, j) for i in range(len(s)) for j, h in enumerate(s.hands(i))
                                  if int(h.vis.sum()) >= MIN_VISIBLE])
        weights = np.array([w if self.hands_of[k] else 0.0 for k, (_, w) in enumerate(donors)], np.float64)
        if not weights.sum() > 0:
            raise ValueError("composites need at least one donor source with labelled hands")
        self.donor_p = weights / weights.sum()
        self.backgrounds = list(backgrounds)
        self.extra_photos = list(extra_photos or [])
        self.name = (f"composites ({options.frames} of {sum(map(len, self.hands_of))} hands on "
                     f"{sum(map(len, self.backgrounds)) + len(self.extra_photos)} backgrounds)")
        self._last: tuple[int, tuple] | None = None

    def __len__(self) -> int:
        return self.options.frames

    def image(self, i):
        return self.frame(i)[0]

    def side_mask(self, i):
        return self.frame(i)[1]

    def hands(self, i):
        return self.frame(i)[2]

    def hand_count(self, i: int) -> int:
        """The hands composite ``i`` is drawn with, known without drawing it (it may rarely hold fewer:
        :func:`compose`)."""
        return planned_hands(self.seed, i, self.options)

    def frame(self, i: int) -> tuple[np.ndarray, np.ndarray, list[Hand]]:
        """(RGB uint8 H x W x 3, side mask H x W, hands) of composite ``i`` (the last one is cached)."""
        if self._last is None or self._last[0] != i:
            wanted = self.hand_count(i)
            self._last = (i, compose(self, np.random.default_rng([self.seed, int(i)]), wanted))
        return self._last[1]

    # -- drawing parts -----------------------------------------------------------------------
    def canvas(self, rng: np.random.Generator, size_wh: tuple[int, int]) -> np.ndarray:
        w, h = size_wh
        n_bg = sum(map(len, self.backgrounds)) + len(self.extra_photos)
        if n_bg == 0 or rng.random() < self.options.procedural:
            kind = str(rng.choice(["room", "clutter", "noise", "pattern"], p=[0.35, 0.3, 0.2, 0.15]))
            img = procedural(rng, max(w, h), kind)
            return np.clip(img[:h, :w] * 255 + 0.5, 0, 255).astype(np.uint8)
        k = int(rng.integers(n_bg))
        if k < len(self.extra_photos):
            img = self.extra_photos[k]
        else:
            k -= len(self.extra_photos)
            for src in self.backgrounds:
                if k < len(src):
                    img = src.image(k)
                    break
                k -= len(src)
        return random_window(rng, img, size_wh)

    def donor(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Hand]:
        k = int(rng.choice(len(self.donors), p=self.donor_p))
        d = self.hands_of[k][int(rng.integers(len(self.hands_of[k])))]
        src = self.donors[d.source]
        return src.image(d.frame), src.side_mask(d.frame), src.hands(d.frame)[d.hand]


def random_window(rng: np.random.Generator, img: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """A random window of ``img`` with the aspect of ``size_wh`` (60-100 % of the largest), resized to it,
    mirrored half the time."""
    w, h = size_wh
    ih, iw = img.shape[:2]
    fit = min(iw / w, ih / h) * rng.uniform(0.6, 1.0)
    cw, ch = max(1, int(w * fit)), max(1, int(h * fit))
    x, y = int(rng.integers(0, iw - cw + 1)), int(rng.integers(0, ih - ch + 1))
    win = img[y:y + ch, x:x + cw]
    interp = cv2.INTER_AREA if cw > w else cv2.INTER_LINEAR
    out = cv2.resize(win, (w, h), interpolation=interp)
    return np.ascontiguousarray(out[:, ::-1]) if rng.random() < 0.5 else out


def skin_map(rgb: np.ndarray) -> np.ndarray:
    """bool H x W: skin-coloured pixels (a fixed range in YCrCb: Cr 135-180, Cb 85-135, Y > 40)."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    return (ycc[..., 0] > 40) & (ycc[..., 1] >= 135) & (ycc[..., 1] <= 180) & (ycc[..., 2] >= 85) & (ycc[..., 2] <= 135)


def hand_alpha(mask: np.ndarray, hand: Hand, context: bool, rng: np.random.Generator) -> np.ndarray:
    """float32 H x W in [0, 1]: what of the donor frame is pasted for ``hand``. Cut out: the hand's side
    pixels and its ignored border near its keypoints, feathered. Context: a soft ellipse around the hand
    reaching past it (its forearm, what it holds or touches)."""
    h, w = mask.shape
    pts = hand.uv[hand.vis]
    lo, hi = pts.min(0), pts.max(0)
    extent = float(max(hi - lo)) + 1.0
    alpha = np.zeros((h, w), np.float32)
    if context:
        centre = (lo + hi) / 2 + rng.normal(0, 0.1 * extent, 2)
        axes = (hi - lo) / 2 * rng.uniform(1.3, 2.2, 2) + 0.15 * extent
        cv2.ellipse(alpha, (int(round(centre[0])), int(round(centre[1]))),
                    (int(round(axes[0])), int(round(axes[1]))), 0.0, 0, 360, 1.0, -1)
        sigma = 0.08 * extent
    else:
        near = np.zeros((h, w), np.uint8)
        g = int(round(0.25 * extent))
        x0, y0 = np.maximum(np.floor(lo).astype(int) - g, 0)
        x1, y1 = np.minimum(np.ceil(hi).astype(int) + g + 1, (w, h))
        near[y0:y1, x0:x1] = 1
        own = (mask == _SIDE_LABEL[hand.side]) | (mask == IGNORE)
        alpha[(own & (near > 0))] = 1.0
        alpha = cv2.erode(alpha, np.ones((3, 3), np.uint8))     # the feather inside the outline: less fringe
        sigma = max(0.6, 0.01 * extent)
    return cv2.GaussianBlur(alpha, (0, 0), sigma)


def _warp(img: np.ndarray, m: np.ndarray, size_wh: tuple[int, int], nearest: bool = False,
          border=0) -> np.ndarray:
    """``img`` through the 2 x 3 affine ``m``; shrinking by more than 2x first area-averages (no aliasing)."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if not nearest and scale < 0.5:
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(1, round(w * scale * 2)), max(1, round(h * scale * 2))),
                           interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        pre = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
        img, m = small, (np.vstack([m, [0.0, 0.0, 1.0]]) @ np.linalg.inv(pre))[:2]
    return cv2.warpAffine(img, m, size_wh, flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def shift_skin(rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """A hand's own colour change: hue, saturation and brightness (darker and lighter skin, tinted light)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + rng.uniform(-8, 8), 180)
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    hsv[..., 2] *= np.exp(rng.uniform(-0.7, 0.3))
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def paste_hand(rng, canvas: np.ndarray, labels: np.ndarray, donor: tuple, options: CompositeOptions,
               skin: np.ndarray | None) -> tuple[Hand, np.ndarray]:
    """Paste one donor hand into ``canvas`` / ``labels`` (in place); returns its hand in canvas pixels and
    the pixels it now covers (bool H x W)."""
    image, mask, hand = donor
    H, W = labels.shape
    context = rng.random() < options.context
    alpha = hand_alpha(mask, hand, context, rng)
    pts = hand.uv[hand.vis]
    extent = float(max(pts.max(0) - pts.min(0))) + 1.0
    lo, hi = options.size
    target = min(W, H) * float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    deg = rng.uniform(-45, 45) if rng.random() < options.upright else rng.uniform(-180, 180)
    if skin is not None and skin.any() and rng.random() < options.on_skin:
        ys, xs = np.nonzero(skin)
        k = int(rng.integers(len(xs)))
        where = np.array([xs[k], ys[k]], np.float64)
    else:
        margin = 0.25 * target
        where = rng.uniform([-margin, -margin], [W + margin, H + margin])
    m = similarity((pts.min(0) + pts.max(0)) / 2, target / extent, deg, where)
    flip = rng.random() < 0.5
    if flip:                                   # mirror about the canvas's vertical axis
        m = np.array([[-1.0, 0.0, W - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    img = _warp(image, m, (W, H))
    a = _warp(alpha, m, (W, H))
    lab = _warp(mask, m, (W, H), nearest=True, border=BACKGROUND)
    if flip:
        lab = np.where(lab == LEFT, RIGHT, np.where(lab == RIGHT, LEFT, lab)).astype(np.uint8)
    if rng.random() < options.skin_shift:
        img = shift_skin(rng, img)
    a3 = a[..., None]
    canvas[:] = np.clip(canvas * (1 - a3) + img * a3 + 0.5, 0, 255).astype(np.uint8)
    inside = a >= 0.5
    labels[inside] = lab[inside]
    soft = (a > 0.15) & (a < 0.85) & (lab != BACKGROUND)   # a soft border of hand pixels: not sure either way
    labels[soft] = IGNORE
    uv = apply_affine(m, hand.uv.astype(np.float64))
    return Hand(uv, hand.vis.copy(), 1 - hand.side if flip else hand.side), inside


def visible_in(hand: Hand, owner: np.ndarray, index: int) -> Hand:
    """``hand`` (pasted as number ``index``) with its keypoints outside the frame, or under a hand pasted
    later (``owner``: H x W, the number of the last paste covering each pixel, -1 none), marked invisible."""
    H, W = owner.shape
    xy = np.round(hand.uv).astype(np.int64)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
    on_top = owner[np.clip(xy[:, 1], 0, H - 1), np.clip(xy[:, 0], 0, W - 1)] <= index
    return Hand(hand.uv, hand.vis & inside & on_top, hand.side)


def camera(rng: np.random.Generator, rgb: np.ndarray, options: CompositeOptions) -> np.ndarray:
    """The whole frame as a different camera would give it (each effect with its share of frames)."""
    img = rgb
    H, W = img.shape[:2]
    if rng.random() < options.cast:
        gains = np.exp(rng.normal(0, 0.12, 3)) * np.exp(rng.normal(0, 0.3))
        img = np.clip(img.astype(np.float32) * gains.astype(np.float32), 0, 255).astype(np.uint8)
    if rng.random() < options.infrared:        # near-infrared: skin and cloth bright, colour gone, contrast low
        g = img[..., 0].astype(np.float32) * 0.7 + img.mean(-1) * 0.3
        g = 255 * (g / 255) ** rng.uniform(0.5, 0.9)
        img = np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, -1)
    elif rng.random() < options.grayscale:
        img = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
    if rng.random() < options.low_res:
        f = rng.uniform(2.0, 6.0)
        small = cv2.resize(img, (max(8, int(W / f)), max(8, int(H / f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
    if rng.random() < options.motion_blur:
        n = int(rng.integers(3, 12))
        k = np.zeros((n, n), np.float32)
        k[n // 2] = 1.0
        k = cv2.warpAffine(k, cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0),
                           (n, n))
        img = cv2.filter2D(img, -1, k / max(float(k.sum()), 1e-6))
    if rng.random() < options.noise:
        img = np.clip(img + rng.normal(0, rng.uniform(2, 12), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < options.jpeg:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 80))])
        if ok:
            img = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def planned_hands(seed: int, i: int, options: CompositeOptions) -> int:
    """How many PoseNet samples composite ``i`` is drawn to hold (0, 1 or 2), without drawing it."""
    r = np.random.default_rng([seed, int(i), 1]).random()
    return 0 if r < options.no_hand else 2 if r < options.no_hand + options.two_hands else 1


def compose(frames: CompositeFrames, rng: np.random.Generator,
            wanted: int) -> tuple[np.ndarray, np.ndarray, list[Hand]]:
    """One composite with ``wanted`` labelled hands (pasted until that many keep >= MIN_VISIBLE visible
    keypoints, a few tries at most): (RGB uint8 H x W x 3, side mask H x W uint8, hands)."""
    o = frames.options
    size = CANVASES[int(rng.integers(len(CANVASES)))]
    canvas = frames.canvas(rng, size).copy()
    labels = np.zeros(canvas.shape[:2], np.uint8)
    owner = np.full(canvas.shape[:2], -1, np.int32)
    skin = skin_map(canvas) if wanted else None
    pasted: list[Hand] = []
    hands: list[Hand] = []
    while len(hands) < wanted and len(pasted) < wanted + 3:
        hand, covered = paste_hand(rng, canvas, labels, frames.donor(rng), o, skin)
        owner[covered] = len(pasted)
        pasted.append(hand)
        hands = [h for h in (visible_in(h, owner, k) for k, h in enumerate(pasted)) if int(h.vis.sum()) >= MIN_VISIBLE]
    return camera(rng, canvas, o), labels, hands


def contact_sheet(frames: CompositeFrames, out, count: int = 24, cols: int = 6, tile: int = 240,
                  start: int = 0) -> np.ndarray:
    """Composites ``start`` .. ``start + count - 1`` on a grid: the frame, its side mask tinted (left
    yellow, right magenta, ignored grey) and each labelled hand's visible keypoints on their skeleton.
    Written to ``out`` (PNG); returns the sheet (RGB)."""
    from handcam.draw import draw_skeleton

    tint = {LEFT: (255, 220, 0), RIGHT: (255, 0, 255), IGNORE: (128, 128, 128)}
    rows = -(-count // cols)
    sheet = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for n in range(count):
        img, lab, hands = frames.frame(start + n)
        img = img.copy()
        for value, colour in tint.items():
            sel = lab == value
            img[sel] = (0.55 * img[sel] + 0.45 * np.array(colour)).astype(np.uint8)
        s = (tile - 4) / max(img.shape[:2])
        img = np.ascontiguousarray(cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                              interpolation=cv2.INTER_AREA))
        for hand in hands:
            img = draw_skeleton(img, hand.uv * s, hand.vis.astype(np.float64), thickness=1, min_score=0.5)
        y0, x0 = (n // cols) * tile, (n % cols) * tile
        sheet[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
    if not cv2.imwrite(str(out), sheet[:, :, ::-1]):
        raise OSError(f"cannot write {out}")
    return sheet


def main(argv=None) -> int:
    import argparse
    import sys

    from . import mixed as M
    from .synth.backgrounds import BackgroundBank, find_photos

    p = argparse.ArgumentParser(prog="python -m training.composite", description="A contact sheet of composited "
                                "training frames (what --composite N adds to python -m training.train).")
    p.add_argument("--data", help="renders (python -m training.synth) whose hands are pasted too")
    p.add_argument("--real", action="append", default=[], metavar="LABELS",
                   help="teacher labels with masks; repeatable")
    p.add_argument("--hand-free", action="append", default=[], metavar="DIR", help="hand-free photos; repeatable")
    p.add_argument("--out", required=True, help="the contact sheet (PNG)")
    p.add_argument("--count", type=int, default=24, help="composites on the sheet")
    p.add_argument("--start", type=int, default=0, help="index of the first composite")
    p.add_argument("--seed", type=int, default=0, help="the composites' seed (training uses --seed)")
    args = p.parse_args(argv)
    try:
        donors = [M.RenderFrames(args.data, "training")] if args.data else []
        donors += [M.TeacherFrames(r) for r in args.real]
        frames = CompositeFrames([(d, 1.0) for d in donors], [M.HandFreeFrames(h) for h in args.hand_free],
                                 CompositeOptions(frames=args.start + args.count), seed=args.seed,
                                 extra_photos=BackgroundBank(find_photos()).images())
        contact_sheet(frames, args.out, args.count, start=args.start)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
