"""handcam.models.layers: TF 'SAME' padding, the NHWC flatten, and TF1 bilinear resize (hand-computed
values, bit identity with TF's four-corner form, gradients)."""
import numpy as np
import pytest
import torch

from handcam.models.layers import LEAKY_SLOPE, Conv, Dense, flatten_nhwc, max_pool, tf1_resize_bilinear, tf_same_pads


def test_tf_same_pads():
    assert tf_same_pads(32, 3, 2) == (0, 1)   # even input, stride 2: all padding after
    assert tf_same_pads(31, 3, 2) == (1, 1)
    assert tf_same_pads(32, 7, 1) == (3, 3)
    assert tf_same_pads(8, 1, 1) == (0, 0)


def test_stride2_conv_pads_after_only():
    conv = Conv(1, 1, 3, stride=2, act=False)
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        conv.conv.bias.zero_()
    out = conv(torch.ones(1, 1, 4, 4))[0, 0]
    # window of output (0,0) covers rows/cols 0..2 (all inside); output (1,1) covers 2..4 (4 is padding)
    np.testing.assert_array_equal(out.detach().numpy(), [[9, 6], [6, 4]])


def test_conv_and_dense_activation():
    assert LEAKY_SLOPE == 0.01
    conv = Conv(1, 1, 1)
    dense = Dense(1, 1)
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        conv.conv.bias.zero_()
        dense.fc.weight.fill_(1.0)
        dense.fc.bias.zero_()
    x = torch.tensor([[[[-2.0, 3.0]]]])
    np.testing.assert_allclose(conv(x).detach().numpy().ravel(), [-0.02, 3.0], rtol=1e-6)
    np.testing.assert_allclose(dense(torch.tensor([[-2.0]])).detach().numpy(), [[-0.02]], rtol=1e-6)
    assert [n for n, _ in Conv(3, 4, 3).named_parameters()] == ["conv.weight", "conv.bias"]
    assert max_pool(torch.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist() == [[5, 7], [13, 15]]


def test_flatten_is_nhwc():
    x = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # B C H W
    flat = flatten_nhwc(x)
    b, c, h, w = 1, 2, 3, 4
    assert flat[b, (h * 5 + w) * 3 + c] == x[b, c, h, w]


def test_tf1_resize_copies_top_left_and_clamps():
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None, None]
    out = tf1_resize_bilinear(x, (4, 4))[0, 0].numpy()
    np.testing.assert_allclose(out, [[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]])
    # PyTorch's half-pixel resize would give a different first row: guard against mixing them up
    torch_default = torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
    assert not np.allclose(torch_default[0, 0].numpy(), out)


def test_tf1_resize_non_integer_ratio():
    x = torch.arange(3.0)[None, None, None]  # 1 x 1 x 1 x 3: [0, 1, 2]
    out = tf1_resize_bilinear(x, (1, 5))[0, 0, 0].numpy()
    # src = dst * 3/5 = 0, 0.6, 1.2, 1.8, 2.4 -> clamp at the last pixel
    np.testing.assert_allclose(out, [0, 0.6, 1.2, 1.8, 2.0], atol=1e-6)


def _tf1_axis(n_in: int, n_out: int):
    """TF1 resize_bilinear's source indices along one axis, derived here from TF's definition:
    src = dst * (n_in / n_out) in float32, lower = floor(src), upper = min(lower + 1, n_in - 1),
    weight = src - lower."""
    src = np.arange(n_out, dtype=np.float32) * np.float32(n_in / n_out)
    lower = np.floor(src)
    lerp = (src - lower).astype(np.float32)
    lower = lower.astype(np.int64)
    upper = np.minimum(lower + 1, n_in - 1)
    return torch.from_numpy(lower), torch.from_numpy(upper), torch.from_numpy(lerp)


def _tf1_reference(x, size):
    """The four-corner formulation of TF1 resize (as TF computes it), for the fast version to match."""
    y0, y1, wy = _tf1_axis(x.shape[-2], size[0])
    x0, x1, wx = _tf1_axis(x.shape[-1], size[1])
    r0, r1 = x.index_select(-2, y0), x.index_select(-2, y1)
    top = r0.index_select(-1, x0) + (r0.index_select(-1, x1) - r0.index_select(-1, x0)) * wx
    bottom = r1.index_select(-1, x0) + (r1.index_select(-1, x1) - r1.index_select(-1, x0)) * wx
    return top + (bottom - top) * wy[:, None]


def test_tf1_axis_reference_is_tf_semantics():
    lower, upper, lerp = _tf1_axis(3, 5)  # the non-integer-ratio case above
    assert lower.tolist() == [0, 0, 1, 1, 2] and upper.tolist() == [1, 1, 2, 2, 2]
    np.testing.assert_allclose(lerp.numpy(), [0, 0.6, 0.2, 0.8, 0.4], atol=1e-6)


@pytest.mark.parametrize("shape,size", [((2, 21, 32, 32), (256, 256)), ((1, 2, 30, 40), (240, 320)),
                                        ((1, 3, 20, 30), (7, 50)), ((1, 4, 9, 9), (4, 4))])
def test_tf1_resize_is_bit_identical_to_four_corner_form(shape, size):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(tf1_resize_bilinear(x, size), _tf1_reference(x, size))
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(tf1_resize_bilinear(cl, size), _tf1_reference(x, size))


def test_tf1_resize_gradients_for_training():
    """The fast resize works in place on its own buffers: gradients (the training losses and the
    segmentation net's upsampling use it) must still be right."""
    for shape, size in (((2, 3, 8, 10), (32, 40)), ((1, 2, 20, 30), (7, 9))):
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: tf1_resize_bilinear(t, size), (x,))


@pytest.mark.parametrize("shape,size", [((2, 3, 15, 20), (120, 160)), ((1, 21, 24, 24), (32, 32)),
                                        ((1, 2, 7, 5), (16, 11))])
def test_tf1_resize_exports_as_one_native_resize(shape, size):
    import io

    import onnx
    import onnxruntime as ort

    class Up(torch.nn.Module):
        def forward(self, x):
            return tf1_resize_bilinear(x, size)

    x = torch.randn(*shape)
    buf = io.BytesIO()
    torch.onnx.export(Up(), x, buf, dynamo=False, opset_version=17, input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})
    ops = [n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node]
    assert ops.count("Resize") == 1 and "Gather" not in ops
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for batch in (x, torch.cat([x, x + 1])):                   # any batch size
        got = session.run(None, {"x": batch.numpy()})[0]
        np.testing.assert_allclose(got, tf1_resize_bilinear(batch, size).numpy(), rtol=1e-5, atol=1e-5)
