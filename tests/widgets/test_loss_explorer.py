"""The LossExplorer's Python model: gradient maps vs direct autograd, exact zeros where excluded,
proxies, validation (state unchanged on a bad value) and browser messages."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import maskbench
from maskbench._checks import DTypeError, MaskValueError, ShapeError
from maskbench.kernels.loss_maps import loss_maps
from maskbench.render import contours
from maskbench.widgets import LossExplorer
from maskbench.widgets._transport import unpack_bits
from maskbench.widgets.loss_explorer import WidgetTypeError, WidgetValueError


@pytest.fixture
def binary(device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 12, 16, generator=g).to(device)
    t = (torch.rand(2, 1, 12, 16, generator=g) > 0.5).float().to(device)
    keep = torch.ones(2, 12, 16, dtype=torch.bool, device=device)
    keep[0, 2:8, 3:9] = False
    keep[1, 5:, 10:] = False
    x = x.masked_fill(~keep[:, None] & (torch.arange(16, device=device) % 3 == 0), float("nan"))  # NaN logits there
    return x, t, keep


@pytest.fixture
def labels(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 10, 10, generator=g).to(device)
    lab = torch.randint(0, 3, (2, 10, 10), generator=g).to(device)
    lab[:, :3] = 255  # ignore value where the mask excludes
    return x, lab, lab != 255


def _grad(fn, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x), x)
    return g.norm(dim=1)


@pytest.mark.parametrize("loss", ["bce", "mse", "l1", "dice"])
def test_gradient_maps_equal_direct_autograd(binary, loss) -> None:
    x, t, keep = binary
    m = keep[:, None]
    masked = {
        "bce": lambda z: maskbench.masked_bce_with_logits(z, t, m),
        "mse": lambda z: maskbench.masked_mse(z, t, m),
        "l1": lambda z: maskbench.masked_l1(z, t, m),
        "dice": lambda z: maskbench.dice_loss(z, t, m),
    }[loss]
    e = LossExplorer(x, t, keep, loss=loss)
    assert torch.equal(e.maps.grad_masked, _grad(masked, x))
    assert torch.equal(e.maps.value_masked, masked(x.clone()).detach())
    excluded = ~keep
    assert (e.maps.grad_masked[excluded] == 0).all() and (e.maps.loss_masked[excluded] == 0).all()
    assert e.stats["excluded_max_masked"] == 0.0 and e.stats["kept_max_masked"] > 0
    assert e.stats["excluded_pixels"] == int(excluded.sum()) and e.stats["pixels"] == keep.numel()
    # the naive "multiply" recipe: NaN logits where excluded reach the gradient as NaN (0 * NaN)
    e.naive = "multiply"
    if loss != "l1":  # |x - t|'s gradient sign(NaN) is 0 in torch: no NaN there
        assert e.stats["excluded_max_naive"] == "nan"


def test_unmasked_naive_matches_the_plain_torch_loss(binary) -> None:
    x, t, keep = binary
    x = torch.nan_to_num(x)  # finite everywhere: the unmasked mean has a finite, non-zero gradient there
    e = LossExplorer(x, t, keep)
    plain = lambda z: F.binary_cross_entropy_with_logits(z, t)  # noqa: E731
    assert torch.allclose(e.maps.grad_naive, _grad(plain, x), rtol=1e-5, atol=0)  # mean of the elementwise loss
    assert e.stats["value_naive"] == pytest.approx(float(plain(x)))
    assert e.stats["excluded_max_naive"] > 0 and e.stats["excluded_max_masked"] == 0.0
    per_pixel = F.binary_cross_entropy_with_logits(x, t, reduction="none")[:, 0]
    assert torch.allclose(e.maps.loss_naive, per_pixel)
    assert torch.allclose(e.maps.loss_masked, per_pixel * keep)
    assert torch.allclose(e.maps.loss_masked.sum() / keep.sum(), e.maps.value_masked)


def test_cross_entropy_with_ignore_labels(labels) -> None:
    x, lab, keep = labels
    e = LossExplorer(x, lab, keep)
    assert e.loss == "ce" and e._losses == ["ce", "dice"]
    direct = _grad(lambda z: maskbench.masked_cross_entropy(z, lab, keep), x)
    assert torch.equal(e.maps.grad_masked, direct) and (direct[~keep] == 0).all()
    assert e.stats["naive_error"].startswith("IndexError") and e.stats["value_naive"] == "nan"
    json.dumps(e.stats, allow_nan=False)  # what the comm sends: no NaN literals
    e.loss = "dice"
    assert e.stats["naive_error"] == "" and e.stats["excluded_max_masked"] == 0.0
    # the per-pixel Dice shares sum to the Dice loss
    assert torch.allclose(e.maps.loss_masked.sum(), e.maps.value_masked, atol=1e-6)


def test_proxies_and_outline(binary) -> None:
    x, t, keep = binary
    image = torch.rand(2, 3, 12, 16)
    e = LossExplorer(x, t, keep, image=image, index=1)
    assert e._maps.shape == (4, 12, 16) and e._maps.dtype == np.float32
    for k, name in enumerate(("loss_masked", "loss_naive", "grad_masked", "grad_naive")):
        assert np.array_equal(e._maps[k], getattr(e.maps, name)[1].cpu().numpy(), equal_nan=True)
    assert np.array_equal(unpack_bits(e._edges, (12, 16)), contours(~keep[1]).cpu().numpy())
    assert np.array_equal(e._image, maskbench.render.image_to_rgba(image[1]).numpy())
    seen = []
    e.observe(lambda c: seen.append(c["name"]), names=["_maps", "_edges", "_image", "stats"])
    e.opacity, e.scale = 0.3, "log"  # per-frame settings: applied in the browser, nothing resent
    assert seen == []
    e.index = 0
    assert sorted(seen) == ["_edges", "_image", "_maps"]


def test_weight_mask_excludes_where_zero(binary) -> None:
    x, t, keep = binary
    w = keep.float() * torch.linspace(0.2, 1.0, 16, device=x.device)  # weights in (0, 1] where kept, 0 elsewhere
    e = LossExplorer(torch.nan_to_num(x), t, w, loss="l1", naive="multiply")
    direct = _grad(lambda z: maskbench.masked_l1(z, t, w[:, None]), torch.nan_to_num(x))
    assert torch.equal(e.maps.grad_masked, direct) and (direct[~keep] == 0).all() and (direct[keep] > 0).all()
    assert e.stats["excluded_pixels"] == int((~keep).sum()) and e.stats["excluded_max_masked"] == 0.0
    ref = ((torch.nan_to_num(x) - t).abs() * w[:, None]).sum() / w.sum()  # the "multiply" recipe written out
    assert e.stats["value_naive"] == pytest.approx(float(ref))


def test_display_proxy_keeps_every_leak_visible() -> None:
    x = torch.zeros(1, 1, 300, 130)
    t = torch.zeros(1, 1, 300, 130)
    keep = torch.ones(300, 130, dtype=torch.bool)
    keep[100:200, 40:90] = False
    e = LossExplorer(x, t, keep, max_display=100)
    assert e._maps.shape == (4, 100, 43) and e._full_size == [300, 130]
    # max of each block: the naive gradient is non-zero in every block, maskbench's zero inside the region
    assert (e._maps[3] > 0).all() and (e._maps[2] == 0).sum() > 0
    with pytest.raises(WidgetValueError, match="max_display: expected an int in"):
        LossExplorer(x, t, keep, max_display=1000)


@pytest.mark.parametrize(
    ("name", "value", "error", "text"),
    [
        ("loss", "ce", WidgetValueError, "'ce' needs"),
        ("loss", "hinge", WidgetValueError, "loss: expected one of"),
        ("naive", "forgot", WidgetValueError, "naive: expected one of"),
        ("scale", "sqrt", WidgetValueError, "scale: expected one of 'linear', 'log'"),
        ("opacity", 1.5, WidgetValueError, r"opacity: expected a number in \[0, 1\]"),
        ("opacity", "x", WidgetTypeError, "opacity"),
        ("index", 2, WidgetValueError, r"index: expected an int in \[0, 1\] for a batch of 2"),
        ("index", True, WidgetTypeError, "index: expected an int"),
    ],
)  # fmt: skip
def test_bad_assignment_changes_nothing(binary, name, value, error, text) -> None:
    x, t, keep = binary
    e = LossExplorer(x, t, keep)
    state = {k: getattr(e, k) for k in ("loss", "naive", "scale", "opacity", "index")}
    maps, stats = e._maps, e.stats
    with pytest.raises(error, match=text):
        setattr(e, name, value)
    assert {k: getattr(e, k) for k in state} == state and e._maps is maps and e.stats == stats


@pytest.mark.parametrize(
    "message",
    [{"loss": "ce"}, {"index": -1}, {"opacity": "x"}, {"stats": {}}, {"_maps": None}, {"batch_size": 9},
     {"loss": "mse", "index": 7}, {"scale": None}],
)  # fmt: skip
def test_malformed_browser_message_is_rejected(binary, message) -> None:
    x, t, keep = binary
    e = LossExplorer(x, t, keep)
    state = {k: getattr(e, k) for k in ("loss", "naive", "scale", "opacity", "index", "batch_size")}
    maps = e._maps
    with pytest.warns(UserWarning, match="rejected a browser update"):
        e.set_state(message)
    assert {k: getattr(e, k) for k in state} == state and e._maps is maps
    assert "rejected a browser update" in e.error


def test_browser_message_accepted(binary) -> None:
    x, t, keep = binary
    e = LossExplorer(x, t, keep)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.set_state({"loss": "mse", "naive": "multiply", "index": 1, "scale": "log", "opacity": 0})
    assert (e.loss, e.naive, e.index, e.scale, e.opacity) == ("mse", "multiply", 1, "log", 0.0)
    assert e.stats["loss"] == "mse" and e.stats["naive"] == "multiply"
    assert torch.equal(e.maps.grad_masked, _grad(lambda z: maskbench.masked_mse(z, t, keep[:, None]), x))


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"logits_or_probs": torch.randn(4, 4)}, ShapeError, r"logits_or_probs: expected \(C, H, W\)"),
        ({"logits_or_probs": torch.ones(1, 4, 4, dtype=torch.long)}, DTypeError, "logits_or_probs"),
        ({"target": torch.ones(1, 4, 5)}, ShapeError, "target: expected"),
        ({"target": [1, 2]}, DTypeError, "target: expected a torch.Tensor"),
        ({"mask": torch.ones(4, 5, dtype=torch.bool)}, ShapeError, "mask: expected"),
        ({"mask": torch.full((4, 4), 2.0)}, MaskValueError, "mask"),
        ({"mask": torch.ones(4, 4, dtype=torch.uint8)}, DTypeError, "mask: expected a bool or floating"),
        ({"image": torch.rand(3, 5, 5)}, ShapeError, "image: expected"),
        ({"loss": "ce"}, WidgetValueError, "'ce' needs"),
        ({"from_logits": 1}, TypeError, "from_logits: expected True or False"),
        ({"from_logits": False, "loss": "bce"}, WidgetValueError, "takes logits"),
        ({"index": 1}, WidgetValueError, "index"),
        ({"max_display": 0}, WidgetValueError, "max_display"),
    ],
)  # fmt: skip
def test_bad_construction_names_the_argument(kwargs, error, text) -> None:
    args = {"logits_or_probs": torch.randn(1, 4, 4), "target": torch.ones(1, 4, 4), "mask": torch.ones(4, 4) > 0}
    args.update(kwargs)
    with pytest.raises(error, match=text):
        LossExplorer(args.pop("logits_or_probs"), args.pop("target"), args.pop("mask"), **args)


def test_inputs_are_not_modified_and_probabilities_work(binary) -> None:
    x, t, keep = binary
    before = x.clone()
    p = torch.sigmoid(torch.nan_to_num(x))
    e = LossExplorer(p, t, keep, from_logits=False)
    assert e._losses == ["mse", "l1", "dice"] and e.loss == "mse"
    e.loss = "dice"
    assert torch.equal(
        e.maps.grad_masked, _grad(lambda z: maskbench.dice_loss(z, t, keep[:, None], from_logits=False), p)
    )
    LossExplorer(x, t, keep)
    assert torch.equal(x.isnan(), before.isnan()) and torch.equal(torch.nan_to_num(x), torch.nan_to_num(before))


def test_kernel_errors_are_shown_in_the_widget(binary, monkeypatch) -> None:
    x, t, keep = binary
    e = LossExplorer(x, t, keep)

    def broken():
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(e, "_compute", broken)
    with pytest.warns(UserWarning, match="RuntimeError: kernel failed"):
        e.loss = "mse"
    assert "kernel failed" in e.error
    monkeypatch.undo()
    e.loss = "l1"
    assert e.error == "" and e.stats["loss"] == "l1"


def test_loss_maps_doctest_claim_on_an_unbatched_input() -> None:
    x = torch.tensor([[[0.0, float("nan")]]])  # (1, 1, 2) unbatched (C, H, W)
    e = LossExplorer(x, torch.ones(1, 1, 2), torch.tensor([[True, False]]))
    assert e.batch_size == 1 and e.maps.grad_masked.tolist() == [[[0.5, 0.0]]]
    direct = loss_maps(x[None], torch.ones(1, 1, 1, 2), torch.tensor([[[[True, False]]]]))
    assert torch.equal(direct.grad_masked, e.maps.grad_masked)
    assert "export default" in str(e._esm) and ".mb-lossx" in str(e._css)
