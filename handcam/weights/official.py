"""The authors' ColorHandPose3D weights: their TF variable table, the checked conversion of their
pickles into handcam weights, and the download of their data zip.

The official pickles are only unpickled after their sha256 matches the table below (or when the
caller explicitly skips the check, e.g. for the random test weights), and then through
``handcam.safe_pickle``, which admits nothing but numpy arrays.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError, WeightsNotFoundError
from ..models import registry
from ..safe_pickle import load_numpy_pickle
from . import HOW_TO_GET_WEIGHTS, cache_dir, save_weights

log = logging.getLogger(__name__)

#: The authors' data zip (weights + samples); unzips to data/, results/, weights/.
OFFICIAL_ZIP_URL = "https://lmb.informatik.uni-freiburg.de/projects/hand3d/ColorHandPose3D_data_v3.zip"

#: Official weight files: name -> (size in bytes, sha256). Facts recorded from the release's Git LFS
#: pointers; a copy from anywhere else must match them before it is unpickled.
OFFICIAL_SHA256 = {
    "handsegnet-rhd.pickle": (82069342, "852829a63e8e5e4742b40315e2fd20492be5edb856aa92878dac7cbdc76e39fa"),
    "posenet3d-rhd-stb-slr-finetuned.pickle":
        (129626194, "749556a1b26be054836a1b2df6f3dfc8430f1ad124b901aabbba16c1d6b09c97"),
    "posenet3d-rhd-stb.pickle": (129691995, "b9df768534052696161cb337a8d71cd4ac5aed0fd6c9d17c1272ef7b3f7d9853"),
    "posenet-rhd-stb-slr-finetuned.pickle":
        (106288551, "cbc40e768793cff7ab1dda4a300ca81aec3162f541444b5c6ad3574bb7d984fa"),
    "posenet-rhd-stb.pickle": (106363234, "c60e3a7b34bbbc5a9c664d23b51a4baa1be8f921c006d956d63091116feecf57"),
    "lifting-proposed.pickle": (23289189, "300f083cbc3d7064a7179a031d7f8096ffde3b6676cbc381658ccbc9eb494100"),
    "lifting-bottleneck.pickle": (9620823, "61ae0d9d99eb5956aece6d196bf7fa7bea84addc61b4f04bd802e49b999f76fa"),
    "lifting-direct.pickle": (9730417, "8e05804a01edebcea46055937aaf2f0af843be622cba8b092d535589e0799245"),
    "lifting-local.pickle": (9740490, "8eb4de049bea097ca076995db560f710c1be747f9ab07b4d8e7160468f3cf548"),
    "lifting-local_w_xyz_loss.pickle": (9715073, "ed8844d69bc74ed8e9b0acabaf123e13a29001920c32cdc1d8c554381bfe971e"),
}

#: The pickles the default pipeline converts (segmentation + 2D + lifting in one file).
DEFAULT_HANDSEGNET = "handsegnet-rhd.pickle"
DEFAULT_POSENET = "posenet3d-rhd-stb-slr-finetuned.pickle"


# ----------------------------------------------------------------------------------------------
# The official variable table: TF name -> (network key, parameter name, TF shape)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OfficialVariable:
    tf_name: str       # e.g. "PoseNet2D/conv6_1/weights"
    network: str       # key in NETWORKS
    param: str         # e.g. "conv6_1.conv.weight"
    tf_shape: tuple    # HWIO for convs, [in, out] for FC, [n] for biases

    @property
    def pickle_file(self) -> str:
        return DEFAULT_HANDSEGNET if self.network == "handsegnet" else DEFAULT_POSENET


def _layer_param_base(module, layer: str) -> tuple[str, torch.nn.Module]:
    sub = getattr(module, layer)
    return (f"{layer}.conv", sub.conv) if hasattr(sub, "conv") else (f"{layer}.fc", sub.fc)


def official_variable_table() -> list[OfficialVariable]:
    """Every official variable in the release's order, mapped one-to-one onto our parameters."""
    rows = []
    for key, cls in registry.PAPER.classes().items():
        net = cls()
        for layer in cls.LAYER_NAMES:
            base, mod = _layer_param_base(net, layer)
            w = mod.weight
            tf_w = tuple(w.shape[2:]) + (w.shape[1], w.shape[0]) if w.ndim == 4 else (w.shape[1], w.shape[0])
            rows.append(OfficialVariable(f"{cls.TF_SCOPE}/{layer}/weights", key, f"{base}.weight", tf_w))
            rows.append(OfficialVariable(f"{cls.TF_SCOPE}/{layer}/biases", key, f"{base}.bias", (w.shape[0],)))
    return rows


def torch_to_tf(value: torch.Tensor) -> np.ndarray:
    """Inverse of ``tf_to_torch``: OIHW -> HWIO, [out, in] -> [in, out]."""
    v = value.detach().cpu().numpy().astype(np.float32)
    if v.ndim == 4:
        v = v.transpose(2, 3, 1, 0)
    elif v.ndim == 2:
        v = v.T
    return np.ascontiguousarray(v)


def to_official(state_dicts: dict) -> dict[str, np.ndarray]:
    """Our state dicts -> the official {TF variable name: array} layout (for export and tests)."""
    out = {}
    for r in official_variable_table():
        if r.network in state_dicts:
            out[r.tf_name] = torch_to_tf(state_dicts[r.network][r.param])
    return out


def tf_to_torch(value: np.ndarray) -> torch.Tensor:
    """HWIO conv kernel -> OIHW; [in, out] FC matrix -> [out, in]; biases unchanged."""
    value = np.asarray(value, dtype=np.float32)
    if value.ndim == 4:
        value = value.transpose(3, 2, 0, 1)
    elif value.ndim == 2:
        value = value.T
    return torch.from_numpy(np.ascontiguousarray(value))


# ----------------------------------------------------------------------------------------------
# Official pickles
# ----------------------------------------------------------------------------------------------
def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def verify_official(path: Path) -> str:
    """Check a pickle's name and sha256 against the official table; returns the official name."""
    path = Path(path)
    if path.name not in OFFICIAL_SHA256:
        raise WeightsError(
            f"{path}: not an official ColorHandPose3D file name (expected one of "
            f"{', '.join(sorted(OFFICIAL_SHA256))}); rename it, or pass --skip-checksum for test weights")
    size, digest = OFFICIAL_SHA256[path.name]
    actual = sha256_file(path)
    if actual != digest:
        raise WeightsError(
            f"{path}: sha256 {actual[:12]}… does not match the official {digest[:12]}… "
            f"({path.stat().st_size} bytes, expected {size}); the file is corrupt or not the official "
            f"one — download it again, or pass --skip-checksum only for test weights")
    return path.name


def read_official_pickle(path, skip_checksum: bool = False) -> dict[str, np.ndarray]:
    """Load an official pickle (dict name -> ndarray) after its checksum matched."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: no such file; {HOW_TO_GET_WEIGHTS}")
    if not skip_checksum:
        verify_official(path)
    try:
        with open(path, "rb") as f:
            data = load_numpy_pickle(f, "a weights pickle")
    except Exception as e:  # corrupt or not a pickle
        raise WeightsError(f"{path}: cannot read the pickle ({e.__class__.__name__}: {e}); "
                           f"the file is corrupt — download it again") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a dict of arrays, found {type(data).__name__}")
    return data


def convert_official(variables: dict[str, np.ndarray], networks=None) -> tuple[dict, list[str]]:
    """Map official variables onto our state dicts.

    ``variables`` is the union of the pickles' dicts; ``networks`` the keys to build (default: every
    network that has at least one variable present). Returns (state_dicts, ignored names). Missing or
    mis-shaped variables raise ``WeightsError`` naming them.
    """
    table = official_variable_table()
    if networks is None:
        networks = sorted({r.network for r in table if r.tf_name in variables})
    wanted = [r for r in table if r.network in networks]
    missing = [r.tf_name for r in wanted if r.tf_name not in variables]
    if missing:
        raise WeightsError(f"missing {len(missing)} variable(s) in the weights: {', '.join(missing[:6])}"
                           + (" …" if len(missing) > 6 else "")
                           + "; is this the right pickle (HandSegNet in handsegnet-rhd.pickle, "
                             "PoseNet2D/PosePrior/ViewpointNet in posenet3d-*.pickle)?")
    state = {k: {} for k in networks}
    for r in wanted:
        v = np.asarray(variables[r.tf_name])
        if tuple(v.shape) != tuple(r.tf_shape):
            raise WeightsError(f"{r.tf_name} has shape {tuple(v.shape)}, expected {tuple(r.tf_shape)}: "
                               f"these weights belong to a different architecture")
        state[r.network][r.param] = tf_to_torch(v)
    known = {r.tf_name for r in table}
    ignored = sorted(k for k in variables if k not in known)
    for name in ignored:
        log.info("ignoring %s: not a variable of the networks", name)
    return state, ignored


def convert_files(handsegnet, posenet, out, skip_checksum: bool = False) -> tuple[Path, list[str]]:
    """Convert official pickles (either may be None) into one handcam weights file."""
    variables, sources = {}, []
    for p in (handsegnet, posenet):
        if p is not None:
            variables.update(read_official_pickle(p, skip_checksum=skip_checksum))
            sources.append(Path(p).name)
    if not variables:
        raise WeightsError("nothing to convert: pass --handsegnet and/or --posenet")
    state, ignored = convert_official(variables)
    meta = {"source": "official ColorHandPose3D release (converted)", "files": ", ".join(sources),
            "trained_on": "RHD (HandSegNet); RHD + STB (PoseNet, lifting)",
            "checksum_verified": str(not skip_checksum)}
    return save_weights(out, state, meta), ignored


def _progress(total):
    try:
        from tqdm import tqdm
        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="download")
    except ImportError:  # pragma: no cover - tqdm is a requirement
        return None


def download(url: str = OFFICIAL_ZIP_URL, out=None, keep_zip: bool = True, timeout: float = 60.0) -> Path:
    """Fetch the authors' data zip, verify and convert its weights into ``out`` (default: the cache).

    The zip is cached (re-used when present and complete); each pickle inside must match the
    official sha256.
    """
    import urllib.request

    out = Path(out) if out else cache_dir() / "colorhandpose3d.pt"
    cdir = cache_dir()
    cdir.mkdir(parents=True, exist_ok=True)
    zpath = cdir / Path(url.split("?")[0]).name
    if not (zpath.is_file() and zipfile.is_zipfile(zpath)):
        tmp = zpath.with_suffix(".part")
        log.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0) or None
                bar = _progress(total)
                while True:
                    block = r.read(1 << 20)
                    if not block:
                        break
                    f.write(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
        except OSError as e:
            raise WeightsError(f"download of {url} failed ({e}); check the connection, or download the "
                               f"zip by hand and run `python -m handcam.weights convert`") from None
        os.replace(tmp, zpath)
    if not zipfile.is_zipfile(zpath):
        raise WeightsError(f"{zpath}: the download is not a zip file; delete it and try again")
    with tempfile.TemporaryDirectory() as td, zipfile.ZipFile(zpath) as z:
        found = {}
        for info in z.infolist():
            name = Path(info.filename).name
            if name in (DEFAULT_HANDSEGNET, DEFAULT_POSENET):
                target = Path(td) / name
                with z.open(info) as src, open(target, "wb") as dst:
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        dst.write(block)
                found[name] = target
        for need in (DEFAULT_HANDSEGNET, DEFAULT_POSENET):
            if need not in found:
                raise WeightsError(f"{zpath}: the zip has no {need}; is it ColorHandPose3D_data_v3.zip?")
        path, _ = convert_files(found[DEFAULT_HANDSEGNET], found[DEFAULT_POSENET], out)
    if not keep_zip:
        zpath.unlink()
    log.info("converted weights written to %s", path)
    return path
