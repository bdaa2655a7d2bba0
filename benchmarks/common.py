"""What the benchmarks share: the frames they time (a real webcam video from ``../shared``, looped to the
count asked for) and their statistics. Needs only numpy and OpenCV, so that ``mediapipe_bench.py`` runs in
MediaPipe's own venv."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VIDEO_DIR = ROOT.parent / "shared" / "data" / "real" / "video"
PREFERRED_VIDEO = "prasad9_okay.mp4"  # 640 x 480, a real hand in front of a webcam


def default_video() -> Path | None:
    """``prasad9_okay.mp4`` in ``../shared/data/real/video`` (else the first video there), or None."""
    if not VIDEO_DIR.is_dir():
        return None
    if (VIDEO_DIR / PREFERRED_VIDEO).is_file():
        return VIDEO_DIR / PREFERRED_VIDEO
    videos = sorted(p for p in VIDEO_DIR.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv"))
    return videos[0] if videos else None


def read_video(path: Path, count: int, size: tuple[int, int] | None) -> list[np.ndarray]:
    """``count`` consecutive RGB frames (the video loops when shorter), optionally resized to (H, W); a
    ValueError names a video that cannot be read."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path}")
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                if not frames:
                    raise ValueError(f"{path} has no readable frames")
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            if size is not None and bgr.shape[:2] != tuple(size):
                bgr = cv2.resize(bgr, (size[1], size[0]), interpolation=cv2.INTER_AREA)
            frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    finally:
        cap.release()
    return frames


def stats(values) -> dict:
    """median, p10, p90, mean and n of a list of milliseconds."""
    a = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(a)), "p10": float(np.percentile(a, 10)),
            "p90": float(np.percentile(a, 90)), "mean": float(a.mean()), "n": int(a.size)}


def write_result(path, result: dict, table: str) -> None:
    """Write a benchmark's result as indented JSON (making its folder), then print its table and where it went."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(table)
    print(f"wrote {out}")


def run_and_write(name: str, run, args, path, table, errors: tuple = (ValueError,)) -> int:
    """A benchmark's ``main`` after its arguments: ``run(args)``, then ``write_result`` -> 0; one of ``errors``
    (bad input: an unreadable video, weights of the wrong family) is printed as one line naming the
    benchmark -> 2."""
    try:
        result = run(args)
    except errors as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    write_result(path, result, table(result))
    return 0


def parse_frame_args(parser, argv=None):
    """``parser.parse_args(argv)``, refusing ``--frames`` < 1 and ``--warmup`` < 0 with the parser's error."""
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be >= 1 and --warmup >= 0")
    return args
