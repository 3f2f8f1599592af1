"""Painter's Python model: tools, undo/redo, mask validation, and the browser message protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskbench import DTypeError, MaskValueError, ShapeError
from maskbench.kernels.paint import flood_fill_mask, polygon_mask, stroke_mask
from maskbench.render.proxy import max_proxy as proxy_labels
from maskbench.widgets import _painter_messages
from maskbench.widgets._transport import MAX_MESSAGE_BYTES
from maskbench.widgets.painter import Painter, PainterValueError

H, W = 24, 40
CLASSES = ("background", "cell", "nucleus")


def make(h=H, w=W, **kwargs):
    torch.manual_seed(0)
    p = Painter(torch.rand(h, w), classes=CLASSES, **kwargs)
    p.sent = []
    p.send = lambda content, buffers=None: p.sent.append((content, buffers))
    return p


def browser_view(p):
    """What a browser would hold: the `_labels` proxy with every patch message applied."""
    view = p._labels.numpy().copy()
    for content, buffers in p.sent:
        if content["type"] == "patch" and content["h"]:
            y, x, h, w = content["y"], content["x"], content["h"], content["w"]
            view[y : y + h, x : x + w] = np.frombuffer(bytes(buffers[0]), np.uint8).reshape(h, w)
    return view


def edit(p, tool, pts=None, **extra):
    content = {"type": "edit", "tool": tool, "label": 1, "id": 7, **extra}
    buffers = []
    if pts is not None:
        arr = np.asarray(pts, dtype="<f4").reshape(-1, 2)
        content.setdefault("n", len(arr))
        buffers = [memoryview(arr.tobytes())]
    p._on_msg(p, content, buffers)


# ---------------------------------------------------------------- construction
def test_initial_state():
    p = make()
    assert p._image.shape == (H, W, 4) and p._image.dtype == torch.uint8
    assert p._labels.shape == (H, W) and not p._labels.any()
    assert p._palette.shape == (3, 4) and p._palette[0, 3] == 0  # background never drawn
    assert p.class_names == list(CLASSES) and p.image_shape == [H, W]
    assert p.mask.dtype == torch.uint8 and p.mask.shape == (H, W) and not p.mask.any()
    assert p.brush_size == 1 and p.active_class == 1 and p.tool == "brush"
    assert not p.can_undo and not p.can_redo


def test_display_proxy_is_bounded_and_messages_small():
    p = Painter(torch.rand(3, 300, 130), max_display=64)
    assert p._image.shape == (64, 28, 4) and p._labels.shape == (64, 28)
    with pytest.raises(
        PainterValueError,
        match=r"max_display: expected an int in \[1, 1448\].* 2048x2048 RGBA proxy .* max_display <= 1448",
    ):
        Painter(torch.zeros(2048, 2048, dtype=torch.uint8), max_display=2048)


def test_classes_dict_colours_and_errors():
    p = Painter(torch.rand(8, 8), classes={"bg": "#ffffff", "road": "#ff0000", "car": None})
    assert p._palette[1].tolist() == [255, 0, 0, 255] and p._palette[0, 3] == 0
    with pytest.raises(PainterValueError, match="classes: expected 2 to 256"):
        Painter(torch.rand(8, 8), classes=["only"])
    with pytest.raises(ValueError, match="color"):
        Painter(torch.rand(8, 8), classes={"bg": None, "x": "#zz"})
    with pytest.raises(ShapeError, match="image"):
        Painter(torch.rand(2, 3, 8, 8))


# ---------------------------------------------------------------- tools against the kernels
def test_tools_match_kernels():
    p = make()
    pts = torch.tensor([[3.0, 4.0], [10.0, 30.0]])
    p.paint_stroke(pts, radius=2.5)
    expected = stroke_mask((H, W), pts, 2.5).to(torch.uint8)
    assert torch.equal(p.mask, expected)
    p.fill_polygon([(12, 2), (22, 2), (22, 20)], label="nucleus")
    expected[polygon_mask((H, W), torch.tensor([[12.0, 2], [22, 2], [22, 20]]))] = 2
    assert torch.equal(p.mask, expected)
    p.erase_stroke([(10, 30)], radius=3)
    expected[stroke_mask((H, W), torch.tensor([[10.0, 30.0]]), 3)] = 0
    assert torch.equal(p.mask, expected)
    region = flood_fill_mask(expected, 0, 0)
    p.fill_at(0, 0, label=2)
    expected[region] = 2
    assert torch.equal(p.mask, expected)
    assert torch.equal(p.mask_of("nucleus"), expected == 2) and torch.equal(p.mask_of(1), expected == 1)
    assert p.last_edit_ms > 0


def test_default_label_and_radius_come_from_the_traits():
    p = make(brush_size=5)
    p.active_class = 2
    p.paint_stroke([(12, 20)])
    assert torch.equal(p.mask_of(2), stroke_mask((H, W), torch.tensor([[12.0, 20.0]]), 2.5))


def test_mask_is_a_copy():
    p = make()
    m = p.mask
    m[:] = 1
    assert not p.mask.any()


# ---------------------------------------------------------------- undo / redo
def test_undo_redo_sixty_steps():
    p = make()
    snapshots = [p.mask]
    for i in range(60):
        p.paint_stroke([(i % H, (3 * i) % W)], radius=1.5, label=1 + i % 2)
        snapshots.append(p.mask)
    for i in range(60, 0, -1):
        assert torch.equal(p.mask, snapshots[i])
        p.undo()
    assert torch.equal(p.mask, snapshots[0]) and not p.can_undo and p.can_redo
    for i in range(1, 61):
        p.redo()
        assert torch.equal(p.mask, snapshots[i])
    p.undo()
    p.paint_stroke([(0, 0)], radius=1, label=2)  # a new edit drops the redo stack
    assert not p.can_redo
    p.redo()
    assert p.mask[0, 0] == 2 and p.mask[0, 1] == 2


def test_noop_edit_is_not_a_step_and_clear_is():
    p = make()
    p.paint_stroke([(5, 5)], radius=2)
    p.paint_stroke([(5, 5)], radius=2)  # paints nothing new
    p.clear()
    assert not p.mask.any()
    p.undo()
    assert p.mask.sum() > 0
    p.undo()
    assert not p.mask.any() and not p.can_undo


def test_full_image_step_is_compressed():
    p = Painter(torch.rand(512, 512))
    p.fill_at(0, 0)
    assert p._history.nbytes < 1000  # two constant 512x512 boxes: a few runs, not 512 KiB


# ---------------------------------------------------------------- loading masks
def test_mask_assignment_validates_and_is_one_step():
    p = make()
    p.paint_stroke([(5, 5)], radius=2)
    before, steps = p.mask, len(p._history)
    bad = [
        (torch.zeros(W, H, dtype=torch.uint8), ShapeError, r"mask: expected \(H, W\) = \(24, 40\).*\(40, 24\).*transp"),
        (torch.zeros(1, H, W, dtype=torch.uint8), ShapeError, r"\(1, 24, 40\) uint8.*reshape"),
        (torch.zeros(H, W), DTypeError, r"mask: expected an integer label map.*float32"),
        (torch.full((H, W), 3, dtype=torch.int64), MaskValueError, r"mask: expected labels in \[0, 2\]"),
        ([[0, 1]], DTypeError, "mask: expected a torch.Tensor"),
    ]
    for value, error, message in bad:
        with pytest.raises(error, match=message):
            p.mask = value
        assert torch.equal(p.mask, before) and len(p._history) == steps
    new = torch.randint(0, 3, (H, W))
    p.mask = new
    assert torch.equal(p.mask, new.to(torch.uint8)) and len(p._history) == steps + 1
    p.undo()
    assert torch.equal(p.mask, before)
    p.mask = np.ones((H, W), dtype=bool)
    assert p.mask.all() and p.mask.dtype == torch.uint8


def test_initial_mask_and_view():
    m = torch.randint(0, 3, (H, W), dtype=torch.int32)
    p = Painter(torch.rand(H, W), mask=m, classes=CLASSES)
    assert torch.equal(p.mask, m.to(torch.uint8)) and not p.can_undo
    np.testing.assert_array_equal(p._labels.numpy(), m.numpy())


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_save_and_load(tmp_path, suffix):
    p = make()
    p.fill_polygon([(0, 0), (0, 30), (20, 30)], label=2)
    path = tmp_path / f"mask{suffix}"
    p.save(path)
    q = make()
    q.load(path)
    assert torch.equal(q.mask, p.mask) and q.can_undo


# ---------------------------------------------------------------- traits
def test_trait_validation():
    p = make()
    with pytest.raises(PainterValueError, match=r"tool: expected one of 'brush', 'eraser', 'fill', 'lasso'; got 'pen'"):
        p.tool = "pen"
    with pytest.raises(ValueError, match=r"active_class: expected a label in \[0, 2\]; got 3"):
        p.active_class = 3
    with pytest.raises(ValueError, match="brush_size"):
        p.brush_size = 0
    with pytest.raises(ValueError, match="opacity"):
        p.opacity = 1.5
    with pytest.raises(ValueError, match="class: expected one of"):
        p.mask_of("dog")
    with pytest.raises(ValueError, match=r"label: expected an int <= 2"):
        p.paint_stroke([(1, 1)], label=3)
    with pytest.raises(ShapeError, match=r"points: expected \(N, 2\)"):
        p.paint_stroke(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="row: expected an int <= 23"):
        p.fill_at(24, 0)
    p.tool = "lasso"
    assert p.tool == "lasso" and not p.mask.any()


# ---------------------------------------------------------------- browser messages
def test_browser_stroke_rasterised_at_full_resolution_and_view_follows():
    p = make(h=300, w=200, max_display=64)
    pts = [(10.5, 20.25), (150.0, 180.0), (290.0, 30.0)]
    edit(p, "brush", pts, radius=6.0, label=2, t0=0)
    assert torch.equal(p.mask_of(2), stroke_mask((300, 200), torch.tensor(pts), 6.0))
    assert p.error == "" and p.last_edit_ms > 0 and p.last_edit_latency_ms > 0
    patches = [c for c, _ in p.sent if c["type"] == "patch"]
    assert patches[-1]["done"] and patches[-1]["id"] == 7
    assert all(c["h"] * c["w"] <= 64 * 64 for c in patches)
    np.testing.assert_array_equal(browser_view(p), proxy_labels(p.mask, (64, 43)).numpy())
    edit(p, "eraser", [(150.0, 180.0)], radius=20.0, label=1)
    edit(p, "lasso", [(0, 0), (0, 199), (40, 100)], label=1)
    edit(p, "fill", row=299, col=199, label=1)
    p._on_msg(p, {"type": "undo"}, [])
    np.testing.assert_array_equal(browser_view(p), proxy_labels(p.mask, (64, 43)).numpy())


@pytest.mark.parametrize(
    "content, buffers, message",
    [
        ({"tool": "pen", "n": 1}, [b"\0" * 8], "tool: expected one of"),
        ({"tool": "brush", "n": 2, "radius": 2}, [b"\0" * 12], "need 16 bytes; got 12"),
        ({"tool": "brush", "n": 1, "radius": 2}, [], "expected one Float32 buffer"),
        ({"tool": "brush", "n": 1, "radius": 2}, [np.array([np.nan, 1], "<f4").tobytes()], r"points: expected finite"),
        ({"tool": "brush", "n": 1, "radius": 2}, [np.array([1, 40.0], "<f4").tobytes()], r"\[-0.5, 39.5\].*index 0"),
        ({"tool": "brush", "n": 1, "radius": 2}, [np.array([-3, 1], "<f4").tobytes()], r"got \[-3.0, 1.0\]"),
        ({"tool": "brush", "n": 1, "radius": -1}, [b"\0" * 8], "radius: expected a number"),
        ({"tool": "brush", "n": 1, "radius": "2"}, [b"\0" * 8], "radius: expected a number"),
        ({"tool": "brush", "n": 1, "radius": 2, "label": 3}, [b"\0" * 8], r"label: expected an int in \[0, 2\]"),
        ({"tool": "brush", "n": 1, "radius": 2, "label": True}, [b"\0" * 8], "label"),
        ({"tool": "brush", "n": 0, "radius": 2}, [b""], "n: expected the number of points"),
        ({"tool": "lasso", "n": "3"}, [b"\0" * 24], "n: expected"),
        ({"tool": "fill", "row": 24, "col": 0}, [], r"fill seed: expected ints inside the 24x40 image; got \(24, 0\)"),
        ({"tool": "fill", "row": 1.0, "col": 0}, [], "fill seed"),
    ],
)
def test_malformed_browser_edits_are_rejected(content, buffers, message):
    p = make()
    p.paint_stroke([(5, 5)], radius=2)
    before, steps = p.mask, len(p._history)
    p.sent.clear()
    with pytest.warns(UserWarning, match=message):
        p._on_msg(p, {"type": "edit", "label": 1, "id": 3, **content}, buffers)
    assert torch.equal(p.mask, before) and len(p._history) == steps
    assert "rejected" in p.error and "unchanged" in p.error
    assert p.sent == [({"type": "reject", "id": 3, "message": p.error}, None)]
    edit(p, "brush", [(20, 20)], radius=1.0)  # a good edit clears the error
    assert p.error == ""


def test_unknown_message_type_and_non_dict():
    p = make()
    with pytest.warns(UserWarning, match="message type"):
        p._on_msg(p, {"type": "explode"}, [])
    with pytest.warns(UserWarning, match="expected an object"):
        p._on_msg(p, ["edit"], [])
    assert not p.mask.any()


def test_browser_undo_redo_clear_and_hello():
    p = make()
    edit(p, "brush", [(5, 5), (5, 30)], radius=2.0)
    painted = p.mask
    p._on_msg(p, {"type": "undo"}, [])
    assert not p.mask.any() and p.can_redo
    p._on_msg(p, {"type": "redo"}, [])
    assert torch.equal(p.mask, painted)
    p._on_msg(p, {"type": "clear"}, [])
    assert not p.mask.any()
    p.paint_stroke([(1, 1)], radius=1)
    changes = []
    p.observe(changes.append, "_labels")
    p._on_msg(p, {"type": "hello"}, [])
    assert len(changes) == 1 and changes[0]["new"][1, 1] == 1


def test_stroke_outside_everything_still_answers():
    p = make(h=50, w=50)
    edit(p, "brush", [(-0.5, -0.5)], radius=0.1)
    assert not p.mask.any() and p.sent[-1][0]["done"] and p.sent[-1][0]["id"] == 7


def test_large_patches_come_in_bands(monkeypatch):
    monkeypatch.setattr(_painter_messages, "_PATCH_BYTES", 100)
    p = make()
    p.fill_at(0, 0)
    patches = [c for c, _ in p.sent if c["type"] == "patch"]
    assert len(patches) > 1 and all(c["h"] * c["w"] <= 100 or c["h"] == 1 for c in patches)
    assert [c["done"] for c in patches] == [False] * (len(patches) - 1) + [True]
    np.testing.assert_array_equal(browser_view(p), p.mask.numpy())


def test_large_image_edits_at_full_resolution():
    img = torch.zeros(2048, 3072, dtype=torch.uint8)
    p = Painter(img)
    p.sent = []
    p.send = lambda content, buffers=None: p.sent.append((content, buffers))
    assert p._image.shape == (683, 1024, 4) and p._image.numel() < MAX_MESSAGE_BYTES
    pts = torch.tensor([[100.0, 100.0], [2000.0, 3000.0]])
    edit(p, "brush", pts.tolist(), radius=3.0)
    assert torch.equal(p.mask_of(1), stroke_mask((2048, 3072), pts, 3.0))
    assert all(len(bytes(b[0])) < MAX_MESSAGE_BYTES for c, b in p.sent if c["type"] == "patch" and b)
    np.testing.assert_array_equal(browser_view(p), proxy_labels(p.mask, (683, 1024)).numpy())


# ---------------------------------------------------------------- browser state updates (one whitelist)
@pytest.mark.parametrize(
    "message",
    [
        {"image_shape": [1, 1]},  # issue 10 #7: read-only traits cannot be overwritten from the browser
        {"class_names": ["a", "b", "c", "d"]},
        {"can_undo": True},
        {"_labels": None},
        {"tool": "pen"},
        {"active_class": 3},
        {"brush_size": 0},
        {"brush_size": 2.5},
        {"opacity": 10**400},
        {"opacity": float("nan")},
        {"error": "x" * (9 << 20)},  # the browser may only clear the status line
        {"tool": "fill", "image_shape": [2, 2]},  # rejected whole: the tool does not change either
    ],
)
def test_browser_state_update_is_validated_whole(message):
    p = make()
    p.paint_stroke([(5, 5)], radius=2)
    traits = ("image_shape", "class_names", "tool", "active_class", "brush_size", "opacity", "can_undo")
    before, mask, steps = {k: getattr(p, k) for k in traits}, p.mask, len(p._history)
    resent = []
    p.send_state = lambda key=None: resent.append(key)
    with pytest.warns(UserWarning, match="rejected a browser update") as record:
        p.set_state(message)  # warns and resyncs; never raises
    assert {k: getattr(p, k) for k in traits} == before and torch.equal(p.mask, mask) and len(p._history) == steps
    assert p.error.startswith("rejected a browser update") and len(p.error) < 1000
    assert all(len(str(w.message)) < 1000 for w in record)  # a 9 MiB value is not echoed
    synced = [k for k in message if k in p.keys]
    assert synced in resent or not synced  # the view is put back in sync


def test_browser_state_update_accepted():
    p = make()
    p.set_state({"tool": "lasso", "active_class": 2, "brush_size": 9, "opacity": 1})
    assert (p.tool, p.active_class, p.brush_size, p.opacity) == ("lasso", 2, 9, 1.0)
    p.error = "something"
    p.set_state({"error": ""})  # the dismiss button
    assert p.error == ""


def test_construction_errors_name_the_argument():
    with pytest.raises(PainterValueError, match=r"brush_size: expected a diameter in \[1, 4096\].*got 0"):
        Painter(torch.rand(8, 8), brush_size=0)  # issue 10 #13: rejected, not silently the default
    with pytest.raises(ShapeError, match=r"image: expected a non-empty image.*\(0, 5\)"):
        Painter(torch.zeros(0, 5))
    with pytest.raises(PainterValueError, match="opacity"):
        Painter(torch.rand(8, 8), opacity=10**400)
    from maskbench import MaskbenchError

    assert issubclass(PainterValueError, MaskbenchError) and issubclass(PainterValueError, ValueError)


def test_hostile_lasso_is_capped_and_a_big_valid_one_is_painted():
    """Issue 10 #9/#10: one message's work is capped (rejected before computing); a valid big lasso works."""
    from maskbench.widgets._painter_proto import MAX_POINTS

    p = make(h=512, w=512)
    rng = np.random.default_rng(0)
    zigzag = rng.uniform(0, 511, (MAX_POINTS, 2))  # every edge crosses ~170 rows: ~45M crossings
    with pytest.warns(UserWarning, match=r"polygon: needs \d+ row spans, over the limit"):
        edit(p, "lasso", zigzag)
    assert not p.mask.any() and not p.can_undo and p.sent[-1][0]["type"] == "reject"
    t = np.linspace(0, 2 * np.pi, MAX_POINTS, endpoint=False)
    circle = np.stack([255.3 + 200 * np.sin(t), 255.7 + 200 * np.cos(t)], 1)
    edit(p, "lasso", circle)
    assert p.error == "" and abs(int(p.mask.sum()) - np.pi * 200**2) < 0.002 * np.pi * 200**2
    edit(p, "brush", [(0, 0), (511, 511)] * 20, radius=2048.0)  # the largest brush: spans, not pixels
    assert p.error == "" and p.mask.all()


def test_huge_numbers_are_rejected_cleanly():
    """Issue 10 #11: 10**400 is a clean rejection, never an OverflowError."""
    p = make()
    with pytest.raises(PainterValueError, match="opacity: expected a finite number"):
        p.opacity = 10**400
    with pytest.warns(UserWarning, match="rejected a browser update"):
        p.set_state({"opacity": 10**400, "brush_size": 10**400})
    with pytest.warns(UserWarning, match="radius"):
        edit(p, "brush", [(1, 1)], radius=10**400)
    with pytest.warns(UserWarning, match="fill seed"):
        edit(p, "fill", row=10**400, col=0)
    edit(p, "brush", [(1, 1)], radius=1.0, t0=10**400)  # a silly timestamp is ignored
    assert p.opacity == 0.5 and p.mask[1, 1] == 1 and p.last_edit_latency_ms == 0.0
