"""handcam.weights.official: the official variable table, the checked conversion of the authors' pickles,
and the download of their data zip (from a loopback server)."""
import hashlib
import http.server
import pickle
import threading
import zipfile
from functools import partial

import numpy as np
import pytest
import torch
from conftest import oracle_dir
from core_fakes import official_dicts as make_official_dicts
from core_fakes import write_pickles

from handcam.errors import WeightsError, WeightsNotFoundError
from handcam.estimator import HandPoseEstimator
from handcam.models import NETWORKS
from handcam.weights import load_weights
from handcam.weights import official as O


@pytest.fixture(scope="module")
def official_dicts(random_estimator):
    """The random estimator's networks exported to the two official pickle dicts."""
    return make_official_dicts(random_estimator.networks)


# ---------------------------------------------------------------- the variable table
def test_variable_table_is_one_to_one():
    rows = O.official_variable_table()
    assert len(rows) == 32 + 102
    assert len({r.tf_name for r in rows}) == len(rows)
    assert len({(r.network, r.param) for r in rows}) == len(rows)
    for key, cls in NETWORKS.items():
        params = {n for n, _ in cls().named_parameters()}
        assert params == {r.param for r in rows if r.network == key}
    assert {r.pickle_file for r in rows if r.network == "handsegnet"} == {O.DEFAULT_HANDSEGNET}
    assert {r.pickle_file for r in rows if r.network != "handsegnet"} == {O.DEFAULT_POSENET}


@pytest.mark.oracle
def test_variable_table_matches_official_list():
    tsv = oracle_dir() / "official_variables.tsv"
    if not tsv.is_file():
        pytest.skip(f"{tsv} not found (the oracle folder is not beside the checkout)")
    official = [line.rstrip("\n").split("\t")[:2] for line in tsv.read_text().splitlines(True)
                if line.strip() and not line.startswith(("#", "name\t"))]
    ours = [[r.tf_name, "x".join(map(str, r.tf_shape))] for r in O.official_variable_table()]
    assert ours == official


def test_tf_layouts_round_trip():
    conv = torch.randn(4, 3, 5, 7)   # OIHW
    fc = torch.randn(6, 9)           # [out, in]
    bias = torch.randn(4)
    assert O.torch_to_tf(conv).shape == (5, 7, 3, 4) and O.torch_to_tf(fc).shape == (9, 6)
    for t in (conv, fc, bias):
        assert torch.equal(O.tf_to_torch(O.torch_to_tf(t)), t)
    assert O.torch_to_tf(conv)[1, 2, 0, 3] == conv[3, 0, 1, 2]


# ---------------------------------------------------------------- conversion
def test_official_round_trip(tmp_path, official_dicts, random_estimator):
    hs, pn = official_dicts
    ph, pp = write_pickles(tmp_path, hs, pn)
    out, ignored = O.convert_files(ph, pp, tmp_path / "w.pt", skip_checksum=True)
    assert ignored == ["HandSegNet/conv1_1/weights/Adam", "global_step"]
    state, meta = load_weights(out)
    assert meta["checksum_verified"] == "False"
    for key, net in random_estimator.networks.items():
        for name, t in net.state_dict().items():
            assert torch.equal(state[key][name], t), (key, name)


def test_checksum_is_checked_by_default(tmp_path, official_dicts):
    ph, pp = write_pickles(tmp_path, *official_dicts)
    with pytest.raises(WeightsError, match="sha256"):
        O.convert_files(ph, pp, tmp_path / "w.pt")
    renamed = tmp_path / "mine.pickle"
    ph.rename(renamed)
    with pytest.raises(WeightsError, match="not an official ColorHandPose3D file name"):
        O.verify_official(renamed)


def test_missing_and_misshaped_variables(official_dicts):
    hs, pn = official_dicts
    broken = dict(pn)
    del broken["PoseNet2D/conv6_3/biases"]
    with pytest.raises(WeightsError, match="PoseNet2D/conv6_3/biases"):
        O.convert_official({**hs, **broken})
    bad = dict(hs)
    bad["HandSegNet/conv2_1/weights"] = np.zeros((3, 3, 64, 64), np.float32)
    with pytest.raises(WeightsError, match=r"HandSegNet/conv2_1/weights has shape \(3, 3, 64, 64\)"):
        O.convert_official(bad)
    state, ignored = O.convert_official(hs)  # one pickle: only its network
    assert set(state) == {"handsegnet"} and "global_step" in ignored
    with pytest.raises(WeightsError, match="nothing to convert"):
        O.convert_files(None, None, "unused.pt")


def test_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pickle"
    p.write_bytes(pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(WeightsError, match="refusing to load .*print"):
        O.read_official_pickle(p, skip_checksum=True)


def test_read_official_pickle_errors(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        O.read_official_pickle(tmp_path / "none.pickle")
    listed = tmp_path / "list.pickle"
    listed.write_bytes(pickle.dumps([np.zeros(2)], protocol=2))
    with pytest.raises(WeightsError, match="expected a dict of arrays, found list"):
        O.read_official_pickle(listed, skip_checksum=True)
    cut = tmp_path / "cut.pickle"
    cut.write_bytes(pickle.dumps({"a": np.zeros(100)}, protocol=2)[:50])
    with pytest.raises(WeightsError, match="corrupt"):
        O.read_official_pickle(cut, skip_checksum=True)


def test_sha256_table_is_the_release():
    assert O.OFFICIAL_SHA256[O.DEFAULT_HANDSEGNET][1].startswith("852829a63e8e")
    assert len(O.OFFICIAL_SHA256) == 10
    assert O.OFFICIAL_ZIP_URL.endswith("/ColorHandPose3D_data_v3.zip")


# ---------------------------------------------------------------- download
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
    monkeypatch.setattr(O, "OFFICIAL_SHA256", table)
    monkeypatch.setenv("HANDCAM_HOME", str(tmp_path / "cache"))
    server = _serve(zpath.parent)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{zpath.name}"
        out = O.download(url, tmp_path / "out.pt")
        assert (tmp_path / "cache" / zpath.name).is_file()  # cached for next time
        est = HandPoseEstimator.load(out, device="cpu")
        for k, net in est.networks.items():
            for name, t in net.state_dict().items():
                assert torch.equal(t, random_estimator.networks[k].state_dict()[name])
        # a tampered zip fails verification
        (tmp_path / "cache" / zpath.name).unlink()
        table[ph.name] = (1, "0" * 64)
        with pytest.raises(WeightsError, match="does not match the official"):
            O.download(url, tmp_path / "out2.pt")
        # an unreachable server is a clear error
        with pytest.raises(WeightsError, match="download of .* failed"):
            O.download(f"http://127.0.0.1:{server.server_address[1]}/missing.zip", tmp_path / "o3.pt")
    finally:
        server.shutdown()
