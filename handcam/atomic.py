"""The one atomic file writer: write a temporary file beside the target, then rename it over the
target (``os.replace``), so that readers never see a half-written file and an interrupted write leaves
the old file intact. Used for weights, checkpoints, datasets and their images."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = _read_umask()


def atomic_write(path, write: Callable[[Path], None], keep_suffix: bool = False) -> Path:
    """Call ``write(tmp)`` for a fresh temporary path in ``path``'s folder (created when missing), then
    rename it to ``path``. ``keep_suffix`` ends the temporary name in ``path``'s suffix (writers that
    pick the format by the extension, e.g. ``cv2.imwrite``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp" + (path.suffix if keep_suffix else ""))
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # what open() would have given (mkstemp makes it 0600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """``atomic_write`` of a bytes object."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """``atomic_write`` of a string."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))
