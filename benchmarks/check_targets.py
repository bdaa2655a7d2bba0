"""Check the speed targets (CPU and GPU, see docs/performance.md) against benchmark JSONs
written by ``benchmarks/bench.py``, and the live path's targets against a ``benchmarks/soak.py`` JSON.

    python benchmarks/check_targets.py cpu_paper.json cpu_lite.json [gpu_paper.json ...] [--mediapipe mp.json]
    python benchmarks/check_targets.py [bench JSONs ...] --soak soak.json

Targets (each read from the JSON it applies to; a target with no matching JSON is "not measured"):
  cpu-paper-overhead         CPU, paper networks: end to end <= 1.05 x the raw networks (median / median)
  cpu-paper-tracking         CPU, paper networks, --tracking: tracked median <= 0.55 x untracked median
  cpu-lite-realtime          CPU, lite networks, at most 2 threads: end-to-end median <= 12 ms
  cpu-lite-overhead          CPU, lite networks: end to end <= 1.3 x the raw networks
  cpu-lite-tracked-overhead  CPU, lite networks, --tracking: tracked end to end <= 1.3 x PoseNet + lifting
  cpu-lite-two-hands         CPU, lite networks, --hands-video: two-hand frames <= 1.6 x one-hand frames
  cpu-lite-vs-mediapipe      CPU, lite networks, --tracking: tracked median <= MediaPipe Hands' lite model
                             median (``mediapipe_bench.py`` JSON given with --mediapipe; ratio <= 1)
  cpu-lite-vs-mediapipe-full CPU, lite networks: end-to-end median (every frame detected) <= MediaPipe Hands'
                             full model median (the same JSON, when it holds the full model; ratio <= 1)
  gpu-paper                  CUDA, paper networks: end-to-end median <= 2 ms
  soak-memory-growth         the app's live path (``soak.py`` JSON given with --soak): resident memory at the end
                             of the soak vs after its warm-up, growth < 5 %
  soak-latency               the same soak: p90 capture-to-display latency <= p50 inference + one frame interval
                             (1 / the video's fps; ratio <= 1)
Exit status 1 when a measured target is missed (0 with --report-only).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _lite_tracking(c) -> bool:
    return c["device"] == "cpu" and c["arch"] == "lite" and bool(c.get("tracking"))


TARGETS = (
    ("cpu-paper-overhead", "end to end <= 1.05 x raw networks", 1.05,
     lambda c: c["device"] == "cpu" and c["arch"] == "paper", lambda r: r["overhead_ratio"]),
    ("cpu-paper-tracking", "tracked <= 0.55 x untracked", 0.55,
     lambda c: c["device"] == "cpu" and c["arch"] == "paper" and c.get("tracking"),
     lambda r: r["tracking"]["ratio_to_untracked"]),
    ("cpu-lite-realtime", "lite end to end <= 12 ms on <= 2 threads", 12.0,
     lambda c: c["device"] == "cpu" and c["arch"] == "lite" and c["threads"] <= 2,
     lambda r: r["pipeline"]["end_to_end_ms"]["median"]),
    ("cpu-lite-overhead", "lite end to end <= 1.3 x raw networks", 1.3,
     lambda c: c["device"] == "cpu" and c["arch"] == "lite", lambda r: r["overhead_ratio"]),
    ("cpu-lite-tracked-overhead", "lite tracked end to end <= 1.3 x raw PoseNet + lifting", 1.3, _lite_tracking,
     lambda r: r["tracking"]["end_to_end_ms"]["median"] / r["raw_networks_ms"]["tracked_total"]["median"]),
    ("cpu-lite-two-hands", "lite two-hand frames <= 1.6 x one-hand frames (end to end, untracked)", 1.6,
     lambda c: c["device"] == "cpu" and c["arch"] == "lite",
     lambda r: r.get("by_hand_count", {}).get("untracked", {}).get("ratio_two_to_one")),
    ("gpu-paper", "paper end to end <= 2 ms on a GPU", 2.0,
     lambda c: c["device"].startswith("cuda") and c["arch"] == "paper",
     lambda r: r["pipeline"]["end_to_end_ms"]["median"]),
)

#: The soak's targets: (name, what, limit, met(value, limit), value of a ``soak.py`` result).
SOAK_TARGETS = (
    ("soak-memory-growth", "resident memory growth after the warm-up < 5 %", 5.0, lambda v, limit: v < limit,
     lambda r: r["memory"]["growth_pct"]),
    ("soak-latency", "p90 latency <= p50 inference + one frame interval", 1.0, lambda v, limit: v <= limit,
     lambda r: r["latency_target"]["ratio"]),
)

REQUIRED_KEYS = ("config", "machine", "pipeline", "raw_networks_ms", "overhead_ratio", "fps")
SOAK_KEYS = ("config", "machine", "memory", "frames", "latency_ms", "inference_ms", "latency_target")


def validate(result: dict, source: str = "json") -> None:
    """Raise ValueError when ``result`` is not a complete bench.py JSON."""
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise ValueError(f"{source}: not a bench.py result, missing {missing}")
    stats = [result["pipeline"]["end_to_end_ms"], *result["pipeline"]["stages_ms"].values(),
             *result["raw_networks_ms"].values()]
    if result["config"].get("tracking"):
        stats.append(result["tracking"]["end_to_end_ms"])
    for s in stats:
        if not all(k in s for k in ("median", "p10", "p90")) or not (s["p10"] <= s["median"] <= s["p90"]):
            raise ValueError(f"{source}: malformed statistics {s}")


def validate_soak(result: dict, source: str = "soak") -> None:
    """Raise ValueError when ``result`` is not a complete soak.py JSON."""
    missing = [k for k in SOAK_KEYS if k not in result]
    if missing or result["config"].get("tool") != "soak":
        raise ValueError(f"{source}: not a soak.py result" + (f", missing {missing}" if missing else ""))
    p = [result["latency_ms"].get(k) for k in ("p50", "p90", "p99", "max")]
    if result["memory"].get("growth_pct") is None or result["latency_target"].get("ratio") is None or \
            None in p or not p[0] <= p[1] <= p[2] <= p[3]:
        raise ValueError(f"{source}: incomplete soak statistics (memory growth, latency ratio or percentiles)")


def check(results: list[tuple[str, dict]], mediapipe: dict | None = None,
          soak: tuple[str, dict] | None = None) -> list[dict]:
    """One row per target: the best (lowest) measured value over the JSONs it applies to. ``mediapipe``:
    a ``mediapipe_bench.py`` result, for the comparison with MediaPipe's lite model; ``soak``: (path, a
    ``soak.py`` result), for the live path's targets (not measured without one)."""
    targets = list(TARGETS)
    if mediapipe is not None:
        lite_ms = mediapipe["models"]["lite"]["end_to_end_ms"]["median"]
        targets.append(("cpu-lite-vs-mediapipe", f"lite tracked / MediaPipe lite ({lite_ms:.2f} ms) <= 1", 1.0,
                        _lite_tracking, lambda r: r["tracking"]["end_to_end_ms"]["median"] / lite_ms))
        if "full" in mediapipe["models"]:
            full_ms = mediapipe["models"]["full"]["end_to_end_ms"]["median"]
            targets.append(("cpu-lite-vs-mediapipe-full", f"lite end to end / MediaPipe full ({full_ms:.2f} ms) <= 1",
                            1.0, lambda c: c["device"] == "cpu" and c["arch"] == "lite",
                            lambda r: r["pipeline"]["end_to_end_ms"]["median"] / full_ms))
    rows = []
    for name, what, limit, applies, value in targets:
        measured = [(v, src) for src, r in results if applies(r["config"]) and (v := value(r)) is not None]
        if not measured:
            rows.append({"target": name, "what": what, "limit": limit, "value": None, "source": None,
                         "status": "not measured"})
            continue
        v, src = min(measured)
        rows.append({"target": name, "what": what, "limit": limit, "value": v, "source": src,
                     "status": "met" if v <= limit else "missed"})
    for name, what, limit, met, value in SOAK_TARGETS:
        if soak is None:
            rows.append({"target": name, "what": what, "limit": limit, "value": None, "source": None,
                         "status": "not measured"})
            continue
        v = value(soak[1])
        rows.append({"target": name, "what": what, "limit": limit, "value": v, "source": soak[0],
                     "status": "met" if met(v, limit) else "missed"})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="*", help="bench.py result files")
    p.add_argument("--report-only", action="store_true", help="always exit 0 (e.g. for short CI runs)")
    p.add_argument("--mediapipe", metavar="JSON", help="a mediapipe_bench.py result (its lite model) to compare "
                   "the lite tracking time with")
    p.add_argument("--soak", metavar="JSON", help="a soak.py result (the app's live path): memory growth and latency")
    args = p.parse_args(argv)
    if not args.json and not args.soak:
        p.error("give bench.py result files, --soak JSON, or both")
    results = []
    for path in args.json:
        r = json.loads(Path(path).read_text())
        validate(r, path)
        results.append((path, r))
    mediapipe = None
    if args.mediapipe:
        mediapipe = json.loads(Path(args.mediapipe).read_text())
        if "lite" not in mediapipe.get("models", {}):
            raise SystemExit(f"{args.mediapipe}: not a mediapipe_bench.py result with the lite model")
    soak = None
    if args.soak:
        soak = (args.soak, json.loads(Path(args.soak).read_text()))
        validate_soak(soak[1], args.soak)
    rows = check(results, mediapipe, soak)
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.3f}"
        print(f"{row['target']:<26} {row['status']:<13} {value:>9} (limit {row['limit']})  {row['what']}"
              + (f"  [{Path(row['source']).name}]" if row["source"] else ""))
    missed = any(r["status"] == "missed" for r in rows)
    return 0 if (args.report_only or not missed) else 1


if __name__ == "__main__":
    sys.exit(main())
