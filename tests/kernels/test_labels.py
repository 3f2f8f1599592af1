"""maskbench.kernels.labels: one_hot's class axis, from_one_hot's argument errors (issue 10)."""

from __future__ import annotations

import pytest
import torch

from maskbench import MaskbenchError, from_one_hot, one_hot


def test_one_hot_dim_matches_a_loop(device) -> None:
    labels = torch.tensor([[0, 2, 1, 7], [1, 1, 0, 2]], device=device)  # (N, L), 7 is out of range
    planes = one_hot(labels, 3, dim=1)
    assert planes.shape == (2, 3, 4)
    for n in range(2):
        for i in range(4):
            for k in range(3):
                assert planes[n, k, i].item() == (labels[n, i].item() == k)
    assert one_hot(labels, 3, dim=-1).shape == (2, 4, 3)
    with pytest.raises(ValueError, match=r"dim: expected an int <= 2"):
        one_hot(labels, 3, dim=3)


def test_one_hot_of_uint8_ignore_value(device) -> None:
    labels = torch.tensor([[255, 1]], dtype=torch.uint8, device=device)
    assert one_hot(labels, 2).sum().item() == 1


# issue 10 regressions ------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", ["x", 1.0, None, True])
def test_from_one_hot_bad_dim_names_dim_issue10_13(dim) -> None:
    with pytest.raises(MaskbenchError, match=r"^dim: expected an int"):
        from_one_hot(torch.ones(1, 2, 2, dtype=torch.bool), dim=dim)


def test_from_one_hot_bad_ignore_index_names_it_issue10_13() -> None:
    with pytest.raises(MaskbenchError, match=r"^ignore_index: expected an int"):
        from_one_hot(torch.zeros(2, 2, 2, dtype=torch.bool), ignore_index="x")


def test_one_hot_bad_dtype_and_huge_num_classes_issue10_11() -> None:
    labels = torch.zeros(2, 2, dtype=torch.long)
    with pytest.raises(MaskbenchError, match=r"^dtype: expected a torch.dtype"):
        one_hot(labels, 2, dtype="float32")
    with pytest.raises(ValueError, match=r"^num_classes: expected an int <= "):
        one_hot(labels, 10**400)
