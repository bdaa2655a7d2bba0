"""Backgrounds: photographs found at run time in installed packages, and procedural textures.

Nothing is downloaded. Photos are looked up in the folders of Debian's wallpaper packages (for example
``mate-backgrounds``, ``gnome-backgrounds``), scikit-image's sample data if that package is installed,
and any folders listed in the environment variable ``HANDCAM_SYNTH_BACKGROUNDS`` (colon-separated).
With none of them present, every background is procedural. Licences are read from the Debian
copyright files so that the dataset README can list them.
"""
from __future__ import annotations

import fnmatch
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: Folders searched for photographs, with the Debian package that owns them (None: not Debian's).
PHOTO_ROOTS: tuple[tuple[str, str | None], ...] = (
    ("/usr/share/backgrounds/mate", "mate-backgrounds"),
    ("/usr/share/backgrounds/gnome", "gnome-backgrounds"),
    ("/usr/share/backgrounds/sway", "sway-backgrounds"),
    ("/usr/share/backgrounds", None),
    ("/usr/share/wallpapers", None),
)
_EXTS = (".jpg", ".jpeg", ".png")
_MIN_BYTES = 40_000


@dataclass(frozen=True)
class Photo:
    path: str
    package: str | None
    licence: str
    copyright: str


def _skimage_data_dir() -> str | None:
    try:
        spec = importlib.util.find_spec("skimage")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "data"
    return str(d) if d.is_dir() else None


def _dep5(package: str) -> list[tuple[list[str], str, str]]:
    """(file patterns, licence, copyright) paragraphs of a Debian machine-readable copyright file."""
    path = Path("/usr/share/doc") / package / "copyright"
    if not path.is_file():
        return []
    out = []
    for para in path.read_text(errors="replace").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, val = line.split(":", 1)
                fields[key] = val.strip()
        if "Files" in fields:
            out.append((fields["Files"].split(), fields.get("License", "").split("\n")[0].strip(),
                        fields.get("Copyright", "").strip()))
    return out


def find_photos(extra: str | None = None) -> list[Photo]:
    """Every usable photograph on this machine, sorted by path (so runs are reproducible)."""
    roots: list[tuple[str, str | None]] = list(PHOTO_ROOTS)
    sk = _skimage_data_dir()
    if sk:
        roots.append((sk, "scikit-image"))
    env = extra if extra is not None else os.environ.get("HANDCAM_SYNTH_BACKGROUNDS", "")
    roots += [(p, None) for p in env.split(":") if p]
    seen: dict[str, Photo] = {}
    for root, pkg in roots:
        if not os.path.isdir(root):
            continue
        paras = _dep5(pkg) if pkg and pkg != "scikit-image" else []
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                if path in seen or not name.lower().endswith(_EXTS) or os.path.getsize(path) < _MIN_BYTES:
                    continue
                rel = os.path.relpath(path, root)
                lic, cop = ("see the package's copyright file" if pkg else "unknown (user supplied)"), ""
                if pkg == "scikit-image":
                    lic = "scikit-image sample data (see skimage/data/README.txt; mostly public domain / CC0)"
                for pats, plic, pcop in paras:     # later paragraphs win, as in DEP-5
                    if any(fnmatch.fnmatch(rel, p) for p in pats):
                        lic, cop = plic, pcop
                seen[path] = Photo(path=path, package=pkg, licence=lic, copyright=cop)
    photos = sorted(seen.values(), key=lambda p: p.path)
    log.info("found %d background photographs", len(photos))
    return photos


class BackgroundBank:
    """Decodes photos lazily (reduced size) and caches them in this process."""

    def __init__(self, photos: list[Photo], max_side: int = 720):
        self.photos = photos
        self.max_side = max_side
        self._cache: dict[int, np.ndarray] = {}

    def _get(self, i: int) -> np.ndarray | None:
        if i not in self._cache:
            p = self.photos[i].path
            size = os.path.getsize(p)
            flag = cv2.IMREAD_COLOR
            if p.lower().endswith((".jpg", ".jpeg")):
                flag = (cv2.IMREAD_REDUCED_COLOR_8 if size > 6e6 else cv2.IMREAD_REDUCED_COLOR_4 if size > 2e6
                        else cv2.IMREAD_REDUCED_COLOR_2 if size > 5e5 else cv2.IMREAD_COLOR)
            img = cv2.imread(p, flag)
            if img is None:
                log.warning("cannot read background %s", p)
                self._cache[i] = None
                return None
            h, w = img.shape[:2]
            s = self.max_side / max(h, w)
            if s < 1:
                img = cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
            self._cache[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return self._cache[i]

    def preload(self) -> None:
        """Decode every photo now (a worker decodes each lazily, on first use)."""
        for i in range(len(self.photos)):
            self._get(i)

    def images(self) -> list[np.ndarray]:
        """Every readable photo, decoded (RGB uint8, longer side at most ``max_side``)."""
        return [img for img in (self._get(i) for i in range(len(self.photos))) if img is not None]

    def sample(self, rng: np.random.Generator, size: int, p_photo: float = 0.55) -> tuple[np.ndarray, str]:
        """An sRGB float background (size, size, 3) in [0, 1] and where it came from."""
        if self.photos and rng.uniform() < p_photo:
            i = int(rng.integers(len(self.photos)))
            img = self._get(i)
            if img is not None:
                return _random_crop(img, rng, size), os.path.basename(self.photos[i].path)
        kind = rng.choice(["room", "clutter", "noise", "pattern"], p=[0.35, 0.3, 0.2, 0.15])
        return procedural(rng, size, str(kind)), f"procedural:{kind}"


def _random_crop(img: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.25, 1.0))
    side = max(side, 16)
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = img[y:y + side, x:x + side]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    if rng.uniform() < 0.5:
        crop = crop[:, ::-1]
    if rng.uniform() < 0.15:
        crop = np.rot90(crop, int(rng.integers(1, 4)))
    out = crop.astype(np.float32) / 255.0
    out = out * rng.normal(1.0, 0.08, 3).astype(np.float32)          # white balance
    return np.clip(out, 0, 1)


def _noise(rng: np.random.Generator, size: int, octaves=(4, 8, 16, 48), falloff=0.55) -> np.ndarray:
    acc = np.zeros((size, size), np.float32)
    amp, tot = 1.0, 0.0
    for o in octaves:
        small = rng.uniform(-1, 1, (o, o)).astype(np.float32)
        acc += amp * cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        tot += amp
        amp *= falloff
    return acc / tot


def _colour(rng):
    """Mostly muted colours (walls, furniture, clothes), sometimes saturated ones."""
    hsv = np.array([[[rng.uniform(0, 180), 255 * rng.beta(1.0, 2.5), 255 * rng.uniform(0.1, 0.95)]]], np.uint8)
    return (cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] / 255.0).astype(np.float32)


def procedural(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    """Procedural sRGB float backgrounds: 'room', 'clutter', 'noise', 'pattern'."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "noise":
        n = _noise(rng, size)[..., None]
        a, b = _colour(rng), _colour(rng)
        img = a + (b - a) * np.clip(n * 1.5 + 0.5, 0, 1)
    elif kind == "pattern":
        ang = rng.uniform(0, np.pi)
        f = rng.uniform(4, 40)
        t = (xx * np.cos(ang) + yy * np.sin(ang)) * f
        wave = np.sin(t * 2 * np.pi) if rng.uniform() < 0.5 else np.sign(np.sin(t * 2 * np.pi))
        if rng.uniform() < 0.4:      # checks / fabric weave
            wave = wave * np.sign(np.sin((-xx * np.sin(ang) + yy * np.cos(ang)) * f * 2 * np.pi))
        a, b = _colour(rng), _colour(rng)
        img = a + (b - a) * (0.5 + 0.5 * wave[..., None]) + 0.1 * _noise(rng, size)[..., None]
    elif kind == "room":
        wall = _colour(rng) * 0.6 + 0.35
        img = np.broadcast_to(wall, (size, size, 3)).astype(np.float32).copy()
        img *= (1.0 - 0.35 * (yy + rng.uniform(-0.3, 0.3) * xx))[..., None]
        if rng.uniform() < 0.6:      # floor or desk
            h = int(size * rng.uniform(0.55, 0.9))
            img[h:] = _colour(rng) * (0.6 + 0.3 * _noise(rng, size)[h:, :, None] + 0.2)
        for _ in range(rng.integers(2, 9)):   # furniture, doors, windows, posters, shelves
            x0, y0 = rng.integers(0, size, 2)
            w, h = rng.integers(size // 12, size // 2, 2)
            col = _colour(rng)
            img[y0:y0 + h, x0:x0 + w] = col * (0.8 + 0.2 * _noise(rng, size, (4, 8))[y0:y0 + h, x0:x0 + w, None])
            cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), tuple(float(c) for c in col * 0.5), 1)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.5))
    else:   # clutter
        img = np.broadcast_to(_colour(rng), (size, size, 3)).astype(np.float32).copy()
        for _ in range(rng.integers(8, 30)):
            col = tuple(float(c) for c in _colour(rng))
            if rng.uniform() < 0.5:
                pts = (rng.uniform(-0.1, 1.1, (int(rng.integers(3, 7)), 2)) * size).astype(np.int32)
                cv2.fillPoly(img, [pts], col)
            elif rng.uniform() < 0.5:
                c = tuple(int(v) for v in rng.integers(0, size, 2))
                cv2.ellipse(img, c, tuple(int(v) for v in rng.integers(4, size // 3, 2)), float(rng.uniform(0, 180)),
                            0, 360, col, -1)
            else:
                p1 = tuple(int(v) for v in rng.integers(0, size, 2))
                p2 = tuple(int(v) for v in rng.integers(0, size, 2))
                cv2.line(img, p1, p2, col, int(rng.integers(1, 8)))
        img += 0.08 * _noise(rng, size)[..., None]
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 2.0))
    return np.clip(img, 0, 1).astype(np.float32)


def licence_table(photos: list[Photo]) -> str:
    """Markdown list of the photographs and their licences."""
    if not photos:
        return "No photographs were found; every background is procedural.\n"
    lines = ["| photograph | package | licence | copyright |", "|---|---|---|---|"]
    for p in photos:
        lines.append(f"| `{p.path}` | {p.package or '-'} | {p.licence or '?'} | {p.copyright or '-'} |")
    return "\n".join(lines) + "\n"
