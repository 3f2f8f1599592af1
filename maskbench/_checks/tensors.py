"""Checks of tensors: types, shapes, dtypes, devices and, on CPU in eager mode only, values."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from maskbench._checks.errors import DeviceError, DTypeError, MaskValueError, ShapeError, describe

__all__ = [
    "check_tensor",
    "check_same_device",
    "check_mask_dtype",
    "check_bool_mask",
    "can_read_values",
    "check_weight_range",
    "check_labels",
    "as_bchw",
    "from_bchw",
    "spatial_mask_as_4d",
    "check_broadcast_to",
    "check_same_shape",
    "check_label_range",
    "check_increasing",
    "check_probabilities",
    "check_real",
]


def check_tensor(x: object, name: str, *, ndim: int | Sequence[int] | None = None) -> torch.Tensor:
    """Require a ``torch.Tensor`` (optionally with one of the given numbers of dimensions)."""
    if not isinstance(x, torch.Tensor):
        raise DTypeError(
            f"{name}: expected a torch.Tensor; got {describe(x)}. "
            f"Convert with maskbench.as_tensor({name}) (numpy, PIL and DLPack arrays are accepted)."
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            dims = " or ".join(str(d) for d in allowed)
            raise ShapeError(f"{name}: expected {dims} dimensions; got {describe(x)}.")
    return x


def check_same_device(**tensors: torch.Tensor | None) -> None:
    """Require every given tensor to be on the same device (``None`` entries are ignored)."""
    named = [(n, t) for n, t in tensors.items() if isinstance(t, torch.Tensor)]
    if not named:
        return
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.device != first.device:
            raise DeviceError(
                f"{name}: expected a tensor on {first.device} like {first_name}; got {describe(t)}. "
                f"Move it with {name}.to({first_name}.device)."
            )


def check_mask_dtype(mask: torch.Tensor, name: str = "mask", *, allow_float: bool = True) -> torch.Tensor:
    """A mask is ``bool`` (keep where True) or, when ``allow_float``, a floating weight in [0, 1].

    Integer masks are rejected rather than guessed: ``uint8`` 0/1 and 0/255 masks both exist.
    """
    if mask.dtype == torch.bool:
        return mask
    if allow_float and mask.is_floating_point():
        return mask
    kinds = "bool or floating (a weight in [0, 1])" if allow_float else "bool"
    raise DTypeError(
        f"{name}: expected a {kinds} mask; got {describe(mask)}. "
        f"Integer masks are ambiguous (0/1 or 0/255?): convert with `{name} > 0` or `{name}.bool()`"
        + (f", or `{name}.float() / 255` for a weight." if allow_float else ".")
    )


def check_bool_mask(mask: object, name: str = "mask", *, min_ndim: int = 2) -> torch.Tensor:
    """Require a ``bool`` tensor with at least ``min_ndim`` dims (binary morphology, labelling).

    Floating masks are rejected with the fix ``mask > 0.5``; integer masks with ``mask > 0``.
    """
    check_tensor(mask, name)
    if mask.dtype != torch.bool:
        if mask.is_floating_point():
            fix = f"threshold it, e.g. `{name} > 0.5` (or maskbench.threshold({name}, 0.5))"
        else:
            fix = f"convert with `{name} > 0` or `{name}.bool()` (0/1 or 0/255?)"
        raise DTypeError(f"{name}: expected a bool mask; got {describe(mask)}. To binarise it, {fix}.")
    if mask.ndim < min_ndim:
        raise ShapeError(
            f"{name}: expected at least {min_ndim} dimensions (..., H, W); got {describe(mask)}."
            + (f" For a single row use `{name}[None]`." if mask.ndim == 1 else "")
        )
    return mask


def can_read_values(x: torch.Tensor) -> bool:
    """Whether a check may read ``x``'s values: on CPU and outside ``torch.compile`` only.

    Reading data on an accelerator is a host sync, and inside torch.compile it breaks the graph.
    """
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


def check_weight_range(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """Reject a floating mask with values outside [0, 1] or NaN (CPU tensors, eager mode only)."""
    if mask.is_floating_point() and can_read_values(mask) and mask.numel() > 0:
        seen = _outside_unit_interval(mask)
        if seen:
            raise MaskValueError(
                f"{name}: a floating mask is a weight and must lie in [0, 1] (no NaN); "
                f"{seen} for {describe(mask)}. "
                f"For a binary mask pass a bool tensor (e.g. `{name} > 0.5`); "
                f"for a weight rescale it (e.g. `{name}.clamp(0, 1)`)."
            )
    return mask


def _outside_unit_interval(x: torch.Tensor) -> str:
    """``""`` when every value of ``x`` lies in [0, 1]; else what was seen, for a message (reads values)."""
    lo, hi = x.aminmax()  # one pass; NaN makes both NaN and fails the test below
    if bool(lo >= 0) and bool(hi <= 1):
        return ""
    bad = ~((x >= 0) & (x <= 1))
    # NaN would turn aminmax into [nan, nan]; Inf must show as inf (nan_to_num clips it).
    nan = x.isnan()
    n_nan = int(nan.sum())
    lo, hi = x.masked_fill(nan, 0.5).aminmax()
    seen = f"{'non-NaN ' if n_nan else ''}values in [{lo.item():.4g}, {hi.item():.4g}]"
    seen = "only NaN" if n_nan == x.numel() else seen
    return f"got {seen} ({int(bad.sum())} of {x.numel()} outside, {n_nan} NaN)"


def check_labels(labels: torch.Tensor, name: str = "labels", *, num_classes: int | None = None) -> torch.Tensor:
    """Require an integer label map; with ``num_classes`` on CPU, also require values in range."""
    check_tensor(labels, name)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise DTypeError(
            f"{name}: expected an integer label map (uint8/int16/int32/int64); got {describe(labels)}. "
            f"Convert class probabilities with maskbench.argmax_labels, or cast with `{name}.long()`."
        )
    if num_classes is not None and can_read_values(labels) and labels.numel() > 0:
        lo, hi = labels.aminmax()
        if lo.item() < 0 or hi.item() >= num_classes:
            raise MaskValueError(
                f"{name}: expected labels in [0, {num_classes - 1}] for num_classes={num_classes}; "
                f"got values in [{lo.item()}, {hi.item()}] for {describe(labels)}. "
                f"Raise num_classes or map the stray labels (e.g. an ignore value) first."
            )
    return labels


def as_bchw(image: torch.Tensor, name: str = "image", *, channels_last: bool = False) -> tuple[torch.Tensor, bool]:
    """View an image as ``(B, C, H, W)``; returns the view and whether the input was batched.

    Accepts ``(C, H, W)`` or ``(B, C, H, W)``; with ``channels_last=True``, ``(H, W, C)`` or
    ``(B, H, W, C)`` (the layout is never guessed from the sizes).
    """
    check_tensor(image, name)
    layout = "(H, W, C) or (B, H, W, C)" if channels_last else "(C, H, W) or (B, C, H, W)"
    if image.ndim not in (3, 4):
        hint = ""
        if image.ndim == 2:
            hint = f" For a single-channel (H, W) image use `{name}[None]`."
        raise ShapeError(f"{name}: expected {layout}; got {describe(image)}.{hint}")
    batched = image.ndim == 4
    x = image if batched else image.unsqueeze(0)
    if channels_last:
        x = x.permute(0, 3, 1, 2)
    return x, batched


def from_bchw(x: torch.Tensor, batched: bool, *, channels_last: bool = False) -> torch.Tensor:
    """Inverse of :func:`as_bchw`: back to the caller's layout."""
    if channels_last:
        x = x.permute(0, 2, 3, 1)
    return x if batched else x.squeeze(0)


def spatial_mask_as_4d(
    mask: torch.Tensor,
    image: torch.Tensor,
    batched: bool,
    name: str = "mask",
    *,
    image_name: str = "image",
    allow_channels: bool = True,
) -> torch.Tensor:
    """Reshape a mask to broadcast against a ``(B, C, H, W)`` image, or raise a clear error.

    Accepted mask shapes, for an unbatched ``(C, H, W)`` image: ``(H, W)``, ``(1, H, W)`` and, with
    ``allow_channels``, ``(C, H, W)``. For a batched ``(B, C, H, W)`` image: ``(H, W)``, ``(1, H, W)``,
    ``(B, H, W)``, ``(B, 1, H, W)``, ``(1, 1, H, W)`` and, with ``allow_channels``, ``(B, C, H, W)``.
    A 3-D mask on a batched image is always ``(B, H, W)``, never ``(C, H, W)``: that case is ambiguous
    when B == C, so per-channel masks on batches must be 4-D. Returns ``(B|1, C|1, H, W)``.
    """
    check_tensor(mask, name)
    b, c, h, w = image.shape
    shown_image = tuple(image.shape) if batched else tuple(image.shape[1:])
    if batched:
        expected = f"(H, W), (B, H, W) or (B, 1, H, W) = ({h}, {w}), ({b}, {h}, {w}) or ({b}, 1, {h}, {w})"
        if allow_channels:
            expected += f" or (B, C, H, W) = {tuple(image.shape)}"
    else:
        expected = f"(H, W) or (1, H, W) = ({h}, {w}) or (1, {h}, {w})"
        if allow_channels:
            expected += f" or (C, H, W) = ({c}, {h}, {w})"

    def fail(extra: str = "") -> ShapeError:
        return ShapeError(
            f"{name}: expected {expected} to match {image_name} {shown_image}; got {describe(mask)}.{extra}"
        )

    if mask.ndim < 2 or mask.shape[-2:] != (h, w):
        extra = ""
        if mask.ndim >= 2 and mask.shape[-2:] == (w, h) and h != w:
            extra = " The mask looks transposed (W, H): masks are (rows, cols)."
        elif mask.ndim == 1:
            extra = f" A flattened mask loses its shape: reshape it to ({h}, {w})."
        elif mask.ndim == 3 and mask.shape[0] == h and mask.shape[1] == w:
            extra = " The mask looks channels-last (H, W, C): index it as mask[..., 0]."
        raise fail(extra)
    if mask.ndim == 2:
        return mask.view(1, 1, h, w)
    if mask.ndim == 3:
        lead = mask.shape[0]
        if batched:
            if lead in (1, b):
                return mask.unsqueeze(1)
            raise fail()
        if lead == 1 or (allow_channels and lead == c):
            return mask.unsqueeze(0)
        raise fail()
    if mask.ndim == 4 and batched:
        mb, mc = mask.shape[:2]
        if mb in (1, b) and (mc == 1 or (allow_channels and mc == c)):
            return mask
        raise fail()
    raise fail()


def check_broadcast_to(x: torch.Tensor, name: str, shape: Sequence[int], target_name: str) -> None:
    """Require ``x`` to broadcast to ``shape`` *without* growing ``shape`` (numpy rules)."""
    shape = tuple(shape)
    ok = x.ndim <= len(shape) and all(xs in (1, ts) for xs, ts in zip(reversed(tuple(x.shape)), reversed(shape)))
    if not ok:
        raise ShapeError(
            f"{name}: expected a shape that broadcasts to {target_name} {shape} "
            f"(each trailing size 1 or equal); got {describe(x)}."
        )


def check_same_shape(
    a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str, *, broadcast_hint: bool = False
) -> None:
    """Require two tensors of exactly the same shape (no broadcasting), e.g. a prediction and its target.

    ``broadcast_hint=True`` (losses) words the error as a warning against broadcasting ``b`` and
    suggests adding a channel dim to it, instead of suggesting which channel dim to drop.
    """
    if a.shape == b.shape:
        return
    shape = tuple(a.shape)
    if broadcast_hint:
        raise ShapeError(
            f"{b_name}: expected the shape of {a_name} {shape}; got {describe(b)}. "
            f"Broadcasting a {b_name} is a classic silent bug: reshape it "
            f"(e.g. {b_name}[:, None] for (N, H, W)).",
            name=b_name,
            expected=str(shape),
            got=describe(b),
        )
    hint = ""
    if a.ndim >= 2 and a.ndim == b.ndim + 1 and a.shape[1] == 1 and a.shape[:1] + a.shape[2:] == b.shape:
        hint = f" Drop the channel dim with `{a_name}[:, 0]`."
    elif b.ndim >= 2 and b.ndim == a.ndim + 1 and b.shape[1] == 1 and b.shape[:1] + b.shape[2:] == a.shape:
        hint = f" Drop the channel dim with `{b_name}[:, 0]`."
    raise ShapeError(
        f"{b_name}: expected the same shape as {a_name} {shape}; got {describe(b)}.{hint}",
        name=b_name,
        expected=str(shape),
        got=describe(b),
    )


def check_label_range(
    labels: torch.Tensor, name: str, *, num_classes: int, where: torch.Tensor | None = None
) -> torch.Tensor:
    """Require labels in ``[0, num_classes)`` where ``where`` is True (CPU tensors, eager mode only).

    Unlike :func:`check_labels` this skips excluded pixels, so an ignore value such as 255 may
    stay in a target whose excluded pixels are masked out by ``where``.
    """
    if can_read_values(labels) and labels.numel() > 0:
        bad = (labels < 0) | (labels >= num_classes)
        if where is not None:
            bad = bad & where
        if bool(bad.any()):
            values = torch.unique(labels.expand_as(bad)[bad])[:8].tolist()
            raise MaskValueError(
                f"{name}: expected labels in [0, {num_classes - 1}] for num_classes={num_classes}; "
                f"got {int(bad.sum())} pixel(s) with values such as {values} in {describe(labels)}. "
                f"Raise num_classes, or exclude an ignore label with ignore=<value> (e.g. ignore=255)."
            )
    return labels


def check_increasing(x: torch.Tensor, name: str) -> torch.Tensor:
    """Require a non-empty 1-D floating tensor sorted ascending without NaN (values read on CPU only)."""
    check_tensor(x, name, ndim=1)
    if not x.is_floating_point():
        raise DTypeError(f"{name}: expected a floating tensor; got {describe(x)}. Use `{name}.float()`.")
    if x.numel() == 0:
        raise ShapeError(f"{name}: expected at least one value; got {describe(x)}.")
    if can_read_values(x) and (bool(x.isnan().any()) or bool((x[1:] < x[:-1]).any())):
        raise MaskValueError(
            f"{name}: expected values sorted ascending without NaN; got {describe(x)} "
            f"starting {x[:6].tolist()}. Sort them with `{name}.sort().values`."
        )
    return x


def check_probabilities(x: torch.Tensor, name: str = "probs", *, fix: str = "") -> torch.Tensor:
    """Require a floating tensor of probabilities: every value in [0, 1], no NaN (values read on CPU only).

    ``fix`` is appended to the message (e.g. "If these are logits, pass logits=True.").
    """
    check_tensor(x, name)
    if not x.is_floating_point():
        kind = "a bool mask (already thresholded)" if x.dtype == torch.bool else "integers"
        raise DTypeError(
            f"{name}: expected floating probabilities in [0, 1]; got {kind}, {describe(x)}. "
            f"Convert with `{name}.float()` (divide 8-bit scores by 255)."
        )
    if can_read_values(x) and x.numel() > 0:
        seen = _outside_unit_interval(x)
        if seen:
            raise MaskValueError(
                f"{name}: expected probabilities in [0, 1] without NaN; {seen} for {describe(x)}. "
                + (fix or f"Rescale them, e.g. `{name}.clamp(0, 1)`.")
            )
    return x


def check_real(x: object, name: str = "x") -> torch.Tensor:
    """Require a tensor of real numbers: floating or integer, not ``bool`` (a mask) or complex."""
    check_tensor(x, name)
    if x.dtype == torch.bool or x.is_complex():
        fix = (
            "A bool tensor is already a mask."
            if x.dtype == torch.bool
            else f"Take `{name}.real` or `{name}.abs()` first."
        )
        raise DTypeError(f"{name}: expected a real (float or integer) tensor; got {describe(x)}. {fix}")
    return x


# ---------------------------------------------------------------- losses and reductions
