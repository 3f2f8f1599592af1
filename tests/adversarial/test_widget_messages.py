"""Malformed browser messages against every widget (issue 10, "our own adversarial suite", widget part).

Each message goes in the way the browser's does: ``Widget._handle_msg`` with an ``update`` (state
sync, ``set_state``) or a ``custom`` message (the Painter's edits) and its binary buffers. For every
bad message the widget must: raise nothing to the caller, warn, show an error in its ``error``
trait (short: a 9 MiB value is not echoed), and keep its state (traits, mask bytes, undo history,
results). Seeded and deterministic; the whole file runs in a few seconds.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import maskbench
from maskbench.widgets import LossExplorer, Painter, ThresholdTuner, Viewer
from maskbench.widgets._painter_proto import MAX_POINTS

BIG = "x" * (9 << 20)  # over the 8 MiB message limit
H, W = 24, 40


# ---------------------------------------------------------------- the widgets and their observable state
def painter():
    torch.manual_seed(0)
    p = Painter(torch.rand(H, W), classes=["background", "cell", "nucleus"])
    p.paint_stroke([(5, 5), (5, 30)], radius=2)
    p.fill_polygon([(12, 2), (22, 2), (22, 20)], label=2)
    p.sent = []
    p.send = lambda content, buffers=None: p.sent.append((content, buffers))
    return p


def tuner():
    s = maskbench.synthetic_scene((H, W), num_classes=2, batch=2, seed=1)
    return ThresholdTuner(s.probs, image=s.image, target=s.mask, threshold=0.4, min_size=2)


def viewer():
    g = torch.Generator().manual_seed(2)
    return Viewer(torch.rand(2, 3, H, W, generator=g), torch.randint(0, 3, (2, H, W), generator=g), fill=0.25)


def loss_explorer():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 1, H, W, generator=g)
    target = torch.rand(2, 1, H, W, generator=g).round()
    mask = torch.rand(2, 1, H, W, generator=g) > 0.3
    return LossExplorer(logits, target, mask, from_logits=True)


WIDGETS = {"painter": painter, "tuner": tuner, "viewer": viewer, "loss_explorer": loss_explorer}
TRAITS = {
    "painter": ("image_shape", "class_names", "tool", "active_class", "brush_size", "opacity", "can_undo", "can_redo"),
    "tuner": ("threshold", "method", "index", "min_size", "fill_holes", "opening_radius", "opacity", "show_target",
              "batch_size", "metrics", "best"),
    "viewer": ("mode", "fill", "opacity", "contours", "index", "batch_size", "_modes", "_kind", "_classes"),
    "loss_explorer": ("loss", "naive", "scale", "opacity", "index", "batch_size", "stats", "_losses", "_full_size"),
}  # fmt: skip


def state(kind, w) -> dict:
    out = {name: getattr(w, name) for name in TRAITS[kind]}
    if kind == "painter":
        out.update(mask=w.mask.numpy().tobytes(), steps=len(w._history), labels=w._labels.numpy().tobytes())
    elif kind == "tuner":
        out.update(mask=w.mask.cpu().numpy().tobytes(), packed=w._mask.tobytes(), probs=w._probs.tobytes())
    elif kind == "viewer":
        out.update(
            result=w._result.tobytes(),
            full=w.result.numpy().tobytes(),
            image=w._image.tobytes(),
            fills=w._fills.tobytes(),
        )
    else:
        out.update(maps=w._maps.tobytes(), edges=w._edges.tobytes(), full=w.maps.loss_masked.numpy().tobytes())
    return out


def update(w, sync: dict, buffers=()) -> None:
    """What the comm delivers for a browser ``model.save_changes()``."""
    w._handle_msg({"content": {"data": {"method": "update", "state": sync, "buffer_paths": []}}, "buffers": buffers})


def custom(w, content, buffers=()) -> None:
    """What the comm delivers for a browser ``model.send(content, callbacks, buffers)``."""
    w._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": list(buffers)})


def expect_rejected(kind, w, deliver) -> None:
    before = state(kind, w)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        deliver()  # must not raise
    assert record, "no warning"
    assert all(len(str(r.message)) < 3000 for r in record), "a huge value was echoed"
    assert w.error and len(w.error) < 3000
    after = state(kind, w)
    assert after == before, sorted(k for k in before if before[k] != after[k])


# ---------------------------------------------------------------- bad values for each trait the browser may set
ANY_BAD = [None, [], {}, [1, 2], {"a": 1}, BIG, b"\x00", float("nan"), float("inf"), -math.inf, 10**400, -(10**400)]
BAD = {
    "unit": ANY_BAD + [-0.5, 1.5, "0.5", True, 2**63],
    "int": ANY_BAD + [-1, 10**9, 1.5, "1", True, 2**70, -(2**63)],
    "flag": ANY_BAD + [0, 1, "true", 1.0],
    "choice": ANY_BAD + ["", "nope", 1, True, "KEEP"],
    "finite": ANY_BAD + [True, "0", 1e300],
}
KINDS = {
    "painter": {"tool": "choice", "active_class": "int", "brush_size": "int", "opacity": "unit"},
    "tuner": {"threshold": "unit", "method": "choice", "index": "int", "min_size": "int", "fill_holes": "flag",
              "opening_radius": "int", "opacity": "unit", "show_target": "flag"},
    "viewer": {"mode": "choice", "fill": "finite", "opacity": "unit", "contours": "flag", "index": "int"},
    "loss_explorer": {"loss": "choice", "naive": "choice", "scale": "choice", "opacity": "unit", "index": "int"},
}  # fmt: skip
CASES = [(k, name, v) for k, traits in KINDS.items() for name, cat in traits.items() for v in BAD[cat]]


@pytest.mark.parametrize("kind", sorted(WIDGETS))
def test_bad_values_for_every_browser_trait(kind):
    w = WIDGETS[kind]()
    n = 0
    for k, name, value in CASES:
        if k != kind:
            continue
        expect_rejected(kind, w, lambda: update(w, {name: value}))
        # rejected whole: a good value in the same message does not go through either
        good = {"opacity": 0.125}
        expect_rejected(kind, w, lambda: update(w, {**good, name: value}))
        n += 2
    assert n >= 40


UNKNOWN = [
    {"_model_name": "Evil"}, {"layout": None}, {"_dom_classes": ["x"]}, {"comm": 1}, {"keys": []},
    {"batch_size": 99}, {"image_shape": [1, 1]}, {"class_names": ["a"] * 300}, {"_classes": []},
    {"metrics": {"iou": 1.0}}, {"can_undo": True}, {"last_edit_ms": -1.0}, {"_modes": ["weighted"]},
    {"_image": {"buffer": memoryview(b"12"), "dtype": "uint8", "shape": [5]}},  # wrong buffer length too
    {"_labels": {"buffer": memoryview(b"\x00" * 8), "dtype": "complex128", "shape": [1]}},
    {"_result": None}, {"_mask": None}, {"y" * (9 << 20): 1}, {"error": BIG},
]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(WIDGETS))
def test_unknown_read_only_and_private_keys(kind):
    w = WIDGETS[kind]()
    for sync in UNKNOWN:
        expect_rejected(kind, w, lambda: update(w, sync))
    expect_rejected(kind, w, lambda: w.set_state(["not", "a", "dict"]))


# ---------------------------------------------------------------- the Painter's edit messages
def pts(*xy):
    return [memoryview(np.asarray(xy, dtype="<f4").tobytes())]


EDITS = [
    ({"type": "edit", "tool": "brush", "label": 1, "n": 2, "radius": 2}, pts(1, 1, 2)),  # 12 bytes, not 16
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 2}, pts(1, 1) * 2),  # two buffers
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 2}, []),
    (
        {"type": "edit", "tool": "brush", "label": 1, "n": MAX_POINTS + 1, "radius": 2},
        [memoryview(b"\0" * 8 * (MAX_POINTS + 1))],
    ),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 2}, [memoryview(b"\0" * (9 << 20))]),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": float("nan")}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 10**400}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": -1}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": "2"}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 2}, pts(float("nan"), 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 2}, pts(float("inf"), 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1, "radius": 2}, pts(-1e30, 1)),
    ({"type": "edit", "tool": "brush", "label": 9, "n": 1, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": -1, "n": 1, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 10**400, "n": 1, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": None, "n": 1, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": -5, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 1.0, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "brush", "label": 1, "n": 10**400, "radius": 2}, pts(1, 1)),
    ({"type": "edit", "tool": "lasso", "label": 1, "n": 3}, pts(0, 0, 0, 10)),
    ({"type": "edit", "tool": BIG, "label": 1, "n": 1}, pts(1, 1)),
    ({"type": "edit", "tool": None}, []),
    ({"type": "edit", "tool": "fill", "label": 1, "row": -1, "col": 0}, []),
    ({"type": "edit", "tool": "fill", "label": 1, "row": 0.5, "col": 0}, []),
    ({"type": "edit", "tool": "fill", "label": 1, "row": 10**400, "col": 0}, []),
    ({"type": "edit", "tool": "fill", "label": 1, "row": "0", "col": 0}, []),
    ({"type": "edit", "tool": "fill", "label": 1}, []),
    ({"type": "explode"}, []),
    ({"type": None}, []),
    ({"type": BIG}, []),
    ({}, []),
    ("edit", []),
    ([{"type": "undo"}], []),
    (None, []),
    (12, []),
]


def test_painter_malformed_edits():
    p = painter()
    for content, buffers in EDITS:
        p.sent.clear()
        expect_rejected("painter", p, lambda: custom(p, content, buffers))
        assert [c["type"] for c, _ in p.sent] == ["reject"], (
            content if not isinstance(content, dict) else content.get("tool")
        )
        assert len(p.sent[0][0]["message"]) < 3000


def test_painter_work_cap_per_message():
    p = painter()
    rng = np.random.default_rng(7)
    zigzag = rng.uniform(-0.5, H - 0.5, (MAX_POINTS, 2)).astype("<f4")  # valid, but ~10^6 crossings
    zigzag[:, 1] = rng.uniform(-0.5, W - 0.5, MAX_POINTS)
    big = Painter(torch.rand(2048, 2048))
    big.send = lambda content, buffers=None: None
    many = np.tile(np.array([[0, 0], [2047, 2047]], "<f4"), (MAX_POINTS // 2, 1))
    for tool, extra in (("lasso", {}), ("brush", {"radius": 4096.0})):
        before = big.mask
        with pytest.warns(UserWarning, match="row spans, over the limit"):
            custom(
                big, {"type": "edit", "tool": tool, "label": 1, "n": MAX_POINTS, **extra}, [memoryview(many.tobytes())]
            )
        assert torch.equal(big.mask, before) and not big.can_undo
    custom(p, {"type": "edit", "tool": "lasso", "label": 1, "n": MAX_POINTS}, [memoryview(zigzag.tobytes())])
    assert p.error == ""  # a small image: the same message is cheap and allowed


# ---------------------------------------------------------------- bursts
@pytest.mark.parametrize("kind", sorted(WIDGETS))
def test_burst_of_1000_malformed_messages(kind):
    w = WIDGETS[kind]()
    rng = np.random.default_rng(11)
    bad = [(name, v) for k, name, v in CASES if k == kind and not (isinstance(v, str) and len(v) > 1000)]
    before = state(kind, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(1000):
            if kind == "painter" and i % 2:
                content, buffers = EDITS[rng.integers(len(EDITS) - 5)]  # the cheap ones
                if any(len(b) > 1 << 20 for b in buffers):
                    continue
                custom(w, content, buffers)
            else:
                name, value = bad[rng.integers(len(bad))]
                update(w, {name: value})
    assert state(kind, w) == before and w.error  # its cost is a benchmark row (benchmarks/cases_resources.py)


def test_burst_of_valid_painter_edits_matches_the_kernels():
    """300 valid browser strokes in a row: the mask is what the kernels give, undo depth is bounded."""
    p = painter()
    rng = np.random.default_rng(3)
    expected = p.mask
    for _ in range(300):
        xy = rng.uniform(-0.5, [H - 0.5, W - 0.5], (3, 2)).astype("<f4")
        label, radius = int(rng.integers(0, 3)), float(rng.uniform(0, 3))
        custom(
            p, {"type": "edit", "tool": "brush", "label": label, "n": 3, "radius": radius}, [memoryview(xy.tobytes())]
        )
        expected[maskbench.kernels.paint.stroke_mask((H, W), torch.from_numpy(xy), radius)] = label
    assert p.error == "" and torch.equal(p.mask, expected) and len(p._history) <= 200
