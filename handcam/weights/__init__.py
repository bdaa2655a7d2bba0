"""Weights: handcam checkpoints (format, search order, loading into the registry's networks); the official
pickles' conversion and download are in ``handcam.weights.official``, the ``python -m handcam.weights``
command in ``handcam.weights.__main__``.

    python -m handcam.weights convert --handsegnet H.pickle --posenet P.pickle --out W.pt
    python -m handcam.weights download [--url URL] [--out W.pt]
    python -m handcam.weights info W.pt

Our checkpoints are plain ``torch.save`` dicts of tensors and strings, loaded with
``weights_only=True``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import WeightsError, WeightsNotFoundError
from ..models import registry

log = logging.getLogger(__name__)

FORMAT = "handcam-weights"
FORMAT_VERSION = 1

def cache_dir() -> Path:
    """Where downloads and converted weights live: $HANDCAM_HOME or ~/.cache/handcam."""
    return Path(os.environ.get("HANDCAM_HOME", Path.home() / ".cache" / "handcam"))


#: The repository's weights folder (converted official weights go here; the bundled files are here).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent.parent / "weights"
#: Where an installed handcam keeps the bundled files (the wheel's package data ``handcam.bundled``: the
#: repository's ``weights/*.pt``); absent in a clone, which reads ``WEIGHTS_DIR``.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"


def default_weights_candidates() -> list[Path]:
    """Where the estimator looks when no weights are given, in order: ``$HANDCAM_WEIGHTS``, the official
    weights (converted into ``weights/handcam.pt``, or downloaded into the cache), then the files the
    repository ships (``registry``'s ``bundled``: the trained lite family), in the clone's ``weights/`` or,
    for an installed handcam, in its package data."""
    cands = []
    if os.environ.get("HANDCAM_WEIGHTS"):
        cands.append(Path(os.environ["HANDCAM_WEIGHTS"]))
    cands += [WEIGHTS_DIR / "handcam.pt", cache_dir() / "colorhandpose3d.pt"]
    bundled = [a.bundled for a in registry.ARCHITECTURES.values() if a.bundled]
    cands += [WEIGHTS_DIR / name for name in bundled] + [BUNDLED_DIR / name for name in bundled]
    return cands


HOW_TO_GET_WEIGHTS = (
    "get the official ColorHandPose3D weights with `python -m handcam.weights download` "
    "(or convert pickles you have with `python -m handcam.weights convert --handsegnet "
    "handsegnet-rhd.pickle --posenet posenet3d-rhd-stb-slr-finetuned.pickle --out W.pt`) "
    "and pass --weights W.pt, or set HANDCAM_WEIGHTS"
)


# ----------------------------------------------------------------------------------------------
# handcam checkpoints
# ----------------------------------------------------------------------------------------------
def save_weights(path, state_dicts: dict, metadata: dict | None = None, architecture: str = "paper",
                 half: bool = False) -> Path:
    """Write a handcam weights file (atomically): {network key: state dict} + metadata. ``half`` stores
    floating-point tensors as float16 (half the size; loading casts them back to the networks' float32)."""
    path = Path(path)
    registry.get(architecture)  # a ValueError naming the families
    unknown = set(state_dicts) - set(registry.NETWORK_KEYS)
    if unknown:
        raise ValueError(f"unknown network keys {sorted(unknown)}; expected some of {list(registry.NETWORK_KEYS)}")
    def stored(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().cpu().contiguous()
        return t.half() if half and t.is_floating_point() else t

    nets = {k: {n: stored(t) for n, t in (sd.state_dict() if hasattr(sd, "state_dict") else sd).items()}
            for k, sd in state_dicts.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    blob = {"format": FORMAT, "version": FORMAT_VERSION, "architecture": architecture,
            "networks": nets, "metadata": meta}
    atomic_save(blob, path)
    return path


def atomic_save(obj, path) -> None:
    """``torch.save`` through ``handcam.atomic.atomic_write`` (readers never see a half-written file)."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


#: How a weights file's metadata spells a flag (text, compared case-insensitively; ``save_weights`` writes
#: a bool as "True" / "False").
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def metadata_flag(value, key: str) -> bool:
    """A flag of a weights file's metadata (``TRUE_WORDS`` / ``FALSE_WORDS``, or a bool) -> bool; absent (None)
    is False; any other value is a WeightsError naming ``key``."""
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise WeightsError(f"the weights' {key} is {value!r}; expected true or false")
    return word in TRUE_WORDS


def load_weights(path) -> tuple[dict, dict]:
    """Read a handcam weights file safely -> (state dicts by network key, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} does not exist; {HOW_TO_GET_WEIGHTS}")
    if path.suffix == ".pickle":
        raise WeightsError(f"{path} is an official TF pickle; convert it first: "
                           f"python -m handcam.weights convert --handsegnet ... --posenet ... --out W.pt")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a readable handcam weights file ({e.__class__.__name__}); "
                           f"it is corrupt or of another kind — {HOW_TO_GET_WEIGHTS}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or "networks" not in blob:
        raise WeightsError(f"{path}: not a handcam weights file (no '{FORMAT}' header); {HOW_TO_GET_WEIGHTS}")
    if int(blob.get("version", 0)) > FORMAT_VERSION:
        raise WeightsError(f"{path}: written by a newer handcam (format {blob['version']}); upgrade handcam")
    meta = dict(blob.get("metadata", {}))
    meta["architecture"] = blob.get("architecture", "paper")
    return blob["networks"], meta


def build_networks(state_dicts: dict, keys=None, architecture: str = "paper",
                   source: str = "weights") -> dict[str, torch.nn.Module]:
    """Instantiate the networks and load their state dicts, with a clear error on a mismatch."""
    if architecture not in registry.ARCHITECTURES:
        raise WeightsError(f"{source}: unknown architecture {architecture!r} (this handcam knows "
                           f"{', '.join(registry.ARCHITECTURES)})")
    classes = registry.get(architecture).classes()
    keys = list(keys or registry.NETWORK_KEYS)
    missing = [k for k in keys if k not in state_dicts]
    if missing:
        raise WeightsError(f"{source} lack the network(s) {', '.join(missing)}; the pipeline needs "
                           f"{', '.join(keys)}")
    nets = {}
    for k in keys:
        net = classes[k]()
        sd = state_dicts[k]
        own = net.state_dict()
        bad = [n for n in own if n not in sd or tuple(sd[n].shape) != tuple(own[n].shape)]
        extra = [n for n in sd if n not in own]
        if bad or extra:
            raise WeightsError(
                f"{source}: the {k} weights do not fit the {architecture} architecture "
                f"({len(bad)} missing/mis-shaped, {len(extra)} unexpected, e.g. {(bad + extra)[0]}); "
                f"these weights are for another model")
        net.load_state_dict(sd)
        nets[k] = net.eval()
    return nets
