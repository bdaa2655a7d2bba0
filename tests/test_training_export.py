"""training/export.py: merging the weights of several runs into one file the library loads."""
import pytest
import torch

from handcam import models, weights
from handcam.errors import WeightsError
from training.export import main, merge


def test_export_merges_runs(tmp_path):
    torch.manual_seed(0)
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    weights.save_weights(a, {"handsegnet": models.HandSegNet().state_dict(),
                             "posenet": models.PoseNet().state_dict()}, {})
    pp, vp = models.PosePrior().state_dict(), models.ViewPoint().state_dict()
    posenet2 = models.PoseNet().state_dict()
    weights.save_weights(b, {"poseprior": pp, "viewpoint": vp, "posenet": posenet2}, {})
    src = merge([a, b], tmp_path / "all.pt")
    assert src["posenet"] == str(b) and src["handsegnet"] == str(a)
    sds, _ = weights.load_weights(tmp_path / "all.pt")
    assert set(sds) == {"handsegnet", "posenet", "poseprior", "viewpoint"}
    k = next(iter(posenet2))
    assert torch.equal(sds["posenet"][k], posenet2[k])
    weights.build_networks(sds)  # the estimator's loader accepts it


def test_mixed_families_are_refused(tmp_path, capsys):
    from handcam.models import lite

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    weights.save_weights(a, {"poseprior": models.PosePrior().state_dict()}, {})
    weights.save_weights(b, {"viewpoint": lite.ViewPoint().state_dict()}, {}, architecture="lite")
    with pytest.raises(WeightsError, match="different architectures"):
        merge([a, b], tmp_path / "all.pt")
    assert main([str(a), str(b), "--out", str(tmp_path / "all.pt")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot merge weights of different architectures")
    assert not (tmp_path / "all.pt").exists()


def test_export_half_and_metadata(tmp_path, capsys):
    from handcam.models import lite

    src = tmp_path / "lifting.pt"
    pp = lite.PosePrior().state_dict()
    weights.save_weights(src, {"poseprior": pp}, {}, architecture="lite")
    out = tmp_path / "half.pt"
    assert main([str(src), "--out", str(out), "--half", "--meta", "presence_calibration=2 -1"]) == 0
    sds, meta = weights.load_weights(out)
    assert meta["presence_calibration"] == "2 -1" and meta["source_poseprior"] == str(src)
    assert all(t.dtype == torch.float16 for t in sds["poseprior"].values())
    k = next(iter(pp))
    torch.testing.assert_close(sds["poseprior"][k].float(), pp[k], rtol=1e-3, atol=1e-3)
    with pytest.raises(SystemExit) as e:
        main([str(src), "--out", str(out), "--meta", "no-equals-sign"])
    assert e.value.code == 2 and "KEY=VALUE" in capsys.readouterr().err


def test_export_writes_the_refine_flag(tmp_path, capsys):
    from handcam.estimator import REFINE_CROPS_KEY
    from handcam.models import lite

    src = tmp_path / "posenet.pt"
    weights.save_weights(src, {"poseprior": lite.PosePrior().state_dict()}, {}, architecture="lite")
    for text, stored in (("true", "True"), ("True", "True"), ("yes", "True"), ("0", "False"), ("off", "False")):
        out = tmp_path / f"{text}.pt"
        assert main([str(src), "--out", str(out), "--meta", f"{REFINE_CROPS_KEY}={text}"]) == 0
        meta = weights.load_weights(out)[1]
        assert meta[REFINE_CROPS_KEY] == stored
        assert weights.metadata_flag(meta[REFINE_CROPS_KEY], REFINE_CROPS_KEY) is (stored == "True")
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([str(src), "--out", str(tmp_path / "bad.pt"), "--meta", f"{REFINE_CROPS_KEY}=perhaps"])
    assert e.value.code == 2 and "refine_crops" in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()
