"""Time the handcam pipeline per stage and end to end, and the raw networks alone.

    python benchmarks/bench.py --json bench.json                       # CPU/GPU (auto), paper networks
    python benchmarks/bench.py --json lite.json --arch lite --threads 2
    python benchmarks/bench.py --json track.json --tracking            # also the tracking mode
    python benchmarks/check_targets.py bench.json lite.json track.json # the issue's targets

Frames come from a real video (``--video``; default: ``../shared/data/real/video/`` next to the
repository, when present) or are generated (a moving skin-coloured blob). The networks have random
weights (``HandPoseEstimator.random``) unless ``--weights`` is given: the speed of the networks does
not depend on their weights, only the tracking decisions do (see ``--track-min-score``).

Per frame, side by side so that machine load affects all of them alike:
1. the estimator on the frame (wall clock around the call; stage times from its own clock, which
   uses CUDA events on a GPU);
2. the raw networks alone on inputs of the same shapes, already on the device (CUDA events on a GPU);
3. with ``--tracking``: the estimator in tracking mode on the same frame sequence.
Statistics (median, p10, p90) are over the frames after ``--warmup`` frames.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import PREFERRED_VIDEO, VIDEO_DIR, default_video, parse_frame_args, read_video, run_and_write, stats

from handcam.estimator import HandPoseEstimator
from handcam.models.layers import tf1_resize_bilinear
from handcam.pipeline import STAGES
from handcam.runtime import Clock, inference_threads, resolve_device
from handcam.settings import PipelineSettings, RuntimeOptions
from handcam.tracking import TrackingOptions
from handcam.transform import network_input_size

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent

def synthetic_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A skin-coloured ellipse drifting over a smooth background, with noise (deterministic)."""
    h, w = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), np.full((h, w), 90.0, np.float32)], -1)
    frames = []
    for i in range(count):
        t = i / max(count, 1) * 2 * np.pi
        cy, cx = h * (0.5 + 0.2 * np.sin(t)), w * (0.5 + 0.2 * np.cos(t))
        img = base.copy()
        img[((yy - cy) / (0.2 * h)) ** 2 + ((xx - cx) / (0.15 * w)) ** 2 < 1] = (220, 170, 140)
        frames.append(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return frames


class RawNetworks:
    """The estimator's networks alone, on device-resident inputs of the pipeline's shapes, with the
    estimator's precision and memory layout: the floor the pipeline's overhead is measured against."""

    def __init__(self, est: HandPoseEstimator, net_hw: tuple[int, int]):
        self.est = est
        self.nets = est.runnable_networks
        dev = est.device
        g = torch.Generator().manual_seed(0)
        s = est.architecture.crop_size
        self.image = (torch.rand(1, 3, *net_hw, generator=g) - 0.5).to(dev)
        self.crop = (torch.rand(1, 3, s, s, generator=g) - 0.5).to(dev)
        self.side = torch.tensor([[1.0, 0.0]], device=dev)
        with torch.inference_mode():   # the lifting networks' input: PoseNet's maps at their trained size
            maps = self.nets["posenet"](self.crop)[-1].float()
            size = est.architecture.scoremap_size
            self.scoremap = tf1_resize_bilinear(maps, (size, size)) if maps.shape[-1] != size else maps

    def run(self) -> dict:
        nets, clock = self.nets, Clock(self.est.device)
        with torch.inference_mode():
            clock.mark("start")
            nets["handsegnet"](self.image)
            clock.mark("handsegnet")
            nets["posenet"](self.crop)
            clock.mark("posenet")
            nets["poseprior"](self.scoremap, self.side)
            nets["viewpoint"](self.scoremap, self.side)
            clock.mark("lifting")
        out = clock.elapsed_ms()
        out["total"] = out["handsegnet"] + out["posenet"] + out["lifting"]
        out["tracked_total"] = out["posenet"] + out["lifting"]
        return out


def call_ms(call, frame: np.ndarray):
    t0 = time.perf_counter()
    result = call(frame)  # returns after the one device->host copy
    return (time.perf_counter() - t0) * 1000.0, result


def machine_info(device: torch.device) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _git_commit() -> str | None:
    """The commit measured, with ``-dirty`` when tracked files differ from it (the measured code is then
    the commit plus the working tree's changes)."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and changed else head


def run(args) -> dict:
    torch.set_num_threads(args.threads or inference_threads())
    device = resolve_device(args.device)
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    runtime = RuntimeOptions(precision=args.precision,
                             layout="contiguous" if args.no_channels_last else "channels_last",
                             compile=args.compile, backend=args.backend)
    # the release's settings: every frame's most confident region is its one hand, so that all networks run
    # once per frame, as the raw networks are timed (several hands: --hands-video, with the defaults)
    release = PipelineSettings.release().replace(refine_crops=args.refine_crops,
                                                 input_size=tuple(args.input_size) if args.input_size else None)
    if args.weights:
        est = HandPoseEstimator.load(args.weights, device=device, runtime=runtime, settings=release)
    else:
        est = HandPoseEstimator.random(seed=0, device=device, arch=args.arch, runtime=runtime, settings=release)
    if args.weights and args.arch != est.architecture.name:
        log.warning("--arch %s ignored: the weights file is %s", args.arch, est.architecture)
    count = args.warmup + args.frames
    video = None if args.synthetic else (Path(args.video) if args.video else default_video())
    size = tuple(args.size) if args.size else None
    if video is not None:
        frames = read_video(video, count, size)
        source = str(video)
    else:
        frames = synthetic_frames(count, size or (480, 640))
        source = "synthetic"
    h, w = frames[0].shape[:2]
    settings = est.resolved()
    net_hw = network_input_size((h, w), settings, est.architecture.input_size)
    min_score = args.track_min_score
    if min_score is None:
        # random networks have meaningless confidences: always trust them, so that tracking runs
        # (and re-detects every --redetect-every frames); with real weights, the default threshold
        min_score = TrackingOptions().min_score if args.weights else -float("inf")
    tracker = est.tracker(redetect_every=args.redetect_every, min_score=min_score)
    raw = RawNetworks(est, net_hw)
    log.info("%s %s on %s, %d frames %dx%d from %s (+%d warm-up)", est.architecture.name, args.precision, device,
             args.frames, w, h, source, args.warmup)

    rows = {"e2e": [], "stages": {k: [] for k in (*STAGES, "total")}, "raw": {}, "tracked_e2e": [],
            "tracked_flags": [], "tracked_stages": {k: [] for k in (*STAGES, "total")}}
    for i, frame in enumerate(frames):
        e2e, pose = call_ms(est.estimate, frame)
        r = raw.run()
        if args.tracking:
            t_e2e, t_pose = call_ms(lambda f: tracker.process(f, index=i), frame)
        if i < args.warmup:
            continue
        rows["e2e"].append(e2e)
        for k in rows["stages"]:
            rows["stages"][k].append(pose.timings_ms.get(k, 0.0))
        for k, v in r.items():
            rows["raw"].setdefault(k, []).append(v)
        if args.tracking:
            rows["tracked_e2e"].append(t_e2e)
            tracked = bool(t_pose.hands) and all(h.tracked for h in t_pose.hands)
            rows["tracked_flags"].append(tracked)
            if tracked:
                for k in rows["tracked_stages"]:
                    rows["tracked_stages"][k].append(t_pose.timings_ms.get(k, 0.0))

    result = {
        "config": {"arch": est.architecture.name, "device": str(device), "precision": args.precision,
                   "channels_last": est.channels_last, "compile": args.compile,
                   "backend": est.backend, "mask_method": est.mask_method,
                   "threads": torch.get_num_threads(), "frames": args.frames, "warmup": args.warmup,
                   "frame_size": [h, w], "network_input": list(net_hw),
                   "crop_size": est.architecture.crop_size, "refine_crops": settings.refine_crops,
                   "refines": settings.refines(est.refine_trained),
                   "weights": args.weights or "random(seed=0)", "source": source, "tracking": args.tracking},
        "machine": machine_info(device),
        "pipeline": {"end_to_end_ms": stats(rows["e2e"]),
                     "stages_ms": {k: stats(v) for k, v in rows["stages"].items()}},
        "raw_networks_ms": {k: stats(v) for k, v in rows["raw"].items()},
    }
    result["glue_ms"] = glue_profile(result["pipeline"]["stages_ms"], result["raw_networks_ms"])
    e2e_med = result["pipeline"]["end_to_end_ms"]["median"]
    result["overhead_ratio"] = e2e_med / result["raw_networks_ms"]["total"]["median"]
    result["fps"] = 1000.0 / e2e_med
    if args.tracking:
        t = stats(rows["tracked_e2e"])
        result["tracking"] = {"end_to_end_ms": t, "redetect_every": args.redetect_every,
                              "track_min_score": min_score,
                              "tracked_fraction": float(np.mean(rows["tracked_flags"])),
                              "ratio_to_untracked": t["median"] / e2e_med,
                              "overhead_ratio": t["median"] / result["raw_networks_ms"]["tracked_total"]["median"],
                              "mean_ratio_to_untracked": t["mean"] / result["pipeline"]["end_to_end_ms"]["mean"]}
        if rows["tracked_stages"]["total"]:
            tracked_stages = {k: stats(v) for k, v in rows["tracked_stages"].items()}
            result["tracking"]["stages_ms"] = tracked_stages
            result["tracking"]["glue_ms"] = glue_profile(tracked_stages, result["raw_networks_ms"],
                                                         skipped=("handsegnet",))
    if args.hands_video:
        result["by_hand_count"] = by_hand_count(est, Path(args.hands_video), count, size, args.warmup,
                                                args.redetect_every, min_score)
    result["machine"]["loadavg_start"] = load_start
    result["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["machine"]["git_commit"] = _git_commit()
    return result


def by_hand_count(est: HandPoseEstimator, video: Path, count: int, size, warmup: int, redetect_every: int,
                  min_score: float) -> dict:
    """End to end per frame of ``video`` (a clip with one- and two-hand frames, e.g. ``two_hand_clip.py``'s)
    with the default settings (every hand, up to two), grouped by the number of hands the estimator
    reported, untracked and tracked (the tracker's frames that were all tracked), and the ratio of two-hand
    to one-hand frames."""
    frames = read_video(video, count, size)
    settings = PipelineSettings()
    tracker = est.tracker(redetect_every=redetect_every, min_score=min_score)
    groups: dict = {"untracked": {}, "tracked": {}}
    for i, frame in enumerate(frames):
        e2e, result = call_ms(lambda f: est.estimate(f, settings), frame)
        t_e2e, t_result = call_ms(lambda f: tracker.process(f, settings, index=i), frame)
        if i < warmup:
            continue
        groups["untracked"].setdefault(len(result.hands), []).append(e2e)
        if t_result.hands and all(h.tracked for h in t_result.hands):
            groups["tracked"].setdefault(len(t_result.hands), []).append(t_e2e)
    out = {"video": str(video), "frames": len(frames) - warmup}
    for mode, by_n in groups.items():
        out[mode] = {str(n): stats(v) for n, v in sorted(by_n.items())}
        if 1 in by_n and 2 in by_n:
            out[mode]["ratio_two_to_one"] = stats(by_n[2])["median"] / stats(by_n[1])["median"]
    return out


def glue_profile(stages_ms: dict, raw_ms: dict, skipped: tuple = ()) -> dict:
    """Milliseconds per stage outside the networks (median stage time minus the median time of its raw
    network; the stages without a network, or whose network was ``skipped``, count whole): where the
    overhead goes."""
    glue = {}
    for k, s in stages_ms.items():
        if k == "total":
            continue
        raw = raw_ms[k]["median"] if k in ("handsegnet", "posenet", "lifting") and k not in skipped else 0.0
        glue[k] = s["median"] - raw
    glue["total"] = sum(glue.values())
    return glue


def table(result: dict) -> str:
    c = result["config"]
    lines = [f"handcam {c['arch']} | {c['device']} {c['precision']} {c.get('backend', 'torch')} | "
             f"threads {c['threads']} | "
             f"frames {c['frames']} of {c['frame_size'][1]}x{c['frame_size'][0]} ({Path(c['source']).name})",
             f"{'':<22}{'median':>10}{'p10':>10}{'p90':>10}   ms"]

    def row(name, s):
        lines.append(f"{name:<22}{s['median']:>10.2f}{s['p10']:>10.2f}{s['p90']:>10.2f}")

    for k, s in result["pipeline"]["stages_ms"].items():
        row("  stage " + k, s)
    row("end to end (wall)", result["pipeline"]["end_to_end_ms"])
    for k, s in result["raw_networks_ms"].items():
        row("  raw " + k, s)
    lines.append(f"overhead ratio (end to end / raw networks): {result['overhead_ratio']:.3f}   "
                 f"fps {result['fps']:.1f}")
    lines.append("glue (outside the networks, ms): " + ", ".join(f"{k} {v:.2f}" for k, v in result["glue_ms"].items()))
    if "tracking" in result:
        t = result["tracking"]
        row("tracking end to end", t["end_to_end_ms"])
        lines.append(f"tracking / untracked: {t['ratio_to_untracked']:.3f} (median), "
                     f"{t['mean_ratio_to_untracked']:.3f} (mean); tracked frames {t['tracked_fraction']:.0%}; "
                     f"tracked / raw PoseNet + lifting: {t['overhead_ratio']:.3f}")
        if "glue_ms" in t:
            lines.append("tracked glue (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in t["glue_ms"].items()))
    if "by_hand_count" in result:
        b = result["by_hand_count"]
        for mode in ("untracked", "tracked"):
            counts = {n: s for n, s in b[mode].items() if n != "ratio_two_to_one"}
            text = ", ".join(f"{n} hand{'s' if n != '1' else ''} {s['median']:.2f} ms ({s['n']} frames)"
                             for n, s in counts.items())
            ratio = b[mode].get("ratio_two_to_one")
            lines.append(f"by hands found, {mode}: {text or '-'}" + (f"; two / one {ratio:.2f}" if ratio else ""))
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--json", required=True, help="where to write the results (JSON)")
    p.add_argument("--frames", type=int, default=60, help="timed frames (the issue asks for >= 50; CI uses 3)")
    p.add_argument("--warmup", type=int, default=5, help="untimed frames first (compilation, caches)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--arch", default="paper", choices=["paper", "lite"], help="network family (random weights)")
    p.add_argument("--weights", help="a handcam weights file instead of random weights (its architecture wins)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="network precision")
    p.add_argument("--no-channels-last", action="store_true", help="keep the default NCHW memory layout")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
                   help="what runs the networks (auto: ONNX Runtime on a CPU in fp32 when installed)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (CUDA graphs on a GPU)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: the app's rule, "
                   "handcam.runtime.inference_threads: all cores but one)")
    p.add_argument("--tracking", action="store_true", help="also time the tracking mode on the same frames")
    p.add_argument("--redetect-every", type=int, default=10, help="tracking: run HandSegNet every N frames")
    p.add_argument("--track-min-score", type=float, default=None,
                   help="tracking: confidence needed to track (default: always with random weights, "
                        "the PipelineSettings default with --weights)")
    p.add_argument("--video", help=f"a video file (default: {VIDEO_DIR}/{PREFERRED_VIDEO} when present)")
    p.add_argument("--hands-video", help="also time the frames of this clip grouped by how many hands were found "
                   "(one- and two-hand frames: make one with benchmarks/two_hand_clip.py make --one-hand N)")
    p.add_argument("--synthetic", action="store_true", help="generated frames even when a video is present")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="resize frames to H x W first")
    p.add_argument("--refine-crops", default="auto", choices=["auto", "on", "off"], help="re-crop a hand around its "
                   "first keypoints when they disagree with its box (auto: as the weights file says); its second "
                   "PoseNet call is part of the end-to-end time, not of the raw networks'")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="HandSegNet's input size (default: "
                   "the family's)")
    p.add_argument("-v", "--verbose", action="store_true")
    return parse_frame_args(p, argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    return run_and_write("bench.py", run, args, args.json, table)


if __name__ == "__main__":
    sys.exit(main())
