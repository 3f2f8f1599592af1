"""``nn.Module`` wrappers of the masked losses: they hold options; ``forward`` is one call.

Tensor options (``pos_weight``, ``weight``) are buffers, so ``module.to(device)`` moves them and
``state_dict`` saves them. See :mod:`maskbench.kernels.losses` for the conventions.
"""

from __future__ import annotations

import torch
from torch import nn

from maskbench._checks import check_floating, check_int, check_number, check_reduction, check_tensor
from maskbench.kernels.losses import (
    dice_loss,
    masked_bce_with_logits,
    masked_cross_entropy,
    masked_l1,
    masked_mse,
)

__all__ = ["MaskedBCEWithLogitsLoss", "MaskedCrossEntropyLoss", "MaskedMSELoss", "MaskedL1Loss", "DiceLoss"]


class MaskedBCEWithLogitsLoss(nn.Module):
    """Module form of :func:`~maskbench.kernels.losses.masked_bce_with_logits`.

    A 1-D ``pos_weight``/``weight`` of length C applies to dim 1 (channels) of ``(N, C, ...)``.

    Example:
        >>> loss_fn = MaskedBCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))
        >>> x, t = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
        >>> loss_fn(x, t, torch.tensor([[True, False], [False, False]]))
        tensor(1.3863)
    """

    pos_weight: torch.Tensor | None
    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        pos_weight: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
        empty: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("pos_weight", _optional_floating(pos_weight, "pos_weight"))
        self.register_buffer("weight", _optional_floating(weight, "weight"))
        self.reduction, self.empty = reduction, check_reduction(reduction, empty)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_bce_with_logits(
            input,
            target,
            mask,
            pos_weight=self.pos_weight,
            weight=self.weight,
            reduction=self.reduction,
            empty=self.empty,
        )


class MaskedCrossEntropyLoss(nn.Module):
    """Module form of :func:`~maskbench.kernels.losses.masked_cross_entropy`.

    Example:
        >>> loss_fn = MaskedCrossEntropyLoss(ignore_index=255)
        >>> logits = torch.zeros(1, 2, 1, 2)
        >>> loss_fn(logits, torch.tensor([[[1, 255]]]))
        tensor(0.6931)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        weight: torch.Tensor | None = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
        empty: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", _optional_floating(weight, "weight"))
        self.ignore_index = None if ignore_index is None else check_int(ignore_index, "ignore_index")
        self.label_smoothing = check_number(label_smoothing, "label_smoothing", min=0, max=1)
        self.reduction, self.empty = reduction, check_reduction(reduction, empty)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_cross_entropy(
            input,
            target,
            mask,
            ignore_index=self.ignore_index,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
            empty=self.empty,
        )


class MaskedMSELoss(nn.Module):
    """Module form of :func:`~maskbench.kernels.losses.masked_mse`.

    Example:
        >>> MaskedMSELoss()(torch.tensor([1.0, 3.0]), torch.tensor([0.0, float("nan")]), torch.tensor([True, False]))
        tensor(1.)
    """

    def __init__(self, *, reduction: str = "mean", empty: float = 0.0) -> None:
        super().__init__()
        self.reduction, self.empty = reduction, check_reduction(reduction, empty)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mse(input, target, mask, reduction=self.reduction, empty=self.empty)


class MaskedL1Loss(nn.Module):
    """Module form of :func:`~maskbench.kernels.losses.masked_l1`.

    Example:
        >>> loss_fn = MaskedL1Loss(reduction="sum")
        >>> loss_fn(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]), torch.tensor([True, False]))
        tensor(1.)
    """

    def __init__(self, *, reduction: str = "mean", empty: float = 0.0) -> None:
        super().__init__()
        self.reduction, self.empty = reduction, check_reduction(reduction, empty)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_l1(input, target, mask, reduction=self.reduction, empty=self.empty)


class DiceLoss(nn.Module):
    """Module form of :func:`~maskbench.kernels.losses.dice_loss` (kornia's pattern).

    Example:
        >>> loss_fn = DiceLoss(from_logits=False)
        >>> probs = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> loss_fn(probs, torch.tensor([[[1, 0], [0, 0]]]))
        tensor(0.3333)
    """

    def __init__(
        self,
        *,
        from_logits: bool = True,
        smooth: float = 0.0,
        per_image: bool = False,
        reduction: str = "mean",
        empty: float = 0.0,
    ) -> None:
        super().__init__()
        self.from_logits, self.smooth, self.per_image = from_logits, check_number(smooth, "smooth", min=0), per_image
        self.reduction, self.empty = reduction, check_reduction(reduction, empty)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return dice_loss(
            input,
            target,
            mask,
            from_logits=self.from_logits,
            smooth=self.smooth,
            per_image=self.per_image,
            reduction=self.reduction,
            empty=self.empty,
        )


def _optional_floating(x: object, name: str) -> torch.Tensor | None:
    """A tensor option is checked when the module is built, not at its first forward."""
    return None if x is None else check_floating(check_tensor(x, name), name)
