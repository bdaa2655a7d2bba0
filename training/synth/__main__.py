"""CLI: ``python -m training.synth --out DIR --count N --seed S``."""
from __future__ import annotations

import argparse
import logging
import sys

from ..errors import cli_main
from .dataset import SETS, generate


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.synth",
        description="Render synthetic hands and write them in the Rendered Hand Pose Dataset's native layout "
                    "(<out>/<set>/color, mask, depth, anno_<set>.pickle), so RHD's reader and training scripts "
                    "consume them unchanged. Deterministic for a seed; parallel; rerun the same command to "
                    "resume an interrupted run (finished samples are skipped).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output folder (the RHD top folder: <out>/<set>/...)")
    p.add_argument("--count", type=int, required=True, help="number of samples (ids 0 .. count-1)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed; every sample is a function of (seed, set, id)")
    p.add_argument("--set", dest="set_name", choices=SETS, default="training", help="RHD split to write")
    p.add_argument("--workers", type=int, default=0, help="worker processes (0: one per CPU core)")
    p.add_argument("--size", type=int, default=320, help="image side in pixels (RHD: 320)")
    p.add_argument("--vis-tolerance", type=float, default=None, metavar="METRES",
                   help="a keypoint is visible only if the rendered depth at it is within this distance of its z "
                        "(default: 1 cm, 2.5 cm for the wrist and thumb CMC, 1.6 cm for the finger MCPs, which sit "
                        "under the palm's surface; 0.01 applies 1 cm to every keypoint)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.count < 0:
        print("error: --count must be >= 0", file=sys.stderr)
        return 2
    if args.vis_tolerance is not None and args.vis_tolerance <= 0:
        print("error: --vis-tolerance must be a positive distance in metres", file=sys.stderr)
        return 2
    if args.size < 32:
        print("error: --size must be at least 32", file=sys.stderr)
        return 2
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(it, total):
            return tqdm(it, total=total, unit="sample", desc=args.set_name, smoothing=0.05)

    summary = generate(args.out, args.count, seed=args.seed, set_name=args.set_name, workers=args.workers,
                       size=args.size, progress=progress,
                       vis_tolerance=args.vis_tolerance)
    rate = summary["samples_per_s"]
    logging.getLogger("training.synth").info(
        "%d samples in %s/%s (%d rendered now%s)", summary["count"], args.out, args.set_name, summary["rendered"],
        f", {rate:.1f} samples/s with {summary['workers']} workers" if rate else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
