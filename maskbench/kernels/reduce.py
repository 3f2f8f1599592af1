"""Masked reductions: ``masked_sum``, ``masked_mean``, ``masked_std`` over chosen dims.

The mask broadcasts to ``x`` (never growing it) and is *counted* at its broadcast shape: an
``(H, W)`` mask on a ``(B, C, H, W)`` input counts each selected pixel ``B * C`` times, exactly as
if it had been expanded. A bool mask selects; a floating mask in [0, 1] weights (frequency
weights: the count is the sum of the weights). Excluded elements (False, or weight 0) never leak:
NaN/Inf there affects neither value nor gradient. An empty selection gives ``empty`` (0.0 by
default, ``float("nan")`` if you prefer) with a zero gradient, never a NaN gradient.

float16/bfloat16 inputs are accumulated in float32 and the result cast back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from maskbench._checks import (
    ArgumentError,
    DTypeError,
    ShapeError,
    check_broadcast_to,
    check_empty,
    check_int,
    check_mask_dtype,
    check_number,
    check_same_device,
    check_tensor,
    check_weight_range,
    describe,
    short_repr,
)
from maskbench.kernels._casting import accumulation_dtype
from maskbench.kernels._masking import drop_excluded, where0

__all__ = ["masked_sum", "masked_mean", "masked_std"]

Dim = int | Sequence[int] | None


def masked_sum(x: torch.Tensor, mask: torch.Tensor, *, dim: Dim = None, keepdim: bool = False) -> torch.Tensor:
    """Sum of ``x`` where ``mask`` holds (weighted by a floating mask), over ``dim``.

    Args:
        x: Any shape. Floating; integer/bool ``x`` only with a bool mask (summed like ``torch.sum``,
            i.e. into int64).
        mask: bool, or floating weights in [0, 1]; broadcasts to ``x.shape`` without growing it.
        dim: None (all dims), an int or a tuple of ints.
        keepdim: Keep the reduced dims with size 1.

    Returns:
        ``x``'s shape without ``dim`` (or with size-1 dims); ``x``'s dtype (int64 for integers).
        An empty selection sums to 0.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[1.0, 2.0, float("nan")], [4.0, 5.0, 6.0]])
        >>> mask = torch.tensor([True, True, False])
        >>> masked_sum(x, mask, dim=1)
        tensor([3., 9.])
    """
    x, m, dims = _prepare(x, mask, dim, "masked_sum", allow_int=True)
    if not x.is_floating_point():
        return where0(m, x).sum(dims, keepdim=keepdim)
    acc = _acc(x)
    return _weighted(acc, m).sum(dims, keepdim=keepdim).to(x.dtype)


def masked_mean(
    x: torch.Tensor, mask: torch.Tensor, *, dim: Dim = None, keepdim: bool = False, empty: float = 0.0
) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` holds (weighted mean for a floating mask), over ``dim``.

    Args:
        x: Floating tensor, any shape.
        mask: bool, or floating weights in [0, 1]; broadcasts to ``x.shape`` without growing it.
        dim: None (all dims), an int or a tuple of ints.
        keepdim: Keep the reduced dims with size 1.
        empty: Value where nothing is selected (count 0); 0.0 by default, ``float("nan")`` allowed.
            Its gradient is 0.

    Returns:
        ``x``'s shape without ``dim`` (or with size-1 dims), ``x``'s dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[1.0, 2.0, float("nan")], [4.0, 5.0, 6.0]])
        >>> masked_mean(x, torch.tensor([[True, True, False], [False, False, False]]), dim=1)
        tensor([1.5000, 0.0000])
        >>> masked_mean(x, torch.tensor([True, False, False]), dim=0, empty=float("nan"))
        tensor([2.5000,    nan,    nan])
    """
    x, m, dims = _prepare(x, mask, dim, "masked_mean")
    empty = check_empty(empty, "empty")
    acc = _acc(x)
    total = _weighted(acc, m).sum(dims, keepdim=keepdim)
    count = _count(m, acc, dims, keepdim)
    mean = total / torch.where(count > 0, count, 1.0)  # total is 0 where count is 0
    return torch.where(count > 0, mean, empty).to(x.dtype)


def masked_std(
    x: torch.Tensor,
    mask: torch.Tensor,
    *,
    dim: Dim = None,
    keepdim: bool = False,
    correction: float = 1,
    empty: float = 0.0,
) -> torch.Tensor:
    """Standard deviation of ``x`` where ``mask`` holds, over ``dim`` (like ``torch.std``).

    ``sqrt(sum(w * (x - mean)**2) / (count - correction))`` with ``count`` the (weighted) number of
    selected elements; floating weights are frequency weights.

    Args:
        x: Floating tensor, any shape.
        mask: bool, or floating weights in [0, 1]; broadcasts to ``x.shape`` without growing it.
        dim: None (all dims), an int or a tuple of ints.
        keepdim: Keep the reduced dims with size 1.
        correction: Subtracted from the count (1: sample std, Bessel; 0: population std).
        empty: Value where ``count <= correction`` (0.0 by default; ``float("nan")`` allowed), with
            a zero gradient. A zero spread gives 0 with a zero (not NaN) gradient too. A selected
            NaN or +-Inf gives NaN (and NaN gradients), like ``torch.std`` and :func:`masked_mean`.

    Returns:
        ``x``'s shape without ``dim`` (or with size-1 dims), ``x``'s dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0]])
        >>> masked_std(x, torch.tensor([True, True, False]), dim=1)
        tensor([1.4142, 0.0000])
        >>> masked_std(x, torch.tensor([True, False, False]), dim=1, empty=float("nan"))
        tensor([nan, nan])
    """
    x, m, dims = _prepare(x, mask, dim, "masked_std")
    empty = check_empty(empty, "empty")
    correction = check_number(correction, "correction", min=0)
    acc = _acc(x)
    count = _count(m, acc, dims, True)
    mean = _weighted(acc, m).sum(dims, keepdim=True) / torch.where(count > 0, count, 1.0)
    dev = drop_excluded(acc - mean, m)  # excluded NaN/Inf (or a NaN mean) must not reach the square
    ss = (dev * dev if m.dtype == torch.bool else dev * dev * m.to(acc.dtype)).sum(dims, keepdim=True)
    valid = count > correction
    var = ss / torch.where(valid, count - correction, 1.0)
    # sqrt'(0) is Inf and Inf * 0 is NaN in backward: a zero variance takes a constant 0 branch.
    # Only exact zeros do: a NaN variance (a selected NaN/Inf) stays NaN, value and grad, like torch.std.
    zero = var == 0
    std = torch.where(zero, 0.0, torch.where(zero, 1.0, var).sqrt())
    out = torch.where(valid, std, empty).to(x.dtype)
    return out if keepdim else out.squeeze(dims) if dims else out


def _acc(x: torch.Tensor) -> torch.Tensor:
    return x.to(accumulation_dtype(x.dtype))


def _weighted(acc: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``x * w`` with excluded elements exactly 0 (NaN-safe, zero gradient w.r.t. x there)."""
    kept = drop_excluded(acc, m)
    return kept if m.dtype == torch.bool else kept * m.to(acc.dtype)


def _count(m: torch.Tensor, acc: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    # Counted at x's shape: the expand is a stride-0 view, nothing is materialised.
    return m.to(acc.dtype).expand(acc.shape).sum(dims, keepdim=keepdim)


def _prepare(x: object, mask: object, dim: Dim, fn: str, *, allow_int: bool = False):
    check_tensor(x, "x")
    check_tensor(mask, "mask")
    check_mask_dtype(mask, "mask")
    check_same_device(x=x, mask=mask)
    check_broadcast_to(mask, "mask", x.shape, "x")
    if x.is_complex() or not (x.is_floating_point() or (allow_int and mask.dtype == torch.bool)):
        need = "a floating x (or an integer x with a bool mask)" if allow_int else "a floating x"
        raise DTypeError(f"x: {fn} needs {need}; got {describe(x)}. Convert with `x.float()`.")
    check_weight_range(mask, "mask")
    return x, mask, _normalize_dims(dim, x.ndim)


def _normalize_dims(dim: Dim, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:  # torch reduces all dims for (), numpy none: refuse the ambiguity
        raise ArgumentError(
            "dim: expected at least one dimension; got (). Use dim=None to reduce all of them.", name="dim"
        )
    out = []
    for d in dims:
        check_int(d, "dim")
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ShapeError(
                f"dim: expected a value in [{-max(ndim, 1)}, {max(ndim, 1) - 1}] for x with "
                f"{ndim} dimension(s); got {d}."
            )
        out.append(d % max(ndim, 1) if ndim else 0)
    if len(set(out)) != len(out):
        raise ArgumentError(f"dim: each dimension may appear once; got {short_repr(dim)}.", name="dim")
    return tuple(out) if ndim else ()
