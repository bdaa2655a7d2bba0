"""Weights: our checkpoints, the official-pickle converter, the safe unpickler, download."""
import hashlib
import http.server
import pickle
import threading
import zipfile
from functools import partial

import numpy as np
import pytest
import torch

from handcam import weights as W
from handcam.errors import WeightsError, WeightsNotFoundError
from handcam.estimator import HandPoseEstimator
from handcam.models import NETWORKS


@pytest.fixture(scope="module")
def official_dicts(random_estimator):
    """The random estimator's networks exported to the two official pickle dicts."""
    flat = W.to_official({k: n.state_dict() for k, n in random_estimator.networks.items()})
    hs = {k: v for k, v in flat.items() if k.startswith("HandSegNet/")}
    pn = {k: v for k, v in flat.items() if not k.startswith("HandSegNet/")}
    hs["HandSegNet/conv1_1/weights/Adam"] = np.zeros(3, np.float32)  # optimiser slots ride along in the originals
    hs["global_step"] = np.array(40000)
    return hs, pn


def write_pickles(d, hs, pn):
    paths = []
    for name, data in ((W.DEFAULT_HANDSEGNET, hs), (W.DEFAULT_POSENET, pn)):
        p = d / name
        with open(p, "wb") as f:
            pickle.dump(data, f, protocol=2)
        paths.append(p)
    return paths


def test_official_round_trip(tmp_path, official_dicts, random_estimator):
    hs, pn = official_dicts
    ph, pp = write_pickles(tmp_path, hs, pn)
    out, ignored = W.convert_files(ph, pp, tmp_path / "w.pt", skip_checksum=True)
    assert ignored == ["HandSegNet/conv1_1/weights/Adam", "global_step"]
    state, meta = W.load_weights(out)
    assert meta["checksum_verified"] == "False"
    for key, net in random_estimator.networks.items():
        for name, t in net.state_dict().items():
            assert torch.equal(state[key][name], t), (key, name)


def test_checksum_is_checked_by_default(tmp_path, official_dicts):
    ph, pp = write_pickles(tmp_path, *official_dicts)
    with pytest.raises(WeightsError, match="sha256"):
        W.convert_files(ph, pp, tmp_path / "w.pt")


def test_missing_and_misshaped_variables(official_dicts):
    hs, pn = official_dicts
    broken = dict(pn)
    del broken["PoseNet2D/conv6_3/biases"]
    with pytest.raises(WeightsError, match="PoseNet2D/conv6_3/biases"):
        W.convert_official({**hs, **broken})
    bad = dict(hs)
    bad["HandSegNet/conv2_1/weights"] = np.zeros((3, 3, 64, 64), np.float32)
    with pytest.raises(WeightsError, match=r"HandSegNet/conv2_1/weights has shape \(3, 3, 64, 64\)"):
        W.convert_official(bad)


def test_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pickle"
    p.write_bytes(pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(WeightsError, match="refusing to load .*print"):
        W.read_official_pickle(p, skip_checksum=True)


def test_sha256_table_is_the_release():
    assert W.OFFICIAL_SHA256[W.DEFAULT_HANDSEGNET][1].startswith("852829a63e8e")
    assert len(W.OFFICIAL_SHA256) == 10


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


def test_estimator_explains_missing_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDCAM_HOME", str(tmp_path))
    monkeypatch.delenv("HANDCAM_WEIGHTS", raising=False)
    monkeypatch.setattr(W, "default_weights_candidates", lambda: [tmp_path / "none.pt"])
    import handcam.estimator as E
    monkeypatch.setattr(E, "default_weights_candidates", lambda: [tmp_path / "none.pt"])
    with pytest.raises(WeightsNotFoundError, match="python -m handcam.weights download"):
        HandPoseEstimator.load(None, device="cpu")


def _serve(directory):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_from_loopback_server(tmp_path, monkeypatch, official_dicts, random_estimator):
    hs, pn = official_dicts
    src = tmp_path / "src"
    src.mkdir()
    ph, pp = write_pickles(src, hs, pn)
    zpath = tmp_path / "site" / "ColorHandPose3D_data_v3.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as z:
        z.write(ph, "weights/" + ph.name)
        z.write(pp, "weights/" + pp.name)
        z.writestr("data/readme.txt", "sample")
    # The generated pickles are not the official ones: register their digests as if they were,
    # so the test exercises the real verification path.
    table = {p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()) for p in (ph, pp)}
    monkeypatch.setattr(W, "OFFICIAL_SHA256", table)
    monkeypatch.setenv("HANDCAM_HOME", str(tmp_path / "cache"))
    server = _serve(zpath.parent)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{zpath.name}"
        out = W.download(url, tmp_path / "out.pt")
        assert (tmp_path / "cache" / zpath.name).is_file()  # cached for next time
        est = HandPoseEstimator.load(out, device="cpu")
        for k, net in est.networks.items():
            for name, t in net.state_dict().items():
                assert torch.equal(t, random_estimator.networks[k].state_dict()[name])
        # a tampered zip fails verification
        (tmp_path / "cache" / zpath.name).unlink()
        table[ph.name] = (1, "0" * 64)
        with pytest.raises(WeightsError, match="does not match the official"):
            W.download(url, tmp_path / "out2.pt")
        # an unreachable server is a clear error
        with pytest.raises(WeightsError, match="download of .* failed"):
            W.download(f"http://127.0.0.1:{server.server_address[1]}/missing.zip", tmp_path / "o3.pt")
    finally:
        server.shutdown()


def test_weights_cli(tmp_path, official_dicts, capsys):
    ph, pp = write_pickles(tmp_path, *official_dicts)
    assert W._cli(["convert", "--handsegnet", str(ph), "--posenet", str(pp), "--out", str(tmp_path / "w.pt"),
                   "--skip-checksum"]) == 0
    out = capsys.readouterr().out
    assert "ignored 2 entries" in out and "global_step" in out
    assert W._cli(["convert", "--handsegnet", str(ph), "--out", str(tmp_path / "x.pt")]) == 2
    assert "sha256" in capsys.readouterr().err
    assert W._cli(["info", str(tmp_path / "w.pt")]) == 0
    assert "handsegnet: 13,601,986 parameters" in capsys.readouterr().out
