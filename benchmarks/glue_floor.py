"""The floor of the lite pipeline's glue: its essential arithmetic with the least orchestration, timed
frame by frame beside the estimator and the raw networks.

    python benchmarks/glue_floor.py --json floor.json --weights weights/handcam-lite.pt --frames 100

"Essential" is what every frame of the one-hand lite pipeline computes: the antialiased resize of the
frame, HandSegNet, the softmax, the release's mask growth, the mask's box, the crop from the frame
(OpenCV) and its normalisation, PoseNet, the sub-pixel peaks, the lifting networks, Rodrigues and the
canonical inverse (with the side the mask says), the keypoints back to the frame and the camera-space
solve -- the library's own
functions, called in a row, without the stages' result objects, settings, validation, clock or
``HandPose``. Its ratio to the raw networks is what the arithmetic alone costs on this machine: the
estimator cannot go below it without doing less (see docs/performance.md). Random lite networks
unless ``--weights`` (the arithmetic does not depend on the weights; the mask does).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench import RawNetworks, machine_info, synthetic_frames
from common import default_video, parse_frame_args, read_video, run_and_write, stats

from handcam import camera as C
from handcam import geometry as G
from handcam.estimator import HandPoseEstimator
from handcam.models import registry
from handcam.runtime import inference_threads
from handcam.settings import PipelineSettings
from handcam.stages.crop import crop_uint8_opencv
from handcam.transform import FrameTransform

segment_module = importlib.import_module("handcam.stages.segment")


class Floor:
    """The lite pipeline's essential arithmetic for one hand per frame (``__call__``: RGB frame -> camera-space
    keypoints 21 x 3), with the estimator's networks."""

    def __init__(self, est: HandPoseEstimator, frame_hw: tuple[int, int]):
        arch = est.architecture
        sides = registry.predicts_sides(est.networks["handsegnet"])
        if not (arch.crop_from_frame and arch.subpixel_keypoints and sides):
            raise ValueError(f"the floor is the lite family's path (crop from the frame, sub-pixel peaks, sides "
                             f"from the mask); {arch.name} has another")
        self.nets = est.runnable_networks
        self.net_hw = tuple(arch.input_size)
        self.size, self.max_scale = arch.crop_size, arch.max_crop_scale
        self.transform = FrameTransform(tuple(frame_hw), self.net_hw, crop_from_frame=True)
        self.passes = segment_module.grow_passes(*self.net_hw)
        self.intrinsics = C.Intrinsics.from_fov(frame_hw, PipelineSettings().fov_deg)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            small = G.resize_frames(torch.from_numpy(frame)[None].permute(0, 3, 1, 2), self.net_hw)
            classes = torch.softmax(self.nets["handsegnet"](G.normalize_image(small.permute(0, 2, 3, 1))), 1).numpy()
            prob = 1.0 - classes[:, 0]
            mask = segment_module._grow_opencv_host(prob.reshape(1, -1).argmax(1), prob > 0.5, self.passes)
            centre, extent = G.mask_center_and_size(mask)
            # the crop in frame pixels: centre and scale through the frame transform, then TF's sample grid
            scale = G.crop_scale(extent, PipelineSettings().crop_factor, max_scale=self.max_scale) * (
                self.size / G.CROP_SIZE)
            scale = scale / self.transform.frame_per_net()
            centre = self.transform.inverse(centre[:, None])[:, 0]
            boxes = G.normalize_boxes(G.crop_boxes(centre, scale, self.size), *self.transform.frame_hw)
            crop = crop_uint8_opencv(torch.from_numpy(frame)[None].permute(0, 3, 1, 2), boxes, self.size)
            maps = self.nets["posenet"](crop)[-1]
            keypoints, scores = G.scoremap_peaks(maps.numpy(), (self.size, self.size))
            right = float(segment_module.right_share(classes, mask, np.zeros(1, np.int64))[0] > 0.5)
            side = np.array([[1.0 - right, right]], np.float32)           # the side the mask says
            coord_can, axis_angle = self.nets["lift"](maps, torch.from_numpy(side))
            xyz = G.from_canonical(coord_can.numpy(), G.rodrigues(axis_angle.numpy()), side)
            uv = G.crop_to_image(keypoints, centre, scale, self.size)[..., ::-1]
            return C.camera_keypoints(xyz, uv, self.intrinsics, PipelineSettings().bone_length_m, scores,
                                      refine_steps=1)


def run(args) -> dict:
    torch.set_num_threads(args.threads or inference_threads())
    settings = PipelineSettings.release()
    if args.weights:
        est = HandPoseEstimator.load(args.weights, device="cpu", settings=settings)
    else:
        est = HandPoseEstimator.random(seed=0, device="cpu", arch="lite", settings=settings)
    if est.backend != "onnxruntime":
        raise ValueError(f"the floor times the ONNX Runtime backend (the estimator got {est.backend}; "
                         f"pip install onnxruntime onnx)")
    count = args.warmup + args.frames
    video = None if args.synthetic else (Path(args.video) if args.video else default_video())
    frames = read_video(video, count, None) if video else synthetic_frames(count, (480, 640))
    floor = Floor(est, frames[0].shape[:2])
    raw = RawNetworks(est, floor.net_hw)
    rows: dict = {"floor": [], "estimator": [], "raw": []}
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        floor(frame)
        t1 = time.perf_counter()
        raw_ms = raw.run()["total"]
        t2 = time.perf_counter()
        est.estimate(frame)
        t3 = time.perf_counter()
        if i >= args.warmup:
            rows["floor"].append((t1 - t0) * 1e3)
            rows["raw"].append(raw_ms)
            rows["estimator"].append((t3 - t2) * 1e3)
    out = {k: stats(v) for k, v in rows.items()}
    raw_median = out["raw"]["median"]
    return {"config": {"weights": args.weights or "random(seed=0)", "source": str(video) if video else "synthetic",
                       "frames": args.frames, "warmup": args.warmup, "threads": torch.get_num_threads()},
            "machine": machine_info(torch.device("cpu")), "ms": out,
            "floor_ratio": out["floor"]["median"] / raw_median,
            "estimator_ratio": out["estimator"]["median"] / raw_median}


def table(result: dict) -> str:
    ms = result["ms"]
    return "\n".join([f"{k:<10} median {v['median']:7.2f} ms  p10 {v['p10']:7.2f}  p90 {v['p90']:7.2f}"
                      for k, v in ms.items()]
                     + [f"floor / raw networks {result['floor_ratio']:.3f}   estimator / raw networks "
                        f"{result['estimator_ratio']:.3f}"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--json", required=True, help="where to write the result")
    p.add_argument("--weights", help="a lite weights file (default: random lite networks)")
    p.add_argument("--video", help="frames from this video (default: ../shared's webcam video)")
    p.add_argument("--synthetic", action="store_true", help="generated 640x480 frames instead of a video")
    p.add_argument("--frames", type=int, default=100, help="frames timed")
    p.add_argument("--warmup", type=int, default=5, help="frames run first, not timed")
    p.add_argument("--threads", type=int, help="intra-op threads (default: handcam's thread rule)")
    args = parse_frame_args(p, argv)
    return run_and_write("glue_floor.py", run, args, args.json, table)


if __name__ == "__main__":
    sys.exit(main())
