"""The ThresholdTuner's Python model: masks, metrics, methods, clean-up, batches, validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import maskbench
from maskbench._checks import DTypeError, MaskValueError, ShapeError
from maskbench.render import contours, display_size, proxy
from maskbench.widgets import _tuner_core as core
from maskbench.widgets._transport import array_to_json, unpack_bits
from maskbench.widgets.tuner import METHODS, ThresholdTuner, TunerTypeError, TunerValueError


@pytest.fixture(scope="module")  # built once: the tests never modify these tensors
def scene(device):
    s = maskbench.synthetic_scene((24, 20), num_classes=2, batch=3, seed=3)
    return s.probs.to(device), s.image.to(device), s.mask.to(device)


def _metrics_ref(mask: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    m, t = mask.cpu().numpy(), target.cpu().numpy()
    tp, fp, fn = int((m & t).sum()), int((m & ~t).sum()), int((~m & t).sum())
    r = lambda a, b: a / b if b else 1.0  # noqa: E731
    return {"iou": r(tp, tp + fp + fn), "dice": r(2 * tp, 2 * tp + fp + fn), "precision": r(tp, tp + fp),
            "recall": r(tp, tp + fn), "foreground": float(m.mean())}  # fmt: skip


def _state(t: ThresholdTuner) -> tuple:
    return (t.threshold, t.method, t.index, t.min_size, t.fill_holes, t.opening_radius, t.mask, dict(t.metrics))


def _same_state(a: tuple, b: tuple) -> bool:
    return a[:6] == b[:6] and torch.equal(a[6], b[6]) and a[7] == b[7]


def test_mask_and_metrics_equal_the_kernels(scene) -> None:
    probs, image, target = scene
    t = ThresholdTuner(probs, image=image, target=target, threshold=0.4)
    p0, t0 = probs[0], target[0]
    assert torch.equal(t.mask, maskbench.threshold(p0, 0.4)) and t.mask.device == probs.device
    direct = {
        f.__name__: float(f(t.mask, t0)) for f in (maskbench.iou, maskbench.dice, maskbench.precision, maskbench.recall)
    }
    for name, value in direct.items():
        assert t.metrics[name] == pytest.approx(value, rel=1e-6), name
    ref = _metrics_ref(t.mask, t0)
    assert {k: t.metrics[k] for k in ref} == pytest.approx(ref)
    assert t.metrics["threshold"] == 0.4 and t.metrics["cleaned"] is False
    t.threshold = 0.7
    assert torch.equal(t.mask, p0 > 0.7) and t.metrics["threshold"] == 0.7
    assert t.metrics["iou"] == pytest.approx(float(maskbench.iou(p0 > 0.7, t0)), rel=1e-6)
    # the packed display mask is the kernel's mask (display size == full size here)
    assert np.array_equal(unpack_bits(t._mask, (24, 20)), t.mask.cpu().numpy())


def test_proxies_histogram_and_curve(scene) -> None:
    probs, image, target = scene
    t = ThresholdTuner(probs, image=image, target=target)
    assert t._probs.dtype == np.float32 and np.array_equal(t._probs, probs[0].cpu().numpy())
    assert t._image.shape == (24, 20, 4) and t._image.dtype == np.uint8
    # fixed bins of [0, 1], split by target: numpy's histogram is the reference
    p, g = probs[0].cpu().numpy().ravel(), target[0].cpu().numpy().ravel()
    edges = np.linspace(0, 1, core.HIST_BINS + 1)
    ref = np.stack([np.histogram(p[~g], edges)[0], np.histogram(p[g], edges)[0]])
    assert t._hist.shape == (2, core.HIST_BINS) and t._hist.dtype == np.int32
    assert np.abs(t._hist - ref).sum() <= 2 and t._hist.sum() == p.size  # bin edges may round differently
    sweep = maskbench.threshold_sweep(probs[0], target[0], thresholds=core.SWEEP_THRESHOLDS)
    assert torch.equal(t.sweep.tp, sweep.tp) and torch.equal(t.sweep.fp, sweep.fp)
    assert np.allclose(t._curve, torch.stack([sweep.thresholds, sweep.iou(), sweep.dice()]).cpu().numpy())
    bt, bv = sweep.best("iou")
    assert t.best["iou_threshold"] == pytest.approx(float(bt)) and t.best["iou"] == pytest.approx(float(bv))
    edges_bits = unpack_bits(t._target_edges, (24, 20))
    assert np.array_equal(edges_bits, contours(target[0]).cpu().numpy())
    for name in ("_probs", "_image", "_hist", "_curve", "_target_edges", "_mask"):
        assert array_to_json(getattr(t, name))["buffer"].nbytes > 0  # every array trait is sendable


def test_without_target_or_image(device) -> None:
    probs = torch.rand(9, 7, device=device)
    t = ThresholdTuner(probs)
    assert t._image is None and t._curve is None and t._target_edges is None and t.sweep is None
    assert set(t.metrics) == {"threshold", "foreground", "cleaned"} and t.best == {}
    assert t._hist.shape == (1, core.HIST_BINS) and t._hist.sum() == 63
    assert t.metrics["foreground"] == pytest.approx(float((probs > 0.5).float().mean()))
    assert t.masks.shape == (1, 9, 7)


def test_large_proxy_is_uint8_and_nearest(device, monkeypatch) -> None:
    monkeypatch.setattr(proxy, "FLOAT_PROXY_PIXELS", 10)
    probs = torch.rand(16, 12, device=device)
    t = ThresholdTuner(probs, max_display=8, threshold=0.3)
    dh, dw = display_size(16, 12, 8)
    assert t._probs.shape == (dh, dw) and t._probs.dtype == np.uint8
    near = proxy.nearest_proxy(probs, (dh, dw))
    assert np.array_equal(t._probs, (near.cpu() * 255).round().to(torch.uint8).numpy())
    assert set(near.flatten().tolist()) <= set(probs.flatten().tolist())  # real pixels, not averages
    assert np.array_equal(unpack_bits(t._mask, (dh, dw)), proxy.nearest_proxy(t.mask, (dh, dw)).cpu().numpy())
    assert t.mask.shape == (16, 12)  # the kernel keeps full resolution


@pytest.mark.parametrize("method", [m for m in METHODS if m != "manual"])
def test_method_moves_the_threshold(scene, method: str) -> None:
    probs, _, target = scene
    t = ThresholdTuner(probs, target=target)
    value = t.apply_method(method)
    expected = float(maskbench.auto_threshold(probs[0], method=method))
    assert value == t.threshold == pytest.approx(expected, abs=1e-7) and t.method == method
    assert torch.equal(t.mask, maskbench.threshold(probs[0], t.threshold))


def test_method_switching_and_batches(scene) -> None:
    probs, _, target = scene
    t = ThresholdTuner(probs, target=target, method="otsu", index=1)
    otsu = maskbench.threshold_otsu
    assert t.threshold == pytest.approx(float(otsu(probs[1])))
    t.index = 2  # the method follows the image
    assert t.threshold == pytest.approx(float(otsu(probs[2]))) and t.method == "otsu"
    assert torch.equal(t.mask, probs[2] > t.threshold)
    assert t.metrics["iou"] == pytest.approx(float(maskbench.iou(t.mask, target[2])), rel=1e-6)
    assert np.array_equal(t._probs, probs[2].cpu().numpy())
    per_image = maskbench.auto_threshold(probs, method="otsu")
    assert torch.equal(t.masks, maskbench.threshold(probs, per_image))  # each image its own value
    t.threshold = 0.25  # moving the slider leaves the method
    assert t.method == "manual" and torch.equal(t.masks, probs > 0.25)
    t.method = "otsu"
    t.threshold = t.threshold  # the method's own value: no switch
    assert t.method == "otsu"
    t.index = 0
    assert t.threshold == pytest.approx(float(otsu(probs[0])))
    t.apply_method("manual")
    assert t.method == "manual" and t.threshold == pytest.approx(float(otsu(probs[0])))


def test_clean_up_is_applied(device) -> None:
    probs = torch.zeros(20, 20, device=device)
    probs[2:12, 2:12] = 0.9
    probs[5:8, 5:8] = 0.1  # a hole
    probs[16, 16] = 0.8  # a speck
    probs[2:12, 12] = 0.7  # a one-pixel-wide bridge
    target = probs > 0.05
    t = ThresholdTuner(probs, target=target)
    raw = probs > 0.5
    assert torch.equal(t.mask, raw)
    t.min_size = 2
    assert torch.equal(t.mask, maskbench.remove_small_objects(raw, min_size=2)) and t.metrics["cleaned"]
    t.fill_holes = True
    t.opening_radius = 1
    expected = maskbench.fill_holes(maskbench.remove_small_objects(maskbench.opening(raw, radius=1), min_size=2))
    assert torch.equal(t.mask, expected) and not bool(t.mask[16, 16]) and bool(t.mask[6, 6])
    assert t.metrics["iou"] == pytest.approx(float(maskbench.iou(expected, target)), rel=1e-6)
    assert np.array_equal(unpack_bits(t._mask, (20, 20)), expected.cpu().numpy())
    assert torch.equal(t.masks[0], expected)


def test_logits_option(device) -> None:
    logits = torch.randn(2, 6, 5, device=device) * 4
    t = ThresholdTuner(logits, logits=True, threshold=0.3)
    assert t.logits and torch.equal(t.mask, torch.sigmoid(logits[0]) > 0.3)
    assert np.array_equal(t._probs, torch.sigmoid(logits[0]).cpu().numpy())
    with pytest.raises(TunerValueError, match=r"threshold: expected a probability in \[0, 1\]; got 2.0.*sigmoid"):
        t.threshold = 2.0
    with pytest.raises(MaskValueError, match="If these are logits, pass logits=True"):
        ThresholdTuner(logits)
    bad = logits.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(MaskValueError, match="NaN logits"):
        ThresholdTuner(bad, logits=True)


def test_bad_constructor_input(device) -> None:
    probs = torch.rand(4, 6, device=device)
    cases = [
        (dict(probs=probs * 2), MaskValueError, r"probs: expected probabilities in \[0, 1\].*\(4, 6\)"),
        (dict(probs=probs > 0.5), DTypeError, "probs: .*bool mask"),
        (dict(probs=(probs * 255).to(torch.uint8)), DTypeError, "probs: .*integers"),
        (dict(probs=probs[0]), ShapeError, "probs: expected 2 or 3 dimensions"),
        (dict(probs=probs[:0]), ShapeError, "probs: expected a non-empty"),
        (dict(probs=probs, image=torch.rand(3, 6, 4, device=device)), ShapeError, r"image: expected \(C, 4, 6\)"),
        (dict(probs=probs, image=torch.rand(2, 4, 6, device=device)), ShapeError, "image: expected 1, 3 or 4 channels"),
        (dict(probs=probs, target=probs), DTypeError, "target: expected a bool mask"),
        (dict(probs=probs, target=torch.ones(6, 4, dtype=torch.bool, device=device)), ShapeError, r"target: expected \(4, 6\)"),
        (dict(probs=probs, max_display=0), TunerValueError, "max_display"),
        (dict(probs=probs, threshold=1.5), TunerValueError, "threshold"),
        (dict(probs=probs, method="magic"), TunerValueError, "method: expected one of 'manual', 'otsu'"),
        (dict(probs=probs, index=1), TunerValueError, r"index: expected an int in \[0, 0\]"),
        (dict(probs=probs, min_size=-1), TunerValueError, "min_size"),
        (dict(probs=probs, logits="yes"), TypeError, "logits: expected True or False"),
    ]  # fmt: skip
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            ThresholdTuner(kwargs.pop("probs"), **kwargs)
    with pytest.raises(MaskValueError, match="1 NaN"):
        ThresholdTuner(torch.tensor([[0.5, float("nan")]], device=device))


def test_bad_assignment_leaves_state_unchanged(scene) -> None:
    probs, _, target = scene
    t = ThresholdTuner(probs, target=target, threshold=0.45)
    before = _state(t)
    bad = [("threshold", -0.1, TunerValueError, r"\[0, 1\]; got -0.1"), ("threshold", float("nan"), TunerValueError, "finite"),
           ("threshold", "0.5", TunerTypeError, "expected a number; got str"), ("threshold", True, TunerTypeError, "number"),
           ("method", "Otsu", TunerValueError, "method"), ("index", 3, TunerValueError, r"\[0, 2\] for a batch of 3"),
           ("index", 1.0, TunerTypeError, "index: expected an int"), ("opening_radius", 999, TunerValueError, "opening_radius"),
           ("fill_holes", 1, TunerTypeError, "fill_holes: expected True or False"), ("opacity", 2, TunerValueError, "opacity")]  # fmt: skip
    for name, value, error, message in bad:
        with pytest.raises(error, match=message):
            setattr(t, name, value)
        assert _same_state(_state(t), before), name
    with pytest.raises(TunerValueError):
        t.apply_method("nope")
    with pytest.raises(AttributeError):
        t.mask = torch.zeros(24, 20, dtype=torch.bool)  # derived: set the threshold instead
    t.threshold = torch.tensor(0.25)  # 0-d tensors (e.g. threshold_otsu's result) are accepted
    assert t.threshold == 0.25 and isinstance(t.threshold, float)


def test_browser_messages(scene) -> None:
    probs, _, target = scene
    t = ThresholdTuner(probs, target=target)
    before = _state(t)
    malformed = [{"threshold": "0.3"}, {"threshold": 1.2}, {"index": 7}, {"method": "sauvola"},
                 {"min_size": 2.5}, {"metrics": {"iou": 1.0}}, {"_mask": None}, {"threshold": 0.3, "index": -1}]  # fmt: skip
    for message in malformed:
        with pytest.warns(UserWarning, match="rejected a browser update"):
            t.set_state(message)
        assert t.error.startswith("rejected a browser update") and _same_state(_state(t), before), message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.set_state({"threshold": 0.3, "method": "manual"})  # what the slider sends
    assert t.threshold == 0.3 and torch.equal(t.mask, probs[0] > 0.3) and t.metrics["threshold"] == 0.3
    t.set_state({"method": "yen"})  # the method picker
    assert t.threshold == pytest.approx(float(maskbench.threshold_yen(probs[0])))
    t.set_state(
        {"index": 1, "min_size": 3, "fill_holes": True, "opening_radius": 1, "opacity": 0.2, "show_target": False}
    )
    assert t.index == 1 and t.min_size == 3 and t.opacity == 0.2 and t.error == ""
    assert t.threshold == pytest.approx(float(maskbench.threshold_yen(probs[1])))


@given(
    h=st.integers(1, 9), w=st.integers(1, 9), value=st.floats(0, 1), kind=st.sampled_from(["rand", "zeros", "ones"]),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16]), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_property_mask_is_threshold(device, h, w, value, kind, dtype, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    probs = {"rand": torch.rand(h, w, generator=g), "zeros": torch.zeros(h, w), "ones": torch.ones(h, w)}[kind]
    probs = probs.to(device=device, dtype=dtype)
    target = (torch.rand(h, w, generator=g) > 0.5).to(device)
    t = ThresholdTuner(probs, target=target, threshold=value)
    assert torch.equal(t.mask, probs > value) and t.mask.shape == (
        h,
        w,
    )  # foreground is strictly above (issue 10 item 5)
    ref = _metrics_ref(t.mask, target)
    assert {k: t.metrics[k] for k in ref} == pytest.approx(ref)
    assert int(t._hist.sum()) == h * w
    assert np.array_equal(unpack_bits(t._mask, (h, w)), t.mask.cpu().numpy())


def test_huge_and_oversized_values_are_rejected_cleanly(scene) -> None:
    """Issue 10 #11/#13: 10**400 is no OverflowError; a 9 MiB string is not echoed back."""
    probs, _, target = scene
    t = ThresholdTuner(probs, target=target)
    before = _state(t)
    with pytest.raises(TunerValueError, match="threshold: expected a finite number"):
        t.threshold = 10**400
    for message in ({"threshold": 10**400}, {"opacity": -(10**400)}, {"method": "x" * (9 << 20)}, {"y" * (9 << 20): 1}):
        with pytest.warns(UserWarning, match="rejected a browser update") as record:
            t.set_state(message)
        assert _same_state(_state(t), before) and len(t.error) < 500
        assert all(len(str(w.message)) < 500 for w in record)
    assert issubclass(TunerValueError, maskbench.MaskbenchError) and issubclass(TunerTypeError, TypeError)


# -- issue 11 item 4: metrics for any slider position from one-pass counts -------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("chunk", [None, 97])  # 97: the pixels counted in 12 chunks, the last one partial
def test_grid_counts_equal_thresholding_at_every_step(device, dtype, chunk, monkeypatch) -> None:
    if chunk is not None:
        monkeypatch.setattr(core, "COUNT_CHUNK", chunk)
    g = torch.Generator().manual_seed(5)
    probs = torch.rand(37, 29, generator=g)
    probs.view(-1)[:400] = torch.randint(0, 1001, (400,), generator=g) / 1000  # exactly on grid values
    probs.view(-1)[400:410] = torch.tensor([0.0, 1.0] * 5)
    probs = probs.to(device=device, dtype=dtype)
    target = (torch.rand(37, 29, generator=g) > 0.4).to(device)
    counts = core.grid_counts(probs, target)
    assert counts.shape == (core.GRID_STEPS + 1, 4) and int(counts[0].sum()) == probs.numel()
    ref = maskbench.threshold_sweep(probs, target, thresholds=torch.unique(core.GRID.to(device, dtype)))
    if dtype != torch.float16:  # (float16 merges grid values; compared step by step below)
        assert torch.equal(counts, torch.stack([ref.tp, ref.fp, ref.fn, ref.tn], 1))
    for j in torch.randint(0, core.GRID_STEPS + 1, (40,), generator=g).tolist() + [0, 1, 500, 999, 1000]:
        t = float(core.GRID[j])
        mask = maskbench.threshold(probs, t)  # the kernel's rule at that slider value, p > t
        m, tg = mask.cpu().numpy(), target.cpu().numpy()
        want = [int((m & tg).sum()), int((m & ~tg).sum()), int((~m & tg).sum()), int((~m & ~tg).sum())]
        assert counts[j].tolist() == want, (j, t)
    no_target = core.grid_counts(probs, None)
    assert torch.equal(no_target[:, 1], counts[:, 0] + counts[:, 1]) and int(no_target[:, 0].abs().sum()) == 0


def test_metrics_from_counts_equal_the_kernels_at_random_slider_positions(scene) -> None:
    probs, image, target = scene
    t = ThresholdTuner(probs, image=image, target=target)
    assert t._grid.dtype == np.float64 and np.array_equal(t._grid, core.GRID.numpy())
    assert t._counts.dtype == np.int32 and t._counts.shape == (core.GRID_STEPS + 1, 4)
    g = torch.Generator().manual_seed(1)
    for j in torch.randint(0, core.GRID_STEPS + 1, (25,), generator=g).tolist():
        value = float(t._grid[j])
        from_counts = core.metrics_from_counts(*map(int, t._counts[j]))
        mask = maskbench.threshold(probs[0], value)
        counted = core.mask_metrics(mask, target[0])
        assert from_counts == counted  # bit for bit: the same float64 operations
        for name in ("iou", "dice", "precision", "recall"):
            kernel = float(getattr(maskbench, name)(mask, target[0]))
            assert from_counts[name] == pytest.approx(kernel, rel=1e-6, abs=1e-7), (j, name)
        assert from_counts == pytest.approx(_metrics_ref(mask, target[0]))
        t.threshold = value  # the kernel reads them from the counts too: same dict as counting
        assert {k: t.metrics[k] for k in from_counts} == from_counts and torch.equal(t.mask, mask)
    t.threshold = 0.123456  # off the grid: counted
    assert t.metrics["iou"] == core.mask_metrics(probs[0] > 0.123456, target[0])["iou"]
    t.min_size = 3  # clean-up: counted on the cleaned mask
    cleaned = maskbench.remove_small_objects(probs[0] > 0.123456, min_size=3)
    assert t.metrics["iou"] == core.mask_metrics(cleaned, target[0])["iou"]


def test_browser_formula_equals_the_kernels_metrics(scene, tmp_path) -> None:
    """tuner_core.js's metricsFromCounts on the counts the kernel sends == the kernel's metrics."""
    import json
    import pathlib
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js not found")
    probs, _, target = scene
    t = ThresholdTuner(probs, target=target, index=2)
    js = [int(j) for j in torch.randint(0, core.GRID_STEPS + 1, (30,), generator=torch.Generator().manual_seed(2))]
    (tmp_path / "in.json").write_text(json.dumps({"counts": t._counts.ravel().tolist(), "js": js}))
    core_js = (pathlib.Path(core.__file__).parent / "static" / "tuner_core.js").as_uri()
    script = (f"import {{ metricsFromCounts }} from {json.dumps(core_js)}; import fs from 'node:fs';"
              f"const d = JSON.parse(fs.readFileSync(process.argv[2]));"
              f"console.log(JSON.stringify(d.js.map((j) => metricsFromCounts(Int32Array.from(d.counts), j, true))));")  # fmt: skip
    (tmp_path / "run.mjs").write_text(script)
    out = subprocess.run([node, str(tmp_path / "run.mjs"), str(tmp_path / "in.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for j, got in zip(js, json.loads(out.stdout)):
        value = float(core.GRID[j])
        expected = core.mask_metrics(maskbench.threshold(probs[2], value), target[2])
        assert got == expected, (j, value)  # exact: JSON carries doubles exactly
        assert got["iou"] == pytest.approx(float(maskbench.iou(probs[2] > value, target[2])), rel=1e-6, abs=1e-7)


def test_histogram_and_outline_from_cheap_paths_equal_the_references(device) -> None:
    g = torch.Generator().manual_seed(9)
    probs = torch.rand(41, 33, generator=g)
    probs.view(-1)[:300] = torch.randint(0, 101, (300,), generator=g) / 100  # on bin edges
    probs = probs.to(device)
    target = (torch.rand(41, 33, generator=g) > 0.6).to(device)
    hist = core.histogram_from_counts(core.grid_counts(probs, target), True)
    edges = torch.tensor([-1.0, *(core.GRID[10::10].tolist())]).float().to(device)  # bin k: edge_k < p <= edge_k+1
    p, tg = probs.reshape(-1), target.reshape(-1)
    for row, sel in enumerate([~tg, tg]):
        ref = [int(((p[sel] > edges[k]) & ~(p[sel] > edges[k + 1])).sum()) if k < 99 else int((p[sel] > edges[k]).sum())
               for k in range(core.HIST_BINS)]  # fmt: skip
        assert hist[row].tolist() == ref
    alone = core.histogram_from_counts(core.grid_counts(probs, None), False)
    assert alone.shape == (1, core.HIST_BINS) and np.array_equal(alone[0], hist.sum(0))
    for mask in (target, torch.ones_like(target), torch.zeros_like(target), target[:1], target[:, :1]):
        assert torch.equal(core.outline(mask), contours(mask))


@pytest.mark.parametrize("band", [1, 7, 1 << 20])
def test_count_both_equals_torch_and_count_on_every_layout(monkeypatch, band) -> None:
    """numpy in bands of pixels (a band of 1, 7 and the default): the count of mask & target, also for a
    transposed or broadcast target (torch's own path), empty and all-true masks."""
    monkeypatch.setattr(core, "_BAND", band)
    g = torch.Generator().manual_seed(3)
    a, b = torch.rand(37, 53, generator=g) > 0.4, torch.rand(37, 53, generator=g) > 0.6
    a0, b0 = a.clone(), b.clone()
    cases = [(a, b), (a, torch.zeros_like(b)), (torch.ones_like(a), b), (a.T, b.T), (a.T.contiguous(), b.T), (a, b[:1])]
    for m, t in cases:
        assert core._count_both(m, t) == int(torch.count_nonzero(m & t))
    assert torch.equal(a, a0) and torch.equal(b, b0)  # inputs untouched
