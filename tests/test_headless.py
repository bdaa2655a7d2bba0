"""handcam.headless: ``main.py --video PATH --headless --json OUT.jsonl`` without a display."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_fakes import FakeEstimator, write_video

from handcam.cli import build_parser, config_from_args
from handcam.config import RunConfig, SourceSpec
from handcam.headless import run_video

ROOT = Path(__file__).resolve().parent.parent


def config_for(*argv) -> RunConfig:
    parser = build_parser()
    return config_from_args(parser.parse_args([str(a) for a in argv]), parser)


def test_every_frame_becomes_one_jsonl_line_and_one_video_frame(tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4", n_frames=24)
    out, out_video = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    est = FakeEstimator()
    config = config_for("--video", video, "--headless", "--json", out, "--out-video", out_video,
                        "--hand-side", "right")
    assert run_video(config, estimator=est) == 0
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(24))
    assert lines[3]["timestamp"] == pytest.approx(3 / 30, abs=1e-4)
    hand = lines[0]["hands"][0]
    assert np.array(hand["keypoints_2d"]).shape == (21, 2)
    assert np.array(hand["keypoints_3d"]).shape == (21, 3)
    assert len(hand["keypoint_scores"]) == 21 and len(hand["center"]) == 2
    # the config's settings reach an injected estimator too
    assert hand["side"] == "right" and all(c["hand_side"] == "right" for c in est.calls)
    assert all(c["via"] == "estimate_batch" for c in est.calls)
    cap = cv2.VideoCapture(str(out_video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (240, 320, 3)
    summary = capsys.readouterr().out
    assert "24 frames" in summary and "fps" in summary and "segment" in summary


@pytest.mark.parametrize("case", ["missing", "text", "no-output", "not-a-video"])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, capsys, case):
    out = tmp_path / "out.jsonl"
    if case == "missing":
        config = config_for("--video", tmp_path / "nope.mp4", "--headless", "--json", out)
    elif case == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("not a video\n" * 50)
        config = config_for("--video", p, "--headless", "--json", out)
    elif case == "no-output":  # the CLI refuses this itself; run_video checks it too
        config = RunConfig(source=SourceSpec("video", write_video(tmp_path / "c.mp4", 3)), headless=True)
    else:
        config = RunConfig(source=SourceSpec("camera", 0), headless=True)
    assert run_video(config, estimator=FakeEstimator()) != 0
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
    config = dataclasses.replace(config_for("--video", video, "--headless", "--json", out), batch_size=2)
    assert run_video(config, estimator=random_estimator) == 0  # the real estimator's batch path
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert len(lines) == 2 and np.isfinite(np.array(lines[1]["hands"][0]["keypoints_3d"])).all()
    assert "2 frames" in capsys.readouterr().out


def test_batches_give_the_same_lines(tmp_path):
    video = write_video(tmp_path / "clip.mp4", n_frames=11)
    outs = []
    for batch in (1, 4):
        out = tmp_path / f"b{batch}.jsonl"
        config = config_for("--video", video, "--headless", "--json", out, "--batch", batch)
        assert config.batch_size == batch
        assert run_video(config, estimator=FakeEstimator()) == 0
        lines = [json.loads(s) for s in out.read_text().splitlines()]
        outs.append([{k: v for k, v in r.items() if k != "timings_ms"} for r in lines])
    assert len(outs[0]) == 11 and outs[0] == outs[1]


def test_headless_never_imports_qt():
    code = ("import sys, handcam.cli, handcam.headless, handcam.recording, handcam.draw, handcam.app; "
            "print(sorted(m for m in sys.modules if m.startswith(('PyQt5', 'pyqtgraph'))))")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_cli_imports_nothing_from_the_app():
    code = "import sys, handcam.cli; print(sorted(m for m in sys.modules if m.startswith('handcam.app')))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _two_hand_video(path: Path, n: int = 12) -> Path:
    from core_fakes import two_hand_frame

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    for i in range(n):     # the left hand moves; the hands are found in either order, the ids must not change
        frame = two_hand_frame(left=(0.5 - 0.01 * i, 0.25 + 0.01 * i), right=(0.5, 0.75), seed=i)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_hand_ids_follow_the_hands_through_the_video_and_smooth_filters_them(tmp_path):
    from core_fakes import two_hand_estimator

    video = _two_hand_video(tmp_path / "two.mp4")
    est = two_hand_estimator()
    lines = {}
    for smooth in (False, True):
        out = tmp_path / f"out{smooth}.jsonl"
        argv = ["--video", video, "--headless", "--json", out] + (["--smooth"] if smooth else [])
        assert run_video(config_for(*argv), estimator=est) == 0
        lines[smooth] = [json.loads(s) for s in out.read_text().splitlines()]
    for rows in lines.values():
        assert all(len(r["hands"]) == 2 for r in rows)
        ids = [{h["side"]: h["id"] for h in r["hands"]} for r in rows]
        assert all(i == ids[0] for i in ids)                  # the same id per hand in every frame
    raw = np.array([[h["keypoints_2d"] for h in r["hands"]] for r in lines[False]])
    smooth = np.array([[h["keypoints_2d"] for h in r["hands"]] for r in lines[True]])
    np.testing.assert_allclose(smooth[0], raw[0], atol=1e-3)   # the first frame passes through
    assert np.abs(np.diff(smooth, axis=0)).mean() < np.abs(np.diff(raw, axis=0)).mean()


def test_smooth_goes_with_headless_video(tmp_path, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        config_from_args(parser.parse_args(["--image", "x.png", "--headless", "--smooth"]), parser)
    assert "--smooth goes with --headless --video" in capsys.readouterr().err
