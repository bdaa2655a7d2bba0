"""handcam.app: ``run(config)`` and the default ``estimator_factory(config)`` (loads in the worker)."""
from __future__ import annotations

import pytest
from app_fakes import FakeEstimator
from app_support import MainWindow, QtCore, make_window_fixture, video_fixture, wait_results  # noqa: F401
from PyQt5 import QtWidgets

from handcam.app import estimator_factory, run
from handcam.config import RunConfig, SourceSpec
from handcam.settings import PipelineSettings


def test_missing_weights_shows_a_message_and_keeps_showing_frames(make_window, qtbot, video, tmp_path):
    config = RunConfig(weights=str(tmp_path / "nope.pt"), device="cpu", output_dir=tmp_path)
    w = make_window(source=("video", video), factory=estimator_factory, config=config)
    qtbot.waitUntil(lambda: "weights" in w.message_text.lower(), timeout=5000)
    assert w.banner.isVisible()
    wait_results(qtbot, w, 2)
    assert w.last_result.result is None and w.frame_view.updates >= 2


def test_bad_weights_file_shows_a_message(make_window, qtbot, video, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    config = RunConfig(weights=str(bad), device="cpu", output_dir=tmp_path)
    w = make_window(source=("video", video), factory=estimator_factory, config=config)
    qtbot.waitUntil(lambda: w.banner.isVisible() and bool(w.message_text), timeout=5000)
    assert "bad.pt" in w.message_text


def test_the_factory_loads_the_config_weights_with_its_settings(random_weights, monkeypatch):
    import handcam.runtime

    threads = []  # the CPU thread rule, without changing this process's torch threads
    monkeypatch.setattr(handcam.runtime, "set_inference_threads", lambda *a: threads.append(a) or 1)
    config = RunConfig(weights=str(random_weights), device="cpu",
                       settings=PipelineSettings(hand_side="right", crop_factor=1.5))
    est = estimator_factory(config)
    assert est.settings == config.settings and est.device.type == "cpu" and "cpu" in est.describe()
    assert threads == [()]


def _run_and_close(config, factory, seen):
    def close_soon():
        w = next(x for x in QtWidgets.QApplication.topLevelWidgets()
                 if isinstance(x, MainWindow) and x.isVisible())
        seen["side"] = w.pipeline_settings.hand_side
        seen["crop"] = w.pipeline_settings.crop_factor
        seen["source"] = w.source.description if w.source is not None else None
        seen["output_dir"] = w.output_dir
        w.close()
        QtWidgets.QApplication.instance().quit()

    QtCore.QTimer.singleShot(800, close_soon)
    status = run(config, estimator_factory=factory)
    # closing the last window also posted a Quit event that outlives run()'s event loop: left in the
    # queue, it would end every later event loop of this test session at once
    app = QtWidgets.QApplication.instance()
    QtCore.QTimer.singleShot(0, app.quit)
    app.exec_()
    return status


def test_run_returns_with_the_window(qtbot, tmp_path, monkeypatch, video):
    """run(config) opens the window on the config's source and returns the event loop's status."""
    monkeypatch.setenv("HANDCAM_SETTINGS", str(tmp_path / "run.ini"))
    config = RunConfig(source=SourceSpec("video", video), device="cpu", output_dir=tmp_path,
                       settings=PipelineSettings(hand_side="right"), explicit=frozenset({"hand_side"}))
    seen = {}
    called_with = []
    assert _run_and_close(config, lambda c: (called_with.append(c), FakeEstimator())[1], seen) == 0
    assert seen == {"side": "right", "crop": 1.25, "source": "clip.mp4", "output_dir": tmp_path}
    assert called_with == [config]  # the factory gets the config


@pytest.mark.parametrize("explicit", [True, False])
def test_run_gives_command_line_settings_precedence_over_saved_ones(qtbot, tmp_path, monkeypatch, explicit):
    ini = tmp_path / "saved.ini"
    monkeypatch.setenv("HANDCAM_SETTINGS", str(ini))
    store = QtCore.QSettings(str(ini), QtCore.QSettings.IniFormat)
    store.setValue("crop_factor", 1.6)
    store.sync()
    config = RunConfig(source=SourceSpec("video", "no-such-file.mp4"), settings=PipelineSettings(crop_factor=1.25),
                       explicit=frozenset({"crop_factor"} if explicit else ()))
    seen = {}
    assert _run_and_close(config, lambda c: FakeEstimator(), seen) == 0
    assert seen["crop"] == pytest.approx(1.25 if explicit else 1.6)  # --crop-factor 1.25 beats a saved 1.6
