"""Headless video processing: ``python main.py --video PATH --headless --json OUT.jsonl
[--out-video OUT.mp4] [--smooth]``. Every frame of the file is processed (none dropped), with a progress
bar, then a summary (frames, fps, milliseconds per stage). Hand ids follow the hands from frame to frame
(``handcam.tracking.HandIdentities``), each with its camera-space scale held steady, and with ``--smooth``
through a One Euro filter each. No Qt, no display.

Errors (missing or undecodable video, missing weights, unwritable output) end the run with a
non-zero exit status and one line on stderr; outputs are checked before the weights are loaded.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections import defaultdict

from .config import RunConfig, load_estimator
from .errors import HandcamError, print_error
from .estimator import iter_batches
from .handsize import scale_source
from .recording import Recorder
from .smoothing import SmoothingOptions
from .tracking import HandIdentities

log = logging.getLogger(__name__)


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
    return 8 if str(estimator.device).startswith("cuda") else 1


def indexed_frames(source):
    """(index, frame) for every decodable frame of a source, in order."""
    while True:
        index = source.position
        frame = source.read()
        if frame is None:
            return
        yield index, frame


def run_video(config: RunConfig, estimator=None) -> int:
    """Process the config's video into its JSONL and/or annotated MP4 outputs.

    ``estimator`` (a ``handcam.protocol.Estimator``) replaces the one loaded from the config's
    weights and device; it runs with the config's settings either way. Frames go to the estimator
    in batches of ``config.batch_size`` (default: 8 on CUDA, 1 on a CPU). Returns the process exit
    status.
    """
    from tqdm import tqdm

    from .sources import VideoSource

    outputs = config.outputs
    if config.source.kind != "video":
        return print_error("--headless needs --video PATH (or --image PATH)")
    if not outputs.json and not outputs.video:
        return print_error("--headless --video needs an output: --json OUT.jsonl and/or --out-video OUT.mp4")
    try:
        source = VideoSource(config.source.value)
    except HandcamError as e:
        return print_error(e)
    recorder = None
    frames = 0
    try:
        fps = source.fps or 30.0
        recorder = Recorder(outputs.json, outputs.video, fps=fps)  # checks both paths before any work
        if estimator is None:
            estimator = load_estimator(config)
        identities = HandIdentities(SmoothingOptions() if config.smooth else None)
        sizes = scale_source(config.settings)        # each hand's camera-space scale held steady
        stage_ms: dict = defaultdict(float)
        t0 = time.perf_counter()
        batch_size = config.batch_size or default_batch(estimator)
        with tqdm(total=source.frame_count, unit="frame", desc="handcam", file=sys.stderr,
                  dynamic_ncols=True) as bar:
            for batch in iter_batches(indexed_frames(source), batch_size, shape=lambda item: item[1].shape):
                results = estimator.estimate_batch([frame for _, frame in batch], config.settings,
                                                   with_mask=outputs.video is not None)  # drawn on the video
                for (index, frame), result in zip(batch, results):
                    hands, _ = identities.update(result.hands, index / fps, size_key=sizes)
                    result = dataclasses.replace(result, hands=hands)
                    recorder.write(index, index / fps, frame, result)
                    for k, v in result.timings_ms.items():
                        stage_ms[k] += float(v)
                frames += len(batch)
                bar.update(len(batch))
        seconds = time.perf_counter() - t0
    except HandcamError as e:
        return print_error(e)
    except KeyboardInterrupt:
        print("handcam: interrupted", file=sys.stderr)
        return 130
    finally:
        if recorder is not None:
            recorder.close()
        source.release()
    if frames == 0:
        return print_error(f"no frame of {config.source.value} could be decoded")
    print(summarize(frames, seconds, dict(stage_ms)))
    print("wrote " + " and ".join(str(p) for p in (outputs.json, outputs.video) if p))
    return 0
