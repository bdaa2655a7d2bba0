"""Environment work-arounds."""
import sys

from handcam.compat import preload_triton


def test_preload_triton_imports_dynamo_once():
    preload_triton()
    assert "torch._dynamo" in sys.modules
    module = sys.modules["torch._dynamo"]
    preload_triton()  # idempotent
    assert sys.modules["torch._dynamo"] is module
