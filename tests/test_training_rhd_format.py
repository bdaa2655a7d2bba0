"""training/rhd_format.py: RHD's depth codec, annotation pickles and sample files."""
import pickle

import cv2
import numpy as np
import pytest

from training.rhd_format import (
    decode_depth,
    encode_depth,
    load_annotations,
    sample_paths,
    save_annotations,
    write_rhd_sample,
)


def test_depth_codec():
    d = np.array([[0.0, 1.234, 4.9]], np.float32)
    assert np.abs(decode_depth(encode_depth(d)) - d).max() < 5.0 / 65535
    # (the synthetic engine's use: float64 metres, decoded in float64)
    d = np.array([[0.0, 0.3337, 1.0, 4.99999]])
    np.testing.assert_allclose(decode_depth(encode_depth(d), np.float64), d, atol=5.0 / 65535)


def test_depth_channels_are_rhds(tmp_path):
    """RHD: R high byte, G low byte, B unused; the codec works on OpenCV's B, G, R pixels."""
    v = np.array([[(200 * 256 + 7) / 65535 * 5.0]])
    assert encode_depth(v)[0, 0].tolist() == [0, 7, 200]
    write_rhd_sample(tmp_path, "training", 3, np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8),
                     encode_depth(np.full((4, 4), v[0, 0])))
    rgb = cv2.cvtColor(cv2.imread(str(sample_paths(tmp_path, "training", 3)["depth"])), cv2.COLOR_BGR2RGB)
    assert rgb[0, 0].tolist() == [200, 7, 0]


def test_unpickler_refuses_code(tmp_path):
    p = tmp_path / "evil.pickle"
    p.write_bytes(pickle.dumps({0: {"x": print}}))
    with pytest.raises(pickle.UnpicklingError, match="RHD annotation file"):
        load_annotations(p)


def test_annotations_written_by_old_numpy_load(tmp_path):
    """RHD's pickle references numpy.core.multiarray (older numpy); the safe loader accepts it."""
    anno = {7: {"xyz": np.zeros((42, 3), np.float32), "uv_vis": np.ones((42, 3)), "K": np.eye(3)}}
    blob = pickle.dumps(anno, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    p = tmp_path / "anno_training.pickle"
    p.write_bytes(blob)
    got = load_annotations(p)
    assert list(got) == [7] and got[7]["uv_vis"].shape == (42, 3) and got[7]["xyz"].dtype == np.float32


def test_save_annotations_round_trip_leaves_no_temporary(tmp_path):
    anno = {0: {"xyz": np.arange(126, dtype=np.float32).reshape(42, 3), "uv_vis": np.ones((42, 3), np.float32),
                "K": np.eye(3, dtype=np.float32)}}
    p = tmp_path / "anno_training.pickle"
    save_annotations(p, anno)
    got = load_annotations(p)
    np.testing.assert_array_equal(got[0]["xyz"], anno[0]["xyz"])
    assert [f.name for f in tmp_path.iterdir()] == ["anno_training.pickle"]
