"""The Viewer's computations, apart from its widget wiring: what the mask means in each mode, and
the per-batch-item display proxies it caches.

Every mode reads the mask the same way: ``keep`` is the set of *mask pixels* (bool True, label > 0,
weight >= 0.5) and the mode says what happens to them:

=========  =====================================================  ==================================
mode       result                                                 ``apply_mask`` call
=========  =====================================================  ==================================
keep       mask pixels kept, every other pixel = ``fill``         ``apply_mask(x, keep, fill=f)``
remove     mask pixels = ``fill``, every other pixel kept         ``apply_mask(x, ~keep, fill=f)``
mean       mask pixels = mean of the other pixels (per channel)   ``apply_mask(x, ~keep, fill="mean")``
inpaint    mask pixels inpainted from the other pixels            ``apply_mask(x, ~keep, fill="inpaint")``
weighted   ``x * w + fill * (1 - w)`` (weight masks only)          ``apply_mask(x, w, fill=f)``
=========  =====================================================  ==================================

The same function (:func:`masked`) computes the full-resolution ``Viewer.result`` and the result
on the display proxy (what the result panel shows), so the two cannot disagree about semantics.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from maskbench.render import contours, image_to_rgba
from maskbench.render.proxy import nearest_proxy, weight_proxy

__all__ = [
    "MODES",
    "BROWSER_MODES",
    "MODE_TEXT",
    "allowed_modes",
    "why_not",
    "masked",
    "keep_of",
    "ItemProxies",
    "build_item",
    "fill_rgba",
    "fill_value",
]

MODES = ("keep", "remove", "mean", "inpaint", "weighted")
#: modes the browser draws itself from the image proxy, the mask proxy and one fill colour per mode
#: (each replaced pixel gets one constant colour); inpaint and weighted results come from the kernel
BROWSER_MODES = ("keep", "remove", "mean")
#: what each mode does to the mask pixels (the UI's option labels say the same, viewer_core.js)
MODE_TEXT = {
    "keep": "keep the mask, fill the rest",
    "remove": "remove the mask (fill it)",
    "mean": "fill the mask with the mean of the rest",
    "inpaint": "inpaint the mask from the rest",
    "weighted": "image * w + fill * (1 - w)",
}


def allowed_modes(viewer) -> tuple[str, ...]:
    """The modes this viewer's data allows: mean/inpaint and weighted blends need a floating image,
    weighted also a floating mask (``apply_mask``'s rules)."""
    floating = viewer._x.is_floating_point()
    weight = viewer._mask_kind == "weight"
    return tuple(md for md in MODES if (floating or md in ("keep", "remove")) and (md != "weighted" or weight))


def why_not(viewer, mode: str) -> str:
    if mode in ("mean", "inpaint", "weighted") and not viewer._x.is_floating_point():
        return f"{mode!r} needs a floating image; got {viewer._x.dtype}: pass `image.float() / 255`"
    if mode == "weighted":
        return "'weighted' needs a floating mask"
    return ""


def keep_of(m: torch.Tensor, kind: str) -> torch.Tensor:
    """The mask pixels of a bool mask, weights (``>= 0.5``) or labels (``> 0``), as bool."""
    return m >= 0.5 if kind == "weight" else m > 0 if kind == "labels" else m


def masked(
    x: torch.Tensor, keep: torch.Tensor, weight: torch.Tensor | None, mode: str, fill: float, inpaint_steps=None
) -> torch.Tensor:
    """``x`` (B, C, H, W) with mask pixels ``keep`` (B|1, 1, H, W) treated as ``mode`` says."""
    from maskbench import apply_mask

    if mode == "keep":
        return apply_mask(x, keep, fill=fill)
    if mode == "remove":
        return apply_mask(x, ~keep, fill=fill)
    if mode == "inpaint":
        return apply_mask(x, ~keep, fill=mode, inpaint_steps=inpaint_steps)
    if mode == "mean":
        return apply_mask(x, ~keep, fill=mode)
    return apply_mask(x, weight, fill=fill)  # weighted


def proxy_inpaint_steps(full: tuple[int, int], size: tuple[int, int]) -> int:
    """Smoothing steps that make an inpaint of the display proxy look like the proxy of the
    full-resolution inpaint: each step smooths over a fixed distance in the image's own pixels (a 3x3
    pass at half resolution), so a proxy at scale ``s`` needs ``s`` times as many (at least 1) to
    smooth over the same image distance; a same-size proxy uses the default."""
    from maskbench.kernels.apply import _DEFAULT_INPAINT_STEPS

    scale = max(size) / max(full)
    return _DEFAULT_INPAINT_STEPS if scale >= 1 else max(1, round(_DEFAULT_INPAINT_STEPS * scale))


def image_proxy(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One item's ``(C, dh, dw)`` display proxy in the image's own dtype family.

    Area average (as :func:`maskbench.render.proxy.rgba_proxy`); a floating image keeps its dtype,
    a uint8 image is quantised the way ``image_to_rgba`` quantises the average, a bool image's
    average stays float32, so
    ``image_to_rgba(image_proxy(x, s)) == rgba_proxy(x, s)`` exactly and uint8 fills stay in uint8 units.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    x = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    x = F.adaptive_avg_pool2d(x[None], size)[0]
    if image.dtype == torch.uint8:
        return (x.nan_to_num(nan=0.0).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return x.to(image.dtype) if image.is_floating_point() else x  # a bool image's proxy shows grey levels


#: Items above this many pixels take their display proxy from their tile pyramid (``ItemTiles.proxy``:
#: no full-size float copy, and the pyramid serves the tiles too).
BAND_PIXELS = 1 << 22


def fill_value(image: torch.Tensor, fill: float) -> torch.Tensor:
    """``fill`` as ``apply_mask`` stores it in ``image``'s dtype (a 0-d tensor), by the kernel's own
    conversion (``apply_mask`` -> ``_tensor_fill`` -> ``_scalar_as_tensor``): a value the dtype cannot
    hold (0.5 or 300 for uint8) raises its ``CastError``. What every replaced pixel of keep / remove
    becomes, without a one-pixel ``apply_mask`` call."""
    from maskbench.kernels.assign import _scalar_as_tensor

    return _scalar_as_tensor(fill, image, "fill", "image")


def fill_rgba(xp: torch.Tensor, mode: str, fill: float, keep: torch.Tensor | None = None) -> np.ndarray:
    """The RGBA colour of a replaced pixel in a constant-fill mode, computed by ``apply_mask`` itself.

    ``keep``/``remove``: ``fill`` on one pixel of this image's dtype. ``mean``: the kernel's mean
    fill of this item's proxy, read at one mask pixel (zeros when the proxy has none).
    """
    if mode != "mean":
        return image_to_rgba(fill_value(xp, fill).expand(xp.shape[0], 1, 1)).reshape(4).cpu().numpy()
    flat = keep.reshape(-1)
    i = int(flat.to(torch.uint8).argmax())  # one host read per item, in the widget (not a kernel)
    if not bool(flat[i]):
        return np.zeros(4, dtype=np.uint8)
    out = masked(xp[None], keep[None, None], None, "mean", fill)[0]
    r, c = divmod(i, keep.shape[-1])
    return image_to_rgba(out[:, r : r + 1, c : c + 1]).reshape(4).cpu().numpy()


@dataclass
class ItemProxies:
    """What the Viewer caches per batch item (none of it changes: image and mask are fixed)."""

    xp: torch.Tensor  # (C, dh, dw) image proxy, see image_proxy
    rgba: np.ndarray  # (dh, dw, 4) uint8: the image panel
    labels: np.ndarray  # (dh, dw) uint8 / uint16 labels, or uint8 weight * 255: the mask panel
    keep: torch.Tensor  # (dh, dw) bool: the mask pixels of the proxy (what the browser reads from labels)
    weight: torch.Tensor | None  # (dh, dw) weights of the proxy (labels / 255), weight masks only
    mean: np.ndarray | None = None  # RGBA of the mean fill (floating images)
    edges: np.ndarray | None = None  # packed contour bits, built on first use
    results: dict = field(default_factory=dict)  # (mode, fill) -> RGBA of a kernel-drawn mode
    inpaint: Future | None = None  # the inpaint panel, computed in the background (see prefetch_inpaint)


def build_item(
    image: torch.Tensor,
    mask: torch.Tensor,
    kind: str,
    size: tuple[int, int],
    n_ids: int,
    xp: torch.Tensor | None = None,
) -> ItemProxies:
    """Display proxies of one item: ``image`` (C, H, W), ``mask`` (H, W) of kind bool/weight/labels;
    ``xp``: the image proxy when the caller has it (a big item's, from its tile pyramid)."""
    xp = image_proxy(image, size) if xp is None else xp
    if kind == "weight":  # area-averaged weight, quantised to 0..255
        lab = weight_proxy(mask, size)
        keep, weight = lab >= 128, lab.to(xp.dtype if xp.is_floating_point() else torch.float32) / 255
    else:
        lab = nearest_proxy(mask, size)
        keep, weight = lab > 0, None
        lab = lab.to(torch.uint8 if n_ids < 256 else torch.int32)
    labels = lab.cpu().numpy()
    labels = labels if labels.dtype == np.uint8 else labels.astype(np.uint16)
    item = ItemProxies(xp=xp, rgba=image_to_rgba(xp).cpu().numpy(), labels=labels, keep=keep, weight=weight)
    if xp.is_floating_point():
        item.mean = fill_rgba(xp, "mean", 0.0, keep)
    return item


def item_edges(item: ItemProxies, kind: str) -> np.ndarray:
    """Packed contour bits of the item's label proxy (weights: of ``weight >= 0.5``), cached."""
    from maskbench.widgets._transport import pack_bits

    if item.edges is None:
        lab = torch.from_numpy(item.labels)
        item.edges = pack_bits(contours(lab >= 128 if kind == "weight" else lab.long()).numpy())
    return item.edges


_worker: ThreadPoolExecutor | None = None


def inpaint_rgba(xp: torch.Tensor, keep: torch.Tensor, steps: int) -> np.ndarray:
    """RGBA of the inpaint mode on one item's proxy (``xp`` (C, h, w), ``keep`` (h, w))."""
    return image_to_rgba(masked(xp[None], keep[None, None], None, "inpaint", 0.0, steps)[0]).cpu().numpy()


def prefetch_inpaint(item: ItemProxies, steps: int) -> None:
    """Start computing ``item``'s inpaint panel on the Viewers' one background thread.

    Keep / remove / mean need no kernel work once an item is shown (the browser draws them), so
    the kernel is idle: the inpaint panel, the one slow panel, is computed then, and picking
    ``inpaint`` later only sends it. A failure is not reported here: the panel is computed again
    in the foreground, where an error reaches the widget.
    """
    global _worker
    if item.inpaint is not None:
        return
    if _worker is None:
        _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maskbench-viewer")
    item.inpaint = _worker.submit(inpaint_rgba, item.xp, item.keep, steps)
