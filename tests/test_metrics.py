"""training/metrics.py: the release's PCK / AUC / EPE definitions on hand-computed examples."""
import numpy as np
import pytest

from training.metrics import auc, auc_subset, distances, plot_pck, summarize


def test_distances():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 1.0]]])
    assert distances(gt, pred).tolist() == [[5.0, 1.0]]


def test_pck_auc_epe_by_hand():
    # 2 keypoints, 4 samples; errors in px
    dist = np.array([[0.0, 10.0], [10.0, 10.0], [20.0, 40.0], [40.0, 99.0]])
    vis = np.array([[1, 1], [1, 1], [1, 1], [1, 0]], bool)  # last error of kp1 is not counted
    s = summarize(dist, vis, 0.0, 30.0, 4)  # thresholds 0, 10, 20, 30
    assert s["thresholds"] == [0.0, 10.0, 20.0, 30.0]
    # kp0 errors 0,10,20,40 -> PCK 1/4, 2/4, 3/4, 3/4 ; kp1 errors 10,10,40 -> 0, 2/3, 2/3, 2/3
    kp0 = [0.25, 0.5, 0.75, 0.75]
    kp1 = [0.0, 2 / 3, 2 / 3, 2 / 3]
    assert np.allclose(s["pck_per_keypoint"], [kp0, kp1])
    assert np.allclose(s["pck"], np.mean([kp0, kp1], 0))
    # trapezoid / range: kp0 = (0.375 + 0.625 + 0.75) * 10 / 30 ; kp1 = (1/3 + 2/3 + 2/3) * 10 / 30
    auc0 = (0.375 + 0.625 + 0.75) / 3
    auc1 = (1 / 3 + 2 / 3 + 2 / 3) / 3
    assert s["auc"] == pytest.approx((auc0 + auc1) / 2)
    # median per keypoint: kp0 median(0,10,20,40) = 15, kp1 median(10,10,40) = 10 -> 12.5
    assert s["median_epe"] == pytest.approx(12.5)
    # mean per keypoint: kp0 17.5, kp1 20 -> 18.75
    assert s["mean_epe"] == pytest.approx(18.75)
    assert s["count"] == [4, 3]


def test_keypoint_without_data_is_skipped():
    dist = np.array([[1.0, 5.0], [3.0, 7.0]])
    vis = np.array([[1, 0], [1, 0]], bool)
    s = summarize(dist, vis, 0.0, 4.0, 5)
    assert s["median_epe"] == pytest.approx(2.0) and s["mean_epe"] == pytest.approx(2.0)
    assert np.isnan(s["pck_per_keypoint"][1][0])
    assert np.allclose(s["pck"], [0, 0.5, 0.5, 1.0, 1.0])


def test_auc_and_release_subset():
    assert auc([0, 1, 2], [0.0, 1.0, 1.0]) == pytest.approx(0.75)
    dist = np.array([[20.5], [33.0]])  # mm
    s = summarize(dist, None, 0.0, 50.0, 20)
    t = np.linspace(0, 50, 20)
    assert t[8] == pytest.approx(21.0526, abs=1e-4)  # the release's "20 mm"
    curve = (np.array([20.5, 33.0])[:, None] <= t[None]).mean(0)
    trapz = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    want = trapz(curve[8:], t[8:]) / (t[-1] - t[8])
    assert auc_subset(s) == pytest.approx(want)
    # the honest 20-50 mm range differs from the release's 21.05-50 mm one
    s2 = summarize(dist, None, 20.0, 50.0, 20)
    assert s2["auc"] != pytest.approx(auc_subset(s))


def test_plot_png(tmp_path):
    import cv2

    p = tmp_path / "pck.png"
    plot_pck([("a", [0, 10, 20, 30], [0, 0.5, 0.8, 1.0]), ("b", [0, 10, 20, 30], [0, 0.2, 0.4, 0.6])], p, "px")
    img = cv2.imread(str(p))
    assert img is not None and img.shape == (480, 640, 3) and (img < 250).any()
