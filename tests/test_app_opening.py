"""handcam.app.opening: source specs, dropped files and the open dialogs."""
from __future__ import annotations

import numpy as np
import pytest
from app_fakes import ScriptedSource, write_video
from app_support import QtCore  # noqa: F401
from PyQt5 import QtWidgets

from handcam.app.opening import ask_source, dropped_spec, open_source, spec_for_path
from handcam.config import SourceSpec
from handcam.errors import SourceError
from handcam.sources import StillSource, VideoSource


def test_open_source_takes_specs_tuples_and_sources(tmp_path):
    path = write_video(tmp_path / "v.mp4", n_frames=3)
    for spec in (SourceSpec("video", path), ("video", path)):
        src = open_source(spec)
        assert isinstance(src, VideoSource) and src.description == "v.mp4"
        src.release()
    fake = ScriptedSource()
    assert open_source(fake) is fake and open_source(None) is None
    with pytest.raises(SourceError, match="not found"):
        open_source(("video", tmp_path / "missing.mp4"))
    import cv2

    cv2.imwrite(str(tmp_path / "i.png"), np.zeros((8, 8, 3), np.uint8))
    assert isinstance(open_source(("image", tmp_path / "i.png")), StillSource)


def test_files_are_images_by_suffix_else_videos(qtbot):
    assert spec_for_path("/a/b.JPG") == SourceSpec("image", "/a/b.JPG")
    assert spec_for_path("/a/b.mkv") == SourceSpec("video", "/a/b.mkv")
    mime = QtCore.QMimeData()
    assert dropped_spec(mime) is None
    mime.setUrls([QtCore.QUrl("https://example.invalid/x.mp4"), QtCore.QUrl.fromLocalFile("/tmp/x.png")])
    assert dropped_spec(mime) == SourceSpec("image", "/tmp/x.png")


def test_dialogs_give_specs_or_none(qtbot, monkeypatch):
    answers = iter([("/v.mp4", ""), ("", ""), ("/i.png", "")])
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: next(answers)))
    monkeypatch.setattr(QtWidgets.QInputDialog, "getInt", staticmethod(lambda *a, **k: (3, True)))
    assert ask_source(None, "video") == SourceSpec("video", "/v.mp4")
    assert ask_source(None, "video") is None  # cancelled
    assert ask_source(None, "image") == SourceSpec("image", "/i.png")
    assert ask_source(None, "camera") == SourceSpec("camera", 3)
