"""main.py --image --headless: JSON, figure, and a one-line error for every kind of bad input."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT, synthetic_frame
from handcam.cli import main
from handcam.weights import save_weights


def run_cli(capsys, *args):
    rc = main(list(map(str, args)))
    out = capsys.readouterr()
    return rc, out.out, out.err


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


@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "rgba.png", "deep.png", "one.png"])
def test_valid_images(capsys, tmp_path, images, random_weights, name):
    out = tmp_path / "r.json"
    rc, _, err = run_cli(capsys, "--image", images / name, "--headless", "--weights", random_weights,
                         "--device", "cpu", "--json", out)
    assert rc == 0, err
    r = json.loads(out.read_text())
    assert np.array(r["keypoints_2d"]).shape == (21, 2) and np.array(r["keypoints_3d"]).shape == (21, 3)
    assert len(r["keypoint_scores"]) == 21 and len(r["center"]) == 2 and len(r["crop_box"]) == 4
    assert set(r["timings_ms"]) >= {"handsegnet", "posenet", "lifting", "total"}
    assert isinstance(r["mask_area"], int) and isinstance(r["scale"], float)


def test_gray_and_16bit_match_their_8bit_rgb(capsys, tmp_path, images, random_weights):
    res = {}
    for name in ("rgb.png", "deep.png"):
        run_cli(capsys, "--image", images / name, "--headless", "--weights", random_weights, "--device", "cpu",
                "--json", tmp_path / f"{name}.json")
        res[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert res["rgb.png"]["keypoints_2d"] == res["deep.png"]["keypoints_2d"]  # 16-bit keeps the high byte


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


def test_main_py_end_to_end(tmp_path, images, random_weights):
    """The real entry point in a fresh process: JSON on stdout and the 2x2 figure."""
    fig = tmp_path / "fig.png"
    p = subprocess.run([sys.executable, str(ROOT / "main.py"), "--image", str(images / "rgb.png"), "--headless",
                        "--weights", str(random_weights), "--device", "cpu", "--hand-side", "right",
                        "--figure", str(fig)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["hand_side"] == "right"
    img = cv2.imread(str(fig))
    assert img is not None and img.shape[0] > 500 and img.std() > 10


def test_backend_flag(capsys, monkeypatch, tmp_path, images, random_weights):
    """--backend reaches the estimator; a single image uses torch unless told otherwise (exporting the
    networks to ONNX Runtime would cost more than one frame); both backends give the same result."""
    from handcam.cli import backend_from_args, build_parser

    monkeypatch.delenv("HANDCAM_BACKEND", raising=False)
    args = build_parser().parse_args(["--image", "x.png"])
    assert backend_from_args(args, single_frame=True) == "torch" and backend_from_args(args) is None
    args = build_parser().parse_args(["--backend", "onnxruntime"])
    assert backend_from_args(args, single_frame=True) == "onnxruntime"
    monkeypatch.setenv("HANDCAM_BACKEND", "onnxruntime")
    assert backend_from_args(build_parser().parse_args([]), single_frame=True) is None
    monkeypatch.delenv("HANDCAM_BACKEND")
    results = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.json"
        rc, _, err = run_cli(capsys, "--image", images / "rgb.png", "--headless", "--weights", random_weights,
                             "--device", "cpu", "--backend", backend, "--json", out)
        assert rc == 0, err
        results[backend] = json.loads(out.read_text())
    np.testing.assert_allclose(results["torch"]["keypoints_3d"], results["onnxruntime"]["keypoints_3d"], atol=1e-4)
    with pytest.raises(SystemExit):
        main(["--image", str(images / "rgb.png"), "--headless", "--backend", "tensorrt"])
    assert "invalid choice" in capsys.readouterr().err
