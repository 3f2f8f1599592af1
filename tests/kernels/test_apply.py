"""apply_mask and inpaint: loop references, leak-free values and gradients, fills, layouts, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskbench import (
    CastError,
    DeviceError,
    DTypeError,
    MaskValueError,
    ShapeError,
    apply_mask,
    inpaint,
    sample_image,
    synthetic_scene,
)

# no_sync is a function-scoped factory of fresh context managers: safe to reuse across examples
_FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_TOL = {torch.float64: 1e-9, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 4e-2}

# mask shape kinds -> how each maps onto (B, C, H, W), written independently of _checks
_BATCHED_KINDS = {
    "HW": lambda m, b, c: m[None, None],
    "1HW": lambda m, b, c: m[:, None],
    "BHW": lambda m, b, c: m[:, None],
    "B1HW": lambda m, b, c: m,
    "11HW": lambda m, b, c: m,
    "BCHW": lambda m, b, c: m,
    "1CHW": lambda m, b, c: m,
}
_UNBATCHED_KINDS = {"HW": lambda m, b, c: m[None, None], "1HW": lambda m, b, c: m[None], "CHW": lambda m, b, c: m[None]}


def _kind_shape(kind: str, b: int, c: int, h: int, w: int) -> tuple[int, ...]:
    sizes = {"B": b, "C": c, "H": h, "W": w, "1": 1}
    return tuple(sizes[ch] for ch in kind)


@st.composite
def cases(draw, fills=("number", "channel", "full", "mean")):
    batched = draw(st.booleans())
    b = draw(st.integers(1, 3)) if batched else 1
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kind = draw(st.sampled_from(sorted(_BATCHED_KINDS if batched else _UNBATCHED_KINDS)))
    weighted = draw(st.booleans())
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]))
    channels_last = draw(st.booleans())
    fill_kind = draw(st.sampled_from(fills))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    mshape = _kind_shape(kind, b, c, h, w)
    p = draw(st.sampled_from([0.0, 0.5, 1.0]))
    if weighted:
        m = torch.rand(mshape, generator=g, dtype=torch.float64)
        m = torch.where(m < 0.3, 0.0, torch.where(m > 0.8, 1.0, m)) * (p > 0)
    else:
        m = torch.rand(mshape, generator=g) < p
    m4 = (_BATCHED_KINDS if batched else _UNBATCHED_KINDS)[kind](m, b, c).expand(b, c, h, w)
    removed = m4 == 0
    x = torch.where(removed & (torch.rand(x.shape, generator=g) < 0.4), float("nan"), x)
    x = torch.where(removed & (torch.rand(x.shape, generator=g) < 0.2), -float("inf"), x)
    x = x.to(dtype)
    if fill_kind == "number":
        fill, f4 = draw(st.sampled_from([0.0, -1.5, 7])), None
        f4 = torch.full((b, c, h, w), float(fill), dtype=torch.float64)
    elif fill_kind == "channel":
        fill = torch.randn(c, generator=g, dtype=torch.float64)
        f4 = fill.view(1, c, 1, 1).expand(b, c, h, w)
    elif fill_kind == "full":
        fb = torch.randn(1, c, 1, w, generator=g, dtype=torch.float64)  # varies along C and W
        f4 = fb.expand(b, c, h, w)
        fill = fb.permute(0, 2, 3, 1) if channels_last else fb
        fill = fill if batched else fill[0]
    else:
        fill, f4 = "mean", None
    image = x if batched else x[0]
    if channels_last:
        image = image.movedim(-3, -1)
    return image, m, fill, dict(x=x, m4=m4, f4=f4, dtype=dtype, batched=batched, channels_last=channels_last)


def _mean_reference(x: torch.Tensor, m4: torch.Tensor) -> torch.Tensor:
    """Per image and channel: the (weighted) mean of kept pixels, 0 if none, by a Python loop."""
    b, c = x.shape[:2]
    out = torch.zeros(b, c, 1, 1, dtype=torch.float64)
    for i in range(b):
        for j in range(c):
            w = m4[i, j].double().flatten().tolist()
            v = x[i, j].double().flatten().tolist()
            total = sum(wk for wk in w if wk > 0)
            out[i, j] = sum(wk * vk for wk, vk in zip(w, v) if wk > 0) / total if total > 0 else 0.0
    return out


def _reference(x, m4, f4):
    xs, ms, fs = x.double().numpy(), m4.double().numpy(), np.broadcast_to(f4.double().numpy(), x.shape)
    if m4.dtype == torch.bool:
        return np.where(ms > 0, xs, fs)
    with np.errstate(invalid="ignore"):
        blend = xs * ms + fs * (1 - ms)
    return np.where(ms == 0, fs, np.where(ms == 1, xs, blend))


def _to_bchw(out, info):
    out = out.movedim(-1, -3) if info["channels_last"] else out
    return out if info["batched"] else out[None]


@_FIXTURES_OK
@given(cases())
def test_against_loop_reference(device, no_sync, case):
    image, mask, fill, info = case
    fill_d = fill.to(device) if isinstance(fill, torch.Tensor) else fill
    with no_sync():
        out = apply_mask(image.to(device), mask.to(device), fill=fill_d, channels_last=info["channels_last"])
    assert out.shape == image.shape and out.dtype == image.dtype
    x, m4 = info["x"], info["m4"]
    f4 = info["f4"] if info["f4"] is not None else _mean_reference(x, m4)
    expected = _reference(x, m4, f4)
    got = _to_bchw(out.cpu(), info).double().numpy()
    tol = _TOL[info["dtype"]]
    np.testing.assert_allclose(got, expected, rtol=tol, atol=4 * tol, equal_nan=True)
    removed = (m4 == 0).numpy()
    assert np.isfinite(got[removed]).all()  # NaN/-Inf under removed pixels never leak
    kept = (m4 == 1).numpy()
    assert np.array_equal(got[kept], x.double().numpy()[kept], equal_nan=True)  # exactly the image


@pytest.mark.parametrize("fill", [0.0, "mean", "inpaint", "channel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_is_exactly_zero_at_removed_pixels(device, no_sync, fill, weighted):
    x = torch.randn(2, 3, 4, 5, device=device)
    removed = torch.zeros(2, 1, 4, 5, dtype=torch.bool, device=device)
    removed[:, :, 1:3, 2:4] = True
    x = torch.where(removed, float("nan"), x).requires_grad_()
    w = torch.rand(2, 1, 4, 5, device=device) * 0.8 + 0.2
    mask = torch.where(removed, 0.0, w) if weighted else ~removed
    if fill == "channel":
        fill = torch.tensor([1.0, float("inf"), -2.0], device=device)
    with no_sync():
        out = apply_mask(x, mask, fill=fill)
    if not isinstance(fill, torch.Tensor):
        assert torch.isfinite(out).all()
    (out.nan_to_num(0, 0, 0) * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad.masked_select(removed.expand_as(x)) == 0).all()


def test_weighted_extremes_are_exact(device):
    x = torch.tensor([[[1.5, float("nan"), 3.0, 4.0]]], device=device)
    w = torch.tensor([[1.0, 0.0, 1.0, 0.25]], device=device)
    out = apply_mask(x, w, fill=float("inf"))  # w == 1: exactly x, even with an Inf fill
    assert out[0, 0, 0].item() == 1.5 and out[0, 0, 1].item() == float("inf") and out[0, 0, 2].item() == 3.0
    out = apply_mask(x, w, fill=-2.0)
    assert out.cpu().tolist() == [[[1.5, -2.0, 3.0, 4.0 * 0.25 - 2.0 * 0.75]]]


def test_gradcheck_bool_number_fill(device):
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    mask = torch.rand(2, 3, 4, device=device) > 0.5
    assert torch.autograd.gradcheck(lambda t: apply_mask(t, mask, fill=0.5), (x,))
    fill = torch.randn(2, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, f: apply_mask(t, mask, fill=f), (x, fill))


def test_gradcheck_weighted_mean_fill(device):
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    w = (torch.rand(2, 1, 3, 4, dtype=torch.float64, device=device) * 0.8 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda t, v: apply_mask(t, v, fill="mean"), (x, w), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t, v: apply_mask(t, v, fill=-1.0), (x, w))
    mask = torch.rand(3, 4, device=device) > 0.5
    assert torch.autograd.gradcheck(lambda t: apply_mask(t, mask, fill="mean"), (x,))
    assert torch.autograd.gradcheck(
        lambda t: apply_mask(t, mask, fill="inpaint", inpaint_steps=2), (x,), fast_mode=True
    )


def test_mean_fill_empty_and_nan_safe(device, no_sync):
    x = torch.tensor([[[1.0, 3.0], [float("nan"), 100.0]], [[5.0, 5.0], [5.0, 5.0]]], device=device)
    mask = torch.tensor([[True, True], [False, False]], device=device)
    with no_sync():
        out = apply_mask(x, mask, fill="mean")
        empty = apply_mask(x, torch.zeros(2, 2, dtype=torch.bool, device=device), fill="mean")
    assert out.cpu().tolist() == [[[1.0, 3.0], [2.0, 2.0]], [[5.0, 5.0], [5.0, 5.0]]]
    assert (empty == 0).all()  # nothing kept: 0, not NaN


def test_channels_last_round_trip(device, no_sync):
    x = torch.randn(2, 3, 5, 4, device=device)
    mask = torch.rand(2, 5, 4, device=device) > 0.5
    fill_cf = torch.randn(3, 5, 1, device=device)
    with no_sync():
        expected = apply_mask(x, mask, fill=fill_cf)
        out = apply_mask(x.permute(0, 2, 3, 1), mask, fill=fill_cf.permute(1, 2, 0), channels_last=True)
        single = apply_mask(x[0].permute(1, 2, 0), mask[0], fill="inpaint", channels_last=True)
    assert out.shape == (2, 5, 4, 3)
    torch.testing.assert_close(out.permute(0, 3, 1, 2), expected, rtol=0, atol=0)
    torch.testing.assert_close(single.permute(2, 0, 1), apply_mask(x[0], mask[0], fill="inpaint"))


def test_channels_last_is_never_guessed():
    image = torch.zeros(5, 4, 3)  # (H, W, C) without channels_last: read as (C=5, H=4, W=3)
    with pytest.raises(
        ShapeError,
        match=r"mask: expected .* to match image \(5, 4, 3\); got \(5, 4\) .*"
        r"pass channels_last=True",
    ):
        apply_mask(image, torch.ones(5, 4, dtype=torch.bool))


def test_fill_tensor_shapes(device):
    x = torch.randn(3, 2, 4, device=device)
    mask = torch.zeros(2, 4, dtype=torch.bool, device=device)
    assert (apply_mask(x, mask, fill=torch.tensor(2.0, device=device)) == 2).all()
    assert (apply_mask(x, mask, fill=torch.tensor([2.0], device=device)) == 2).all()
    per_channel = apply_mask(x, mask, fill=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, device=device))
    assert per_channel.dtype == torch.float32 and per_channel[:, 0, 0].tolist() == [1.0, 2.0, 3.0]
    row = torch.arange(4.0, device=device)
    assert apply_mask(x, mask, fill=row.view(1, 1, 4))[2, 1].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(
        ShapeError,
        match=r"fill: a 1-D fill is per-channel and needs C = 3 value\(s\) for image "
        r"\(3, 2, 4\).*got \(4,\).*\(1, 1, W\)",
    ):
        apply_mask(x, mask, fill=row)
    with pytest.raises(
        ShapeError, match=r"fill: expected a shape that broadcasts to image \(3, 2, 4\).*got \(2, 2, 4\)"
    ):
        apply_mask(x, mask, fill=torch.zeros(2, 2, 4, device=device))
    with pytest.raises(ShapeError, match="fill: .*got \\(2, 3, 2, 4\\)"):  # would grow the image
        apply_mask(x, mask, fill=torch.zeros(2, 3, 2, 4, device=device))


def test_integer_images(device, no_sync):
    x = torch.arange(12, dtype=torch.uint8, device=device).view(1, 3, 4)
    mask = torch.tensor([[True, False, True, False]] * 3, device=device)
    with no_sync():
        out = apply_mask(x, mask, fill=255)
        out2 = apply_mask(x, mask, fill=torch.tensor([9], dtype=torch.uint8, device=device))
    assert out.dtype == torch.uint8 and out[0, 0].tolist() == [0, 255, 2, 255]
    assert out2[0, 1].tolist() == [4, 9, 6, 9]
    assert apply_mask(x, mask, fill=3.0)[0, 0, 1].item() == 3
    for bad, piece in [(300, "300"), (-1, "-1"), (0.5, "0.5"), (float("nan"), "nan")]:
        with pytest.raises(
            CastError, match=f"fill: .*{piece}.*image's dtype uint8.*uint8 holds whole numbers in \\[0, 255\\]"
        ):
            apply_mask(x, mask, fill=bad)
    with pytest.raises(
        DTypeError, match=r"fill: a torch.float32 fill cannot be stored exactly in the torch.uint8 image"
    ):
        apply_mask(x, mask, fill=torch.tensor([1.0], device=device))
    with pytest.raises(
        DTypeError, match=r"image: a floating \(weight\) mask needs a floating image; got \(1, 3, 4\) uint8"
    ):
        apply_mask(x, mask.float())
    with pytest.raises(DTypeError, match=r"image: fill='mean' needs a floating image.*`image.float\(\)`"):
        apply_mask(x, mask, fill="mean")
    with pytest.raises(DTypeError, match=r"image: fill='inpaint' needs a floating image"):
        inpaint(x, mask)


def test_dtype_preserved(device):
    mask = torch.rand(4, 4, device=device) > 0.5
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        x = torch.randn(2, 4, 4, device=device, dtype=dtype)
        for fill in (0.0, "mean", "inpaint"):
            assert apply_mask(x, mask, fill=fill).dtype == dtype
            assert apply_mask(x, mask.double(), fill=fill).dtype == dtype


def test_errors():
    x = torch.zeros(3, 4, 5)
    ok = torch.ones(4, 5, dtype=torch.bool)
    with pytest.raises(DTypeError, match=r"mask: expected a bool or floating .*got \(4, 5\) uint8.*`mask > 0`"):
        apply_mask(x, ok.to(torch.uint8))
    with pytest.raises(MaskValueError, match=r"mask: a floating mask is a weight .*\[0, 255\]"):
        apply_mask(x, torch.arange(20.0).view(4, 5).gt(9).float() * 255)
    with pytest.raises(
        ShapeError,
        match=r"mask: expected \(H, W\) or \(1, H, W\) = \(4, 5\) or \(1, 4, 5\) .*"
        r"to match image \(3, 4, 5\); got \(2, 4, 5\) bool",
    ):
        apply_mask(x, torch.ones(2, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"fill: expected one of 'mean', 'inpaint'; got 'median'"):
        apply_mask(x, ok, fill="median")
    with pytest.raises(DTypeError, match=r"fill: expected a number, a tensor, 'mean' or 'inpaint'; got list"):
        apply_mask(x, ok, fill=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"inpaint_steps: only used with fill='inpaint'; got inpaint_steps=3"):
        apply_mask(x, ok, fill=0.0, inpaint_steps=3)
    with pytest.raises(ValueError, match=r"inpaint_steps: expected an int >= 0; got -1"):
        apply_mask(x, ok, fill="inpaint", inpaint_steps=-1)
    with pytest.raises(ValueError, match=r"steps: expected an int >= 0; got -1"):  # issue 10 #13: inpaint's name
        inpaint(x, ok, steps=-1)
    with pytest.raises(DeviceError, match=r"mask: expected a tensor on cpu like image; got \(4, 5\) bool on meta"):
        apply_mask(x, ok.to("meta"))
    with pytest.raises(DeviceError, match=r"fill: expected a tensor on cpu like image"):
        apply_mask(x, ok, fill=torch.zeros(3, device="meta"))
    with pytest.raises(
        ShapeError, match=r"image: expected \(C, H, W\) or \(B, C, H, W\); got \(4, 5\).*`image\[None\]`"
    ):
        apply_mask(x[0], ok)


def test_compiled_bool_mask_matches_eager(device):
    x = torch.randn(2, 3, 5, 6, device=device)
    mask = torch.rand(2, 5, 6, device=device) > 0.5
    backend = "inductor" if device.type == "cuda" else "aot_eager"  # fullgraph is what we test; CPU stays fast
    fn = torch.compile(apply_mask, fullgraph=True, backend=backend)
    torch.testing.assert_close(fn(x, mask, fill=-1.0), apply_mask(x, mask, fill=-1.0), rtol=0, atol=0)


# ---------------------------------------------------------------- inpaint


@_FIXTURES_OK
@given(
    st.integers(1, 2),
    st.integers(1, 2),
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from([0.0, 0.2, 0.7, 1.0]),
    st.integers(0, 3),
    st.integers(0, 2**16),
    st.sampled_from([torch.float32, torch.float64, torch.float16]),
)
def test_inpaint_properties(device, no_sync, b, c, h, w, p, steps, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g, dtype=torch.float64) * 4 - 1
    mask = torch.rand(b, c, h, w, generator=g) < p  # per-channel masks: each channel on its own
    x = torch.where(mask, x, float("nan")).to(dtype)
    with no_sync():
        out = inpaint(x.to(device), mask.to(device), steps=steps)
    out = out.cpu()
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert torch.equal(out[mask], x[mask])  # kept pixels unchanged exactly
    tol = 1e-2 if dtype == torch.float16 else 1e-6
    for i in range(b):
        for j in range(c):
            kept = x[i, j][mask[i, j]].double()
            filled = out[i, j].double()
            if kept.numel() == 0:
                assert (filled == 0).all()  # no valid pixel at all: 0
            else:  # a convex combination of valid pixels: inside their range
                assert filled.min() >= kept.min() - tol and filled.max() <= kept.max() + tol
    # batch items are independent
    torch.testing.assert_close(inpaint(x[:1], mask[:1], steps=steps), out[:1].to(x.dtype))


def test_inpaint_constant_image_and_full_mask(device):
    x = torch.full((1, 2, 7, 5), 3.25, device=device)
    mask = torch.rand(7, 5, device=device) > 0.6
    mask[3, 2] = True
    torch.testing.assert_close(inpaint(x, mask), x)
    y = torch.randn(2, 7, 5, device=device)
    assert torch.equal(inpaint(y, torch.ones(7, 5, dtype=torch.bool, device=device)), y)
    assert inpaint(torch.tensor([[[5.0]]], device=device), torch.tensor([[False]], device=device)).item() == 0.0


def test_inpaint_smooth_image_beats_mean_fill(device):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 32), indexing="ij")
    image = (torch.sin(3 * xx) + yy**2)[None].to(device)
    mask = torch.ones(24, 32, dtype=torch.bool, device=device)
    mask[5:11, 4:12] = False
    mask[15:20, 20:30] = False
    hole = ~mask
    err_inpaint = (inpaint(image, mask) - image)[0][hole].abs().mean()
    err_mean = (apply_mask(image, mask, fill="mean") - image)[0][hole].abs().mean()
    assert err_inpaint < 0.25 * err_mean
    assert err_inpaint < 0.05  # values span ~2
    more = (inpaint(image, mask, steps=40) - image)[0][hole].abs().mean()
    # issue 11 item 2: the smoothing runs at half resolution now; on this tiny image (holes of 6x8 px)
    # its converged state is a little coarser than 4 steps, so "more" is compared with pull-push alone
    push_pull = (inpaint(image, mask, steps=0) - image)[0][hole].abs().mean()
    assert more <= push_pull and err_inpaint <= push_pull


def test_inpaint_weighted_and_same_as_apply_mask(device):
    x = torch.randn(2, 3, 6, 5, device=device)
    w = torch.rand(2, 1, 6, 5, device=device)
    bool_mask = w > 0.5
    torch.testing.assert_close(
        inpaint(x, bool_mask, steps=2), apply_mask(x, bool_mask, fill="inpaint", inpaint_steps=2)
    )
    filled = inpaint(x, w)
    assert torch.isfinite(filled).all()
    # a weight of 1 keeps the pixel, 0 replaces it by the estimate from the others
    w01 = (w > 0.5).float()
    torch.testing.assert_close(inpaint(x, w01), inpaint(x, w01 > 0))


@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 3, 0, 5), (2, 0, 4, 5)])
@pytest.mark.parametrize("fill", [0.0, "mean", "inpaint"])
def test_empty_images(device, shape, fill):
    x = torch.zeros(shape, device=device)
    mask = torch.ones(shape[0], shape[2], shape[3], dtype=torch.bool, device=device)
    assert apply_mask(x, mask, fill=fill).shape == shape


# issue 10 regressions ------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", [0.0, 2.0, "mean", "inpaint", "tensor"])
def test_nan_under_a_removed_pixel_stays_out_of_the_mask_gradient_issue10_3(device, fill):
    # w.grad was [1, nan]: lerp's d/dw = x - fill took the NaN under the removed pixel along.
    x = torch.tensor([[[1.0, float("nan"), 3.0, float("inf")]]], dtype=torch.float64, device=device)
    w = torch.tensor([[1.0, 0.0, 0.5, 0.0]], dtype=torch.float64, device=device, requires_grad=True)
    if fill == "tensor":
        fill = torch.tensor([[[-1.0, 4.0, float("inf"), 0.5]]], dtype=torch.float64, device=device)
        fill[..., 2] = -1.0  # an Inf fill under w == 1 only (position 0 would be kept exactly)
        fill[..., 0] = float("inf")
    out = apply_mask(x, w, fill=fill)
    assert out[..., 1:].isfinite().all() and out[..., 0].item() == 1.0
    out.sum().backward()
    assert w.grad.isfinite().all(), w.grad
    if not isinstance(fill, str):  # where all is finite, d/dw is the blend's x - fill (by hand)
        f = fill[0, 0, 2].item() if isinstance(fill, torch.Tensor) else fill
        assert w.grad[0, 2].item() == pytest.approx(3.0 - f)


def test_nan_image_gives_no_nan_mask_gradient_exact_numbers_issue10_3(device):
    x = torch.tensor([[[1.0, float("nan")]]], device=device)
    w = torch.tensor([[1.0, 0.0]], device=device, requires_grad=True)
    apply_mask(x, w).sum().backward()
    assert w.grad.tolist() == [[1.0, 0.0]]  # d/dw (x w + 0 (1 - w)) with the removed NaN read as 0


@pytest.mark.parametrize("w", [0.25, 0.5, 0.75])
def test_partial_weight_with_infinite_image_or_fill_is_inf_issue10_4(device, w):
    # lerp(f, x, w) for w >= 0.5 computes x - (x - f)(1 - w): Inf - Inf = NaN for an infinite image.
    inf = float("inf")
    x = torch.tensor([[[inf, -inf, 2.0, 2.0, inf]]], device=device)
    f = torch.tensor([[[0.0, 1.0, inf, -inf, -inf]]], device=device)
    m = torch.full((1, 5), w, device=device)
    ref = x * w + f * (1 - w)  # the plain formula: +-Inf, and NaN only for Inf - Inf
    out = apply_mask(x, m, fill=f)
    assert torch.equal(out.isnan(), ref.isnan()) and torch.equal(out.nan_to_num(0), ref.nan_to_num(0)), (out, ref)
    assert apply_mask(x[..., :2], m[..., :2], fill=3.0).tolist() == [[[inf, -inf]]]
    assert apply_mask(torch.ones(1, 1, 2, device=device), m[..., :2], fill=-inf).tolist() == [[[-inf, -inf]]]


def test_apply_mask_leaves_its_inputs_alone_issue10_1(device):
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.uint8, torch.int64, torch.float32, torch.bfloat16):
        image = (torch.rand(2, 3, 4, 4, generator=g) * 9).to(dtype).to(device)
        mask = (torch.rand(2, 1, 4, 4, generator=g) > 0.5).to(device)
        before = image.clone(), mask.clone()
        apply_mask(image, mask, fill=1)
        if dtype.is_floating_point:
            apply_mask(image, mask.to(dtype), fill="mean")
            apply_mask(image, mask, fill="inpaint")
        assert torch.equal(image, before[0]) and torch.equal(mask.view(torch.uint8), before[1].view(torch.uint8))


@pytest.mark.parametrize("steps, error", [(-1, ValueError), ("x", TypeError), (1.5, TypeError)])
def test_inpaint_steps_error_names_steps_issue10_13(steps, error):
    # the message named apply_mask's inpaint_steps, which the caller of inpaint never wrote
    with pytest.raises(error, match=r"^steps: expected an int"):
        inpaint(torch.zeros(1, 2, 2), torch.ones(2, 2, dtype=torch.bool), steps=steps)


# issue 11: the bool-mask select on CPU is bitwise, and exactly torch.where ----------------------------


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.uint8, torch.int64]
)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_bool_mask_select_is_bit_exact_torch_where(device, dtype, layout):
    g = torch.Generator().manual_seed(3)
    raw = torch.randn(2, 3, 6, 8, generator=g) * 50
    if dtype.is_floating_point:
        raw[0, 0, 0, :4] = torch.tensor([float("nan"), -0.0, float("inf"), -float("inf")])
    image = raw.to(dtype) if dtype.is_floating_point else raw.abs().to(dtype)
    if layout == "channels_last":
        image = image.to(memory_format=torch.channels_last)
    elif layout == "sliced":
        image = torch.cat([image, image], -1)[..., ::2]
    image = image.to(device)
    mask = (torch.rand(2, 1, 6, 8, generator=g) > 0.4).to(device)
    fills = [0, 1, torch.arange(3, device=device).to(dtype), torch.ones(6, 8, device=device).to(dtype) * 7]
    if dtype.is_floating_point:
        fills += [-0.0, float("nan")]
    for fill in fills:
        got = apply_mask(image, mask, fill=fill)
        f = fill.view(1, -1, 1, 1) if isinstance(fill, torch.Tensor) and fill.ndim == 1 else fill
        ref = torch.where(mask, image, torch.as_tensor(f, dtype=dtype, device=device))
        assert got.dtype == dtype and got.shape == image.shape
        width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[dtype.itemsize]
        assert torch.equal(got.contiguous().view(width), ref.contiguous().view(width)), fill  # bit for bit


def test_bool_mask_select_double_backward(device):
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    fill = torch.randn(2, dtype=torch.float64, device=device, requires_grad=True)
    mask = torch.rand(3, 4, device=device) > 0.5
    assert torch.autograd.gradgradcheck(lambda t, f: apply_mask(t, mask, fill=f), (x, fill))


def test_inpaint_steps_are_capped_issue10_11():
    # steps=10**400 looped (practically) forever
    with pytest.raises(ValueError, match=r"^steps: expected an int <= 10000"):
        inpaint(torch.zeros(1, 2, 2), torch.ones(2, 2, dtype=torch.bool), steps=10**400)
    with pytest.raises(ValueError, match=r"^inpaint_steps: expected an int <= 10000"):
        apply_mask(torch.zeros(1, 2, 2), torch.ones(2, 2, dtype=torch.bool), fill="inpaint", inpaint_steps=10**6)


@pytest.mark.parametrize(
    "name, bound",
    # the hole errors the previous algorithm (full-resolution avg_pool2d smoothing, commit 5688893)
    # reached on these images; the half-resolution smoothing keeps or improves them (issue 11 item 2)
    [("scene128", 0.09209), ("chelsea", 0.07712)],
)
def test_inpaint_hole_error_no_worse_than_before_issue11(device, name, bound):
    if name == "chelsea":
        image = sample_image("chelsea")  # (3, 300, 451), the photo of notebook 01
        hole = synthetic_scene(tuple(image.shape[-2:]), num_classes=3, seed=3).mask
    else:
        image, hole = synthetic_scene(128, seed=1).image, synthetic_scene(128, seed=11).mask
    out = inpaint(image.to(device), ~hole.to(device)).cpu()
    err = (out - image).abs()[:, hole].mean().item()
    assert err < bound
    assert torch.equal(out[:, ~hole], image[:, ~hole])
    mean_err = (apply_mask(image, ~hole, fill="mean") - image).abs()[:, hole].mean().item()
    assert err < 0.75 * mean_err


def test_inpaint_scaled_path_matches_plain_ops():
    # the slice-arithmetic helpers are F.interpolate (bilinear, x2) and a zero-padded 3x3 box sum
    from maskbench.kernels.apply import _box3, _upsample2

    c = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    up = torch.nn.functional.interpolate(c, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(_upsample2(c, (10, 14)), up)
    torch.testing.assert_close(_upsample2(c, (9, 13)), up[..., :9, :13])
    box = torch.nn.functional.avg_pool2d(c, 3, stride=1, padding=1, divisor_override=1)
    torch.testing.assert_close(_box3(c), box)
    # the bit-select fast path (CPU, no grad) and the autograd path give the same result
    x, mask = torch.rand(2, 3, 33, 20), torch.rand(2, 1, 33, 20) > 0.4
    torch.testing.assert_close(inpaint(x, mask), inpaint(x.requires_grad_(), mask).detach(), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_cpu_bit_paths_match_the_autograd_paths_issue11(dtype):
    # weight mask with fill 0, and fill="mean" with a bool mask, take in-place bit paths on CPU
    # without autograd: same values as the differentiable path, NaN/Inf under removed pixels kept out
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 11, generator=g).to(dtype)
    w = torch.rand(2, 1, 9, 11, generator=g).to(dtype)
    w[w < 0.3] = 0.0
    w[0, 0, 0, :3] = -0.0  # a -0.0 weight removes too
    x[:, :, 0, :4] = float("nan")
    x[:, 1, 1, w[0, 0, 1] == 0] = float("inf")
    keep = w > 0
    for mask, fill in ((w, 0.0), (keep, "mean"), (keep, 0.0)):
        fast = apply_mask(x, mask, fill=fill)
        slow = apply_mask(x.clone().requires_grad_(), mask, fill=fill).detach()
        torch.testing.assert_close(fast, slow, rtol=0, atol=0, equal_nan=True)  # NaN kept where w > 0
        if fill == 0.0:  # (a kept NaN makes the mean NaN, as any mean)
            assert (fast[~keep.expand_as(x)] == 0).all()
    torch.testing.assert_close(apply_mask(x, w), torch.where(keep, x * w, 0.0), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_weighted_zero_fill_finite_image_shortcut_issue11(dtype):
    # a finite image takes the plain product (no bit pass); one whose sum overflows, or with a
    # NaN/Inf anywhere, takes the AND path: all give the differentiable path's values
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 17, 5, generator=g).to(dtype)
    w = torch.rand(3, 1, 17, 5, generator=g).to(dtype)
    w[w < 0.4] = 0.0
    w[1, 0, 2, :2] = -0.0
    big = torch.full_like(x, torch.finfo(dtype).max / 2)  # finite, but its sum overflows
    nan_far = x.clone()
    nan_far[2, 1, 16, 4] = float("nan")
    nan_far[0, 0, 0, 0] = float("inf")
    w[0, 0, 0, 0] = 0.0
    for image in (x, big, nan_far):
        before, w_before = image.clone(), w.clone()
        fast = apply_mask(image, w)
        slow = apply_mask(image.clone().requires_grad_(), w).detach()
        torch.testing.assert_close(fast, slow, rtol=0, atol=0, equal_nan=True)
        ref = torch.where(w > 0, image * w, 0.0)  # numerically: -0.0 == 0
        torch.testing.assert_close(fast, ref, rtol=0, atol=0, equal_nan=True)
        assert torch.equal(image, before) or torch.isnan(image).any()
        torch.testing.assert_close(image, before, equal_nan=True)
        assert torch.equal(w, w_before)
    # a per-channel weight and an unbatched image take the same shortcut
    wc = w.expand(3, 2, 17, 5).contiguous()
    torch.testing.assert_close(apply_mask(x, wc), torch.where(wc > 0, x * wc, 0.0), rtol=0, atol=0)
    torch.testing.assert_close(apply_mask(x[0], w[0, 0]), torch.where(w[0] > 0, x[0] * w[0], 0.0), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mask_kind", ["random", "empty", "full", "per_channel"])
def test_mean_fill_bit_path_vs_loop_issue11(dtype, mask_kind):
    # the CPU mean fill writes kept + mean * removed in integer arithmetic on the bit patterns:
    # kept pixels bit for bit (NaN payloads, -0.0), removed ones the loop's mean, NaN under removed ignored
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 7, 9, generator=g).to(dtype)
    x[0, 0, 0, 0] = -0.0
    shape = (2, 3, 7, 9) if mask_kind == "per_channel" else (2, 1, 7, 9)
    mask = {"empty": torch.zeros(shape, dtype=torch.bool), "full": torch.ones(shape, dtype=torch.bool)}.get(
        mask_kind, torch.rand(shape, generator=g) > 0.5
    )
    mask[0, 0, 0, 0] = mask_kind != "empty"
    removed = ~mask.expand_as(x)
    x[removed & (torch.rand(x.shape, generator=g) > 0.5)] = float("nan")
    before, mask_before = x.clone(), mask.clone()
    out = apply_mask(x, mask, fill="mean")
    for b in range(2):
        for c in range(3):
            keep = mask[b, c if mask.shape[1] == 3 else 0]
            kept = x[b, c][keep].double()
            mean = kept.mean() if kept.numel() else torch.tensor(0.0, dtype=torch.float64)
            assert torch.equal(out[b, c][keep].view(torch.uint8), x[b, c][keep].view(torch.uint8))
            torch.testing.assert_close(out[b, c][~keep].double(), mean.expand((~keep).sum()), rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(out, apply_mask(x.clone().requires_grad_(), mask, fill="mean").detach(), rtol=0, atol=0)
    torch.testing.assert_close(x, before, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(mask, mask_before)
