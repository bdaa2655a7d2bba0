"""Headless video processing: ``python main.py --video PATH --headless --json OUT.jsonl
[--out-video OUT.mp4]``. Every frame of the file is processed (none dropped), with a progress bar,
then a summary (frames, fps, milliseconds per stage). No Qt, no display.

Errors (missing or undecodable video, missing weights, unwritable output) end the run with a
non-zero exit status and one line on stderr.
"""
from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict

from ..errors import HandcamError
from .recording import Recorder

log = logging.getLogger(__name__)


def _error(message: str) -> int:
    """One line on stderr (like handcam.cli's errors) and exit status 2."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def summarize(frames: int, seconds: float, stage_ms: dict) -> str:
    fps = frames / seconds if seconds > 0 else 0.0
    n = max(frames, 1)
    stages = ", ".join(f"{k} {v / n:.1f}" for k, v in stage_ms.items() if k != "total")
    text = f"{frames} frames in {seconds:.1f} s: {fps:.2f} fps"
    if stages:
        text += f"; ms per frame by stage: {stages}"
    if "total" in stage_ms:
        text += f" (pipeline total {stage_ms['total'] / n:.1f})"
    return text


def default_batch(estimator) -> int:
    """Frames per estimator call: batches pay off on a GPU; on a CPU one frame at a time."""
    device = getattr(estimator, "device", None)
    return 8 if getattr(device, "type", None) == "cuda" else 1


def run_video(args, estimator=None) -> int:
    """Process ``args.video`` into ``args.json`` (JSONL) and/or ``args.out_video`` (annotated MP4).

    ``estimator`` replaces the one loaded from ``args.weights`` / ``args.device`` (for tests).
    Frames go to the estimator in batches of ``args.batch`` (default: 8 on CUDA, 1 on the CPU).
    Returns the process exit status.
    """
    from tqdm import tqdm

    from ..sources import VideoSource

    json_path = getattr(args, "json", None)
    video_out = getattr(args, "out_video", None)
    side = getattr(args, "hand_side", None)
    if not getattr(args, "video", None):
        return _error("--headless needs --video PATH (or --image PATH)")
    if not json_path and not video_out:
        return _error("--headless --video needs an output: --json OUT.jsonl and/or --out-video OUT.mp4")
    try:
        source = VideoSource(args.video)
    except HandcamError as e:
        return _error(e)
    recorder = None
    try:
        if estimator is None:
            from ..estimator import HandPoseEstimator

            from ..cli import backend_from_args, settings_from_args

            settings = settings_from_args(args)
            estimator = HandPoseEstimator.load(weights=getattr(args, "weights", None),
                                               device=getattr(args, "device", None) or "auto",
                                               settings=settings, backend=backend_from_args(args))
        recorder = Recorder(json_path, video_out, fps=source.fps or 30.0)
        stage_ms: dict = defaultdict(float)
        frames = 0
        t0 = time.perf_counter()
        batch = max(1, int(getattr(args, "batch", None) or default_batch(estimator)))
        fps = source.fps or 30.0
        with tqdm(total=source.frame_count, unit="frame", desc="handcam", file=sys.stderr,
                  dynamic_ncols=True) as bar:
            done = False
            while not done:
                indices, images = [], []
                while len(images) < batch:
                    index = source.position
                    frame = source.read()
                    if frame is None:
                        done = True
                        break
                    indices.append(index)
                    images.append(frame)
                if not images:
                    break
                poses = (estimator(images, hand_side=side) if len(images) > 1
                         else [estimator(images[0], hand_side=side)])
                for index, frame, pose in zip(indices, images, poses):
                    recorder.write(index, index / fps, frame, pose)
                    for k, v in (pose.timings_ms or {}).items():
                        stage_ms[k] += float(v)
                frames += len(images)
                bar.update(len(images))
        seconds = time.perf_counter() - t0
    except HandcamError as e:
        return _error(e)
    except KeyboardInterrupt:
        print("handcam: interrupted", file=sys.stderr)
        return 130
    finally:
        if recorder is not None:
            recorder.close()
        source.release()
    if frames == 0:
        return _error(f"no frame of {args.video} could be decoded")
    print(summarize(frames, seconds, dict(stage_ms)))
    outputs = " and ".join(str(p) for p in (json_path, video_out) if p)
    print(f"wrote {outputs}")
    return 0
