"""Properties of every kernel family on hostile but valid inputs, against a plain reference.

References are loops, numpy, scipy and scikit-image; inputs come from ``strategies`` (every dtype,
0-sized dims, 1x1, odd sizes, transposed/sliced/channels-last/expanded layouts, NaN/+-Inf/-0.0).
Excluded elements must get exactly zero gradient even with NaN/Inf under them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.filters
import skimage.measure
import skimage.morphology
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import maskbench as mb

from .strategies import (
    FLOATS,
    NONEMPTY_SIDES,
    SIDES,
    image_and_mask,
    image_shapes,
    mask_shapes,
    masks,
    seeded,
    tensors,
)

F32_64 = st.sampled_from((torch.float32, torch.float64))
TOL = {torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float32: 1e-5, torch.float64: 1e-10}


def _close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, *, rtol_scale: float = 1.0) -> None:
    tol = TOL.get(dtype, 0.0) * rtol_scale
    torch.testing.assert_close(
        actual.double(), expected.double(), rtol=tol, atol=tol, equal_nan=True, check_dtype=False
    )


def _mask4d(mask: torch.Tensor, image: torch.Tensor, batched: bool) -> torch.Tensor:
    """The reference broadcast of the spatial-mask convention, to (B|1, C|1, H, W)."""
    if mask.ndim == 2:
        return mask[None, None]
    if mask.ndim == 3:
        return mask[:, None] if batched else mask[None]
    return mask


# ------------------------------------------------------------------ apply_mask / assign_where


@seeded(60)
@given(case=image_and_mask(), fill=st.sampled_from((0.0, -2.5, float("inf"), float("-inf"))))
def test_apply_mask_equals_where_and_the_blend(case, fill) -> None:
    image, mask, batched = case
    if fill != fill or (abs(fill) == float("inf") and image.dtype in (torch.uint8, torch.int64)):
        return
    out = mb.apply_mask(image, mask, fill=fill)
    assert out.shape == image.shape and out.dtype == image.dtype
    x = image if batched else image[None]
    w = _mask4d(mask, x, batched).double()
    xd = x.double()
    fill_t = torch.tensor(fill, dtype=torch.float64)
    # exactly fill where w == 0, exactly image where w == 1, the blend elsewhere (inf * w stays inf)
    ref = torch.where(w == 0, fill_t, torch.where(w == 1, xd, xd * w + fill_t * (1 - w)))
    ref = ref if batched else ref[0]
    _close(out, ref.to(image.dtype), image.dtype, rtol_scale=4)


def test_apply_mask_weight_with_infinite_image_or_fill_is_infinite() -> None:
    """Issue 10 #4: a weight in (0, 1) with an infinite image or fill gives +-Inf, not NaN."""
    image = torch.tensor([[[float("inf"), float("-inf"), 1.0]]])
    w = torch.tensor([[0.5, 0.25, 0.5]])
    assert mb.apply_mask(image, w, fill=0.0).tolist() == [[[float("inf"), float("-inf"), 0.5]]]
    out = mb.apply_mask(torch.tensor([[[1.0]]]), torch.tensor([[0.5]]), fill=float("inf"))
    assert out.item() == float("inf")


@seeded(40)
@given(case=image_and_mask(dtypes=(torch.float32, torch.float64)))
def test_apply_mask_gradients_are_exactly_zero_where_removed(case) -> None:
    """Issue 10 #3: NaN/Inf under a removed pixel reaches neither the image's nor the mask's gradient."""
    image, mask, batched = case
    image = image.detach().clone().requires_grad_(True)
    floating = mask.is_floating_point()
    if floating:
        mask = mask.detach().clone().requires_grad_(True)
    mb.apply_mask(image, mask, fill=0.5).sum().backward()
    x = image if batched else image[None]
    removed = (_mask4d(mask.detach(), x, batched) == 0).expand_as(x)
    grad = image.grad if batched else image.grad[None]
    assert (grad[removed] == 0).all()
    if floating:  # d/dw is image - fill where w > 0; where w == 0 the removed pixel must not leak in
        assert torch.isfinite(mask.grad[mask.detach() == 0]).all(), "NaN/Inf under w == 0 leaked into mask.grad"


def test_apply_mask_mask_gradient_ignores_nan_under_removed_pixels() -> None:
    """Issue 10 #3, the reported case: ``w.grad`` was ``[1, nan]``."""
    image = torch.tensor([[[1.0, float("nan")]]], requires_grad=True)
    w = torch.tensor([[1.0, 0.0]], requires_grad=True)
    mb.apply_mask(image, w).sum().backward()
    assert torch.isfinite(w.grad).all(), w.grad
    assert image.grad.tolist() == [[[1.0, 0.0]]]


@seeded(60)
@given(data=st.data())
def test_assign_where_equals_index_assignment(data) -> None:
    shape = tuple(data.draw(st.lists(SIDES, min_size=1, max_size=3)))
    dtype = data.draw(st.sampled_from(FLOATS + (torch.uint8, torch.int64, torch.bool)))
    dst = data.draw(tensors(shape, dtype))
    sshape = tuple(data.draw(st.sampled_from((1, s))) for s in shape)
    src = data.draw(tensors(sshape, dtype))
    cond = data.draw(tensors(shape, torch.bool))
    out = mb.assign_where(dst, src, cond)
    ref = dst.clone()
    ref[cond] = src.expand(shape)[cond]
    assert out.dtype == dst.dtype and out.shape == dst.shape
    assert torch.equal(out.view(torch.uint8) if dtype == torch.bool else out.nan_to_num(7.0), ref.nan_to_num(7.0))


# ------------------------------------------------------------------ extract


def _ref_pixels(image, mask, batched):
    x = image if batched else image[None]
    m = mask if mask.ndim == 2 else (mask[:, 0] if mask.ndim == 4 else mask)
    m = m.expand(x.shape[0], *m.shape[-2:]) if m.ndim == 2 else m.expand(x.shape[0], *m.shape[-2:])
    values, coords = [], []
    for b in range(x.shape[0]):
        for r in range(x.shape[2]):
            for c in range(x.shape[3]):
                if m[b, r, c]:
                    values.append(x[b, :, r, c])
                    coords.append([b, r, c] if batched else [r, c])
    values = torch.stack(values) if values else x.new_zeros((0, x.shape[1]))
    coords = torch.tensor(coords, dtype=torch.int64).reshape(-1, 3 if batched else 2)
    return values, coords


@seeded(60)
@given(data=st.data())
def test_extract_pixels_equals_a_loop(data) -> None:
    shape, batched = data.draw(image_shapes())
    image = data.draw(tensors(shape, st.sampled_from(FLOATS + (torch.uint8, torch.int64))))
    mshape = data.draw(st.sampled_from([s for s in mask_shapes(shape, batched, channels=False)]))
    mask = data.draw(tensors(mshape, torch.bool))
    k = data.draw(st.sampled_from((None, 0, 1, 5)))
    values, coords = _ref_pixels(image, mask, batched)
    out = mb.extract_pixels(image, mask, max_pixels=k)
    if k is None:
        assert torch.equal(out.coords, coords)
        assert torch.equal(out.values.nan_to_num(9), values.nan_to_num(9))
        return
    n = values.shape[0]
    assert int(out.count) == n
    kept = min(n, k)
    assert out.valid.tolist() == [True] * kept + [False] * (k - kept)
    assert torch.equal(out.coords[:kept], coords[:kept]) and (out.coords[kept:] == -1).all()
    assert torch.equal(out.values[:kept].nan_to_num(9), values[:kept].nan_to_num(9))
    assert (out.values[kept:] == 0).all()


@seeded(40)
@given(data=st.data())
def test_extract_classes_equals_a_per_class_loop(data) -> None:
    c, h, w = data.draw(st.sampled_from((1, 3))), data.draw(SIDES), data.draw(SIDES)
    image = data.draw(tensors((c, h, w), F32_64))
    labels = data.draw(tensors((h, w), st.sampled_from((torch.uint8, torch.int64)), low=0, high=3, special=0.0))
    out = mb.extract_classes(image, labels, num_classes=3)
    for k in range(3):
        sel = labels == k
        ref = image[:, sel].T
        assert int(out.counts[k]) == ref.shape[0]
        got = out.values[out.offsets[k] : out.offsets[k + 1]]
        assert torch.equal(got.nan_to_num(9), ref.nan_to_num(9))
        if ref.shape[0]:
            _close(out.mean[k], ref.double().mean(0), image.dtype, rtol_scale=10)
            _close(out.std[k], ref.double().std(0, correction=0), image.dtype, rtol_scale=1e4)
        else:
            assert (out.mean[k] == 0).all() and (out.std[k] == 0).all()


# ------------------------------------------------------------------ masked reductions


def _ref_reduce(x: torch.Tensor, mask: torch.Tensor, dim, what: str, empty: float = 0.0):
    """float64 reference: weights w, elements with w == 0 excluded entirely (NaN there ignored)."""
    w = mask.double().expand(x.shape)
    xd = torch.where(w > 0, x.double(), 0.0)
    dims = tuple(range(x.ndim)) if dim is None else (dim if isinstance(dim, tuple) else (dim,))
    total = (w * xd).sum(dims)
    if what == "sum":
        return total
    count = w.sum(dims)
    mean = torch.where(count > 0, total / count.clamp_min(1e-300), empty)
    if what == "mean":
        return mean
    dev = torch.where(
        w > 0,
        (xd - mean.reshape([1 if i in [d % x.ndim for d in dims] else s for i, s in enumerate(x.shape)])) ** 2,
        0.0,
    )
    var = (w * dev).sum(dims) / (count - 1)
    return torch.where(count > 1, var.sqrt(), empty)


@pytest.mark.parametrize("what", ["sum", "mean", "std"])
def test_masked_reductions_equal_a_float64_reference(what: str) -> None:
    fn = {"sum": mb.masked_sum, "mean": mb.masked_mean, "std": mb.masked_std}[what]

    @seeded(50)
    @given(data=st.data())
    def run(data) -> None:
        shape = (data.draw(st.sampled_from((1, 2))), data.draw(SIDES), data.draw(SIDES))
        x = data.draw(tensors(shape, st.sampled_from(FLOATS)))
        mask = data.draw(masks(data.draw(st.sampled_from((shape, shape[1:], (1, *shape[1:]))))))
        dim = data.draw(st.sampled_from((None, -1, (1, 2))))
        out = fn(x, mask, dim=dim)
        ref = _ref_reduce(x, mask, dim, what)
        _close(out, ref.to(x.dtype), x.dtype, rtol_scale=300 if x.dtype in (torch.float16, torch.bfloat16) else 50)

    run()


def test_masked_std_of_a_selected_nan_or_inf_is_nan() -> None:
    """Issue 10 #2: like torch.std and masked_mean, not 0 (with a NaN gradient)."""
    for bad in (float("nan"), float("inf")):
        x = torch.tensor([1.0, bad, 3.0], requires_grad=True)
        keep = torch.tensor([True, True, False])
        out = mb.masked_std(x, keep)
        assert out.isnan().item(), out
        assert torch.std(x.detach()[keep]).isnan()


# ------------------------------------------------------------------ thresholds vs scikit-image

SK = {
    "otsu": skimage.filters.threshold_otsu,
    "yen": skimage.filters.threshold_yen,
    "isodata": skimage.filters.threshold_isodata,
    "mean": skimage.filters.threshold_mean,
    "triangle": skimage.filters.threshold_triangle,
    "li": skimage.filters.threshold_li,
}


@st.composite
def quantised_images(draw):
    """float64 images on a grid of 2..256 levels (exact bin edges), incl. constant and 2-value images."""
    levels = draw(st.sampled_from((2, 3, 4, 8, 128, 256)))
    h, w = draw(NONEMPTY_SIDES), draw(st.sampled_from((5, 7, 8, 16)))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(0, levels, (h, w), generator=g)
    scale = draw(st.sampled_from((1.0, 0.2, 255.0)))
    return (q.double() * scale / (levels - 1)) + draw(st.sampled_from((0.0, 0.4)))


@pytest.mark.parametrize("method", sorted(SK))
def test_threshold_mask_equals_scikit_image_on_quantised_images(method: str) -> None:
    """``threshold(x, auto(x))`` is scikit-image's ``x > threshold_*(x)`` mask (issue 10 #5)."""

    @seeded(40)
    @given(x=quantised_images())
    def run(x) -> None:
        a = x.numpy()
        if np.unique(a).size == 1 and method in ("yen", "isodata", "triangle"):
            ref_mask = np.zeros_like(a, dtype=bool)  # skimage has no threshold here; a constant image is background
        else:
            ref_mask = a > SK[method](a)
        t = mb.auto_threshold(x, method=method)
        ours = mb.threshold(x, t).numpy()
        if method == "mean":
            # the mean is a sum: its last bit depends on the summation order (torch's thread count), so
            # pixels within a few ulps of it may fall either way; everything else must agree
            ref_t = SK[method](a)
            assert abs(float(t) - ref_t) <= 4 * np.spacing(abs(ref_t))
            near = np.abs(a - ref_t) <= 4 * np.spacing(abs(ref_t))
            assert (ours == ref_mask)[~near].all()
            return
        if method == "li":  # iterated on a fine histogram: within a bin of scikit-image's value
            width = (a.max() - a.min()) / 256
            assert abs(float(t) - SK[method](a)) <= width + 1e-12 or (ours == ref_mask).all()
            return
        assert (ours == ref_mask).all(), f"{method}: ours {float(t)!r} vs skimage {SK[method](a)!r}"

    run()


@seeded(40)
@given(x=quantised_images(), bins=st.sampled_from((2, 7, 16, 256)))
def test_histogram_equals_numpy_on_bin_edge_values(x, bins) -> None:
    """Values exactly on bin edges land where numpy puts them (issue 10 #5: re-check against edges)."""
    a = x.numpy()
    counts, centres = mb.histogram(x, bins=bins)
    if a.min() == a.max():
        assert counts.sum() == a.size and counts[bins // 2] == a.size
        return
    ref, edges = np.histogram(a, bins=bins, range=(a.min(), a.max()))
    assert counts.tolist() == ref.tolist()
    np.testing.assert_allclose(centres.numpy(), (edges[:-1] + edges[1:]) / 2, rtol=1e-12, atol=1e-12)


@seeded(30)
@given(case=image_and_mask(dtypes=(torch.float32, torch.float64), kind="bool"), steps=st.sampled_from((0, 2)))
def test_inpaint_keeps_valid_pixels_and_stays_in_their_range(case, steps) -> None:
    image, mask, batched = case
    image = image.nan_to_num(0.0, 0.0, 0.0)  # finite images: the range property is about valid values
    out = mb.inpaint(image, mask, steps=steps)
    x, o = (image, out) if batched else (image[None], out[None])
    keep = _mask4d(mask, x, batched).expand_as(x)
    assert torch.equal(o[keep], x[keep])
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            valid = x[b, c][keep[b, c]]
            filled = o[b, c][~keep[b, c]]
            if valid.numel() and filled.numel():
                eps = 1e-5 * max(1.0, float(valid.abs().max()))
                assert filled.min() >= valid.min() - eps and filled.max() <= valid.max() + eps
            elif filled.numel():
                assert (filled == 0).all()


def test_otsu_on_bin_edge_values_is_scikit_images() -> None:
    """Issue 10 #5: (0.6 - 0.4) / (0.8 / 256) is 63.999..., which put 0.6 one bin low."""
    x = torch.tensor([[0.4, 0.8, 1.0, 0.6, 1.0, 0.8, 0.8, 1.2, 0.8]], dtype=torch.float64)
    ref = skimage.filters.threshold_otsu(x.numpy())
    assert float(mb.threshold_otsu(x)) == pytest.approx(ref, abs=1e-9)


@seeded(30)
@given(x=quantised_images(), classes=st.sampled_from((2, 3)))
def test_multiotsu_regions_equal_scikit_image(x, classes) -> None:
    a = x.numpy()
    if np.unique(a).size <= classes:
        return  # scikit-image raises for too few values
    ref = np.digitize(a, skimage.filters.threshold_multiotsu(a, classes=classes))
    ours = np.digitize(a, mb.threshold_multiotsu(x, classes=classes).numpy())
    assert (ours == ref).all()


@seeded(30)
@given(x=tensors((3, 5), st.sampled_from(FLOATS + (torch.uint8, torch.int64))), value=st.sampled_from((0.0, 0.5, -1)))
def test_threshold_is_strictly_greater(x, value) -> None:
    """The lead's convention (issue 10 #5): foreground is strictly above; NaN is background."""
    assert torch.equal(mb.threshold(x, value), x.double() > value)
    c = torch.full((4, 4), 0.3)
    assert not mb.threshold(c, mb.threshold_otsu(c)).any()


# ------------------------------------------------------------------ metrics vs a numpy loop


def _np_counts(pred: np.ndarray, target: np.ndarray, k: int, ignore: np.ndarray | None):
    keep = np.ones(pred.shape, bool) if ignore is None else ~ignore
    tp, fp, fn = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    for p, t in zip(pred[keep].tolist(), target[keep].tolist()):
        if p == t:
            tp[p] += 1
        else:
            fp[p] += 1
            fn[t] += 1
    return tp, fp, fn


@seeded(60)
@given(data=st.data())
def test_confusion_iou_dice_equal_a_numpy_loop(data) -> None:
    lead = data.draw(st.sampled_from(((), (0,), (1,), (2,))))
    shape = (*lead, data.draw(SIDES), data.draw(SIDES))
    binary = data.draw(st.booleans())
    k = 2 if binary else 3
    dt = torch.bool if binary else st.sampled_from((torch.uint8, torch.int64))
    pred = data.draw(tensors(shape, dt, low=0, high=k - 1, special=0.0))
    target = data.draw(tensors(shape, dt, low=0, high=k - 1, special=0.0))
    ignore = data.draw(st.one_of(st.none(), tensors(shape, torch.bool)))
    kw = {} if binary else {"num_classes": k}
    per_image = bool(lead) and data.draw(st.booleans())
    if per_image and lead == (0,):
        return  # test_per_image_counts_of_an_empty_batch
    conf = mb.confusion_counts(pred, target, ignore=ignore, per_image=per_image, **kw)
    iou = mb.iou(pred, target, ignore=ignore, per_image=per_image, **kw)
    dice = mb.dice(pred, target, ignore=ignore, per_image=per_image, **kw)
    items = range(shape[0]) if per_image else [None]
    for i, item in enumerate(items):
        sel = (lambda a: a) if item is None else (lambda a: a[item])
        p, t = sel(pred).long().numpy(), sel(target).long().numpy()
        ig = None if ignore is None else sel(ignore).numpy()
        tp, fp, fn = _np_counts(p, t, k, ig)
        if binary:
            tp, fp, fn = tp[1:], fp[1:], fn[1:]
        got = [x[i] if per_image else x for x in (conf.tp, conf.fp, conf.fn)]
        assert [g.reshape(-1).tolist() for g in got] == [tp.tolist(), fp.tolist(), fn.tolist()]
        den = tp + fp + fn
        ref_iou = np.where(den > 0, tp / np.maximum(den, 1), 1.0)
        ref_dice = np.where(den > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 1.0)
        got_iou, got_dice = (x[i] if per_image else x for x in (iou, dice))
        np.testing.assert_allclose(got_iou.reshape(-1).numpy(), ref_iou, rtol=1e-6)
        np.testing.assert_allclose(got_dice.reshape(-1).numpy(), ref_dice, rtol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_per_image_counts_of_an_empty_batch(binary: bool) -> None:
    x = torch.zeros(0, 3, 4, dtype=torch.bool if binary else torch.int64)
    kw = {} if binary else {"num_classes": 3}
    conf = mb.confusion_counts(x, x, per_image=True, **kw)
    assert conf.tp.shape == ((0,) if binary else (0, 3))
    assert mb.iou(x, x, per_image=True, **kw).shape == conf.tp.shape


# ------------------------------------------------------------------ losses: exact zero gradient


def _poison(x: torch.Tensor, keep: torch.Tensor, data) -> torch.Tensor:
    """``x`` with NaN/+-Inf drawn under the excluded elements."""
    junk = torch.tensor([float("nan"), float("inf"), float("-inf"), 1e30], dtype=x.dtype)
    idx = torch.randint(0, 4, x.shape, generator=torch.Generator().manual_seed(data.draw(st.integers(0, 999))))
    return torch.where(keep, x, junk[idx])


LOSSES = ["mse", "l1", "bce", "ce", "dice", "masked_loss"]


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_excluded_elements_get_exactly_zero_gradient(loss: str) -> None:
    @seeded(30)
    @given(data=st.data())
    def run(data) -> None:
        n, h, w = data.draw(st.sampled_from((1, 2))), data.draw(NONEMPTY_SIDES), data.draw(NONEMPTY_SIDES)
        k = 3 if loss == "ce" else 1
        dtype = data.draw(st.sampled_from(FLOATS))
        clean = data.draw(tensors((n, k, h, w), dtype, special=0.0, layouts=("contiguous",)))
        shape = (n, h, w) if loss == "ce" else (n, k, h, w)
        mshape = data.draw(st.sampled_from(((h, w), shape)))
        keep = data.draw(masks(mshape, "bool"))
        keep_full = keep.expand(shape)
        keep_in = keep_full[:, None].expand(clean.shape) if loss == "ce" else keep_full
        x = _poison(clean, keep_in, data).requires_grad_(True)
        if loss == "ce":
            target = data.draw(tensors(shape, st.sampled_from((torch.uint8, torch.int64)), low=0, high=2, special=0.0))
            target = torch.where(keep_full, target, torch.full_like(target, 200))  # out of range where excluded
            out = mb.masked_cross_entropy(x, target, keep, reduction="sum")
            ref = F.cross_entropy(clean.double(), target.long().clamp_max(2), reduction="none")[keep_full].sum()
        else:
            t_clean = data.draw(tensors(shape, dtype, low=0.0, high=1.0, special=0.0, layouts=("contiguous",)))
            target = _poison(t_clean, keep_full, data)
            m = keep
            if loss == "mse":
                out = mb.masked_mse(x, target, m, reduction="sum")
                ref = ((clean.double() - t_clean.double()) ** 2)[keep_full].sum()
            elif loss == "l1":
                out = mb.masked_l1(x, target, m, reduction="sum")
                ref = (clean.double() - t_clean.double()).abs()[keep_full].sum()
            elif loss == "bce":
                out = mb.masked_bce_with_logits(x, target, m, reduction="sum")
                ref = F.binary_cross_entropy_with_logits(clean.double(), t_clean.double(), reduction="none")
                ref = ref[keep_full].sum()
            elif loss == "masked_loss":
                out = mb.masked_loss(
                    lambda a, b: F.smooth_l1_loss(a, b, reduction="none"), x, target, m, reduction="sum"
                )
                ref = F.smooth_l1_loss(clean.double(), t_clean.double(), reduction="none")[keep_full].sum()
            else:
                out = mb.dice_loss(x, target, m)
                p = torch.sigmoid(clean.double()) * keep_full
                g = t_clean.double() * keep_full
                inter, den = (p * g).sum(), p.sum() + g.sum()
                ref = torch.where(
                    den > 0, 1 - 2 * inter / den.clamp_min(1e-300), torch.tensor(0.0, dtype=torch.float64)
                )
        out.backward()
        excluded = ~keep_in
        assert (x.grad[excluded] == 0).all(), "an excluded element got a nonzero/NaN gradient"
        assert torch.isfinite(x.grad).all()
        scale = max(1.0, float(ref.abs()))
        _close(out / scale, ref / scale, dtype, rtol_scale=2e3 if dtype in (torch.float16, torch.bfloat16) else 100)

    run()


# ------------------------------------------------------------------ morphology and components

FOOT = {
    "square": lambda r: np.ones((2 * r + 1, 2 * r + 1), bool),
    "disk": lambda r: skimage.morphology.disk(r).astype(bool),
}


@st.composite
def bool_images(draw, lead=((), (2,), (2, 1))):
    shape = (*draw(st.sampled_from(lead)), draw(SIDES), draw(SIDES))
    return draw(tensors(shape, torch.bool))


def _per_image(fn, mask: torch.Tensor) -> np.ndarray:
    a = mask.numpy()
    flat = a.reshape(int(np.prod(a.shape[:-2], dtype=np.int64)), *a.shape[-2:])
    return np.stack([fn(im) for im in flat]).reshape(a.shape) if flat.shape[0] else a.copy()


@pytest.mark.parametrize("op", ["dilate", "erode", "opening", "closing"])
def test_morphology_equals_scikit_image(op: str) -> None:
    sk = {
        "dilate": skimage.morphology.binary_dilation,
        "erode": skimage.morphology.binary_erosion,
        "opening": skimage.morphology.binary_opening,
        "closing": skimage.morphology.binary_closing,
    }[op]

    @seeded(30)
    @given(mask=bool_images(), radius=st.sampled_from((0, 1, 2)), footprint=st.sampled_from(("square", "disk")))
    def run(mask, radius, footprint) -> None:
        ours = getattr(mb, op)(mask, radius=radius, footprint=footprint)
        fp = FOOT[footprint](radius)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # binary_* are deprecated in 0.26 but exact
            ref = _per_image(lambda im: sk(im, fp) if im.size else im.copy(), mask)
        assert ours.dtype == torch.bool and np.array_equal(ours.numpy(), ref)

    run()


@seeded(40)
@given(mask=bool_images(), connectivity=st.sampled_from((1, 2)))
def test_label_components_numbering_equals_skimage(mask, connectivity) -> None:
    labels, count = mb.label_components(mask, connectivity=connectivity)
    ref = _per_image(lambda im: skimage.measure.label(im, connectivity=connectivity), mask)
    assert np.array_equal(labels.numpy(), ref)
    flat = ref.reshape(int(np.prod(ref.shape[:-2], dtype=np.int64)), *ref.shape[-2:])
    ref_count = flat.max(axis=(1, 2), initial=0).reshape(mask.shape[:-2])
    assert np.array_equal(count.numpy(), ref_count)


@seeded(30)
@given(mask=bool_images(), min_size=st.sampled_from((0, 1, 2, 4)), connectivity=st.sampled_from((1, 2)))
def test_remove_small_objects_and_fill_holes_equal_references(mask, min_size, connectivity) -> None:
    ours = mb.remove_small_objects(mask, min_size=min_size, connectivity=connectivity)

    def ref_small(im):
        lab = skimage.measure.label(im, connectivity=connectivity)
        sizes = np.bincount(lab.ravel())
        return im & (sizes[lab] >= min_size)

    assert np.array_equal(ours.numpy(), _per_image(ref_small, mask))
    struct = ndi.generate_binary_structure(2, connectivity)
    filled = _per_image(lambda im: ndi.binary_fill_holes(im, structure=struct) if im.size else im.copy(), mask)
    assert np.array_equal(mb.fill_holes(mask, connectivity=connectivity).numpy(), filled)


# ------------------------------------------------------------------ labels and RLE


@seeded(40)
@given(data=st.data())
def test_one_hot_round_trip(data) -> None:
    shape = (*data.draw(st.sampled_from(((), (2,)))), data.draw(SIDES), data.draw(SIDES))
    labels = data.draw(tensors(shape, st.sampled_from((torch.uint8, torch.int64)), low=0, high=3, special=0.0))
    planes = mb.one_hot(labels, 4, dtype=data.draw(st.sampled_from((torch.bool, torch.float32, torch.uint8))))
    assert planes.shape == (*shape[:-2], 4, *shape[-2:])
    assert torch.equal(mb.from_one_hot(planes), labels.long())
    ref = F.one_hot(labels.long(), 4).movedim(-1, -3)
    assert torch.equal(planes.long(), ref)


def _rle_loop(mask: np.ndarray) -> list[int]:
    flat = mask.T.reshape(-1).tolist()
    counts, current, run = [], False, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return counts


@seeded(60)
@given(data=st.data())
def test_rle_round_trip_equals_a_loop(data) -> None:
    shape = (data.draw(SIDES), data.draw(SIDES))
    m = data.draw(tensors(shape, torch.bool))
    rle = mb.rle_encode(m)
    assert rle["size"] == list(shape)
    assert rle["counts"] == _rle_loop(m.numpy())
    assert torch.equal(mb.rle_decode(rle), m)
    assert torch.equal(mb.rle_decode(mb.rle_encode(m, compressed=True)), m)
