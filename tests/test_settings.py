"""handcam.settings: PipelineSettings validation and field metadata, RuntimeOptions."""
import dataclasses

import numpy as np
import pytest

from handcam.settings import (
    BACKENDS,
    FALLBACK_SIDE,
    HAND_SIZE_RANGE,
    LAYOUTS,
    MASK_METHODS,
    PRECISIONS,
    REFINE_CHOICES,
    RESIZE_MODES,
    SIDE_CHOICES,
    PipelineSettings,
    RuntimeOptions,
    parse_hand_size,
    parse_keypoint_score,
    setting_default,
    setting_fields,
    setting_help,
    setting_range,
)


def test_settings_validation():
    with pytest.raises(ValueError, match="mask_threshold"):
        PipelineSettings(mask_threshold=1.5)
    with pytest.raises(ValueError, match="multiples of 8"):
        PipelineSettings(input_size=(241, 320))
    with pytest.raises(ValueError, match="resize_mode"):
        PipelineSettings(resize_mode="stretch")
    with pytest.raises(ValueError, match="auto.*left.*right"):
        PipelineSettings(hand_side="both")
    with pytest.raises(ValueError, match="presence_threshold"):
        PipelineSettings(presence_threshold=1.5)
    with pytest.raises(ValueError, match="crop_factor"):
        PipelineSettings(crop_factor=0.0)
    with pytest.raises(ValueError, match="multiples of 8"):
        PipelineSettings(input_size=(0, 8))


def test_defaults_are_the_release_and_the_family_size():
    s = PipelineSettings()
    assert (s.crop_factor, s.mask_threshold, s.resize_mode, s.hand_side) == (1.25, 0.5, "faithful", "auto")
    assert s.presence_threshold == 0.5 and FALLBACK_SIDE == "left"  # "auto" without a left/right mask
    assert s.input_size is None  # the network family's own size (the estimator fills it in)
    assert not {"tracking", "redetect_every", "track_min_score"} & set(setting_fields())  # moved to tracking


def test_replace_returns_a_validated_copy():
    s = PipelineSettings()
    t = s.replace(crop_factor=2.0, hand_side="right")
    assert (t.crop_factor, t.hand_side) == (2.0, "right") and s.crop_factor == 1.25
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.crop_factor = 3.0
    with pytest.raises(ValueError, match="mask_threshold"):
        s.replace(mask_threshold=0.0)


def test_field_metadata():
    fields = setting_fields()
    assert list(fields) == ["crop_factor", "mask_threshold", "input_size", "resize_mode", "hand_side",
                            "presence_threshold", "max_hands", "mirrored", "fov_deg", "intrinsics", "bone_length_m",
                            "hand_size", "refine_crops", "min_keypoint_score"]
    for name, f in fields.items():
        assert setting_help(name) and f.metadata["help"] == setting_help(name)
        assert setting_default(name) == getattr(PipelineSettings(), name)
    assert setting_range("crop_factor") == (1.0, 2.0)
    lo, hi = setting_range("mask_threshold")
    assert 0 < lo < setting_default("mask_threshold") < hi < 1
    with pytest.raises(KeyError, match="hand_side"):
        setting_range("hand_side")
    assert fields["resize_mode"].metadata["choices"] == RESIZE_MODES
    assert fields["hand_side"].metadata["choices"] == SIDE_CHOICES == ("auto", "left", "right")
    lo, hi = setting_range("presence_threshold")
    assert (lo, hi) == (0.0, 0.95) and lo < setting_default("presence_threshold") < hi
    assert setting_default("max_hands") == 2 and setting_range("max_hands") == (1, 4)
    assert setting_default("mirrored") is False and fields["intrinsics"].metadata["nargs"] == 4
    assert fields["input_size"].metadata["flag"] is False  # not a command-line flag


def test_refine_crops_setting():
    fields = setting_fields()
    assert fields["refine_crops"].metadata["choices"] == REFINE_CHOICES == ("auto", "on", "off")
    assert setting_default("refine_crops") == "auto" and "keypoints" in setting_help("refine_crops")
    for value in REFINE_CHOICES:
        s = PipelineSettings(refine_crops=value)
        assert s.refine_crops == value and s.replace(crop_factor=1.5).refine_crops == value
        assert PipelineSettings(**dataclasses.asdict(s)) == s                         # round trip
    with pytest.raises(ValueError, match="refine_crops.*auto.*on.*off"):
        PipelineSettings(refine_crops="always")
    with pytest.raises(ValueError, match="refine_crops"):
        PipelineSettings().replace(refine_crops=True)
    # auto follows what the weights say; on / off force it; the release's settings keep it off
    assert [PipelineSettings(refine_crops=v).refines(True) for v in REFINE_CHOICES] == [True, True, False]
    assert [PipelineSettings(refine_crops=v).refines(False) for v in REFINE_CHOICES] == [False, True, False]
    release = PipelineSettings.release()
    assert release.refine_crops == "off" and not release.refines(True)
    assert PipelineSettings.release(refine_crops="on").refines(False)


def test_min_keypoint_score_setting():
    fields = setting_fields()
    assert setting_default("min_keypoint_score") == "auto" and "keypoints" in setting_help("min_keypoint_score")
    assert fields["min_keypoint_score"].metadata["parse"] is parse_keypoint_score
    assert setting_range("min_keypoint_score") == (0.0, 1.0)
    for value, expected in (("auto", "auto"), (" auto ", "auto"), ("0.25", 0.25), (0.3, 0.3), (0, 0.0), (1, 1.0)):
        got = PipelineSettings(min_keypoint_score=value).min_keypoint_score
        assert got == expected and type(got) is type(expected)
    for bad in ("often", 1.5, -0.1, True, None):
        with pytest.raises(ValueError, match="min_keypoint_score"):
            PipelineSettings(min_keypoint_score=bad)
    # auto takes the weights' floor, a number overrides it; the release reports every hand
    assert PipelineSettings().keypoint_score_floor(0.2) == 0.2
    assert PipelineSettings(min_keypoint_score=0.1).keypoint_score_floor(0.2) == 0.1
    assert PipelineSettings(min_keypoint_score=0).keypoint_score_floor(0.2) == 0.0
    assert PipelineSettings.release().keypoint_score_floor(0.2) == 0.0


def test_runtime_options():
    r = RuntimeOptions()
    assert (r.precision, r.backend, r.layout, r.compile, r.mask_method, r.uint8_resize) == \
        ("fp32", "auto", "auto", False, "auto", None)
    for name, allowed in (("precision", PRECISIONS), ("backend", BACKENDS), ("layout", LAYOUTS),
                          ("mask_method", MASK_METHODS)):
        for value in allowed:
            assert getattr(RuntimeOptions(**{name: value}), name) == value
        with pytest.raises(ValueError, match=name):
            RuntimeOptions(**{name: "nonsense"})
    assert set(LAYOUTS) == {"auto", "channels_last", "contiguous", "probe"}
    assert r.replace(layout="probe").layout == "probe" and r.layout == "auto"


def test_hand_size_setting():
    fields = setting_fields()
    assert setting_default("hand_size") == "bone" and "middle finger" in setting_help("hand_size")
    assert setting_range("hand_size") == HAND_SIZE_RANGE and fields["hand_size"].metadata["parse"] is parse_hand_size
    for value, expected in (("auto", "auto"), ("bone", "bone"), (0.19, 0.19), ("0.2", 0.2), (np.float32(0.18), 0.18)):
        s = PipelineSettings(hand_size=value)
        assert s.hand_size == (pytest.approx(expected) if isinstance(expected, float) else expected)
        assert PipelineSettings(**dataclasses.asdict(s)) == s                         # round trip
    assert type(PipelineSettings(hand_size="0.2").hand_size) is float
    for bad in ("big", 19, 0.0, float("nan"), True, None):
        with pytest.raises(ValueError, match="hand_size"):
            PipelineSettings(hand_size=bad)
