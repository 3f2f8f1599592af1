"""maskbench.render.contours against a numpy reference (4-neighbour inner boundary)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskbench._checks import DTypeError
from maskbench.render import contours


def _reference(labels: np.ndarray) -> np.ndarray:
    h, w = labels.shape
    out = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            v = labels[i, j]
            if v == 0:
                continue
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                ni, nj = i + di, j + dj
                outside = not (0 <= ni < h and 0 <= nj < w)
                if outside or labels[ni, nj] != v:
                    out[i, j] = True
    return out


@given(h=st.integers(1, 12), w=st.integers(1, 12), k=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_contours_match_reference(h: int, w: int, k: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (h, w), generator=g)
    assert np.array_equal(contours(labels).numpy(), _reference(labels.numpy()))
    mask = labels > 0
    assert np.array_equal(contours(mask).numpy(), _reference(mask.numpy().astype(int)))


def test_contours_edge_cases(device) -> None:
    empty = torch.zeros(4, 5, dtype=torch.bool, device=device)
    assert not contours(empty).any()
    full = ~empty
    ring = contours(full)
    assert ring.device == full.device
    assert ring[0].all() and ring[-1].all() and ring[:, 0].all() and ring[:, -1].all()  # image border closes it
    assert not ring[1:-1, 1:-1].any()
    one = torch.ones(1, 1, dtype=torch.bool, device=device)
    assert contours(one).tolist() == [[True]]
    # two touching classes each get their own edge along the seam
    two = torch.tensor([[1, 1, 2, 2]] * 3, device=device)
    assert contours(two)[1].tolist() == [True, True, True, True]


def test_contours_batch_and_errors(device) -> None:
    batch = torch.rand(3, 6, 7, device=device) > 0.5
    out = contours(batch)
    assert out.shape == batch.shape
    for b in range(3):
        assert torch.equal(out[b], contours(batch[b]))
    with pytest.raises(DTypeError, match=r"contours\(mask >= 0.5\)"):
        contours(torch.rand(4, 4, device=device))
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        contours(torch.ones(4, dtype=torch.bool, device=device))
