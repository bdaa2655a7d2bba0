"""handcam.weights: our checkpoints (format, errors, search order, loading into the registry's
networks) and the ``python -m handcam.weights`` command."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_frame
from core_fakes import official_dicts, write_pickles

from handcam import weights as W
from handcam.errors import WeightsError, WeightsNotFoundError
from handcam.estimator import HandPoseEstimator
from handcam.models import NETWORKS, lite, registry
from handcam.settings import PipelineSettings
from handcam.weights.__main__ import main as weights_main


def test_save_and_load_round_trip(tmp_path, lite_estimator):
    path = W.save_weights(tmp_path / "sub" / "w.pt", dict(lite_estimator.networks), {"source": "test", "epoch": 3},
                          architecture="lite")
    assert path == tmp_path / "sub" / "w.pt" and [p.name for p in path.parent.iterdir()] == ["w.pt"]  # no temp left
    state, meta = W.load_weights(path)
    assert meta == {"source": "test", "epoch": "3", "architecture": "lite"}  # metadata as strings
    nets = W.build_networks(state, architecture="lite")
    assert isinstance(nets["posenet"], lite.PoseNet) and not nets["posenet"].training
    for k, net in lite_estimator.networks.items():
        for name, t in net.state_dict().items():
            assert torch.equal(nets[k].state_dict()[name], t.cpu()), (k, name)
    assert set(W.build_networks(state, keys=["posenet"], architecture="lite")) == {"posenet"}
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == W.FORMAT and blob["version"] == W.FORMAT_VERSION


def test_half_weights_store_float16_and_give_the_same_keypoints(tmp_path, lite_estimator):
    nets = dict(lite_estimator.networks)
    full = W.save_weights(tmp_path / "full.pt", nets, architecture="lite")
    half = W.save_weights(tmp_path / "half.pt", nets, {"source": "test"}, architecture="lite", half=True)
    blob = torch.load(half, weights_only=True)  # still a plain, safely loadable file
    assert blob["format"] == W.FORMAT and blob["architecture"] == "lite"
    seen = set()
    for k, net in nets.items():
        stored = blob["networks"][k]
        assert set(stored) == set(net.state_dict())
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                assert stored[name].dtype == torch.float16, (k, name)
                torch.testing.assert_close(stored[name], t.cpu().half(), rtol=0, atol=0)
            else:  # e.g. BatchNorm's num_batches_tracked (int64): unchanged
                assert stored[name].dtype == t.dtype and torch.equal(stored[name], t.cpu()), (k, name)
            seen.add(stored[name].dtype)
    assert seen == {torch.float16, torch.int64}  # both kinds were there to check
    assert full.stat().st_size > 1.8 * half.stat().st_size
    _, meta = W.load_weights(half)
    assert meta == {"source": "test", "architecture": "lite"}
    a, b = HandPoseEstimator.load(full, device="cpu"), HandPoseEstimator.load(half, device="cpu")
    assert all(p.dtype == torch.float32 for n in b.networks.values() for p in n.parameters())  # cast back
    frame = synthetic_frame()
    release = PipelineSettings.release()            # one hand, always: random weights may find none otherwise
    ha, hb = a.estimate(frame, release).hands[0], b.estimate(frame, release).hands[0]
    np.testing.assert_allclose(hb.keypoints_2d, ha.keypoints_2d, atol=1.0)  # argmax pixels: at most a neighbour
    np.testing.assert_allclose(hb.keypoints_3d, ha.keypoints_3d, atol=1e-3)
    np.testing.assert_allclose(hb.box, ha.box, atol=1.0)
    assert abs(hb.presence - ha.presence) < 1e-3 and hb.side == ha.side


def test_save_rejects_unknown_keys_and_families(tmp_path):
    with pytest.raises(ValueError, match="unknown network keys"):
        W.save_weights(tmp_path / "a.pt", {"face": {}})
    with pytest.raises(ValueError, match="unknown architecture"):
        W.save_weights(tmp_path / "b.pt", {}, architecture="huge")
    assert not list(tmp_path.iterdir())


def test_atomic_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    W.atomic_save({"a": 1}, path)

    def broken(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(W.torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        W.atomic_save({"a": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["w.pt"]


def test_checkpoint_errors(tmp_path, random_weights):
    with pytest.raises(WeightsNotFoundError, match="handcam.weights download"):
        W.load_weights(tmp_path / "nope.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(random_weights.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="corrupt"):
        W.load_weights(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"a": torch.zeros(1)}}, other)
    with pytest.raises(WeightsError, match="not a handcam weights file"):
        W.load_weights(other)
    wrong = tmp_path / "wrong.pt"
    W.save_weights(wrong, {k: torch.nn.Conv2d(3, 4, 3).state_dict() for k in NETWORKS})
    with pytest.raises(WeightsError, match="do not fit the paper architecture"):
        HandPoseEstimator.load(wrong, device="cpu")
    partial_ = tmp_path / "partial.pt"
    W.save_weights(partial_, {"handsegnet": NETWORKS["handsegnet"]().state_dict()})
    with pytest.raises(WeightsError, match="lack the network"):
        HandPoseEstimator.load(partial_, device="cpu")
    pickled = tmp_path / "handsegnet-rhd.pickle"
    pickled.write_bytes(b"x")
    with pytest.raises(WeightsError, match="official TF pickle; convert it first"):
        W.load_weights(pickled)
    newer = tmp_path / "newer.pt"
    torch.save({"format": W.FORMAT, "version": W.FORMAT_VERSION + 1, "networks": {}}, newer)
    with pytest.raises(WeightsError, match="newer handcam"):
        W.load_weights(newer)
    with pytest.raises(WeightsError, match="unknown architecture 'huge'"):
        W.build_networks({}, architecture="huge")


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDCAM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HANDCAM_WEIGHTS", str(tmp_path / "mine.pt"))
    assert W.cache_dir() == tmp_path / "home"
    cands = W.default_weights_candidates()
    # $HANDCAM_WEIGHTS, the official weights (converted, downloaded), then the bundled lite weights (the
    # clone's, then an installed handcam's package data)
    assert cands == [tmp_path / "mine.pt", W.WEIGHTS_DIR / "handcam.pt", tmp_path / "home" / "colorhandpose3d.pt",
                     W.WEIGHTS_DIR / "handcam-lite.pt", W.BUNDLED_DIR / "handcam-lite.pt"]
    assert W.BUNDLED_DIR == Path(W.__file__).resolve().parent.parent / "bundled"
    assert W.WEIGHTS_DIR.parts[-1] == "weights"
    assert W.WEIGHTS_DIR.parent == Path(W.__file__).resolve().parent.parent.parent
    assert registry.LITE.bundled == "handcam-lite.pt" and registry.PAPER.bundled is None
    monkeypatch.delenv("HANDCAM_WEIGHTS")
    monkeypatch.delenv("HANDCAM_HOME")
    assert [c.name for c in W.default_weights_candidates()] == ["handcam.pt", "colorhandpose3d.pt", "handcam-lite.pt",
                                                                "handcam-lite.pt"]
    assert W.cache_dir() == W.Path(os.path.expanduser("~")) / ".cache" / "handcam"


def test_estimator_explains_missing_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDCAM_HOME", str(tmp_path))
    monkeypatch.delenv("HANDCAM_WEIGHTS", raising=False)
    monkeypatch.setattr(W, "default_weights_candidates", lambda: [tmp_path / "none.pt"])
    import handcam.estimator as E
    monkeypatch.setattr(E, "default_weights_candidates", lambda: [tmp_path / "none.pt"])
    with pytest.raises(WeightsNotFoundError, match="python -m handcam.weights download"):
        HandPoseEstimator.load(None, device="cpu")


def test_estimator_finds_weights_in_the_search_order(monkeypatch, tmp_path, random_weights):
    import handcam.estimator as E

    monkeypatch.setattr(E, "default_weights_candidates", lambda: [tmp_path / "none.pt", random_weights])
    est = HandPoseEstimator.load(None, device="cpu")
    assert est.metadata["path"] == str(random_weights) and est.architecture.name == "paper"


def test_weights_cli(tmp_path, random_estimator, capsys):
    ph, pp = write_pickles(tmp_path, *official_dicts(random_estimator.networks))
    assert weights_main(["convert", "--handsegnet", str(ph), "--posenet", str(pp), "--out", str(tmp_path / "w.pt"),
                   "--skip-checksum"]) == 0
    out = capsys.readouterr().out
    assert "ignored 2 entries" in out and "global_step" in out
    assert weights_main(["convert", "--handsegnet", str(ph), "--out", str(tmp_path / "x.pt")]) == 2
    assert "sha256" in capsys.readouterr().err
    assert weights_main(["info", str(tmp_path / "w.pt")]) == 0
    assert "handsegnet: 13,601,986 parameters" in capsys.readouterr().out
    assert weights_main(["info", str(tmp_path / "none.pt")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    with pytest.raises(SystemExit):
        weights_main([])


# -- the bundled lite weights -------------------------------------------------------------------------
BUNDLED = W.WEIGHTS_DIR / registry.LITE.bundled


def test_the_bundled_weights_load_safely_and_are_the_default_without_official_ones(tmp_path, monkeypatch):
    blob = torch.load(BUNDLED, map_location="cpu", weights_only=True)
    assert blob["format"] == "handcam-weights" and blob["architecture"] == "lite"
    assert set(blob["networks"]) == set(registry.NETWORK_KEYS)
    dtypes = {t.dtype for sd in blob["networks"].values() for t in sd.values()}
    assert dtypes == {torch.float16, torch.int64}               # stored in half precision
    if (W.WEIGHTS_DIR / "handcam.pt").exists():
        pytest.skip("weights/handcam.pt (converted official weights) is present and comes first")
    monkeypatch.delenv("HANDCAM_WEIGHTS", raising=False)
    monkeypatch.setenv("HANDCAM_HOME", str(tmp_path))           # no downloaded official weights
    est = HandPoseEstimator.load(device="cpu")
    assert est.metadata["path"] == str(BUNDLED) and est.architecture.name == "lite" and est.predicts_sides


def test_the_bundled_weights_find_rendered_hands():
    """Held-out renders (a seed and split training never used) with one clearly visible hand: the crop and
    keypoints land on the hand, and most of them count as found (the presence calibration was fitted on
    real photos; on renders it is under-confident: the model card says so)."""
    from training.synth.dataset import render_sample

    est = HandPoseEstimator.load(BUNDLED, device="cpu")
    tried = on_hand = found = 0
    for index in range(60):
        s = render_sample(index, seed=12345, set_name="evaluation")
        present = [side for side, there in s.meta["present"].items() if there]
        if len(present) != 1:
            continue
        off = 0 if present[0] == "left" else 21
        uv_vis = s.anno["uv_vis"][off:off + 21]
        vis = uv_vis[:, 2] > 0.5
        if vis.sum() < 10:
            continue
        tried += 1
        hand = est.estimate(s.color, PipelineSettings.release()).hands[0]
        lo, hi = uv_vis[vis, :2].min(0), uv_vis[vis, :2].max(0)
        margin = 0.25 * (hi - lo).max()
        centre = np.median(hand.keypoints_2d, axis=0)
        on_hand += bool(np.all(centre >= lo - margin) and np.all(centre <= hi + margin))
        found += hand.presence >= PipelineSettings().presence_threshold
        if tried == 8:
            break
    assert tried == 8
    assert on_hand >= tried - 1, f"{on_hand} of {tried} rendered hands localised"
    assert found >= tried // 2, f"{found} of {tried} rendered hands found"


@pytest.mark.parametrize("value, flag", [(None, False), (True, True), (False, False), ("True", True),
                                         ("False", False), ("true", True), (" YES ", True), ("on", True),
                                         ("1", True), ("0", False), ("no", False), ("off", False), ("", False)])
def test_metadata_flags(value, flag):
    assert W.metadata_flag(value, "refine_crops") is flag


def test_a_malformed_metadata_flag_names_its_key():
    for value in ("maybe", "2", "yes please"):
        with pytest.raises(WeightsError, match="refine_crops"):
            W.metadata_flag(value, "refine_crops")


def test_the_refine_flag_round_trips_through_a_weights_file(tmp_path, lite_estimator):
    """A bool in the metadata is stored as text and read back by the estimator as a bool."""
    from handcam.estimator import REFINE_CROPS_KEY
    from handcam.settings import RuntimeOptions

    assert REFINE_CROPS_KEY == "refine_crops"
    runtime = RuntimeOptions(backend="torch", layout="contiguous")
    for value in (True, False):
        path = W.save_weights(tmp_path / f"{value}.pt", dict(lite_estimator.networks), {REFINE_CROPS_KEY: value},
                              architecture="lite")
        assert W.load_weights(path)[1][REFINE_CROPS_KEY] == str(value)
        est = HandPoseEstimator.load(path, device="cpu", runtime=runtime)
        assert est.refine_trained is value
    path = W.save_weights(tmp_path / "none.pt", dict(lite_estimator.networks), {}, architecture="lite")
    assert HandPoseEstimator.load(path, device="cpu", runtime=runtime).refine_trained is False
