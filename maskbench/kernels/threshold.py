"""Thresholds: a mask from a value, automatic per-image thresholds, and labels from class maps.

Convention: **foreground is strictly above the threshold.** ``threshold(x, t)`` is ``x > t``, so
``threshold(x, threshold_otsu(x))`` is scikit-image's ``x > threshold_otsu(x)`` mask, and a
constant image (whose automatic threshold is its own value) is all background. The threshold
sweeps (:func:`maskbench.threshold_sweep`, :class:`maskbench.ThresholdSweep`) count ``p > t`` too.

The automatic methods follow ``skimage.filters.threshold_*`` (scikit-image 0.26) on float images:
a ``bins``-bin histogram (256 by default) spanning each image's own [min, max] and binned like
``numpy.histogram`` (values on bin edges included: the index is re-checked against the edges),
thresholds that are bin centres, the same tie-breaking (the first maximum wins) and the same
intermediate dtypes. They agree with scikit-image exactly on its sample images and on quantised
images (e.g. 128 grey levels), except multi-Otsu with 4-5 classes (ties may differ, one bin at
most) and Li (iterated on a fine histogram, ~1/100 bin); always within one bin width
``(max - min) / 256``. Where scikit-image's float32 criterion is flat (small images), its own
rounding picks among near-equal bins, and ours may pick another one that scores the same.

Every automatic method works on the last two dims, batched: ``(..., H, W)`` -> ``(...)``, one
histogram per image from one flat ``bincount`` (no Python loop over images, no host sync).

Conventions (shared by every method):
    * NaN and +-Inf pixels are ignored; an image with no finite pixel gives NaN.
    * A constant image returns its value (scikit-image's Otsu and Li do the same).
    * 8-bit integer images (uint8, int8) get one bin per value from the image minimum, like
      scikit-image's integer histogram, when ``bins >= 256`` (the default): thresholds are then
      pixel values, and the mask ``x > t`` equals scikit-image's. Other integer images are
      converted to float first (float32; float64 for int32/int64) and binned like float
      images (scikit-image gives them one bin per value instead). ``bool`` images are rejected:
      they are already masks.
    * Float16/bfloat16 images are binned in float32; the result has the image's dtype. Float64
      images stay in float64 (exact, but about 4x slower than float32 on CPU).
    * Thresholds are plain values (no autograd graph).
    * Degenerate ranges (wider than the dtype's largest value, or narrower than ``bins`` times its
      smallest normal) give degenerate bins, never an error or NaN counts.

Speed (2-core CPU, 16 x 512 x 512 float32 Otsu, benchmarks 2026-12): ~2.2-2.8x scikit-image's loop
with 1 torch thread, ~2.3-3.1x with 2 on an idle machine; on a busy one torch's 2 threads stall
(0.1-0.4x measured: use 1). Per image: one min/max pass, then per cache-sized block a multiply-add,
a clamp, an integer conversion, one ``bincount`` of uint8 indices (~1.4 ns per pixel, about a
fifth of the time, single-threaded in torch) and two passes that find the few pixels to re-check.
"""

from __future__ import annotations

import numpy as np
import torch

from maskbench._checks import (
    check_broadcast_to,
    check_choice,
    check_int,
    check_number_or_tensor,
    check_real,
    check_same_device,
)
from maskbench.kernels._histogram import _INF, Hist, as_work, rcumsum, wide_float
from maskbench.kernels.threshold_li_multiotsu import threshold_li, threshold_multiotsu  # noqa: F401 (li: a method)

__all__ = [
    "threshold",
    "histogram",
    "threshold_otsu",
    "threshold_yen",
    "threshold_triangle",
    "threshold_mean",
    "threshold_isodata",
    "auto_threshold",
    "THRESHOLD_METHODS",
]


def threshold(x: torch.Tensor, value: float | torch.Tensor, *, inclusive: bool = False) -> torch.Tensor:
    """The mask ``x > value``: foreground is strictly above the threshold (``x >= value`` if ``inclusive``).

    ``threshold(x, threshold_otsu(x))`` is scikit-image's ``x > threshold_otsu(x)`` mask exactly,
    and a constant image (whose automatic threshold is its value) is all background.
    :func:`maskbench.threshold_sweep` counts foreground with the same ``>``.

    Args:
        x: any shape ``(..., H, W)``; real dtype (not bool).
        value: a number, or a tensor on ``x``'s device. A tensor of shape ``x.shape[:-2]`` (what
            the automatic methods return) is one threshold per image; any other tensor must
            broadcast to ``x`` without growing it.
        inclusive: ``>`` (default, the convention everywhere in maskbench) or ``>=``.

    Returns:
        A bool mask shaped like ``x``. NaN pixels (or a NaN threshold) give False.

    Syncs: none. Backend: a float32/float64 CPU tensor with a number is compared by numpy (the
    same mask bit for bit, ~4x faster than torch's CPU comparison); everything else by torch.

    Example:
        >>> x = torch.tensor([[0.1, 0.5], [0.9, float("nan")]])
        >>> threshold(x, 0.5)
        tensor([[False, False],
                [ True, False]])
        >>> threshold(x, 0.5, inclusive=True)
        tensor([[False,  True],
                [ True, False]])
        >>> threshold(torch.stack([x, x + 1]), torch.tensor([0.5, 1.5]))[:, 0]
        tensor([[False, False],
                [False, False]])
        >>> threshold(torch.full((2, 2), 3.0), threshold_otsu(torch.full((2, 2), 3.0))).any()  # constant
        tensor(False)
    """
    check_real(x, "x")
    value = check_number_or_tensor(value, "value")
    if isinstance(value, torch.Tensor):
        check_same_device(x=x, value=value)
        if x.ndim >= 2 and value.ndim > 0 and tuple(value.shape) == tuple(x.shape[:-2]):
            value = value[..., None, None]  # one threshold per image
        else:
            check_broadcast_to(value, "value", x.shape, "x")
    elif _numpy_comparable(x) and (mask := _compare_numpy(x, value, inclusive)) is not None:
        return mask
    return x >= value if inclusive else x > value  # NaN compares False either way


# float dtypes whose CPU comparison numpy does 3-5x faster than torch (SIMD, one thread: 31 vs 150 ms
# for 8192^2 float32 here; torch's 2 threads ~75 ms)
_NUMPY_COMPARE = (torch.float32, torch.float64)


def _numpy_comparable(x: torch.Tensor) -> bool:
    """A plain strided CPU float tensor outside torch.compile: subclasses (which a comparison would
    keep) and compiled code stay with torch."""
    return (
        type(x) is torch.Tensor
        and x.device.type == "cpu"
        and x.dtype in _NUMPY_COMPARE
        and x.layout == torch.strided
        and not torch.compiler.is_compiling()
    )


def _compare_numpy(x: torch.Tensor, value: float, inclusive: bool) -> torch.Tensor | None:
    """``x > value`` (``>=``) of a CPU float tensor through numpy: the same result bit for bit (the
    number is rounded to x's dtype first, as torch does; NaN compares False). None where torch's own
    comparison must decide: a number the dtype cannot hold, a tensor without storage of its own (a
    torch.func.vmap / grad wrapper)."""
    try:
        v = torch.tensor(value, dtype=x.dtype).numpy()
        a = x.detach().numpy()
    except (OverflowError, RuntimeError):
        return None
    return torch.from_numpy(np.greater_equal(a, v) if inclusive else np.greater(a, v))


def histogram(x: torch.Tensor, *, bins: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image histograms over the last two dims, each spanning the image's own [min, max].

    Same bins as ``skimage.exposure.histogram(image, bins)`` for a float image (``numpy.histogram``
    with ``range=(min, max)``): ``bins`` equal bins, the maximum in the last one, centres halfway
    between edges. NaN and +-Inf pixels are not counted. A constant image ``v`` spans
    ``[v - 0.5, v + 0.5]`` with every pixel in bin ``bins // 2``; an image without finite pixels
    has zero counts over ``[0, 1]``. Values on a bin edge go where numpy puts them: the index
    ``(x - min) / (max - min) * bins`` is computed in the image's float dtype, then re-checked
    against the edges (``0.6`` in ``[0.4, 1.2]`` is bin 64 although the division gives 63.99...).

    Args:
        x: ``(..., H, W)``, real (not bool); integers are converted to float.
        bins: number of bins (>= 1).

    Returns:
        ``(counts, centres)``: int64 counts ``(..., bins)`` and bin centres ``(..., bins)`` in the
        float dtype the image is binned in (float32, or float64 for float64/int32/int64 images).

    Syncs: none (one ``bincount`` on CPU, ``index_add_`` on other devices).

    Example:
        >>> counts, centres = histogram(torch.tensor([[0.0, 1.0], [1.0, 3.0]]), bins=3)
        >>> counts
        tensor([1, 2, 1])
        >>> centres
        tensor([0.5000, 1.5000, 2.5000])
    """
    h = Hist(x, bins)
    return h.counts.view(*h.batch, bins), h.centres.view(*h.batch, bins)


def threshold_otsu(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """Otsu's threshold per image: the bin centre maximising the between-class variance.

    As ``skimage.filters.threshold_otsu``: pixels ``> t`` are the upper class. Ties take the
    lowest bin. Conventions (NaN, constant and integer images): see the module docstring.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image, in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]])
        >>> threshold_otsu(x, bins=16)
        tensor(0.2188)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    c = h.counts.float()  # scikit-image casts counts to float32
    cc = c * h.centres
    w1, w2 = c.cumsum(-1), rcumsum(c)
    m1, m2 = cc.cumsum(-1) / w1, rcumsum(cc) / w2
    var = w1[:, :-1] * w2[:, 1:] * (m1[:, :-1] - m2[:, 1:]) ** 2
    var = var.masked_fill(~h.valid(var.shape[-1]), -_INF)  # 8-bit images: no split past the maximum
    return h.finish(h.at(var.argmax(-1)))


def threshold_yen(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """Yen's threshold per image (maximum correlation criterion), as ``skimage.filters.threshold_yen``.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image (a bin centre), in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> threshold_yen(torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]]), bins=16)
        tensor(0.2188)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    pmf = h.counts.float() / h.counts.sum(-1, keepdim=True).float()
    p1, p1_sq, p2_sq = pmf.cumsum(-1), (pmf**2).cumsum(-1), rcumsum(pmf**2)
    p = p1[:, :-1]
    crit = torch.log((p1_sq[:, :-1] * p2_sq[:, 1:]) ** -1 * (p * (1.0 - p)) ** 2)
    crit = crit.masked_fill(~h.valid(crit.shape[-1]), -_INF)
    return h.finish(h.at(crit.argmax(-1)))


def threshold_isodata(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """ISODATA (Ridler-Calvard) threshold per image: the lowest ``t`` with ``t = (mean(x <= t) + mean(x > t)) / 2``.

    As ``skimage.filters.threshold_isodata`` (``return_all=False``), within one bin width.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image (a bin centre), in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> threshold_isodata(torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]]), bins=16)
        tensor(0.4688)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    c = h.counts.float()
    csuml = c.cumsum(-1)
    csum_int = (c * h.centres).cumsum(-1)
    lower = csum_int[:, :-1] / csuml[:, :-1]
    higher = (csum_int[:, -1:] - csum_int[:, :-1]) / (csuml[:, -1:] - csuml[:, :-1])
    dist = (lower + higher) / 2.0 - h.centres[:, :-1]
    width = h.centres[:, 1:2] - h.centres[:, :1]
    # first bin with 0 <= dist < width; one always exists in exact arithmetic, and if rounding
    # removes it, the first bin with dist < width is the closest fixed point.
    score = ((dist >= 0) & (dist < width)).to(torch.uint8) * 2 + (dist < width).to(torch.uint8)
    score.masked_fill_(~h.valid(score.shape[-1]), 0)
    return h.finish(h.at(score.argmax(-1)))


def threshold_triangle(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """Triangle threshold per image (Zack et al.), as ``skimage.filters.threshold_triangle``.

    The line from the histogram peak to the end of its longer tail; the bin farthest below it.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image (a bin centre), in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 0.6, 1.0]])
        >>> threshold_triangle(x, bins=4)
        tensor(0.3750)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    n = bins
    hist = h.counts
    k = torch.arange(n, device=hist.device)
    peak = hist.argmax(-1, keepdim=True)
    nonzero = hist > 0
    low = nonzero.to(torch.uint8).argmax(-1, keepdim=True)
    high = n - 1 - nonzero.flip(-1).to(torch.uint8).argmax(-1, keepdim=True)
    flip = (peak - low) < (high - peak)  # True when the left tail is shorter
    hist = torch.where(flip, hist.flip(-1), hist)
    low = torch.where(flip, n - high - 1, low)
    peak = torch.where(flip, n - peak - 1, peak)
    # scikit-image's float64 arithmetic, for the same rounding on near-ties
    f64 = wide_float(hist.device)
    height = hist.gather(-1, peak).to(f64)
    width = (peak - low).to(f64)
    norm = torch.sqrt(height**2 + width**2)
    length = (height / norm) * (k - low).to(f64) - (width / norm) * hist.to(f64)
    length = length.masked_fill((k < low) | (k >= peak), -_INF)
    level = length.argmax(-1, keepdim=True)
    level = torch.where(flip, n - level - 1, level).squeeze(-1)
    return h.finish(h.at(level))


def threshold_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of each image's finite pixels, as ``skimage.filters.threshold_mean`` (which is NaN-naive).

    Args:
        x: ``(..., H, W)`` images, real dtype.

    Returns:
        ``(...)``: the mean of the finite pixels of each image (NaN when there are none), in ``x``'s
        float dtype.

    Syncs: none.

    Example:
        >>> threshold_mean(torch.tensor([[1.0, 2.0], [6.0, float("nan")]]))
        tensor(3.)
    """
    xw, batch, out_dtype, _ = as_work(x, "x")
    finite = torch.isfinite(xw)
    mean = torch.where(finite, xw, 0).sum(-1) / finite.sum(-1)
    # clipped into [min, max] so that a constant image returns exactly its value
    lo = torch.where(finite, xw, _INF).amin(-1)
    hi = torch.where(finite, xw, -_INF).amax(-1)
    return torch.minimum(torch.maximum(mean, lo), hi).to(out_dtype).reshape(batch)


THRESHOLD_METHODS = {
    "otsu": threshold_otsu,
    "li": threshold_li,
    "yen": threshold_yen,
    "triangle": threshold_triangle,
    "mean": threshold_mean,
    "isodata": threshold_isodata,
}
"""Automatic single-threshold methods by name (``threshold_multiotsu`` returns several: call it directly)."""


def auto_threshold(x: torch.Tensor, *, method: str = "otsu", **kwargs) -> torch.Tensor:
    """One threshold per image with the method named ``method`` (a key of ``THRESHOLD_METHODS``).

    Args:
        x: ``(..., H, W)`` images, real dtype.
        method: ``"otsu"``, ``"li"``, ``"yen"``, ``"triangle"``, ``"mean"`` or ``"isodata"``.
        **kwargs: passed to the method (e.g. ``bins``).

    Returns:
        ``(...)``: one threshold per image; ``threshold(x, auto_threshold(x))`` is the mask.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[[0.0, 0.2], [0.8, 1.0]], [[0.0, 1.0], [2.0, 3.0]]])
        >>> auto_threshold(x, method="mean")
        tensor([0.5000, 1.5000])
    """
    check_choice(method, "method", THRESHOLD_METHODS)
    return THRESHOLD_METHODS[method](x, **kwargs)
