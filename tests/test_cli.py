"""handcam.cli (main.py): flags -> RunConfig, --image --headless JSON and figure, and a one-line error
(exit 2) for every kind of bad input -- unwritable outputs before any work."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, synthetic_frame

from handcam import cli
from handcam.cli import build_parser, config_from_args, main, run_image
from handcam.config import RunConfig, SourceSpec
from handcam.estimator import HandPoseEstimator
from handcam.results import SCHEMA_VERSION
from handcam.settings import PipelineSettings
from handcam.weights import save_weights


def run_cli(capsys, *args):
    rc = main(list(map(str, args)))
    out = capsys.readouterr()
    return rc, out.out, out.err


def config(*args) -> RunConfig:
    parser = build_parser()
    return config_from_args(parser.parse_args(list(map(str, args))), parser)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rgb = synthetic_frame()
    cv2.imwrite(str(d / "rgb.png"), rgb[:, :, ::-1])
    cv2.imwrite(str(d / "gray.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(d / "rgba.png"), np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 128, np.uint8)]))
    cv2.imwrite(str(d / "deep.png"), rgb[:, :, ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(d / "one.png"), np.full((1, 1, 3), 200, np.uint8))
    (d / "text.png").write_text("this is not an image\n")
    return d


@pytest.fixture
def no_loading(monkeypatch):
    """Records every HandPoseEstimator.load (the work an output error must come before)."""
    calls = []
    monkeypatch.setattr(HandPoseEstimator, "load", classmethod(lambda cls, *a, **k: calls.append((a, k))))
    return calls


# ---------------------------------------------------------------- headless image
@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "rgba.png", "deep.png", "one.png"])
def test_valid_images(capsys, tmp_path, images, random_weights, name):
    out = tmp_path / "r.json"
    rc, _, err = run_cli(capsys, "--image", images / name, "--headless", "--weights", random_weights,
                         "--device", "cpu", "--json", out)
    assert rc == 0, err
    r = json.loads(out.read_text())
    assert set(r) == {"image", "image_size", "device", "schema", "frame_size", "hands", "timings_ms"}
    assert r["schema"] == SCHEMA_VERSION and r["device"] == "cpu" and r["image"] == str(images / name)
    h, w = cv2.imread(str(images / name), cv2.IMREAD_UNCHANGED).shape[:2]
    assert r["image_size"] == [w, h] and r["frame_size"] == [h, w]
    assert len(r["hands"]) == 1     # random networks: HandSegNet's peak is above 0.5 on these images
    hand = r["hands"][0]
    assert set(hand) == {"id", "side", "side_score", "presence", "box", "center", "scale",
                         "keypoints_2d", "keypoint_scores", "keypoints_3d", "keypoints_3d_camera", "mask_area",
                         "tracked", "camera_scale"}
    # reported: presence at least the default presence_threshold (0.5)
    assert hand["presence"] >= PipelineSettings().presence_threshold
    assert np.array(hand["keypoints_2d"]).shape == (21, 2) and np.array(hand["keypoints_3d"]).shape == (21, 3)
    assert len(hand["keypoint_scores"]) == 21 and len(hand["center"]) == 2 and len(hand["box"]) == 4
    assert set(r["timings_ms"]) >= {"handsegnet", "posenet", "lifting", "total"}
    assert isinstance(hand["mask_area"], int) and isinstance(hand["scale"], float)
    # hand_side "auto" with the paper's 2-class HandSegNet: the fallback side, not predicted (no score)
    assert hand["side"] == "left" and hand["side_score"] is None and hand["tracked"] is False


def test_gray_and_16bit_match_their_8bit_rgb(capsys, tmp_path, images, random_weights):
    res = {}
    for name in ("rgb.png", "deep.png"):
        run_cli(capsys, "--image", images / name, "--headless", "--weights", random_weights, "--device", "cpu",
                "--json", tmp_path / f"{name}.json")
        res[name] = json.loads((tmp_path / f"{name}.json").read_text())
    # 16-bit keeps the high byte
    assert res["rgb.png"]["hands"][0]["keypoints_2d"] == res["deep.png"]["hands"][0]["keypoints_2d"]


def test_run_image_with_a_given_estimator(capsys, tmp_path, images, lite_estimator):
    """run_image prints the JSON line when no --json is given, and writes the figure."""
    fig = tmp_path / "fig.png"
    c = config("--image", images / "rgb.png", "--headless", "--figure", fig)
    assert run_image(c, estimator=lite_estimator) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["image_size"] == [320, 240] and r["hands"][0]["keypoints_2d"] == \
        lite_estimator.estimate(synthetic_frame()).to_json()["hands"][0]["keypoints_2d"]
    img = cv2.imread(str(fig))
    assert img is not None and img.shape[0] > 500


@pytest.mark.parametrize("name,message", [
    ("missing.png", "no such file"),
    ("text.png", "not an image"),
])
def test_bad_images(capsys, images, random_weights, name, message):
    rc, out, err = run_cli(capsys, "--image", images / name, "--headless", "--weights", random_weights)
    assert rc != 0
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bad_weights(capsys, tmp_path, images, random_weights):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(random_weights.read_bytes()[:10000])
    rc, _, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--weights", corrupt)
    assert rc != 0 and "corrupt" in err and err.count("\n") == 1
    wrong = tmp_path / "wrong.pt"
    save_weights(wrong, {k: torch.nn.Linear(2, 2).state_dict()
                         for k in ("handsegnet", "posenet", "poseprior", "viewpoint")})
    rc, _, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--weights", wrong)
    assert rc != 0 and "architecture" in err and err.count("\n") == 1
    rc, _, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--weights", tmp_path / "no.pt")
    assert rc != 0 and "handcam.weights download" in err


def test_bad_arguments(capsys, images):
    rc, _, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--mask-threshold", "2")
    assert rc != 0 and "mask_threshold" in err
    with pytest.raises(SystemExit):
        main(["--headless"])
    for args in (["--image", "a.png", "--video", "b.mp4"], ["--image", "a.png", "--json", "o.json"],
                 ["--video", "b.mp4", "--headless"], ["--image", "a.png", "--headless", "--out-video", "o.mp4"],
                 ["--video", "b.mp4", "--headless", "--json", "o.jsonl", "--figure", "f.png"],
                 ["--video", "b.mp4", "--headless", "--json", "o.jsonl", "--batch", "0"]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2, args
    capsys.readouterr()


# ---------------------------------------------------------------- outputs are checked before any work
@pytest.mark.parametrize("flag,target", [("--json", "missing/dir/out.json"), ("--figure", "missing/x.png")])
def test_unwritable_image_outputs_fail_first(capsys, tmp_path, images, no_loading, flag, target):
    rc, out, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--weights", tmp_path / "absent.pt",
                           "--device", "cpu", flag, tmp_path / target)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(tmp_path / "missing") in err and "weights" not in err  # about the output, not the weights
    assert no_loading == []


def test_unwritable_video_output_fails_first(capsys, tmp_path, no_loading):
    (tmp_path / "afile").write_text("x")
    video = tmp_path / "absent.mp4"  # not even the input is looked at first
    rc, out, err = run_cli(capsys, "--video", video, "--headless", "--weights", tmp_path / "absent.pt",
                           "--out-video", tmp_path / "afile" / "out.mp4")
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "afile is a file, not a folder" in err and "weights" not in err
    rc, _, err = run_cli(capsys, "--video", video, "--headless", "--json", tmp_path, "--weights", "x.pt")
    assert rc == 2 and "is a folder" in err
    assert no_loading == []


def test_output_dir_and_batch(tmp_path, capsys):
    c = config("--video", "v.mp4", "--headless", "--json", tmp_path / "o.jsonl", "--batch", "4")
    assert c.batch_size == 4 and c.source == SourceSpec("video", "v.mp4") and c.headless
    assert c.outputs.json == tmp_path / "o.jsonl" and c.outputs.video is None
    assert config().batch_size is None and config().output_dir is None
    c = config("--output-dir", tmp_path / "shots" / "today")
    assert c.output_dir == tmp_path / "shots" / "today" and c.output_dir.is_dir()  # created
    (tmp_path / "afile").write_text("x")
    rc, _, err = run_cli(capsys, "--output-dir", tmp_path / "afile")
    assert rc == 2 and err.startswith("error: cannot use") and err.count("\n") == 1


def test_settings_given_on_the_command_line_are_explicit():
    c = config("--crop-factor", "1.25", "--hand-side", "right")  # 1.25 is the default, but it was given
    assert c.explicit == {"crop_factor", "hand_side"}
    assert c.settings == PipelineSettings(hand_side="right")
    assert c.explicit_settings() == {"crop_factor": 1.25, "hand_side": "right"}
    c = config("--resize-mode", "faithful", "--mask-threshold", "0.5")
    assert c.explicit == {"resize_mode", "mask_threshold"}
    assert config().explicit == frozenset() and config().settings == PipelineSettings()
    assert not hasattr(build_parser().parse_args([]), "input_size")  # no flag for it


def test_refine_crops_flag(capsys):
    """--refine-crops comes from the settings field: its choices, its help, unset unless given."""
    help_text = build_parser().format_help()
    assert "--refine-crops {auto,on,off}" in help_text and "first keypoints" in help_text
    for value in ("auto", "on", "off"):
        c = config("--refine-crops", value)
        assert c.settings.refine_crops == value and c.explicit == {"refine_crops"}
    assert config().settings.refine_crops == "auto" and "refine_crops" not in config().explicit
    with pytest.raises(SystemExit) as e:
        config("--refine-crops", "always")
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_sources_and_devices():
    assert config().source == SourceSpec("camera", 0)
    assert config("--camera", "2").source == SourceSpec("camera", 2)
    assert config("--image", "a.png").source == SourceSpec("image", "a.png")
    assert config("--device", "cpu", "--weights", "w.pt").device == "cpu"
    assert config("--weights", "w.pt").weights == "w.pt"
    assert config("-v").verbose


def test_backend_flag(capsys, monkeypatch, tmp_path, images, random_weights):
    """--backend reaches the estimator; a single image uses torch unless told otherwise (exporting the
    networks to ONNX Runtime would cost more than one frame); both backends give the same result."""
    monkeypatch.delenv("HANDCAM_BACKEND", raising=False)
    assert config("--image", "x.png", "--headless").runtime.backend == "torch"
    assert config("--image", "x.png").runtime.backend == "auto" and config().runtime.backend == "auto"
    assert config("--image", "x.png", "--headless", "--backend", "onnxruntime").runtime.backend == "onnxruntime"
    monkeypatch.setenv("HANDCAM_BACKEND", "onnxruntime")
    assert config("--image", "x.png", "--headless").runtime.backend == "auto"  # the environment decides
    monkeypatch.delenv("HANDCAM_BACKEND")
    results = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.json"
        rc, _, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--weights", random_weights,
                             "--device", "cpu", "--backend", backend, "--json", out)
        assert rc == 0, err
        results[backend] = json.loads(out.read_text())
    np.testing.assert_allclose(results["torch"]["hands"][0]["keypoints_3d"],
                               results["onnxruntime"]["hands"][0]["keypoints_3d"], atol=1e-4)
    with pytest.raises(SystemExit):
        main(["--image", str(images / "rgb.png"), "--headless", "--backend", "tensorrt"])
    assert "invalid choice" in capsys.readouterr().err


def test_dispatch(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "run_image", lambda c: seen.append(("image", c.source.kind)) or 0)
    import handcam.headless

    monkeypatch.setattr(handcam.headless, "run_video", lambda c: seen.append(("video", c.source.kind)) or 0)
    assert cli.dispatch(config("--image", "a.png", "--headless")) == 0
    assert cli.dispatch(config("--video", "b.mp4", "--headless", "--json", "o.jsonl")) == 0
    assert seen == [("image", "image"), ("video", "video")]


@pytest.mark.slow
def test_main_py_end_to_end(tmp_path, images, random_weights):
    """The real entry point in a fresh process: JSON on stdout and the 2x2 figure."""
    fig = tmp_path / "fig.png"
    p = subprocess.run([sys.executable, str(ROOT / "main.py"), "--image", str(images / "rgb.png"), "--headless",
                        "--weights", str(random_weights), "--device", "cpu", "--hand-side", "right",
                        "--figure", str(fig)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["hands"][0]["side"] == "right"
    img = cv2.imread(str(fig))
    assert img is not None and img.shape[0] > 500 and img.std() > 10


def test_hand_size_flag(capsys):
    """--hand-size comes from the settings field: auto, bone or a hand length in metres, unset unless given."""
    help_text = " ".join(build_parser().format_help().split())
    assert "--hand-size auto|bone|METRES" in help_text and "tip of the middle finger" in help_text
    assert config().settings.hand_size == "bone" and "hand_size" not in config().explicit
    for value, expected in (("auto", "auto"), ("bone", "bone"), ("0.19", 0.19)):
        c = config("--hand-size", value)
        assert c.settings.hand_size == expected and c.explicit == {"hand_size"}
    rc, _, err = run_cli(capsys, "--hand-size", "19", "--image", "x.png", "--headless")
    assert rc == 2 and "hand_size" in err and "metres" in err and err.count("\n") == 1
