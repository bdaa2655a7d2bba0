"""Soak the live path: a looped video through the app's own capture thread, inference worker and window
for N minutes, measuring resident memory, dropped frames and latency.

    xvfb-run -a -s "-screen 0 1600x1000x24" env OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/soak.py --minutes 30            # -> benchmarks/results/soak.json
    .venv/bin/python benchmarks/check_targets.py --soak benchmarks/results/soak.json

What runs: ``handcam.app.window.MainWindow`` (its ``CaptureThread``, ``LatestFrameSlot`` and
``InferenceWorker``, every view drawing every result), shown on the display, with the estimator the
app's factory loads (``--weights``, default ``weights/handcam-lite.pt``; ``--threads``: torch/ONNX
Runtime intra-op threads, 0 = the app's rule) and the app's default options (real-time playback, no
mirroring, tracking as the app defaults to: off; ``--tracking`` turns it on). The window's settings live
in a temporary INI file: the user's saved settings neither change the run nor get overwritten. The
source is opened once the estimator is loaded, so loading is not measured.

The video loops: ``VideoSource`` ends at the end of the file, so ``LoopingSource`` (here) wraps it and
seeks back to frame 0 at the end. Its frame index keeps counting across loops (an endless stream without
a frame count, like a camera that is paced), so the capture thread's real-time pacing at the video's fps
(``--fps`` plays it at another rate: ``prasad9_okay.mp4`` says 250 fps, a webcam gives 30) carries on
through the seam and every published frame has its own index.

Measured after a warm-up (``--warmup`` seconds; default 10 % of the run, at least 30 s, at most half of
it: allocator pools, ONNX sessions and caches fill up first):

* memory: VmRSS from /proc/self/status every ``--sample-every`` seconds (and at the warm-up boundary and
  after the last frame was shown). start = the sample at the warm-up boundary, end = the last sample;
  growth % = (end - start) / start; slope = least-squares line through the samples after the warm-up,
  MB per minute. Also threads and open file descriptors (a leak of those shows there first), and the
  Python objects by type at the boundary and at the end (after a collection; the types that grew most).
* frames: the capture thread's ``frames_read`` (every frame it published into the slot), the slot's
  ``dropped`` (frames overwritten before the worker took them) and the frames the window showed (an
  extra slot on the worker's ``result_ready``, connected after the window's own and so called right after
  it). At the end the capture is paused and the pipeline drained, so every published frame was either
  dropped in the slot or shown: "unaccounted" (published - dropped - shown) must be 0. After the warm-up,
  published = frames whose index is at least the capture's count at the boundary, not shown = published
  - shown; fraction = not shown / published; also the longest run of consecutive indices not shown and
  the frames shown per second.
* latency: ``CapturedFrame.captured_at`` (the capture clock, time.monotonic(), when the frame was put in
  the slot) to the moment the window's display slot returned for it (frame, crop, 3D and confidence
  views and status bar given the result; Qt repaints them on its next pass, and that painting, done on
  the same GUI thread, delays the results after it). Split into waiting for the worker (slot), inference
  (``DisplayFrame.inference_ms``, the wall time of the estimator call), and waiting for the GUI.
* target: "latency <= one inference + one frame interval", evaluated as p90 latency <= p50 inference
  + 1 / (the fps the video is played at); ``check_targets.py --soak`` reads it (and memory growth < 5 %).
"""
from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench import _git_commit, machine_info  # benchmarks/bench.py, beside this file
from common import default_video, run_and_write

from handcam.compat import preload_triton
from handcam.sources import FrameSource, VideoSource

preload_triton()  # before Qt's OpenGL libraries: see handcam.compat

log = logging.getLogger("soak")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = ROOT / "weights" / "handcam-lite.pt"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "soak.json"


# ------------------------------------------------------------------------------------------ the source
class LoopingSource(FrameSource):
    """A video file played over and over: at its end, seek back to frame 0 and go on. ``position`` (the
    index of the next frame) keeps counting across loops and there is no ``frame_count``, so the stream
    looks endless to the capture thread (its pacing and the tracker's follow-on rule see no step back)."""

    is_live = False
    frame_count = None

    def __init__(self, inner: VideoSource, fps: float | None = None):
        super().__init__()
        self.inner = inner
        self.fps = fps or inner.fps       # the rate the capture thread paces at
        self.description = f"{inner.description} (looped)"
        self.size = getattr(inner, "size", None)
        self.loop_length: int | None = None   # frames in one pass, known after the first pass
        self.loops = 0                        # passes completed

    def read(self):
        image = self.inner.read()
        if image is None:
            if self.inner.position == 0:
                return None                   # nothing readable at all
            self.loop_length = self.inner.position
            self.loops += 1
            self.inner.seek(0)
            image = self.inner.read()
            if image is None:
                return None
        self.position += 1
        return image

    def seek(self, index: int) -> None:
        index = max(0, int(index))
        self.inner.seek(index % self.loop_length if self.loop_length else index)
        self.position = index

    def release(self) -> None:
        self.inner.release()

    @property
    def released(self) -> bool:
        return self.inner.released


# ------------------------------------------------------------------------------------------ process
def proc_status() -> dict:
    """VmRSS, VmHWM (MB) and Threads of this process from /proc/self/status, and its open descriptors."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0       # kB -> MB
            elif key == "Threads":
                out["threads"] = int(value)
        out["fds"] = len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        pass
    return out


def percentiles(values) -> dict:
    """p50, p90, p99, max, mean and n (NaNs left out); all None when empty."""
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None, "n": 0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(a.max()),
            "mean": float(a.mean()), "n": int(a.size)}


def memory_summary(samples: list[dict], warmup_s: float) -> dict:
    """Start (the first sample at or after the warm-up), end (the last), max, growth and slope of VmRSS."""
    first = samples[0]["rss_mb"] if samples else None
    post = [s for s in samples if s["t"] >= warmup_s]
    if not post:
        return {"first_mb": first, "start_mb": None, "end_mb": None, "max_mb": None, "min_mb": None,
                "growth_pct": None, "max_growth_pct": None, "slope_mb_per_min": None, "samples": 0}
    t = np.array([s["t"] for s in post]) / 60.0
    rss = np.array([s["rss_mb"] for s in post])
    start, end = float(rss[0]), float(rss[-1])
    slope = float(np.polyfit(t, rss, 1)[0]) if len(post) >= 2 and np.ptp(t) > 0 else None
    return {"first_mb": first, "start_mb": start, "end_mb": end, "max_mb": float(rss.max()),
            "min_mb": float(rss.min()), "growth_pct": (end - start) / start * 100.0,
            "max_growth_pct": (float(rss.max()) - start) / start * 100.0, "slope_mb_per_min": slope,
            "peak_rss_mb": post[-1].get("hwm_mb"), "samples": len(post),
            "threads": [int(post[0].get("threads", 0)), int(post[-1].get("threads", 0))],
            "fds": [int(post[0].get("fds", 0)), int(post[-1].get("fds", 0))]}


class LogCounter(logging.Handler):
    """Counts the warnings and errors logged during the run, by logger and message (the window logs and
    swallows an exception while showing a result, the worker one during inference: a soak must see them)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.levelname} {record.name}: {record.msg}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def summary(self) -> dict:
        levels = {"warnings": "WARNING ", "errors": "ERROR "}
        out = {k: sum(n for key, n in self.counts.items() if key.startswith(p)) for k, p in levels.items()}
        out["errors"] += sum(n for key, n in self.counts.items() if key.startswith("CRITICAL "))
        out["by_message"] = dict(sorted(self.counts.items(), key=lambda kv: -kv[1]))
        return out


class RepeatFilter(logging.Filter):
    """Lets each (logger, message) through ``limit`` times: a message repeated on every frame of a
    30-minute run is counted (``LogCounter``), not printed 50 000 times."""

    def __init__(self, limit: int = 3):
        super().__init__()
        self.limit, self.seen = limit, {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        self.seen[key] = n = self.seen.get(key, 0) + 1
        if n == self.limit + 1:
            print(f"soak.py: {record.name}: {record.msg!r} repeats: counted from now on, not printed", file=sys.stderr)
        return n <= self.limit


def object_types() -> dict[str, int]:
    """How many objects the garbage collector tracks, by type (after a collection)."""
    gc.collect()
    counts: dict[str, int] = {}
    for o in gc.get_objects():
        name = type(o).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return counts


def type_growth(before: dict[str, int], after: dict[str, int], top: int = 10) -> dict[str, int]:
    """The ``top`` types whose object count grew most (a leak of Python objects shows its type here)."""
    growth = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    return dict(sorted(((k, v) for k, v in growth.items() if v > 0), key=lambda kv: -kv[1])[:top])


def longest_gap(indices: np.ndarray) -> int:
    """The longest run of frame indices missing between consecutive shown frames."""
    if indices.size < 2:
        return 0
    return int(max(0, (np.diff(np.sort(indices)) - 1).max()))


# ------------------------------------------------------------------------------------------ the run
class FrameLog:
    """Per shown frame: index, captured_at, finished_at, GUI start, shown_at, inference ms, has a
    result. Preallocated and touched up front, so that recording does not grow the memory measured."""

    COLUMNS = ("index", "captured_at", "finished_at", "show_start", "shown_at", "inference_ms", "result")

    def __init__(self, capacity: int):
        self.data = np.full((max(16, capacity), len(self.COLUMNS)), np.nan)
        self.n = 0

    def add(self, row) -> None:
        if self.n == len(self.data):  # more than planned: grow (once in a while)
            self.data = np.concatenate([self.data, np.full_like(self.data, np.nan)])
        self.data[self.n] = row
        self.n += 1

    def column(self, name: str) -> np.ndarray:
        return self.data[: self.n, self.COLUMNS.index(name)]


class Soak:
    """Drives one run in the GUI thread: waits for the estimator, opens the looped video, samples, then
    pauses the capture, drains the pipeline and closes the window."""

    def __init__(self, args, app, window, video: Path):
        from PyQt5 import QtCore

        self.QtCore = QtCore
        self.args, self.app, self.w, self.video = args, app, window, video
        self.duration_s = args.minutes * 60.0
        self.warmup_s = args.warmup if args.warmup is not None else \
            min(max(30.0, 0.1 * self.duration_s), 0.5 * self.duration_s)
        self.sample_every = args.sample_every if args.sample_every is not None else \
            min(5.0, max(0.1, self.duration_s / 20.0))
        self.error: str | None = None
        self.source: LoopingSource | None = None
        self.samples: list[dict] = []
        self.boundary: dict | None = None
        self.t0 = None
        self.t_end = None
        self.load_s = None
        self._shows: dict[int, float] = {}   # id(DisplayFrame) -> when the window started showing it
        self.frames: FrameLog | None = None
        self._timers = []
        self._t_start = time.monotonic()
        self.inference_errors = 0
        self.drained = False
        self.types_end = None
        window.worker.result_ready.connect(self._guarded(self._on_result), QtCore.Qt.QueuedConnection)
        show = getattr(window, "_show", None)
        if callable(show):   # time the window's own display work too (its slot calls self._show)
            def timed_show(shown, _show=show):
                self._shows[id(shown)] = time.monotonic()
                return _show(shown)
            window._show = timed_show
        self._poll = self._timer(50, self._wait_for_estimator)

    def _guarded(self, slot):
        """``slot`` for a Qt connection: an exception ends the run with its message (PyQt would abort)."""
        def call(*a):
            try:
                slot(*a)
            except Exception as e:
                log.exception("soak: %s failed", getattr(slot, "__name__", slot))
                self._fail(f"{type(e).__name__}: {e}")
        return call

    def _timer(self, ms: int, slot, single: bool = False):
        t = self.QtCore.QTimer()
        t.setSingleShot(single)
        t.timeout.connect(self._guarded(slot))
        t.start(ms)
        self._timers.append(t)
        return t

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
            log.error("%s", message)
        self._finish()

    # -- phases -----------------------------------------------------------------------------------
    def _wait_for_estimator(self) -> None:
        w = self.w
        if w.banner.has("estimator"):
            self._poll.stop()
            return self._fail(f"the estimator did not load: {w.banner.text}")
        if w.worker.estimator is None:
            if time.monotonic() - self._t_start > self.args.load_timeout:
                self._poll.stop()
                self._fail(f"the estimator did not load within {self.args.load_timeout:.0f} s")
            return
        self._poll.stop()
        self.load_s = time.monotonic() - self._t_start
        inner = VideoSource(self.video)
        self.video_fps = inner.fps
        self.source = LoopingSource(inner, fps=self.args.fps)
        # shown <= published, and a display faster than 60 fps is rare (the log grows if it comes)
        self.frames = FrameLog(int(min(self.source.fps, 60.0) * (self.duration_s + 120.0)) + 1000)
        if not w.open(self.source):
            return self._fail(f"the window could not open {self.video}: {w.banner.text}")
        w.capture.failed.connect(self._guarded(lambda m: self._fail(f"the capture failed: {m}")))
        w.capture.ended.connect(self._guarded(lambda: self._fail("the looped video ended")))
        self.t0 = time.monotonic()
        log.info("estimator ready after %.1f s (%s); soaking %.1f min, warm-up %.0f s, samples every %.1f s",
                 self.load_s, w.worker.estimator.describe(), self.args.minutes, self.warmup_s, self.sample_every)
        self._sample()
        self._timer(int(self.sample_every * 1000), self._sample)
        self._timer(int(self.warmup_s * 1000), self._at_warmup, single=True)
        self._timer(int(self.duration_s * 1000), self._stop_capture, single=True)

    def _at_warmup(self) -> None:
        c = self.w.capture
        self.boundary = {"t": time.monotonic() - self.t0, "published": c.frames_read, "dropped": self.w.slot.dropped,
                         "shown": self.frames.n, "types": object_types()}
        self._sample()

    def _stop_capture(self) -> None:
        if self.boundary is None:
            self._at_warmup()
        self.t_end = time.monotonic()
        self.w.set_paused(True)
        self._drain_start = time.monotonic()
        self._drain = self._timer(20, self._wait_drained)

    def _wait_drained(self) -> None:
        w = self.w
        settled = (w.capture.idle and w.slot.wait_empty(0) and w.slot.delivered == w.worker.frames_processed
                   and w.worker.frames_processed == self.frames.n)
        if not settled and time.monotonic() - self._drain_start < 30.0:
            return
        self._drain.stop()
        if not settled:
            log.warning("the pipeline did not drain within 30 s; counts may be off by the frames in flight")
        self.drained = bool(settled)
        self.types_end = object_types()
        self._sample()
        self._finish()

    def _finish(self) -> None:
        for t in self._timers:
            t.stop()
        self.QtCore.QTimer.singleShot(0, self._close)

    def _close(self) -> None:
        self.w.close()
        self.app.quit()

    # -- measurements ---------------------------------------------------------------------------
    def _sample(self) -> None:
        s = proc_status()
        c = self.w.capture
        self.samples.append({"t": time.monotonic() - self.t0, "rss_mb": s.get("VmRSS"), "hwm_mb": s.get("VmHWM"),
                             "threads": s.get("threads"), "fds": s.get("fds"),
                             "published": c.frames_read if c is not None else 0,
                             "dropped": self.w.slot.dropped, "shown": self.frames.n})

    def _on_result(self, shown) -> None:
        """Called right after the window's own slot for the same DisplayFrame."""
        now = time.monotonic()
        show_start = self._shows.pop(id(shown), math.nan)
        if self.frames is None or shown.frame.source_id != id(self.source):
            return
        f = shown.frame
        self.frames.add((f.index, f.captured_at, shown.finished_at, show_start, now, shown.inference_ms,
                         float(shown.result is not None)))
        self.inference_errors += bool(shown.error)

    # -- the report -----------------------------------------------------------------------------
    def report(self) -> dict:
        f, b, src = self.frames, self.boundary, self.source
        final = self.samples[-1]
        index = f.column("index")
        post = index >= b["published"]
        elapsed = self.t_end - self.t0
        window_s = elapsed - b["t"]
        published_post = final["published"] - b["published"]
        shown_post = int(post.sum())
        not_shown_post = published_post - shown_post
        latency = (f.column("shown_at") - f.column("captured_at")) * 1000.0
        inference = f.column("inference_ms")
        slot_wait = (f.column("finished_at") - f.column("captured_at")) * 1000.0 - inference
        show_start = f.column("show_start")
        gui_start = np.where(np.isfinite(show_start), show_start, f.column("shown_at"))
        gui_wait = (gui_start - f.column("finished_at")) * 1000.0     # in Qt's event queue
        show_ms = (f.column("shown_at") - show_start) * 1000.0        # the window's display slot
        lat, inf = percentiles(latency[post]), percentiles(inference[post])
        interval_ms = 1000.0 / src.fps
        target = {"rule": "p90 latency <= p50 inference + one frame interval (1 / the fps the video is played at)",
                  "p90_latency_ms": lat["p90"], "p50_inference_ms": inf["p50"], "frame_interval_ms": interval_ms}
        if lat["p90"] is not None and inf["p50"] is not None:
            target["limit_ms"] = inf["p50"] + interval_ms
            target["ratio"] = lat["p90"] / target["limit_ms"]
            target["met"] = bool(target["ratio"] <= 1.0)
        frames = {
            "published": published_post, "shown": shown_post, "not_shown": not_shown_post,
            "dropped_fraction": not_shown_post / published_post if published_post else None,
            "dropped_in_slot": final["dropped"] - b["dropped"],
            "longest_gap": longest_gap(index[post]),
            "shown_fps": shown_post / window_s if window_s > 0 else None,
            "published_fps": published_post / window_s if window_s > 0 else None,
            "with_result_fraction": float(f.column("result")[post].mean()) if shown_post else None,
            "whole_run": {"published": final["published"], "shown": f.n, "dropped_in_slot": final["dropped"],
                          "not_shown": final["published"] - f.n,
                          "unaccounted": final["published"] - final["dropped"] - f.n,
                          "longest_gap": longest_gap(index), "inference_errors": self.inference_errors},
            "drained": self.drained,
            "loops": src.loops, "loop_length": src.loop_length,
        }
        memory = memory_summary(self.samples, b["t"])
        memory["python_objects"] = [sum(b["types"].values()), sum(self.types_end.values()) if self.types_end else None]
        memory["python_objects_growth"] = type_growth(b["types"], self.types_end) if self.types_end else None
        memory["frame_log_mb"] = f.data.nbytes / 2**20
        return {"frames": frames, "memory": memory, "latency_ms": lat, "inference_ms": inf,
                "latency_parts_ms": {"slot_wait": percentiles(slot_wait[post]), "gui_wait": percentiles(gui_wait[post]),
                                     "window_show": percentiles(show_ms[post])},
                "latency_target": target, "duration_s": elapsed, "measured_s": window_s, "warmup_s": b["t"],
                "load_s": self.load_s, "samples": self.samples}


def make_factory(args):
    """``factory(config) -> Estimator`` for the window's worker: ``handcam.app.estimator_factory`` (the
    config's weights, then the CPU thread rule), with ``--threads`` and ``--random-weights``."""
    def factory(config):
        from handcam.config import load_estimator
        from handcam.estimator import HandPoseEstimator
        from handcam.runtime import set_inference_threads

        if args.random_weights:
            est = HandPoseEstimator.random(seed=0, device=config.device, arch=args.arch,
                                           settings=config.settings, runtime=config.runtime)
        else:
            est = load_estimator(config)
        if est.device.type == "cpu":
            set_inference_threads(args.threads or None)
        return est
    return factory


def environment(app, device) -> dict:
    """bench.py's machine description plus what the live path adds (ONNX Runtime, Qt, the display)."""
    info = machine_info(device)
    info["git_commit"] = _git_commit()
    info["loadavg"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        info["cpu"] = platform.processor() or None
    try:
        import onnxruntime
        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    import pyqtgraph
    from PyQt5 import QtCore

    info.update({"qt": QtCore.QT_VERSION_STR, "pyqt": QtCore.PYQT_VERSION_STR, "pyqtgraph": pyqtgraph.__version__,
                 "qt_platform": app.platformName(), "display": os.environ.get("DISPLAY"),
                 "omp_num_threads": os.environ.get("OMP_NUM_THREADS")})
    return info


def run(args) -> dict:
    import torch
    from PyQt5 import QtWidgets

    from handcam.app.views import share_gl_contexts
    from handcam.app.window import MainWindow
    from handcam.config import RunConfig
    from handcam.settings import RuntimeOptions

    video = Path(args.video) if args.video else default_video()
    if video is None or not video.is_file():
        raise ValueError(f"no video: {video or 'none found'}; pass --video FILE")
    if not args.random_weights and not Path(args.weights).is_file():
        raise ValueError(f"no weights file {args.weights}; pass --weights FILE (or --random-weights)")
    share_gl_contexts()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["handcam-soak"])
    counter = LogCounter()
    logging.getLogger().addHandler(counter)
    with tempfile.TemporaryDirectory(prefix="handcam-soak-") as tmp:
        config = RunConfig(weights=None if args.random_weights else str(args.weights), device=args.device,
                           runtime=RuntimeOptions(backend=args.backend), output_dir=Path(tmp))
        window = MainWindow(config, make_factory(args), source=None, settings_path=Path(tmp) / "settings.ini",
                            realtime=True, mirror=False)
        window.controls.tracking_box.setChecked(bool(args.tracking))   # as a user would (the worker's option)
        window.resize(*args.window_size)
        window.show()
        soak = Soak(args, app, window, video)
        app.exec_()
        estimator = window.worker.estimator
        tracking = window.worker.tracking
    logging.getLogger().removeHandler(counter)
    if soak.error:
        raise RuntimeError(soak.error)
    result = soak.report()
    device = estimator.device if estimator is not None else torch.device("cpu")
    result["config"] = {
        "tool": "soak", "minutes": args.minutes, "warmup_s": soak.warmup_s, "sample_every_s": soak.sample_every,
        "weights": "random(seed=0)" if args.random_weights else str(args.weights),
        "arch": estimator.architecture.name if estimator is not None else None,
        "estimator": estimator.describe() if estimator is not None else None, "device": str(device),
        "backend": getattr(estimator, "backend", None), "threads": torch.get_num_threads(),
        "tracking": bool(tracking), "mirror": False, "realtime": True,
        "video": str(video), "video_fps": soak.video_fps, "fps": soak.source.fps,
        "frame_size": list(reversed(soak.source.size or ())),   # H, W as in bench.py
        "window_size": list(args.window_size)}
    result["machine"] = environment(app, device)
    result["log"] = counter.summary()
    # the samples last: the summary first when the file is read by eye
    result = {k: result[k] for k in ("config", "machine", "memory", "frames", "latency_ms", "inference_ms",
                                     "latency_parts_ms", "latency_target", "log", "duration_s", "measured_s",
                                     "warmup_s", "load_s", "samples")}
    return result


def table(r: dict) -> str:
    c, m, f, t = r["config"], r["memory"], r["frames"], r["latency_target"]

    def fmt(v, spec=".1f"):
        return "-" if v is None else format(v, spec)

    def row(name, s):
        return f"{name:<22}" + "".join(f"{fmt(s[k]):>9}" for k in ("p50", "p90", "p99", "max")) + f"   n {s['n']}"

    lines = [f"soak {r['duration_s'] / 60:.1f} min (warm-up {r['warmup_s']:.0f} s) | {c['estimator']} | "
             f"tracking {'on' if c['tracking'] else 'off'} | {Path(c['video']).name} at {c['fps']:.1f} fps, "
             f"looped {f['loops']}x",
             f"memory (VmRSS MB): start {fmt(m['start_mb'])}  end {fmt(m['end_mb'])}  max {fmt(m['max_mb'])}  "
             f"growth {fmt(m['growth_pct'], '.2f')} %  slope {fmt(m['slope_mb_per_min'], '.3f')} MB/min  "
             f"(first sample {fmt(m['first_mb'])})",
             f"frames: published {f['published']}  shown {f['shown']}  not shown {f['not_shown']} "
             f"({fmt(None if f['dropped_fraction'] is None else 100 * f['dropped_fraction'], '.1f')} %)  "
             f"longest gap {f['longest_gap']}  shown {fmt(f['shown_fps'])} fps of {fmt(f['published_fps'])}",
             f"{'':<22}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}   ms",
             row("latency", r["latency_ms"]), row("  waiting for worker", r["latency_parts_ms"]["slot_wait"]),
             row("  inference", r["inference_ms"]), row("  waiting for GUI", r["latency_parts_ms"]["gui_wait"]),
             row("window show", r["latency_parts_ms"]["window_show"]),
             f"target {t['rule']}: {fmt(t.get('p90_latency_ms'))} <= {fmt(t.get('limit_ms'))} ms: "
             f"{'met' if t.get('met') else 'missed'}"]
    lg = r["log"]
    lines.append(f"log: {lg['errors']} errors, {lg['warnings']} warnings"
                 + "".join(f"\n  {n:>6} x {key}" for key, n in list(lg["by_message"].items())[:5]))
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--minutes", type=float, default=30.0, help="how long to play the looped video (default 30)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"where to write the results (JSON; default {DEFAULT_OUT})")
    p.add_argument("--video", help="the video to loop (default: benchmarks/common.py's default_video(), "
                   "../shared/data/real/video/prasad9_okay.mp4)")
    p.add_argument("--fps", type=float, default=None,
                   help="play the video at this rate instead of the rate its file gives (e.g. 30 for a webcam's; "
                        "prasad9_okay.mp4 says 250)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                   help=f"a handcam weights file (default {DEFAULT_WEIGHTS})")
    p.add_argument("--random-weights", action="store_true",
                   help="freshly initialised networks of --arch instead of --weights (tests; the speed does not "
                        "depend on the weights, tracking decisions do)")
    p.add_argument("--arch", default="lite", choices=["lite", "paper"], help="the family of --random-weights")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads of the networks (0: the app's rule, "
                   "handcam.runtime.inference_threads: all cores but one, or $HANDCAM_THREADS)")
    p.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=False,
                   help="the window's tracking option (the app starts with it off)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (as main.py --device)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
                   help="what runs the networks (auto: ONNX Runtime on a CPU in fp32 when installed)")
    p.add_argument("--warmup", type=float, default=None, metavar="SECONDS",
                   help="seconds left out of every statistic (default: 10 %% of the run, at least 30 s, at most "
                        "half the run)")
    p.add_argument("--sample-every", type=float, default=None, metavar="SECONDS",
                   help="memory sampling period (default: 5 s, or 1/20 of a short run)")
    p.add_argument("--window-size", type=int, nargs=2, default=(1400, 860), metavar=("W", "H"),
                   help="window size in pixels (default 1400 860, the app's first size)")
    p.add_argument("--load-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="give up when the estimator has not loaded by then")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if not args.minutes > 0:
        p.error("--minutes must be > 0")
    if args.warmup is not None and not 0 <= args.warmup < args.minutes * 60:
        p.error("--warmup must be >= 0 and shorter than the run")
    if args.fps is not None and not 0 < args.fps < 1000:
        p.error("--fps must be > 0 and < 1000")
    if args.sample_every is not None and not args.sample_every > 0:
        p.error("--sample-every must be > 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter())
    return run_and_write("soak.py", run, args, args.out, table, errors=(ValueError, RuntimeError, OSError))


if __name__ == "__main__":
    sys.exit(main())
