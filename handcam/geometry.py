"""Pure, batched geometry of the pipeline (device-agnostic, no loops over pixels).

Conventions: images are B x C x H x W; points are (row, col) inside the paper's stages, as in the
release; the estimator converts to (x, y) at the public boundary. The network-level TF1 resize lives
with the layers (``handcam.models.layers``); the stages compose these functions (``handcam.stages``).

Images are tensors (on any device). The functions of boxes and points (a few numbers per hand) take
torch tensors or numpy arrays alike and return the type they are given, with the same float32
arithmetic: the pipeline works them out on the host, where a tensor operation's overhead would cost
more than its arithmetic, and training code on the device.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def array_module(x):
    """``torch`` for a tensor, ``numpy`` otherwise: the namespace whose ``stack``, ``floor``, ``clip``,
    ``where``, ``amax`` ... work on ``x`` (both take the axis as their second positional argument)."""
    return torch if isinstance(x, torch.Tensor) else np


def stack(parts, axis: int):
    """``torch.stack`` / ``np.stack`` of ``parts`` along a new ``axis`` (for host arrays by filling one
    buffer: numpy's own stack costs several times more on the few numbers per hand this module sees)."""
    if isinstance(parts[0], torch.Tensor):
        return torch.stack(parts, axis)
    first = parts[0]
    axis = axis % (first.ndim + 1)
    out = np.empty(first.shape[:axis] + (len(parts),) + first.shape[axis:], np.result_type(*parts))
    lead = (slice(None),) * axis
    for i, part in enumerate(parts):
        out[lead + (i,)] = part
    return out


def host_array(x, dtype=np.float32) -> np.ndarray:
    """A tensor (any device, any precision: bf16/fp16 come as float32) or array-like as a host numpy array of
    ``dtype`` (None: its own; no copy when it already is one)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        x = x.cpu().numpy()
    return np.asarray(x, dtype=dtype)


def host_math(fn, *args, **kwargs):
    """``fn`` (one of this module's array-generic functions) on tensor arguments: computed in numpy when they
    are on the CPU (the results are tensors over its arrays, no copies) -- on a few numbers per hand a
    tensor operation's overhead is most of its cost -- else as tensors on their device."""
    if any(isinstance(a, torch.Tensor) and a.device.type != "cpu" for a in args):
        return fn(*args, **kwargs)
    out = fn(*(a.numpy() if isinstance(a, torch.Tensor) else a for a in args), **kwargs)
    if isinstance(out, tuple):
        return tuple(torch.from_numpy(np.ascontiguousarray(o)) for o in out)
    return torch.from_numpy(np.ascontiguousarray(out))


def _float32_scalar(value: float, like) -> float:
    """``value`` rounded to float32 when ``like`` is float32 (as a float32 tensor of it would hold), so
    that arithmetic with a Python scalar matches arithmetic with that tensor."""
    return float(np.float32(value)) if like.dtype in (np.float32, torch.float32) else float(value)


#: The side of PoseNet's input crop, and the release's crop-size limits.
CROP_SIZE = 256
SCALE_MIN, SCALE_MAX = 0.25, 5.0
#: What the release uses when the hand mask is empty: centre (row, col) and box size.
EMPTY_CENTER = (160.0, 160.0)
EMPTY_SIZE = 100.0


#: uint8 -> the float32 ``x / 255 - 0.5`` of ``normalize_image`` (PyTorch's own arithmetic, so a lookup gives
#: the same numbers bit for bit: the OpenCV crop normalises by it).
NORMALIZED_UINT8 = torch.arange(256, dtype=torch.float32).div_(255.0).sub_(0.5).numpy()


def normalize_image(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (or float 0..255) B x H x W x 3 RGB -> float B x 3 x H x W, ``rgb / 255 - 0.5``."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected B x H x W x 3 RGB frames, got shape {tuple(frames.shape)}")
    # contiguous NCHW: the resize and crop kernels are several times faster on it than on the
    # channels-last strides a bare permute would leave
    # (in place on one fresh buffer: the same arithmetic as ``x / 255 - 0.5`` without two more
    # frame-sized allocations)
    x = frames.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    return x.div_(255.0).sub_(0.5)


def denormalize_image(images: torch.Tensor) -> torch.Tensor:
    """Inverse of ``normalize_image``: float B x 3 x H x W -> uint8 B x H x W x 3 RGB (rounded, clipped)."""
    return ((images + 0.5) * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def resize_frames(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize B x C x H x W images to ``size`` (H, W) for the network input: bilinear with
    antialiasing when shrinking (like PIL's bilinear resize the release used), half-pixel centres."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def mask_center_and_size(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounding box of each B x H x W boolean mask -> centre (B x 2, row/col) and size (B,).

    Centre is the box middle, size is ``max(rows max - min, cols max - min)`` (no +1), as the
    release computes it. An empty mask gives centre (160, 160) and size 100 (the release's fallback).
    A host array gives host arrays (float32); a tensor gives tensors on its device (on a CPU the numbers
    come from numpy: a dozen tensor operations cost more than the work).
    """
    if not isinstance(mask, torch.Tensor):
        return _mask_center_and_size_numpy(np.asarray(mask, dtype=bool))
    if mask.device.type == "cpu":
        return tuple(torch.from_numpy(a) for a in _mask_center_and_size_numpy(mask.numpy()))
    return _mask_center_and_size_torch(mask)


def _mask_center_and_size_torch(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b, h, w = mask.shape
    dev = mask.device
    rows = mask.any(dim=2)
    cols = mask.any(dim=1)
    r = torch.arange(h, device=dev, dtype=torch.float32).expand(b, h)
    c = torch.arange(w, device=dev, dtype=torch.float32).expand(b, w)
    inf = float("inf")  # scalars, not device tensors: no host->device copies (GPU syncs)
    rmin = torch.where(rows, r, inf).amin(1)
    rmax = torch.where(rows, r, -inf).amax(1)
    cmin = torch.where(cols, c, inf).amin(1)
    cmax = torch.where(cols, c, -inf).amax(1)
    center = torch.stack([0.5 * (rmax + rmin), 0.5 * (cmax + cmin)], dim=1)
    size = torch.maximum(rmax - rmin, cmax - cmin)
    empty = ~rows.any(dim=1)
    fallback = torch.stack([torch.full_like(center[:, 0], EMPTY_CENTER[0]),
                            torch.full_like(center[:, 1], EMPTY_CENTER[1])], dim=1)
    center = torch.where(empty[:, None], fallback, center)
    size = torch.where(empty, EMPTY_SIZE, size)
    return center, size


def _mask_center_and_size_numpy(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = np.empty((mask.shape[0], 2), np.float32)
    size = np.empty(mask.shape[0], np.float32)
    for i, m in enumerate(mask):
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        if rows.size == 0:
            center[i], size[i] = EMPTY_CENTER, EMPTY_SIZE
            continue
        r0, r1, c0, c1 = (np.float32(v) for v in (rows[0], rows[-1], cols[0], cols[-1]))
        center[i] = (np.float32(0.5) * (r1 + r0), np.float32(0.5) * (c1 + c0))
        size[i] = max(r1 - r0, c1 - c0)
    return center, size


def crop_scale(size, crop_factor: float = 1.25, crop_size: int = CROP_SIZE, max_scale: float = SCALE_MAX):
    """Scale (crop pixels per image pixel) for a hand box of ``size`` (B, tensor or array): 256 / (size *
    factor), clipped to [0.25, ``max_scale``] (the release: 5, a crop at least 51.2 pixels wide)."""
    return (crop_size / (size * crop_factor)).clip(SCALE_MIN, max_scale)


def crop_boxes(center, scale, crop_size: int = CROP_SIZE):
    """Square crop boxes (B x 4: y1, x1, y2, x2 in pixels) of side ``crop_size / scale`` around the
    centres (B x 2), with the release's ``y1 = cy - side // 2`` (floor division of floats)."""
    xp = array_module(center)
    side = crop_size / scale
    half = xp.floor(side / 2)
    y1 = center[:, 0] - half
    x1 = center[:, 1] - half
    return stack([y1, x1, y1 + side, x1 + side], 1)


def normalize_boxes(boxes, height: int, width: int):
    """Pixel boxes (y1, x1, y2, x2) -> TF's normalised boxes (divided by H and W, not H-1)."""
    y1, x1, y2, x2 = (boxes[:, i] for i in range(4))
    return stack([y1 / height, x1 / width, y2 / height, x2 / width], 1)


def crop_sample_positions(lo, hi, n_img: int, n_out: int) -> tuple:
    """TF ``crop_and_resize``'s sample positions along one axis for normalised box edges ``lo``, ``hi``
    (B, tensors or arrays) on an image axis of ``n_img`` pixels: (start B, step B, positions B x n_out),
    sample i at ``start + i * step``; one sample is the box centre (step 0). Host arrays may hold both axes
    (B x 2, with ``n_img`` a float32 array of the two sizes): positions B x 2 x n_out."""
    if isinstance(lo, torch.Tensor):
        idx = torch.arange(n_out, device=lo.device, dtype=torch.float32)
    else:
        idx = np.arange(n_out, dtype=np.float32)
    if n_out > 1:
        start, step = lo * (n_img - 1), (hi - lo) * (n_img - 1) / (n_out - 1)
    else:
        start, step = 0.5 * (lo + hi) * (n_img - 1), array_module(lo).zeros_like(lo)
    return start, step, start[..., None] + idx * step[..., None]


def crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, out_size: tuple[int, int],
                    normalize: bool = False, box_indices: torch.Tensor | None = None) -> torch.Tensor:
    """TF ``tf.image.crop_and_resize`` (bilinear, extrapolation value 0) of B x C x H x W images with
    N normalised boxes (y1, x1, y2, x2; a tensor or a host array) -> N x C x out_h x out_w float32; box i is
    cut from image ``box_indices[i]`` (TF's ``box_ind``; default: box i from image i, N = B).

    Sample i of a crop of height n is at ``y1 * (H-1) + i * (y2 - y1) * (H-1) / (n-1)``; a row or
    column that falls outside [0, H-1] is 0. ``normalize``: the images are uint8 (any layout of strides,
    e.g. a permuted H x W x 3 frame, read in place) and the samples are mapped like ``normalize_image``
    (x / 255 - 0.5) before the outside is set to 0: the crop of the normalised image from the four source
    pixels of each sample only (TF's arithmetic, in float32 after the uint8 read).
    """
    b, c, h, w = images.shape
    oh, ow = int(out_size[0]), int(out_size[1])
    boxes = torch.as_tensor(boxes, dtype=torch.float32, device=images.device)   # host boxes: one small copy
    if box_indices is not None:
        box_indices = torch.as_tensor(box_indices, dtype=torch.long, device=images.device)
    if box_indices is not None and not normalize:
        images = images.index_select(0, box_indices)
    b = boxes.shape[0]

    def axis(lo, hi, n_img, n_out):
        src = crop_sample_positions(lo, hi, n_img, n_out)[2]
        valid = (src >= 0) & (src <= n_img - 1)
        low = torch.floor(src)
        lerp = src - low
        low_i = low.long().clamp(0, n_img - 1)
        high_i = torch.ceil(src).long().clamp(0, n_img - 1)
        return low_i, high_i, lerp, valid

    y0, y1, wy, vy = axis(boxes[:, 0], boxes[:, 2], h, oh)
    x0, x1, wx, vx = axis(boxes[:, 1], boxes[:, 3], w, ow)
    valid = (vy[:, :, None] & vx[:, None, :])[:, None]
    if normalize:
        # pixels as rows of C values (a permuted H x W x C frame is this without a copy)
        pixels = images.permute(0, 2, 3, 1).reshape(-1, c)
        which = torch.arange(b, device=images.device) if box_indices is None else box_indices
        base = (which * h)[:, None, None]

        def corner(ys, xs):   # B x oh x ow x C
            idx = ((base + ys[:, :, None]) * w + xs[:, None, :]).reshape(-1)
            return pixels.index_select(0, idx).to(torch.float32).reshape(b, oh, ow, c)

        top_left, bottom_left = corner(y0, x0), corner(y1, x0)
        wx4 = wx[:, None, :, None]
        top = top_left + (corner(y0, x1) - top_left) * wx4
        bottom = bottom_left + (corner(y1, x1) - bottom_left) * wx4
        out = (top + (bottom - top) * wy[:, :, None, None]).div_(255.0).sub_(0.5).permute(0, 3, 1, 2)
        return torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device)).contiguous()
    images = images.contiguous()
    # TF: top = tl + (tr - tl) * x_lerp at rows y0 and y1, then top + (bottom - top) * y_lerp. The
    # x-lerp of an image row is the same for every output row that uses it: compute it per image row
    # (B x C x H x ow), then gather the output rows from it. Bit-identical to gathering four corners.
    def cols(idx):
        return images.gather(3, idx[:, None, None, :].expand(b, c, h, ow))

    left = cols(x0)
    xl = left + (cols(x1) - left) * wx[:, None, None, :].to(images.dtype)

    def rows(idx):
        return xl.gather(2, idx[:, None, :, None].expand(b, c, oh, ow))

    top = rows(y0)
    out = top + (rows(y1) - top) * wy[:, None, :, None].to(images.dtype)
    return torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))


def _as_float32(x):
    return x.float() if isinstance(x, torch.Tensor) else x.astype(np.float32)


def _flat_argmax(scoremaps):
    """B x K x h x w maps -> (the maps as BK x hw rows, each row's index BK x 1, each row's argmax BK: the
    first maximum on ties)."""
    b, k, h, w = scoremaps.shape
    flat = scoremaps.reshape(b * k, h * w)
    idx = flat.argmax(1)
    rows = torch.arange(b * k, device=idx.device) if isinstance(idx, torch.Tensor) else np.arange(b * k)
    return flat, rows[:, None], idx


def scoremap_argmax(scoremaps):
    """Per-channel argmax of B x K x H x W maps (a tensor or a host array) -> (row, col) B x K x 2 (float32)
    and the peak value B x K. Ties go to the first pixel in row-major order."""
    b, k, h, w = scoremaps.shape
    flat, rows, idx = _flat_argmax(scoremaps)
    peak = flat[rows[:, 0], idx]
    rc = _as_float32(stack([idx // w, idx % w], 1))
    return rc.reshape(b, k, 2), peak.reshape(b, k)


def scoremap_peaks(scoremaps, out_size: tuple[int, int]):
    """Keypoints of B x K x h x w maps (a tensor or a host array) in the pixels of the maps upsampled to
    ``out_size`` (TF1 resize: map pixel ``i`` lies at ``i * out / in``), without upsampling them: the argmax
    on the maps' own grid (ties: the first pixel in row-major order), moved along each axis to the top of
    the parabola through the peak and its two neighbours (at most half a map pixel; no move at the border
    or where the three values do not curve down). -> ((row, col) B x K x 2 float32, peak value B x K).

    The argmax of a bilinear upsampling is always at a map pixel, so the release's upsample-then-argmax
    gives these peaks before refinement, quantised to ``out / in`` pixels."""
    xp = array_module(scoremaps)
    b, k, h, w = scoremaps.shape
    flat, rows, idx = _flat_argmax(scoremaps)
    row, col = idx // w, idx % w
    up, down, left, right = row > 0, row < h - 1, col > 0, col < w - 1
    # the peak and its four neighbours (the peak itself where a neighbour is off the map) in one gather
    near = stack([idx, idx - w * up, idx + w * down, idx - 1 * left, idx + 1 * right], 1)
    values = flat[rows, near]
    peak, before, after = values[:, 0:1], values[:, 1::2], values[:, 2::2]   # (row, col) axes
    curve = before - 2.0 * peak + after
    ok = stack([up & down, left & right], 1) & (curve < 0)
    step = 0.5 * (before - after) / xp.where(ok, curve, xp.ones_like(curve))
    step = xp.where(ok, step.clip(-0.5, 0.5), xp.zeros_like(step))
    rc = stack([(_as_float32(row) + step[:, 0]) * (out_size[0] / h),
                (_as_float32(col) + step[:, 1]) * (out_size[1] / w)], 1)
    return rc.reshape(b, k, 2), peak.reshape(b, k)


def crop_to_image(points_rc, center, scale, crop_size: int = CROP_SIZE):
    """Points (B x K x 2, row/col) in the crop -> the image the crop was cut from:
    ``(p - crop_size / 2) / scale + centre``."""
    return (points_rc - crop_size / 2) / scale[:, None, None] + center[:, None, :]


def image_to_crop(points_rc, center, scale, crop_size: int = CROP_SIZE):
    """Inverse of ``crop_to_image``."""
    return (points_rc - center[:, None, :]) * scale[:, None, None] + crop_size / 2


def resize_points(points, src_hw: tuple[int, int], dst_hw: tuple[int, int]):
    """Map (row, col) points between two resizes of the same image with half-pixel centres
    (pixel i covers [i, i+1)): ``p' = (p + 0.5) * dst / src - 0.5`` per axis."""
    sy = _float32_scalar(dst_hw[0] / src_hw[0], points)   # scalars: no host->device copy
    sx = _float32_scalar(dst_hw[1] / src_hw[1], points)
    if isinstance(points, np.ndarray):                    # the same arithmetic, both axes in one expression
        return (points + 0.5) * np.array([sy, sx], points.dtype) - 0.5
    return stack([(points[..., 0] + 0.5) * sy - 0.5, (points[..., 1] + 0.5) * sx - 0.5], -1)


#: [a]x = a @ _CROSS (as 3 x 9): the cross-product matrix of a 3-vector (minus the Levi-Civita symbol).
_CROSS = -np.array([[[0, 0, 0], [0, 0, 1], [0, -1, 0]], [[0, 0, -1], [0, 0, 0], [1, 0, 0]],
                    [[0, 1, 0], [-1, 0, 0], [0, 0, 0]]], np.float32).reshape(3, 9)
_DIAGONAL = [0, 1, 2]


def rodrigues(u):
    """Axis-angle vectors B x 3 (a tensor or a host array) -> rotation matrices B x 3 x 3, as the release
    computes them: theta = sqrt(|u|^2 + 1e-8), axis = u / theta."""
    xp = array_module(u)
    theta = xp.sqrt((u * u).sum(1) + 1e-8)
    a = u / theta[:, None]
    c, s = xp.cos(theta), xp.sin(theta)
    t = 1 - c
    if isinstance(u, np.ndarray):
        # R = c I + t a a^T + s [a]x, in a dozen array operations: the same products and sums as the
        # element-wise form below (its zeros add nothing), bit for bit
        skew = (a @ _CROSS).reshape(-1, 3, 3)                     # [a]x, B x 3 x 3
        rot = t[:, None, None] * (a[:, :, None] * a[:, None, :]) + s[:, None, None] * skew
        rot[:, _DIAGONAL, _DIAGONAL] += c[:, None]
        return rot
    x, y, z = a[:, 0], a[:, 1], a[:, 2]
    return stack([
        stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s], 1),
        stack([y * x * t + z * s, c + y * y * t, y * z * t - x * s], 1),
        stack([z * x * t - y * s, z * y * t + x * s, c + z * z * t], 1),
    ], 1)


def hand_side_onehot(sides, device=None) -> torch.Tensor:
    """['left', 'right', ...] (or a single string) -> B x 2 one-hot ([1, 0] left, [0, 1] right)."""
    from .skeleton import hand_side_index

    if isinstance(sides, str):
        sides = [sides]
    idx = torch.tensor([hand_side_index(s) for s in sides], device=device)
    return F.one_hot(idx, 2).float()


def flip_right_hand(coords, hand_side):
    """z -> -z of (..., K, 3) coordinates (a tensor or a host array) where the hand-side one-hot (..., 2)
    says right ([0, 1]; right when its second entry is the larger)."""
    right = hand_side[..., 1] > hand_side[..., 0]
    if isinstance(coords, torch.Tensor):
        sign = torch.ones(coords.shape[:-2] + (1, 3), dtype=coords.dtype, device=coords.device)
        sign[..., 2] = torch.where(right, -1.0, 1.0).to(coords.dtype)[..., None]
    else:
        sign = np.ones(coords.shape[:-2] + (1, 3), dtype=coords.dtype)
        sign[..., 2] = np.where(right, -1.0, 1.0)[..., None]
    return coords * sign


def from_canonical(coord_can, rot_mat, hand_side):
    """The lifting stage's inverse canonical transform (row vectors): right hands get z -> -z, then
    ``xyz = flip(coord_can) @ rot_mat``. See ``handcam.canonical`` for the frame and its targets."""
    return flip_right_hand(coord_can, hand_side) @ rot_mat
