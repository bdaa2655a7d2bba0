"""training.showcase: which photos a sheet takes, and a sheet drawn with a stand-in estimator."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import synthetic_frame
from core_fakes import blob_estimator

from training import showcase as S
from training.errors import TrainingError


def _photos(folder, n):
    folder.mkdir()
    paths = []
    for i in range(n):
        p = folder / f"{i:02d}.png"
        cv2.imwrite(str(p), cv2.cvtColor(synthetic_frame(120, 160, seed=i), cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def test_collect_images_spreads_evenly_over_files_and_folders(tmp_path):
    paths = _photos(tmp_path / "a", 9)
    assert S.collect_images([tmp_path / "a"], 3) == [paths[0], paths[4], paths[8]]
    assert S.collect_images([tmp_path / "a", paths[2]], 100) == paths + [paths[2]]
    with pytest.raises(TrainingError, match="no such image"):
        S.collect_images([tmp_path / "missing"], 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no images"):
        S.collect_images([tmp_path / "empty"], 3)


def test_sheet_has_a_tile_per_photo_and_draws_only_found_hands(tmp_path):
    est = blob_estimator("lite", side="right")
    paths = _photos(tmp_path / "a", 3)
    no_hand = tmp_path / "no_hand.png"      # channels swapped: no skin-coloured blob
    cv2.imwrite(str(no_hand), synthetic_frame(120, 160))
    sheet = S.showcase(est, paths + [no_hand], cols=2, tile_size=(200, 160))
    assert sheet.shape == (2 * 160, 2 * 200, 3) and sheet.dtype == np.uint8
    frame = synthetic_frame(120, 160, seed=0)
    drawn = S.tile(frame, est.estimate(frame), (200, 160))
    plain = S.tile(frame, est.estimate(frame, est.settings.replace(presence_threshold=1.0)), (200, 160))
    # scale min(200 / 160, 140 / 120) = 7/6: a 186 x 140 photo at x 7, under a 20-pixel caption
    photo = cv2.resize(frame, (186, 140), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(plain[20:160, 7:193], photo)      # nothing found: nothing drawn
    assert np.abs(drawn[20:160, 7:193].astype(int) - photo.astype(int)).max() > 100   # the found hand is drawn


def test_main_writes_the_sheet(tmp_path, capsys, monkeypatch):
    _photos(tmp_path / "a", 2)
    monkeypatch.setattr(S.HandPoseEstimator, "load", classmethod(lambda cls, *a, **k: blob_estimator("lite")))
    out = tmp_path / "sheet.png"
    assert S.main(["--images", str(tmp_path / "a"), "--out", str(out), "--count", "2"]) == 0
    assert cv2.imread(str(out)) is not None and "2 photos" in capsys.readouterr().out


def test_each_takes_count_photos_from_every_path(tmp_path, capsys, monkeypatch):
    _photos(tmp_path / "a", 5)
    _photos(tmp_path / "b", 1)
    monkeypatch.setattr(S.HandPoseEstimator, "load", classmethod(lambda cls, *a, **k: blob_estimator("lite")))
    out = tmp_path / "sheet.png"
    assert S.main(["--images", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--count", "2",
                   "--each", "--cols", "3"]) == 0
    assert "3 photos" in capsys.readouterr().out          # 2 of a's 5, b's only one
    assert cv2.imread(str(out)).shape[1] == 3 * 320
