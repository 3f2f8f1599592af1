"""Thresholds against scikit-image 0.26, batching, the NaN/constant/integer conventions, errors.

Stated tolerance for the automatic methods: ``|ours - skimage| <= (max - min) / 256`` (one bin
width; Li and multi-Otsu included), plus a few float ulps of the image's magnitude because bin
centres are rounded in the image's dtype. On scikit-image's sample images that is what we test.
On small random images two float effects need a second clause, checked explicitly:

* near-ties: scikit-image accumulates its criteria in float32, so on a flat criterion its argmax
  is decided by rounding; there we require our bins to score as well as its bins under its own
  criterion (computed in float64) up to float32 rounding (``agrees``);
* bin edges: numpy re-checks pixels within a rounding error of a bin edge against the rounded
  edges; maskbench skips that for speed (see ``maskbench.histogram``). Random images therefore
  avoid values that sit on edges up to rounding: they are well conditioned (range at least a
  third of the largest magnitude) and lattices use exact (dyadic or integer) spacings.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import skimage.exposure
import skimage.filters as skf
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import maskbench
from maskbench import DTypeError, ShapeError
from maskbench._checks import ArgumentTypeError
from maskbench.kernels.labels import argmax_labels
from maskbench.kernels.threshold import (
    THRESHOLD_METHODS,
    auto_threshold,
    histogram,
    threshold,
    threshold_mean,
    threshold_otsu,
    threshold_yen,
)
from maskbench.kernels.threshold_li_multiotsu import threshold_li, threshold_multiotsu

SKIMAGE = {
    "otsu": skf.threshold_otsu,
    "yen": skf.threshold_yen,
    "isodata": skf.threshold_isodata,
    "triangle": skf.threshold_triangle,
    "li": skf.threshold_li,
    "mean": skf.threshold_mean,
}
SAMPLES = ["camera", "coins", "moon", "page", "text", "cell", "horse", "checkerboard", "clock"]
_cache: dict[str, np.ndarray] = {}
# the fixtures used inside @given (device, no_sync) hold no per-example state
fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """CPU runs with one torch thread: the CI box is shared, and OpenMP threads that wait on each
    other under contention make these small kernels 10x slower (results do not depend on it)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def sample(name: str) -> np.ndarray:
    if name not in _cache:
        img = getattr(skimage.data, name)()
        _cache[name] = img[..., 0] if img.ndim == 3 else img  # one channel of the RGB ones
    return _cache[name]


def converted(name: str, conv: str) -> np.ndarray:
    img = sample(name)
    return img / 255.0 if conv == "div255" else img.astype(np.float32)


def tolerance(a: np.ndarray) -> float:
    """One bin width plus rounding of the bin centres."""
    finite = a[np.isfinite(a)].astype(np.float64)
    lo, hi = finite.min(), finite.max()
    return (hi - lo) / 256 + 8 * float(np.spacing(np.abs(a.dtype.type(max(abs(lo), abs(hi))))))


def criterion(method: str, a: np.ndarray):
    """scikit-image's objective (float64, on its own histogram) as a function of bin indices."""
    counts, centres = skimage.exposure.histogram(a.reshape(-1), 256)
    h = counts.astype(np.float64)
    if method == "otsu":
        w1, w2 = np.cumsum(h), np.cumsum(h[::-1])[::-1]
        m1, m2 = np.cumsum(h * centres) / w1, (np.cumsum((h * centres)[::-1]) / w2[::-1])[::-1]
        score = np.append(w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2, -np.inf)
        return centres, lambda idx: score[idx[0]]
    if method == "yen":
        pmf = h / h.sum()
        p1, p1_sq, p2_sq = np.cumsum(pmf), np.cumsum(pmf**2), np.cumsum(pmf[::-1] ** 2)[::-1]
        with np.errstate(divide="ignore"):
            score = np.log(1 / (p1_sq[:-1] * p2_sq[1:]) * (p1[:-1] * (1.0 - p1[:-1])) ** 2)
        return centres, lambda idx: np.append(score, -np.inf)[idx[0]]
    # multi-Otsu, with scikit-image's weights (bin 0 counts as value 1, var[0, 0] = 0)
    prob = h / h.sum()
    value = np.arange(256.0)
    value[0] = 1
    z, f = np.concatenate([[0], np.cumsum(prob)]), np.concatenate([[0], np.cumsum(prob * value)])

    def var(lo, hi):
        n = z[hi + 1] - z[lo]
        return 0.0 if n <= 0 or (lo == 0 and hi == 0) else (f[hi + 1] - f[lo]) ** 2 / n

    def sigma(idx):
        edges = [-1, *idx, 255]
        return sum(var(edges[k] + 1, edges[k + 1]) for k in range(len(edges) - 1))

    return centres, sigma


def reference(method: str, a: np.ndarray) -> float | None:
    try:
        return float(SKIMAGE[method](a))
    except IndexError:  # threshold_isodata when rounding leaves no bin meeting its condition
        assert method == "isodata"
        return None


def agrees(method: str, a: np.ndarray, ours, ref) -> bool:
    """Within one bin width of scikit-image, or a near-tie: our bins score as well as scikit-image's
    under its own criterion up to float32 rounding (scikit-image accumulates in float32, so on
    flat criteria its argmax is decided by rounding)."""
    ours = np.atleast_1d(ours).astype(np.float64)
    if ref is None:  # scikit-image failed (its float32 ISODATA can find no bin at all)
        return method == "isodata" and isodata_tie(a, float(ours[0]))
    ref = np.atleast_1d(ref).astype(np.float64)
    if np.abs(ours - ref).max() <= tolerance(a):
        return True
    if method == "isodata":
        return isodata_tie(a, float(ours[0]))
    if method not in ("otsu", "yen", "multiotsu"):
        return False
    centres, score = criterion(method, a)

    def index(t):
        return int(np.abs(centres - t).argmin())

    best, mine = score([index(t) for t in ref]), score([index(t) for t in ours])
    return mine >= best - 1e-5 * abs(best) - 1e-12


def isodata_tie(a: np.ndarray, ours: float) -> bool:
    """Our bin meets ISODATA's condition 0 <= mean-gap < width up to rounding (float64), and no
    earlier bin meets it robustly: on a boundary case scikit-image's float32 sums decide."""
    counts, centres = skimage.exposure.histogram(a.reshape(-1), 256)
    h = counts.astype(np.float64)
    low, cum = np.cumsum(h * centres), np.cumsum(h)
    gap = (low[:-1] / cum[:-1] + (low[-1] - low[:-1]) / (cum[-1] - cum[:-1])) / 2 - centres[:-1]
    width = centres[1] - centres[0]
    eps = 16 * float(np.spacing(np.abs(a).max())) + 1e-6 * width
    i = int(np.abs(centres - ours).argmin())
    loose = (gap >= -eps) & (gap < width + eps)
    strict = (gap >= eps) & (gap < width - eps)
    return bool(loose[i]) and not strict[:i].any()


def run(fn, a: np.ndarray, device, no_sync, **kw) -> torch.Tensor:
    x = torch.from_numpy(a).to(device)
    with no_sync():
        out = fn(x, **kw)
    return out.cpu()


# --------------------------------------------------------------------------- scikit-image samples


@pytest.mark.parametrize("conv", ["div255", "float32_own_range"])
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_images_match_skimage(name, conv, device, no_sync):
    a = converted(name, conv)
    for method, ref in SKIMAGE.items():
        ours = run(THRESHOLD_METHODS[method], a, device, no_sync)
        assert ours.shape == () and ours.dtype == torch.from_numpy(a).dtype
        assert abs(float(ours) - float(ref(a))) <= tolerance(a), (method, float(ours), float(ref(a)))
    for classes in (2, 3, 4) if name in ("camera", "cell") else (3,):
        try:
            ref = skf.threshold_multiotsu(a, classes=classes)
        except ValueError:  # binary images: fewer values than classes
            continue
        ours = run(threshold_multiotsu, a, device, no_sync, classes=classes).numpy()
        assert np.abs(ours - ref).max() <= tolerance(a), (classes, ours, ref)


def test_sample_histograms_equal_skimage(device, no_sync):
    for name in ("camera", "coins", "moon", "text"):
        for conv in ("div255", "float32_own_range"):
            a = converted(name, conv)
            with no_sync():
                counts, centres = histogram(torch.from_numpy(a).to(device))
            counts, centres = counts.cpu(), centres.cpu()
            ref_counts, ref_centres = skimage.exposure.histogram(a, 256)
            np.testing.assert_array_equal(counts.numpy(), ref_counts)
            np.testing.assert_allclose(centres.numpy(), ref_centres, rtol=1e-6)
            assert counts.dtype == torch.int64


def test_batch_of_samples_equals_each_image(device, no_sync):
    names = ["camera", "moon", "brick", "astronaut", "immunohistochemistry"]
    batch = np.stack([sample(n) / 255.0 for n in names]).astype(np.float32)
    for method in THRESHOLD_METHODS:
        together = run(THRESHOLD_METHODS[method], batch, device, no_sync)
        assert together.shape == (len(names),)
        alone = torch.stack([run(THRESHOLD_METHODS[method], img, device, no_sync) for img in batch])
        torch.testing.assert_close(together, alone, rtol=0, atol=0)
        ref = np.array([SKIMAGE[method](img) for img in batch])
        assert np.all(np.abs(together.numpy() - ref) <= tolerance(batch)), method
    mo = run(threshold_multiotsu, batch, device, no_sync)
    assert mo.shape == (len(names), 2)
    for img, row in zip(batch, mo):
        assert np.abs(row.numpy() - skf.threshold_multiotsu(img)).max() <= tolerance(img)


# ----------------------------------------------------------------------------- random images


@st.composite
def images(draw, *, max_side: int = 24):
    """Uniform, bimodal, integer-lattice and heavy-tailed images (constant only when 1 x 1)."""
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["uniform", "bimodal", "lattice", "heavy"]))
    if kind == "uniform":
        a = rng.random((h, w))
    elif kind == "bimodal":
        fg = rng.random((h, w)) < draw(st.floats(0.05, 0.95))
        a = np.where(fg, rng.normal(0.7, 0.05, (h, w)), rng.normal(0.3, draw(st.floats(0.01, 0.3)), (h, w)))
    elif kind == "lattice":
        a = rng.integers(0, draw(st.integers(2, 300)), (h, w)).astype(np.float64)
    else:
        a = rng.exponential(1.0, (h, w)) ** 3
    # dyadic or integer scales: a lattice scaled by 1e-3 can sit within rounding of the bin edges
    scale = draw(st.sampled_from([1.0, 255.0, 2.0**-10, 1e4]))
    a = a * scale + draw(st.sampled_from([0.0, -0.5, 2.0])) * scale * a.max()
    return a.astype(draw(st.sampled_from([np.float32, np.float64])))


@fixtures_ok
@given(images())
def test_random_images_match_skimage(device, no_sync, a):
    assume(a.max() > a.min())  # constant images: see test_constant_images_return_their_value
    for method in SKIMAGE:
        ours, ref = float(run(THRESHOLD_METHODS[method], a, device, no_sync)), reference(method, a)
        assert agrees(method, a, ours, ref), (method, ours, ref)
    for classes in (2, 3):
        if np.count_nonzero(skimage.exposure.histogram(a, 256)[0]) < classes:
            continue  # scikit-image raises; see test_multiotsu_few_values
        ours = run(threshold_multiotsu, a, device, no_sync, classes=classes).numpy()
        ref = skf.threshold_multiotsu(a, classes=classes)
        assert agrees("multiotsu", a, ours, ref), (classes, ours, ref)


@fixtures_ok
@given(st.lists(images(max_side=12), min_size=1, max_size=3), st.integers(1, 12), st.integers(1, 12))
def test_batches_equal_each_image(device, no_sync, imgs, h, w):
    batch = np.stack([np.resize(i.astype(np.float32), (h, w)) for i in imgs])
    for method in list(THRESHOLD_METHODS) + ["multiotsu"]:
        fn = THRESHOLD_METHODS.get(method, threshold_multiotsu)
        together = run(fn, batch.reshape(len(imgs), 1, h, w), device, no_sync)
        alone = torch.stack([run(fn, img, device, no_sync) for img in batch]).unsqueeze(1)
        assert together.shape == alone.shape
        torch.testing.assert_close(together, alone, rtol=0, atol=0, equal_nan=True)


@fixtures_ok
@given(images(), st.floats(0.0, 0.5), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_nan_and_inf_pixels_are_ignored(device, no_sync, a, frac, bad):
    rng = np.random.default_rng(a.size)
    dirty = a.copy()
    dirty[rng.random(a.shape) < frac] = bad
    finite = dirty[np.isfinite(dirty)]
    if finite.size == 0 or finite.min() == finite.max():
        return
    for method in SKIMAGE:
        ours = float(run(THRESHOLD_METHODS[method], dirty, device, no_sync))
        assert agrees(method, finite, ours, reference(method, finite)), method
    with no_sync():
        counts, _ = histogram(torch.from_numpy(dirty).to(device))
    np.testing.assert_array_equal(counts.numpy(), skimage.exposure.histogram(finite, 256)[0])


# ------------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 1, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_constant_images_return_their_value(device, no_sync, shape, dtype):
    x = torch.full(shape, 0.3, dtype=dtype, device=device)
    with no_sync():
        results = {m: f(x) for m, f in THRESHOLD_METHODS.items()}
        mo = threshold_multiotsu(x, classes=4)
        counts, centres = histogram(x, bins=256)
    for m, t in results.items():
        assert t.dtype == dtype and t.shape == shape[:-2], m
        assert torch.equal(t, x[..., 0, 0]), m
    assert torch.equal(mo, x[..., 0, :1].expand(*shape[:-2], 3))
    assert (counts[..., 128] == shape[-1] * shape[-2]).all() and counts.sum() == x.numel()
    work = np.float64 if dtype == torch.float64 else np.float32  # float16 is binned in float32
    ref_centres = skimage.exposure.histogram(x.cpu().numpy().reshape(-1).astype(work), 256)[1]
    assert centres.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    np.testing.assert_allclose(centres.reshape(-1, 256)[0].cpu().numpy(), ref_centres, rtol=1e-6, atol=1e-9)


def test_images_without_finite_pixels_give_nan(device, no_sync):
    x = torch.tensor([[[np.nan, np.inf], [-np.inf, np.nan]], [[1.0, 2.0], [3.0, 4.0]]], device=device)
    with no_sync():
        for m, f in THRESHOLD_METHODS.items():
            t = f(x)
            assert torch.isnan(t[0]) and torch.isfinite(t[1]), m
        assert torch.isnan(threshold_multiotsu(x)[0]).all()
        counts, centres = histogram(x, bins=4)
    assert counts[0].sum() == 0 and counts[1].sum() == 4
    torch.testing.assert_close(centres[0].cpu(), torch.tensor([0.125, 0.375, 0.625, 0.875]))


def test_empty_batch(device):
    x = torch.zeros(0, 5, 6, device=device)
    for f in list(THRESHOLD_METHODS.values()):
        assert f(x).shape == (0,)
    assert threshold_multiotsu(x).shape == (0, 2)
    assert histogram(x)[0].shape == (0, 256)


def test_integer_and_half_images(device, no_sync):
    cam = sample("camera")
    as_uint8 = run(threshold_otsu, cam, device, no_sync)
    # issue 10 item 5: uint8 images get one bin per value, as scikit-image (was: binned like float32)
    assert as_uint8.dtype == torch.float32 and float(as_uint8) == skf.threshold_otsu(cam)
    as_int64 = run(threshold_yen, cam.astype(np.int64) - 100, device, no_sync)
    assert as_int64.dtype == torch.float64
    assert abs(float(as_int64) - (skf.threshold_yen(cam.astype(np.float64) - 100))) <= tolerance(cam / 1.0)
    half = torch.from_numpy(cam / 255.0).half().to(device)
    with no_sync():
        t_half = threshold_otsu(half)
    assert t_half.dtype == torch.float16
    assert torch.equal(t_half.cpu(), threshold_otsu(half.float().cpu()).half())


def test_thresholds_are_not_differentiable_and_do_not_modify_input(device):
    x = torch.rand(2, 8, 8, device=device, requires_grad=True)
    before = x.detach().clone()
    for m, f in THRESHOLD_METHODS.items():
        assert not f(x).requires_grad, m
    threshold_multiotsu(x)
    assert torch.equal(x.detach(), before)
    y = torch.rand(3, 4, dtype=torch.float64, device=device)[:, ::2]  # non-contiguous
    ref = threshold_otsu(y.contiguous())
    assert torch.equal(threshold_otsu(y), ref)


def test_histogram_bins_and_layout(device, no_sync):
    x = torch.tensor([[[0.0, 1.0], [1.0, 3.0]], [[5.0, 5.0], [6.0, 9.0]]], device=device)
    with no_sync():
        counts, centres = histogram(x, bins=3)
    assert counts.tolist() == [[1, 2, 1], [3, 0, 1]]
    torch.testing.assert_close(centres.cpu(), torch.tensor([[0.5, 1.5, 2.5], [5 + 2 / 3, 7.0, 8 + 1 / 3]]))
    for b in (1, 7, 100):
        a = np.random.default_rng(b).random((9, 11))
        counts, centres = histogram(torch.from_numpy(a).to(device), bins=b)
        counts, centres = counts.cpu(), centres.cpu()
        ref_counts, ref_centres = np.histogram(a, bins=b)
        np.testing.assert_array_equal(counts.numpy(), ref_counts)
        np.testing.assert_allclose(centres.numpy(), (ref_centres[1:] + ref_centres[:-1]) / 2)


# ------------------------------------------------------------------------------- Li, multi-Otsu


def test_li_options_match_skimage(device, no_sync):
    a = converted("camera", "div255")
    for guess in (0.2, 0.6):
        ours = float(run(threshold_li, a, device, no_sync, initial=guess))
        assert abs(ours - skf.threshold_li(a, initial_guess=guess)) <= tolerance(a)
    coarse = float(run(threshold_li, a, device, no_sync, tolerance=0.05))
    assert abs(coarse - skf.threshold_li(a, tolerance=0.05)) <= tolerance(a)
    batch = torch.from_numpy(np.stack([a, a])).to(device)
    per_image = threshold_li(batch, initial=torch.tensor([0.2, 0.6], dtype=batch.dtype, device=device))
    assert per_image.tolist() == [threshold_li(batch[0], initial=g).item() for g in (0.2, 0.6)]
    # binary images stop at once (the background mean is 0), as in scikit-image
    blobs = skimage.data.binary_blobs(64, rng=1).astype(np.float64)
    assert float(run(threshold_li, blobs, device, no_sync)) == pytest.approx(skf.threshold_li(blobs))


@pytest.mark.parametrize("classes", [2, 3, 4, 5])
def test_multiotsu_classes_match_skimage(device, no_sync, classes):
    a = converted("coins", "div255")[::4, ::4]
    ours = run(threshold_multiotsu, a, device, no_sync, classes=classes, bins=48).numpy()
    ref = skf.threshold_multiotsu(a, classes=classes, nbins=48)
    assert ours.shape == (classes - 1,)
    assert np.abs(ours - ref).max() <= (a.max() - a.min()) / 48 + 1e-12
    assert np.all(np.diff(ours) > 0)


def test_multiotsu_few_values(device, no_sync):
    three = np.array([[0.0, 0.5, 1.0, 1.0]])
    ours = run(threshold_multiotsu, three, device, no_sync, classes=3).numpy()
    np.testing.assert_allclose(ours, skf.threshold_multiotsu(three, classes=3))
    two = np.array([[0.0, 1.0, 1.0]])  # scikit-image raises; maskbench repeats the last occupied bin
    ours = run(threshold_multiotsu, two, device, no_sync, classes=4).numpy()
    centres = skimage.exposure.histogram(two, 256)[1]
    np.testing.assert_allclose(ours, [centres[0], centres[-1], centres[-1]])


# ------------------------------------------------------------------------------- threshold()


@fixtures_ok
@given(st.integers(1, 6), st.integers(1, 6), st.floats(-1, 2), st.booleans())
def test_threshold_matches_comparison(device, no_sync, h, w, value, inclusive):
    x = torch.rand(2, h, w, device=device, dtype=torch.float64)
    x[0, 0, 0] = float("nan")
    with no_sync():
        mask = threshold(x, value, inclusive=inclusive)
        per_image = threshold(x, torch.tensor([value, 0.5], device=device, dtype=x.dtype), inclusive=inclusive)
    xn = x.cpu().numpy()
    ref = xn >= value if inclusive else xn > value
    assert mask.dtype == torch.bool and np.array_equal(mask.cpu().numpy(), ref)
    assert not mask[0, 0, 0] and not per_image[0, 0, 0]
    np.testing.assert_array_equal(per_image[0].cpu().numpy(), ref[0])
    np.testing.assert_array_equal(per_image[1].cpu().numpy(), xn[1] >= 0.5 if inclusive else xn[1] > 0.5)


_EDGE_VALUES = [
    0.1,
    0.5,
    1 / 3,
    0.0,
    -0.0,
    1e-45,
    -1e-45,
    3.4e38,
    1e39,
    -1e39,
    float("inf"),
    float("-inf"),
    float("nan"),
    1,
    0,
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", _EDGE_VALUES)
@pytest.mark.parametrize("inclusive", [False, True])
def test_cpu_numpy_path_equals_torch_comparison(dtype, value, inclusive):
    """The CPU float path (numpy) gives torch's own ``x > value`` bit for bit: the number rounded to
    x's dtype (0.1 vs float32(0.1)), NaN, +-Inf, +-0, subnormals, strided and autograd inputs."""
    g = torch.Generator().manual_seed(0)
    specials = torch.tensor([0.1, 1 / 3, float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-45, 3.4e38, 0.5])
    x = torch.cat([torch.rand(300, generator=g) * 2 - 0.5, specials]).to(dtype)
    x = torch.cat([x, x.nextafter(torch.tensor(float("inf"), dtype=dtype))]).reshape(20, -1)
    for inp in (x, x.t(), x[::2, 1::3], x.clone().requires_grad_()):
        before = inp.detach().clone()
        got = threshold(inp, value, inclusive=inclusive)
        ref = inp.detach() >= value if inclusive else inp.detach() > value
        assert got.dtype == torch.bool and got.shape == inp.shape and torch.equal(got, ref), (inp.shape, value)
        assert torch.equal(inp.detach().nan_to_num(7), before.nan_to_num(7))  # not modified


def test_cpu_numpy_path_leaves_vmap_subclasses_and_compile_to_torch():
    """Inside torch.func.vmap (tensors without storage), for tensor subclasses (a comparison keeps the
    subclass) and under torch.compile, threshold gives what torch's comparison gives."""

    class Tagged(torch.Tensor):
        pass

    x = torch.rand(4, 8, 8)
    assert torch.equal(torch.func.vmap(lambda a: threshold(a, 0.5))(x), x > 0.5)
    tagged = x.as_subclass(Tagged)
    out = threshold(tagged, 0.5)
    assert type(out) is Tagged and torch.equal(out.as_subclass(torch.Tensor), x > 0.5)
    compiled = torch.compile(lambda a: threshold(a, 0.5).sum(), backend="eager")
    assert compiled(x) == (x > 0.5).sum()


def test_threshold_with_automatic_values(device, no_sync):
    x = torch.from_numpy(np.stack([sample("camera"), sample("moon")])).to(device)
    with no_sync():
        t = auto_threshold(x, method="otsu")
        mask = threshold(x, t, inclusive=False)
    for img, m, ti in zip(x.cpu().numpy(), mask.cpu(), t.cpu()):
        np.testing.assert_array_equal(m.numpy(), img > float(ti))
    columns = torch.linspace(0, 255, 512, device=device)
    assert torch.equal(threshold(x, columns), x > columns)  # (W,) broadcasts along the columns
    assert threshold(torch.tensor([1, 5]), 3).tolist() == [False, True]  # 1-D tensors are fine too


def test_threshold_errors(device):
    x = torch.rand(2, 3, 4, device=device)
    with pytest.raises(ShapeError, match=r"value: expected a shape that broadcasts to x \(2, 3, 4\).*\(3,\)"):
        threshold(x, torch.zeros(3, device=device))
    with pytest.raises(DTypeError, match="x: .*bool"):
        threshold(x > 0.5, 0.5)
    with pytest.raises(ArgumentTypeError, match="value: expected a number or a tensor"):
        threshold(x, "0.5")
    with pytest.raises(ArgumentTypeError, match="value"):
        threshold(x, True)
    with pytest.raises(DTypeError, match="x: expected a torch.Tensor"):
        threshold(np.zeros((2, 2)), 0.5)


# ------------------------------------------------------------------------------- argmax_labels


@fixtures_ok
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6), st.floats(0, 1))
def test_argmax_labels_matches_numpy(device, no_sync, h, w, k, conf):
    probs = torch.rand(2, k, h, w, device=device).softmax(1)
    probs[0, 0, 0, 0] = float("nan")
    with no_sync():
        labels = argmax_labels(probs)
        unsure = argmax_labels(probs, min_confidence=conf, background=-1)
        last = argmax_labels(probs.movedim(1, -1), dim=-1)
    p = probs.cpu().numpy()
    ref = np.nan_to_num(p, nan=-1).argmax(1)
    ref[0, 0, 0] = 0  # NaN pixel -> background
    assert labels.dtype == torch.int64 and labels.shape == (2, h, w)
    np.testing.assert_array_equal(labels.cpu().numpy(), ref)
    np.testing.assert_array_equal(last.cpu().numpy(), ref)
    ref_unsure = np.where(np.nan_to_num(p, nan=-1).max(1) < conf, -1, ref)
    ref_unsure[0, 0, 0] = -1
    np.testing.assert_array_equal(unsure.cpu().numpy(), ref_unsure)


def test_argmax_labels_ties_and_errors(device):
    probs = torch.tensor([[[0.5]], [[0.5]]], device=device)
    assert argmax_labels(probs).tolist() == [[0]]
    with pytest.raises(DTypeError, match="probs: expected floating"):
        argmax_labels(torch.zeros(3, 2, 2, dtype=torch.int64, device=device))
    with pytest.raises(ShapeError, match=r"probs: .*\(4, 4\).*threshold\(probs, 0.5\)"):
        argmax_labels(torch.rand(4, 4, device=device))
    with pytest.raises(ShapeError, match="at least one class"):
        argmax_labels(torch.rand(0, 4, 4, device=device))
    with pytest.raises(ValueError, match="dim"):
        argmax_labels(torch.rand(3, 4, 4, device=device), dim=3)
    with pytest.raises(TypeError, match="background"):
        argmax_labels(torch.rand(3, 4, 4, device=device), background=0.5)
    with pytest.raises(TypeError, match="min_confidence"):
        argmax_labels(torch.rand(3, 4, 4, device=device), min_confidence="high")


# ------------------------------------------------------------------------------- errors, API


def test_automatic_method_errors(device):
    x = torch.rand(4, 4, device=device)
    with pytest.raises(DTypeError, match=r"x: expected a real .*\(4, 4\) bool.*already a mask"):
        threshold_otsu(x > 0.5)
    with pytest.raises(DTypeError, match="complex"):
        threshold_yen(x.to(torch.complex64))
    with pytest.raises(ShapeError, match=r"x: expected \(\.\.\., H, W\) images with H, W >= 1; got \(5,\)"):
        threshold_otsu(torch.rand(5, device=device))
    with pytest.raises(ShapeError, match=r"\(2, 0, 3\)"):
        threshold_mean(torch.rand(2, 0, 3, device=device))
    with pytest.raises(ValueError, match="bins: expected an int >= 2"):
        threshold_otsu(x, bins=1)
    with pytest.raises(ValueError, match="classes: expected an int <= 5"):
        threshold_multiotsu(x, classes=6)
    with pytest.raises(ValueError, match="bins: expected an int >= 4"):
        threshold_multiotsu(x, classes=4, bins=3)
    with pytest.raises(ValueError, match="method: expected one of 'otsu', 'li'"):
        auto_threshold(x, method="minimum")
    with pytest.raises(ValueError, match="tolerance"):
        threshold_li(x, tolerance=-1.0)
    with pytest.raises(ShapeError, match=r"initial: .*x.shape\[:-2\] \(2,\)"):
        threshold_li(torch.rand(2, 4, 4, device=device), initial=torch.zeros(3, device=device))
    with pytest.raises(TypeError, match="initial"):
        threshold_li(x, initial="mean")


def test_auto_threshold_dispatch_and_exports(device):
    x = torch.rand(3, 6, 6, device=device)
    for name, fn in THRESHOLD_METHODS.items():
        assert torch.equal(auto_threshold(x, method=name), fn(x))
        assert getattr(maskbench, f"threshold_{name}") is fn
    assert torch.equal(auto_threshold(x, method="otsu", bins=16), threshold_otsu(x, bins=16))
    from maskbench.kernels import labels, threshold_li_multiotsu
    from maskbench.kernels import threshold as threshold_module

    for name in ("threshold", "histogram", "auto_threshold", "THRESHOLD_METHODS", "threshold_otsu"):
        assert getattr(maskbench, name) is getattr(threshold_module, name)  # exported from where it is defined
    for name in ("threshold_li", "threshold_multiotsu"):
        assert getattr(maskbench, name) is getattr(threshold_li_multiotsu, name)
        assert maskbench._EXPORTS[name] == "maskbench.kernels.threshold_li_multiotsu"
    assert maskbench.argmax_labels is labels.argmax_labels


def test_otsu_batch_matches_skimage_loop(device):
    """16 x 512 x 512 batched Otsu equals scikit-image image by image (timings: benchmarks/)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        batch = rng.random((16, 512, 512)).astype(dtype)
        ours = threshold_otsu(torch.from_numpy(batch).to(device)).cpu().numpy()
        assert np.allclose(ours, [skf.threshold_otsu(img) for img in batch])
