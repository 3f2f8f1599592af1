"""Viewer: image, mask, masked result and overlay side by side, with linked zoom and pan.

The kernel owns the tensors and computes the masked result with :func:`maskbench.apply_mask` at
full resolution; the browser gets display proxies once (RGBA image, uint8 labels or weights) and
does the per-frame work itself: overlay blending while the opacity slider moves, zoom and pan.
Changing ``mode`` or ``fill`` recomputes only the result panel and sends one RGBA proxy.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Sequence

import anywidget
import torch
import traitlets

from maskbench._checks import (
    MaskbenchError,
    MaskValueError,
    ShapeError,
    as_bchw,
    check_labels,
    check_mask_dtype,
    check_weight_range,
    describe,
    from_bchw,
    spatial_mask_as_4d,
)
from maskbench.render import (
    contours,
    display_size,
    label_palette,
    parse_color,
)
from maskbench.render.proxy import nearest_proxy, rgba_proxy, weight_proxy
from maskbench.widgets import _frontend
from maskbench.widgets._common import (
    BatchIndex,
    Choice,
    FiniteFloat,
    Flag,
    GuardedState,
    StatusText,
    UnitFloat,
    WidgetTypeError,
    WidgetValueError,
    image_from_user,
    max_display_value,
    one_torch_thread,
)
from maskbench.widgets._transport import ArrayTrait, pack_bits

__all__ = ["Viewer", "MODES", "WidgetValueError", "WidgetTypeError"]

_STATIC = pathlib.Path(__file__).parent / "static"
#: keep / remove: keep the mask (or its complement) and put ``fill`` elsewhere; mean / inpaint:
#: remove the masked region and fill it from the rest; weighted: ``image * w + fill * (1 - w)``.
MODES = ("keep", "remove", "mean", "inpaint", "weighted")
_FROM_BROWSER = ("mode", "fill", "opacity", "contours", "index")  # all else is kernel -> browser
# One batch item up to this many elements is refreshed on one torch thread: its ~30 small ops gain
# nothing from a thread pool, and on a busy machine every parallel region can wait a scheduler
# slice for a descheduled worker (measured: inpaint of a 303x384 image, 8 ms serial vs 380 ms).
_SERIAL_MAX = 1 << 22


def _serial_for_small_items(method):
    """Run a per-item display refresh on one torch thread when the item is small; restore after."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._x[0].numel() > _SERIAL_MAX:
            return method(self, *args, **kwargs)
        with one_torch_thread():
            return method(self, *args, **kwargs)

    return wrapper


def _allowed_modes(viewer) -> tuple[str, ...]:
    """The modes this viewer's data allows: mean/inpaint and weighted blends need a floating image,
    weighted also a floating mask (``apply_mask``'s rules)."""
    floating = viewer._x.is_floating_point()
    weight = viewer._mask_kind == "weight"
    return tuple(md for md in MODES if (floating or md in ("keep", "remove")) and (md != "weighted" or weight))


def _why_not(viewer, mode: str) -> str:
    if mode in ("mean", "inpaint", "weighted") and not viewer._x.is_floating_point():
        return f"{mode!r} needs a floating image; got {viewer._x.dtype}: pass `image.float() / 255`"
    if mode == "weighted":
        return "'weighted' needs a floating mask"
    return ""


class Viewer(GuardedState, anywidget.AnyWidget):
    """Four linked panels: image, mask, masked result (``apply_mask``) and overlay.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)`` with C in (1, 3, 4); floating in [0, 1] or uint8.
        mask: ``(H, W)``, ``(1, H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``: bool (keep where True),
            floating weight in [0, 1], or integer labels (drawn in class colours; the mask used for
            masking is ``labels > 0``).
        mode: one of :data:`MODES`; ``"weighted"`` needs a floating mask.
        fill: the value removed pixels get in ``keep`` / ``remove`` / ``weighted`` modes.
        opacity: overlay opacity in [0, 1] (blended in the browser).
        classes: names of label ids 1, 2, ... (default ``"mask"`` or ``"class k"``).
        colors: colours of label ids 1, 2, ... (``"#rrggbb"`` or ``(r, g, b)``; default palette).
        contours: draw class outlines on the result and overlay panels.
        max_display: long side of the browser's display proxy (the kernel keeps full resolution).
        index: batch item shown (``(B, C, H, W)`` inputs).

    ``viewer.result`` is the full-resolution masked image (all batch items) for the current
    ``mode`` and ``fill``. Setting ``mode``, ``fill`` or ``index`` to a bad value raises
    :class:`WidgetValueError` / :class:`WidgetTypeError` and changes nothing.
    """

    _from_browser = _FROM_BROWSER

    _esm = _frontend.esm("viewer")
    _css = _frontend.css("viewer")

    #: how the result panel is computed (one of the modes this image and mask allow, see ``MODES``)
    mode = Choice("keep", choices=_allowed_modes, why=_why_not).tag(sync=True)
    #: the value removed pixels get in keep / remove / weighted modes (must fit the image's dtype)
    fill = FiniteFloat(0.0).tag(sync=True)
    #: overlay opacity in [0, 1] (blended in the browser)
    opacity = UnitFloat(0.5).tag(sync=True)
    #: draw class outlines on the result and overlay panels
    contours = Flag(False).tag(sync=True)
    #: the batch item shown
    index = BatchIndex(0, size=lambda v: v._x.shape[0]).tag(sync=True)
    error = StatusText("").tag(sync=True)  # the last rejected update or failed refresh
    batch_size = traitlets.Int(1, read_only=True).tag(sync=True)
    _modes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _kind = traitlets.Unicode("bool").tag(sync=True)  # bool | weight | labels
    _classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _full_size = traitlets.List(traitlets.Int()).tag(sync=True)
    _palette = ArrayTrait()
    _image = ArrayTrait()
    _labels = ArrayTrait()  # (dh, dw) uint8/uint16 labels, or uint8 weight * 255
    _edges = ArrayTrait()  # packed bits of contours(labels), or None
    _result = ArrayTrait()

    def __init__(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        *,
        mode: str = "keep",
        fill: float = 0.0,
        opacity: float = 0.5,
        classes: Sequence[str] | None = None,
        colors: Sequence[object] | None = None,
        contours: bool = False,
        max_display: int = 1024,
        index: int = 0,
        channels_last: bool | None = None,
    ) -> None:
        from maskbench.io import as_tensor

        image = image_from_user(image, "image", channels_last=channels_last, max_ndim=4)
        x, batched = as_bchw(image if image.ndim > 2 else image[None], "image")
        mask = as_tensor(mask) if not isinstance(mask, torch.Tensor) and hasattr(mask, "__array__") else mask
        if x.shape[1] not in (1, 3, 4):
            raise ShapeError(
                f"image: expected 1, 3 or 4 channels to display; got {describe(image)}. "
                f"Show some channels, e.g. `image[..., :3, :, :]`."
            )
        if x.numel() == 0:
            raise ShapeError(f"image: expected a non-empty image to display; got {describe(image)}.", name="image")
        m = spatial_mask_as_4d(mask, x, batched, "mask", allow_channels=False)[:, 0]
        if m.is_floating_point():
            check_mask_dtype(m, "mask")
            check_weight_range(m.cpu(), "mask")
            kind, n_ids = "weight", 1
        elif m.dtype == torch.bool:
            kind, n_ids = "bool", 1
        else:
            check_labels(m, "mask")
            lo, hi = (int(v) for v in m.aminmax()) if m.numel() else (0, 0)  # once, at construction
            if lo < 0:
                raise MaskValueError(f"mask: labels must be >= 0; got a minimum of {lo} in {describe(mask)}.")
            kind, n_ids = "labels", max(hi, len(classes or ()), 1)
            if n_ids >= 1 << 16:
                raise MaskValueError(f"mask: at most 65535 classes can be shown; got label {hi}.")
        max_display = max_display_value(max_display)
        self._x, self._batched, self._m, self._mask_kind = x, batched, m, kind
        self._display = display_size(x.shape[-2], x.shape[-1], max_display)
        names = list(classes) if classes is not None else []
        if kind == "labels" and len(names) > n_ids:
            raise ShapeError(f"classes: got {len(names)} names for {n_ids} label ids.")
        default = ["mask"] if kind != "labels" else [f"class {k}" for k in range(1, n_ids + 1)]
        names = [str(s) for s in names] + default[len(names) :]
        if len(names) != n_ids:
            raise ShapeError(f"classes: expected {n_ids} name(s) for this mask; got {len(names)}.")
        palette = label_palette(n_ids + 1)
        for k, color in enumerate(colors or (), start=1):
            if k > n_ids:
                raise ShapeError(f"colors: got {len(colors)} colours for {n_ids} class(es).")
            palette[k] = torch.tensor(parse_color(color), dtype=torch.uint8)
        start = dict(mode=mode, fill=fill, opacity=opacity, contours=contours, index=index)
        start = {k: self.traits()[k]._validate(self, v) for k, v in start.items()}  # fail before the widget exists
        super().__init__()
        with self.hold_sync():
            self.set_trait("batch_size", x.shape[0])
            self._kind, self._classes, self._palette = kind, names, palette.numpy()
            self._modes = list(_allowed_modes(self))
            self._full_size = [int(x.shape[-2]), int(x.shape[-1])]
            for name, value in start.items():
                setattr(self, name, value)
        self._refresh_item()
        self.observe(self._on_result_inputs, names=["mode", "fill"])
        self.observe(lambda _: self._guard(self._refresh_item), names=["index"])
        self.observe(lambda _: self._guard(self._send_edges), names=["contours"])

    # -- validation beyond each trait's own (Python assignments and browser messages alike) ----------
    @traitlets.validate("fill")
    def _fill_fits_the_image(self, proposal):
        """A fill the image's dtype cannot hold (0.5 or 300 for uint8) is rejected here, not later in
        ``result``: checked by ``apply_mask`` itself on one pixel, so the rule is the kernel's."""
        from maskbench import apply_mask

        value = proposal["value"]
        one = self._x[:1, :, :1, :1]
        try:
            apply_mask(one, torch.ones((1, 1, 1, 1), dtype=torch.bool, device=one.device), fill=value)
        except MaskbenchError as err:
            raise WidgetValueError(f"fill: {value} cannot be used with this image: {err}", name="fill") from None
        return value

    # -- computation -------------------------------------------------------------------------------
    def _mask_item(self, i: int) -> torch.Tensor:
        return self._m[i if self._m.shape[0] > 1 else 0]

    def _apply(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Masked result for ``x`` (B, C, H, W) and ``m`` (B|1, H, W) in the current mode."""
        from maskbench import apply_mask

        keep = m >= 0.5 if self._kind == "weight" else m > 0 if self._kind == "labels" else m
        keep = keep[:, None]
        if self.mode == "keep":
            return apply_mask(x, keep, fill=self.fill)
        if self.mode == "remove":
            return apply_mask(x, ~keep, fill=self.fill)
        if self.mode in ("mean", "inpaint"):
            return apply_mask(x, ~keep, fill=self.mode)
        return apply_mask(x, m[:, None], fill=self.fill)  # weighted

    @property
    def result(self) -> torch.Tensor:
        """The masked image at full resolution, shaped like the input image (every batch item)."""
        return from_bchw(self._apply(self._x, self._m), self._batched)

    def _display_rgba(self, image: torch.Tensor) -> torch.Tensor:
        return rgba_proxy(image, self._display).cpu()

    def _display_labels(self) -> torch.Tensor:
        m = self._mask_item(self.index)
        if self._kind == "weight":  # area-averaged weight, quantised to 0..255
            return weight_proxy(m, self._display).cpu()
        labels = nearest_proxy(m, self._display)
        dtype = torch.uint8 if len(self._classes) < 256 else torch.int32
        return labels.to(dtype).cpu()

    @_serial_for_small_items
    def _refresh_item(self) -> None:
        labels = self._display_labels()
        with self.hold_sync():
            self._image = self._display_rgba(self._x[self.index]).numpy()
            self._labels = labels.numpy() if labels.dtype == torch.uint8 else labels.numpy().astype("uint16")
            self._send_edges(labels)
            self._send_result()

    @_serial_for_small_items
    def _send_edges(self, labels: torch.Tensor | None = None) -> None:
        if not self.contours:
            self._edges = None
            return
        if labels is None:
            labels = self._display_labels()
        lab = labels >= 128 if self._kind == "weight" else labels
        self._edges = pack_bits(contours(lab).numpy())

    @_serial_for_small_items
    def _send_result(self) -> None:
        i = self.index
        out = self._apply(self._x[i : i + 1], self._mask_item(i)[None])[0]
        if not out.is_floating_point() and out.dtype != torch.uint8:
            out = out.float()
        self._result = self._display_rgba(out).numpy()

    def _on_result_inputs(self, change) -> None:
        if change["name"] == "fill" and self.mode in ("mean", "inpaint"):
            return  # fill is not used by these modes: nothing to redraw
        self._guard(self._send_result)
