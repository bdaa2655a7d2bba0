"""A real two-hand test clip made from photos, and a checker of handcam's JSONL on it.

    python benchmarks/two_hand_clip.py make                          # -> $TMPDIR/handcam_two_hands.mp4 (+ .truth.json)
    python benchmarks/two_hand_clip.py make --one-hand 12 --out /tmp/clip.mp4
    python main.py --video /tmp/clip.mp4 --headless --json /tmp/clip.jsonl
    python benchmarks/two_hand_clip.py check /tmp/clip.jsonl --clip /tmp/clip.mp4 --json /tmp/clip_summary.json

``make`` takes the webcam-view photos of ``../shared/data/real_train/subhih`` that hold two hands
(two human-drawn boxes in ``subhih/boxes.json``), by default from the held-out ``test/`` split, and
holds each for ``--hold`` frames of a 640x480 MP4 with a small seeded camera shake (a random sub-pixel
shift per frame, so that consecutive frames are never identical). ``--one-hand N`` spreads N one-hand
photos of the same split(s) evenly through the clip, so that both counts are tested. Next to the video,
``CLIP.truth.json`` lists per frame the source photo, the number of expected hands and their boxes
(shifted with the frame). The clip is data from ``../shared``: it is written outside the repository.

``check`` reads the JSONL of ``python main.py --video CLIP --headless --json OUT.jsonl`` (one object
per frame with a ``hands`` list: every hand found, or with ``--min-presence`` those at least that sure)
and the sidecar,
and reports the frames where the number of hands found equals the number expected, the mean found
count, how many found hands match an expected box (the hand centre -- the mean of its ``keypoints_2d``,
else its box centre -- inside the box; each box matched at most once), the false hands, and whether the
two hands found in a two-hand frame are on different sides. ``--json`` writes the summary.

Needs only numpy and OpenCV. Errors (missing data, unreadable files) print one line and exit with 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared"
SUBHIH = Path("data") / "real_train" / "subhih"
WIDTH, HEIGHT = 640, 480
SIDECAR_SCHEMA = 1


class ClipError(Exception):
    """A problem for the user: printed as one line, exit status 2."""


def sidecar_path(video: Path) -> Path:
    """``CLIP.truth.json`` next to ``CLIP.mp4``."""
    return video.with_name(video.stem + ".truth.json")


# --------------------------------------------------------------------------------------------- make

def load_boxes(shared: Path) -> tuple[Path, dict]:
    """(the subhih folder, its boxes.json) under a shared tree; ClipError when either is missing."""
    if not shared.is_dir():
        raise ClipError(f"shared folder {shared} not found (pass --shared PATH, the folder holding data/real_train)")
    root = shared / SUBHIH
    path = root / "boxes.json"
    if not path.is_file():
        raise ClipError(f"{path} not found: the subhih photo set is missing from {shared}")
    try:
        boxes = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ClipError(f"cannot read {path}: {e}") from None
    if not isinstance(boxes, dict):
        raise ClipError(f"{path} is not a JSON object of photo -> boxes")
    return root, boxes


def pick_photos(boxes: dict, splits: list[str], one_hand: int, limit: int | None,
                rng: np.random.Generator) -> list[str]:
    """The photos of the clip in order: the two-hand ones by name (consecutive photos of subhih come from
    one session, so the clip reads like a video), with ``one_hand`` one-hand photos (a seeded sample)
    spread evenly between them."""
    def of_split(key: str) -> bool:
        return key.split("/", 1)[0] in splits

    two = sorted(k for k, v in boxes.items() if of_split(k) and len(v) == 2)
    if limit is not None:
        two = two[:limit]
    if not two:
        raise ClipError(f"no photo with two hands in split(s) {', '.join(splits)} of boxes.json")
    ones = sorted(k for k, v in boxes.items() if of_split(k) and len(v) == 1)
    if one_hand > len(ones):
        raise ClipError(f"--one-hand {one_hand}: split(s) {', '.join(splits)} hold only {len(ones)} one-hand photos")
    chosen = sorted(rng.choice(len(ones), size=one_hand, replace=False).tolist()) if one_hand else []
    keyed = [(float(i), 0, k) for i, k in enumerate(two)]
    keyed += [((j + 1) * len(two) / (one_hand + 1) - 0.5, 1, ones[c]) for j, c in enumerate(chosen)]
    return [k for _, _, k in sorted(keyed)]


def read_photo(path: Path) -> tuple[np.ndarray, float, float]:
    """A photo as BGR at 640x480, and the x and y factors it was resized by."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ClipError(f"cannot read photo {path}")
    h, w = img.shape[:2]
    if (w, h) != (WIDTH, HEIGHT):
        img = cv2.resize(img, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    return img, WIDTH / w, HEIGHT / h


def shifted_box(box, sx: float, sy: float, dx: float, dy: float) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = np.clip([x0 * sx + dx, x1 * sx + dx], 0, WIDTH)
    y0, y1 = np.clip([y0 * sy + dy, y1 * sy + dy], 0, HEIGHT)
    return [round(float(x0), 2), round(float(y0), 2), round(float(x1), 2), round(float(y1), 2)]


def make_clip(shared: Path, out: Path, splits: list[str], hold: int, fps: float, shake: float, one_hand: int,
              limit: int | None, seed: int) -> dict:
    """Write the clip and its sidecar; returns the sidecar."""
    import cv2

    root, boxes = load_boxes(shared)
    rng = np.random.default_rng(seed)
    photos = pick_photos(boxes, splits, one_hand, limit, rng)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise ClipError(f"cannot write video {out}")
    frames, listed = [], []
    try:
        for key in photos:
            img, sx, sy = read_photo(root / key)
            entries = boxes[key]
            listed.append({"photo": key, "hands": len(entries), "first_frame": len(frames), "frames": hold})
            for _ in range(hold):
                dx, dy = (float(v) for v in rng.uniform(-shake, shake, size=2))
                m = np.float32([[1, 0, dx], [0, 1, dy]])
                writer.write(cv2.warpAffine(img, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REFLECT_101))
                frames.append({"frame": len(frames), "photo": key, "hands": len(entries),
                               "shift": [round(dx, 3), round(dy, 3)],
                               "boxes": [shifted_box(e["box_xyxy"], sx, sy, dx, dy) for e in entries],
                               "labels": [e.get("label") for e in entries]})
    except BaseException:
        writer.release()
        out.unlink(missing_ok=True)  # no half-written clip
        raise
    writer.release()
    two = sum(p["hands"] == 2 for p in listed)
    sidecar = {
        "schema": SIDECAR_SCHEMA, "video": out.name, "frame_size": [HEIGHT, WIDTH], "fps": fps, "hold": hold,
        "shake_px": shake, "seed": seed, "splits": splits, "source": str(root),
        "counts": {"photos": len(listed), "two_hand_photos": two, "one_hand_photos": len(listed) - two,
                   "frames": len(frames), "seconds": round(len(frames) / fps, 3)},
        "photos": listed, "frames": frames,
    }
    sidecar_path(out).write_text(json.dumps(sidecar, indent=1) + "\n")
    return sidecar


# -------------------------------------------------------------------------------------------- check

def counted_hands(record: dict, min_presence: float | None) -> list[dict]:
    """The hands of one JSONL record that count as found."""
    hands = record.get("hands") or []
    out = []
    for h in hands:
        if min_presence is not None and float(h.get("presence") or 0.0) < min_presence:
            continue
        out.append(h)
    return out


def hand_centre(hand: dict, use: str = "keypoints") -> tuple[float, float] | None:
    """(x, y) of a hand: the mean of its finite keypoints_2d (``use='keypoints'``), else its box centre,
    else its ``center``; None when it has none of them."""
    if use == "keypoints" and hand.get("keypoints_2d"):
        k = np.asarray(hand["keypoints_2d"], dtype=np.float64).reshape(-1, 2)
        k = k[np.isfinite(k).all(axis=1)]
        if len(k):
            return float(k[:, 0].mean()), float(k[:, 1].mean())
    if hand.get("box") and len(hand["box"]) == 4:
        x0, y0, x1, y1 = (float(v) for v in hand["box"])
        return (x0 + x1) / 2, (y0 + y1) / 2
    if hand.get("center") and len(hand["center"]) == 2:
        return float(hand["center"][0]), float(hand["center"][1])
    return None


def match(centres: list, boxes: list) -> list[tuple[int, int]]:
    """A largest set of (hand, box) pairs with the hand's centre inside the box, each hand and box used
    at most once (augmenting paths; a hand tries the boxes whose centre is nearest first)."""
    options = []
    for c in centres:
        inside = []
        if c is not None:
            for b, (x0, y0, x1, y1) in enumerate(boxes):
                if x0 <= c[0] <= x1 and y0 <= c[1] <= y1:
                    inside.append((np.hypot(c[0] - (x0 + x1) / 2, c[1] - (y0 + y1) / 2), b))
        options.append([b for _, b in sorted(inside)])
    owner: dict[int, int] = {}

    def augment(h: int, seen: set) -> bool:
        for b in options[h]:
            if b in seen:
                continue
            seen.add(b)
            if b not in owner or augment(owner[b], seen):
                owner[b] = h
                return True
        return False

    for h in range(len(centres)):
        augment(h, set())
    return sorted((h, b) for b, h in owner.items())


def read_jsonl(path: Path) -> dict[int, dict]:
    """frame index -> record (the ``frame`` field, else the line number)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ClipError(f"cannot read {path}: {e.strerror or e}") from None
    records = {}
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError as e:
            raise ClipError(f"{path} line {n + 1} is not JSON: {e}") from None
        if not isinstance(r, dict):
            raise ClipError(f"{path} line {n + 1} is not a JSON object")
        records[int(r.get("frame", n))] = r
    return records


def read_sidecar(path: Path) -> dict:
    try:
        truth = json.loads(path.read_text())
    except OSError as e:
        raise ClipError(f"cannot read sidecar {path}: {e.strerror or e} (make the clip first, or pass --truth)") \
            from None
    except ValueError as e:
        raise ClipError(f"sidecar {path} is not JSON: {e}") from None
    if not isinstance(truth, dict) or not isinstance(truth.get("frames"), list):
        raise ClipError(f"sidecar {path} has no 'frames' list")
    return truth


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def check(records: dict[int, dict], truth: dict, min_presence: float | None = None,
          centre: str = "keypoints") -> dict:
    """The summary of one run's JSONL against the clip's sidecar."""
    frames = truth["frames"]
    by_count: dict[int, dict] = {}
    totals = {"expected_hands": 0, "found_hands": 0, "matched_hands": 0, "false_hands": 0}
    sides = {"different": 0, "same": 0, "unknown": 0, "matched_different": 0}
    photos: dict[str, dict] = {}
    missing = errors = 0
    for f in frames:
        expected = int(f["hands"])
        row = by_count.setdefault(expected, {"frames": 0, "right_count": 0, "fewer": 0, "more": 0, "found_sum": 0,
                                             "matched": 0, "all_matched": 0})
        row["frames"] += 1
        record = records.get(int(f["frame"]))
        if record is None:
            missing += 1
            found = []
        else:
            if record.get("hands") is None:
                errors += 1
            found = counted_hands(record, min_presence)
        centres = [hand_centre(h, centre) for h in found]
        pairs = match(centres, f["boxes"])
        n = len(found)
        row["found_sum"] += n
        row["right_count"] += n == expected
        row["fewer"] += n < expected
        row["more"] += n > expected
        row["matched"] += len(pairs)
        row["all_matched"] += len(pairs) == expected == n
        totals["expected_hands"] += expected
        totals["found_hands"] += n
        totals["matched_hands"] += len(pairs)
        totals["false_hands"] += n - len(pairs)
        if expected == 2 and n == 2:
            s = {found[0].get("side"), found[1].get("side")}
            key = "different" if s == {"left", "right"} else "unknown" if not s <= {"left", "right"} else "same"
            sides[key] += 1
            sides["matched_different"] += key == "different" and len(pairs) == 2
        p = photos.setdefault(f["photo"], {"photo": f["photo"], "hands": expected, "frames": 0, "right_count": 0,
                                           "all_matched": 0})
        p["frames"] += 1
        p["right_count"] += n == expected
        p["all_matched"] += len(pairs) == expected == n
    rows = {}
    for expected, row in sorted(by_count.items()):
        rows[str(expected)] = {**row, "mean_found": _ratio(row["found_sum"], row["frames"]),
                               "right_count_rate": _ratio(row["right_count"], row["frames"]),
                               "all_matched_rate": _ratio(row["all_matched"], row["frames"])}
    n_frames = len(frames)
    two_found = by_count.get(2, {}).get("right_count", 0)
    worst = sorted(photos.values(), key=lambda p: (p["right_count"] / p["frames"], p["photo"]))
    return {
        "frames": n_frames, "frames_in_jsonl": n_frames - missing, "frames_missing": missing,
        "frames_without_result": errors, "extra_jsonl_frames": len(set(records) - {int(f["frame"]) for f in frames}),
        "counting": f"presence >= {min_presence}" if min_presence is not None else "every hand listed",
        "centre": centre,
        "by_expected": rows,
        "mean_expected": _ratio(totals["expected_hands"], n_frames),
        "mean_found": _ratio(totals["found_hands"], n_frames),
        "right_count_frames": sum(r["right_count"] for r in by_count.values()),
        "right_count_rate": _ratio(sum(r["right_count"] for r in by_count.values()), n_frames),
        **totals,
        "box_recall": _ratio(totals["matched_hands"], totals["expected_hands"]),
        "precision": _ratio(totals["matched_hands"], totals["found_hands"]),
        "two_hand_frames_sides": {**sides, "of_frames_with_two_found": two_found,
                                  "different_rate": _ratio(sides["different"], two_found)},
        "photos_all_frames_right_count": sum(p["right_count"] == p["frames"] for p in photos.values()),
        "photos": len(photos),
        "worst_photos": worst[:10],
    }


def print_table(s: dict) -> None:
    print(f"frames {s['frames']} (in JSONL {s['frames_in_jsonl']}, missing {s['frames_missing']}, "
          f"without result {s['frames_without_result']}); counting: {s['counting']}; centre: {s['centre']}")
    head = f"{'expected':>8} {'frames':>7} {'right #':>8} {'rate':>6} {'fewer':>6} {'more':>5} " \
           f"{'mean found':>10} {'matched':>8} {'all matched':>11}"
    print(head)
    print("-" * len(head))
    for expected, r in s["by_expected"].items():
        print(f"{expected:>8} {r['frames']:>7} {r['right_count']:>8} {r['right_count_rate']:>6.3f} {r['fewer']:>6} "
              f"{r['more']:>5} {r['mean_found']:>10.3f} {r['matched']:>8} {r['all_matched']:>11}")
    print("-" * len(head))
    print(f"{'all':>8} {s['frames']:>7} {s['right_count_frames']:>8} {s['right_count_rate'] or 0:>6.3f}"
          f"   mean found {s['mean_found']} vs expected {s['mean_expected']}")
    print(f"hands: expected {s['expected_hands']}, found {s['found_hands']}, matching a box {s['matched_hands']} "
          f"(box recall {s['box_recall']}, precision {s['precision']}), false {s['false_hands']}")
    d = s["two_hand_frames_sides"]
    print(f"two-hand frames with two found: {d['of_frames_with_two_found']}; sides different {d['different']}, "
          f"same {d['same']}, unknown {d['unknown']}; different and both matched {d['matched_different']}")
    print(f"photos with the right count in every frame: {s['photos_all_frames_right_count']} of {s['photos']}")


# --------------------------------------------------------------------------------------------- main

def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def _nonnegative(kind):
    def parse(text: str):
        v = kind(text)
        if v < 0:
            raise argparse.ArgumentTypeError("must be >= 0")
        return v
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="{make,check}")
    m = sub.add_parser("make", help="build the clip and its sidecar from the subhih photos",
                       description="Build a 640x480 MP4 from the subhih photos holding two hands, and CLIP.truth.json.")
    m.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help=f"the shared folder holding data/real_train/subhih (default: ../shared next to the "
                        f"repository, here {DEFAULT_SHARED})")
    m.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "handcam_two_hands.mp4",
                   help="the video to write, outside the repository; the sidecar goes next to it as "
                        "NAME.truth.json (default: %(default)s)")
    m.add_argument("--split", choices=("test", "train", "both"), default="test",
                   help="which photos: the held-out test split (default), train, or both")
    m.add_argument("--hold", type=_positive_int, default=8, help="frames per photo (default: %(default)s)")
    m.add_argument("--fps", type=float, default=15.0, help="frame rate of the video (default: %(default)s)")
    m.add_argument("--shake", type=_nonnegative(float), default=1.5,
                   help="largest camera shift in pixels, drawn per frame and axis uniformly from "
                        "[-SHAKE, SHAKE], sub-pixel (default: %(default)s; 0: identical frames per photo)")
    m.add_argument("--one-hand", type=_nonnegative(int), default=0, metavar="N",
                   help="also insert N one-hand photos of the same split(s), spread evenly (default: 0)")
    m.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="use only the first N two-hand photos (by name) for a short clip (default: all)")
    m.add_argument("--seed", type=int, default=0, help="seed of the shake and the one-hand sample (default: 0)")
    c = sub.add_parser("check", help="score a handcam JSONL run on the clip against its sidecar",
                       description="Compare `python main.py --video CLIP --headless --json OUT.jsonl` with "
                                   "CLIP.truth.json.")
    c.add_argument("jsonl", type=Path, help="the JSONL written by main.py --headless --json")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--clip", type=Path, help="the clip (its sidecar CLIP.truth.json is read)")
    src.add_argument("--truth", type=Path, help="the sidecar JSON itself")
    c.add_argument("--json", type=Path, metavar="OUT", help="write the summary as JSON")
    c.add_argument("--min-presence", type=float, default=None, metavar="P",
                   help="count a hand when its presence >= P (default: every hand listed; the estimator lists "
                        "only hands at its --presence-threshold)")
    c.add_argument("--centre", choices=("keypoints", "box"), default="keypoints",
                   help="the point of a found hand tested against the boxes: the mean of its keypoints_2d "
                        "(default; the box centre when it has none) or its crop box centre")
    return p


def _inside_repo(path: Path) -> bool:
    try:
        path.resolve().relative_to(ROOT)
        return True
    except ValueError:
        return False


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "make":
            if args.fps <= 0:
                raise ClipError("--fps must be > 0")
            if _inside_repo(args.out):
                raise ClipError(f"--out {args.out} is inside the repository; the clip is shared data, write it "
                                f"elsewhere (e.g. {tempfile.gettempdir()})")
            splits = ["test", "train"] if args.split == "both" else [args.split]
            s = make_clip(args.shared, args.out, splits, args.hold, args.fps, args.shake, args.one_hand,
                          args.limit, args.seed)
            n = s["counts"]
            print(f"wrote {args.out}: {n['frames']} frames ({n['seconds']:.1f} s at {args.fps:g} fps) from "
                  f"{n['two_hand_photos']} two-hand and {n['one_hand_photos']} one-hand photos of "
                  f"{'+'.join(splits)}, {args.hold} frames each; truth in {sidecar_path(args.out)}")
        else:
            truth = read_sidecar(args.truth if args.truth else sidecar_path(args.clip))
            summary = check(read_jsonl(args.jsonl), truth, args.min_presence, args.centre)
            print_table(summary)
            if args.json:
                try:
                    args.json.write_text(json.dumps(summary, indent=1) + "\n")
                except OSError as e:
                    raise ClipError(f"cannot write {args.json}: {e.strerror or e}") from None
                print(f"wrote {args.json}")
    except ClipError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
