"""handcam.atomic: the one atomic file writer (temporary file beside the target, then a rename)."""
import os
import stat

import pytest

from handcam.atomic import atomic_write, atomic_write_bytes, atomic_write_text


def test_writes_through_a_temporary_file_beside_the_target(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path / "sub" and tmp.name.startswith(".out.bin.") and tmp.suffix == ".tmp"
        tmp.write_bytes(b"data")

    assert atomic_write(tmp_path / "sub" / "out.bin", write) == tmp_path / "sub" / "out.bin"  # folder created
    assert len(seen) == 1 and not seen[0].exists()
    assert (tmp_path / "sub" / "out.bin").read_bytes() == b"data"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.bin"]


def test_keep_suffix(tmp_path):
    names = []
    atomic_write(tmp_path / "img.png", lambda tmp: names.append(tmp.name) or tmp.write_bytes(b"x"), keep_suffix=True)
    assert names[0].endswith(".tmp.png")


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = atomic_write_text(tmp_path / "a.txt", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_bytes_text_and_permissions(tmp_path):
    assert atomic_write_bytes(tmp_path / "b", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert atomic_write_text(tmp_path / "t", "h\u00e9").read_text(encoding="utf-8") == "h\u00e9"
    mask = os.umask(0)
    os.umask(mask)
    # what open() would give, not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o666 & ~mask
