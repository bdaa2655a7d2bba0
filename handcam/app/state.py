"""What the window remembers between runs (QSettings, INI format) and how it meets the command line.

The window's controls edit the settings in ``CONTROLLED_SETTINGS`` plus display and worker options
(tracking, mirror, smoothing, real-time playback, mask opacity). On start, each controlled setting takes its
saved value unless the command line gave it (``RunConfig.explicit_settings()``): a given value wins
even when it equals the default (``--crop-factor 1.25`` beats a saved 1.6); nothing else does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from PyQt5 import QtCore

from ..settings import PipelineSettings, setting_fields

ORGANIZATION = "handcam"
APPLICATION = "handcam"
#: An INI file to keep the window's settings in instead of the platform's default place.
SETTINGS_ENV = "HANDCAM_SETTINGS"
#: The pipeline settings the window's controls edit (and remember).
CONTROLLED_SETTINGS = ("crop_factor", "mask_threshold", "presence_threshold", "max_hands", "hand_side", "hand_size")


def make_settings_store(path=None) -> QtCore.QSettings:
    """QSettings in an INI file at ``path`` (or $HANDCAM_SETTINGS), else the platform default."""
    path = path or os.environ.get(SETTINGS_ENV)
    if path:
        return QtCore.QSettings(os.fspath(path), QtCore.QSettings.IniFormat)
    return QtCore.QSettings(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                            ORGANIZATION, APPLICATION)


@dataclass(frozen=True)
class WindowState:
    """The window's starting point: the pipeline settings and the options that are not settings."""

    settings: PipelineSettings = field(default_factory=PipelineSettings)
    tracking: bool = False
    mirror: bool = False
    smoothing: bool = True
    realtime: bool = True
    mask_opacity: float = 0.4


def _saved_setting(store: QtCore.QSettings, name: str, current):
    """A saved setting checked against its field (range clamped, choice known); ``current`` when
    missing or unusable."""
    if not store.contains(name):
        return current
    meta = setting_fields()[name].metadata
    raw = store.value(name)
    if meta.get("choices"):
        return raw if raw in meta["choices"] else current
    try:
        value = meta["parse"](raw) if meta.get("parse") else type(current)(raw)
    except (TypeError, ValueError):
        return current
    if isinstance(value, str):          # a word of a setting that also takes numbers
        return value
    lo, hi = meta.get("range") or (value, value)
    return min(max(value, lo), hi)


def load_state(store: QtCore.QSettings, base: PipelineSettings | None = None,
               explicit: Mapping | None = None) -> WindowState:
    """The saved state over ``base``, then the command line's ``explicit`` settings over that."""
    base = base or PipelineSettings()
    saved = {name: _saved_setting(store, name, getattr(base, name)) for name in CONTROLLED_SETTINGS}
    try:
        settings = base.replace(**saved)
    except ValueError:  # a saved combination the settings reject: start from the base
        settings = base
    if explicit:
        settings = settings.replace(**dict(explicit))
    opacity = store.value("mask_opacity", WindowState.mask_opacity)
    try:
        opacity = min(max(float(opacity), 0.0), 1.0)
    except (TypeError, ValueError):
        opacity = WindowState.mask_opacity
    return WindowState(settings=settings,
                       tracking=store.value("tracking", False, type=bool),
                       mirror=store.value("mirror", False, type=bool),
                       smoothing=store.value("smoothing", True, type=bool),
                       realtime=store.value("realtime", True, type=bool),
                       mask_opacity=opacity)


def save_state(store: QtCore.QSettings, state: WindowState, geometry: QtCore.QByteArray | None = None) -> None:
    if geometry is not None:
        store.setValue("geometry", geometry)
    for name in CONTROLLED_SETTINGS:
        store.setValue(name, getattr(state.settings, name))
    store.setValue("tracking", bool(state.tracking))
    store.setValue("mirror", bool(state.mirror))
    store.setValue("smoothing", bool(state.smoothing))
    store.setValue("realtime", bool(state.realtime))
    store.setValue("mask_opacity", float(state.mask_opacity))
    store.sync()
