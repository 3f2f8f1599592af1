"""Checks of the masked losses' arguments (input/target pairs, masks, reductions, per-channel weights)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from maskbench._checks.errors import ArgumentTypeError, DTypeError, ShapeError, describe, short_repr
from maskbench._checks.scalars import check_choice, check_number
from maskbench._checks.tensors import (
    check_broadcast_to,
    check_mask_dtype,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_weight_range,
)

__all__ = [
    "REDUCTIONS",
    "check_floating",
    "check_regression",
    "check_empty",
    "check_reduction",
    "check_loss_mask",
    "check_channel_param",
]


REDUCTIONS = ("mean", "sum", "none")


def check_floating(x: torch.Tensor, name: str) -> torch.Tensor:
    """Require a floating tensor (e.g. logits, a regression input, a weight)."""
    if not x.is_floating_point():
        raise DTypeError(f"{name}: expected a floating tensor; got {describe(x)}. Convert with `{name}.float()`.")
    return x


def check_regression(input: object, target: object) -> None:  # noqa: A002 - torch's loss argument name
    """A regression pair: two floating tensors of exactly the same shape (a broadcast target is a bug)."""
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_floating(input, "input")
    check_floating(target, "target")
    check_same_shape(input, "input", target, "target", broadcast_hint=True)


def check_empty(value: object, name: str = "empty") -> float:
    """The value of a mean over nothing: any real Python number (NaN and +-Inf included), as a float."""
    try:
        return check_number(value, name, finite=False)
    except ArgumentTypeError as err:
        got = f"{type(value).__name__} {short_repr(value)}"
        raise ArgumentTypeError(
            f"{name}: expected a Python number; got {got}. Pass e.g. 0.0 or float('nan').",
            name=name,
            expected="a Python number",
            got=err.got,
        ) from None


def check_reduction(reduction: object, empty: object) -> float:
    """A loss's ``reduction`` (one of :data:`REDUCTIONS`) and ``empty`` value; returns ``float(empty)``."""
    check_choice(reduction, "reduction", REDUCTIONS)
    return check_empty(empty, "empty")


def check_loss_mask(mask: object, shape: Sequence[int], like: torch.Tensor, target_name: str) -> torch.Tensor | None:
    """A loss mask: None, or bool / a [0, 1] weight on ``like``'s device broadcasting to ``shape``.

    ``target_name`` names what the mask must broadcast to (e.g. "the elementwise loss").
    """
    if mask is None:
        return None
    check_tensor(mask, "mask")
    check_mask_dtype(mask, "mask")
    check_same_device(input=like, mask=mask)
    shape = tuple(shape)
    try:
        check_broadcast_to(mask, "mask", shape, target_name)
    except ShapeError as err:
        hint = ""
        if len(shape) >= 1 and mask.ndim == len(shape) + 1 and mask.shape[1] == 1:
            hint = " Drop its channel dim: mask[:, 0]."
        elif len(shape) >= 2 and mask.ndim == len(shape) - 1 and mask.shape[0] == shape[0]:
            hint = " Add a channel dim: mask[:, None]."
        raise ShapeError(f"{err}{hint}", name="mask", got=describe(mask)) from None
    check_weight_range(mask, "mask")
    return mask


def check_channel_param(p: object, input: torch.Tensor, name: str) -> torch.Tensor | None:  # noqa: A002
    """A ``pos_weight``/``weight``: a 1-D one is per channel (dim 1) and comes back as ``(C, 1, ...)``;
    other shapes must broadcast to ``input`` and come back as they are."""
    if p is None:
        return None
    check_tensor(p, name)
    check_floating(p, name)
    check_same_device(input=input, **{name: p})
    if p.ndim == 1 and p.shape[0] != 1:
        if input.ndim < 2 or p.shape[0] != input.shape[1]:
            channels = f"C = {input.shape[1]}" if input.ndim >= 2 else "an (N, C, ...) input"
            raise ShapeError(
                f"{name}: a 1-D {name} is per channel (dim 1 of input (N, C, ...)) and needs {channels}; "
                f"got {describe(p)} for input {tuple(input.shape)}. (PyTorch would apply it to the last dim.) "
                f"For another dim pass a tensor with input's number of dims, e.g. {name}.view(1, 1, 1, -1)."
            )
        return p.view(-1, *([1] * (input.ndim - 2)))
    check_broadcast_to(p, name, input.shape, "input")
    return p
