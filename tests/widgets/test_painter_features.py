"""Painter features napari users expect (issue 13): label picker, fill modes, paint over (preserve
labels), per-class colours and visibility, mask_version / on_edit, from_painter. Python model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from test_painter import CLASSES, browser_view, edit, make  # rootdir-relative (tests/widgets has no __init__)

from maskbench.kernels.paint import polygon_mask, stroke_mask
from maskbench.widgets.painter import Painter, PainterValueError


def scene():
    """Two separate blobs of label 1, one of label 2, background elsewhere."""
    p = make()
    m = torch.zeros(24, 40, dtype=torch.uint8)
    m[2:8, 2:10] = 1
    m[12:20, 25:35] = 1
    m[10:16, 10:18] = 2
    p.mask = m
    return p, m


def test_pick_at_and_the_pick_message_set_the_active_class():
    p, m = scene()
    assert p.pick_at(11, 12) == 2 and p.active_class == 2
    p._on_msg(p, {"type": "pick", "row": 3, "col": 3}, [])
    assert p.active_class == 1
    p._on_msg(p, {"type": "pick", "row": 0, "col": 0}, [])
    assert p.active_class == 0
    with pytest.warns(UserWarning, match=r"pick: expected ints inside the 24x40 image"):
        p._on_msg(p, {"type": "pick", "row": 24, "col": 0}, [])
    assert p.active_class == 0 and torch.equal(p.mask, m)


@pytest.mark.parametrize("mode", ["contiguous", "global"])
def test_fill_modes(mode):
    p, m = scene()
    p.fill_mode = mode
    p.fill_at(3, 3, label=2)
    comp, _ = ndimage.label(m.numpy() == 1)
    region = comp == comp[3, 3] if mode == "contiguous" else m.numpy() == 1  # reference: scipy / numpy
    want = np.where(region, 2, m.numpy())
    np.testing.assert_array_equal(p.mask.numpy(), want)
    assert browser_view(p).tolist() == p.mask.tolist()
    with pytest.raises(PainterValueError, match="fill_mode: expected one of 'contiguous', 'global'"):
        p.fill_mode = "everywhere"


def test_global_fill_from_the_browser_message():
    p, m = scene()
    p.set_state({"fill_mode": "global"})
    edit(p, "fill", row=15, col=30, label=2)
    assert torch.equal(p.mask, torch.where(m == 1, 2, m).to(torch.uint8))


@pytest.mark.parametrize("paint_over", [-1, 0, 1, 2])
def test_paint_over_brush_lasso_fill_and_eraser(paint_over):
    p, m = scene()
    p.paint_over = paint_over
    allowed = torch.ones_like(m, dtype=torch.bool) if paint_over < 0 else m == paint_over
    pts = torch.tensor([[5.0, 0.0], [14.0, 39.0]])
    p.paint_stroke(pts, label=2, radius=3)
    want = torch.where(stroke_mask(m.shape, pts, 3) & allowed, 2, m).to(torch.uint8)
    assert torch.equal(p.mask, want)
    before = p.mask
    poly = torch.tensor([[0.0, 20.0], [0.0, 39.0], [23.0, 39.0]])
    edit(p, "lasso", poly.tolist(), label=1)
    allowed = torch.ones_like(m, dtype=torch.bool) if paint_over < 0 else before == paint_over
    assert torch.equal(p.mask, torch.where(polygon_mask(m.shape, poly) & allowed, 1, before).to(torch.uint8))
    # eraser: paint_over 0 would erase nothing, so it removes only the active class (napari)
    p.active_class = 1
    before = p.mask
    p.erase_stroke(pts, radius=4)
    target = {-1: None, 0: 1, 1: 1, 2: 2}[paint_over]
    erased = stroke_mask(m.shape, pts, 4) & (True if target is None else before == target)
    assert torch.equal(p.mask, torch.where(erased, 0, before).to(torch.uint8))
    assert browser_view(p).tolist() == p.mask.tolist()


def test_fill_honours_paint_over():
    p, m = scene()
    p.paint_over = 0
    p.fill_at(3, 3, label=2)  # on label 1: not paintable, nothing changes, still answered
    assert torch.equal(p.mask, m) and p.mask_version == 1 and p.sent[-1][0]["done"]
    p.fill_at(0, 0, label=2)  # the background region
    assert torch.equal(p.mask, torch.where(m == 0, 2, m).to(torch.uint8))
    with pytest.raises(PainterValueError, match=r"paint_over: expected a label or -1 \(every label\) in \[-1, 2\]"):
        p.paint_over = 3


def test_class_colours_update_the_palette_and_are_validated():
    p = make()
    assert p.class_colors == ["#000000", "#e69f00", "#56b4e9"]
    p.set_state({"class_colors": ["#000000", "#FF0000", "#00ff00"]})  # the legend's colour pickers
    assert p.class_colors == ["#000000", "#ff0000", "#00ff00"]
    assert p._palette.tolist() == [[0, 0, 0, 0], [255, 0, 0, 255], [0, 255, 0, 255]]  # label 0 stays clear
    for bad, why in [
        (["#000000", "#ff0000"], r"one entry per class \(3\); got 2"),
        (["#000000", "red!", "#00ff00"], r'class_colors\[1\]: expected a colour like "#e69f00"'),
        ("#ff0000", "expected a list"),
    ]:
        with pytest.warns(UserWarning, match="rejected a browser update"):
            p.set_state({"class_colors": bad})
        assert p._palette[1].tolist() == [255, 0, 0, 255]
        with pytest.raises((PainterValueError, TypeError), match=why):
            p.class_colors = bad


def test_class_visibility_is_validated_and_keeps_the_mask():
    p, m = scene()
    p.set_state({"class_visible": [True, False, True]})
    assert p.class_visible == [True, False, True] and torch.equal(p.mask, m)
    with pytest.raises(TypeError, match=r"class_visible\[2\]: expected True or False; got 1"):
        p.class_visible = [True, True, 1]
    with pytest.raises(PainterValueError, match="one entry per class"):
        p.class_visible = [True]


def test_mask_version_and_on_edit_follow_every_change():
    p = make()
    seen, versions = [], []
    p.observe(lambda ch: versions.append(ch["new"]), "mask_version")
    p.on_edit(seen.append)
    p.paint_stroke([(5, 5), (5, 15)], radius=2)
    edit(p, "brush", [(10, 1), (10, 30)], radius=1.5)
    p.paint_stroke([(5, 5), (5, 15)], radius=2)  # no change: not an edit
    p.fill_at(0, 0, label=2)
    p.undo()
    p.redo()
    p.mask = torch.zeros(24, 40, dtype=torch.uint8)
    p.clear()  # already clear: nothing changes
    kinds = [(e["kind"], e["label"], e["version"]) for e in seen]
    assert kinds == [("brush", 1, 1), ("brush", 1, 2), ("fill", 2, 3), ("undo", None, 4), ("redo", None, 5),
                     ("load", None, 6)]  # fmt: skip
    assert versions == [1, 2, 3, 4, 5, 6] and p.mask_version == 6
    first = seen[0]
    assert first["pixels"] == int(stroke_mask((24, 40), torch.tensor([[5.0, 5], [5, 15]]), 2).sum())
    r0, r1, c0, c1 = first["box"]
    assert (r0, r1, c0, c1) == (3, 8, 3, 18)
    p.on_edit(seen.append, remove=True)
    p.paint_stroke([(20, 20)], radius=2)
    assert len(seen) == 6 and p.mask_version == 7
    with pytest.raises(TypeError, match="callback: expected a callable"):
        p.on_edit(42)


def test_an_on_edit_error_is_shown_not_raised_into_the_comm():
    p = make()

    def broken(edit):
        raise RuntimeError("boom")

    p.on_edit(broken)
    with pytest.warns(UserWarning, match="on_edit callback broken failed: RuntimeError: boom"):
        edit(p, "brush", [(5, 5), (5, 15)], radius=2)  # the browser's edit: must not raise
    assert p.mask.any() and "boom" in p.error and p.mask_version == 1
    assert p.sent[-1][0]["type"] == "patch" and p.sent[-1][0]["done"]  # the view still got its answer


def test_initial_mask_is_not_an_edit_and_from_painter_carries_on():
    torch.manual_seed(0)
    img = np.random.rand(24, 40, 3).astype("float32")  # numpy (H, W, C)
    existing = np.zeros((24, 40), dtype=np.uint8)
    existing[3:9, 4:12] = 2
    p = Painter(img, mask=existing, classes={"background": None, "cell": "#ff0000", "nucleus": None})
    assert p.mask_version == 0 and not p.can_undo and p.mask_of("nucleus").sum() == 48
    p.paint_stroke([(15, 5), (15, 30)], radius=2)
    p.set_state({"fill_mode": "global", "paint_over": 0, "class_visible": [True, True, False], "tool": "fill"})
    p.brush_size = 7
    q = Painter.from_painter(p)
    assert torch.equal(q.mask, p.mask) and q._source is img and q.mask_version == 0
    assert (q.fill_mode, q.paint_over, q.class_visible, q.tool, q.brush_size) == (
        "global", 0, [True, True, False], "fill", 7)  # fmt: skip
    assert q.class_colors == p.class_colors and q.class_names == p.class_names
    r = Painter.from_painter(p, opacity=0.9, classes=list(CLASSES))
    assert r.opacity == 0.9 and torch.equal(r.mask, p.mask)
    with pytest.raises(TypeError, match="old: expected a Painter"):
        Painter.from_painter(p.mask)


def test_mask_version_cannot_be_set_from_the_browser_or_python():
    p = make()
    p.paint_stroke([(5, 5)], radius=2)
    with pytest.warns(UserWarning, match="'mask_version' cannot be set from the browser"):
        p.set_state({"mask_version": 99})
    assert p.mask_version == 1
    with pytest.raises(Exception, match="read-only"):
        p.mask_version = 5
