"""handcam.config: the run configuration and the output checks done before any work."""
import dataclasses
from pathlib import Path

import pytest

from handcam import config as C
from handcam.config import Outputs, RunConfig, SourceSpec, check_output_folder, check_output_path
from handcam.errors import InputError
from handcam.settings import PipelineSettings, RuntimeOptions


def test_source_spec():
    assert SourceSpec() == SourceSpec("camera", 0)
    assert SourceSpec("video", "a.mp4").value == "a.mp4"
    with pytest.raises(ValueError, match="source kind"):
        SourceSpec("webcam", 0)


def test_outputs_paths():
    assert Outputs().paths() == []
    o = Outputs(json=Path("a.json"), video=Path("b.mp4"))
    assert o.paths() == [Path("a.json"), Path("b.mp4")] and o.figure is None


def test_run_config_defaults_and_explicit_settings():
    c = RunConfig()
    assert c.source == SourceSpec() and c.weights is None and c.device == "auto" and not c.headless
    assert c.runtime == RuntimeOptions() and c.settings == PipelineSettings() and c.explicit == frozenset()
    assert (c.batch_size, c.output_dir, c.verbose) == (None, None, False)
    assert c.explicit_settings() == {}
    c = RunConfig(settings=PipelineSettings(crop_factor=1.25, hand_side="right"),
                  explicit=frozenset({"crop_factor", "hand_side"}))
    assert c.explicit_settings() == {"crop_factor": 1.25, "hand_side": "right"}  # 1.25 is the default: still given
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.headless = True


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "out.json") == tmp_path / "out.json"
    (tmp_path / "exists.json").write_text("{}")
    assert check_output_path(str(tmp_path / "exists.json")) == tmp_path / "exists.json"
    with pytest.raises(InputError, match="it is a folder"):
        check_output_path(tmp_path)
    with pytest.raises(InputError, match=r"the folder .*missing.* does not exist"):
        check_output_path(tmp_path / "missing" / "out.json")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="file is a file, not a folder"):
        check_output_path(tmp_path / "file" / "out.mp4")  # under a file
    assert check_output_path("relative.json") == Path("relative.json")  # the current folder


def test_check_output_path_permissions(tmp_path, monkeypatch):
    (tmp_path / "ro.json").write_text("{}")
    # (simulated: the tests may run as root, for whom every path is writable)
    monkeypatch.setattr(C.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(InputError, match="is not writable"):
        check_output_path(tmp_path / "new.json")
    monkeypatch.setattr(C.os, "access", lambda path, mode: Path(path) == tmp_path)
    with pytest.raises(InputError, match="read-only"):
        check_output_path(tmp_path / "ro.json")
    with pytest.raises(InputError, match="not writable"):
        monkeypatch.setattr(C.os, "access", lambda path, mode: False)
        check_output_folder(tmp_path)


def test_check_output_folder(tmp_path):
    assert check_output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    assert check_output_folder(tmp_path) == tmp_path  # an existing folder
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot use .*file"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(InputError, match="cannot use"):
        check_output_folder(tmp_path / "file" / "sub")
