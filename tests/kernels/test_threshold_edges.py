"""Issue 10 item 5: values on histogram bin edges, quantised images, and the strict ``x > t`` mask.

scikit-image bins float images with ``numpy.histogram``, which re-checks every value against the
bin edges; integer images get one bin per value. maskbench must put every pixel in the same bin,
so that its thresholds, and the masks ``threshold(x, t)``, equal scikit-image's exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.data
import skimage.filters as skf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maskbench as mb

fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
SAMPLES = ["camera", "coins", "page", "moon", "text", "cell", "clock", "checkerboard", "brick", "grass", "chelsea"]
_cache: dict[str, np.ndarray] = {}


def sample(name: str) -> np.ndarray:
    if name not in _cache:
        img = getattr(skimage.data, name)()
        _cache[name] = np.ascontiguousarray(img[..., 0] if img.ndim == 3 else img)
    return _cache[name]


def ours(fn, a: np.ndarray, device, **kw) -> np.ndarray:
    return fn(torch.from_numpy(a).to(device), **kw).cpu().numpy()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_otsu_with_values_on_bin_edges_equals_skimage(device, no_sync, dtype):
    # (0.6 - 0.4) / (0.8 / 256) is 63.99...: numpy re-checks the edge and puts 0.6 in bin 64
    values = [[0.4, 0.8, 1.0, 0.6, 1.0, 0.8, 0.8, 1.2, 0.8]]
    x = torch.tensor(values, dtype=dtype, device=device)
    with no_sync():
        t = mb.threshold_otsu(x)
    ref = skf.threshold_otsu(np.array(values, dtype=str(dtype).replace("torch.", "")))
    assert float(t) == float(ref)
    if dtype == torch.float64:
        assert abs(float(t) - 0.8015625) < 1e-12  # was 0.598 (65 bins away)
    counts, _ = mb.histogram(x)
    np.testing.assert_array_equal(counts.cpu().numpy(), np.histogram(x.cpu().numpy(), bins=256)[0])


@st.composite
def quantised(draw):
    """Images of a few grey levels spanning 2**k steps, so values sit exactly on bin edges."""
    h, w = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    steps = draw(st.sampled_from([16, 32, 64, 128, 256]))
    spacing = draw(st.sampled_from([1 / 128, 1 / 255, 0.1, 1 / 127, 0.7]))
    offset = draw(st.sampled_from([0.0, 0.4, -1.5]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = np.round(rng.beta(*rng.uniform(0.3, 3, 2), size=(h, w)) * steps)
    levels.flat[:2] = (0, steps)  # the full range: edges at multiples of spacing * steps / 256
    return (levels * spacing + offset).astype(dtype)


@fixtures_ok
@given(quantised())
def test_quantised_images_match_skimage(device, no_sync, a):
    x = torch.from_numpy(a).to(device)
    with no_sync():
        counts, _ = mb.histogram(x)
        got = {name: float(mb.auto_threshold(x, method=name)) for name in ("otsu", "isodata", "yen", "triangle")}
        multi = mb.threshold_multiotsu(x, classes=3).cpu().numpy()
    np.testing.assert_array_equal(counts.cpu().numpy(), np.histogram(a, bins=256)[0])
    for name, value in got.items():
        ref = float(getattr(skf, f"threshold_{name}")(a))
        if name == "otsu" and value != ref:  # a float32 near-tie (criteria within 1e-6): either pick is Otsu's
            assert between_class_variance(a, [value]) >= between_class_variance(a, [ref]) * (1 - 1e-6), (value, ref)
        else:
            assert value == ref, name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skf.threshold_multiotsu(a, classes=3)
    if not np.array_equal(multi, ref):  # a near-tie: ours must separate the classes at least as well
        assert between_class_variance(a, multi) >= between_class_variance(a, ref) * (1 - 1e-6), (multi, ref)


def between_class_variance(a: np.ndarray, thresholds) -> float:
    """Otsu's criterion on numpy's 256-bin histogram: bins whose centre is <= t go below t."""
    counts, edges = np.histogram(a, bins=256)
    centres = (edges[:-1] + edges[1:]) / 2
    mean = (counts * centres).sum() / counts.sum()
    total = 0.0
    for part in np.split(np.arange(256), np.searchsorted(centres, thresholds, side="right")):
        n = counts[part].sum()
        if n:
            total += n * ((counts[part] * centres[part]).sum() / n - mean) ** 2
    return float(total)


def test_multiotsu_near_tie_is_at_least_as_good_as_skimage():
    # hypothesis found a 13x42 float32 image where ours is one bin below scikit-image with a higher criterion
    rng = np.random.default_rng(5)
    a = rng.random((13, 42)).astype(np.float32)
    multi = mb.threshold_multiotsu(torch.from_numpy(a), classes=3).numpy()
    ref = skf.threshold_multiotsu(a, classes=3)
    assert between_class_variance(a, multi) >= between_class_variance(a, ref) * (1 - 1e-6)
    assert between_class_variance(a, multi) > between_class_variance(a, multi + [0.05, -0.05])  # the check can fail


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("kind", ["uint8", "float64 in [0, 1]", "float32 in [0, 1]"])
def test_threshold_of_otsu_is_skimage_mask(device, no_sync, name, kind):
    img = sample(name)
    a = {"uint8": img, "float64 in [0, 1]": img / 255.0, "float32 in [0, 1]": (img / 255.0).astype(np.float32)}[kind]
    x = torch.from_numpy(a).to(device)
    with no_sync():
        mask = mb.threshold(x, mb.threshold_otsu(x))
    np.testing.assert_array_equal(mask.cpu().numpy(), a > skf.threshold_otsu(a))


@pytest.mark.parametrize("name", ["camera", "coins", "page", "moon"])
def test_uint8_thresholds_equal_skimage(device, name):
    img = sample(name)
    for method in ("otsu", "isodata", "yen", "triangle", "li", "mean"):
        got = float(ours(mb.auto_threshold, img, device, method=method))
        assert got == pytest.approx(float(getattr(skf, f"threshold_{method}")(img)), abs=1e-3), method
    np.testing.assert_array_equal(ours(mb.threshold_multiotsu, img, device), skf.threshold_multiotsu(img))


def test_uint8_histogram_is_one_bin_per_value(device):
    x = torch.tensor([[[3, 5], [5, 9]], [[0, 255], [7, 7]]], dtype=torch.uint8, device=device)
    counts, centres = mb.histogram(x)
    assert counts.shape == (2, 256) and centres.shape == (2, 256)
    assert counts[0, :7].tolist() == [1, 0, 2, 0, 0, 0, 1] and int(counts[0].sum()) == 4
    assert centres[0, :3].tolist() == [3.0, 4.0, 5.0] and centres[1, -1].item() == 255.0
    assert counts[1, [0, 7, 255]].tolist() == [1, 2, 1]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64, torch.int64])
@pytest.mark.parametrize("method", ["otsu", "li", "yen", "triangle", "mean", "isodata"])
def test_constant_image_is_all_background(device, dtype, method):
    x = torch.full((2, 5, 7), 3, dtype=dtype, device=device)
    t = mb.auto_threshold(x, method=method)
    assert torch.equal(t.cpu(), torch.full((2,), 3.0, dtype=t.dtype))
    assert not mb.threshold(x, t).any()  # strict: a constant image has no foreground
    assert mb.threshold(x, t, inclusive=True).all()


def test_threshold_is_strict_and_nan_is_background(device):
    x = torch.tensor([[0.25, 0.5, 0.75, float("nan")]], device=device)
    assert mb.threshold(x, 0.5).tolist() == [[False, False, True, False]]
    assert mb.threshold(x, torch.tensor(0.5, device=device)).tolist() == [[False, False, True, False]]


@pytest.mark.parametrize("block", [64, 1000, 1 << 17])
@pytest.mark.parametrize("shape", [(3, 40, 50), (7, 9, 11), (2, 1, 333)])
@pytest.mark.parametrize("fast", [True, False])
def test_blocked_counts_equal_numpy(monkeypatch, block, shape, fast):
    """The CPU block loop (whole rows, or one row in pieces with a tail) and both counting paths
    (fast: re-check only pixels near an edge; exact: re-check all) give numpy's counts."""
    from maskbench.kernels import _binning

    monkeypatch.setattr(_binning, "_BLOCK", block)
    monkeypatch.setattr(_binning, "FAST", fast)
    g = np.random.default_rng(sum(shape) + block)
    levels = g.integers(0, 128, shape) / 127 * 0.7 + 0.4  # many values exactly on bin edges
    noise = g.random(shape) * 1000 + 1000  # |lo| >> span / bins: wide rounding bound
    issue = np.resize([0.4, 0.8, 1.0, 0.6, 1.0, 0.8, 0.8, 1.2, 0.8], shape)  # (0.6 - 0.4) / (0.8 / 256) = 63.99..
    for a in (
        levels,
        levels.astype(np.float32),
        noise.astype(np.float32),
        g.random(shape),
        issue,
        issue.astype(np.float32),
    ):
        for bins in (256, 100):
            counts, _ = mb.histogram(torch.from_numpy(a), bins=bins)
            ref = [np.histogram(img, bins=bins, range=(img.min(), img.max()))[0] for img in a]
            np.testing.assert_array_equal(counts.numpy(), np.stack(ref))
    dirty = torch.from_numpy(levels.copy())
    dirty[0, 0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    counts, _ = mb.histogram(dirty, bins=64)
    clean = dirty[0][torch.isfinite(dirty[0])].numpy()
    np.testing.assert_array_equal(counts[0].numpy(), np.histogram(clean, bins=64, range=(clean.min(), clean.max()))[0])


@pytest.mark.parametrize("row_loop_min", [1, 1 << 30])
def test_finite_range_row_loop_equals_numpy(monkeypatch, row_loop_min):
    """finite_range's per-image aminmax loop (large images on CPU) and amin/amax give the same
    ranges: float images clean or with NaN/Inf, integer images, all equal to numpy's histograms."""
    from maskbench.kernels import _binning

    monkeypatch.setattr(_binning, "_ROW_LOOP_MIN", row_loop_min)
    g = np.random.default_rng(5)
    a = (g.random((4, 13, 17)) * 3 - 1).astype(np.float32)
    for x in (torch.from_numpy(a), torch.from_numpy(a).double(), torch.from_numpy(a).half()):
        counts, _ = mb.histogram(x, bins=32)
        ref = [np.histogram(img, bins=32, range=(img.min(), img.max()))[0] for img in x.float().numpy()]
        np.testing.assert_array_equal(counts.numpy(), np.stack(ref))
    dirty = torch.from_numpy(a.copy())
    dirty[1, 0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    dirty[3] = float("nan")
    counts, _ = mb.histogram(dirty, bins=32)
    clean = dirty[1][torch.isfinite(dirty[1])].numpy()
    np.testing.assert_array_equal(counts[1].numpy(), np.histogram(clean, bins=32, range=(clean.min(), clean.max()))[0])
    assert counts[3].sum() == 0 and torch.isnan(mb.threshold_otsu(dirty)[3])
    ints = torch.from_numpy(g.integers(-50, 900, (3, 11, 9)).astype(np.int32))
    counts, _ = mb.histogram(ints, bins=16)
    ref = [np.histogram(img.astype(np.float64), bins=16, range=(img.min(), img.max()))[0] for img in ints.numpy()]
    np.testing.assert_array_equal(counts.numpy(), np.stack(ref))
    u8 = torch.from_numpy(g.integers(3, 250, (2, 10, 10)).astype(np.uint8))
    assert mb.threshold_otsu(u8).tolist() == [skf.threshold_otsu(img) for img in u8.numpy()]
