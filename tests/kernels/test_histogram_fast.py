"""The CPU fast path of the per-image histograms (``kernels/_fast_binning.py``, issue 11 item 3).

Its counts must be numpy's, bit for bit, whichever way it runs: one range per image just before
its blocks (large images) or all ranges first (small ones), and it must hand images it cannot
bin (NaN/inf, degenerate ranges) to the exact path.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.filters as skf
import torch

import maskbench as mb
from maskbench.kernels import _binning, _fast_binning


def numpy_counts(a: np.ndarray, bins: int) -> np.ndarray:
    out = []
    for img in a.reshape(-1, *a.shape[-2:]):
        v = img[np.isfinite(img)] if img.dtype.kind == "f" else img
        if v.size == 0:
            out.append(np.zeros(bins, dtype=np.int64))
            continue
        out.append(np.histogram(v, bins=bins, range=(v.min(), v.max()))[0])
    return np.stack(out).reshape(*a.shape[:-2], bins)


def images(shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    levels = g.integers(0, 128, shape) / 127 * 0.7 + 0.4  # many values on bin edges
    saturated = np.clip(g.random(shape) * 1.6 - 0.3, 0, 1)  # ~40% of pixels at the minimum or maximum
    return {
        "uniform32": g.random(shape, dtype=np.float32),
        "levels64": levels,
        "levels32": levels.astype(np.float32),
        "offset32": (g.random(shape) * 1000 + 1000).astype(np.float32),  # |lo| >> span / bins
        "negative32": (g.standard_normal(shape) * 3 - 50).astype(np.float32),
        "saturated32": saturated.astype(np.float32),
        "u8_as_float": (g.integers(0, 256, shape) / 255).astype(np.float32),
        "int16": g.integers(-300, 300, shape).astype(np.int16),
    }


def counts_of(a: np.ndarray, bins: int) -> np.ndarray:
    return mb.histogram(torch.from_numpy(a), bins=bins)[0].numpy()


@pytest.mark.parametrize("shape", [(3, 70, 90), (1, 1, 333), (2, 9, 7), (5, 1, 1)])
@pytest.mark.parametrize("block", [64, 1000, 1 << 17])
def test_fast_counts_equal_numpy(monkeypatch, shape, block):
    """Multi-image blocks (ranges first), one image in pieces (range fused), odd sizes, batch of 1."""
    monkeypatch.setattr(_binning, "_BLOCK", block)
    for name, a in images(shape, seed=sum(shape) + block).items():
        for bins in (256, 100, 7):
            np.testing.assert_array_equal(counts_of(a, bins), numpy_counts(a, bins), err_msg=f"{name} bins={bins}")


def test_many_small_and_one_large_image_equal_numpy(monkeypatch):
    """Ranges first (many small images in a block, incl. a constant one) and fused (one image in
    pieces); Otsu equals scikit-image on each."""
    g = np.random.default_rng(4)
    small = np.concatenate([g.random((3, 60, 50)), (g.integers(0, 64, (3, 60, 50)) / 63)]).astype(np.float32)
    small[1] = 0.25
    monkeypatch.setattr(_binning, "_BLOCK", 1000)
    for a in (small, small.reshape(6, 1, -1), small.reshape(1, 1, -1)):
        np.testing.assert_array_equal(counts_of(a, 256), numpy_counts(a, 256))
        t = mb.threshold_otsu(torch.from_numpy(a))
        assert t.reshape(-1).tolist() == [skf.threshold_otsu(img) for img in a]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_bins_kept_and_counted_on_threads_equal_numpy(monkeypatch, threads):
    """One image per block: the bytes of every image are kept and counted on threads (their bins
    read back by the re-check; the pass in numpy with whole images per thread, or in torch), or
    counted block by block (1 thread, or past _KEEP_BYTES)."""
    monkeypatch.setattr(_binning, "_BLOCK", 500)
    monkeypatch.setattr(_fast_binning, "shares", lambda n: min(threads, n))
    for keep, numpy_pixels in ((1 << 26, 1 << 20), (1 << 26, 0), (0, 1 << 20)):  # numpy on threads, torch, inline
        monkeypatch.setattr(_fast_binning, "_KEEP_BYTES", keep)
        monkeypatch.setattr(_fast_binning, "_NUMPY_PIXELS", numpy_pixels)
        for name, a in images((5, 31, 47), seed=threads).items():
            for bins in (256, 100):
                np.testing.assert_array_equal(
                    counts_of(a, bins), numpy_counts(a, bins), err_msg=f"{name} {keep} {bins}"
                )
            if a.dtype.kind != "f":  # integer images: scikit-image's own conventions (test_threshold_edges)
                continue
            x = torch.from_numpy(a)
            run = _fast_binning.fast_pass(x.reshape(5, -1), 256, x.dtype)
            assert run is not None and (run.kept is not None) == (keep > 0 and threads > 1), name
            assert mb.threshold_otsu(x).tolist() == [skf.threshold_otsu(img) for img in a], name


def test_a_dirty_image_hands_the_batch_to_the_exact_path(monkeypatch):
    """A NaN in the last image stops the fused pass there; the exact path counts the batch."""
    monkeypatch.setattr(_binning, "_BLOCK", 100)
    a = np.random.default_rng(0).random((4, 30, 40)).astype(np.float32)
    a[3, 5, 5] = np.nan
    assert _fast_binning.fast_pass(torch.from_numpy(a).reshape(4, -1), 64, torch.float32) is None
    np.testing.assert_array_equal(counts_of(a, 64), numpy_counts(a, 64))


@pytest.mark.parametrize("fused", [True, False])
def test_images_it_cannot_bin_go_to_the_exact_path(monkeypatch, fused):
    """NaN/inf pixels, a range wider than the dtype and |lo| / span too large for the bound."""
    monkeypatch.setattr(_binning, "_BLOCK", 100 if fused else 1 << 17)
    g = np.random.default_rng(1)
    base = g.random((3, 20, 30)).astype(np.float32)
    cases = {}
    for name, value in [("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)]:
        a = base.copy()
        a[1, 3, 4] = value
        cases[name] = a
    wide = base.copy()
    wide[0, 0, :2] = [-3e38, 3e38]  # max - min overflows float32
    cases["wide"] = wide
    far = (base * 2 + 1000).astype(np.float32)  # |lo| / span ~ 500: delta above the fast path's limit
    cases["far"] = far
    for name, a in cases.items():
        assert _fast_binning.fast_pass(torch.from_numpy(a).reshape(3, -1), 256, torch.float32) is None, name
        ours = counts_of(a, 256)
        if name != "wide":  # numpy's own histogram of an overflowing range is not defined
            np.testing.assert_array_equal(ours, numpy_counts(a, 256), err_msg=name)
    empty = np.full((2, 5, 5), np.nan, dtype=np.float32)
    assert counts_of(empty, 16).sum() == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.int32])
def test_constant_and_saturated_images(dtype):
    """Constant images (numpy: every pixel in bin bins // 2) and ones mostly at their minimum or
    maximum (clamped out of the re-check), in every float width, next to an ordinary image."""
    g = np.random.default_rng(2)
    a = np.stack([np.full((40, 50), 3.0), np.clip(g.random((40, 50)) * 3 - 1, 0, 1) * 100, g.random((40, 50)) * 100])
    x = torch.from_numpy(a).to(dtype)
    ref = numpy_counts(x.double().numpy() if dtype != torch.float32 else x.numpy(), 64)
    np.testing.assert_array_equal(mb.histogram(x, bins=64)[0].numpy(), ref)
    assert mb.histogram(x, bins=64)[0][0, 32] == 2000


def test_recheck_reproduces_the_block_arithmetic():
    """The re-check subtracts each suspect from the bin it was counted in: g is recomputed with the
    same two roundings (no fused multiply-add), so the counts always add up to the pixel count."""
    g = np.random.default_rng(3)
    for seed in range(5):
        a = (g.integers(0, 2**12, (4, 64, 64)) / 2**12 * g.random() * 10 - g.random()).astype(np.float32)
        run = _fast_binning.fast_pass(torch.from_numpy(a).reshape(4, -1), 256, torch.float32)
        c = mb.histogram(torch.from_numpy(a), bins=256)[0]
        assert run is not None and (c >= 0).all() and (c.sum(-1) == 64 * 64).all(), seed
        np.testing.assert_array_equal(c.numpy(), numpy_counts(a, 256))


def test_fast_bound_exceeds_the_rounding_it_covers():
    """delta grows with |lo| / span and stays above a few bins' worth of unit roundoff."""
    lo = torch.tensor([0.0, 1000.0, -5.0], dtype=torch.float64)
    hi = torch.tensor([1.0, 1001.0, 5.0], dtype=torch.float64)
    d = _fast_binning.fast_bound(lo, hi, hi - lo, 256, torch.float32)
    u = 2.0**-24
    assert (d > u * 256 * (6 * torch.maximum(lo.abs(), hi.abs()) / (hi - lo) + 4)).all()
    assert d[1] > 100 * d[0]


def test_grad_and_strided_inputs_through_the_threaded_pass(monkeypatch):
    """The numpy pass reads the pixels as numpy: an input that requires grad, or a strided view, is
    counted as a plain copy would be (and left untouched)."""
    monkeypatch.setattr(_fast_binning, "shares", lambda n: min(2, n))
    monkeypatch.setattr(_binning, "_BLOCK", 700)  # one image per block (in pieces): the kept, threaded pass
    g = np.random.default_rng(7)
    base = torch.from_numpy(g.random((6, 40, 90), dtype=np.float32))
    for x in (base.clone().requires_grad_(), base[:, :, ::3], base.transpose(1, 2)):
        run = _fast_binning.fast_pass(x.detach().reshape(6, -1), 256, torch.float32)
        assert run is not None and run.hits is not None  # the numpy pass ran
        before = x.detach().clone()
        want = [skf.threshold_otsu(img) for img in x.detach().numpy()]
        assert mb.threshold_otsu(x).tolist() == want
        assert torch.equal(x.detach(), before)
