"""The wheel: one top-level package (handcam, with handcam.training and the bundled weights as package data),
the commands, and an installed copy that finds the bundled weights wherever it runs."""
import configparser
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_IMAGE = ROOT.parent / "shared" / "data" / "real" / "images" / "prasad9_victory.jpg"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(out)], capture_output=True, text=True, cwd=out)
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = out.glob("handcam-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel's files unpacked into a folder (what pip would put in site-packages)."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def _source_packages() -> set[str]:
    """Every package of the repository as the wheel names it (training/ installs as handcam.training)."""
    out = set()
    for folder, name in ((ROOT / "handcam", "handcam"), (ROOT / "training", "handcam.training")):
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            out.add(".".join((name, *rel)))
    return out


def test_the_wheel_holds_one_package_and_the_bundled_weights(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        assert top == {"handcam"}                                    # no top-level training (or anything else)
        packages = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
        assert _source_packages() <= packages
        assert "handcam/__main__.py" in names
        bundled = z.read("handcam/bundled/handcam-lite.pt")
        assert bundled == (ROOT / "weights" / "handcam-lite.pt").read_bytes()
        dist = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry = configparser.ConfigParser()
        entry.read_string(z.read(dist).decode())
    scripts = dict(entry["console_scripts"])
    assert scripts == {"handcam": "handcam.cli:main", "handcam-weights": "handcam.weights.__main__:main",
                       "handcam-train": "handcam.training.train:main"}


def _run_installed(installed, args, cwd, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed), "HANDCAM_HOME": str(tmp_path / "home")}
    env.pop("HANDCAM_WEIGHTS", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_an_installed_copy_finds_its_bundled_weights_anywhere(installed, tmp_path):
    code = ("import handcam, handcam.training.train\n"
            "from handcam.weights import default_weights_candidates\n"
            "print(handcam.__file__)\n"
            "print(next(p for p in default_weights_candidates() if p.is_file()))\n")
    run = _run_installed(installed, ["-c", code], tmp_path, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    module, found = run.stdout.split()
    assert Path(module) == installed / "handcam" / "__init__.py"            # the installed copy, not the clone
    assert Path(found) == installed / "handcam" / "bundled" / "handcam-lite.pt"


def test_python_m_handcam_runs_headless_from_an_installed_copy(installed, tmp_path):
    image = tmp_path / "frame.png"
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(image), rng.integers(0, 256, (120, 160, 3), np.uint8))
    run = _run_installed(installed, ["-m", "handcam", "--image", str(image), "--headless", "--json", "o.json"],
                         tmp_path, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "o.json").read_text())
    assert result["schema"] == 3 and isinstance(result["hands"], list)
    if not SHARED_IMAGE.is_file():
        pytest.skip(f"the real photo check needs {SHARED_IMAGE} (../shared beside the clone)")
    run = _run_installed(installed, ["-m", "handcam", "--image", str(SHARED_IMAGE), "--headless", "--json",
                                     "victory.json"], tmp_path, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    hands = json.loads((tmp_path / "victory.json").read_text())["hands"]
    assert len(hands) >= 1 and hands[0]["presence"] >= 0.5
