"""No public function modifies its inputs (issue 10 #1): every tensor argument is fingerprinted
(values, the whole storage it views, shape, strides, dtype, version counter, grad) before and after
the call, on generated valid inputs in every layout (transposed, sliced, channels-last, expanded).

``BUILDERS`` has one entry per public callable of ``maskbench.__all__``; ``NOT_CALLABLE`` lists the
names that are not operations (errors, constants, result containers). A new public name missing from
both fails ``test_every_public_name_is_covered``, so each new function gets its case here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import maskbench as mb

from .strategies import (
    FLOATS,
    NONEMPTY_SIDES,
    SIDES,
    all_tensors,
    fingerprint,
    image_and_mask,
    masks,
    seeded,
    tensors,
)

NOT_CALLABLE = {
    # errors: raised, never called with tensors
    "MaskbenchError": "error class",
    "ShapeError": "error class",
    "DTypeError": "error class",
    "DeviceError": "error class",
    "MaskValueError": "error class",
    "CastError": "error class",
    "ArgumentError": "error class",
    "ArgumentTypeError": "error class",
    # constants
    "SAMPLE_IMAGES": "tuple of names",
    "THRESHOLD_METHODS": "dict of functions (each covered by its own name)",
    "__version__": "string",
    # result containers (dataclasses/named tuples that only hold what a kernel returned)
    "Pixels": "result container of extract_pixels",
    "ClassStats": "result container of class_stats",
    "PaddedPixels": "result container of extract_pixels",
    "ClassPixels": "result container of extract_classes",
    "Confusion": "result container of confusion_counts",
    "SweepResult": "result container of threshold_sweep",
    "Scene": "result container of synthetic_scene",
}

F32_64 = st.sampled_from((torch.float32, torch.float64))
REAL = st.sampled_from(FLOATS + (torch.uint8, torch.int64))


def _images(d, *, dtypes=FLOATS, kind=None, channels=True, **kw):
    return d.draw(image_and_mask(dtypes=dtypes, kind=kind, channels=channels, **kw))


def _hw(d, nonempty=False):
    sides = NONEMPTY_SIDES if nonempty else SIDES
    return d.draw(sides), d.draw(sides)


def _spatial(d, *, lead=None, nonempty=False):
    """(..., H, W) shape: (H, W), (B, H, W) or (B, 1, H, W)."""
    h, w = _hw(d, nonempty)
    lead = d.draw(st.sampled_from(((), (2,), (2, 1), (1,)))) if lead is None else lead
    return (*lead, h, w)


def b_apply_mask(d):
    image, mask, batched = _images(d)
    fill = d.draw(st.sampled_from((0.0, -1.5, "mean", "tensor")))
    if fill == "tensor":
        fill = d.draw(tensors((image.shape[-3],), image.dtype, special=0.0))
    return mb.apply_mask, (image, mask), {"fill": fill}


def b_inpaint(d):
    image, mask, _ = _images(d, dtypes=(torch.float32, torch.float64))
    return mb.inpaint, (image, mask), {"steps": d.draw(st.sampled_from((0, 1, None)))}


def b_assign_where(d):
    shape = _spatial(d)
    dst = d.draw(tensors(shape, st.sampled_from(FLOATS)))
    src = d.draw(tensors(shape, dst.dtype))
    cond = d.draw(tensors(shape, torch.bool))
    return mb.assign_where, (dst, src, cond), {}


def b_extract_pixels(d):
    image, mask, _ = _images(d, dtypes=FLOATS + (torch.uint8,), kind="bool", channels=False)
    return mb.extract_pixels, (image, mask), {"max_pixels": d.draw(st.sampled_from((None, 3)))}


def b_extract_classes(d):
    shape = (d.draw(st.sampled_from((1, 3))), *_hw(d))
    image = d.draw(tensors(shape, st.sampled_from(FLOATS)))
    labels = d.draw(tensors(shape[1:], st.sampled_from((torch.uint8, torch.int64)), low=0, high=3))
    return mb.extract_classes, (image, labels), {"num_classes": 3, "drop_ignored": d.draw(st.booleans())}


def b_class_stats(d):
    shape = (d.draw(st.sampled_from((1, 3))), *_hw(d))
    image = d.draw(tensors(shape, st.sampled_from(FLOATS)))
    labels = d.draw(tensors(shape[1:], st.sampled_from((torch.uint8, torch.int64)), low=0, high=3))
    return mb.class_stats, (image, labels), {"num_classes": 3}


def _reduce(fn):
    def build(d):
        shape = _spatial(d)
        x = d.draw(tensors(shape, st.sampled_from(FLOATS)))
        mask = d.draw(masks(shape[-2:]))
        return fn, (x, mask), {"dim": d.draw(st.sampled_from((None, -1, (-2, -1))))}

    return build


def _thresholder(fn, **kwargs):
    def build(d):
        x = d.draw(tensors(_spatial(d, nonempty=True), REAL))
        return fn, (x,), dict(kwargs)

    return build


def b_threshold(d):
    shape = _spatial(d)
    x = d.draw(tensors(shape, REAL))
    value = d.draw(st.sampled_from((0.5, "tensor")))
    if value == "tensor":
        value = d.draw(tensors(shape[:-2], torch.float32, special=0.0))
    return mb.threshold, (x, value), {}


def b_histogram(d):
    return mb.histogram, (d.draw(tensors(_spatial(d), REAL)),), {"bins": 8}


def b_auto_threshold(d):
    x = d.draw(tensors(_spatial(d, nonempty=True), REAL))
    return mb.auto_threshold, (x,), {"method": d.draw(st.sampled_from(sorted(mb.THRESHOLD_METHODS)))}


def b_hysteresis(d):
    shape = _spatial(d)
    x = d.draw(tensors(shape, st.sampled_from((torch.float32, torch.float64, torch.uint8))))
    low = d.draw(tensors((), torch.float32, special=0.0, layouts=("contiguous",)))
    return mb.hysteresis_threshold, (x, low, 1.0), {}


def b_argmax_labels(d):
    probs = d.draw(tensors((3, *_hw(d)), F32_64, low=0.0, high=1.0))
    return mb.argmax_labels, (probs,), {"min_confidence": d.draw(st.sampled_from((None, 0.5)))}


def _pair(d, *, labels: bool):
    shape = _spatial(d)
    if labels:
        dt = st.sampled_from((torch.uint8, torch.int64))
        return d.draw(tensors(shape, dt, low=0, high=2)), d.draw(tensors(shape, dt, low=0, high=2)), {"num_classes": 3}
    return d.draw(tensors(shape, torch.bool)), d.draw(tensors(shape, torch.bool)), {}


def _metric(fn):
    def build(d):
        labels = d.draw(st.booleans())
        pred, target, kw = _pair(d, labels=labels)
        if d.draw(st.booleans()):
            kw["ignore"] = d.draw(tensors(target.shape, torch.bool))
        if labels:
            kw["average"] = d.draw(st.sampled_from((None, "micro", "macro")))
        return fn, (pred, target), kw

    return build


def b_confusion(d):
    labels = d.draw(st.booleans())
    pred, target, kw = _pair(d, labels=labels)
    if d.draw(st.booleans()):
        kw["ignore"] = d.draw(tensors(target.shape, torch.bool))
    return mb.confusion_counts, (pred, target), kw


def b_scores(d):
    shape = (d.draw(st.sampled_from((0, 1, 4))),)
    tp, fp, fn = (d.draw(tensors(shape, torch.int64, low=0, high=5, special=0.0)) for _ in range(3))
    return mb.scores_from_counts, (tp, fp, fn), {"metric": d.draw(st.sampled_from(("iou", "dice", "precision")))}


def _sweep_inputs(d):
    shape = _spatial(d)
    probs = d.draw(tensors(shape, F32_64, low=0.0, high=1.0, special=0.0))
    target = d.draw(tensors(shape, torch.bool))
    return probs, target, d.draw(tensors(shape[-2:], torch.bool))


def b_threshold_sweep(d):
    probs, target, ignore = _sweep_inputs(d)
    thresholds = d.draw(st.sampled_from((5, "tensor")))
    if thresholds == "tensor":
        thresholds = torch.linspace(0, 1, 4, dtype=probs.dtype)
    return mb.threshold_sweep, (probs, target), {"thresholds": thresholds, "ignore": ignore}


def b_sweep_class(d):
    probs, target, ignore = _sweep_inputs(d)
    thresholds = torch.linspace(0, 1, 4, dtype=probs.dtype)

    def run(probs, target, ignore, thresholds):
        sweep = mb.ThresholdSweep(thresholds=thresholds)
        sweep.update(probs, target, ignore)
        sweep.update(probs, target)
        return sweep.compute()

    return run, (probs, target, ignore, thresholds), {}


def b_dataset_sweep(d):
    probs, target, ignore = _sweep_inputs(d)
    probs, target = (x.flatten(0, -3) if x.ndim > 2 else x[None] for x in (probs, target))
    thresholds = torch.linspace(0, 1, 4, dtype=probs.dtype)

    def run(probs, target, thresholds):
        sweep = mb.DatasetSweep(thresholds=thresholds)
        sweep.update(probs, target)
        return sweep.scores("iou", threshold=0.5)

    return run, (probs, target, thresholds), {}


def b_sweep_dataset(d):
    probs, target, _ = _sweep_inputs(d)
    probs, target = (x.flatten(0, -3) if x.ndim > 2 else x[None] for x in (probs, target))
    items = [(p, t) for p, t in zip(probs, target)]
    return mb.sweep_dataset, (items,), {"thresholds": 5, "progress": False}


def _loss_inputs(d, *, channels=1, target_kind="float"):
    n, (h, w) = d.draw(st.sampled_from((1, 2))), _hw(d)
    x = d.draw(tensors((n, channels, h, w), st.sampled_from(FLOATS)))
    if target_kind == "labels":
        dt = st.sampled_from((torch.uint8, torch.int64))
        target = d.draw(tensors((n, h, w), dt, low=0, high=channels - 1, special=0.0))
    else:
        target = d.draw(tensors(x.shape, x.dtype, low=0.0, high=1.0, special=0.0))
    mshape = d.draw(
        st.sampled_from(((h, w), (n, 1, h, w), x.shape) if target_kind != "labels" else ((h, w), (n, h, w)))
    )
    mask = d.draw(st.one_of(st.none(), masks(mshape)))
    return x, target, mask


def _loss(fn, **kw):
    def build(d):
        x, t, m = _loss_inputs(d)
        return fn, (x, t, m), {"reduction": d.draw(st.sampled_from(("mean", "sum", "none"))), **kw}

    return build


def b_masked_loss(d):
    x, t, m = _loss_inputs(d)
    if d.draw(st.booleans()):  # integer targets (a label map loaded from a PNG)
        t = d.draw(tensors(x.shape, st.sampled_from((torch.uint8, torch.int64)), low=0, high=1, special=0.0))
    return mb.masked_loss, (lambda a, b: F.smooth_l1_loss(a, b, reduction="none"), x, t, m), {}


def b_cross_entropy(d):
    x, t, m = _loss_inputs(d, channels=3, target_kind="labels")
    kw = {"ignore_index": d.draw(st.sampled_from((None, 2)))}
    if d.draw(st.booleans()):
        kw["weight"] = d.draw(tensors((3,), x.dtype, low=0.1, high=2.0, special=0.0))
    return mb.masked_cross_entropy, (x, t, m), kw


def b_bce(d):
    x, t, m = _loss_inputs(d, channels=2)
    kw = {}
    if d.draw(st.booleans()):
        kw["pos_weight"] = d.draw(tensors((2,), x.dtype, low=0.5, high=2.0, special=0.0))
    return mb.masked_bce_with_logits, (x, t, m), kw


def b_dice_loss(d):
    kind = d.draw(st.sampled_from(("float", "labels")))
    x, t, m = _loss_inputs(d, channels=2 if kind == "labels" else 1, target_kind=kind)
    if m is not None and m.ndim == 3:
        m = m[:, None]
    return mb.dice_loss, (x, t, m), {"per_image": d.draw(st.booleans())}


def _module(cls, kind="float", channels=1, **kw):
    def build(d):
        x, t, m = _loss_inputs(d, channels=channels, target_kind=kind)
        if cls is mb.DiceLoss and m is not None and m.ndim == 3:
            m = m[:, None]
        return (lambda *a: cls(**kw)(*a)), (x, t, m), {}

    return build


def b_ce_module(d):
    x, t, m = _loss_inputs(d, channels=3, target_kind="labels")
    weight = d.draw(tensors((3,), x.dtype, low=0.1, high=2.0, special=0.0))
    return (lambda x, t, m, weight: mb.MaskedCrossEntropyLoss(weight=weight)(x, t, m)), (x, t, m, weight), {}


def b_bce_module(d):
    x, t, m = _loss_inputs(d, channels=2)
    pw = d.draw(tensors((2,), x.dtype, low=0.5, high=2.0, special=0.0))
    return (lambda x, t, m, pw: mb.MaskedBCEWithLogitsLoss(pos_weight=pw)(x, t, m)), (x, t, m, pw), {}


def _morph(fn, **kw):
    def build(d):
        mask = d.draw(tensors(_spatial(d), torch.bool))
        return fn, (mask,), dict(kw)

    return build


def b_one_hot(d):
    labels = d.draw(
        tensors(
            _spatial(d, lead=d.draw(st.sampled_from(((), (2,))))),
            st.sampled_from((torch.uint8, torch.int64)),
            low=0,
            high=3,
        )
    )
    return mb.one_hot, (labels, 3), {}


def b_from_one_hot(d):
    labels = d.draw(tensors(_spatial(d, lead=(2,)), torch.int64, low=0, high=2, special=0.0, layouts=("contiguous",)))
    planes = mb.one_hot(labels, 3, dtype=d.draw(st.sampled_from((torch.bool, torch.float32, torch.uint8))))
    planes = d.draw(st.sampled_from((planes, planes.mT.contiguous().mT)))
    return mb.from_one_hot, (planes,), {}


def b_rle_encode(d):
    mask = d.draw(tensors(_hw(d), torch.bool))
    return mb.rle_encode, (mask,), {"compressed": d.draw(st.booleans())}


def b_rle_decode(d):
    h, w = _hw(d)
    mask = d.draw(tensors((h, w), torch.bool, layouts=("contiguous",)))
    rle = mb.rle_encode(mask, compressed=d.draw(st.booleans()))
    return mb.rle_decode, (rle,), {}


def b_save_mask(d):
    import tempfile

    folder = tempfile.mkdtemp(prefix="mb-adv-")
    ext = d.draw(st.sampled_from(("png", "npy")))
    mask = d.draw(tensors(_hw(d, nonempty=True), st.sampled_from((torch.bool, torch.uint8))))
    return mb.save_mask, (f"{folder}/m.{ext}", mask), {}


def _path_reader(fn):
    def build(d):
        import tempfile

        folder = tempfile.mkdtemp(prefix="mb-adv-")
        path = f"{folder}/m.png"
        mb.save_mask(path, torch.tensor([[0, 1], [2, 3]], dtype=torch.uint8))
        return fn, (path,), {}

    return build


def b_as_tensor(d):
    return mb.as_tensor, (d.draw(tensors(_hw(d), REAL)),), {}


def b_sample_image(d):
    return mb.sample_image, ("coins",), {"dtype": d.draw(F32_64)}


def b_synthetic_scene(d):
    return (
        mb.synthetic_scene,
        (d.draw(st.sampled_from((8, 16))),),
        {"num_classes": 3, "seed": d.draw(st.integers(0, 3))},
    )


def b_stroke(d):
    points = d.draw(
        tensors(
            (d.draw(st.integers(1, 4)), 2),
            st.sampled_from((torch.float32, torch.float64)),
            low=-2,
            high=10,
            special=0.0,
        )
    )
    return mb.stroke_mask, ((9, 7), points, 1.5), {}


def b_polygon(d):
    vertices = d.draw(
        tensors(
            (d.draw(st.integers(0, 6)), 2),
            st.sampled_from((torch.float32, torch.float64)),
            low=-2,
            high=10,
            special=0.0,
        )
    )
    return mb.polygon_mask, ((9, 7), vertices), {}


def b_flood(d):
    h, w = _hw(d, nonempty=True)
    labels = d.draw(
        tensors((h, w), st.sampled_from((torch.uint8, torch.int64, torch.bool)), low=0, high=2, special=0.0)
    )
    return mb.flood_fill_mask, (labels, d.draw(st.integers(0, h - 1)), d.draw(st.integers(0, w - 1))), {}


BUILDERS = {
    "apply_mask": b_apply_mask,
    "inpaint": b_inpaint,
    "assign_where": b_assign_where,
    "extract_pixels": b_extract_pixels,
    "extract_classes": b_extract_classes,
    "class_stats": b_class_stats,
    "masked_sum": _reduce(mb.masked_sum),
    "masked_mean": _reduce(mb.masked_mean),
    "masked_std": _reduce(mb.masked_std),
    "threshold": b_threshold,
    "threshold_otsu": _thresholder(mb.threshold_otsu, bins=16),
    "threshold_li": _thresholder(mb.threshold_li, bins=64),
    "threshold_yen": _thresholder(mb.threshold_yen, bins=16),
    "threshold_triangle": _thresholder(mb.threshold_triangle, bins=16),
    "threshold_mean": _thresholder(mb.threshold_mean),
    "threshold_isodata": _thresholder(mb.threshold_isodata, bins=16),
    "threshold_multiotsu": _thresholder(mb.threshold_multiotsu, classes=3, bins=16),
    "auto_threshold": b_auto_threshold,
    "histogram": b_histogram,
    "argmax_labels": b_argmax_labels,
    "hysteresis_threshold": b_hysteresis,
    "confusion_counts": b_confusion,
    "iou": _metric(mb.iou),
    "dice": _metric(mb.dice),
    "precision": _metric(mb.precision),
    "recall": _metric(mb.recall),
    "f1": _metric(mb.f1),
    "scores_from_counts": b_scores,
    "threshold_sweep": b_threshold_sweep,
    "ThresholdSweep": b_sweep_class,
    "DatasetSweep": b_dataset_sweep,
    "sweep_dataset": b_sweep_dataset,
    "masked_loss": b_masked_loss,
    "masked_bce_with_logits": b_bce,
    "masked_cross_entropy": b_cross_entropy,
    "masked_mse": _loss(mb.masked_mse),
    "masked_l1": _loss(mb.masked_l1),
    "dice_loss": b_dice_loss,
    "MaskedBCEWithLogitsLoss": b_bce_module,
    "MaskedCrossEntropyLoss": b_ce_module,
    "MaskedMSELoss": _module(mb.MaskedMSELoss),
    "MaskedL1Loss": _module(mb.MaskedL1Loss),
    "DiceLoss": _module(mb.DiceLoss),
    "dilate": _morph(mb.dilate, radius=1),
    "erode": _morph(mb.erode, radius=2, footprint="disk"),
    "opening": _morph(mb.opening, radius=1),
    "closing": _morph(mb.closing, radius=1, footprint="disk"),
    "label_components": _morph(mb.label_components, connectivity=2),
    "remove_small_objects": _morph(mb.remove_small_objects, min_size=3),
    "fill_holes": _morph(mb.fill_holes),
    "stroke_mask": b_stroke,
    "polygon_mask": b_polygon,
    "flood_fill_mask": b_flood,
    "one_hot": b_one_hot,
    "from_one_hot": b_from_one_hot,
    "rle_encode": b_rle_encode,
    "rle_decode": b_rle_decode,
    "load_image": _path_reader(mb.load_image),
    "load_mask": _path_reader(mb.load_mask),
    "save_mask": b_save_mask,
    "as_tensor": b_as_tensor,
    "sample_image": b_sample_image,
    "synthetic_scene": b_synthetic_scene,
}

#: examples per function: the cheap elementwise kernels get more, file and scene builders fewer
EXAMPLES = {
    "masked_cross_entropy": 60,
    "masked_loss": 60,
    "MaskedCrossEntropyLoss": 60,
    "synthetic_scene": 3,
    "sample_image": 2,
    "load_image": 2,
    "load_mask": 2,
    "save_mask": 6,
    "inpaint": 10,
}


def test_every_public_name_is_covered() -> None:
    missing = sorted(set(mb.__all__) - set(BUILDERS) - set(NOT_CALLABLE))
    assert not missing, f"add a builder to BUILDERS (or a reason to NOT_CALLABLE) for: {missing}"
    stale = sorted((set(BUILDERS) | set(NOT_CALLABLE)) - set(mb.__all__))
    assert not stale, f"no longer public: {stale}"


def _check_unmodified(fn, args, kwargs) -> None:
    inputs = all_tensors(list(args), "args") + all_tensors(kwargs, "kwargs")
    before = [fingerprint(t) for _, t in inputs]
    try:
        fn(*args, **kwargs)
    except mb.MaskbenchError:
        pass  # a rejected input must be left alone too
    changed = [path for (path, t), fp in zip(inputs, before) if fingerprint(t) != fp]
    assert not changed, f"inputs modified in place: {changed}"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_public_function_leaves_its_inputs_unmodified(name: str) -> None:
    @seeded(EXAMPLES.get(name, 20))
    @given(data=st.data())
    def run(data) -> None:
        fn, args, kwargs = BUILDERS[name](data)
        _check_unmodified(fn, args, kwargs)

    run()


@pytest.mark.parametrize("loss", ["masked_cross_entropy", "masked_loss", "MaskedCrossEntropyLoss"])
@pytest.mark.parametrize("label_dtype", [torch.uint8, torch.int64, torch.int32])
def test_uint8_labels_do_not_touch_the_callers_mask(loss: str, label_dtype: torch.dtype) -> None:
    """Issue 10 #1: uint8 labels made ``keep_bits`` negate the caller's bool mask in place."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, 4, dtype=torch.bfloat16)
    labels = torch.randint(0, 3, (2, 5, 4)).to(label_dtype)
    mask = torch.rand(2, 5, 4) > 0.5
    kept = mask.clone()
    x = torch.randn(2, 5, 4, dtype=torch.bfloat16)
    calls = {
        "masked_cross_entropy": lambda: mb.masked_cross_entropy(logits, labels, mask),
        "MaskedCrossEntropyLoss": lambda: mb.MaskedCrossEntropyLoss()(logits, labels, mask),
        "masked_loss": lambda: mb.masked_loss(lambda a, b: (a - b).abs(), x, labels, mask),
    }
    before = fingerprint(mask)
    first = calls[loss]()
    assert fingerprint(mask) == before, "the caller's mask was modified (bytes or version counter)"
    assert torch.equal(mask.view(torch.uint8), kept.view(torch.uint8)), "the caller's mask bytes changed"
    second = calls[loss]()
    assert torch.equal(first, second), "a second call with the same mask gives another loss"
    if loss != "masked_loss":
        ref = F.cross_entropy(logits.float(), labels.long(), reduction="none")[mask].mean()
        torch.testing.assert_close(first.float(), ref, atol=0.05, rtol=0.02)
