"""handcam.app.controls: the control rows (built from the settings' metadata) and what each control
changes in the window's pipeline calls."""
from __future__ import annotations

import pytest
from app_fakes import FakeEstimator
from app_support import make_window_fixture, video_fixture, wait_call, wait_results, wait_settled  # noqa: F401

from handcam.app.controls import ControlRow, LabeledSlider, PlaybackRow, setting_slider
from handcam.settings import PipelineSettings, setting_fields, setting_help, setting_range


def test_the_sliders_come_from_the_settings_metadata(qtbot):
    row = ControlRow(PipelineSettings(crop_factor=1.5, mask_threshold=0.3, hand_side="right", presence_threshold=0.7,
                                      max_hands=3), tracking=True, mirror=False, mask_opacity=0.6, smoothing=False)
    qtbot.addWidget(row)
    for name, slider in (("crop_factor", row.crop_slider), ("mask_threshold", row.threshold_slider),
                         ("presence_threshold", row.presence_slider)):
        assert (slider.lo, slider.hi) == setting_range(name)
        assert slider.slider.toolTip() == setting_help(name) and slider.name.text() == name.replace("_", " ")
        assert (slider.hi - slider.lo) / slider.steps == pytest.approx(0.01)  # one step per hundredth
    assert row.crop_slider.value() == pytest.approx(1.5) and row.threshold_slider.value() == pytest.approx(0.3)
    assert row.presence_slider.value() == pytest.approx(0.7)
    spin = row.max_hands_spin
    assert (spin.minimum(), spin.maximum()) == setting_range("max_hands") and spin.value() == 3
    assert spin.toolTip() == setting_help("max_hands")
    assert not row.smooth_box.isChecked()
    assert ControlRow(PipelineSettings(), tracking=False, mirror=False, mask_opacity=0.4).smooth_box.isChecked()
    sides = [row.hand_combo.itemText(i) for i in range(row.hand_combo.count())]
    assert tuple(sides) == setting_fields()["hand_side"].metadata["choices"]
    assert row.hand_combo.currentText() == "right" and row.hand_combo.toolTip() == setting_help("hand_side")
    assert row.tracking_box.isChecked() and not row.mirror_box.isChecked()
    assert row.opacity_slider.value() == pytest.approx(0.6)


def test_labeled_slider_clamps_and_reports_floats(qtbot):
    s = LabeledSlider("x", 1.0, 2.0, 1.25)
    qtbot.addWidget(s)
    seen = []
    s.valueChanged.connect(seen.append)
    s.set_value(5.0)
    assert s.value() == 2.0 and seen == [2.0] and s.value_label.text() == "2.00"
    s.set_value(0.0)
    assert s.value() == 1.0
    t = setting_slider("mask_threshold", 0.5)
    qtbot.addWidget(t)
    assert t.value() == pytest.approx(0.5)


def test_record_button_state_is_shown_without_toggling(qtbot):
    row = ControlRow(PipelineSettings(), tracking=False, mirror=False, mask_opacity=0.4)
    qtbot.addWidget(row)
    toggled = []
    row.record_button.toggled.connect(toggled.append)
    row.set_recording(True)
    assert row.record_button.isChecked() and "Stop" in row.record_button.text() and toggled == []
    row.set_recording(False)
    assert "Record" in row.record_button.text()


def test_playback_row_follows_the_source(qtbot):
    row = PlaybackRow(realtime=False)
    qtbot.addWidget(row)
    assert not row.realtime_box.isChecked() and not row.seek_slider.isEnabled()
    row.set_source(60, live=False)
    assert row.seek_slider.isEnabled() and row.seek_slider.maximum() == 59 and row.step_button.isEnabled()
    row.set_position(9, 60)
    assert row.seek_slider.value() == 9 and row.position_label.text() == "frame 10/60"
    row.set_source(None, live=True)
    assert not row.seek_slider.isEnabled() and not row.step_button.isEnabled()
    row.set_position(4, None)
    assert row.position_label.text() == "frame 5"


def test_each_control_changes_what_the_pipeline_is_called_with(make_window, qtbot, video):
    est = FakeEstimator()
    w = make_window(est, ("video", video), realtime=True)
    c = w.controls
    wait_results(qtbot, w, 2)
    assert est.last_call()["settings"].crop_factor == pytest.approx(1.25)
    assert est.last_call()["settings"].mask_threshold == pytest.approx(0.5)

    c.crop_slider.slider.setValue(c.crop_slider.slider.maximum())  # like dragging it to the end
    wait_call(qtbot, est, lambda call: call["settings"].crop_factor == pytest.approx(2.0))
    c.threshold_slider.set_value(0.3)
    wait_call(qtbot, est, lambda call: call["settings"].mask_threshold == pytest.approx(0.3))
    assert est.last_call()["settings"].crop_factor == pytest.approx(2.0)

    c.presence_slider.set_value(0.7)
    wait_call(qtbot, est, lambda call: call["settings"].presence_threshold == pytest.approx(0.7))
    assert w.worker.settings.presence_threshold == pytest.approx(0.7)
    c.max_hands_spin.setValue(1)
    wait_call(qtbot, est, lambda call: call["settings"].max_hands == 1)
    assert est.last_call()["settings"].presence_threshold == pytest.approx(0.7)

    c.hand_combo.setCurrentText("right")
    wait_call(qtbot, est, lambda call: call["hand_side"] == "right" and call["settings"].hand_side == "right")

    assert est.last_call()["smoothing"] is True  # on by default in the window
    c.smooth_box.setChecked(False)
    wait_call(qtbot, est, lambda call: call["smoothing"] is False)
    assert est.trackers[-1].smoothing is False and not w.smoothing

    assert est.last_call()["corner"].min() > 200  # the white marker is top-left
    c.mirror_box.setChecked(True)
    wait_call(qtbot, est, lambda call: call["corner"].max() < 100)  # mirrored: it moved to the right

    # mask opacity is display-only: no new call, and the frame is not rendered again either
    w.set_paused(True)
    wait_settled(qtbot, w)
    before, calls = w.frame_view.updates, len(est.calls)
    c.opacity_slider.set_value(1.0)
    assert w.mask_opacity == pytest.approx(1.0) and w.frame_view.mask_layer.opacity() == pytest.approx(1.0)
    assert w.frame_view.updates == before and len(est.calls) == calls


def test_settings_change_reruns_the_paused_frame(make_window, qtbot, video):
    est = FakeEstimator()
    w = make_window(est, ("video", video))
    wait_results(qtbot, w, 2)
    w.set_paused(True)
    wait_settled(qtbot, w)
    index = w.last_result.frame.index
    w.controls.crop_slider.set_value(1.5)
    wait_call(qtbot, est, lambda c: c["settings"].crop_factor == pytest.approx(1.5))
    qtbot.waitUntil(lambda: w.last_result.settings.crop_factor == pytest.approx(1.5))
    assert w.last_result.frame.index == index


def test_hand_size_control_shows_and_reports_the_setting(qtbot):
    from handcam.app.controls import HandSizeControl
    from handcam.handsize import MEAN_HAND_LENGTH

    mine = HandSizeControl(0.19)
    qtbot.addWidget(mine)
    assert mine.combo.currentText() == "my hand" and mine.spin.isEnabled() and mine.spin.value() == pytest.approx(19.0)
    assert mine.value() == pytest.approx(0.19) and mine.spin.suffix() == " cm"
    lo, hi = setting_range("hand_size")
    assert (mine.spin.minimum(), mine.spin.maximum()) == (pytest.approx(100 * lo), pytest.approx(100 * hi))
    assert mine.combo.toolTip() == setting_help("hand_size")
    seen = []
    mine.valueChanged.connect(seen.append)
    mine.spin.setValue(21.5)
    mine.combo.setCurrentText("auto")
    assert seen == [pytest.approx(0.215), "auto"] and not mine.spin.isEnabled()
    mine.set_value("bone")                                            # shown, not reported
    assert mine.combo.currentText() == "bone" and mine.value() == "bone" and len(seen) == 2
    auto = HandSizeControl("auto")                                     # the spin box offers the mean hand's length
    qtbot.addWidget(auto)
    assert auto.value() == "auto" and auto.spin.value() == pytest.approx(100 * MEAN_HAND_LENGTH, abs=0.05)
    row = ControlRow(PipelineSettings(hand_size="bone"), tracking=False, mirror=False, mask_opacity=0.4)
    qtbot.addWidget(row)
    assert row.hand_size.value() == "bone"


def test_the_hand_size_control_changes_the_settings_the_worker_gets(make_window, qtbot, video):
    est = FakeEstimator()
    w = make_window(est, ("video", video), realtime=True)
    c = w.controls.hand_size
    wait_results(qtbot, w, 2)
    assert est.last_call()["settings"].hand_size == "bone"             # the default
    c.combo.setCurrentText("my hand")
    wait_call(qtbot, est, lambda call: call["settings"].hand_size == pytest.approx(round(c.spin.value() / 100, 4)))
    c.spin.setValue(19.5)
    wait_call(qtbot, est, lambda call: call["settings"].hand_size == pytest.approx(0.195))
    assert w.worker.settings.hand_size == pytest.approx(0.195) and w.pipeline_settings.hand_size == pytest.approx(0.195)
    c.combo.setCurrentText("auto")
    wait_call(qtbot, est, lambda call: call["settings"].hand_size == "auto")
    assert est.last_call()["settings"].crop_factor == pytest.approx(1.25)    # nothing else changed
