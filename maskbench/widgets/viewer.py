"""Viewer: image, mask, masked result and overlay side by side, with linked zoom and pan.

The kernel owns the tensors. Its panels show display proxies (long side <= ``max_display``), and
every panel is computed on the proxy, once per batch item and cached (``_viewer_core.ItemProxies``):
the image proxy, the mask proxy (labels or weights), its contours, the colour of a replaced pixel in
``mean`` mode. The browser draws per frame what it can from those: the overlay while the opacity
slider moves, zoom and pan, and the result of the constant-fill modes (keep, remove, mean: each
replaced pixel gets one colour), so changing between them needs no kernel round trip. ``inpaint``
and ``weighted`` are computed by the kernel on the proxy and sent as one RGBA proxy.
``viewer.result`` is full resolution: ``apply_mask`` on the whole tensors, on access, cached.

Zoomed past the proxy (issue 12), the four linked panels draw 256 x 256 tiles of the level the zoom
needs, up to native pixels and beyond (``maskbench.widgets._viewer_tiles``: image, mask, contours
and the kernel-drawn results, served through ``TileServer``); the browser composes overlay and
keep / remove / mean from image and mask tiles as it does from the proxies.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import anywidget
import numpy as np
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
from maskbench.render import display_size, image_to_rgba, label_palette, parse_color
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
)
from maskbench.widgets._tiles import TileServer
from maskbench.widgets._transport import ArrayTrait
from maskbench.widgets._viewer_core import (
    BAND_PIXELS,
    BROWSER_MODES,
    MODE_TEXT,
    MODES,
    ItemProxies,
    allowed_modes,
    build_item,
    check_result_memory,
    check_viewer_memory,
    fill_rgba,
    fill_value,
    item_edges,
    keep_of,
    masked,
    pick_pixels,
    prefetch_inpaint,
    proxy_inpaint_steps,
    put_pixels,
    rgba_at,
    serial_for_small_items,
    why_not,
)
from maskbench.widgets._viewer_tiles import ViewerTiles

__all__ = ["Viewer", "MODES", "LAYOUTS", "WidgetValueError", "WidgetTypeError"]

#: the Viewer's layouts: all four panels in a grid, or one of them full width above the other three
LAYOUTS = ("grid", "image", "mask", "result", "overlay")

#: Display proxies of this many batch items stay cached (each ~5 bytes per proxy pixel + the C-channel
#: proxy; ~17 MB per item at the default 1024 x 1024).
_CACHED_ITEMS = 8
_FROM_BROWSER = ("mode", "fill", "opacity", "contours", "index", "panel_layout")  # all else is kernel -> browser


class Viewer(ViewerTiles, TileServer, GuardedState, anywidget.AnyWidget):
    """Four linked panels: image, mask, masked result (``apply_mask``) and overlay.

    **What the mask means.** In every mode the mask marks the same pixels, the *mask pixels*: True
    (bool), label > 0 (labels) or weight >= 0.5 (weights). The mode says what happens to them:

    * ``keep``: mask pixels are kept; every other pixel becomes ``fill``
      (``apply_mask(image, mask, fill=fill)``).
    * ``remove``: mask pixels become ``fill``; the rest is kept (``apply_mask(image, ~mask, fill=fill)``).
    * ``mean``: mask pixels become the per-channel mean of the other pixels
      (``apply_mask(image, ~mask, fill="mean")``).
    * ``inpaint``: mask pixels are inpainted from the other pixels
      (``apply_mask(image, ~mask, fill="inpaint")``).
    * ``weighted`` (weight masks): ``image * w + fill * (1 - w)`` (``apply_mask(image, w, fill=fill)``).

    So the mask is *kept* in ``keep`` and *replaced* in ``remove``, ``mean`` and ``inpaint``; the
    mode menu says the same ("keep the mask, fill the rest", "remove the mask (fill it)", ...).

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)`` with C in (1, 3, 4); floating in [0, 1] or uint8.
        mask: ``(H, W)``, ``(1, H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``: bool, floating weight in
            [0, 1] or integer labels (drawn in class colours); its mask pixels are True, weight >= 0.5
            or label > 0, whatever the mode (see above).
        mode: one of :data:`MODES`; ``"weighted"`` needs a floating mask.
        fill: the value replaced pixels get in ``keep`` / ``remove`` / ``weighted`` modes.
        opacity: overlay opacity in [0, 1] (blended in the browser).
        classes: names of label ids 1, 2, ... (default ``"mask"`` or ``"class k"``).
        colors: colours of label ids 1, 2, ... (``"#rrggbb"`` or ``(r, g, b)``; default palette).
        contours: draw class outlines on the result and overlay panels.
        max_display: long side of the browser's display proxy (the kernel keeps full resolution).
        index: batch item shown (``(B, C, H, W)`` inputs).
        panel_layout: ``"grid"`` (the four panels side by side) or the panel shown full width above the
            others (one of :data:`LAYOUTS`); clicking a panel's title in the browser sets it too.

    ``viewer.result`` is the full-resolution masked image (all batch items) for the current
    ``mode`` and ``fill``: exactly the ``apply_mask`` call above, computed on first access and
    cached until they change. The result panel shows the same call on the display proxy (and, zoomed
    in, on full-resolution tiles). Setting ``mode``, ``fill``, ``index`` or ``panel_layout`` to a bad
    value raises :class:`WidgetValueError` / :class:`WidgetTypeError` and changes nothing. Inputs too
    large for the memory available raise :class:`~maskbench.widgets._memory.WidgetMemoryError` naming
    their size, before anything image-sized is allocated.

    In the browser: wheel zooms about the cursor, drag pans, and on a focused panel ``+`` / ``-``
    zoom, ``0``, ``f`` or ``R`` fit, ``g`` or ``P`` toggle the pixel grid, ``1`` shows native resolution (one image pixel per screen pixel);
    all four panels share one view. Clicking a panel's title shows it full width.
    """

    _from_browser = _FROM_BROWSER

    _esm = _frontend.esm("viewer")
    _css = _frontend.css("viewer")

    #: how the result panel is computed (one of the modes this image and mask allow, see ``MODES``)
    mode = Choice("keep", choices=allowed_modes, why=why_not).tag(sync=True)
    #: the value replaced pixels get in keep / remove / weighted modes (must fit the image's dtype)
    fill = FiniteFloat(0.0).tag(sync=True)
    #: overlay opacity in [0, 1] (blended in the browser)
    opacity = UnitFloat(0.5).tag(sync=True)
    #: draw class outlines on the result and overlay panels
    contours = Flag(False).tag(sync=True)
    #: "grid" (four panels) or the one panel shown full width: "image", "mask", "result" or "overlay"
    panel_layout = Choice("grid", choices=LAYOUTS).tag(sync=True)  # not `layout`: ipywidgets' Layout
    #: the batch item shown
    index = BatchIndex(0, size=lambda v: v._x.shape[0]).tag(sync=True)
    error = StatusText("").tag(sync=True)  # the last rejected update or failed refresh
    batch_size = traitlets.Int(1, read_only=True).tag(sync=True)
    _modes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _mode_text = traitlets.List(traitlets.Unicode()).tag(sync=True)  # what each mode does (menu labels)
    _kind = traitlets.Unicode("bool").tag(sync=True)  # bool | weight | labels
    _classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _full_size = traitlets.List(traitlets.Int()).tag(sync=True)
    _shown_item = traitlets.Int(0).tag(sync=True)  # the batch item _image, _labels, _edges and _fills belong to
    _palette = ArrayTrait()
    _image = ArrayTrait()
    _labels = ArrayTrait()  # (dh, dw) uint8/uint16 labels, or uint8 weight * 255
    _edges = ArrayTrait()  # packed bits of contours(labels), or None
    _fills = ArrayTrait()  # (2, 4) uint8: RGBA of a replaced pixel in keep/remove, and in mean
    _result = ArrayTrait()  # kernel-drawn mode: (dh, dw, 4) RGBA (weighted) or (n, 4) of the n mask pixels (inpaint)
    _result_for = traitlets.Unicode("").tag(sync=True)  # "<mode>:<index>" that _result shows
    _mean_full = ArrayTrait()  # (4,) RGBA of mean mode's fill at full resolution (tiles), or None

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
        panel_layout: str = "grid",
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
        start = dict(mode=mode, fill=fill, opacity=opacity, contours=contours, index=index, panel_layout=panel_layout)
        start = {k: self.traits()[k]._validate(self, v) for k, v in start.items()}  # fail before the widget exists
        check_viewer_memory(x, m, kind, self._display)  # before anything image-sized is allocated
        super().__init__()
        with self.hold_sync():
            self.set_trait("batch_size", x.shape[0])
            self._kind, self._classes, self._palette = kind, names, palette.numpy()
            self._modes = list(allowed_modes(self))
            self._mode_text = [MODE_TEXT[md] for md in self._modes]
            self._result = np.zeros((0, 0, 4), dtype=np.uint8)  # no kernel-drawn result yet (see _result_for)
            self._full_size = [int(x.shape[-2]), int(x.shape[-1])]
            for name, value in start.items():
                setattr(self, name, value)
        self._cache: OrderedDict[int, ItemProxies] = OrderedDict()  # batch item -> its display proxies
        self._full: tuple | None = None  # (mode, fill) and the full-resolution result, see `result`
        self._sent: tuple | None = None  # which kernel-drawn result the browser holds
        self._tiles = None  # (index, ItemTiles) of the shown item, built on its first tile (ViewerTiles)
        self._refresh_item()
        self._publish_tiles()
        self.on_msg(self._on_custom_msg)
        self.observe(self._on_result_inputs, names=["mode", "fill"])
        self.observe(lambda _: self._guard(self._new_item), names=["index"])
        self.observe(lambda _: self._guard(self._send_edges), names=["contours"])

    # -- validation beyond each trait's own (Python assignments and browser messages alike) ----------
    @traitlets.validate("fill")
    def _fill_fits_the_image(self, proposal):
        """A fill the image's dtype cannot hold (0.5 or 300 for uint8) is rejected here, not later in
        ``result``: checked by ``apply_mask``'s own conversion of a number fill (``fill_value``), so the
        rule is the kernel's."""
        value = proposal["value"]
        try:
            fill_value(self._x[:1, :, :1, :1], value)
        except MaskbenchError as err:
            raise WidgetValueError(f"fill: {value} cannot be used with this image: {err}", name="fill") from None
        return value

    # -- computation -------------------------------------------------------------------------------
    def _mask_item(self, i: int) -> torch.Tensor:
        return self._m[i if self._m.shape[0] > 1 else 0]

    def _apply(self, x: torch.Tensor, keep: torch.Tensor, weight: torch.Tensor | None, inpaint_steps=None):
        """Masked result for ``x`` (B, C, H, W), mask pixels ``keep`` (B|1, 1, H, W), in the current mode."""
        return masked(x, keep, weight, self.mode, self.fill, inpaint_steps)

    def _result_key(self) -> tuple:
        return (self.mode, None if self.mode in ("mean", "inpaint") else self.fill)

    @property
    def result(self) -> torch.Tensor:
        """The masked image at full resolution, shaped like the input image (every batch item).

        Exactly ``apply_mask`` on the full-resolution tensors (see the class docstring for the call
        of each mode); computed on first access and cached until ``mode`` or ``fill`` changes (a
        copy is returned, so changing it in place cannot corrupt the cache). When that would not fit
        in memory, :class:`~maskbench.widgets._memory.WidgetMemoryError` names the size first.
        """
        key = self._result_key()
        if self._full is None or self._full[0] != key:
            self._full = None  # the last mode's result goes first
            check_result_memory(self._x, self.mode)
            out = self._apply(self._x, keep_of(self._m, self._mask_kind)[:, None], self._m[:, None])
            self._full = (key, out)
        return from_bchw(self._full[1].clone(), self._batched)

    def _item(self, i: int) -> ItemProxies:
        """The display proxies of batch item ``i`` (built once; the last few items stay cached)."""
        item = self._cache.pop(i, None)
        if item is None:
            big = self._x.shape[-2] * self._x.shape[-1] > BAND_PIXELS  # the proxy from the tile pyramid
            xp = self._item_tiles(i).proxy(self._display) if big else None
            item = build_item(self._x[i], self._mask_item(i), self._mask_kind, self._display, len(self._classes), xp)
        self._cache[i] = item  # most recently used last
        while len(self._cache) > _CACHED_ITEMS:
            self._cache.pop(next(iter(self._cache)))
        return item

    def _display_result(self, index: int | None = None) -> np.ndarray:
        """``(dh, dw, 4)`` RGBA of the current mode on item ``index``'s display proxy: what the result
        panel shows (the browser composes keep/remove/mean from the same proxies; tests compare)."""
        item = self._item(self.index if index is None else index)
        key = self._result_key()
        if key not in item.results:
            if key == ("inpaint", None):
                colours = self._inpaint_colours(item)  # may set the prefetched panel
                rgba = item.results.get(key)
                rgba = put_pixels(item.rgba, item.keep, colours) if rgba is None else rgba
            else:
                w = None if item.weight is None else item.weight[None, None]
                out = self._apply(item.xp[None], item.keep[None, None], w)[0]
                if not out.is_floating_point() and out.dtype != torch.uint8:
                    out = out.float()
                rgba = image_to_rgba(out).cpu().numpy()
            item.results = {key: rgba}  # one per item: the current mode's
        return item.results[key]

    def _inpaint_colours(self, item: ItemProxies) -> np.ndarray:
        """``(n, 4)`` RGBA of the inpaint mode at the item's ``n`` mask pixels (raster order), cached:
        from the panel prefetched while the kernel was idle, else computed now on those pixels only
        (every other pixel of the panel is the image panel's own, exactly)."""
        if item.colours is None:
            rgba = None
            if item.inpaint is not None:
                try:
                    rgba = item.inpaint.result()  # computed in the background (prefetch_inpaint)
                except Exception:  # noqa: BLE001 - computed again below, where the error is shown
                    item.inpaint = None
            if rgba is not None:
                item.results = {("inpaint", None): rgba}
                item.colours = pick_pixels(rgba, item.keep)
            else:
                out = self._apply(item.xp[None], item.keep[None, None], None, self._inpaint_steps())[0]
                item.colours = rgba_at(out, item.keep)  # = inpaint_colours(item.xp, item.keep, steps)
        return item.colours

    def _inpaint_steps(self) -> int:
        return proxy_inpaint_steps(self._x.shape[-2:], self._display)

    @serial_for_small_items
    def _refresh_item(self) -> None:
        item = self._item(self.index)
        with self.hold_sync():
            self._image, self._labels, self._shown_item = item.rgba, item.labels, self.index
            self._send_edges()
            self._send_fills(item)
            self._send_result()
        if "inpaint" in self._modes and self.mode in BROWSER_MODES:
            prefetch_inpaint(item, self._inpaint_steps())  # the kernel is idle until the next input

    @serial_for_small_items
    def _send_edges(self) -> None:
        self._edges = item_edges(self._item(self.index), self._mask_kind) if self.contours else None

    def _send_fills(self, item: ItemProxies | None = None) -> None:
        """The replaced pixels' colours of the browser-drawn modes: fill (keep/remove) and mean."""
        item = item or self._item(self.index)
        mean = item.mean if item.mean is not None else np.zeros(4, dtype=np.uint8)
        self._fills = np.stack([fill_rgba(item.xp, "keep", self.fill), mean])

    @serial_for_small_items
    def _send_result(self) -> None:
        """Kernel-drawn modes (inpaint, weighted): send the proxy result unless the view has it."""
        if self.mode in BROWSER_MODES:
            return  # drawn in the browser from _image, _labels and _fills
        key = f"{self.mode}:{self.index}"
        if self._result_for == key and self._sent == (key, self._result_key()):
            return  # the browser holds this result already (e.g. back to inpaint after keep)
        if self.mode == "inpaint":  # only the mask pixels change: send their colours, in raster order
            rgba = self._inpaint_colours(self._item(self.index))
        else:
            rgba = self._display_result()
        with self.hold_sync():
            self._result = rgba
            self._result_for = key
        self._sent = (key, self._result_key())

    def _on_result_inputs(self, change) -> None:
        def update() -> None:
            if change["name"] == "fill":
                self._send_fills()
            self._send_result()  # nothing to do for browser-drawn modes or an unchanged result
            if change["name"] == "mode" or self.mode not in ("mean", "inpaint"):
                self._bump_tile_layer("result")  # the kernel's result tiles of the old mode / fill are stale
            self._send_mean_full()

        self._guard(update)
