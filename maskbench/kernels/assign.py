"""Out-of-place masked assignment with exact dtype casts: ``assign_where(dst, src, cond)``.

``dst[cond] = src`` in torch silently truncates ``2.7`` to ``2`` in an integer tensor, wraps ``300``
to ``44`` in ``uint8`` and rounds ``2**24 + 1`` in ``float32``. :func:`assign_where` refuses those
casts with a message instead.

Cast rule (used by :func:`assign_where` and, for integer images, by ``apply_mask``'s fill):

* **Exact by dtype** (no value is read, sync-free): same dtype; ``bool`` into anything; integer into
  an integer dtype whose range contains the source range (``uint8 -> int16``); integer into a float
  whose significand holds every value of the source dtype (``uint8/int8 -> float16/bfloat16``,
  ``int16 -> float32``, ``int32 -> float64``); float into a float with at least the same precision
  and range (``float16 -> float32``, ``bfloat16 -> float32``, ``float32 -> float64``). Note that
  ``torch.promote_types(src, dst) == dst`` is not enough: it holds for ``int64 -> float32``.
* **Checked by value** (reads data; a host sync on CUDA), only at positions where ``cond`` holds:
  float into integer (must be finite, whole and in range), integer into a narrower integer (in
  range), integer into a float that cannot hold every value (each value must round-trip exactly,
  e.g. ``int64 -> float32`` up to ``2**24``), anything into ``bool`` (only 0/1), and float into a
  narrower float (``float64 -> float32``): values are rounded to nearest like torch, only a finite
  value that would overflow to Inf is refused.
* Complex ``src`` into a real ``dst`` is refused by dtype (the imaginary part would be dropped).
"""

from __future__ import annotations

import math
from numbers import Integral, Number, Real

import torch

from maskbench._checks import (
    CastError,
    DTypeError,
    check_broadcast_to,
    check_same_device,
    check_tensor,
    describe,
)

__all__ = ["assign_where"]

_COMPLEX_PART = {torch.complex32: torch.float16, torch.complex64: torch.float32, torch.complex128: torch.float64}


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _significand_bits(dtype: torch.dtype) -> int:
    # float16: 11, bfloat16: 8, float32: 24, float64: 53 (eps = 2**(1 - bits))
    return 1 - round(math.log2(torch.finfo(dtype).eps))


def _int_range(dtype: torch.dtype) -> tuple[int, int]:
    if dtype == torch.bool:
        return 0, 1
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def is_exact_cast(src: torch.dtype, dst: torch.dtype) -> bool:
    """Whether every value of dtype ``src`` is stored exactly in ``dst`` (decided from dtypes alone)."""
    if src == dst or src == torch.bool:
        return True
    if dst == torch.bool:
        return False
    if src.is_complex:
        return dst.is_complex and is_exact_cast(_COMPLEX_PART[src], _COMPLEX_PART[dst])
    if dst.is_complex:
        return is_exact_cast(src, _COMPLEX_PART[dst])
    if src.is_floating_point:
        if not dst.is_floating_point:
            return False
        s, d = torch.finfo(src), torch.finfo(dst)
        return d.eps <= s.eps and d.max >= s.max and d.tiny <= s.tiny
    lo, hi = _int_range(src)
    if dst.is_floating_point:
        return max(hi, -lo) <= 2 ** _significand_bits(dst)
    dlo, dhi = _int_range(dst)
    return dlo <= lo and hi <= dhi


def _exact_values(v: torch.Tensor, dst: torch.dtype) -> torch.Tensor:
    """Elementwise: is each value of ``v`` stored exactly in ``dst``? (see the module's cast rule)."""
    if dst.is_complex:
        part = _COMPLEX_PART[dst]
        if v.is_complex():
            return _exact_values(v.real, part) & _exact_values(v.imag, part)
        return _exact_values(v, part)
    if dst == torch.bool:
        return (v == 0) | (v == 1)
    if not dst.is_floating_point:  # integer target
        lo, hi = _int_range(dst)
        if v.is_floating_point():
            v = v.double()  # exact; powers of two below are exact in float64 too
            return v.isfinite() & (v == v.trunc()) & (v >= lo) & (v < hi + 1)
        v = v.long()  # every supported integer source fits int64
        return (v >= max(lo, -(2**63))) & (v <= min(hi, 2**63 - 1))
    r = v.to(dst)
    if v.is_floating_point():  # narrower float: rounding is fine, overflow to +-Inf is not
        return r.isfinite() | ~v.isfinite()
    # integer into a float that cannot hold every value: the value must round-trip
    rd = r.double()
    in_range = rd.isfinite() & (rd >= -(2.0**63)) & (rd < 2.0**63)
    back = torch.where(in_range, rd, 0.0).long()  # guard: out-of-range float->int is undefined
    return in_range & (back == v.long())


def _cast_error(
    what: str, src_dtype: torch.dtype, dst: torch.dtype, name: str, dst_name: str, scalar: bool
) -> CastError:
    """``what`` says which values failed (and how many); the rest explains the dtype and a fix."""
    shown = dst
    dst = _COMPLEX_PART.get(dst, dst)
    if dst == torch.bool:
        why = "bool holds only 0 and 1"
        fix = f"pass a bool {name}" + ("" if scalar else f" (e.g. `{name} != 0`)")
    elif not dst.is_floating_point:
        lo, hi = _int_range(dst)
        why = f"{_name(dst)} holds whole numbers in [{lo}, {hi}]"
        fix = (
            f"pass a whole number in [{lo}, {hi}]"
            if scalar
            else (f"round and clamp {name} first (e.g. `{name}.round().clamp({lo}, {hi})`)")
        )
        fix += f" or use a wider {dst_name}"
    elif src_dtype.is_floating_point:
        why = f"it overflows {_name(dst)} (max {torch.finfo(dst).max:.6g}) to Inf"
        fix = f"clamp {name} first or use a wider {dst_name} (e.g. `{dst_name}.double()`)"
    else:
        why = f"{_name(dst)} holds integers exactly only up to 2**{_significand_bits(dst)}"
        fix = f"use a float64 {dst_name}"
        if not scalar:
            fix += f", or cast `{name}.to({dst_name}.dtype)` yourself to accept rounding"
    return CastError(
        f"{name}: {what} cannot be stored exactly in {dst_name}'s dtype {_name(shown)} ({why}). To fix, {fix}."
    )


def _scalar_as_tensor(src: Number, dst: torch.Tensor, name: str, dst_name: str) -> torch.Tensor:
    """A Python scalar as a 0-d tensor in dst's dtype; checked on the host (no device data read)."""
    if isinstance(src, Real) and not isinstance(src, (bool, int, float)):  # numpy scalars and the like
        src = int(src) if isinstance(src, Integral) else float(src)
    if isinstance(src, bool):
        host = torch.tensor(src)
    elif isinstance(src, int):
        if not -(2**63) <= src < 2**63:
            exact_kind = dst.dtype.is_floating_point or dst.dtype.is_complex
            lo, hi = (None, None) if exact_kind else _int_range(dst.dtype)
            raise CastError(
                f"{name}: the Python int {src} does not fit int64, let alone {dst_name}'s dtype "
                f"{_name(dst.dtype)}" + (f" (range [{lo}, {hi}])." if lo is not None else ".")
            )
        host = torch.tensor(src, dtype=torch.int64)
    elif isinstance(src, float):
        host = torch.tensor(src, dtype=torch.float64)
    else:
        raise DTypeError(
            f"{name}: expected a tensor or a Python bool/int/float; got {describe(src)}. "
            f"Convert with torch.as_tensor({name}, device={dst_name}.device)."
        )
    if not is_exact_cast(host.dtype, dst.dtype) and not bool(_exact_values(host, dst.dtype)):
        raise _cast_error(f"the Python {type(src).__name__} {src!r}", host.dtype, dst.dtype, name, dst_name, True)
    # torch.full writes the value on the device directly (no host->device copy, no sync).
    exact_kind = dst.dtype.is_floating_point or dst.dtype.is_complex
    value = bool(src) if dst.dtype == torch.bool else src if exact_kind else int(src)
    return torch.full((), value, dtype=dst.dtype, device=dst.device)


def cast_exact(
    src: torch.Tensor,
    dst_dtype: torch.dtype,
    *,
    cond: torch.Tensor | None = None,
    name: str = "src",
    dst_name: str = "dst",
) -> torch.Tensor:
    """``src.to(dst_dtype)``, raising :class:`CastError` if a value where ``cond`` holds would change.

    Syncs: only when the cast is not exact by dtype (see the module docstring).
    """
    if src.dtype == dst_dtype:
        return src
    if src.is_complex() and not dst_dtype.is_complex:
        raise DTypeError(
            f"{name}: a complex {name} ({describe(src)}) cannot be assigned into the real {dst_name} "
            f"({_name(dst_dtype)}) without dropping the imaginary part; pass `{name}.real` if that is meant."
        )
    if not is_exact_cast(src.dtype, dst_dtype):
        bad = ~_exact_values(src.detach(), dst_dtype)
        if cond is not None:
            bad = bad & cond
        if bool(bad.any()):  # the documented sync
            values, bad_b = torch.broadcast_tensors(src.detach(), bad)
            first = values[bad_b][0].item()
            total = int(cond.expand_as(bad_b).sum()) if cond is not None else bad_b.numel()
            what = (
                f"{int(bad_b.sum())} of {total} value(s) assigned where cond is True ({name} is {describe(src)}; "
                f"first offending value: {first!r})"
            )
            raise _cast_error(what, src.dtype, dst_dtype, name, dst_name, False)
    return src.to(dst_dtype)


def assign_where(dst: torch.Tensor, src: torch.Tensor | bool | int | float, cond: torch.Tensor) -> torch.Tensor:
    """A new tensor equal to ``dst`` with ``src``'s values where ``cond`` holds (``dst`` is untouched).

    The out-of-place, checked form of ``dst[cond] = src``: differentiable in ``dst`` and ``src``,
    and it never changes a value silently when casting ``src`` to ``dst.dtype``.

    Args:
        dst: Any tensor, shape ``S``; it sets the result's shape and dtype.
        src: A tensor or a Python bool/int/float. Its shape must broadcast to ``S`` without growing it,
            e.g. ``(3, 1)`` into ``(3, 2)``. It is cast to ``dst.dtype`` when that is exact, checked
            value by value at the assigned positions otherwise (see the module docstring's rule).
            A Python scalar is checked on the host, whatever ``cond`` holds.
        cond: A ``bool`` tensor that broadcasts to ``S`` without growing it.

    Returns:
        A tensor of shape ``S`` and dtype ``dst.dtype``.

    Raises:
        DTypeError: ``cond`` is not bool; ``src`` is not a tensor/number, or complex into real.
        ShapeError: ``src`` or ``cond`` would grow ``dst``'s shape.
        DeviceError: the tensors are on different devices.
        CastError: an assigned value would change (fraction, NaN/Inf or out of range for an integer
            ``dst``; not 0/1 for a bool ``dst``; an integer a float ``dst`` rounds; float overflow).

    Syncs: only when the dtype cast is not exact by dtype (e.g. float->int, int64->float32,
    float64->float32); pass ``src`` already in ``dst.dtype`` (or an exact dtype) to stay sync-free.

    Example:
        >>> dst = torch.zeros(3, 2)
        >>> assign_where(dst, torch.tensor([[1], [2], [3]]), torch.tensor([[True, False]] * 3))
        tensor([[1., 0.],
                [2., 0.],
                [3., 0.]])
        >>> assign_where(torch.zeros(2, dtype=torch.uint8), 300, torch.tensor([True, False]))
        Traceback (most recent call last):
        ...
        maskbench.CastError: src: the Python int 300 cannot be stored exactly in dst's dtype uint8 ...
    """
    check_tensor(dst, "dst")
    check_tensor(cond, "cond")
    if cond.dtype != torch.bool:
        kind = "a float" if cond.is_floating_point() else "an integer"
        raise DTypeError(
            f"cond: expected a bool tensor; got {kind} tensor {describe(cond)}. "
            f"Convert it explicitly, e.g. `cond > 0.5` or `cond.bool()` (non-zero is True)."
        )
    check_broadcast_to(cond, "cond", dst.shape, "dst")
    if isinstance(src, torch.Tensor):
        check_same_device(dst=dst, src=src, cond=cond)
        check_broadcast_to(src, "src", dst.shape, "dst")
        value = cast_exact(src, dst.dtype, cond=cond)
    else:
        check_same_device(dst=dst, cond=cond)
        value = _scalar_as_tensor(src, dst, "src", "dst")
    return torch.where(cond, value, dst)
