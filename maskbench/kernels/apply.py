"""Apply a mask to an image: keep, blend, or fill with a number, a tensor, the mean or an inpainting.

Both functions are sync-free and differentiable in the image, a floating mask and a tensor fill.
Removed pixels never leak: NaN/Inf under a removed pixel (bool False, or weight 0) affects neither
the result nor any gradient, and the gradient w.r.t. the image there is exactly 0.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F

from maskbench._checks import (
    ArgumentError,
    DTypeError,
    ShapeError,
    as_bchw,
    check_broadcast_to,
    check_choice,
    check_int,
    check_mask_dtype,
    check_same_device,
    check_tensor,
    check_weight_range,
    describe,
    from_bchw,
    short_repr,
    spatial_mask_as_4d,
)
from maskbench.kernels._casting import accumulation_dtype
from maskbench.kernels._masking import INT_VIEW, drop_excluded, keep_bits, select, where0, zero_outside
from maskbench.kernels._shapes import broadcasts_to
from maskbench.kernels.assign import _scalar_as_tensor, is_exact_cast

__all__ = ["apply_mask", "inpaint"]

_FILL_MODES = ("mean", "inpaint")
_DEFAULT_INPAINT_STEPS = 4
#: Smoothing steps are a loop of full-image passes: a cap keeps a typo (or 10**400) from hanging.
MAX_INPAINT_STEPS = 10_000


def apply_mask(
    image: torch.Tensor,
    mask: torch.Tensor,
    *,
    fill: float | torch.Tensor | str = 0.0,
    channels_last: bool = False,
    inpaint_steps: int | None = None,
) -> torch.Tensor:
    """Keep the pixels a mask selects and replace the others with ``fill``.

    A **bool** mask keeps pixels where True and puts ``fill`` elsewhere (``torch.where`` semantics).
    A **floating** mask is a weight in [0, 1]: ``image * w + fill * (1 - w)``, exactly ``fill`` where
    ``w == 0`` and exactly ``image`` where ``w == 1``. Integer masks are rejected (0/1 or 0/255?).

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``; with ``channels_last=True``, ``(H, W, C)`` or
            ``(B, H, W, C)`` (never guessed from the sizes). Floating, or integer/bool with a bool
            mask and a whole-number fill.
        mask: ``(H, W)``, ``(1, H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``; per-channel ``(C, H, W)``
            (unbatched) or ``(B, C, H, W)`` (batched) too. Always channels-first, whatever the image.
        fill: What removed pixels become:
            a Python number; a per-channel tensor ``(C,)`` (a 1-D tensor is always per-channel);
            a tensor broadcastable to ``image`` in the caller's layout (not growing it);
            ``"mean"``: per image and channel, the mean of the kept pixels (weighted by ``w`` for a
            floating mask; 0 when nothing is kept); ``"inpaint"``: filled from valid neighbours by
            :func:`inpaint`.
        channels_last: The image (and a full-size ``fill``) is ``(..., H, W, C)``.
        inpaint_steps: Smoothing steps after the pull-push pass (only with ``fill="inpaint"``).

    Returns:
        A tensor with the image's shape, layout and dtype.

    Raises:
        ShapeError: mask or fill do not fit the image (the message lists the accepted shapes).
        DTypeError: integer mask; a float mask, ``"mean"`` or ``"inpaint"`` with a non-floating image.
        MaskValueError: a floating mask outside [0, 1] (checked on CPU, outside torch.compile).
        CastError: a number ``fill`` that an integer image cannot hold (e.g. 300 in uint8).
        DeviceError: image, mask and a tensor fill are on different devices.

    Syncs: none.

    Example:
        >>> image = torch.arange(1.0, 5.0).reshape(1, 2, 2)
        >>> apply_mask(image, torch.tensor([[True, False], [False, True]]), fill=-1.0)
        tensor([[[ 1., -1.],
                 [-1.,  4.]]])
        >>> apply_mask(image, torch.tensor([[1.0, 0.5], [0.0, 1.0]]), fill="mean")
        tensor([[[1.0000, 2.2000],
                 [2.4000, 4.0000]]])
    """
    x, batched = as_bchw(image, "image", channels_last=channels_last)
    check_tensor(mask, "mask")
    check_mask_dtype(mask, "mask")
    check_same_device(image=image, mask=mask, fill=fill if isinstance(fill, torch.Tensor) else None)
    m = _mask_4d(mask, image, x, batched, channels_last)
    if isinstance(fill, str):
        check_choice(fill, "fill", _FILL_MODES)
    if inpaint_steps is not None and not (isinstance(fill, str) and fill == "inpaint"):
        raise ArgumentError(
            f"inpaint_steps: only used with fill='inpaint'; got inpaint_steps={short_repr(inpaint_steps)} with "
            f"fill={short_repr(fill)}. Drop it or set fill='inpaint'.",
            name="inpaint_steps",
        )
    if m.is_floating_point() or isinstance(fill, str):
        if not x.is_floating_point():
            why = "a floating (weight) mask" if m.is_floating_point() else f"fill={fill!r}"
            raise DTypeError(
                f"image: {why} needs a floating image; got {describe(image)}. "
                f"Convert with `image.float()` (or pass a bool mask with a whole-number fill)."
            )
    if m.is_floating_point():
        check_weight_range(mask, "mask")
        m = m.to(x.dtype)
    if isinstance(fill, str) and fill == "mean":
        if m.dtype == torch.bool and _bit_path_ok(x, m):
            return from_bchw(_mean_filled(x, m, keep_bits(m, x)), batched, channels_last=channels_last)
        f = _mean_fill(x, m)
    elif isinstance(fill, str):
        steps = _DEFAULT_INPAINT_STEPS if inpaint_steps is None else inpaint_steps
        steps = check_int(steps, "inpaint_steps", min_value=0, max_value=MAX_INPAINT_STEPS)
        return from_bchw(_inpaint(x, m, steps), batched, channels_last=channels_last)
    else:
        f = _tensor_fill(fill, image, x, batched, channels_last)
    finite_fill = isinstance(fill, Real) and math.isfinite(fill)  # known on the host: no sync
    zero_fill = finite_fill and fill == 0 and math.copysign(1.0, fill) > 0  # +0, not -0.0
    out = _combine(x, m, f, finite_fill=finite_fill, zero_fill=zero_fill)
    return from_bchw(out, batched, channels_last=channels_last)


def inpaint(
    image: torch.Tensor, mask: torch.Tensor, *, steps: int | None = None, channels_last: bool = False
) -> torch.Tensor:
    """Fill the pixels where ``mask`` is False from the valid ones (pull-push + smoothing).

    Algorithm (bounded, batched, on device): **pull** builds a pyramid of normalised convolution:
    at each of ``ceil(log2(max(H, W)))`` levels the sums of ``(x * m, m)`` over 2x2 blocks are
    taken, down to 1x1. **Push** goes back up: each level's colour ``S / M`` (where its weight ``M``
    is > 0) is blended, with weight ``min(M, 1)``, over the bilinear upsampling of the coarser level,
    so holes get the average of the nearest valid pixels at the coarsest scale that has any. Then
    ``steps`` normalised 3x3 box-filter iterations smooth the half-resolution level (each 2x2 block
    keeps its valid pixels' share fixed: ``block = sum(valid) / 4 + (1 - valid / 4) * smoothed``),
    and a bilinear x2 upsampling gives the full-resolution estimate (all as slice arithmetic: 3x2048^2
    costs ~15 zero fills).
    Every filled value is a convex combination of valid pixels, so it stays in their range.

    Kept pixels are unchanged exactly; an image with no valid pixel gives 0; NaN/Inf under removed
    pixels is ignored (but a NaN *kept* pixel spreads into the holes around it, as it would in
    any average). A floating mask is a certainty in [0, 1]: ``image * w + filled * (1 - w)``.
    Same as ``apply_mask(image, mask, fill="inpaint", inpaint_steps=steps)``.

    Args:
        image: floating ``(C, H, W)`` or ``(B, C, H, W)`` (``(..., H, W, C)`` with ``channels_last``).
        mask: as in :func:`apply_mask`; True = valid pixel. Per-channel masks inpaint each channel
            from its own valid pixels.
        steps: Smoothing iterations after pull-push (default 4; 0 for pull-push only; at most 10000).
        channels_last: The image is ``(H, W, C)`` or ``(B, H, W, C)``.

    Returns:
        The image's shape, layout and dtype (float16/bfloat16 are computed in float32).

    Syncs: none. Cost: ``O(B C H W)`` work in ``ceil(log2(max(H, W))) + steps`` fixed launches.

    Example:
        >>> image = torch.tensor([[[1.0, 0.0, 3.0]]])
        >>> mask = torch.tensor([[True, False, True]])
        >>> inpaint(image, mask, steps=0)  # pull-push alone
        tensor([[[1.0000, 1.5000, 3.0000]]])
        >>> inpaint(image, mask)  # + 4 smoothing steps
        tensor([[[1.0000, 1.9980, 3.0000]]])
    """
    # errors name *this* argument (not apply_mask's inpaint_steps)
    steps = None if steps is None else check_int(steps, "steps", min_value=0, max_value=MAX_INPAINT_STEPS)
    return apply_mask(image, mask, fill="inpaint", channels_last=channels_last, inpaint_steps=steps)


def _mask_4d(mask: torch.Tensor, image: torch.Tensor, x: torch.Tensor, batched: bool, channels_last: bool):
    try:
        return spatial_mask_as_4d(mask, x, batched, "mask")
    except ShapeError as err:
        # A hint only (the layout itself is never guessed): an (H, W, C) image read as (C, H, W).
        if not channels_last and mask.ndim >= 2 and image.ndim >= 3 and mask.shape[-2:] == image.shape[-3:-1]:
            raise ShapeError(f"{err} If image is channels-last (H, W, C), pass channels_last=True.") from None
        raise


def _combine(
    x: torch.Tensor, m: torch.Tensor, f: torch.Tensor, *, finite_fill: bool = False, zero_fill: bool = False
) -> torch.Tensor:
    """Keep ``x`` where ``m`` (bool) or blend ``x * w + f * (1 - w)`` (weight), leak-free.

    ``zero_fill``: ``f`` is known (on the host) to be +0, so a bool mask needs only one AND pass.
    """
    if m.dtype == torch.bool:  # torch.where; on CPU a vectorised bit select (its scalar loop is ~3x slower)
        return where0(m, x) if zero_fill else select(m, x, f.to(x.dtype))
    if zero_fill and _bit_path_ok(x, m):
        # CPU, eager: a finite image times a weight in [0, 1] (checked) is finite, so nothing under
        # w == 0 can leak and the plain product is the answer (there w == 0 gives +-0). One read
        # of x tells (a finite sum means no NaN/Inf; an overflow only sends us the long way).
        if bool(x.sum(dtype=accumulation_dtype(x.dtype)).isfinite()):  # a host read, no device sync
            return torch.mul(x, m)
        # x * w, then +0 under w == 0 by AND-ing the bits: two vectorised passes instead of a blend
        # and a scalar-loop torch.where (NaN/Inf under w == 0 stays out; -0.0 may stay -0.0).
        # The bits straight from w's pattern (w in [0, 1] was checked): > 0 as an integer iff w > 0
        # (-0.0 is the most negative integer), so clamp(0, 1).neg() is all-ones there and 0 elsewhere.
        bits = m.view(INT_VIEW[m.dtype]).clamp(0, 1).neg_()
        out = torch.mul(x, m)
        return out.view(bits.dtype).bitwise_and_(bits).view(x.dtype)
    f = f.to(x.dtype)
    if m.requires_grad and torch.is_grad_enabled():  # known on the host: no sync
        # d/dw = x - f: read a non-finite x under w == 0 (and f under w == 1) as 0, so a NaN on the
        # discarded side never reaches the mask's gradient (the wheres below guard the values).
        x, f = drop_excluded(x, m), drop_excluded(f, 1 - m)
    # By hand, not lerp: lerp's branch for w >= 0.5, x - (x - f) * (1 - w), is Inf - Inf = NaN for an
    # infinite x, where x * w + f * (1 - w) is the Inf the formula promises.
    blended = torch.addcmul(f * (1 - m), x, m)
    # The two wheres make w == 0 give exactly f and w == 1 exactly x: NaN/Inf on the discarded side
    # (0 * Inf) never leaks into the value, nor into the gradient w.r.t. x or f.
    if not finite_fill:
        blended = torch.where(m == 1, x, blended)
    return torch.where(m == 0, f, blended)


def _tensor_fill(fill: object, image: torch.Tensor, x: torch.Tensor, batched: bool, channels_last: bool):
    """A number or tensor fill as a tensor in x's dtype that broadcasts to ``(B, C, H, W)``."""
    if not isinstance(fill, torch.Tensor):
        if not isinstance(fill, Real):
            raise DTypeError(f"fill: expected a number, a tensor, 'mean' or 'inpaint'; got {describe(fill)}.")
        return _scalar_as_tensor(fill, x, "fill", "image")
    if fill.is_complex() or (not x.is_floating_point() and not is_exact_cast(fill.dtype, x.dtype)):
        raise DTypeError(
            f"fill: a {fill.dtype} fill cannot be stored exactly in the {x.dtype} image ({describe(image)}). "
            f"Cast it yourself (`fill.to(image.dtype)`) or convert the image (`image.float()`)."
        )
    c = x.shape[1]
    if fill.ndim == 1:  # always per-channel: (W,) would be ambiguous when W == C
        if fill.shape[0] not in (1, c):
            raise ShapeError(
                f"fill: a 1-D fill is per-channel and needs C = {c} value(s) for image {describe(image)}; "
                f"got {describe(fill)}. For a fill that varies along W, pass shape (1, 1, W)."
            )
        return fill.to(x.dtype).view(1, -1, 1, 1)
    check_broadcast_to(fill, "fill", image.shape, "image")
    f = fill.to(x.dtype).reshape((1,) * (image.ndim - fill.ndim) + tuple(fill.shape))
    f = f if batched else f.unsqueeze(0)
    return f.permute(0, 3, 1, 2) if channels_last else f  # same view as_bchw made of the image


def _bit_path_ok(x: torch.Tensor, m: torch.Tensor) -> bool:
    """Whether the in-place bit paths apply: CPU, eager, an integer view, no autograd, m not growing x."""
    if x.device.type != "cpu" or x.dtype not in INT_VIEW or torch.compiler.is_compiling():
        return False
    if torch.is_grad_enabled() and (x.requires_grad or m.requires_grad):
        return False
    return m.dtype in (torch.bool, x.dtype) and broadcasts_to(m.shape, x.shape)


def _mean_filled(x: torch.Tensor, m: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """``fill="mean"`` with a bool mask on CPU: the zeroed image is summed, then takes the means in place."""
    kept = zero_outside(x, m, bits)
    num = kept.sum((2, 3), keepdim=True, dtype=accumulation_dtype(x.dtype))
    den = m.sum((2, 3), keepdim=True)  # at the mask's channel count, exact int64
    mean = (num / den.clamp_min(1)).to(x.dtype)  # num is 0 where den is 0
    # kept (+0 where removed) + mean * (1 where removed, 0 where kept), in integer arithmetic on the
    # bit patterns: exact, and one in-place pass (no image-sized fill pattern to build first)
    removed = bits.add_(1)  # all-ones + 1 = 0 where kept, 1 where removed (bits is our own temporary)
    return kept.view(bits.dtype).addcmul_(mean.view(bits.dtype), removed).view(x.dtype)


def _mean_fill(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel (weighted) mean of the kept pixels, ``(B, C, 1, 1)``; 0 if none."""
    acc = accumulation_dtype(x.dtype)
    w = m.to(acc)
    kept = drop_excluded(x, m).to(acc)
    num = (kept * w).sum((2, 3), keepdim=True)
    den = w.expand(x.shape).sum((2, 3), keepdim=True)
    return (num / torch.where(den > 0, den, 1.0)).to(x.dtype)  # num is 0 where den is 0


def _inpaint(x: torch.Tensor, m: torch.Tensor, steps: int) -> torch.Tensor:
    """``x`` where kept, the inpainted estimate elsewhere (a weight mask blends the two)."""
    bits = None
    if m.dtype == torch.bool and x.dtype in INT_VIEW and not torch.compiler.is_compiling():
        if not (torch.is_grad_enabled() and x.requires_grad):  # in-place bit ops below: no autograd
            bits = keep_bits(m, x)  # None off the CPU
    if bits is None:
        return _combine(x, m, _inpaint_fill(x, m, steps))
    # CPU, bool mask: zero x outside once, and reuse it to put the kept pixels back into the estimate
    xs = zero_outside(x, m, bits)
    est = _inpaint_fill(x, m, steps, xs=xs)
    est = est.to(x.dtype).contiguous()  # a fresh tensor of ours (a copy when cropped or expanded)
    est_bits = est.view(bits.dtype)
    est_bits.bitwise_and_(bits.bitwise_not_())  # bits is our own temporary
    return est_bits.bitwise_or_(xs.view(bits.dtype)).view(x.dtype)


def _inpaint_fill(x: torch.Tensor, m: torch.Tensor, steps: int, *, xs: torch.Tensor | None = None) -> torch.Tensor:
    """The pull-push (+ smoothing) estimate for every pixel, ``(B, C, H, W)`` in x's dtype.

    Why it looks like this (issue 11: 3x2048^2 in ~20x a zero fill, was ~100x): the only passes at
    full resolution are the masked image, one 2x2 block sum and one bilinear x2 upsampling, all as
    slice arithmetic (CPU ``avg_pool2d``/``interpolate`` are several times slower than that). The
    mask's weights stay at the mask's channel count, and the smoothing runs on the half-resolution
    level (each step a separable 3x3 box: a quarter of the work, twice the reach).
    """
    if x.numel() == 0:  # a shape test, not a data one: there is nothing to fill
        return torch.zeros_like(x)
    acc = accumulation_dtype(x.dtype)
    w = m.to(acc)  # (B, 1 or C, H, W): never expanded to the image's channels
    xs = (xs if xs is not None else drop_excluded(x, m)).to(acc)
    sums, weights = [xs if m.dtype == torch.bool else xs * w], [w]
    h, wd = x.shape[-2:]
    levels = (max(h, wd) - 1).bit_length()  # ceil(log2(max(H, W))): halvings down to 1x1
    for _ in range(levels):  # pull: 2x2 block sums (zero-padded to even sizes)
        sums.append(_block_sums(sums[-1]))
        weights.append(_block_sums(weights[-1]))

    c = sums[-1] / torch.where(weights[-1] > 0, weights[-1], 1.0)  # s is 0 where the weight is 0
    for lvl in range(levels - 1, 0, -1):  # push: blend each level over the coarser estimate
        s, k = sums[lvl], weights[lvl]
        a = k.clamp(max=1.0)
        own = s / torch.where(k > 0, k, 1.0) * a  # this level's colour where it has weight
        c = torch.addcmul(own, _upsample2(c, s.shape[-2:]), 1 - a)
        if lvl == 1 and steps:  # smoothing, see the docstring
            frac = k / _block_sizes(h, wd, k)  # the share of each block's pixels that is valid
            own, free = s / _block_sizes(h, wd, k), (1 - frac).expand_as(c)
            norm = _box3(torch.ones_like(c[:1, :1])).reciprocal_()  # 1/9 inside, 1/6 edges, 1/4 corners
            for _ in range(steps):
                c = torch.addcmul(own, _box3(c).mul_(norm), free)
    # level 0 keeps its own pixels apart: _combine puts them back exactly
    est = _upsample2(c, (h, wd)) if levels else c.expand_as(xs)
    return est.to(x.dtype)


def _block_sizes(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Pixels in each 2x2 block of an (h, w) image: 4, 2 on an odd last row or column, 1 in an odd corner."""
    n = torch.full(like.shape[-2:], 4.0, dtype=like.dtype, device=like.device)
    if h % 2:
        n[-1] /= 2
    if w % 2:
        n[:, -1] /= 2
    return n


def _block_sums(t: torch.Tensor) -> torch.Tensor:
    """Sums over 2x2 blocks, zero-padded to even sizes: ``(..., ceil(H/2), ceil(W/2))``."""
    if t.shape[-2] % 2 or t.shape[-1] % 2:
        t = F.pad(t, (0, t.shape[-1] % 2, 0, t.shape[-2] % 2))
    out = t[..., ::2, ::2] + t[..., 1::2, ::2]
    out += t[..., ::2, 1::2]
    out += t[..., 1::2, 1::2]
    return out


def _box3(t: torch.Tensor) -> torch.Tensor:
    """Sums over 3x3 neighbourhoods (zero outside), separable: one shifted add per side and axis."""
    for dim in (-1, -2):
        n = t.shape[dim]
        out = torch.empty_like(t)
        out.narrow(dim, 0, 1).copy_(t.narrow(dim, 0, 1))
        _into(out.narrow(dim, 1, n - 1), torch.add, t.narrow(dim, 1, n - 1), t.narrow(dim, 0, n - 1))
        out.narrow(dim, 0, n - 1).add_(t.narrow(dim, 1, n - 1))
        t = out
    return t


def _upsample2(c: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear x2 upsampling (``align_corners=False``, edges clamped) cropped to ``size``.

    As ``F.interpolate(c, scale_factor=2, mode="bilinear")``: output ``2i`` is ``0.75 c[i] + 0.25 c[i-1]``
    and ``2i + 1`` is ``0.75 c[i] + 0.25 c[i+1]``, per axis, written straight into the output.
    """
    for dim, n_out in ((-1, size[1]), (-2, size[0])):
        n = c.shape[dim]
        shape = list(c.shape)
        shape[dim:] = [n, 2] + shape[dim:][1:]  # (..., n, 2) or (..., n, 2, W)
        pair = c.new_empty(shape)
        even, odd = pair.select(dim, 0), pair.select(dim, 1)
        even.narrow(dim, 0, 1).copy_(c.narrow(dim, 0, 1))  # the edge clamps: c[-1] := c[0]
        odd.narrow(dim, n - 1, 1).copy_(c.narrow(dim, n - 1, 1))
        _into(even.narrow(dim, 1, n - 1), torch.lerp, c.narrow(dim, 1, n - 1), c.narrow(dim, 0, n - 1), 0.25)
        _into(odd.narrow(dim, 0, n - 1), torch.lerp, c.narrow(dim, 0, n - 1), c.narrow(dim, 1, n - 1), 0.25)
        c = pair.flatten(dim - 1, dim).narrow(dim, 0, n_out)
    return c


def _into(out: torch.Tensor, op, *args) -> None:
    """``op(*args)`` written into the view ``out``: straight (``out=``) unless autograd must see it."""
    if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
        out.copy_(op(*args))  # out= is not differentiable; an in-place copy into a view is
    else:
        op(*args, out=out)
