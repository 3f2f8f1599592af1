"""Per-pixel loss and gradient maps of one model output: maskbench's masked loss vs a naive one.

What :class:`maskbench.widgets.LossExplorer` shows, as pure functions (no widget imports). For a
``(B, C, H, W)`` input, a target and a loss mask, :func:`loss_maps` returns, for the maskbench
masked loss and for a naive recipe, the loss value, each pixel's share of it, and each pixel's
gradient magnitude ``|d loss / d input|`` (the L2 norm over channels), computed with autograd.

Naive recipes (``naive=``):

* ``"unmasked"``: the plain torch loss, mean over every pixel (the mask forgotten);
* ``"multiply"``: ``(loss * mask).sum() / mask.sum()`` at the loss's shape (zero gradient where
  excluded only while everything there is finite: ``0 * NaN`` is NaN, and an empty mask is 0/0).

Losses: ``"bce"`` (logits, target in [0, 1] or bool, any C), ``"ce"`` (logits with C >= 2, integer
labels ``(B, H, W)``), ``"mse"`` / ``"l1"`` (the input compared with the target as given), ``"dice"``
(soft Dice over the batch, one term per class; its per-pixel map is each pixel's share
``w (p + g - 2 p g) / card_c`` averaged over classes, which sums to the Dice loss when every class
has something predicted or to find).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from maskbench._checks import check_choice, check_tensor
from maskbench.kernels._masking import keep_of, where0
from maskbench.kernels.labels import one_hot
from maskbench.kernels.losses import dice_loss, masked_bce_with_logits, masked_cross_entropy, masked_l1, masked_mse

__all__ = ["LOSSES", "NAIVE", "LossMaps", "loss_maps"]

LOSSES = ("bce", "ce", "mse", "l1", "dice")
NAIVE = ("unmasked", "multiply")


class LossMaps(NamedTuple):
    """:func:`loss_maps`' result: 0-d values, ``(B, H, W)`` float maps (naive ones may be NaN)."""

    value_masked: torch.Tensor
    value_naive: torch.Tensor
    loss_masked: torch.Tensor
    loss_naive: torch.Tensor
    grad_masked: torch.Tensor
    grad_naive: torch.Tensor
    naive_error: str = ""  # what the naive recipe raised (e.g. an ignore label 255 in F.cross_entropy)


def _targets(loss: str, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target as the elementwise losses want it: one-hot ``(B, C, H, W)`` floats, or labels for ce."""
    if loss == "ce":
        return target
    if target.shape == x.shape:
        return target.to(x.dtype)
    return one_hot(target, max(x.shape[1], 2), dtype=x.dtype, dim=1)[:, -x.shape[1] :]  # C == 1: label 1


def _probs(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x) if x.shape[1] == 1 else torch.softmax(x, dim=1)


def _elementwise(loss: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The plain torch loss per element, ``(B, C, H, W)`` (``(B, 1, H, W)`` for ce)."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(x, t, reduction="none")
    if loss == "ce":
        return F.cross_entropy(x, t.long(), reduction="none")[:, None]
    if loss == "mse":
        return (x - t).square()
    return (x - t).abs()


def _dice_shares(p: torch.Tensor, g: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Each pixel's share of the soft Dice loss (smooth = 0), averaged over classes: ``(B, H, W)``."""
    w = torch.ones_like(p[:, :1]) if w is None else w.to(p.dtype)
    err = w * (p + g - 2 * p * g)
    card = (w * p).sum((0, 2, 3), keepdim=True) + (w * g).sum((0, 2, 3), keepdim=True)
    return (err / card.clamp_min(torch.finfo(p.dtype).tiny)).mean(1)


def _masked(loss: str, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor, from_logits: bool):
    """maskbench's loss: (value, per-pixel map)."""
    if loss == "dice":
        value = dice_loss(x, t, mask, from_logits=from_logits)
        keep = keep_of(mask)
        p = _probs(where0(keep, x)) if from_logits else where0(keep, x)
        return value, _dice_shares(p, where0(keep, t), mask)
    fn = {"bce": masked_bce_with_logits, "ce": masked_cross_entropy, "mse": masked_mse, "l1": masked_l1}[loss]
    m = mask[:, 0] if loss == "ce" else mask
    return fn(x, t, m), fn(x, t, m, reduction="none").reshape(x.shape[0], -1, *x.shape[2:]).sum(1)


def _naive(loss: str, naive: str, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor, from_logits: bool):
    """The naive recipe: (value, per-pixel map)."""
    w = mask.to(x.dtype)
    if loss == "dice":
        p = _probs(x) if from_logits else x
        if naive == "multiply":  # MONAI-style: mask both sides, then the plain formula
            p, t = p * w, t * w
        inter, card = (p * t).sum((0, 2, 3)), p.sum((0, 2, 3)) + t.sum((0, 2, 3))
        return (1 - 2 * inter / card).mean(), _dice_shares(p, t, None)  # the textbook formula: 0/0 is NaN
    elementwise = _elementwise(loss, x, t)
    if naive == "unmasked":
        return elementwise.mean(), elementwise.sum(1)
    weighted = elementwise * w
    return weighted.sum() / w.expand_as(weighted).sum(), weighted.sum(1)


def loss_maps(
    input: torch.Tensor,  # noqa: A002 - torch's loss argument name
    target: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss: str = "bce",
    naive: str = "unmasked",
    from_logits: bool = True,
) -> LossMaps:
    """Loss values and per-pixel loss / gradient maps, maskbench's masked loss vs a naive recipe.

    Args:
        input: ``(B, C, H, W)`` floating logits (bce, ce; dice with ``from_logits``) or predictions.
        target: ``(B, C, H, W)`` floating in [0, 1] or bool; or ``(B, H, W)`` integer labels (ce, dice).
        mask: ``(B|1, 1, H, W)`` bool (keep where True) or weights in [0, 1] (excluded where 0).
        loss: one of :data:`LOSSES`.
        naive: one of :data:`NAIVE`.
        from_logits: dice only: apply sigmoid/softmax to ``input`` first.

    Returns:
        :class:`LossMaps`; ``grad_*`` are ``|d value / d input|`` (L2 over channels), ``(B, H, W)``.
        The inputs are not modified (the gradient is taken with respect to a detached copy).

    >>> x = torch.tensor([[[[0.0, float("nan")]]]])  # (1, 1, 1, 2): NaN where excluded
    >>> maps = loss_maps(x, torch.ones(1, 1, 1, 2), torch.tensor([[[[True, False]]]]))
    >>> maps.grad_masked.tolist(), maps.grad_naive[0, 0, 1].isnan().item()
    ([[[0.5, 0.0]]], True)
    """
    check_choice(loss, "loss", LOSSES)
    check_choice(naive, "naive", NAIVE)
    check_tensor(input, "input", ndim=4)
    results = []
    for which in ("masked", "naive"):
        x = input.detach().clone().requires_grad_(True)
        t = _targets(loss, x, target)
        with torch.enable_grad():
            if which == "masked":
                value, per_pixel = _masked(loss, x, t, mask, from_logits)
            else:
                try:
                    value, per_pixel = _naive(loss, naive, x, t, mask, from_logits)
                except (IndexError, RuntimeError) as err:  # the plain loss refuses this target: say so
                    nan = torch.full(x.shape[:1] + x.shape[2:], float("nan"), dtype=x.dtype, device=x.device)
                    error = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
                    return LossMaps(*results[0][:1], nan[0, 0, 0], *results[0][1:2], nan, results[0][2], nan, error)
            (grad,) = torch.autograd.grad(value, x)
        results.append((value.detach(), per_pixel.detach(), grad.norm(dim=1)))
    (vm, lm, gm), (vn, ln, gn) = results
    return LossMaps(vm, vn, lm, ln, gm, gn)
