"""``python -m training.export --out W.pt A.pt B.pt ...``: merge the networks of several handcam
weights files (e.g. the ``weights.pt`` of the three training runs, or a converted official file) into
one file the app and ``HandPoseEstimator.load`` read. Later files win for a network present twice.
``--meta KEY=VALUE`` stores metadata, e.g. ``--meta refine_crops=true`` for a PoseNet trained for the
second crop around its first keypoints (flags are checked and stored as "True" / "False")."""
from __future__ import annotations

import argparse
import logging
import sys

from handcam.errors import WeightsError
from handcam.estimator import REFINE_CROPS_KEY
from handcam.weights import load_weights, metadata_flag, save_weights

from .errors import cli_main

log = logging.getLogger(__name__)

#: The metadata keys that are flags (``handcam.weights.metadata_flag``): checked, and stored as "True" / "False".
FLAG_KEYS = (REFINE_CROPS_KEY,)


def merge(paths, out, half: bool = False, metadata: dict | None = None) -> dict:
    nets, sources, arch = {}, {}, set()
    for p in paths:
        sds, meta = load_weights(p)
        arch.add(meta.get("architecture", "paper"))
        for k, sd in sds.items():
            if k in nets:
                log.info("%s: %s replaces the one from %s", k, p, sources[k])
            nets[k], sources[k] = sd, str(p)
    if len(arch) > 1:
        raise WeightsError(f"cannot merge weights of different architectures {sorted(arch)}: "
                           f"{', '.join(map(str, paths))}")
    meta = {f"source_{k}": v for k, v in sources.items()}
    meta.update(metadata or {})
    save_weights(out, nets, meta, architecture=arch.pop(), half=half)
    return sources


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    p.add_argument("inputs", nargs="+", help="handcam weights files (RUN_DIR/weights.pt, converted official weights)")
    p.add_argument("--out", required=True, help="merged weights file")
    p.add_argument("--half", action="store_true", help="store the floating-point tensors as float16 (half the "
                   "size; the networks still run in float32)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="metadata to store in the "
                   "file (e.g. --meta presence_calibration='2 -1', --meta refine_crops=true); repeatable")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    bad = [m for m in a.meta if "=" not in m]
    if bad:
        p.error(f"--meta takes KEY=VALUE, got {bad[0]!r}")
    meta = dict(m.split("=", 1) for m in a.meta)
    for key in FLAG_KEYS:
        if key in meta:
            try:
                meta[key] = str(metadata_flag(meta[key], key))
            except WeightsError as e:
                p.error(f"--meta {key}=...: {e}")
    for k, v in merge(a.inputs, a.out, half=a.half, metadata=meta).items():
        print(f"{k:<11} <- {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
