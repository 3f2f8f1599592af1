"""The Viewer's Python model: proxies, the masked result per mode, validation, browser messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import maskbench
from maskbench._checks import DTypeError, MaskValueError, ShapeError
from maskbench.render import contours, display_size, image_to_rgba, label_palette
from maskbench.widgets._transport import MAX_MESSAGE_BYTES, array_to_json, unpack_bits
from maskbench.widgets.viewer import MODES, Viewer, WidgetTypeError, WidgetValueError


@pytest.fixture
def scene(device):
    image = torch.rand(2, 3, 12, 16, device=device)
    mask = torch.zeros(2, 12, 16, dtype=torch.bool, device=device)
    mask[0, 2:8, 3:9] = True
    mask[1, 5:, 10:] = True
    return image, mask


def _composed(v: Viewer) -> np.ndarray:
    """What viewer_core.js composeResult draws for a keep/remove/mean mode (a plain numpy reference)."""
    keep = v._labels >= 128 if v._kind == "weight" else v._labels > 0
    replaced = keep if v.mode != "keep" else ~keep
    colour = v._fills[1 if v.mode == "mean" else 0]
    return np.where(replaced[..., None], colour, v._image)


def _panel(v: Viewer) -> np.ndarray:
    """The result panel the browser draws: composed (keep/remove/mean), the image with the kernel's
    colours of the mask pixels (inpaint: _result is (n, 4)), or the kernel's whole RGBA (weighted)."""
    if v.mode in ("keep", "remove", "mean"):
        return _composed(v)
    if v._result.ndim == 2:
        keep = v._labels >= 128 if v._kind == "weight" else v._labels > 0
        out = v._image.copy()
        out[keep] = v._result
        return out
    return v._result


def _changes(widget: Viewer) -> list[str]:
    seen: list[str] = []
    names = ["_image", "_labels", "_edges", "_result", "_palette", "_fills"]
    widget.observe(lambda c: seen.append(c["name"]), names=names)
    return seen


def test_proxies_of_a_bool_mask(scene) -> None:
    image, mask = scene
    v = Viewer(image, mask)
    assert v.batch_size == 2 and v.index == 0 and v.mode == "keep" and v._kind == "bool"
    assert v._image.shape == (12, 16, 4) and v._image.dtype == np.uint8
    assert np.array_equal(v._image, image_to_rgba(image[0]).cpu().numpy())
    assert np.array_equal(v._labels, mask[0].cpu().numpy().astype(np.uint8))
    assert v._modes == ["keep", "remove", "mean", "inpaint"]  # no "weighted" for a bool mask
    assert v._classes == ["mask"] and np.array_equal(v._palette, label_palette(2).numpy())
    assert v._edges is None and v.error == ""


@pytest.mark.parametrize("mode", ["keep", "remove", "mean", "inpaint"])
def test_result_matches_apply_mask(scene, mode: str) -> None:
    image, mask = scene
    v = Viewer(image, mask, mode=mode, fill=0.25)
    m = mask[:, None]
    expected = {
        "keep": lambda: maskbench.apply_mask(image, m, fill=0.25),
        "remove": lambda: maskbench.apply_mask(image, ~m, fill=0.25),
        "mean": lambda: maskbench.apply_mask(image, ~m, fill="mean"),
        "inpaint": lambda: maskbench.apply_mask(image, ~m, fill="inpaint"),
    }[mode]()
    assert torch.equal(v.result, expected)
    assert v.result.shape == image.shape and v.result.device == image.device
    proxy = image_to_rgba(expected[0]).cpu().numpy()
    assert np.array_equal(v._display_result(), proxy)  # same size: the proxy is the image
    # what the result panel shows: keep/remove/mean composed in the browser from _image, _labels and
    # _fills (composeResult), inpaint sent as _result; both are the kernel's result on the proxy
    shown = _panel(v)
    assert np.array_equal(shown, proxy)


def test_weighted_mode_and_weight_proxy(device) -> None:
    image = torch.rand(3, 8, 8, device=device)
    w = torch.linspace(0, 1, 64, device=device).reshape(8, 8)
    v = Viewer(image, w, mode="weighted", fill=1.0, contours=True)
    assert v._kind == "weight" and "weighted" in v._modes
    assert torch.allclose(v.result, image * w + (1 - w))
    assert np.array_equal(v._labels, (w.cpu() * 255).round().to(torch.uint8).numpy())
    v.mode = "keep"  # a weight's keep mask is w >= 0.5
    assert torch.equal(v.result, maskbench.apply_mask(image, w >= 0.5, fill=1.0))
    edges = unpack_bits(v._edges, (8, 8))
    assert np.array_equal(edges, contours(torch.from_numpy(v._labels) >= 128).numpy())


def test_labels_classes_colours_and_legend(device) -> None:
    labels = torch.tensor([[0, 1, 3], [3, 3, 0]], device=device)
    image = torch.rand(1, 2, 3, device=device)
    v = Viewer(image, labels, classes=["a", "b"], colors=["#ff0000"])
    assert v._kind == "labels" and v._classes == ["a", "b", "class 3"]
    assert v._palette.shape == (4, 4) and v._palette[1].tolist() == [255, 0, 0, 255]
    assert v._palette[3].tolist() == label_palette(4)[3].tolist()
    assert np.array_equal(v._labels, labels.cpu().numpy())
    assert torch.equal(v.result, maskbench.apply_mask(image, labels > 0, fill=0.0))
    v.contours = True
    assert np.array_equal(unpack_bits(v._edges, (2, 3)), contours(labels.cpu()).numpy())
    v.contours = False
    assert v._edges is None


def test_mode_and_fill_send_only_the_result(scene) -> None:
    """Issue 11 #5: keep/remove/mean are drawn in the browser (a mode change sends nothing; a fill
    change sends 8 bytes of colours); inpaint sends one RGBA proxy, once per item."""
    image, mask = scene
    v = Viewer(image, mask)
    seen = _changes(v)
    before = _composed(v)
    v.mode = "remove"
    v.fill = 0.5
    assert seen == ["_fills"] and v._fills.shape == (2, 4)
    assert not np.array_equal(before, _composed(v))
    assert np.array_equal(_composed(v), v._display_result())
    v.mode = "mean"
    seen.clear()
    v.fill = 0.9  # unused by "mean": only the (later) fill colour is sent
    assert seen == ["_fills"] and np.array_equal(_composed(v), v._display_result())
    seen.clear()
    v.mode = "inpaint"
    assert seen == ["_result"] and v._result_for == "inpaint:0"
    assert np.array_equal(_panel(v), v._display_result())
    assert v._result.shape == (int(mask[0].sum()), 4)  # only the mask pixels travel
    v.mode = "keep"
    v.mode = "inpaint"  # the browser holds this item's inpaint already: nothing is resent
    assert seen == ["_result"]


def test_index_switches_item(scene) -> None:
    image, mask = scene
    v = Viewer(image, mask, index=1, contours=True)
    assert np.array_equal(v._image, image_to_rgba(image[1]).cpu().numpy())
    seen = _changes(v)
    v.index = 0
    assert sorted(seen) == ["_edges", "_fills", "_image", "_labels"]  # the result is drawn in the browser
    assert np.array_equal(v._labels, mask[0].cpu().numpy().astype(np.uint8))
    expected = image_to_rgba(maskbench.apply_mask(image[0], mask[0], fill=0.0)).cpu().numpy()
    assert np.array_equal(_composed(v), expected) and np.array_equal(v._display_result(), expected)


def test_one_mask_for_a_batch(scene) -> None:
    image, mask = scene
    v = Viewer(image, mask[0])
    v.index = 1
    assert np.array_equal(v._labels, mask[0].cpu().numpy().astype(np.uint8))
    assert torch.equal(v.result, maskbench.apply_mask(image, mask[0], fill=0.0))


@pytest.mark.parametrize(
    ("name", "value", "error", "text"),
    [
        ("mode", "sideways", WidgetValueError, "mode: expected one of"),
        ("mode", "weighted", WidgetValueError, "needs a floating mask"),
        ("fill", "zero", WidgetTypeError, "fill: expected a number"),
        ("fill", float("nan"), WidgetValueError, "finite"),
        ("fill", True, WidgetTypeError, "fill: expected a number"),
        ("index", 2, WidgetValueError, r"index: expected an int in \[0, 1\] for a batch of 2; got 2"),
        ("index", 1.0, WidgetTypeError, "index: expected an int"),
        ("opacity", 1.5, WidgetValueError, r"opacity: expected a number in \[0, 1\]"),
        ("contours", 1, WidgetTypeError, "contours: expected True or False"),
    ],
)  # fmt: skip
def test_bad_assignment_changes_nothing(scene, name, value, error, text) -> None:
    image, mask = scene
    v = Viewer(image, mask, fill=0.5)
    state = {k: getattr(v, k) for k in ("mode", "fill", "index", "opacity", "contours")}
    result = v._result
    with pytest.raises(error, match=text):
        setattr(v, name, value)
    assert {k: getattr(v, k) for k in state} == state and v._result is result
    assert issubclass(error, (ValueError, TypeError))


@pytest.mark.parametrize(
    "message",
    [
        {"mode": "bogus"},
        {"index": -1},
        {"fill": "x"},
        {"_result": None},
        {"batch_size": 9},
        {"mode": "remove", "index": 7},
    ],
)
def test_malformed_browser_message_is_rejected(scene, message) -> None:
    image, mask = scene
    v = Viewer(image, mask)
    state = {k: getattr(v, k) for k in ("mode", "fill", "index", "opacity", "batch_size")}
    result = v._result
    with pytest.warns(UserWarning, match="rejected a browser update"):
        v.set_state(message)
    assert {k: getattr(v, k) for k in state} == state and v._result is result
    assert "rejected a browser update" in v.error


def test_browser_message_accepted_and_error_cleared(scene) -> None:
    image, mask = scene
    v = Viewer(image, mask)
    with pytest.warns(UserWarning):
        v.set_state({"mode": "bogus"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v.set_state({"mode": "remove", "fill": 1})
    assert v.mode == "remove" and v.fill == 1.0 and isinstance(v.fill, float) and v.error == ""
    assert torch.equal(v.result, maskbench.apply_mask(image, ~mask[:, None], fill=1.0))


def test_uint8_image_rejects_what_it_cannot_apply(device) -> None:
    """Issue 10 #6: a uint8 image cannot take mode mean/inpaint or a float fill: raise, change nothing."""
    image = torch.randint(0, 255, (3, 6, 6), dtype=torch.uint8, device=device)
    mask = torch.rand(6, 6, device=device) > 0.5
    v = Viewer(image, mask, fill=7)  # uint8 images work with a whole-number fill
    assert v.error == "" and v._display_result().shape == (6, 6, 4) and v._modes == ["keep", "remove"]
    assert v._fills[0].tolist() == [7, 7, 7, 255]  # the fill colour in uint8 units
    result, before = v._fills, v.result
    for name, value, text in [("mode", "mean", "needs a floating image"), ("mode", "inpaint", "floating image"),
                              ("fill", 0.5, "fill: 0.5 cannot be used"), ("fill", 300, "uint8"), ("fill", -1, "fill")]:  # fmt: skip
        with pytest.raises(WidgetValueError, match=text):
            setattr(v, name, value)
        assert (v.mode, v.fill) == ("keep", 7.0) and v._fills is result
        assert torch.equal(v.result, before)  # still computable
        with pytest.warns(UserWarning, match="rejected a browser update"):
            v.set_state({name: value})
        assert (v.mode, v.fill) == ("keep", 7.0) and torch.equal(v.result, before)
    with pytest.raises(WidgetValueError, match="mode: expected one of 'keep', 'remove'; got 'mean'"):
        Viewer(image, mask, mode="mean")
    with pytest.raises(WidgetValueError, match="fill"):
        Viewer(image, mask, fill=0.25)
    v.fill = 255
    assert torch.equal(v.result, maskbench.apply_mask(image, mask, fill=255))


def test_kernel_errors_are_shown_in_the_widget(monkeypatch) -> None:
    v = Viewer(torch.rand(3, 6, 6), torch.rand(6, 6) > 0.5)

    def broken(*args, **kwargs):
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(v, "_apply", broken)
    v._cache.clear()  # proxies built before the patch, and their background-computed inpaint panel
    with pytest.warns(UserWarning, match="RuntimeError: kernel failed"):
        v.mode = "inpaint"  # keep/remove/mean need no kernel call on a mode change (issue 11 #5)
    assert v.mode == "inpaint" and "kernel failed" in v.error
    monkeypatch.undo()
    v.mode = "keep"
    assert v.error == ""


def test_display_proxy_respects_max_display(device) -> None:
    image = torch.rand(1, 300, 130, device=device)
    labels = torch.zeros(300, 130, dtype=torch.long, device=device)
    labels[::2] = 2  # thin stripes: nearest sampling keeps ids valid
    v = Viewer(image, labels, max_display=100)
    assert v._image.shape == (*display_size(300, 130, 100), 4) == (100, 43, 4)
    assert v._labels.shape == (100, 43) and set(np.unique(v._labels)) <= {0, 2}
    assert v._full_size == [300, 130] and v.result.shape == (1, 300, 130)
    v.mode = "inpaint"  # a kernel-drawn mode: _result is sent
    for name in ("_image", "_labels", "_result", "_palette", "_fills"):
        assert array_to_json(getattr(v, name))["buffer"].nbytes <= MAX_MESSAGE_BYTES


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"image": torch.rand(2, 4, 4)}, ShapeError, "1, 3 or 4 channels"),
        ({"mask": torch.ones(4, 5, dtype=torch.bool)}, ShapeError, r"mask: expected \(H, W\)"),
        ({"mask": torch.full((4, 4), 2.0)}, MaskValueError, r"\[0, 1\]"),
        ({"mask": torch.full((4, 4), -1)}, MaskValueError, ">= 0"),
        ({"mask": torch.ones(4, 4, dtype=torch.complex64)}, DTypeError, "mask"),
        ({"max_display": 4096}, WidgetValueError, "max_display: expected an int in"),
        ({"classes": ["a", "b"]}, ShapeError, "classes"),
        ({"colors": ["#ff0000", "#00ff00"]}, ShapeError, "colors"),
        ({"colors": ["nope"]}, ValueError, "color: expected"),
        ({"mode": "weighted"}, WidgetValueError, "floating mask"),
        ({"index": 1}, WidgetValueError, "index"),
    ],
)  # fmt: skip
def test_bad_construction(kwargs, error, text) -> None:
    args = {"image": torch.rand(3, 4, 4), "mask": torch.ones(4, 4, dtype=torch.bool)}
    args.update(kwargs)
    with pytest.raises(error, match=text):
        Viewer(args.pop("image"), args.pop("mask"), **args)


def test_modes_constant_and_static_files() -> None:
    assert MODES == ("keep", "remove", "mean", "inpaint", "weighted")
    v = Viewer(torch.rand(3, 4, 4), torch.ones(4, 4, dtype=torch.bool))
    assert "export default" in str(v._esm) and ".mb-viewer" in str(v._css)


def test_empty_image_and_huge_fill_name_the_argument() -> None:
    """Issue 10 #11/#13: an empty image names `image` (not `h`); 10**400 is a clean rejection."""
    with pytest.raises(ShapeError, match=r"image: expected a non-empty image"):
        Viewer(torch.rand(3, 0, 4), torch.ones(0, 4, dtype=torch.bool))
    v = Viewer(torch.rand(3, 4, 4), torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(WidgetValueError, match="fill: expected a finite number"):
        v.fill = 10**400
    with pytest.warns(UserWarning, match="rejected a browser update"):
        v.set_state({"fill": 10**400, "opacity": 10**400})
    assert v.fill == 0.0 and v.opacity == 0.5
    with pytest.raises(WidgetValueError, match="fill: .*cannot be used"):
        v.fill = 1e300  # finite, but float32 cannot hold it


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float16, torch.float32])
def test_fill_value_is_apply_masks_fill(dtype) -> None:
    """The one-pixel fill (validation and the keep/remove fill colour) is exactly what ``apply_mask``
    puts in a replaced pixel, and rejects the same fills with the same error."""
    from maskbench.widgets._viewer_core import fill_value

    one = torch.zeros((1, 1, 1, 1), dtype=dtype)
    for fill in (0.0, -0.0, 0.5, 1.0, 7.0, 300.0, -1.0, 1e6):
        try:
            want = maskbench.apply_mask(one, torch.zeros((1, 1, 1, 1), dtype=torch.bool), fill=fill).reshape(())
        except maskbench.MaskbenchError as err:
            with pytest.raises(type(err)) as got:
                fill_value(one, fill)
            assert str(got.value) == str(err)
            continue
        got = fill_value(one, fill)
        assert got.dtype == want.dtype and torch.equal(got.view(-1).view(torch.uint8), want.view(-1).view(torch.uint8))


OPEN_WITHOUT_SYMPY = """
import sys, torch
from maskbench.widgets import Viewer
image = torch.randint(0, 255, (3, 64, 80), dtype=torch.uint8)
v = Viewer(image, image[0] > 100, fill=7)
print("sympy" in sys.modules, v._fills[0].tolist())
"""


def test_open_does_not_import_sympy() -> None:
    """Issue 12 item 4: opening a Viewer does not import sympy (``torch.broadcast_shapes``' first call
    does: 0.5-1 s before the first paint; the kernels broadcast shapes in plain Python)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", OPEN_WITHOUT_SYMPY], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "[7,", "7,", "7,", "255]"], out.stdout
