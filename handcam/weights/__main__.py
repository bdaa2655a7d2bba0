"""``python -m handcam.weights`` (the ``handcam-weights`` command): convert the authors' pickles, download and
convert their release, or show what a handcam weights file holds."""
from __future__ import annotations

import argparse
import logging
import sys

from ..errors import USER_ERRORS, print_error
from . import cache_dir, load_weights
from .official import OFFICIAL_ZIP_URL, convert_files, download


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m handcam.weights",
                                description="Convert, download and inspect handcam weights.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="convert official ColorHandPose3D pickles into a handcam .pt file")
    c.add_argument("--handsegnet", help="handsegnet-rhd.pickle")
    c.add_argument("--posenet", help="posenet3d-rhd-stb-slr-finetuned.pickle (PoseNet + lifting)")
    c.add_argument("--out", required=True, help="output weights file (.pt)")
    c.add_argument("--skip-checksum", action="store_true",
                   help="do not check the official sha256 (only for test weights, e.g. the oracle's)")
    d = sub.add_parser("download", help="fetch the authors' data zip, verify and convert its weights")
    d.add_argument("--url", default=None, help="where the zip is (default: the project page)")
    d.add_argument("--out", help=f"output weights file (default: {cache_dir() / 'colorhandpose3d.pt'})")
    i = sub.add_parser("info", help="print what a handcam weights file holds")
    i.add_argument("path")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.cmd == "convert":
            path, ignored = convert_files(args.handsegnet, args.posenet, args.out, args.skip_checksum)
            if ignored:
                print(f"ignored {len(ignored)} entr{'y' if len(ignored) == 1 else 'ies'} that are not "
                      f"network variables: {', '.join(ignored)}")
            print(f"wrote {path}")
        elif args.cmd == "download":
            print(f"wrote {download(args.url or OFFICIAL_ZIP_URL, args.out)}")
        else:
            nets, meta = load_weights(args.path)
            for k, sd in nets.items():
                print(f"{k}: {sum(t.numel() for t in sd.values()):,} parameters")
            for k, v in meta.items():
                print(f"{k}: {v}")
    except USER_ERRORS as e:
        return print_error(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
