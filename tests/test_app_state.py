"""handcam.app.state: the window's saved settings and how they meet the command line."""
from __future__ import annotations

import pytest
from app_fakes import FakeEstimator
from app_support import MainWindow, QtCore, show_window  # noqa: F401

from handcam.app.state import WindowState, load_state, make_settings_store, save_state
from handcam.config import RunConfig
from handcam.settings import PipelineSettings


def store_with(tmp_path, **values):
    store = make_settings_store(tmp_path / "s.ini")
    for k, v in values.items():
        store.setValue(k, v)
    store.sync()
    return store


def test_nothing_saved_gives_the_config_settings(tmp_path):
    base = PipelineSettings(crop_factor=1.4, resize_mode="aspect")
    state = load_state(make_settings_store(tmp_path / "empty.ini"), base)
    assert state == WindowState(settings=base)


def test_saved_values_are_checked_against_the_settings_metadata(tmp_path):
    store = store_with(tmp_path, crop_factor=7.0, mask_threshold="0.02", hand_side="middle", mask_opacity=3,
                       presence_threshold=1.5, max_hands=9)
    s = load_state(store, PipelineSettings(resize_mode="aspect")).settings
    assert s.crop_factor == 2.0 and s.mask_threshold == 0.05  # clamped to setting_range
    assert s.presence_threshold == 0.95 and s.max_hands == 4 and isinstance(s.max_hands, int)
    assert s.hand_side == "auto" and s.resize_mode == "aspect"  # an unknown side is ignored (the default: auto)
    # "auto" is one of the choices: saved, it is kept
    assert load_state(store_with(tmp_path, hand_side="auto"), PipelineSettings(hand_side="right")).settings.hand_side \
        == "auto"
    assert load_state(store).mask_opacity == 1.0
    assert load_state(store_with(tmp_path, crop_factor="abc")).settings.crop_factor == 1.25


def test_only_explicit_settings_win_over_saved_ones(tmp_path):
    store = store_with(tmp_path, crop_factor=1.6, mask_threshold=0.3, hand_side="right")
    # a value given on the command line wins even when it is the default
    s = load_state(store, PipelineSettings(), {"crop_factor": 1.25}).settings
    assert s.crop_factor == 1.25 and s.mask_threshold == 0.3 and s.hand_side == "right"
    # a value that was not given (here: equal to what a flag would have set) does not
    assert load_state(store, PipelineSettings(crop_factor=1.25), {}).settings.crop_factor == pytest.approx(1.6)
    config = RunConfig(settings=PipelineSettings(crop_factor=1.25, hand_side="left"),
                       explicit=frozenset({"crop_factor", "hand_side"}))
    s = load_state(store, config.settings, config.explicit_settings()).settings
    assert (s.crop_factor, s.mask_threshold, s.hand_side) == (1.25, pytest.approx(0.3), "left")


def test_save_then_load_round_trips(tmp_path):
    store = make_settings_store(tmp_path / "rt.ini")
    state = WindowState(settings=PipelineSettings(crop_factor=1.7, mask_threshold=0.35, hand_side="right",
                                                  presence_threshold=0.6, max_hands=3),
                        tracking=True, mirror=True, smoothing=False, realtime=False, mask_opacity=0.8)
    save_state(store, state)
    again = load_state(make_settings_store(tmp_path / "rt.ini"))
    assert again.tracking and again.mirror and not again.realtime and again.mask_opacity == pytest.approx(0.8)
    assert not again.smoothing and load_state(make_settings_store(tmp_path / "new.ini")).smoothing  # default on
    assert again.settings.crop_factor == pytest.approx(1.7) and again.settings.hand_side == "right"
    assert again.settings.presence_threshold == pytest.approx(0.6) and again.settings.max_hands == 3


def test_settings_persist(qtbot, tmp_path):
    ini = tmp_path / "persist.ini"
    w = MainWindow(RunConfig(output_dir=tmp_path), lambda c: FakeEstimator(), source=None, settings_path=ini)
    qtbot.addWidget(w)
    w.resize(900, 700)
    c = w.controls
    c.crop_slider.set_value(1.7)
    c.threshold_slider.set_value(0.35)
    c.opacity_slider.set_value(0.8)
    c.hand_combo.setCurrentText("right")
    c.tracking_box.setChecked(True)
    c.smooth_box.setChecked(False)
    c.presence_slider.set_value(0.65)
    c.max_hands_spin.setValue(3)
    w.close()
    assert ini.exists()
    w2 = MainWindow(RunConfig(), lambda c: FakeEstimator(), source=None, settings_path=ini)
    qtbot.addWidget(w2)
    s = w2.pipeline_settings
    assert s.crop_factor == pytest.approx(1.7) and s.mask_threshold == pytest.approx(0.35)
    assert s.hand_side == "right" and w2.mask_opacity == pytest.approx(0.8) and w2.tracking
    assert w2.controls.tracking_box.isChecked() and w2.worker.tracking
    assert not w2.controls.smooth_box.isChecked() and not w2.worker.smoothing and not w2.smoothing
    assert s.presence_threshold == pytest.approx(0.65) and s.max_hands == 3 and w2.controls.max_hands_spin.value() == 3
    assert w2.controls.crop_slider.value() == pytest.approx(1.7) and w2.size() == QtCore.QSize(900, 700)
    w2.close()


def test_a_command_line_value_equal_to_the_default_wins_over_the_saved_one(qtbot, tmp_path):
    ini = tmp_path / "cli.ini"
    store_with(tmp_path, crop_factor=1.6)
    (tmp_path / "s.ini").rename(ini)
    given = RunConfig(settings=PipelineSettings(crop_factor=1.25), explicit=frozenset({"crop_factor"}))
    w = MainWindow(given, lambda c: FakeEstimator(), source=None, settings_path=ini)
    qtbot.addWidget(w)
    assert w.pipeline_settings.crop_factor == 1.25 and w.controls.crop_slider.value() == pytest.approx(1.25)
    assert w.worker.settings.crop_factor == 1.25
    w.close()
    w2 = MainWindow(RunConfig(), lambda c: FakeEstimator(), source=None, settings_path=ini)
    qtbot.addWidget(w2)
    assert w2.pipeline_settings.crop_factor == 1.25  # what the window ran with is what it saved
    w2.close()


def test_the_hand_size_is_saved_and_read_back(tmp_path):
    for saved, expected in (("0.185", 0.185), ("auto", "auto"), ("bone", "bone"), ("abc", "bone"), ("0.5", "bone")):
        s = load_state(store_with(tmp_path, hand_size=saved)).settings      # unusable: the current value
        assert s.hand_size == (pytest.approx(expected) if isinstance(expected, float) else expected), saved
    assert load_state(store_with(tmp_path, hand_size="abc"), PipelineSettings(hand_size=0.2)).settings.hand_size == 0.2
    for value in (0.19, "bone"):
        store = make_settings_store(tmp_path / f"{value}.ini")
        save_state(store, WindowState(settings=PipelineSettings(hand_size=value)))
        assert load_state(make_settings_store(tmp_path / f"{value}.ini")).settings.hand_size == value
    # the command line wins over a saved value
    assert load_state(store_with(tmp_path, hand_size="0.2"), PipelineSettings(), {"hand_size": "bone"}).settings \
        .hand_size == "bone"
