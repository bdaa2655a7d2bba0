"""What the window says about itself: the message banner and the status bar.

``Banner``: messages by key (source problems, missing weights, inference, recording and screenshot
errors), shown together in a red bar with an "Open video…" offer when a source is missing.
``StatusBar``: hands found · device · capture fps and drops · inference ms per stage · display fps ·
latency.
"""
from __future__ import annotations

import collections
import time

from PyQt5 import QtCore, QtWidgets

from ..draw import side_label


def format_hands(result) -> str:
    """'2 hands: L 0.98, R 0.95' (each hand's side and presence, in the result's order), 'no hand', or
    'hands —' without a result."""
    if result is None:
        return "hands —"
    hands = result.hands
    if not hands:
        return "no hand"
    listed = ", ".join(f"{side_label(h)} {h.presence:.2f}" for h in hands)
    return f"{len(hands)} hand{'s' if len(hands) > 1 else ''}: {listed}"


def format_timings(timings) -> str:
    """'segment 12 · pose 30 ms' from a FrameResult's ``timings_ms`` (the total left out)."""
    parts = [f"{k} {v:.0f}" for k, v in (timings or {}).items() if k != "total"]
    return " · ".join(parts) + " ms" if parts else "—"


class Banner(QtWidgets.QFrame):
    open_requested = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setStyleSheet("QFrame { background: #5a1f1f; border-radius: 4px; } QLabel { color: #ffe0e0; }")
        lay = QtWidgets.QHBoxLayout(self)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.open_button = QtWidgets.QPushButton("Open video…")
        self.open_button.setFocusPolicy(QtCore.Qt.NoFocus)
        self.open_button.clicked.connect(self.open_requested)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.open_button)
        self._messages: dict[str, str] = {}
        self._offer_open = False
        self.hide()

    def show_message(self, key: str, text: str, offer_open: bool = False) -> None:
        self._messages[key] = text
        self._offer_open = self._offer_open or offer_open
        self._refresh()

    def clear_message(self, key: str) -> None:
        self._messages.pop(key, None)
        if key == "source":
            self._offer_open = False
        self._refresh()

    def has(self, key: str) -> bool:
        return key in self._messages

    @property
    def text(self) -> str:
        return "\n".join(v for v in self._messages.values() if v)

    def _refresh(self) -> None:
        text = self.text
        self.label.setText(text)
        self.open_button.setVisible(self._offer_open)
        self.setVisible(bool(text))


class StatusBar:
    """The permanent labels of a QStatusBar and the display statistics they show."""

    def __init__(self, bar: QtWidgets.QStatusBar, clock=time.monotonic):
        self.bar = bar
        self.clock = clock
        self.hands_label = QtWidgets.QLabel("hands —")
        self.hands_label.setToolTip("the hands found in the frame shown: the person's side (L/R) and "
                                    "presence score of each")
        self.device_label = QtWidgets.QLabel("device: loading…")
        self.capture_label = QtWidgets.QLabel("capture — fps")
        self.stages_label = QtWidgets.QLabel("inference —")
        self.display_label = QtWidgets.QLabel("display — fps")
        self.latency_label = QtWidgets.QLabel("latency —")
        for w in (self.hands_label, self.device_label, self.capture_label, self.stages_label, self.display_label,
                  self.latency_label):
            bar.addPermanentWidget(w)
        self.latencies_ms = collections.deque(maxlen=500)
        self.display_fps = 0.0
        self._t_last = None
        self._dt = None

    def set_device(self, text: str | None) -> None:
        self.device_label.setText(f"device: {text}" if text else "device: — (no estimator)")

    def frame_shown(self, shown) -> None:
        """Update from a DisplayFrame that was just shown."""
        now = self.clock()
        self.latencies_ms.append((now - shown.frame.captured_at) * 1000.0)
        if self._t_last is not None:  # average the intervals, not their inverses
            dt = max(now - self._t_last, 1e-6)
            self._dt = dt if self._dt is None else 0.8 * self._dt + 0.2 * dt
            self.display_fps = 1.0 / self._dt
        self._t_last = now
        frame = shown.frame
        self.hands_label.setText(format_hands(shown.result))
        self.capture_label.setText(f"capture {frame.capture_fps:.1f} fps · dropped {frame.dropped}")
        timings = shown.result.timings_ms if shown.result is not None else {}
        self.stages_label.setText(f"inference {shown.inference_ms:.0f} ms ({format_timings(timings)})")
        self.display_label.setText(f"display {self.display_fps:.1f} fps")
        self.latency_label.setText(f"latency {self.latencies_ms[-1]:.0f} ms")

    def note(self, text: str, ms: int = 4000) -> None:
        self.bar.showMessage(text, ms)
