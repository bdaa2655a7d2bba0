"""The 21-keypoint hand skeleton: names, RHD order, root, bones and colours.

This module is the single source of keypoint facts; everything else imports it.

RHD order per hand: 0 is the root (the networks were trained with the palm centre, the midpoint of
RHD's wrist and middle-finger MCP), then for each finger thumb, index, middle, ring, little the four
joints from the tip down to the base: tip, DIP (IP for the thumb), PIP (MCP), MCP (CMC).
"""
from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 21
ROOT = 0

FINGERS = ("thumb", "index", "middle", "ring", "little")
_JOINTS = {
    "thumb": ("tip", "ip", "mcp", "cmc"),
    "index": ("tip", "dip", "pip", "mcp"),
    "middle": ("tip", "dip", "pip", "mcp"),
    "ring": ("tip", "dip", "pip", "mcp"),
    "little": ("tip", "dip", "pip", "mcp"),
}

#: Keypoint names in RHD order.
KEYPOINT_NAMES: tuple[str, ...] = ("root",) + tuple(
    f"{finger}_{joint}" for finger in FINGERS for joint in _JOINTS[finger]
)

#: For each finger, its keypoint indices from tip to base.
FINGER_INDICES: dict[str, tuple[int, int, int, int]] = {
    finger: tuple(1 + 4 * i + j for j in range(4)) for i, finger in enumerate(FINGERS)
}

#: Bones as (parent, child), drawn from the root outwards finger by finger, the order the
#: original release draws them in (root->base, base->..., ...->tip).
BONES: tuple[tuple[int, int], ...] = tuple(
    pair
    for finger in FINGERS
    for pair in zip((ROOT,) + FINGER_INDICES[finger][::-1][:-1], FINGER_INDICES[finger][::-1])
)

#: The bone whose length normalises the 3D output (middle finger PIP -> MCP in RHD order).
SCALE_BONE: tuple[int, int] = (12, 11)
#: The keypoint the canonical frame puts on the -y axis (middle MCP) and the one it puts in z = 0.
CANONICAL_Y_KEYPOINT = 12
CANONICAL_Z_KEYPOINT = 20

#: RHD's own index of the wrist is 0, but the released networks were trained with the palm centre:
#: the midpoint of the wrist and the middle-finger MCP.
PALM_FROM = (0, 12)

#: Hand sides; the one-hot order the networks expect ([1, 0] left, [0, 1] right).
HAND_SIDES = ("left", "right")


def _jet(x: np.ndarray) -> np.ndarray:
    """The piecewise-linear 'jet' colormap, RGB in [0, 1]."""
    r = np.clip(np.minimum(4 * x - 1.5, -4 * x + 4.5), 0, 1)
    g = np.clip(np.minimum(4 * x - 0.5, -4 * x + 3.5), 0, 1)
    b = np.clip(np.minimum(4 * x + 0.5, -4 * x + 2.5), 0, 1)
    return np.stack([r, g, b], axis=-1)


#: One RGB colour (floats in [0, 1]) per bone, in BONES order: jet sampled at 20 points, as the
#: original figures colour them (thumb dark blue ... little finger dark red).
BONE_COLORS: np.ndarray = _jet(np.linspace(0.0, 1.0, len(BONES)))

#: Per-keypoint colour: the colour of the bone ending in it (the root takes the first bone's).
KEYPOINT_COLORS: np.ndarray = np.stack(
    [BONE_COLORS[0]] + [BONE_COLORS[[c for _, c in BONES].index(k)] for k in range(1, NUM_KEYPOINTS)]
)


def bone_colors_uint8(bgr: bool = False) -> np.ndarray:
    """Bone colours as uint8 (RGB, or BGR for OpenCV drawing)."""
    c = np.round(BONE_COLORS * 255).astype(np.uint8)
    return c[:, ::-1].copy() if bgr else c


def hand_side_index(side: str) -> int:
    """0 for 'left', 1 for 'right'; a clear error otherwise."""
    try:
        return HAND_SIDES.index(side)
    except ValueError:
        raise ValueError(f"hand side must be 'left' or 'right', got {side!r}") from None
