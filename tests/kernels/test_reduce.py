"""masked_sum / masked_mean / masked_std: loop and numpy references, empty selections, leaks, grads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskbench import DeviceError, DTypeError, MaskValueError, ShapeError, masked_mean, masked_std, masked_sum

# no_sync is a function-scoped factory of fresh context managers: safe to reuse across examples
_FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_TOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 5e-2}


@st.composite
def cases(draw, weights: bool = False):
    """x shape, a mask shape that broadcasts to it without growing it, dims, keepdim, dtype."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    cut = draw(st.integers(0, len(shape)))  # the mask may drop leading dims ...
    mshape = tuple(s if draw(st.booleans()) else 1 for s in shape[cut:])  # ... and set others to 1
    dims = draw(st.one_of(st.none(), st.sets(st.integers(0, len(shape) - 1), min_size=1).map(tuple)))
    if dims is not None and draw(st.booleans()):
        dims = tuple(d - len(shape) for d in dims)  # negative dims too
    if dims is not None and len(dims) == 1 and draw(st.booleans()):
        dims = dims[0]
    keepdim = draw(st.booleans())
    dtype = draw(st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16]))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if weights:
        m = torch.rand(mshape, generator=g, dtype=torch.float64)
        m = torch.where(m < 0.3, 0.0, torch.where(m > 0.8, 1.0, m))  # exact 0s and 1s too
    else:
        m = torch.rand(mshape, generator=g) < draw(st.sampled_from([0.0, 0.5, 1.0]))
    # NaN/Inf wherever the (broadcast) mask excludes: they must not leak
    excluded = ~(m > 0).expand(shape)
    x = torch.where(excluded & (torch.rand(shape, generator=g) < 0.5), float("nan"), x)
    x = torch.where(excluded & (torch.rand(shape, generator=g) < 0.3), float("inf"), x)
    return x.to(dtype), m, dims, keepdim


def _loop_reference(x, m, dims, keepdim, correction, empty):
    """Per output element: gather the selected values and reduce them in plain Python."""
    xn = x.double().numpy()
    mn = np.broadcast_to(m.numpy(), xn.shape)
    nd = xn.ndim
    red = tuple(range(nd)) if dims is None else tuple(d % nd for d in (dims if isinstance(dims, tuple) else (dims,)))
    keep_axes = [d for d in range(nd) if d not in red]
    out_shape = tuple(xn.shape[d] for d in keep_axes)
    xr = np.transpose(xn, keep_axes + list(red)).reshape(out_shape + (-1,))
    mr = np.transpose(mn, keep_axes + list(red)).reshape(out_shape + (-1,))
    sums, means, stds = (np.empty(out_shape) for _ in range(3))
    for idx in np.ndindex(*out_shape):
        vals = [float(v) for v, k in zip(xr[idx], mr[idx]) if k]
        n = len(vals)
        sums[idx] = math.fsum(vals)
        means[idx] = sums[idx] / n if n else empty
        stds[idx] = (
            math.sqrt(math.fsum((v - sums[idx] / n) ** 2 for v in vals) / (n - correction)) if n > correction else empty
        )
    if keepdim:
        full = tuple(1 if d in red else xn.shape[d] for d in range(nd))
        sums, means, stds = (a.reshape(full) for a in (sums, means, stds))
    return sums, means, stds


def _close(actual, expected, dtype):
    tol = _TOL[dtype]
    a = actual.detach().double().cpu().numpy()
    assert a.shape == np.shape(expected), (a.shape, np.shape(expected))
    np.testing.assert_allclose(a, expected, rtol=tol, atol=tol * 8, equal_nan=True)


@_FIXTURES_OK
@given(cases(), st.sampled_from([0, 1]), st.sampled_from([0.0, float("nan")]))
def test_bool_mask_against_loop(device, no_sync, case, correction, empty):
    x, m, dims, keepdim = case
    xs, ms = x.to(device), m.to(device)
    with no_sync():
        s = masked_sum(xs, ms, dim=dims, keepdim=keepdim)
        mean = masked_mean(xs, ms, dim=dims, keepdim=keepdim, empty=empty)
        std = masked_std(xs, ms, dim=dims, keepdim=keepdim, correction=correction, empty=empty)
    assert s.dtype == mean.dtype == std.dtype == x.dtype
    ref_s, ref_mean, ref_std = _loop_reference(x, m, dims, keepdim, correction, empty)
    if x.dtype in (torch.float16, torch.bfloat16):  # compare against the values the input holds
        ref_s, ref_mean, ref_std = (
            np.asarray(torch.tensor(r).to(x.dtype).double()) for r in (ref_s, ref_mean, ref_std)
        )
    _close(s, ref_s, x.dtype)
    _close(mean, ref_mean, x.dtype)
    _close(std, ref_std, x.dtype)


@given(cases(weights=True))
def test_weighted_against_numpy(device, case):
    x, w, dims, keepdim = case
    xn = x.double().numpy()
    wn = np.broadcast_to(w.numpy(), xn.shape)
    axis = None if dims is None else dims
    xs = np.where(wn > 0, xn, 0.0)
    total = (xs * wn).sum(axis=axis, keepdims=keepdim)
    count = wn.sum(axis=axis, keepdims=keepdim)
    mean = np.where(count > 0, total / np.where(count > 0, count, 1), 0.0)
    mean_k = np.where(
        wn.sum(axis=axis, keepdims=True) > 0,
        (xs * wn).sum(axis=axis, keepdims=True) / np.maximum(wn.sum(axis=axis, keepdims=True), 1e-300),
        0,
    )
    var = (np.where(wn > 0, xs - mean_k, 0) ** 2 * wn).sum(axis=axis, keepdims=keepdim)
    std = np.where(count > 1, np.sqrt(np.abs(var) / np.where(count > 1, count - 1, 1)), 0.0)
    xd, wd = x.to(device), w.to(device)
    _close(masked_sum(xd, wd, dim=dims, keepdim=keepdim), total, x.dtype)
    _close(masked_mean(xd, wd, dim=dims, keepdim=keepdim), mean, x.dtype)
    _close(masked_std(xd, wd, dim=dims, keepdim=keepdim), std, x.dtype)


def test_full_mask_matches_torch(device):
    x = torch.randn(2, 3, 5, device=device, dtype=torch.float64)
    ones = torch.ones(5, dtype=torch.bool, device=device)
    torch.testing.assert_close(masked_sum(x, ones, dim=(0, 2)), x.sum((0, 2)))
    torch.testing.assert_close(masked_mean(x, ones, dim=-1, keepdim=True), x.mean(-1, keepdim=True))
    torch.testing.assert_close(masked_std(x, ones, dim=1), x.std(1))
    torch.testing.assert_close(masked_std(x, ones, correction=0), x.std(correction=0))
    torch.testing.assert_close(masked_mean(x, torch.ones(5, dtype=torch.float64, device=device)), x.mean())


def test_count_is_the_broadcast_mask(device):
    b, c, h, w = 2, 3, 4, 5
    mask = torch.zeros(h, w, dtype=torch.bool, device=device)
    mask[1:3, 2:] = True  # 6 pixels
    x = torch.ones(b, c, h, w, device=device)
    assert masked_sum(x, mask).item() == b * c * 6
    assert masked_mean(x * 3, mask).item() == 3.0
    assert masked_sum(x, mask, dim=(2, 3)).shape == (b, c)
    assert (masked_sum(x, mask, dim=(2, 3)) == 6).all()


@pytest.mark.parametrize("empty", [0.0, float("nan"), -1.0])
def test_empty_selection_value_and_zero_gradient(device, no_sync, empty):
    x = torch.tensor([[1.0, float("nan"), float("inf")], [1.0, 2.0, 3.0]], device=device, requires_grad=True)
    mask = torch.tensor([[False, False, False], [True, True, True]], device=device)
    with no_sync():
        mean = masked_mean(x, mask, dim=1, empty=empty)
        std = masked_std(x, mask, dim=1, empty=empty)
        s = masked_sum(x, mask, dim=1)
    exp0 = empty
    assert mean[1].item() == 2.0 and std[1].item() == 1.0 and s.tolist() == [0.0, 6.0]
    for v in (mean[0].item(), std[0].item()):
        assert (math.isnan(v) and math.isnan(exp0)) or v == exp0
    (mean.nan_to_num(0).sum() + std.nan_to_num(0).sum() + s.sum()).backward()
    g = x.grad.cpu()
    assert torch.isfinite(g).all() and (g[0] == 0).all()
    assert torch.allclose(g[1], torch.tensor([1 / 3 - 1 / 2 + 1, 1 / 3 + 1, 1 / 3 + 1 / 2 + 1]))


def test_weight_zero_excludes_nan_but_keeps_weight_gradient(device):
    x = torch.tensor([2.0, float("nan"), 4.0], device=device, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.5, 0.0, 1.0], device=device, dtype=torch.float64, requires_grad=True)
    out = masked_mean(x, w)
    assert out.item() == pytest.approx((2 * 0.5 + 4) / 1.5)
    out.backward()
    assert x.grad[1].item() == 0.0 and torch.isfinite(w.grad).all()
    x2 = torch.tensor([2.0, 3.0, 4.0], device=device, dtype=torch.float64, requires_grad=True)
    w2 = w.detach().clone().requires_grad_()
    masked_mean(x2, w2).backward()
    # d mean / d w_i = (x_i - mean) / sum(w), also at w_i == 0 (finite x_i)
    expected = (x2.detach() - masked_mean(x2.detach(), w2.detach())) / 1.5
    torch.testing.assert_close(w2.grad, expected)


def test_std_edge_cases(device):
    x = torch.tensor([[5.0, 5.0, 5.0], [1.0, 9.0, 9.0]], device=device, requires_grad=True)
    one = torch.tensor([[True, True, True], [True, False, False]], device=device)
    std = masked_std(x, one, dim=1)  # row 0: zero spread; row 1: count 1 <= correction 1
    assert std.tolist() == [0.0, 0.0]
    std.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad == 0).all()  # no NaN from sqrt'(0)
    assert masked_std(x, one, dim=1, correction=0).tolist() == [0.0, 0.0]
    assert math.isnan(masked_std(x, one, dim=1, correction=2, empty=float("nan"))[1].item())
    assert masked_std(x, one, dim=1, correction=1.5).tolist()[0] == pytest.approx(0.0)


def test_gradcheck_float64(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
    mask = (torch.rand(3, 4, generator=g) > 0.4).to(device)
    mask[0] = False  # one empty row
    w = (torch.rand(3, 1, generator=g, dtype=torch.float64) * 0.8 + 0.1).to(device).requires_grad_()
    for fn in (masked_sum, masked_mean, masked_std):
        assert torch.autograd.gradcheck(lambda t: fn(t, mask, dim=(0, 2)), (x,))
        assert torch.autograd.gradcheck(lambda t, v: fn(t, v, dim=-1, keepdim=True), (x, w))


def test_half_precision_accumulates_in_float32(device):
    x = torch.ones(300, 300, dtype=torch.float16, device=device)  # 90000 > float16 max 65504
    mask = torch.ones(300, 300, dtype=torch.bool, device=device)
    assert masked_mean(x, mask).item() == 1.0 and masked_std(x, mask).item() == 0.0
    assert masked_mean(x.bfloat16(), mask).item() == 1.0


def test_integer_x_sum(device):
    x = torch.tensor([[1, 2], [3, 4]], dtype=torch.uint8, device=device)
    out = masked_sum(x, torch.tensor([True, False], device=device), dim=0)
    assert out.dtype == torch.int64 and out.tolist() == [4, 0]


def test_0d_input(device):
    x = torch.tensor(3.0, device=device)
    assert masked_mean(x, torch.tensor(True, device=device)).item() == 3.0
    assert masked_sum(x, torch.tensor(False, device=device), dim=0).item() == 0.0


def test_compiled_masked_mean_matches_eager(device):
    x = torch.randn(2, 3, 5, 4, device=device)
    mask = torch.rand(2, 1, 5, 4, device=device) > 0.5
    backend = "inductor" if device.type == "cuda" else "aot_eager"  # fullgraph is what we test; CPU stays fast
    fn = torch.compile(masked_mean, fullgraph=True, backend=backend)
    torch.testing.assert_close(
        fn(x, mask, dim=(2, 3), empty=float("nan")),
        masked_mean(x, mask, dim=(2, 3), empty=float("nan")),
        equal_nan=True,
    )


def test_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(ShapeError, match=r"mask: expected a shape that broadcasts to x \(2, 3\) .*got \(3, 3\) bool"):
        masked_sum(x, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"mask: .*got \(4, 2, 3\)"):
        masked_mean(x, torch.ones(4, 2, 3, dtype=torch.bool))  # would grow x
    with pytest.raises(DTypeError, match=r"mask: expected a bool or floating .*`mask > 0`"):
        masked_mean(x, torch.ones(3, dtype=torch.uint8))
    with pytest.raises(MaskValueError, match=r"mask: a floating mask is a weight"):
        masked_std(x, torch.full((3,), 2.0))
    with pytest.raises(DTypeError, match=r"x: masked_mean needs a floating x; got \(2, 3\) int64.*`x.float\(\)`"):
        masked_mean(x.long(), torch.ones(3, dtype=torch.bool))
    with pytest.raises(DTypeError, match=r"x: masked_sum needs a floating x \(or an integer x with a bool mask\)"):
        masked_sum(x.long(), torch.ones(3))
    with pytest.raises(ShapeError, match=r"dim: expected a value in \[-2, 1\] for x with 2 dimension\(s\); got 2"):
        masked_sum(x, torch.ones(3, dtype=torch.bool), dim=2)
    with pytest.raises(ValueError, match="dim: each dimension may appear once; got \\(1, -1\\)"):
        masked_sum(x, torch.ones(3, dtype=torch.bool), dim=(1, -1))
    with pytest.raises(ValueError, match="dim=None"):
        masked_sum(x, torch.ones(3, dtype=torch.bool), dim=())
    with pytest.raises(TypeError, match="dim: expected an int; got float"):
        masked_sum(x, torch.ones(3, dtype=torch.bool), dim=1.0)
    with pytest.raises(TypeError, match="empty: expected a Python number; got str"):
        masked_mean(x, torch.ones(3, dtype=torch.bool), empty="nan")
    with pytest.raises(ValueError, match="correction: expected a number >= 0; got -1"):
        masked_std(x, torch.ones(3, dtype=torch.bool), correction=-1)
    with pytest.raises(DeviceError, match="mask: expected a tensor on cpu like x"):
        masked_sum(x, torch.ones(3, dtype=torch.bool, device="meta"))
    with pytest.raises(DTypeError, match="x: expected a torch.Tensor"):
        masked_sum([1.0], torch.ones(1, dtype=torch.bool))


# issue 10 regressions ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("weights", [False, True])
def test_std_of_a_selected_nan_or_inf_is_nan_like_torch_std_issue10_2(device, bad, weights):
    # masked_std returned 0 (and a NaN gradient) when a selected element was NaN/Inf.
    x = torch.tensor([[1.0, bad, 3.0, 100.0], [1.0, 2.0, 4.0, bad]], dtype=torch.float64, device=device)
    x.requires_grad_(True)
    keep = torch.tensor([True, True, True, False], device=device)
    mask = keep.double() if weights else keep
    out = masked_std(x, mask, dim=1)
    ref = torch.std(x.detach()[:, :3], dim=1)  # the same selection, by slicing
    assert ref[0].isnan() and out[0].isnan(), (out, ref)
    torch.testing.assert_close(out[1], ref[1])
    out.sum().backward()
    xr = x.detach()[:, :3].clone().requires_grad_(True)
    torch.std(xr, dim=1).sum().backward()
    assert x.grad[0, :3].isnan().all() and xr.grad[0].isnan().all()  # like torch.std: NaN in, NaN grad
    torch.testing.assert_close(x.grad[1, :3], xr.grad[1])
    assert x.grad[:, 3].eq(0).all()  # the excluded column (with Inf/NaN in row 1) gets exactly 0


def test_std_nan_matches_masked_mean_convention_issue10_2(device):
    x = torch.tensor([2.0, math.nan, 5.0], device=device)
    mask = torch.tensor([True, True, False], device=device)
    assert masked_mean(x, mask).isnan() and masked_std(x, mask).isnan()
    assert masked_std(x, mask, correction=0).isnan()
    assert masked_std(x, torch.tensor([True, False, True], device=device)).item() == pytest.approx(2.1213203)
