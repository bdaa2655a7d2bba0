"""handcam.app.layout: the window's widgets and menus (every shortcut works anywhere in the window)."""
from __future__ import annotations

from app_fakes import FakeEstimator
from app_support import QtCore, make_window_fixture  # noqa: F401
from PyQt5 import QtWidgets

from handcam.app.layout import WindowLayout, add_menus
from handcam.app.state import WindowState


def test_layout_holds_every_view_and_row(qtbot):
    ui = WindowLayout(WindowState(tracking=True, mask_opacity=0.7), realtime=False, mirror=True)
    qtbot.addWidget(ui)
    assert ui.frame_view.mask_opacity == 0.7 and ui.controls.tracking_box.isChecked()
    assert ui.controls.mirror_box.isChecked() and not ui.playback.realtime_box.isChecked()
    assert ui.banner.isHidden()


def test_menus_and_window_shortcuts(qtbot):
    w = QtWidgets.QMainWindow()
    qtbot.addWidget(w)
    hits = []
    actions = add_menus(w, {"&File": [("Go", QtCore.Qt.Key_G, lambda: hits.append("go")), None,
                                      ("Menu only", None, lambda: hits.append("menu"))]})
    assert set(actions) == {"Go", "Menu only"} and actions["Go"].shortcut().toString() == "G"
    assert actions["Go"].shortcutContext() == QtCore.Qt.WindowShortcut and actions["Go"] in w.actions()
    actions["Menu only"].trigger()
    assert hits == ["menu"]


def test_the_window_menus(make_window):
    w = make_window(FakeEstimator(), None)
    shortcuts = {a.text(): a.shortcut().toString() for a in w.actions()}
    assert shortcuts == {"Open video…": "O", "Open image…": "", "Open camera…": "", "Save screenshot": "S",
                         "Record": "R", "Quit": "Esc", "Pause / play": "Space", "Step one frame": "Right",
                         "Fullscreen": "F", "Reset 3D view": ""}
