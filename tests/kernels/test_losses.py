"""Masked losses: float64 formulas, torch where conventions match, empty/NaN rules, gradients, compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maskbench as mb
from maskbench import (
    DeviceError,
    DiceLoss,
    DTypeError,
    MaskedBCEWithLogitsLoss,
    MaskedCrossEntropyLoss,
    MaskedL1Loss,
    MaskedMSELoss,
    MaskValueError,
    ShapeError,
    dice_loss,
    masked_bce_with_logits,
    masked_cross_entropy,
    masked_l1,
    masked_loss,
    masked_mse,
)

NAN, INF = float("nan"), float("inf")
F64 = torch.float64
# no_sync is a factory of fresh context managers: safe to reuse across hypothesis examples
_FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --- float64 references (numpy, written from the formulas, not from the code under test) ---------


def _np(t):
    return t.detach().cpu().double().numpy()


def ref_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def ref_reduce(loss, w, reduction, empty=0.0):
    """w: weights (bool or float) broadcast to loss; excluded loss values may be NaN."""
    w = np.broadcast_to(np.asarray(w, dtype=float), loss.shape)
    with np.errstate(invalid="ignore"):
        kept = np.where(w > 0, loss * w, 0.0)
    if reduction == "none":
        return kept
    if reduction == "sum":
        return kept.sum()
    return kept.sum() / w.sum() if w.sum() > 0 else empty


def ref_bce(x, t, w, reduction, pw=1.0, cw=1.0):
    with np.errstate(invalid="ignore", over="ignore"):
        loss = cw * ((1 - t) * x + (1 + (pw - 1) * t) * ref_softplus(-x))
    return ref_reduce(loss, w, reduction)


def ref_ce(x, y, w, reduction, *, ignore=None, cw=None, eps=0.0, empty=0.0):
    """Element by element: (1 - eps) w_y (-log p_y) + eps / K * sum_k w_k (-log p_k)."""
    k = x.shape[1]
    cw = np.ones(k) if cw is None else cw
    xs = np.moveaxis(x, 1, -1).reshape(-1, k)
    ys = y.reshape(-1)
    ws = np.broadcast_to(np.asarray(w, dtype=float), y.shape).reshape(-1)
    out, num, den = np.zeros(len(ys)), 0.0, 0.0
    for i in range(len(ys)):
        wi = 0.0 if (ignore is not None and ys[i] == ignore) else ws[i]
        if wi == 0:
            continue
        logp = xs[i] - (xs[i].max() + np.log(np.exp(xs[i] - xs[i].max()).sum()))
        li = (1 - eps) * cw[ys[i]] * -logp[ys[i]] + eps / k * -(cw * logp).sum()
        out[i], num, den = wi * li, num + wi * li, den + wi * cw[ys[i]]
    if reduction == "none":
        return out.reshape(y.shape)
    if reduction == "sum":
        return num
    return num / den if den > 0 else empty


def ref_dice(p, g, w, *, per_image, smooth=0.0, empty=0.0):
    """p, g: (N, C, ...) float64; w broadcast to p. Loops over the Dice terms."""
    w = np.broadcast_to(np.asarray(w, dtype=float), p.shape)
    n, c = p.shape[:2]
    images = [[i] for i in range(n)] if per_image else [list(range(n))]
    out = np.zeros((len(images), c))
    for a, idx in enumerate(images):
        for k in range(c):
            pp, gg, ww = p[idx, k], g[idx, k], w[idx, k]
            with np.errstate(invalid="ignore"):
                pw, gw = np.where(ww > 0, pp * ww, 0), np.where(ww > 0, gg * ww, 0)
                inter = np.where(ww > 0, pp * gg * ww, 0).sum()
            card = pw.sum() + gw.sum()
            out[a, k] = empty if card == 0 else 1 - (2 * inter + smooth) / (card + smooth)
    return out if per_image else out[0]


def _close(actual, expected, atol=1e-9):
    np.testing.assert_allclose(_np(actual), np.asarray(expected, dtype=float), rtol=1e-7, atol=atol)


# --- BCE -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_full_mask_equals_torch(device, no_sync, reduction):
    x, t = torch.randn(2, 3, 4, 5, device=device), torch.rand(2, 3, 4, 5, device=device)
    expected = F.binary_cross_entropy_with_logits(x, t, reduction=reduction)
    for mask in (None, torch.ones(4, 5, dtype=torch.bool, device=device), torch.ones(2, 3, 4, 5, device=device)):
        with no_sync():
            got = masked_bce_with_logits(x, t, mask, reduction=reduction)
        torch.testing.assert_close(got, expected)


def test_bce_pos_weight_is_per_channel_unlike_torch(device):
    # W == C == 3: PyTorch broadcasts a (C,) pos_weight against the LAST dim (image columns)
    x, t = torch.randn(2, 3, 4, 3, device=device), (torch.rand(2, 3, 4, 3, device=device) > 0.5).float()
    pw = torch.tensor([1.0, 5.0, 10.0], device=device)
    ours = masked_bce_with_logits(x, t, pos_weight=pw)
    per_channel = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw.view(3, 1, 1))
    torch_last_dim = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw)
    torch.testing.assert_close(ours, per_channel)
    assert not torch.allclose(ours, torch_last_dim)  # the classic bug, silently accepted by torch
    # the same rule for `weight`, and full-shape tensors broadcast like PyTorch's
    torch.testing.assert_close(
        masked_bce_with_logits(x, t, weight=pw), F.binary_cross_entropy_with_logits(x, t, weight=pw.view(3, 1, 1))
    )
    torch.testing.assert_close(masked_bce_with_logits(x, t, pos_weight=pw.view(1, 1, 1, 3)), torch_last_dim)
    with pytest.raises(ShapeError, match=r"pos_weight: a 1-D pos_weight is per channel .*C = 3.*\(4,\)"):
        masked_bce_with_logits(x, t, pos_weight=torch.ones(4, device=device))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("mask_kind", ["bool_hw", "bool_full", "float_n1hw"])
def test_bce_matches_float64_formula(device, no_sync, reduction, mask_kind):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(3, 2, 4, 5, generator=g, dtype=F64) * 3).to(device)
    t = torch.rand(3, 2, 4, 5, generator=g, dtype=F64).to(device)
    mask = {
        "bool_hw": torch.rand(4, 5, generator=g) > 0.4,
        "bool_full": torch.rand(3, 2, 4, 5, generator=g) > 0.4,
        "float_n1hw": torch.rand(3, 1, 4, 5, generator=g, dtype=F64) * (torch.rand(3, 1, 4, 5, generator=g) > 0.3),
    }
    m = mask[mask_kind].to(device)
    x[~(m > 0).expand_as(x)] = NAN  # excluded logits are garbage
    pw, cw = torch.tensor([2.0, 0.5], dtype=F64, device=device), torch.tensor([1.0, 3.0], dtype=F64, device=device)
    with no_sync():
        plain = masked_bce_with_logits(x, t, m, reduction=reduction)
        weighted = masked_bce_with_logits(x, t, m, pos_weight=pw, weight=cw, reduction=reduction)
    _close(plain, ref_bce(_np(x), _np(t), _np(m), reduction))
    pw_np, cw_np = _np(pw).reshape(2, 1, 1), _np(cw).reshape(2, 1, 1)
    _close(weighted, ref_bce(_np(x), _np(t), _np(m), reduction, pw=pw_np, cw=cw_np))


def test_bce_fast_path_equals_composite_path(device, no_sync):
    # bool mask and no weights take the fused eager path; weight=1 forces the composite one
    x = torch.randn(2, 1, 6, 7, device=device)
    t = torch.rand(2, 1, 6, 7, device=device)
    m = torch.rand(2, 1, 6, 7, device=device) > 0.5
    x[~m], t[~m] = NAN, NAN
    grads = []
    for weight in (None, torch.ones((), device=device)):
        xi, ti = x.clone().requires_grad_(), t.clone().requires_grad_()
        with no_sync():
            loss = masked_bce_with_logits(xi, ti, m, weight=weight)
            loss.backward()
        grads.append((loss.detach(), xi.grad, ti.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    assert (grads[0][1][~m] == 0).all() and (grads[0][2][~m] == 0).all()
    assert torch.isfinite(grads[0][1]).all()


def test_bce_bool_target_and_dtypes(device):
    x = torch.randn(2, 1, 8, 8, device=device)
    t = torch.rand(2, 1, 8, 8, device=device) > 0.5
    m = torch.rand(8, 8, device=device) > 0.2
    ref = masked_bce_with_logits(x.double(), t.double(), m)
    for dtype, tol in ((torch.float32, 1e-6), (torch.bfloat16, 2e-2), (torch.float16, 2e-3)):
        got = masked_bce_with_logits(x.to(dtype), t, m)
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), ref, rtol=tol, atol=tol)
    mixed = masked_bce_with_logits(x, t.double(), m)  # promotes like PyTorch
    assert mixed.dtype == F64 and torch.allclose(mixed, ref)


# --- cross-entropy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("weighted", "eps"), [(False, 0.0), (True, 0.0), (True, 0.2), (False, 0.1)])
def test_ce_ignore_index_equals_torch(device, no_sync, reduction, weighted, eps):
    x = torch.randn(2, 4, 3, 5, device=device)
    y = torch.randint(0, 4, (2, 3, 5), device=device)
    y[0, 0] = 255
    w = torch.tensor([0.5, 1.0, 2.0, 3.0], device=device) if weighted else None
    expected = F.cross_entropy(x, y, weight=w, ignore_index=255, label_smoothing=eps, reduction=reduction)
    with no_sync():
        got = masked_cross_entropy(x, y, ignore_index=255, weight=w, label_smoothing=eps, reduction=reduction)
    torch.testing.assert_close(got, expected)


def test_ce_all_ignored_is_empty_not_nan(device, no_sync):
    x = torch.randn(2, 3, 4, 4, device=device, requires_grad=True)
    y = torch.full((2, 4, 4), 255, device=device)
    assert torch.isnan(F.cross_entropy(x, y, ignore_index=255))  # PyTorch: 0 / 0
    with no_sync():
        loss = masked_cross_entropy(x, y, ignore_index=255)
        loss.backward()
        nan_loss = masked_cross_entropy(x, y, ignore_index=255, empty=NAN)
        empty_mask = masked_cross_entropy(x, y.clamp(max=2), torch.zeros(4, 4, dtype=torch.bool, device=device))
    assert loss.item() == 0.0 and (x.grad == 0).all()
    assert torch.isnan(nan_loss) and empty_mask.item() == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ce_matches_float64_formula(device, no_sync, reduction):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, 5, generator=g, dtype=F64).to(device)
    y = torch.randint(0, 3, (2, 4, 5), generator=g).to(device)
    y[:, 0] = 255  # out of class range where ignored
    x[:, :, 0] = NAN
    m = (torch.rand(4, 5, generator=g, dtype=F64) * (torch.rand(4, 5, generator=g) > 0.3)).to(device)
    cw = torch.tensor([0.2, 1.0, 4.0], dtype=F64, device=device)
    with no_sync():
        got = masked_cross_entropy(x, y, m, ignore_index=255, weight=cw, label_smoothing=0.1, reduction=reduction)
    _close(got, ref_ce(_np(x), _np(y).astype(int), _np(m), reduction, ignore=255, cw=_np(cw), eps=0.1))


def test_ce_mask_broadcast_count_rule(device, no_sync):
    x = torch.randn(3, 2, 4, 4, device=device)
    y = torch.randint(0, 2, (3, 4, 4), device=device)
    m = torch.rand(4, 4, device=device) > 0.5
    with no_sync():
        got = masked_cross_entropy(x, y, m)
    full = F.cross_entropy(x, y, reduction="none")
    torch.testing.assert_close(got, full[m.expand(3, 4, 4)].mean())  # counted N times
    with pytest.raises(ShapeError, match=r"mask: .*\(3, 4, 4\).*got \(3, 1, 4, 4\).*mask\[:, 0\]"):
        masked_cross_entropy(x, y, m.expand(3, 1, 4, 4))


def test_ce_errors(device):
    x, y = torch.randn(2, 3, 4, device=device), torch.randint(0, 3, (2, 4), device=device)
    with pytest.raises(DTypeError, match=r"target: expected an integer label map.*argmax_labels"):
        masked_cross_entropy(x, y.float())
    with pytest.raises(ShapeError, match=r"target: expected \(N, \*S\) = \(2, 4\) .*got \(2, 3, 4\)"):
        masked_cross_entropy(x, torch.zeros(2, 3, 4, dtype=torch.long, device=device))
    with pytest.raises(ShapeError, match=r"weight: expected class weights \(K,\) = \(3,\)"):
        masked_cross_entropy(x, y, weight=torch.ones(4, device=device))
    with pytest.raises(ValueError, match="label_smoothing"):
        masked_cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(TypeError, match="ignore_index: expected an int"):
        masked_cross_entropy(x, y, ignore_index=255.0)
    if device.type == "cpu":  # a kept label out of range is named (CPU eager check)
        bad = y.clone()
        bad[0, 0] = 7
        with pytest.raises(MaskValueError, match=r"target: expected labels in \[0, 2\].*\[0, 7\]"):
            masked_cross_entropy(x, bad)
        masked_cross_entropy(x, bad, ignore_index=7)  # ignored: fine


# --- MSE / L1 / generic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "torch_fn", "elementwise"),
    [
        (masked_mse, F.mse_loss, lambda a, b: (a - b) ** 2),
        (masked_l1, F.l1_loss, lambda a, b: np.abs(a - b)),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(device, no_sync, fn, torch_fn, elementwise, reduction):
    x, y = torch.randn(2, 3, 4, device=device, dtype=F64), torch.randn(2, 3, 4, device=device, dtype=F64)
    torch.testing.assert_close(fn(x, y, reduction=reduction), torch_fn(x, y, reduction=reduction))
    m = torch.rand(3, 4, device=device) > 0.4
    y[:, ~m] = NAN  # invalid depth pixels
    with no_sync():
        got = fn(x, y, m, reduction=reduction)
    with np.errstate(invalid="ignore"):
        _close(got, ref_reduce(elementwise(_np(x), _np(y)), _np(m), reduction))


def test_masked_loss_generic(device, no_sync):
    huber = lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.5)  # noqa: E731
    x, y = torch.randn(2, 1, 3, 3, device=device, dtype=F64), torch.randn(2, 1, 3, 3, device=device, dtype=F64)
    w = torch.rand(3, 3, device=device, dtype=F64)
    with no_sync():
        got = masked_loss(huber, x, y, w)
    d = np.abs(_np(x) - _np(y))
    _close(got, ref_reduce(np.where(d < 0.5, 0.5 * d * d, 0.5 * (d - 0.25)), _np(w), "mean"))
    # target broadcasts against input; integer targets are sanitised too (here: a class index)
    row = torch.tensor([0, 1, 2], device=device)
    pick = masked_loss(lambda a, b: a.gather(-1, b.expand(2, 1, 3, 3)), x, row.view(1, 1, 1, 3), w > 0)
    assert pick.shape == ()
    with pytest.raises(ShapeError, match=r"elementwise_fn: expected an elementwise loss of shape \(2, 1, 3, 3\)"):
        masked_loss(F.mse_loss, x, y)
    with pytest.raises(ShapeError, match=r"target: expected a shape that broadcasts with input"):
        masked_loss(huber, x, torch.zeros(5, device=device))


# --- Dice -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_binary_matches_formula(device, no_sync, per_image, smooth):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 1, 5, 6, generator=g, dtype=F64).to(device)
    t = (torch.rand(3, 1, 5, 6, generator=g) > 0.6).double().to(device)
    m = (torch.rand(3, 1, 5, 6, generator=g) > 0.3).to(device)
    m[2] = False  # an image with an empty mask
    x[~m] = INF
    with no_sync():
        got = dice_loss(x, t, m, per_image=per_image, smooth=smooth, reduction="none")
        nan = dice_loss(x, t, m, per_image=True, empty=NAN, reduction="none")
    p = 1 / (1 + np.exp(-np.where(_np(m), _np(x), 0)))
    _close(got, ref_dice(p, _np(t), _np(m), per_image=per_image, smooth=smooth))
    assert nan[2].isnan().all() and not nan[:2].isnan().any()
    torch.testing.assert_close(dice_loss(x, t, m, per_image=per_image, smooth=smooth), got.mean())


def test_dice_multiclass_labels_equal_one_hot(device, no_sync):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 4, 5, generator=g, dtype=F64).to(device)
    y = torch.randint(0, 3, (2, 4, 5), generator=g).to(device)
    m = torch.rand(2, 1, 4, 5, generator=g, dtype=F64).to(device)
    y[:, 0] = 255
    m[:, :, 0] = 0.0  # excluded: label 255 and NaN logits there
    x[:, :, 0] = NAN
    with no_sync():
        got = dice_loss(x, y, m, reduction="none")
    onehot = F.one_hot(y.clamp(max=2), 3).permute(0, 3, 1, 2).double()
    torch.testing.assert_close(got, dice_loss(x, onehot, m, reduction="none"))
    p = torch.softmax(torch.where(m > 0, x, 0), 1)
    _close(got, ref_dice(_np(p), _np(onehot), _np(m), per_image=False))
    # from probabilities; and for C == 1 labels == 1 are the foreground
    from_probs = dice_loss(p, y, m, from_logits=False, reduction="none")
    _close(from_probs, ref_dice(_np(p), _np(onehot), _np(m), per_image=False))
    binary = dice_loss(x[:, :1], (y == 1).long(), m, reduction="none")
    torch.testing.assert_close(binary, dice_loss(x[:, :1], (y == 1)[:, None].double(), m, reduction="none"))


def test_dice_per_channel_mask_with_softmax(device):
    # a pixel excluded in every channel gets zero gradient even when its logits are NaN
    x = torch.randn(1, 2, 3, 3, device=device)
    m = torch.ones(1, 2, 3, 3, dtype=torch.bool, device=device)
    m[0, :, 0, 0] = False
    m[0, 1, 1, 1] = False  # partly excluded pixel: its logits are still used by the softmax
    x[0, :, 0, 0] = NAN
    x.requires_grad_()
    loss = dice_loss(x, torch.zeros(1, 3, 3, dtype=torch.long, device=device), m)
    loss.backward()
    assert torch.isfinite(loss) and (x.grad[0, :, 0, 0] == 0).all() and (x.grad[0, :, 1, 1] != 0).all()


def test_dice_without_spatial_dims(device):
    # (N, C) input: per_image terms are single elements (sum over no dims must not reduce them all)
    p = torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=F64, device=device)
    y = torch.tensor([0, 0], device=device)
    got = dice_loss(p, y, from_logits=False, per_image=True, reduction="none")
    _close(got, [[1 - 1.8 / 1.9, 1.0], [1 - 0.4 / 1.2, 1.0]])
    _close(dice_loss(p, y, from_logits=False, reduction="none"), [1 - 2.2 / 3.1, 1.0])


def test_dice_errors(device):
    x = torch.randn(2, 3, 4, 4, device=device)
    with pytest.raises(ShapeError, match=r"target: expected \(2, 3, 4, 4\) \(one-hot\) or integer labels"):
        dice_loss(x, torch.rand(2, 4, 4, device=device))
    with pytest.raises(ShapeError, match=r"mask: .*got \(2, 4, 4\).*mask\[:, None\]"):
        dice_loss(x, torch.zeros(2, 4, 4, dtype=torch.long, device=device), torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="smooth"):
        dice_loss(x, torch.zeros(2, 4, 4, dtype=torch.long, device=device), smooth=-1)


# --- properties shared by every loss ------------------------------------------------------------------

LOSS_NAMES = ["bce", "mse", "l1", "generic", "ce", "dice"]


def _call(name, x, y, m, **kw):
    if name == "bce":
        return masked_bce_with_logits(x, y, m, **kw)
    if name == "mse":
        return masked_mse(x, y, m, **kw)
    if name == "l1":
        return masked_l1(x, y, m, **kw)
    if name == "generic":
        return masked_loss(lambda a, b: F.smooth_l1_loss(a, b, reduction="none"), x, y, m, **kw)
    if name == "ce":
        return masked_cross_entropy(x, y, m, **kw)
    return dice_loss(x, y, m, **kw)


def _case(name, n, c, h, w, gen, dtype, device):
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype).to(device)
    if name in ("ce", "dice"):
        y = torch.randint(0, c, (n, h, w), generator=gen).to(device)
    else:
        y = torch.rand(n, c, h, w, generator=gen, dtype=dtype).to(device)
    return x, y


def _reference(name, x, y, m, reduction):
    x, m = _np(x), _np(m)
    if name == "ce":
        return ref_ce(x, _np(y).astype(int), m, reduction)
    y = _np(y)
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "bce":
            return ref_bce(x, y, m, reduction)
        if name in ("mse", "l1", "generic"):
            d = np.abs(x - y)
            loss = {"mse": d * d, "l1": d, "generic": np.where(d < 1, 0.5 * d * d, d - 0.5)}[name]
            return ref_reduce(loss, m, reduction)
    c = x.shape[1]
    keep = np.broadcast_to(m, x.shape) > 0
    x0 = np.where(keep.any(1, keepdims=True) if c > 1 else keep, x, 0)
    p = 1 / (1 + np.exp(-x0)) if c == 1 else np.exp(x0) / np.exp(x0).sum(1, keepdims=True)
    g = (y[:, None] == (np.arange(c) if c > 1 else np.array([1]))[None, :, None, None]).astype(float)
    terms = ref_dice(p, g, m, per_image=False)
    return {"none": terms, "sum": terms.sum(), "mean": terms.mean()}[reduction]


@st.composite
def loss_cases(draw):
    name = draw(st.sampled_from(LOSS_NAMES))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    c = draw(st.integers(2 if name == "ce" else 1, 3))
    shapes = [(h, w), (n, 1, h, w), (n, c, h, w)] if name != "ce" else [(h, w), (n, h, w), (1, h, w)]
    mshape = draw(st.sampled_from(shapes))
    fill = draw(st.sampled_from(["random", "empty", "full"]))
    weighted = draw(st.booleans())
    poison = draw(st.sampled_from([NAN, INF, -INF]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return name, (n, c, h, w), mshape, fill, weighted, poison, reduction, draw(st.integers(0, 2**16))


@_FIXTURES_OK
@given(loss_cases())
def test_property_reference_nan_safety_and_gradients(device, no_sync, case):
    name, (n, c, h, w), mshape, fill, weighted, poison, reduction, seed = case
    gen = torch.Generator().manual_seed(seed)
    x, y = _case(name, n, c, h, w, gen, F64, device)
    m = {
        "random": torch.rand(mshape, generator=gen) > 0.5,
        "empty": torch.zeros(mshape, dtype=torch.bool),
        "full": torch.ones(mshape, dtype=torch.bool),
    }[fill]
    if weighted:  # a float mask: weights in (0, 1] where kept, 0 elsewhere
        m = torch.where(m, torch.rand(mshape, generator=gen, dtype=F64).clamp_min(0.05), 0.0)
    m = m.to(device)
    # elements whose inputs nothing may read: excluded in every channel of their pixel (CE/softmax)
    lshape = (n, h, w) if name == "ce" else (n, c, h, w)
    excl = ~(m > 0).expand(lshape)
    excl_in = excl[:, None].expand(n, c, h, w) if name == "ce" else excl
    if name == "dice" and c > 1:
        excl_in = excl.all(1, keepdim=True).expand(n, c, h, w)
    x = torch.where(excl_in, poison, x).requires_grad_()
    if name in ("ce", "dice"):
        y = torch.where(excl if name == "ce" else excl[:, 0], 255, y)  # out-of-range garbage
    else:
        y = torch.where(excl, NAN, y)
    if name == "dice" and reduction == "none":
        reduction = "sum"  # Dice "none" is per class, tested elsewhere
    with no_sync():
        loss = _call(name, x, y, m, reduction=reduction)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert (grad[excl_in] == 0).all()
    _close(loss, _reference(name, x, y, m, reduction), atol=1e-8)
    if reduction == "none":
        assert (loss[excl] == 0).all()  # exactly 0, not just close
    if fill == "empty":
        assert (loss == 0).all()
        if reduction == "mean":
            assert torch.isnan(_call(name, x, y, m, reduction="mean", empty=NAN))
    if fill == "full" and not weighted and reduction == "mean":
        torch.testing.assert_close(loss, _call(name, x.detach(), y, None))
    if reduction != "none":  # the broadcast count rule: same as the mask materialised at full size
        full = m.expand(lshape).contiguous()
        torch.testing.assert_close(loss, _call(name, x, y, full, reduction=reduction))


@pytest.mark.parametrize("name", LOSS_NAMES + ["bce_weighted"])
def test_gradcheck_float64(device, name):
    gen = torch.Generator().manual_seed(5)
    base = "bce" if name == "bce_weighted" else name
    x, y = _case(base, 2, 2, 2, 3, gen, F64, device)
    m = (torch.rand(2, 3, generator=gen) > 0.3).to(device)
    m[0, 0], m[1, 2] = True, False
    kw = {}
    if name == "bce_weighted":
        m = torch.rand(2, 1, 2, 3, generator=gen, dtype=F64).to(device)
        m[..., 1, 2] = 0.0
        kw = {"pos_weight": torch.tensor([2.0, 0.5], dtype=F64, device=device)}
    x[..., 1, 2] = NAN  # excluded: the gradient there must be 0, numerically and analytically
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda a: _call(base, a, y, m, **kw), (x,))
    if name in ("bce", "mse"):  # the eager CPU fast paths: double backward, and d/d target
        yr = y.clone().requires_grad_()
        assert torch.autograd.gradgradcheck(lambda a, b: _call(name, a, b, m), (x, yr))


def test_compile_fullgraph_matches_eager_aot(device):
    # backend="aot_eager" proves one graph (no breaks, no host sync) and traces the backward cheaply
    gen = torch.Generator().manual_seed(6)
    for name in LOSS_NAMES:
        x, y = _case(name, 2, 3, 3, 4, gen, torch.float32, device)
        m = (torch.rand(3, 4, generator=gen) > 0.4).to(device)
        x.requires_grad_()
        compiled = torch.compile(lambda a, b, c, name=name: _call(name, a, b, c), fullgraph=True, backend="aot_eager")
        got, eager = compiled(x, y, m), _call(name, x, y, m)
        torch.testing.assert_close(got, eager)
        torch.testing.assert_close(torch.autograd.grad(got, x)[0], torch.autograd.grad(eager, x)[0])


def test_compile_inductor_bce_matches_eager(device):
    # SLOW-ish (~10 s on 2 CPU cores): the one real inductor compile. Eager takes the fused fast path,
    # the compiled graph the composite one: they must agree.
    x = torch.randn(2, 1, 4, 4, device=device).requires_grad_()
    t, m = torch.rand(2, 1, 4, 4, device=device), torch.rand(4, 4, device=device) > 0.5
    compiled = torch.compile(masked_bce_with_logits, fullgraph=True)
    got, eager = compiled(x, t, m), masked_bce_with_logits(x, t, m)
    torch.testing.assert_close(got, eager)
    torch.testing.assert_close(torch.autograd.grad(got, x)[0], torch.autograd.grad(eager, x)[0])


# --- modules, errors ---------------------------------------------------------------------------------


def test_modules_equal_functions(device):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 4, 4, generator=gen).to(device)
    t = torch.rand(2, 3, 4, 4, generator=gen).to(device)
    y = torch.randint(0, 3, (2, 4, 4), generator=gen).to(device)
    m = (torch.rand(4, 4, generator=gen) > 0.3).to(device)
    pw, cw = torch.tensor([1.0, 2.0, 3.0], device=device), torch.tensor([0.5, 1.0, 2.0], device=device)
    ce_kw = {"weight": cw, "ignore_index": 2, "label_smoothing": 0.1}
    pairs = [
        (
            MaskedBCEWithLogitsLoss(pos_weight=pw, reduction="sum"),
            masked_bce_with_logits(x, t, m, pos_weight=pw, reduction="sum"),
            t,
        ),
        (MaskedCrossEntropyLoss(**ce_kw), masked_cross_entropy(x, y, m, **ce_kw), y),
        (MaskedMSELoss(empty=NAN), masked_mse(x, t, m, empty=NAN), t),
        (MaskedL1Loss(reduction="none"), masked_l1(x, t, m, reduction="none"), t),
        (DiceLoss(per_image=True, smooth=1.0), dice_loss(x, y, m, per_image=True, smooth=1.0), y),
    ]
    for module, expected, target in pairs:
        torch.testing.assert_close(module(x, target, m), expected)
    module = MaskedBCEWithLogitsLoss(pos_weight=pw)
    assert set(module.state_dict()) == {"pos_weight"} and module.double().pos_weight.dtype == F64
    assert mb.DiceLoss is DiceLoss and mb.masked_loss is masked_loss


def test_mask_errors(device):
    x, t = torch.randn(2, 1, 4, 5, device=device), torch.rand(2, 1, 4, 5, device=device)
    with pytest.raises(DTypeError, match=r"mask: expected a bool or floating .*uint8.*mask > 0"):
        masked_bce_with_logits(x, t, torch.ones(4, 5, dtype=torch.uint8, device=device))
    with pytest.raises(
        ShapeError,
        match=r"mask: expected a shape that broadcasts to the elementwise loss "
        r"\(2, 1, 4, 5\).*got \(2, 4, 5\).*mask\[:, None\]",
    ):
        masked_mse(x, t, torch.ones(2, 4, 5, dtype=torch.bool, device=device))
    with pytest.raises(ShapeError, match=r"got \(5, 4\)"):
        masked_l1(x, t, torch.ones(5, 4, dtype=torch.bool, device=device))
    if device.type == "cpu":
        with pytest.raises(MaskValueError, match=r"mask: a floating mask is a weight"):
            masked_bce_with_logits(x, t, torch.full((4, 5), 2.0))
    with pytest.raises(DeviceError, match=r"mask: expected a tensor on"):
        masked_mse(x, t, torch.ones(4, 5, dtype=torch.bool, device="meta"))
    with pytest.raises(ValueError, match=r"reduction: expected one of 'mean', 'sum', 'none'; got 'avg'"):
        masked_l1(x, t, reduction="avg")
    with pytest.raises(TypeError, match=r"empty: expected a Python number"):
        masked_l1(x, t, empty=True)


def test_input_and_target_errors(device):
    x = torch.randn(2, 1, 4, 4, device=device)
    with pytest.raises(
        ShapeError,
        match=r"target: expected the shape of input \(2, 1, 4, 4\); "
        r"got \(2, 4, 4\).*target\[:, None\]",
    ):
        masked_bce_with_logits(x, torch.rand(2, 4, 4, device=device))
    with pytest.raises(DTypeError, match=r"target: expected a floating .* or bool target.*int64"):
        masked_bce_with_logits(x, torch.ones(2, 1, 4, 4, dtype=torch.long, device=device))
    with pytest.raises(DTypeError, match=r"input: expected a floating tensor; got \(2, 1, 4, 4\) int64"):
        masked_mse(x.long(), x)
    with pytest.raises(DTypeError, match=r"input: expected a torch.Tensor"):
        masked_l1(np.zeros(3), x)
    with pytest.raises(ShapeError, match=r"weight: expected a shape that broadcasts to input"):
        masked_bce_with_logits(x, x.sigmoid(), weight=torch.ones(3, 4, 4, device=device))


# issue 10 regressions ------------------------------------------------------------------------------


def _snapshot(*tensors):
    return [t.clone() if isinstance(t, torch.Tensor) else t for t in tensors]


def _bytes(t):
    return t.contiguous().view(-1).view(torch.uint8)  # bit patterns: NaN == NaN, a 0xFF bool != True


def _unchanged(before, after):
    return all(
        (not isinstance(a, torch.Tensor)) or (a.dtype == b.dtype and torch.equal(_bytes(a), _bytes(b)))
        for a, b in zip(before, after)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_uint8_labels_leave_the_mask_alone_issue10_1(dtype):
    # keep_bits turned the caller's bool mask into 0xFF bytes in place when the labels were uint8
    # (`.view(uint8).to(uint8)` is a no-op, then `.neg_()`), and later calls were poisoned.
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 5, generator=g).to(dtype)
    labels = torch.randint(0, 3, (2, 5, 5), generator=g, dtype=torch.uint8)
    mask = torch.rand(2, 5, 5, generator=g) > 0.3
    before = _snapshot(logits, labels, mask)
    first = masked_cross_entropy(logits, labels, mask)
    assert _unchanged(before, (logits, labels, mask))
    assert torch.equal(masked_cross_entropy(logits, labels, mask), first)  # not poisoned
    ref = F.cross_entropy(logits.double(), labels.long(), reduction="none")[mask].mean()
    torch.testing.assert_close(first.double(), ref, rtol=1e-2 if dtype == torch.bfloat16 else 1e-5, atol=1e-3)


def test_masked_loss_uint8_tensors_leave_inputs_alone_issue10_1():
    x = torch.tensor([[3, 200, 7]], dtype=torch.uint8)
    y = torch.tensor([[1, 100, 9]], dtype=torch.uint8)
    mask = torch.tensor([True, False, True])
    before = _snapshot(x, y, mask)
    out = masked_loss(lambda a, b: (a.float() - b.float()).abs(), x, y, mask, reduction="sum")
    assert _unchanged(before, (x, y, mask))
    assert out.item() == 4.0


def _inputs_never_modified_cases():
    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        x = torch.randn(2, 3, 4, 4, generator=g).to(dtype)
        x[0, 0, 0, 0] = NAN
        t = torch.rand(2, 3, 4, 4, generator=g).to(dtype)
        bmask = torch.rand(2, 1, 4, 4, generator=g) > 0.5
        wmask = torch.rand(4, 4, generator=g).to(dtype)
        for labels_dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
            labels = torch.randint(0, 3, (2, 4, 4), generator=g).to(labels_dtype)
            yield masked_cross_entropy, (x, labels, bmask[:, 0]), {}
            yield masked_cross_entropy, (x, labels, wmask), {"ignore_index": 2}
            yield dice_loss, (x, labels, bmask), {}
        for mask in (bmask, wmask, None):
            yield masked_bce_with_logits, (x, t, mask), {}
            yield masked_bce_with_logits, (x, t > 0.5, mask), {"reduction": "none"}
            yield masked_mse, (x, t, mask), {}
            yield masked_l1, (x, t, mask), {"reduction": "sum"}
            yield dice_loss, (x, t, mask), {"per_image": True}
        for itype in (torch.uint8, torch.int8, torch.int64):
            a = torch.randint(0, 9, (2, 3, 4, 4), generator=g).to(itype)
            yield masked_loss, (lambda u, v: (u - v).double(), a, a.flip(-1), bmask), {}


def test_no_loss_modifies_its_inputs_issue10_1():
    for fn, args, kwargs in _inputs_never_modified_cases():
        before = _snapshot(*args)
        fn(*args, **kwargs)
        assert _unchanged(before, args), (fn.__name__, [a.dtype for a in args if isinstance(a, torch.Tensor)])


@pytest.mark.parametrize(
    "call",
    [
        lambda x, t: masked_bce_with_logits(x, t),
        lambda x, t: masked_mse(x, t),
        lambda x, t: masked_l1(x, t),
        lambda x, t: masked_loss(lambda a, b: a - b, x, t),
        lambda x, t: masked_cross_entropy(x, t[:, 0].long()),
        lambda x, t: dice_loss(x, t),
    ],
)
def test_losses_check_the_targets_device_issue10_11(call):
    # only dice_loss checked it; the others failed inside torch with a message naming no argument
    x = torch.randn(2, 1, 3, 3)
    t = torch.rand(2, 1, 3, 3, device="meta")
    with pytest.raises(DeviceError, match=r"^target: expected a tensor on cpu like input"):
        call(x, t)


def test_masked_loss_needs_a_callable_issue10_11():
    with pytest.raises(TypeError, match=r"^elementwise_fn: expected a function"):
        masked_loss("l1", torch.zeros(2), torch.zeros(2))


@pytest.mark.parametrize(
    "build, error, name",
    [
        (lambda: MaskedL1Loss(reduction="avg"), ValueError, "reduction"),
        (lambda: MaskedMSELoss(empty="x"), TypeError, "empty"),
        (lambda: DiceLoss(smooth=-1), ValueError, "smooth"),
        (lambda: MaskedCrossEntropyLoss(label_smoothing=2), ValueError, "label_smoothing"),
        (lambda: MaskedCrossEntropyLoss(ignore_index=2.5), TypeError, "ignore_index"),
        (lambda: MaskedBCEWithLogitsLoss(pos_weight="x"), TypeError, "pos_weight"),
        (lambda: MaskedBCEWithLogitsLoss(weight=torch.ones(3, dtype=torch.long)), TypeError, "weight"),
    ],
)
def test_loss_modules_check_options_when_built_issue10_13(build, error, name):
    # the bad option was only noticed at the first forward (or by torch's register_buffer)
    with pytest.raises(error, match=rf"^{name}: expected"):
        build()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shared_mask", [False, True])
def test_fused_cross_entropy_matches_composite_path_issue11(device, reduction, shared_mask):
    # a bool mask takes the fused eager path (CPU); the same mask as 0/1 floats takes the composite
    # one: values, gradients (exactly 0 under NaN/Inf logits and stray labels) and double backward agree
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 4, 6, generator=g, dtype=torch.float64).to(device)
    y = torch.randint(0, 5, (2, 4, 6), generator=g).to(device)
    m = (torch.rand((4, 6) if shared_mask else (2, 4, 6), generator=g) > 0.4).to(device)
    bad = ~m.expand(2, 4, 6)
    x = torch.where(
        bad[:, None],
        torch.tensor([float("nan"), float("inf")], dtype=x.dtype, device=device)[
            torch.arange(5, device=device) % 2
        ].view(1, 5, 1, 1),
        x,
    )
    y = torch.where(bad, 255, y)
    grads = []
    for mask in (m, m.double()):
        xr = x.clone().requires_grad_()
        loss = masked_cross_entropy(xr, y, mask, reduction=reduction)
        (gx,) = torch.autograd.grad(loss, xr, create_graph=True)
        (ggx,) = torch.autograd.grad((gx * gx.detach().isfinite()).sum(), xr)
        grads.append((loss.detach(), gx.detach(), ggx))
    for a, b in zip(grads[0], grads[1]):
        torch.testing.assert_close(a, b)
    assert (grads[0][1][bad[:, None].expand_as(x)] == 0).all()
    # and the plain reference: F.cross_entropy over the kept pixels only
    keep = m.expand(2, 4, 6)
    ref = F.cross_entropy(x.movedim(1, -1)[keep], y[keep], reduction=reduction)
    torch.testing.assert_close(grads[0][0], ref)
