"""handcam/safe_pickle.py: the one restricted unpickler (weights pickles, RHD annotations, synth records)."""
import io
import pickle

import numpy as np
import pytest

from handcam.safe_pickle import load_numpy_pickle

DATA = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, "x", None, True], "c": np.float64(3.0),
        "d": {"nested": np.eye(2)}}


def _check(got):
    assert set(got) == set(DATA)
    np.testing.assert_array_equal(got["a"], DATA["a"])
    assert got["a"].dtype == np.float32 and got["b"] == DATA["b"] and got["c"] == 3.0
    np.testing.assert_array_equal(got["d"]["nested"], np.eye(2))


@pytest.mark.parametrize("protocol", [2, 4])  # 5 stores arrays out of band (numpy._frombuffer): refused
def test_loads_numpy_and_builtins_from_path_bytes_and_file(tmp_path, protocol):
    blob = pickle.dumps(DATA, protocol=protocol)
    p = tmp_path / "ok.pickle"
    p.write_bytes(blob)
    for source in (p, str(p), blob, io.BytesIO(blob)):
        _check(load_numpy_pickle(source))


def test_numpy_1_module_names_load():
    blob = pickle.dumps(DATA, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    _check(load_numpy_pickle(blob))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("payload", [{"x": print}, _Evil(), {"y": pickle.Unpickler}])
def test_refuses_anything_else_naming_the_file(payload, capsys):
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load .* from an RHD annotation file"):
        load_numpy_pickle(pickle.dumps(payload), "an RHD annotation file")
    assert "pwned" not in capsys.readouterr().out
