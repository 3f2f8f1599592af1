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
    torch.testing.assert_close(masked_bce_with_logits(x, t, weight=pw),
                               F.binary_cross_entropy_with_logits(x, t, weight=pw.view(3, 1, 1)))
    torch.testing.assert_close(masked_bce_with_logits(x, t, pos_weight=pw.view(1, 1, 1, 3)), torch_last_dim)
    with pytest.raises(ShapeError, match=r"pos_weight: a 1-D pos_weight is per channel .*C = 3.*\(4,\)"):
        masked_bce_with_logits(x, t, pos_weight=torch.ones(4, device=device))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("mask_kind", ["bool_hw", "bool_full", "float_n1hw"])
def test_bce_matches_float64_formula(device, no_sync, reduction, mask_kind):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(3, 2, 4, 5, generator=g, dtype=F64) * 3).to(device)
    t = torch.rand(3, 2, 4, 5, generator=g, dtype=F64).to(device)
    mask = {"bool_hw": torch.rand(4, 5, generator=g) > 0.4, "bool_full": torch.rand(3, 2, 4, 5, generator=g) > 0.4,
            "float_n1hw": torch.rand(3, 1, 4, 5, generator=g, dtype=F64) * (torch.rand(3, 1, 4, 5, generator=g) > 0.3)}
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
    if device.type == "cpu":  # a kept label out of range is named (CPU eager check)
        bad = y.clone()
        bad[0, 0] = 7
        with pytest.raises(MaskValueError, match=r"target: expected labels in \[0, 2\].*\[0, 7\]"):
            masked_cross_entropy(x, bad)
        masked_cross_entropy(x, bad, ignore_index=7)  # ignored: fine


# --- MSE / L1 / generic -----------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "torch_fn", "elementwise"), [
    (masked_mse, F.mse_loss, lambda a, b: (a - b) ** 2),
    (masked_l1, F.l1_loss, lambda a, b: np.abs(a - b)),
])
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
    _close(dice_loss(p, y, m, from_logits=False, reduction="none"), ref_dice(_np(p), _np(onehot), _np(m), per_image=False))
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


def test_dice_errors(device):
    x = torch.randn(2, 3, 4, 4, device=device)
    with pytest.raises(ShapeError, match=r"target: expected \(2, 3, 4, 4\) \(one-hot\) or integer labels"):
        dice_loss(x, torch.rand(2, 4, 4, device=device))
    with pytest.raises(ShapeError, match=r"mask: .*got \(2, 4, 4\).*mask\[:, None\]"):
        dice_loss(x, torch.zeros(2, 4, 4, dtype=torch.long, device=device), torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="smooth"):
        dice_loss(x, torch.zeros(2, 4, 4, dtype=torch.long, device=device), smooth=-1)
