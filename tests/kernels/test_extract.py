"""extract_pixels / extract_classes against plain loops and numpy, plus properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskbench import (
    ClassPixels,
    ClassStats,
    DTypeError,
    PaddedPixels,
    Pixels,
    ShapeError,
    class_stats,
    extract_classes,
    extract_pixels,
)

fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
DTYPES = [torch.float32, torch.float64, torch.float16, torch.int32, torch.uint8]


def ref_pixels(image: torch.Tensor, mask: torch.Tensor) -> tuple[list, list]:
    """Plain loop over a (B, C, H, W) image and a (B, H, W) mask, row-major."""
    img, m = image.cpu().numpy(), mask.cpu().numpy()
    values, coords = [], []
    for b in range(img.shape[0]):
        for r in range(img.shape[2]):
            for c in range(img.shape[3]):
                if m[b, r, c]:
                    values.append(img[b, :, r, c])
                    coords.append((b, r, c))
    return values, coords


def assert_values_equal(actual: torch.Tensor, expected: list, channels: int) -> None:
    exp = np.array(expected, dtype=actual.cpu().numpy().dtype).reshape(-1, channels)
    np.testing.assert_array_equal(actual.cpu().numpy(), exp)  # NaN == NaN here


@st.composite
def image_and_mask(draw):
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    dtype = draw(st.sampled_from(DTYPES))
    fill = draw(st.sampled_from(["random", "empty", "full"]))
    b = batch or 1
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    image = (torch.rand(b, c, h, w, generator=gen) * 100).to(dtype)
    if dtype.is_floating_point and draw(st.booleans()):
        image[0, 0, 0, 0] = float("nan")
        image.view(-1)[-1] = float("inf")
    mask = torch.rand(b, h, w, generator=gen) < 0.5
    if fill != "random":
        mask[:] = fill == "full"
    # pick one of the accepted mask shapes
    if batch is None:
        image = image[0]
        layout = draw(st.sampled_from(["hw", "1hw"]))
        mask_arg = mask[0] if layout == "hw" else mask[:1]
    else:
        layout = draw(st.sampled_from(["bhw", "b1hw", "hw"]))
        if layout == "hw":
            mask = mask[:1].expand(b, h, w)
            mask_arg = mask[0]
        else:
            mask_arg = mask if layout == "bhw" else mask[:, None]
    return image, mask_arg, mask, batch is not None


@fixtures_ok
@given(case=image_and_mask(), k=st.integers(0, 60))
def test_extract_pixels_matches_loop_and_padded(case, k, device, no_sync) -> None:
    image, mask_arg, mask3, batched = case
    image, mask_arg = image.to(device), mask_arg.to(device)
    image4 = image if batched else image[None]
    ref_values, ref_coords = ref_pixels(image4, mask3)
    if not batched:
        ref_coords = [rc[1:] for rc in ref_coords]

    out = extract_pixels(image, mask_arg)
    assert isinstance(out, Pixels)
    assert out.values.dtype == image.dtype and out.coords.dtype == torch.int64
    assert out.values.device == image.device
    assert out.coords.shape == (len(ref_coords), 3 if batched else 2)
    assert out.coords.cpu().tolist() == [list(rc) for rc in ref_coords]
    assert_values_equal(out.values, ref_values, image4.shape[1])

    with no_sync():
        padded = extract_pixels(image, mask_arg, max_pixels=k)
    assert isinstance(padded, PaddedPixels)
    n = len(ref_coords)
    assert padded.count.ndim == 0 and padded.count.dtype == torch.int64 and padded.count.item() == n
    kept = min(n, k)
    assert padded.values.shape == (k, image4.shape[1]) and padded.coords.shape == (k, out.coords.shape[1])
    assert padded.valid.cpu().tolist() == [True] * kept + [False] * (k - kept)
    # the first min(n, k) rows equal the unpadded result (truncation keeps row-major order)
    assert torch.equal(padded.coords[:kept].cpu(), out.coords[:kept].cpu())
    assert_values_equal(padded.values[:kept], ref_values[:kept], image4.shape[1])
    assert (padded.coords[kept:] == -1).all()
    assert (padded.values[kept:] == 0).all()  # no NaN leaks into padding


def test_extract_pixels_channels_last(device) -> None:
    image = torch.rand(2, 5, 4, 3, device=device)  # (B, H, W, C)
    mask = torch.rand(2, 5, 4, device=device) > 0.3
    a = extract_pixels(image, mask, channels_last=True)
    b = extract_pixels(image.permute(0, 3, 1, 2), mask)
    assert torch.equal(a.values, b.values) and torch.equal(a.coords, b.coords)
    labels = torch.randint(0, 3, (2, 5, 4), device=device)
    ca = extract_classes(image, labels, num_classes=3, channels_last=True)
    cb = extract_classes(image.permute(0, 3, 1, 2), labels, num_classes=3)
    assert all(torch.equal(p, q) for p, q in zip(ca, cb))
    # values are the image's pixels at coords
    bb, rr, cc = a.coords.unbind(1)
    assert torch.equal(a.values, image[bb, rr, cc])


def test_extract_pixels_gradcheck(device) -> None:
    image = torch.rand(2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    mask = torch.tensor([[True, False, True, False], [False, False, True, True], [True] * 4], device=device)
    torch.autograd.gradcheck(lambda x: extract_pixels(x, mask).values, (image,))
    torch.autograd.gradcheck(lambda x: extract_pixels(x, mask, max_pixels=5).values, (image,))


def test_padded_nan_outside_selection_gives_finite_gradient(device) -> None:
    image = torch.tensor([[[float("nan"), 1.0], [2.0, 3.0]]], device=device, requires_grad=True)
    mask = torch.tensor([[False, True], [False, True]], device=device)
    out = extract_pixels(image, mask, max_pixels=4)
    assert out.values.isfinite().all()
    out.values.sum().backward()
    assert image.grad.cpu().tolist() == [[[0.0, 1.0], [0.0, 1.0]]]


def test_extract_pixels_errors(device) -> None:
    image = torch.rand(3, 4, 5, device=device)
    with pytest.raises(DTypeError, match=r"mask: expected a bool mask.*mask > 0.5"):
        extract_pixels(image, torch.rand(4, 5, device=device))
    with pytest.raises(DTypeError, match=r"mask > 0"):
        extract_pixels(image, torch.ones(4, 5, dtype=torch.uint8, device=device))
    with pytest.raises(ShapeError, match=r"mask: expected .*\(4, 5\).*got \(5, 4\).*transposed"):
        extract_pixels(image, torch.ones(5, 4, dtype=torch.bool, device=device))
    with pytest.raises(ShapeError, match=r"mask.*\(3, 4, 5\)"):  # per-channel masks are not spatial
        extract_pixels(image, torch.ones(3, 4, 5, dtype=torch.bool, device=device))
    with pytest.raises(ValueError, match=r"max_pixels: expected an int >= 0"):
        extract_pixels(image, torch.ones(4, 5, dtype=torch.bool, device=device), max_pixels=-1)
    with pytest.raises(ShapeError, match=r"image: expected \(C, H, W\)"):
        extract_pixels(image[0], torch.ones(4, 5, dtype=torch.bool, device=device))


# ---------------------------------------------------------------- extract_classes


def ref_classes(image4: torch.Tensor, labels3: torch.Tensor, k: int, batched: bool):
    """A loop of boolean indexing per class, and numpy statistics."""
    hwc = image4.cpu().permute(0, 2, 3, 1)
    lab = labels3.cpu().long()
    values, coords, counts, means, stds = [], [], [], [], []
    for cls in range(k):
        m = lab == cls
        v = hwc[m]
        values.append(v)
        xyz = m.nonzero()
        coords.append(xyz if batched else xyz[:, 1:])
        counts.append(int(m.sum()))
        vn = v.double().numpy()
        means.append(vn.mean(0) if len(vn) else np.zeros(hwc.shape[-1]))
        stds.append(vn.std(0) if len(vn) else np.zeros(hwc.shape[-1]))  # numpy std: ddof=0
    return torch.cat(values), torch.cat(coords), counts, np.stack(means), np.stack(stds)


@st.composite
def image_and_labels(draw):
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    k = draw(st.integers(1, 6))
    ldtype = draw(st.sampled_from([torch.uint8, torch.int16, torch.int32, torch.int64]))
    idtype = draw(st.sampled_from([torch.float32, torch.float64, torch.int32, torch.float16, torch.bfloat16]))
    b = batch or 1
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    image = (torch.rand(b, c, h, w, generator=gen) * 10).to(idtype)
    labels = torch.randint(0, k, (b, h, w), generator=gen)
    kind = draw(st.sampled_from(["valid", "ignore", "constant"]))
    if kind == "ignore":  # an ignore value (255, or -1 for signed dtypes) on some pixels
        stray = 255 if ldtype == torch.uint8 else draw(st.sampled_from([-1, 255, k]))
        labels = torch.where(torch.rand(b, h, w, generator=gen) < 0.3, stray, labels)
    elif kind == "constant":
        labels[:] = draw(st.integers(0, k - 1))
    labels = labels.to(ldtype)
    if batch is None:
        return image[0], labels[0], image, labels, k, False
    return image, labels, image, labels, k, True


@fixtures_ok
@given(case=image_and_labels())
def test_extract_classes_matches_per_class_loop(case, device, no_sync) -> None:
    image, labels, image4, labels3, k, batched = case
    image, labels = image.to(device), labels.to(device)
    ref_v, ref_c, ref_counts, ref_mean, ref_std = ref_classes(image4, labels3, k, batched)

    out = extract_classes(image, labels, num_classes=k)
    assert isinstance(out, ClassPixels)
    assert out.counts.cpu().tolist() == ref_counts
    assert out.offsets.cpu().tolist() == [0, *np.cumsum(ref_counts).tolist()]
    assert torch.equal(out.values.cpu(), ref_v) and out.values.dtype == image.dtype
    assert torch.equal(out.coords.cpu(), ref_c) and out.coords.dtype == torch.int64
    tol = {torch.float64: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}.get(image.dtype, 1e-4)
    assert out.mean.dtype == out.std.dtype == (image.dtype if image.is_floating_point() else torch.float32)
    np.testing.assert_allclose(out.mean.double().cpu().numpy(), ref_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(out.std.double().cpu().numpy(), ref_std, rtol=tol, atol=10 * tol)
    for cls in range(k):
        assert torch.equal(out.of(cls).values.cpu(), ref_v[sum(ref_counts[:cls]) : sum(ref_counts[: cls + 1])])

    with no_sync():  # the sync-free layout: ignored pixels stay, after offsets[K]
        full = extract_classes(image, labels, num_classes=k, drop_ignored=False)
    n = labels3.numel()
    assert full.values.shape[0] == n == full.coords.shape[0]
    assert torch.equal(full.values[: out.values.shape[0]], out.values)
    assert torch.equal(full.counts, out.counts)
    torch.testing.assert_close(full.mean, out.mean, equal_nan=True)
    # the tail holds exactly the out-of-range pixels, in row-major order
    lab_flat = labels3.long().reshape(-1)
    stray = ((lab_flat < 0) | (lab_flat >= k)).nonzero().squeeze(1)
    tail = full.coords[out.values.shape[0] :].cpu()
    h, w = labels3.shape[-2:]
    expected_tail = torch.stack((stray // (h * w), stray % (h * w) // w, stray % w), 1)
    assert torch.equal(tail, expected_tail if batched else expected_tail[:, 1:])


def test_extract_classes_empty_class_and_nan(device) -> None:
    image = torch.tensor([[[1.0, float("nan")], [3.0, 5.0]]], device=device)
    labels = torch.tensor([[0, 1], [0, 0]], device=device)
    out = extract_classes(image, labels, num_classes=3)
    assert out.counts.tolist() == [3, 1, 0]
    assert out.mean[0, 0].item() == 3.0 and out.std[0, 0].item() == pytest.approx((8 / 3) ** 0.5)
    assert out.mean[1].isnan().all() and out.std[1].isnan().all()  # NaN stays in its own class
    assert out.mean[2].item() == 0.0 and out.std[2].item() == 0.0  # empty class: 0, not NaN


def test_extract_classes_shared_labels_on_batch(device) -> None:
    image = torch.rand(2, 3, 4, 5, device=device)
    labels = torch.randint(0, 3, (4, 5), device=device)
    shared = extract_classes(image, labels, num_classes=3)
    stacked = extract_classes(image, labels.expand(2, 4, 5), num_classes=3)
    assert torch.equal(shared.values, stacked.values) and torch.equal(shared.coords, stacked.coords)
    assert shared.counts.tolist() == (2 * torch.bincount(labels.flatten().cpu(), minlength=3)).tolist()


def test_extract_classes_gradcheck(device) -> None:
    image = torch.rand(2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    labels = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 2], [1, 1, 0, 3]], device=device)  # 3: empty class

    def fn(x):
        out = extract_classes(x, labels, num_classes=4)
        return out.values, out.mean, out.std

    torch.autograd.gradcheck(fn, (image,))
    out = extract_classes(image, labels, num_classes=4)
    out.std.sum().backward()  # the empty class has zero, finite gradient
    assert image.grad.isfinite().all()


def test_extract_classes_errors(device) -> None:
    image = torch.rand(3, 4, 5, device=device)
    with pytest.raises(DTypeError, match=r"labels: expected an integer label map.*float32"):
        extract_classes(image, torch.zeros(4, 5, device=device), num_classes=2)
    with pytest.raises(DTypeError, match=r"labels: expected an integer"):
        extract_classes(image, torch.zeros(4, 5, dtype=torch.bool, device=device), num_classes=2)
    with pytest.raises(ShapeError, match=r"labels: expected .*\(4, 5\).*got \(4, 6\)"):
        extract_classes(image, torch.zeros(4, 6, dtype=torch.long, device=device), num_classes=2)
    with pytest.raises(ValueError, match=r"num_classes: expected an int >= 1"):
        extract_classes(image, torch.zeros(4, 5, dtype=torch.long, device=device), num_classes=0)
    out = extract_classes(image, torch.zeros(4, 5, dtype=torch.long, device=device), num_classes=2)
    with pytest.raises(ValueError, match=r"k: expected an int <= 1"):
        out.of(2)


def test_sync_free_variants_trace_without_graph_breaks(device) -> None:
    # backend="eager" runs only dynamo: fullgraph=True fails on any graph break (e.g. a .item())
    x = torch.rand(2, 3, 4, 5, device=device)
    m = torch.rand(2, 4, 5, device=device) > 0.5
    lab = torch.randint(0, 4, (2, 4, 5), device=device)  # 3 is out of range for num_classes=3
    pix = torch.compile(lambda x, m: extract_pixels(x, m, max_pixels=5), fullgraph=True, backend="eager")
    cls = torch.compile(
        lambda x, lab: extract_classes(x, lab, num_classes=3, drop_ignored=False), fullgraph=True, backend="eager"
    )
    for a, b in zip(pix(x, m), extract_pixels(x, m, max_pixels=5)):
        assert torch.equal(a, b)
    for a, b in zip(cls(x, lab), extract_classes(x, lab, num_classes=3, drop_ignored=False)):
        assert torch.equal(a, b)


# issue 10 regressions ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 0, 4), (3, 4, 0), (0, 3, 4, 4), (2, 3, 0, 0)])
@pytest.mark.parametrize("k", [0, 3])
def test_extract_pixels_zero_sized_with_max_pixels_issue10_11(device, shape, k) -> None:
    # index_select() on the empty planar view raised "self indexing axis dim should be positive".
    image = torch.zeros(shape, device=device)
    mask = torch.zeros(shape[:1] + shape[-2:] if len(shape) == 4 else shape[-2:], dtype=torch.bool, device=device)
    out = extract_pixels(image, mask, max_pixels=k)
    ncoords = 3 if len(shape) == 4 else 2
    assert out.values.shape == (k, shape[-3]) and out.coords.shape == (k, ncoords)
    assert out.count.item() == 0 and not out.valid.any() and (out.coords == -1).all() and (out.values == 0).all()
    exact = extract_pixels(image, mask)
    assert exact.values.shape == (0, shape[-3]) and exact.coords.shape == (0, ncoords)


def test_extract_pixels_huge_max_pixels_is_named_issue10_11() -> None:
    with pytest.raises(ValueError, match=r"^max_pixels: expected an int <= "):
        extract_pixels(torch.zeros(1, 2, 2), torch.ones(2, 2, dtype=torch.bool), max_pixels=10**400)


# issue 11: the statistics-only path ------------------------------------------------------------------


@fixtures_ok
@given(case=image_and_labels())
def test_class_stats_matches_per_class_loop(case, device, no_sync) -> None:
    image, labels, image4, labels3, k, batched = case
    _, _, ref_counts, ref_mean, ref_std = ref_classes(image4, labels3, k, batched)
    with no_sync():
        out = class_stats(image.to(device), labels.to(device), num_classes=k)
    assert isinstance(out, ClassStats)
    assert out.counts.cpu().tolist() == ref_counts and out.counts.dtype == torch.int64
    tol = {torch.float64: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}.get(image.dtype, 1e-4)
    assert out.mean.dtype == out.std.dtype == (image.dtype if image.is_floating_point() else torch.float32)
    np.testing.assert_allclose(out.mean.double().cpu().numpy(), ref_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(out.std.double().cpu().numpy(), ref_std, rtol=tol, atol=10 * tol)
    full = extract_classes(image.to(device), labels.to(device), num_classes=k, drop_ignored=False)
    assert torch.equal(out.counts, full.counts)


def test_class_stats_nan_empty_offset_and_gradient(device) -> None:
    image = torch.tensor([[[1.0, float("nan")], [3.0, 5.0]]], device=device)
    labels = torch.tensor([[0, 1], [0, 255]], device=device)  # 255: no class
    out = class_stats(image, labels, num_classes=3)
    assert out.counts.tolist() == [2, 1, 0]
    assert out.mean[0, 0].item() == 2.0 and out.std[0, 0].item() == 1.0
    assert out.mean[1].isnan().all() and out.std[1].isnan().all()  # NaN stays in its own class
    assert out.mean[2].item() == 0.0 and out.std[2].item() == 0.0  # empty class: 0, not NaN
    # a large offset: the sums around the channel mean keep float32's std accurate
    g = torch.Generator().manual_seed(0)
    x = (1e4 + torch.randn(3, 64, 64, generator=g)).to(device)
    lab = torch.randint(0, 4, (64, 64), generator=g).to(device)
    ref = extract_classes(x.double(), lab, num_classes=4)
    got = class_stats(x, lab, num_classes=4)
    torch.testing.assert_close(got.std.double(), ref.std, rtol=1e-3, atol=0)
    torch.testing.assert_close(got.mean.double(), ref.mean, rtol=1e-6, atol=0)
    xg = torch.rand(2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    lab = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 2], [1, 1, 0, 3]], device=device)
    torch.autograd.gradcheck(lambda t: tuple(class_stats(t, lab, num_classes=4)[1:]), (xg,))


@pytest.mark.parametrize("idtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize("ldtype", [torch.uint8, torch.int8, torch.int16, torch.int64])
def test_extract_classes_segment_path_equals_general_path_issue11(monkeypatch, idtype, ldtype) -> None:
    """The CPU path (1-byte keys, sums over each class's sorted run) gives the general path's output
    bit for bit (values, coords, counts, offsets, mean, std), with NaN/Inf pixels,
    out-of-range labels (-1, 255, K), empty classes, all-ignored and empty images, K = 64 and 65."""
    from maskbench.kernels import extract as extract_module

    g = torch.Generator().manual_seed(7)
    cases = []
    for b, c, h, w, k in ((3, 2, 9, 13, 5), (1, 3, 1, 1, 2), (2, 1, 0, 4, 3), (2, 3, 8, 8, 64), (2, 3, 8, 8, 65)):
        image = (torch.randn(b, c, h, w, generator=g) * 50).to(idtype) if idtype != torch.uint8 else None
        image = image if image is not None else torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, k + 1, (b, h, w), generator=g)  # label k: out of range
        if ldtype != torch.uint8:
            labels[torch.rand(b, h, w, generator=g) < 0.2] = -1
        if ldtype in (torch.uint8, torch.int16, torch.int64):
            labels[torch.rand(b, h, w, generator=g) < 0.1] = 255
        labels = labels.to(ldtype)
        if image.is_floating_point() and image.numel():
            image[0, 0, 0, :2] = torch.tensor([float("nan"), float("inf")])[: image.shape[-1]]
        cases.append((image, labels, k))
    image = torch.randn(1, 2, 4, 4, generator=g).to(idtype) if idtype != torch.uint8 else torch.ones(1, 2, 4, 4)
    cases.append((image, torch.full((1, 4, 4), -1 if ldtype != torch.uint8 else 200, dtype=ldtype), 3))
    for image, labels, k in cases:
        before, lab_before = image.clone(), labels.clone()
        for drop in (True, False):
            fast = extract_classes(image, labels, num_classes=k, drop_ignored=drop)
            with monkeypatch.context() as mp:
                mp.setattr(extract_module, "_segment_path_ok", lambda x, k: False)
                slow = extract_classes(image, labels, num_classes=k, drop_ignored=drop)
            for name, a, e in zip(fast._fields, fast, slow):
                assert a.dtype == e.dtype and a.shape == e.shape, name
                torch.testing.assert_close(a, e, rtol=0, atol=0, equal_nan=True)
            assert (fast.std[fast.counts == 0] == 0).all() and (fast.mean[fast.counts == 0] == 0).all()
        torch.testing.assert_close(image, before, rtol=0, atol=0, equal_nan=True)
        assert torch.equal(labels, lab_before)
