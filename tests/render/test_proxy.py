"""``nearest_proxy`` (and ``downsample_labels(method="nearest")``): the pixel nearest each output pixel's centre, whatever path picks it (a strided
slice where the size divides the input's, gathering otherwise), never a view of the input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maskbench.render.pixels import _nearest_index, downsample_labels
from maskbench.render.proxy import nearest_proxy


def _reference(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A plain loop over output pixels: source pixel floor((j + 0.5) * n_in / n_out)."""
    h, w = x.shape
    out = torch.empty(size, dtype=x.dtype)
    for i in range(size[0]):
        for j in range(size[1]):
            out[i, j] = x[min(h - 1, int((i + 0.5) * h / size[0])), min(w - 1, int((j + 0.5) * w / size[1]))]
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 12), st.integers(1, 12), st.booleans())
def test_equals_a_loop_over_output_pixels(h, w, dh, dw, divisible):
    if divisible:  # the strided-slice path on both sides
        h, w = h * dh, w * dw
    x = torch.arange(h * w, dtype=torch.int32).view(h, w)
    got = nearest_proxy(x, (dh, dw))
    assert got.shape == (dh, dw) and torch.equal(got, _reference(x, (dh, dw)))
    index = x.index_select(0, _nearest_index(h, dh, x.device)).index_select(1, _nearest_index(w, dw, x.device))
    assert torch.equal(got, index)
    assert torch.equal(downsample_labels(x, (dh, dw)), got)  # the same sampling (one helper)


@pytest.mark.parametrize("size", [(4, 3), (4, 5), (5, 4), (5, 7)])  # slice/slice, slice/index, index/slice, gather
def test_never_a_view_of_the_input(size):
    x = torch.rand(12, 12)
    before = x.clone()
    out = nearest_proxy(x, size)
    assert out.is_contiguous() and out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    out += 1
    assert torch.equal(x, before)
