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

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from maskbench.render import contours, image_to_rgba
from maskbench.render.proxy import nearest_proxy, weight_proxy
from maskbench.widgets._common import one_torch_thread

__all__ = [
    "MODES",
    "BROWSER_MODES",
    "MODE_TEXT",
    "allowed_modes",
    "why_not",
    "masked",
    "keep_of",
    "ItemProxies",
    "area_mean",
    "inpaint_colours",
    "rgba_at",
    "pick_pixels",
    "put_pixels",
    "build_item",
    "fill_rgba",
    "fill_value",
    "viewer_bytes",
    "check_viewer_memory",
    "check_result_memory",
    "serial_for_small_items",
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


# A display proxy up to this many elements is refreshed on one torch thread: its small ops gain
# nothing from a thread pool, and on a busy machine every parallel region can wait a scheduler
# slice for a descheduled worker (measured: inpaint of a 303x384 image, 8 ms serial vs 380 ms; of a
# 3x1024x1024 proxy, 0.5-0.7 s serial vs 1.3-1.7 s on two threads).
_SERIAL_MAX = 1 << 22


def serial_for_small_items(method):
    """A Viewer method decorator: run a per-item display refresh on one torch thread when its display
    proxy is small (it works on the proxy; only building the proxy reads the full item, one pooling
    pass); restore after."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._x.shape[1] * self._display[0] * self._display[1] > _SERIAL_MAX:
            return method(self, *args, **kwargs)
        with one_torch_thread():
            return method(self, *args, **kwargs)

    return wrapper


def proxy_inpaint_steps(full: tuple[int, int], size: tuple[int, int]) -> int:
    """Smoothing steps that make an inpaint of the display proxy look like the proxy of the
    full-resolution inpaint: each step smooths over a fixed distance in the image's own pixels (a 3x3
    pass at half resolution), so a proxy at scale ``s`` needs ``s`` times as many (at least 1) to
    smooth over the same image distance; a same-size proxy uses the default."""
    from maskbench.kernels.apply import _DEFAULT_INPAINT_STEPS

    scale = max(size) / max(full)
    return _DEFAULT_INPAINT_STEPS if scale >= 1 else max(1, round(_DEFAULT_INPAINT_STEPS * scale))


def area_mean(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x[None], size)[0]`` of a float32 ``(C, H, W)``, bit for bit.

    At an integer ratio on the CPU (2048^2 -> 1024^2: each output the mean of a ``kh x kw`` block)
    as strided slice sums, in the pooling kernel's order (the block row by row, left to right, from
    0, then ``/ kh / kw``): the same float32 operations, ~3x faster than the CPU pooling kernel
    (measured at 3 x 2048^2 on one thread: 95-145 ms -> 30-70 ms). Otherwise the pooling itself.
    """
    (h, w), (dh, dw) = x.shape[-2:], size
    kh, kw = h // dh, w // dw
    if x.dtype != torch.float32 or x.device.type != "cpu" or kh * dh != h or kw * dw != w or kh * kw > 16:
        return F.adaptive_avg_pool2d(x[None], size)[0]
    blocks = [x[:, i::kh, j::kw] for i in range(kh) for j in range(kw)]
    if len(blocks) == 1:
        return x.clone()
    out = torch.add(blocks[0], blocks[1])  # (0 + a) + b is a + b: the first sum writes the new tensor
    for block in blocks[2:]:
        out += block
    return out.div_(kh).div_(kw)


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
    x = area_mean(x, size)
    if image.dtype == torch.uint8:
        return (x.nan_to_num(nan=0.0).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return x.to(image.dtype) if image.is_floating_point() else x  # a bool image's proxy shows grey levels


#: Items above this many pixels take their display proxy from their tile pyramid (``ItemTiles.proxy``:
#: no full-size float copy, and the pyramid serves the tiles too).
BAND_PIXELS = 1 << 22


_WORK_BYTES = 16 << 20  # imports aside: small per-item state, messages


def viewer_bytes(x: torch.Tensor, m: torch.Tensor, kind: str, display: tuple[int, int]) -> list[tuple[str, int]]:
    """What a Viewer allocates for these inputs when it opens, by part (label, bytes): an estimate
    from their shapes alone, made before anything is allocated (``x`` (B, C, H, W), ``m`` (B|1, H, W)).

    One batch item is shown (N = H * W pixels, C channels): its uint8 image pyramid, which gives the
    display proxy above :data:`BAND_PIXELS` and the tiles past it (a (H, W, C) copy, none for a numpy
    (H, W, C) uint8 image, plus its coarser levels: a third of it); below it the proxy is averaged
    from a float32 copy (uint8: 8 bytes per value at once, other non-float32 dtypes 4); the mask's
    temporaries (a byte per pixel, two for labels and weights); the display proxies, the mean fill
    and, for a floating image, the inpaint panel prefetched on the proxy (~44 bytes per proxy pixel
    and channel, measured: 101 MB for a 3 x 1024^2 float32 image). Not counted: ``viewer.result``
    (computed on access: the image's size again, plus inpaint's work) and the full-resolution
    inpaint the tiles need when zoomed in inpaint mode.
    """
    c, h, w = x.shape[1:]
    n, d = h * w, display[0] * display[1]
    item = x[0]
    view = item.dtype == torch.uint8 and item.device.type == "cpu" and item.permute(1, 2, 0).is_contiguous()
    parts = [("uint8 image pyramid", c * n // 3 + (0 if view else c * n))]
    if n <= BAND_PIXELS and item.dtype != torch.float32:
        parts.append(("float32 copy for the proxy", c * n * (8 if item.dtype == torch.uint8 else 4)))
    parts.append(("mask temporaries", n * (1 if kind == "bool" else 2)))
    per_channel = 44 if x.is_floating_point() else 12
    parts.append(("display proxies and panels", d * (per_channel * c + 16) + _WORK_BYTES))
    return parts


def check_viewer_memory(x: torch.Tensor, m: torch.Tensor, kind: str, display: tuple[int, int]) -> None:
    """Raise :class:`~maskbench.widgets._memory.WidgetMemoryError` naming the size when a Viewer on
    these inputs would not fit (:func:`viewer_bytes` against the memory available)."""
    from maskbench.widgets import _memory

    parts = viewer_bytes(x, m, kind, display)
    h, w = x.shape[-2:]
    _memory.check_memory(
        sum(n for _, n in parts),
        widget="Viewer",
        subject=f"image {_memory.size_text(x)} with a {kind} mask",
        parts=sorted(parts, key=lambda part: -part[1])[:4],
        fix=f"view a crop or a downsampled copy (image and mask alike), e.g. "
        f"`image[..., :{h // 2}, :{w // 2}]` or `image[..., ::2, ::2]`.",
        name="image",
    )


#: ``viewer.result``'s peak in image sizes (the result, its returned copy, and the mode's work;
#: measured peak above the inputs, 3 x 2048^2 float32: inpaint 5.1 image sizes, mean 2.0, a number 1.0).
RESULT_IMAGES = {"inpaint": 6, "mean": 3}


def check_result_memory(x: torch.Tensor, mode: str) -> None:
    """Raise :class:`~maskbench.widgets._memory.WidgetMemoryError` when ``viewer.result`` (``apply_mask``
    on the whole ``(B, C, H, W)`` image in ``mode``, plus the copy it returns) would not fit."""
    from maskbench.widgets import _memory

    size = x.numel() * x.element_size()
    images = RESULT_IMAGES.get(mode, 2)
    h, w = x.shape[-2:]
    _memory.check_memory(
        images * size + x.shape[0] * h * w,
        widget="Viewer",
        subject=f"viewer.result in {mode!r} mode on image {_memory.size_text(x)}",
        parts=[("result and its copy", 2 * size), (f"{mode} work", (images - 2) * size)],
        fix=f"compute it on a crop with maskbench.apply_mask, e.g. on `image[..., :{h // 2}, :{w // 2}]`, "
        f"or in parts (a batch item or a band of rows at a time).",
        name="image",
    )


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
    colours: np.ndarray | None = None  # (n, 4) RGBA of the inpaint mode at the n mask pixels, raster order


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


def rgba_at(out: torch.Tensor, keep: torch.Tensor) -> np.ndarray:
    """``(n, 4)`` uint8 RGBA of the image ``out`` (C, h, w) at the ``n`` True pixels of ``keep``
    (h, w), in raster order: only those pixels are gathered and converted (``image_to_rgba``'s rule)."""
    idx = keep.reshape(-1).nonzero().squeeze(1)  # one host read per item, in the widget (not a kernel)
    flat = out.reshape(out.shape[0], -1)
    # a 1-D gather per channel: ~2x faster on the CPU than one index_select along the last dim of (C, h * w)
    picked = torch.stack([flat[k].index_select(0, idx) for k in range(flat.shape[0])])
    return image_to_rgba(picked[:, None]).reshape(-1, 4).cpu().numpy()


def inpaint_colours(xp: torch.Tensor, keep: torch.Tensor, steps: int) -> np.ndarray:
    """``(n, 4)`` RGBA of the inpaint mode at the ``n`` mask pixels of one item's proxy (``xp``
    (C, h, w), ``keep`` (h, w)), raster order: all that differs from the image panel (every other
    pixel is kept as it is, exactly), so only those pixels are converted and sent."""
    return rgba_at(masked(xp[None], keep[None, None], None, "inpaint", 0.0, steps)[0], keep)


def pick_pixels(rgba: np.ndarray, keep: torch.Tensor) -> np.ndarray:
    """``(n, 4)`` of a C-contiguous ``(h, w, 4)`` uint8 ``rgba`` at the ``n`` True pixels of ``keep``,
    in raster order: one uint32 gather per pixel (~4x faster than numpy's per-byte ``rgba[keep]``)."""
    h, w = keep.shape
    return rgba.view(np.uint32).reshape(h, w)[keep.cpu().numpy()].view(np.uint8).reshape(-1, 4)


def put_pixels(rgba: np.ndarray, keep: torch.Tensor, colours: np.ndarray) -> np.ndarray:
    """A copy of ``rgba`` with :func:`pick_pixels`' ``colours`` put back at the True pixels of ``keep``."""
    h, w = keep.shape
    out = rgba.copy()
    out.view(np.uint32).reshape(h, w)[keep.cpu().numpy()] = np.ascontiguousarray(colours).view(np.uint32).reshape(-1)
    return out


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
