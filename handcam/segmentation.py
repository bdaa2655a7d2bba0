"""From HandSegNet's scoremap to the hand's single-object mask (the glue between the first two stages)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: Side of the square neighbourhood the mask grows by per pass (the release's dilation filter).
GROW_FILTER = 21


def hand_probability(logits: torch.Tensor) -> torch.Tensor:
    """B x 2 x H x W logits -> B x H x W foreground (class 1) softmax probability."""
    return torch.softmax(logits, dim=1)[:, 1]


def _dilate(x: torch.Tensor, size: int) -> torch.Tensor:
    """size x size max filter (stride 1, SAME), done separably (a box max is separable)."""
    pad = size // 2
    x = F.max_pool2d(x, (size, 1), stride=1, padding=(pad, 0))
    return F.max_pool2d(x, (1, size), stride=1, padding=(0, pad))


def single_object_mask(logits: torch.Tensor, threshold: float = 0.5,
                       passes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's ``single_obj_scoremap``, batched.

    The foreground map is thresholded (``p > threshold``; the release's ``round`` equals 0.5, ties
    to even). A single seed at the most confident pixel (first in row-major order) grows
    ``max(H, W) // 10`` times by a 21x21 dilation AND-ed with the thresholded map: the mask is the
    region of foreground pixels reachable from the seed in 21-px steps.

    Returns (mask B x H x W bool, foreground probability B x H x W).
    """
    prob = hand_probability(logits)
    b, h, w = prob.shape
    binary = (prob > threshold).to(prob.dtype)
    seed_idx = prob.reshape(b, -1).argmax(dim=1)
    # The release seeds a 1 at the most confident pixel and multiplies by the binary map only
    # after each dilation, so the seed spreads even when it is not itself foreground.
    obj = torch.zeros(b, h * w, dtype=prob.dtype, device=prob.device)
    obj.scatter_(1, seed_idx[:, None], 1.0)
    obj = obj.reshape(b, 1, h, w)
    n = max(h, w) // (GROW_FILTER // 2) if passes is None else passes
    binary = binary[:, None]
    for i in range(n):
        new = _dilate(obj, GROW_FILTER) * binary
        # Once a pass changes nothing the rest cannot either; check now and then (a host sync).
        if i % 8 == 7 and torch.equal(new, obj):
            obj = new
            break
        obj = new
    return obj[:, 0] > 0.5, prob
