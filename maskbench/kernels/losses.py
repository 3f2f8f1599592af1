"""Masked losses: BCE with logits, cross-entropy, MSE, L1, soft Dice, and any elementwise loss.

Conventions shared by every loss here (the ``nn.Module`` wrappers live in ``loss_modules.py``):

* **mask**: bool (keep where True) or floating weights in [0, 1]; it broadcasts to the loss's
  elementwise shape without growing it (numpy rules, so an ``(N, H, W)`` mask on an
  ``(N, C, H, W)`` loss is an error: write ``mask[:, None]``). A bool mask is used as is.
* **reduction="mean"** divides by the number of kept elements *after broadcasting* the mask to
  the loss's shape: an ``(H, W)`` mask on an ``(N, 1, H, W)`` loss counts each kept pixel N times.
  A floating mask gives the weighted mean ``sum(w * l) / sum(w)``. ``"sum"`` sums the kept
  (weighted) elements; ``"none"`` returns the elementwise loss, exactly 0 where excluded.
* **empty**: a mean over nothing (empty mask, every target ignored) is ``empty`` (0.0 by default,
  ``float("nan")`` if you prefer), with zero gradients, never a 0/0 NaN. A sum over nothing is 0.
* **excluded elements never leak**: inputs there are replaced by 0 *before* any log/exp, so NaN,
  +-Inf or garbage targets (e.g. an ignore value 255) give an exactly zero gradient there.
* No Python branch on tensor data, no host sync; each loss compiles with
  ``torch.compile(fullgraph=True)``. float16/bfloat16 losses are summed in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from maskbench._checks import (
    ArgumentTypeError,
    DTypeError,
    ShapeError,
    check_channel_param,
    check_floating,
    check_int,
    check_labels,
    check_loss_mask,
    check_number,
    check_reduction,
    check_regression,
    check_same_device,
    check_same_shape,
    check_tensor,
    describe,
    short_repr,
)
from maskbench.kernels._casting import accumulation_dtype
from maskbench.kernels._loss_utils import (
    FusedMaskedBCE,
    FusedMaskedCE,
    absolute_error,
    count_kept,
    kept_values,
    reduce_loss,
    safe_div,
    squared_error,
)
from maskbench.kernels._masking import INT_VIEW, keep_of, where0
from maskbench.kernels._shapes import broadcast_shape
from maskbench.kernels.dice import dice_loss  # re-exported: the losses live together in the API

__all__ = ["masked_loss", "masked_bce_with_logits", "masked_cross_entropy", "masked_mse", "masked_l1", "dice_loss"]


def masked_loss(
    elementwise_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    reduction: str = "mean",
    empty: float = 0.0,
) -> torch.Tensor:
    """Mask and reduce any elementwise loss ``elementwise_fn(input, target)``.

    Both ``input`` and ``target`` are replaced by 0 where the mask excludes before the call, and
    the loss is zeroed there after it, so NaN/Inf/garbage there changes neither value nor gradient.

    Args:
        elementwise_fn: ``fn(input, target) -> loss`` of the broadcast shape of input and target
            (e.g. ``lambda a, b: F.huber_loss(a, b, reduction="none")``).
        input: Floating tensor, any shape.
        target: Tensor broadcastable with ``input``.
        mask: None, bool or floating weights in [0, 1], broadcastable to the loss's shape.
        reduction: "mean" (over kept elements, counted at the loss's shape), "sum" or "none".
        empty: The "mean" of nothing (0.0 by default; ``float("nan")`` allowed).

    Returns:
        A 0-d tensor ("mean", "sum") or the loss's shape ("none"), in the loss's dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.5, 2.0, float("nan")]])
        >>> y = torch.tensor([[0.0, 1.0, 9.0]])
        >>> masked_loss(lambda a, b: (a - b).abs(), x, y, torch.tensor([True, True, False]))
        tensor(0.7500)
    """
    if not callable(elementwise_fn):
        raise ArgumentTypeError(
            f"elementwise_fn: expected a function fn(input, target) -> loss; got {short_repr(elementwise_fn)}. "
            "Pass e.g. lambda a, b: (a - b).abs().",
            name="elementwise_fn",
        )
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_same_device(input=input, target=target)
    shape = broadcast_shape(input.shape, target.shape)
    if shape is None:
        raise ShapeError(
            f"target: expected a shape that broadcasts with input {tuple(input.shape)}; got {describe(target)}."
        )
    empty = check_reduction(reduction, empty)
    mask = check_loss_mask(mask, shape, input, "the elementwise loss")
    keep = keep_of(mask)
    loss = elementwise_fn(where0(keep, input), where0(keep, target))
    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != tuple(shape):
        raise ShapeError(
            f"elementwise_fn: expected an elementwise loss of shape {tuple(shape)}; got {describe(loss)}. "
            f"Pass reduction='none' to the torch loss you wrap."
        )
    return reduce_loss(loss, mask, reduction, empty)


def masked_bce_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    pos_weight: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    empty: float = 0.0,
) -> torch.Tensor:
    """Binary cross-entropy on logits, like ``F.binary_cross_entropy_with_logits``, with a mask.

    Elementwise ``weight * ((1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x))``.

    **Per-channel convention**: a 1-D ``pos_weight`` or ``weight`` of length C always applies to
    dim 1 (the channels) of an ``(N, C, ...)`` input. (PyTorch broadcasts a 1-D ``pos_weight``
    against the *last* dim, which silently weights image columns when W == C.) Other shapes
    (0-d, or with the input's number of dims) broadcast to the input like PyTorch's.
    "mean" divides by the (mask-weighted) count of kept elements, not by ``weight``'s sum, which
    matches PyTorch for a full mask.

    Args:
        input: Logits, floating, any shape (typically ``(N, C, H, W)``).
        target: Same shape as ``input``; floating in [0, 1] or bool.
        mask: None, bool or floating weights in [0, 1], broadcastable to ``input.shape``
            (``(H, W)``, ``(N, 1, H, W)``, ``(N, C, H, W)``, ...).
        pos_weight: Weight of positive examples: ``(C,)`` per channel or broadcastable to input.
        weight: Rescaling weight of each element: ``(C,)`` per channel or broadcastable to input.
        reduction: "mean", "sum" or "none" (see the module docstring).
        empty: The "mean" over an empty mask (0.0 by default; ``float("nan")`` allowed).

    Returns:
        0-d tensor, or ``input.shape`` for "none" (0 where excluded).

    Syncs: none.

    Example:
        >>> x = torch.tensor([[[[0.0, 2.0], [float("nan"), -1.0]]]])  # (1, 1, 2, 2)
        >>> t = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
        >>> m = torch.tensor([[True, True], [False, True]])  # (H, W)
        >>> masked_bce_with_logits(x, t, m)
        tensor(0.3778)
    """
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_floating(input, "input")
    check_same_device(input=input, target=target)
    if target.dtype == torch.bool:
        target = target.to(input.dtype)
    elif not target.is_floating_point():
        raise DTypeError(
            f"target: expected a floating (probabilities in [0, 1]) or bool target; "
            f"got {describe(target)}. Convert with `target.float()`."
        )
    check_same_shape(input, "input", target, "target", broadcast_hint=True)
    empty = check_reduction(reduction, empty)
    pos_weight = check_channel_param(pos_weight, input, "pos_weight")
    weight = check_channel_param(weight, input, "weight")
    mask = check_loss_mask(mask, input.shape, input, "the elementwise loss")
    if (
        mask is not None
        and mask.dtype == torch.bool
        and pos_weight is None
        and weight is None
        and reduction != "none"
        and input.dtype in INT_VIEW
        and target.dtype == input.dtype
        and not torch.compiler.is_compiling()
    ):
        total = FusedMaskedBCE.apply(input, target, mask)  # eager fast path, see its docstring
        if reduction == "sum":
            return total.to(input.dtype)
        return safe_div(total, count_kept(mask, input.shape, total.dtype), empty).to(input.dtype)
    keep = keep_of(mask)
    loss = F.binary_cross_entropy_with_logits(
        where0(keep, input), where0(keep, target), weight=weight, pos_weight=pos_weight, reduction="none"
    )
    return reduce_loss(loss, mask, reduction, empty)


def masked_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    ignore_index: int | None = None,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    empty: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy of class logits against integer labels, with a mask and/or ``ignore_index``.

    Elementwise the loss is ``F.cross_entropy(..., reduction="none")``'s. An element is excluded
    where the mask excludes it *or* its target equals ``ignore_index``; excluded targets may be out
    of the class range (e.g. 255): they are replaced by 0 before any indexing.
    With class weights, "mean" divides by the sum over kept elements of ``mask * weight[target]``
    (PyTorch's convention); without, by the (mask-weighted) count of kept elements. Unlike
    ``F.cross_entropy``, which returns NaN when every target is ignored, this returns ``empty``.

    Args:
        input: Logits ``(N, K, *S)`` (e.g. ``(N, K, H, W)``), floating.
        target: Integer labels ``(N, *S)`` in ``[0, K)`` where kept (any integer dtype).
        mask: None, bool or floating weights in [0, 1], broadcastable to the loss's shape
            ``(N, *S)``: ``(H, W)``, ``(N, H, W)``, ... (an ``(N, 1, H, W)`` mask needs ``mask[:, 0]``).
        ignore_index: A label value to exclude (e.g. 255), or None.
        weight: Class weights ``(K,)``, floating.
        label_smoothing: In [0, 1], as in ``F.cross_entropy``.
        reduction: "mean", "sum" or "none".
        empty: The "mean" over nothing (0.0 by default; ``float("nan")`` allowed).

    Returns:
        0-d tensor, or ``(N, *S)`` for "none" (0 where excluded).

    Syncs: none (on CPU, outside torch.compile, kept labels are checked against ``[0, K)``).

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0, 5.0]], [[0.0, 2.0, float("nan")]]])[None]  # (1, 2, 1, 3)
        >>> labels = torch.tensor([[[0, 1, 255]]])  # (1, 1, 3)
        >>> masked_cross_entropy(logits, labels, ignore_index=255)
        tensor(0.1269)
    """
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_floating(input, "input")
    check_labels(target, "target")
    check_same_device(input=input, target=target)
    if input.ndim < 2:
        raise ShapeError(
            f"input: expected logits (N, K, ...); got {describe(input)}. "
            f"For one sample add a batch dim: input[None], target[None]."
        )
    num_classes = input.shape[1]
    if tuple(target.shape) != (input.shape[0], *input.shape[2:]):
        raise ShapeError(
            f"target: expected (N, *S) = {(input.shape[0], *input.shape[2:])} for input (N, K, *S) = "
            f"{tuple(input.shape)}; got {describe(target)}. One-hot targets: use target.argmax(1)."
        )
    empty = check_reduction(reduction, empty)
    label_smoothing = check_number(label_smoothing, "label_smoothing", min=0, max=1)
    if weight is not None:
        check_tensor(weight, "weight", ndim=1)
        check_floating(weight, "weight")
        if weight.shape[0] != num_classes:
            raise ShapeError(
                f"weight: expected class weights (K,) = ({num_classes},) for input "
                f"{tuple(input.shape)}; got {describe(weight)}."
            )
        check_same_device(input=input, weight=weight)
    mask = check_loss_mask(mask, target.shape, input, "the cross-entropy loss (N, *S)")
    if ignore_index is not None:
        valid = target != check_int(ignore_index, "ignore_index")
        if mask is None:
            mask = valid
        else:
            mask = mask & valid if mask.dtype == torch.bool else torch.where(valid, mask, 0.0)
    keep = keep_of(mask)
    labels = where0(keep, target)
    check_labels(labels, "target", num_classes=num_classes)  # CPU eager only: names the stray labels
    labels = labels.long()  # F.cross_entropy indexes with int64
    if keep is not None:  # right-align the mask to (N, *S), then add the class dim
        keep = keep.reshape((1,) * (target.ndim - keep.ndim) + tuple(keep.shape)).unsqueeze(1)
    if (
        keep is not None
        and mask.dtype == torch.bool
        and weight is None
        and label_smoothing == 0
        and reduction != "none"
        and input.dtype in INT_VIEW
        and not torch.compiler.is_compiling()
    ):
        total = FusedMaskedCE.apply(input, labels, keep)  # eager fast path, see its docstring
        if reduction == "sum":
            return total.to(input.dtype)
        return safe_div(total, count_kept(mask, target.shape, total.dtype), empty).to(input.dtype)
    logits = where0(keep, input)
    loss = F.cross_entropy(logits, labels, weight=weight, reduction="none", label_smoothing=label_smoothing)
    denom = None
    if weight is not None and reduction == "mean":
        class_w = weight.take(labels).to(accumulation_dtype(loss.dtype))
        denom = (class_w if mask is None else kept_values(class_w, mask)).sum()
    return reduce_loss(loss, mask, reduction, empty, denom=denom)


def masked_mse(
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    reduction: str = "mean",
    empty: float = 0.0,
) -> torch.Tensor:
    """Squared error ``(input - target) ** 2`` with a mask; e.g. depth with invalid (NaN) pixels.

    Args:
        input: Floating tensor, any shape.
        target: Floating, the same shape as ``input`` (no silent broadcasting).
        mask: None, bool or floating weights in [0, 1], broadcastable to ``input.shape``.
        reduction: "mean", "sum" or "none".
        empty: The "mean" over an empty mask (0.0 by default; ``float("nan")`` allowed).

    Returns:
        0-d tensor, or ``input.shape`` for "none" (0 where excluded).

    Syncs: none.

    Example:
        >>> depth = torch.tensor([1.0, 2.0, float("nan")])
        >>> masked_mse(torch.tensor([1.5, 2.0, 3.0]), depth, ~depth.isnan())
        tensor(0.1250)
    """
    check_regression(input, target)
    return masked_loss(squared_error, input, target, mask, reduction=reduction, empty=empty)


def masked_l1(
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    reduction: str = "mean",
    empty: float = 0.0,
) -> torch.Tensor:
    """Absolute error ``|input - target|`` with a mask.

    Args:
        input, target, mask, reduction, empty: As in :func:`masked_mse`.

    Returns:
        0-d tensor, or ``input.shape`` for "none" (0 where excluded).

    Syncs: none.

    Example:
        >>> weights = torch.tensor([1.0, 1.0, 0.5])  # a floating mask: weighted mean
        >>> masked_l1(torch.tensor([1.5, 2.0, 3.0]), torch.tensor([1.0, 2.0, 0.0]), weights)
        tensor(0.8000)
    """
    check_regression(input, target)
    return masked_loss(absolute_error, input, target, mask, reduction=reduction, empty=empty)
