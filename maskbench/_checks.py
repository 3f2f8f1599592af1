"""The one place where maskbench validates its inputs.

Every error names the argument, what was expected, what came, and a fix when there is one. Error
classes subclass ``ValueError`` / ``TypeError`` so ordinary ``except ValueError`` code catches them.

Checks that only look at shapes, dtypes and devices never read tensor data, so they cost no host
sync on CUDA. Checks that must read values (``check_weight_range``) run only on CPU tensors and
outside ``torch.compile``: on an accelerator they would force a GPU->CPU sync, which maskbench's
kernels promise not to do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "check_bool",
    "MaskbenchError",
    "ArgumentError",
    "ArgumentTypeError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "MaskValueError",
    "CastError",
    "describe",
    "check_tensor",
    "check_choice",
    "check_int",
    "check_number",
    "short_repr",
    "check_same_device",
    "check_mask_dtype",
    "check_weight_range",
    "check_labels",
    "as_bchw",
    "from_bchw",
    "spatial_mask_as_4d",
    "check_broadcast_to",
    "check_bool_mask",
    "check_same_shape",
    "check_label_range",
    "check_increasing",
    "check_probabilities",
    "check_real",
    "can_read_values",
    "_can_read_values",  # old name, kept importable until its last user moves to can_read_values
    "check_floating",
    "check_regression",
    "check_empty",
    "check_reduction",
    "check_loss_mask",
    "check_channel_param",
    "check_number_or_tensor",
]


class MaskbenchError(Exception):
    """Base of maskbench's input errors (always combined with ValueError or TypeError).

    Like kornia's errors it can carry what went wrong as attributes, for code that reacts to them:
    ``name`` (the argument), ``expected`` and ``got`` (short descriptions); each ``None`` if unknown.
    """

    def __init__(
        self, message: str = "", *, name: str | None = None, expected: str | None = None, got: str | None = None
    ) -> None:
        super().__init__(message)
        self.name = name
        self.expected = expected
        self.got = got

    def __reduce__(self):
        # Exception pickles as cls(*args): keyword attributes (and a subclass's own, such as
        # ``.index``) would be lost on the way back from a worker process. Restore them all.
        return _rebuild_error, (type(self), self.args, self.__dict__)


class ArgumentError(MaskbenchError, ValueError):
    """An option or number has a value the operation does not accept (e.g. a negative radius)."""


class ArgumentTypeError(MaskbenchError, TypeError):
    """An argument has a Python type the operation does not accept (e.g. a string for a size)."""


class ShapeError(MaskbenchError, ValueError):
    """A tensor has a shape that does not fit the operation."""


class DTypeError(MaskbenchError, TypeError):
    """A tensor has a dtype the operation does not accept."""


class DeviceError(MaskbenchError, ValueError):
    """Tensors that must live together are on different devices."""


class MaskValueError(MaskbenchError, ValueError):
    """A mask holds values outside what its dtype promises (e.g. a weight outside [0, 1])."""


class CastError(MaskbenchError, ValueError):
    """Values cannot be stored exactly in the target dtype (fractions, NaN/Inf or out of range)."""


def describe(x: object) -> str:
    """Short description of a value for error messages: ``(2, 3, 64, 64) float32 on cpu``."""
    if isinstance(x, torch.Tensor):
        dtype = str(x.dtype).replace("torch.", "")
        return f"{tuple(x.shape)} {dtype} on {x.device}"
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__} of shape {tuple(shape)} dtype {getattr(x, 'dtype', '?')}"
    return f"{type(x).__name__} {x!r}"[:120]


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


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a bad 9 MiB string must not come back whole."""
    text = describe(value) if isinstance(value, torch.Tensor) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 15]}... ({len(text)} chars)"


def check_choice(value: object, name: str, choices: Iterable[object]) -> object:
    """Require ``value`` to be one of ``choices``."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except Exception:  # noqa: BLE001 - e.g. a tensor compared with strings
        ok = False
    if not ok:
        expected = f"one of {', '.join(map(repr, choices))}"
        raise ArgumentError(
            f"{name}: expected {expected}; got {short_repr(value)}.",
            name=name,
            expected=expected,
            got=short_repr(value),
        )
    return value


def check_int(value: object, name: str, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Require a Python integer (not bool) in ``[min_value, max_value]``."""
    return check_number(value, name, min=min_value, max=max_value, integer=True)


def check_number(
    value: object,
    name: str,
    *,
    min: float | None = None,  # noqa: A002 - the issue's and numpy's name
    max: float | None = None,  # noqa: A002
    finite: bool = True,
    integer: bool = False,
) -> int | float:
    """Require a real Python/numpy number (never ``bool``) in ``[min, max]``; returns it as int or float.

    ``integer=True`` accepts only integers (``3``, ``np.int64(3)``; not ``3.0``); ``finite=True``
    rejects NaN and +-Inf. Numbers too large for a float (``10**400``) are rejected as out of range
    instead of raising ``OverflowError``. A 0-d tensor is not a number here (that would be a host sync).
    """
    import numbers

    kind = "an int" if integer else "a number"
    if isinstance(value, (bool, torch.Tensor)) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        got = short_repr(value) if not isinstance(value, torch.Tensor) else f"a tensor {describe(value)}"
        fix = " Pass a Python int, e.g. int(x)." if integer else " Pass a Python float, e.g. float(x)."
        raise ArgumentTypeError(
            f"{name}: expected {kind}; got {type(value).__name__} {got}.{fix}", name=name, expected=kind, got=got
        )
    value = int(value) if integer else value
    if not integer:
        try:
            value = float(value)
        except OverflowError:
            raise ArgumentError(
                f"{name}: expected a finite number; got {short_repr(value)} (too large for a float).",
                name=name,
                expected="a finite number",
                got=short_repr(value),
            ) from None
        if finite and not math.isfinite(value):
            raise ArgumentError(
                f"{name}: expected a finite number; got {value}.",
                name=name,
                expected="a finite number",
                got=repr(value),
            )
        if math.isnan(value) and (min is not None or max is not None):
            raise ArgumentError(f"{name}: expected a number, not NaN.", name=name, expected=kind, got="nan")
    bounds = ""
    if min is not None and value < min:
        bounds = f">= {min}"
    elif max is not None and value > max:
        bounds = f"<= {max}"
    if bounds:
        expected = f"{kind} {bounds}"
        raise ArgumentError(
            f"{name}: expected {expected}; got {short_repr(value)}.",
            name=name,
            expected=expected,
            got=short_repr(value),
        )
    return value


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


_can_read_values = can_read_values  # the old private name, still imported by a few modules


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
    bad = ~((x >= 0) & (x <= 1))
    if not bool(bad.any()):
        return ""
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


def check_number_or_tensor(
    value: object,
    name: str,
    *,
    finite: bool = False,
    broadcast_to: Sequence[int] | None = None,
    target_name: str = "x",
) -> int | float | torch.Tensor:
    """Require a real Python number (a threshold, a start value) or a real tensor; returns it.

    A number goes through :func:`check_number` (``finite=False`` lets NaN and +-Inf through, as
    comparisons define them); a tensor must be real (not bool/complex) and, with ``broadcast_to``,
    broadcast to that shape without growing it. Anything else is an :class:`ArgumentTypeError`.
    Devices are the caller's to check (:func:`check_same_device`).
    """
    if isinstance(value, torch.Tensor):
        check_real(value, name)
        if broadcast_to is not None:
            check_broadcast_to(value, name, broadcast_to, target_name)
        return value
    try:
        return check_number(value, name, finite=finite)
    except ArgumentTypeError:
        where = f" broadcastable to {target_name}" if broadcast_to is not None else ""
        expected = f"a number or a tensor{where}"
        got = f"{type(value).__name__} {short_repr(value)}"
        raise ArgumentTypeError(
            f"{name}: expected {expected}; got {got}. Pass a Python float or a tensor.",
            name=name,
            expected=expected,
            got=got,
        ) from None


def _rebuild_error(cls: type, args: tuple, state: dict) -> BaseException:
    """Unpickle a :class:`MaskbenchError` (subclass): the message, then every attribute."""
    err = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


def check_bool(value: object, name: str) -> bool:
    """Require a Python ``bool`` (or ``numpy.bool_``): flags such as ``per_image`` take no truthy stand-ins."""
    if type(value).__name__ not in ("bool", "bool_"):
        expected = "True or False"
        got = f"{type(value).__name__} {short_repr(value)}"
        raise ArgumentTypeError(f"{name}: expected {expected}; got {got}.", name=name, expected=expected, got=got)
    return bool(value)
