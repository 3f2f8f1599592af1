"""LossExplorer: per-pixel loss and gradient of one model output, maskbench's masked loss vs a naive one.

The kernel computes the maps with :func:`maskbench.kernels.loss_maps.loss_maps` (autograd through
the maskbench loss and through the naive recipe) at full resolution, keeps the numbers that prove
the excluded pixels get exactly zero gradient (``stats``), and sends the browser one float32
``(4, dh, dw)`` display proxy of the shown batch item (each proxy pixel is the largest value of the
block it covers, so no leak can be averaged away) plus the outline of the excluded region. The
browser does the per-frame work: colour scale (linear / log), opacity over the image.
"""

from __future__ import annotations

import math

import anywidget
import torch
import traitlets

from maskbench._checks import (
    ArgumentTypeError,
    DTypeError,
    ShapeError,
    as_bchw,
    check_floating,
    check_labels,
    check_loss_mask,
    check_same_device,
    describe,
    short_repr,
    spatial_mask_as_4d,
)
from maskbench.kernels.loss_maps import LOSSES, NAIVE, LossMaps, loss_maps
from maskbench.render import contours, display_size
from maskbench.render.proxy import max_proxy, rgba_proxy
from maskbench.widgets import _frontend
from maskbench.widgets._common import (
    BatchIndex,
    Choice,
    GuardedState,
    StatusText,
    UnitFloat,
    WidgetTypeError,
    WidgetValueError,
    max_display_value,
)
from maskbench.widgets._transport import MAX_MESSAGE_BYTES, ArrayTrait, pack_bits

__all__ = ["LossExplorer", "LOSSES", "NAIVE", "SCALES", "WidgetValueError", "WidgetTypeError"]

SCALES = ("linear", "log")
_FROM_BROWSER = ("loss", "naive", "index", "opacity", "scale")  # all else is kernel -> browser
#: four float32 maps of this long side fit in one message
MAX_MAPS_DISPLAY = math.isqrt(MAX_MESSAGE_BYTES // 16)
_PANELS = ("loss_masked", "loss_naive", "grad_masked", "grad_naive")


def _allowed_losses(widget) -> tuple[str, ...]:
    """ce needs logits with C >= 2 and integer labels; bce needs logits and a [0, 1] target; dice any."""
    labels, c, logits = widget._labels_target, widget._x.shape[1], widget._from_logits
    return tuple(
        name
        for name in LOSSES
        if (name == "dice")
        or (name == "ce" and labels and c >= 2 and logits)
        or (name == "bce" and not labels and logits)
        or (name in ("mse", "l1") and not labels)
    )


def _why_not(widget, loss: str) -> str:
    if loss in ("bce", "ce") and not widget._from_logits:
        return f"{loss!r} takes logits; pass from_logits=True with logits"
    if loss == "ce":
        return "'ce' needs (B, C, H, W) logits with C >= 2 and integer labels (B, H, W) as target"
    if loss in ("bce", "mse", "l1") and widget._labels_target:
        return f"{loss!r} needs a floating or bool target shaped like the input, not integer labels"
    return ""


def _number(value: torch.Tensor | float) -> float | str:
    """A JSON-safe number: non-finite values travel as "nan" / "inf" / "-inf" (JSON has no NaN)."""
    v = float(value)
    return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))


class LossExplorer(GuardedState, anywidget.AnyWidget):
    """Per-pixel loss and gradient maps, maskbench's masked loss vs a naive recipe, side by side.

    Args:
        logits_or_probs: ``(C, H, W)`` or ``(B, C, H, W)`` floating model output: logits for bce and
            ce (and dice with ``from_logits``); mse and l1 compare it with the target as given.
        target: shaped like ``logits_or_probs`` (floating in [0, 1] or bool), or integer labels
            ``(H, W)`` / ``(B, H, W)`` (ce, dice; labels outside ``0..C-1`` such as 255 are allowed
            where the mask excludes them).
        mask: the loss mask, ``(H, W)``, ``(1, H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``: bool (keep
            where True) or weights in [0, 1]; a pixel is *excluded* where it is False / 0.
        loss: one of :data:`LOSSES` that the data allows (``"ce"`` needs integer labels and C >= 2);
            default the first allowed (``"bce"`` for a floating target, ``"ce"`` for labels and C >= 2).
        naive: ``"unmasked"`` (the plain torch loss over every pixel) or ``"multiply"``
            (``(loss * mask).sum() / mask.sum()``).
        image: optional ``(C, H, W)`` / ``(B, C, H, W)`` image drawn under the maps (C in 1, 3, 4).
        from_logits: whether ``logits_or_probs`` holds logits.
        scale: colour scale, ``"linear"`` or ``"log"`` (applied in the browser).
        opacity: opacity of the maps over the image, in [0, 1] (blended in the browser).
        max_display: long side of the browser's display proxy (the kernel keeps full resolution).
        index: batch item shown.

    ``explorer.maps`` holds the full-resolution :class:`~maskbench.kernels.loss_maps.LossMaps` of
    the current ``loss`` / ``naive``; ``explorer.stats`` the numbers shown (over the whole batch),
    e.g. ``stats["excluded_max_masked"]`` is ``max |grad|`` over excluded pixels with maskbench's
    loss. Setting a trait to a bad value raises :class:`WidgetValueError` / :class:`WidgetTypeError`
    and changes nothing.
    """

    _from_browser = _FROM_BROWSER

    _esm = _frontend.esm("loss_explorer")
    _css = _frontend.css("loss_explorer")

    #: the loss compared (one of the losses this data allows, see ``LOSSES``)
    loss = Choice("bce", choices=_allowed_losses, why=_why_not).tag(sync=True)
    #: the naive recipe it is compared with (see ``NAIVE``)
    naive = Choice("unmasked", choices=NAIVE).tag(sync=True)
    #: colour scale of the maps (applied in the browser)
    scale = Choice("linear", choices=SCALES).tag(sync=True)
    #: opacity of the maps over the image (blended in the browser)
    opacity = UnitFloat(0.8).tag(sync=True)
    #: the batch item shown
    index = BatchIndex(0, size=lambda w: w._x.shape[0]).tag(sync=True)
    error = StatusText("").tag(sync=True)
    batch_size = traitlets.Int(1, read_only=True).tag(sync=True)
    #: loss values and max |grad| on excluded / kept pixels (whole batch); non-finite as "nan"/"inf"
    stats = traitlets.Dict(read_only=True).tag(sync=True)
    _losses = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _full_size = traitlets.List(traitlets.Int()).tag(sync=True)
    _image = ArrayTrait()  # (dh, dw, 4) uint8 RGBA or None
    _maps = ArrayTrait()  # (4, dh, dw) float32: loss masked, loss naive, |grad| masked, |grad| naive
    _edges = ArrayTrait()  # packed bits: outline of the excluded region

    def __init__(
        self,
        logits_or_probs: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor,
        *,
        loss: str | None = None,
        naive: str = "unmasked",
        image: torch.Tensor | None = None,
        from_logits: bool = True,
        scale: str = "linear",
        opacity: float = 0.8,
        max_display: int = 512,
        index: int = 0,
    ) -> None:
        x, batched = as_bchw(logits_or_probs, "logits_or_probs")
        check_floating(x, "logits_or_probs")
        if x.numel() == 0:
            raise ShapeError(f"logits_or_probs: expected a non-empty output; got {describe(logits_or_probs)}.")
        if not isinstance(from_logits, bool):
            raise ArgumentTypeError(f"from_logits: expected True or False; got {short_repr(from_logits)}.")
        check_same_device(logits_or_probs=x, target=target, mask=mask)
        self._x, self._from_logits = x, from_logits
        self._t, self._labels_target = self._target(target, x, batched, logits_or_probs)
        m = spatial_mask_as_4d(mask, x, batched, "mask", image_name="logits_or_probs", allow_channels=False)
        self._m = check_loss_mask(m, (x.shape[0], 1, *x.shape[2:]), x, "logits_or_probs (B, 1, H, W)")
        self._img = None if image is None else self._image_4d(image, x, batched)
        max_display = max_display_value(max_display)
        if max_display > MAX_MAPS_DISPLAY:
            raise WidgetValueError(
                f"max_display: expected an int in [1, {MAX_MAPS_DISPLAY}] (four float32 maps must fit in one "
                f"{MAX_MESSAGE_BYTES}-byte message); got {max_display}.",
                name="max_display",
            )
        self._display = display_size(x.shape[-2], x.shape[-1], max_display)
        self._maps_full: LossMaps | None = None
        loss = _allowed_losses(self)[0] if loss is None else loss
        start = dict(loss=loss, naive=naive, scale=scale, opacity=opacity, index=index)
        start = {k: self.traits()[k]._validate(self, v) for k, v in start.items()}  # fail before the widget exists
        super().__init__()
        with self.hold_sync():
            self.set_trait("batch_size", x.shape[0])
            self._losses = list(_allowed_losses(self))
            self._full_size = [int(x.shape[-2]), int(x.shape[-1])]
            for name, value in start.items():
                setattr(self, name, value)
        self._compute()
        self._send_item()
        self.observe(lambda _: self._guard(self._recompute), names=["loss", "naive"])
        self.observe(lambda _: self._guard(self._send_item), names=["index"])

    @traitlets.default("loss")
    def _first_allowed_loss(self) -> str:
        return _allowed_losses(self)[0]

    # -- inputs ------------------------------------------------------------------------------------
    @staticmethod
    def _target(target, x: torch.Tensor, batched: bool, user) -> tuple[torch.Tensor, bool]:
        """(target as (B, C, H, W) floats or (B, H, W) labels, whether it is labels)."""
        if not isinstance(target, torch.Tensor):
            raise DTypeError(f"target: expected a torch.Tensor; got {describe(target)}.")
        b, c, h, w = x.shape
        spatial = (b, h, w) if batched else (h, w)
        integer = not (target.is_floating_point() or target.dtype == torch.bool or target.is_complex())
        if integer and tuple(target.shape) == spatial:
            check_labels(target, "target")
            return (target if batched else target[None]), True
        if not integer and not target.is_complex() and tuple(target.shape) == tuple(user.shape):
            t = target if batched else target[None]
            return t.to(x.dtype), False
        if not integer and not target.is_complex() and c == 1 and tuple(target.shape) == spatial:
            t = target if batched else target[None]
            return t[:, None].to(x.dtype), False
        raise ShapeError(
            f"target: expected {tuple(user.shape)} (floating in [0, 1] or bool, like logits_or_probs) or integer "
            f"labels {spatial}; got {describe(target)}. Labels need an integer dtype: `target.long()`.",
            name="target",
        )

    @staticmethod
    def _image_4d(image, x: torch.Tensor, batched: bool) -> torch.Tensor:
        img, _ = as_bchw(image, "image")
        if img.shape[1] not in (1, 3, 4) or img.shape[-2:] != x.shape[-2:] or img.shape[0] not in (1, x.shape[0]):
            raise ShapeError(
                f"image: expected (C, H, W) or (B, C, H, W) with C in 1, 3, 4, (H, W) = {tuple(x.shape[-2:])} and "
                f"B in 1, {x.shape[0]}; got {describe(image)}.",
                name="image",
            )
        return img

    # -- computation -------------------------------------------------------------------------------
    @property
    def maps(self) -> LossMaps:
        """Full-resolution loss values and ``(B, H, W)`` loss / ``|grad|`` maps for the current loss."""
        return self._maps_full

    def _compute(self) -> None:
        r = loss_maps(self._x, self._t, self._m, loss=self.loss, naive=self.naive, from_logits=self._from_logits)
        excluded = (self._m == 0)[:, 0].expand(r.grad_masked.shape)
        zero = r.grad_masked.new_zeros(())

        def top(grad: torch.Tensor, where: torch.Tensor) -> float | str:
            return _number(torch.where(where, grad, zero).amax()) if grad.numel() else 0.0

        stats = {
            "loss": self.loss,
            "naive": self.naive,
            "value_masked": _number(r.value_masked),
            "value_naive": _number(r.value_naive),
            "excluded_max_masked": top(r.grad_masked, excluded),
            "excluded_max_naive": top(r.grad_naive, excluded),
            "kept_max_masked": top(r.grad_masked, ~excluded),
            "kept_max_naive": top(r.grad_naive, ~excluded),
            "excluded_pixels": int(excluded.sum()),
            "pixels": int(excluded.numel()),
            "naive_error": r.naive_error,
        }
        self._maps_full = r
        self.set_trait("stats", stats)

    def _send_item(self) -> None:
        i, size = self.index, self._display
        r = self._maps_full
        maps = torch.stack([max_proxy(getattr(r, name)[i].float(), size) for name in _PANELS])
        excluded = max_proxy((self._m[i if self._m.shape[0] > 1 else 0, 0] == 0).to(torch.uint8), size) > 0
        with self.hold_sync():
            self._maps = maps.cpu().numpy()
            self._edges = pack_bits(contours(excluded).cpu().numpy())
            if self._img is not None:
                img = self._img[i if self._img.shape[0] > 1 else 0]
                self._image = rgba_proxy(img if img.dtype == torch.uint8 else img.float(), size).cpu().numpy()

    def _recompute(self) -> None:
        with self.hold_sync():
            self._compute()
            self._send_item()
