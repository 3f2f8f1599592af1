"""Soft Dice loss with a mask (see :mod:`maskbench.kernels.losses` for the shared conventions)."""

from __future__ import annotations

import torch

from maskbench._checks import (
    ShapeError,
    check_floating,
    check_loss_mask,
    check_number,
    check_reduction,
    check_same_device,
    check_tensor,
    describe,
)
from maskbench.kernels._casting import accumulation_dtype
from maskbench.kernels._loss_utils import kept_values
from maskbench.kernels._masking import keep_of, where0
from maskbench.kernels.labels import one_hot

__all__ = ["dice_loss"]


def dice_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    from_logits: bool = True,
    smooth: float = 0.0,
    per_image: bool = False,
    reduction: str = "mean",
    empty: float = 0.0,
) -> torch.Tensor:
    """Soft Dice loss ``1 - (2 sum(w p g) + smooth) / (sum(w p) + sum(w g) + smooth)`` per class.

    ``p`` is ``sigmoid(input)`` for one channel, ``softmax(input, 1)`` for K > 1 (or ``input``
    itself when ``from_logits=False``), ``g`` the target one-hot, ``w`` the mask. Sums run over the
    spatial dims and the batch (one Dice per class), or only the spatial dims with ``per_image``
    (one per image and class). **Empty convention**: a term whose prediction and target both sum
    to 0 within the mask (nothing to find, nothing found, or an empty mask) has loss ``empty``
    (0.0 by default: a perfect match; ``float("nan")`` to flag it), whatever ``smooth`` is.

    Args:
        input: ``(N, C, *S)`` logits (or probabilities), floating; C == 1 is binary.
        target: ``(N, C, *S)`` one-hot/soft targets (floating or bool); or ``(N, *S)`` integer
            labels (one-hot by comparison with ``0..C-1``, so labels outside, e.g. 255, match no
            class; for C == 1 the foreground is label 1); for C == 1 also an ``(N, *S)`` float/bool.
        mask: None, bool or floating weights in [0, 1], broadcastable to ``input.shape``
            (``(H, W)``, ``(N, 1, H, W)``, ``(N, C, H, W)``; an ``(N, H, W)`` one needs ``mask[:, None]``).
            Logits are zeroed where it excludes; with softmax a pixel's logits are used together,
            so a per-channel mask zeroes only pixels it excludes in every channel.
        from_logits: Apply sigmoid/softmax to ``input`` first.
        smooth: Added to numerator and denominator (>= 0).
        per_image: One Dice per (image, class) instead of per class over the batch.
        reduction: "mean"/"sum" over the Dice terms, or "none": ``(C,)`` or ``(N, C)``
            with ``per_image``. Slice "none" to drop the background class.
        empty: Loss of a term with nothing predicted and nothing to find within the mask.

    Returns:
        0-d tensor, or ``(C,)`` / ``(N, C)`` for "none".

    Syncs: none.

    Example:
        >>> logits = torch.tensor([[[[4.0, -4.0], [4.0, float("inf")]]]])  # (1, 1, 2, 2)
        >>> target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> mask = torch.tensor([[True, True], [True, False]])
        >>> dice_loss(logits, target, mask)
        tensor(0.0136)
    """
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_floating(input, "input")
    if input.ndim < 2:
        raise ShapeError(f"input: expected (N, C, *S); got {describe(input)}. Add dims, e.g. input[None, None].")
    smooth = check_number(smooth, "smooth", min=0)
    empty = check_reduction(reduction, empty)
    check_same_device(input=input, target=target)
    n, c, spatial = input.shape[0], input.shape[1], tuple(input.shape[2:])
    acc = accumulation_dtype(input.dtype)
    integer = not (target.is_floating_point() or target.is_complex() or target.dtype == torch.bool)
    if tuple(target.shape) == tuple(input.shape):
        onehot = target.to(acc)
    elif tuple(target.shape) == (n, *spatial) and (integer or c == 1):
        if integer:  # for C == 1 the foreground is label 1: plane 1 of a 2-class one-hot
            onehot = one_hot(target, max(c, 2), dtype=acc, dim=1)[:, -c:]
        else:
            onehot = target.unsqueeze(1).to(acc)
    else:
        raise ShapeError(
            f"target: expected {tuple(input.shape)} (one-hot) or integer labels (N, *S) = {(n, *spatial)} "
            f"for input {tuple(input.shape)}; got {describe(target)}."
        )
    mask = check_loss_mask(mask, input.shape, input, "input")
    keep = keep_of(mask)
    keep_in = keep
    if keep is not None and from_logits and c > 1:
        ch = keep.ndim - (input.ndim - 1)  # the channel axis of the (right-aligned) mask, if it has one
        if ch >= 0 and keep.shape[ch] != 1:
            keep_in = keep.any(dim=ch, keepdim=True)
    x = where0(keep_in, input)
    if from_logits:
        x = torch.sigmoid(x) if c == 1 else torch.softmax(x, dim=1)
    p = kept_values(x.to(acc), mask)  # w * p, exactly 0 where excluded
    g = where0(keep, onehot)
    dims = tuple(range(2, input.ndim)) if per_image else (0, *range(2, input.ndim))

    def total(v: torch.Tensor) -> torch.Tensor:
        return v.sum(dims) if dims else v  # v.sum(()) would reduce every dim

    inter = total(p * g)
    card = total(p) + total(kept_values(g, mask))
    nonempty = card > 0
    score = (2 * inter + smooth) / torch.where(nonempty, card + smooth, 1.0)
    terms = torch.where(nonempty, 1 - score, empty)
    if reduction == "none":
        return terms.to(input.dtype)
    return (terms.mean() if reduction == "mean" else terms.sum()).to(input.dtype)
