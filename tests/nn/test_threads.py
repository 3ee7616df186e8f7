"""``agnlab.nn.run_in_threads``: every chunk once, results as on one thread, errors raised, threads restored."""

import numpy as np
import pytest
import torch

from agnlab.nn import MLP, run_in_threads


def test_every_chunk_once_same_result_as_one_thread():
    torch.manual_seed(0)
    net = MLP(5, 7, hidden=(16, 16), activation="silu").eval()
    x = torch.randn(1000, 5)
    out = torch.empty(1000, 7)
    chunks = [slice(s, s + 64) for s in range(0, 1000, 64)]
    seen = []

    def fn(c):
        seen.append(c.start)
        out[c] = net(x[c])

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_in_threads(fn, chunks)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    assert sorted(seen) == [c.start for c in chunks]
    with torch.inference_mode():
        ref = net(x)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=0, atol=1e-6)   # row-wise: the same float32 ops


def test_errors_reach_the_caller_and_threads_are_restored():
    old = torch.get_num_threads()
    torch.set_num_threads(2)

    def fn(c):
        if c == 3:
            raise ValueError("chunk 3 is bad")

    try:
        with pytest.raises(ValueError, match="chunk 3 is bad"):
            run_in_threads(fn, range(8))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
