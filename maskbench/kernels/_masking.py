"""Zeroing outside a mask, NaN-safe: the one implementation the kernels share.

``x * mask`` is not enough: ``NaN * 0`` is NaN, and so is its gradient. Every kernel that must
make excluded elements *exactly* zero (values and gradients) goes through :func:`where0` (a bool
mask) or :func:`drop_excluded` (a bool mask or a [0, 1] weight).

On CPU in eager mode ``torch.where`` with a bool condition runs a scalar loop, about 10x slower than
a vectorised pass. There the zeroing ANDs the values' bit patterns with all-ones (kept) or all-zeros
(excluded) instead: one vectorised pass that gives +0.0 even over NaN (:class:`ZeroOutside`).
Elsewhere (accelerators, ``torch.compile``) it is ``torch.where``, which those fuse well.
"""

from __future__ import annotations

import torch

from maskbench.kernels._shapes import broadcasts_to

__all__ = [
    "INT_VIEW",
    "keep_bits",
    "zero_outside",
    "ZeroOutside",
    "where0",
    "select",
    "Select",
    "keep_of",
    "drop_excluded",
]

# dtype -> integer dtype of the same width, to zero values by AND-ing their bits with 0 / all-ones
INT_VIEW = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
    torch.uint8: torch.uint8,
    torch.int8: torch.int8,
    torch.int16: torch.int16,
    torch.int32: torch.int32,
    torch.int64: torch.int64,
}


def keep_bits(keep: torch.Tensor, like: torch.Tensor) -> torch.Tensor | None:
    """All-ones where kept, 0 elsewhere, as integers as wide as ``like``'s elements (CPU only).

    A transient integer copy of the mask, made only on CPU where it is ~10x cheaper than where.
    ``copy=True``: for a 1-byte ``like`` the cast is a no-op view of ``keep``, and ``neg_`` would
    then turn the caller's mask into 0xFF bytes (issue 10 #1).
    """
    if like.device.type != "cpu":
        return None
    return keep.view(torch.uint8).to(INT_VIEW[like.dtype], copy=True).neg_()


def zero_outside(
    v: torch.Tensor, keep: torch.Tensor, bits: torch.Tensor | None, *, inplace: bool = False
) -> torch.Tensor:
    """``v`` where kept, else +0 exactly (NaN-safe). On CPU (``bits`` given) by a vectorised bitwise AND.

    ``inplace=True`` overwrites ``v``: only for a temporary the caller made itself.
    """
    if bits is None:
        return torch.where(keep, v, 0)
    if inplace:
        v.view(bits.dtype).bitwise_and_(bits)
        return v
    return (v.view(bits.dtype) & bits).view(v.dtype)


class ZeroOutside(torch.autograd.Function):
    """``torch.where(keep, x, 0)`` by a bitwise AND (CPU, eager); differentiable any number of times."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(keep)
        return zero_outside(x, keep, keep_bits(keep, x))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return where0(keep, grad), None


def where0(keep: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """``x`` where ``keep`` (bool) holds, else 0 of x's dtype; ``x`` itself when ``keep`` is None.

    NaN/Inf/garbage where excluded reaches neither the value nor the gradient (which is zeroed
    alike). ``keep`` broadcasts to ``x``. In eager mode on CPU it ANDs the bits instead of calling
    ``torch.where`` (see :class:`ZeroOutside`).

    >>> where0(torch.tensor([True, False]), torch.tensor([2.0, float("nan")]))
    tensor([2., 0.])
    """
    if keep is None:
        return x
    if _bitwise_ok(keep, x):
        return ZeroOutside.apply(x, keep)
    return torch.where(keep, x, x.new_zeros(()))


def select(keep: torch.Tensor, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``torch.where(keep, x, other)`` for a bool ``keep``; on CPU in eager mode by bit patterns.

    ``other`` has x's dtype and broadcasts to x (as does ``keep``). Exact: NaN payloads and -0.0
    are copied bit for bit. Differentiable in ``x`` and ``other`` (see :class:`Select`).

    >>> select(torch.tensor([True, False]), torch.tensor([1.0, float("nan")]), torch.tensor(-0.0))
    tensor([1., -0.])
    """
    if (
        other.dtype == x.dtype
        and _bitwise_ok(keep, x)
        and broadcasts_to(other.shape, x.shape)
        and other.device == x.device
    ):
        return Select.apply(keep, x, other)
    return torch.where(keep, x, other)


class Select(torch.autograd.Function):
    """``torch.where(keep, x, other)`` as ``(x & bits) | (other & ~bits)`` on the values' bit patterns.

    Why: on CPU ``torch.where`` with a bool condition is a scalar loop; two vectorised bitwise passes
    are faster (issue 11). ``keep``'s bits are made once at the mask's (often smaller) size.
    """

    @staticmethod
    def forward(ctx, keep: torch.Tensor, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        bits = keep_bits(keep, x)
        other_part = other.view(bits.dtype) & bits.bitwise_not()  # at most the mask's size for a 0-d other
        out = torch.bitwise_and(x.view(bits.dtype), bits)  # x's shape: keep never grows it
        out.bitwise_or_(other_part)
        ctx.save_for_backward(keep)
        ctx.other_shape = other.shape
        return out.view(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        gx = where0(keep, grad) if ctx.needs_input_grad[1] else None
        go = where0(~keep, grad).sum_to_size(ctx.other_shape) if ctx.needs_input_grad[2] else None
        return None, gx, go


def _bitwise_ok(keep: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether the bit-pattern path applies: CPU, eager, a dtype with an integer view, keep not growing x."""
    return (
        x.device.type == "cpu"
        and x.dtype in INT_VIEW
        and not torch.compiler.is_compiling()
        and broadcasts_to(keep.shape, x.shape)
    )


def keep_of(mask: torch.Tensor | None) -> torch.Tensor | None:
    """The bool "kept" mask of a bool or weight mask (a weight keeps where > 0); None stays None."""
    if mask is None or mask.dtype == torch.bool:
        return mask
    return mask > 0


def drop_excluded(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``v`` with what ``mask`` excludes made harmless, so it can be weighted and summed without leaks.

    A bool mask zeroes every excluded element (value and gradient). Under a weight of 0 the value
    stays when finite (0 when not) but is detached: the gradient with respect to ``v`` there is
    exactly 0 even when the caller's upstream gradient is NaN, while ``v * w`` keeps the right
    derivative with respect to ``w`` at ``w == 0`` (namely ``v``).

    >>> x = torch.tensor([1.0, float("nan"), 3.0])
    >>> drop_excluded(x, torch.tensor([True, False, False]))
    tensor([1., 0., 0.])
    >>> drop_excluded(x, torch.tensor([1.0, 0.0, 0.0]))
    tensor([1., 0., 3.])
    """
    if mask.dtype == torch.bool:
        return where0(mask, v)
    frozen = v.detach()
    return torch.where(mask > 0, v, where0(frozen.isfinite(), frozen))
