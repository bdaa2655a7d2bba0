"""Headless video processing (``main.py --video PATH --headless --json OUT.jsonl``): no display."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app_fakes import FakeEstimator, write_video
from handcam.app.headless import run_video
from handcam.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def args_for(*argv):
    return build_parser().parse_args(list(argv))


def test_every_frame_becomes_one_jsonl_line_and_one_video_frame(tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4", n_frames=24)
    out, out_video = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    est = FakeEstimator()
    args = args_for("--video", video, "--headless", "--json", str(out), "--out-video", str(out_video),
                    "--hand-side", "right")
    assert run_video(args, estimator=est) == 0
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(24))
    assert lines[3]["timestamp"] == pytest.approx(3 / 30, abs=1e-4)
    assert np.array(lines[0]["keypoints_2d"]).shape == (21, 2)
    assert np.array(lines[0]["keypoints_3d"]).shape == (21, 3)
    assert len(lines[0]["keypoint_scores"]) == 21 and len(lines[0]["center"]) == 2
    assert lines[0]["hand_side"] == "right" and all(c["hand_side"] == "right" for c in est.calls)
    cap = cv2.VideoCapture(str(out_video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (240, 320, 3)
    summary = capsys.readouterr().out
    assert "24 frames" in summary and "fps" in summary and "segment" in summary


@pytest.mark.parametrize("case", ["missing", "text", "no-output"])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, capsys, case):
    out = tmp_path / "out.jsonl"
    if case == "missing":
        argv = ["--video", str(tmp_path / "nope.mp4"), "--headless", "--json", str(out)]
    elif case == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("not a video\n" * 50)
        argv = ["--video", str(p), "--headless", "--json", str(out)]
    else:
        argv = ["--video", write_video(tmp_path / "c.mp4", 3), "--headless"]
    assert run_video(args_for(*argv), estimator=FakeEstimator()) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_missing_weights_through_main(tmp_path):
    """The real entry point: a clean one-line error and a non-zero exit, no traceback."""
    video = write_video(tmp_path / "clip.mp4", n_frames=3)
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--video", video, "--headless",
                        "--json", str(tmp_path / "o.jsonl"), "--weights", str(tmp_path / "none.pt"),
                        "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    lines = [s for s in r.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and "error" in lines[0] and "weights" in lines[0], r.stderr


def test_real_estimator_headless(tmp_path, random_estimator, capsys):
    video = write_video(tmp_path / "clip.mp4", n_frames=2)
    out = tmp_path / "out.jsonl"
    args = args_for("--video", video, "--headless", "--json", str(out))
    args.batch = 2  # the real estimator's batch path
    assert run_video(args, estimator=random_estimator) == 0
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert len(lines) == 2 and np.isfinite(np.array(lines[1]["keypoints_3d"])).all()
    assert "2 frames" in capsys.readouterr().out


def test_batches_give_the_same_lines(tmp_path):
    video = write_video(tmp_path / "clip.mp4", n_frames=11)
    outs = []
    for batch in (1, 4):
        out = tmp_path / f"b{batch}.jsonl"
        args = args_for("--video", video, "--headless", "--json", str(out))
        args.batch = batch
        assert run_video(args, estimator=FakeEstimator()) == 0
        lines = [json.loads(s) for s in out.read_text().splitlines()]
        outs.append([{k: v for k, v in r.items() if k != "timings_ms"} for r in lines])
    assert len(outs[0]) == 11 and outs[0] == outs[1]


def test_headless_never_imports_qt():
    code = ("import sys, handcam.cli, handcam.app, handcam.app.headless, handcam.draw; "
            "print(sorted(m for m in sys.modules if m.startswith(('PyQt5', 'pyqtgraph'))))")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
