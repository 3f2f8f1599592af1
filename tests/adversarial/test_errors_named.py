"""Bad calls to every public function raise a ``MaskbenchError`` naming the argument (issue 10 #11, #13).

Each case is ``(id, call, argument)``: the call must raise a ``maskbench.MaskbenchError`` that is also
a ``ValueError`` or ``TypeError``, whose message names ``argument`` and stays under ``MAX_MESSAGE``
characters (a 9 MiB bad value must not come back whole). A bare torch/Python error (RuntimeError,
IndexError, OverflowError, AttributeError, ...) fails the case.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import maskbench as mb

MAX_MESSAGE = 2000
BIG = 10**400
NAN = float("nan")
HUGE = "a" * 9_000_000  # a 9 MiB string option

img = torch.rand(3, 4, 5)
bimg = torch.rand(2, 3, 4, 5)
m = torch.rand(4, 5) > 0.5
bm = torch.rand(2, 4, 5) > 0.5
x2 = torch.rand(4, 5)
lab = torch.randint(0, 3, (4, 5))
logits = torch.randn(2, 3, 4, 5)
labels = torch.randint(0, 3, (2, 4, 5))
bin_logits = torch.randn(2, 1, 4, 5)
bin_target = (torch.rand(2, 1, 4, 5) > 0.5).float()
pts = torch.tensor([[1.0, 1.0], [3.0, 4.0]])


def _sweep():
    return mb.ThresholdSweep(thresholds=4)


CASES: list[tuple[str, object, str]] = [
    # apply_mask / inpaint
    ("apply_mask image str", lambda t: mb.apply_mask("x", m), "image"),
    ("apply_mask image None", lambda t: mb.apply_mask(None, m), "image"),
    ("apply_mask image 2-D", lambda t: mb.apply_mask(x2, m), "image"),
    ("apply_mask mask int", lambda t: mb.apply_mask(img, m.long()), "mask"),
    ("apply_mask mask transposed", lambda t: mb.apply_mask(img, m.T), "mask"),
    ("apply_mask mask 0-d", lambda t: mb.apply_mask(img, torch.tensor(True)), "mask"),
    ("apply_mask mask 1-d", lambda t: mb.apply_mask(img, m.flatten()), "mask"),
    ("apply_mask weight > 1", lambda t: mb.apply_mask(img, x2 * 3), "mask"),
    ("apply_mask weight NaN", lambda t: mb.apply_mask(img, x2.masked_fill(m, NAN)), "mask"),
    ("apply_mask fill 10**400", lambda t: mb.apply_mask(img, m, fill=BIG), "fill"),
    ("apply_mask fill unknown", lambda t: mb.apply_mask(img, m, fill="median"), "fill"),
    ("apply_mask fill huge str", lambda t: mb.apply_mask(img, m, fill=HUGE), "fill"),
    ("apply_mask fill None", lambda t: mb.apply_mask(img, m, fill=None), "fill"),
    ("apply_mask fill bad shape", lambda t: mb.apply_mask(img, m, fill=torch.zeros(7)), "fill"),
    ("apply_mask uint8 fill 300", lambda t: mb.apply_mask((img * 9).to(torch.uint8), m, fill=300), "fill"),
    ("apply_mask uint8 fill 0.5", lambda t: mb.apply_mask((img * 9).to(torch.uint8), m, fill=0.5), "fill"),
    ("apply_mask inpaint_steps -1", lambda t: mb.apply_mask(img, m, fill="inpaint", inpaint_steps=-1), "inpaint_steps"),
    ("inpaint steps str", lambda t: mb.inpaint(img, m, steps="x"), "steps"),
    ("inpaint steps -1", lambda t: mb.inpaint(img, m, steps=-1), "steps"),
    ("inpaint steps 10**400", lambda t: mb.inpaint(img, m, steps=BIG), "steps"),
    ("inpaint image uint8", lambda t: mb.inpaint(img.to(torch.uint8), m), "image"),
    # assign_where
    ("assign_where cond float", lambda t: mb.assign_where(x2, 1.0, x2), "cond"),
    ("assign_where cond grows dst", lambda t: mb.assign_where(x2, 1.0, torch.ones(2, 4, 5, dtype=torch.bool)), "cond"),
    ("assign_where src str", lambda t: mb.assign_where(x2, "x", m), "src"),
    ("assign_where src 10**400", lambda t: mb.assign_where(x2, BIG, m), "src"),
    ("assign_where src None", lambda t: mb.assign_where(x2, None, m), "src"),
    ("assign_where dst None", lambda t: mb.assign_where(None, 1.0, m), "dst"),
    ("assign_where int dst NaN", lambda t: mb.assign_where(lab, NAN, m), "src"),
    # extract
    ("extract_pixels mask float", lambda t: mb.extract_pixels(img, x2), "mask"),
    ("extract_pixels max_pixels -1", lambda t: mb.extract_pixels(img, m, max_pixels=-1), "max_pixels"),
    ("extract_pixels max_pixels 2.5", lambda t: mb.extract_pixels(img, m, max_pixels=2.5), "max_pixels"),
    ("extract_pixels max_pixels 10**400", lambda t: mb.extract_pixels(img, m, max_pixels=BIG), "max_pixels"),
    ("extract_classes num_classes 0", lambda t: mb.extract_classes(img, lab, num_classes=0), "num_classes"),
    ("extract_classes num_classes str", lambda t: mb.extract_classes(img, lab, num_classes="3"), "num_classes"),
    ("extract_classes labels float", lambda t: mb.extract_classes(img, x2, num_classes=3), "labels"),
    ("extract_classes labels shape", lambda t: mb.extract_classes(img, lab.T, num_classes=3), "labels"),
    ("class_stats num_classes 0", lambda t: mb.class_stats(img, lab, num_classes=0), "num_classes"),
    ("class_stats num_classes huge", lambda t: mb.class_stats(img, lab, num_classes=10**400), "num_classes"),
    ("class_stats labels float", lambda t: mb.class_stats(img, x2, num_classes=3), "labels"),
    ("class_stats labels shape", lambda t: mb.class_stats(img, lab.T, num_classes=3), "labels"),
    # reduce
    ("masked_sum mask int", lambda t: mb.masked_sum(x2, lab), "mask"),
    ("masked_sum mask grows x", lambda t: mb.masked_sum(x2, bm), "mask"),
    ("masked_sum dim 5", lambda t: mb.masked_sum(x2, m, dim=5), "dim"),
    ("masked_sum dim str", lambda t: mb.masked_sum(x2, m, dim="x"), "dim"),
    ("masked_mean x bool", lambda t: mb.masked_mean(m, m), "x"),
    ("masked_mean empty str", lambda t: mb.masked_mean(x2, m, empty="x"), "empty"),
    ("masked_mean empty 10**400", lambda t: mb.masked_mean(x2, m, empty=BIG), "empty"),
    ("masked_std correction str", lambda t: mb.masked_std(x2, m, correction="x"), "correction"),
    ("masked_std correction NaN", lambda t: mb.masked_std(x2, m, correction=NAN), "correction"),
    ("masked_std x None", lambda t: mb.masked_std(None, m), "x"),
    # thresholds
    ("threshold x bool", lambda t: mb.threshold(m, 0.5), "x"),
    ("threshold value str", lambda t: mb.threshold(x2, "x"), "value"),
    ("threshold value 10**400", lambda t: mb.threshold(x2, BIG), "value"),
    ("threshold value bad shape", lambda t: mb.threshold(x2, torch.zeros(3)), "value"),
    ("threshold_otsu bins 1", lambda t: mb.threshold_otsu(x2, bins=1), "bins"),
    ("threshold_otsu bins 2.5", lambda t: mb.threshold_otsu(x2, bins=2.5), "bins"),
    ("threshold_otsu bins 10**400", lambda t: mb.threshold_otsu(x2, bins=BIG), "bins"),
    ("threshold_otsu bins huge str", lambda t: mb.threshold_otsu(x2, bins=HUGE), "bins"),
    ("threshold_otsu x None", lambda t: mb.threshold_otsu(None), "x"),
    ("threshold_otsu x 1-d", lambda t: mb.threshold_otsu(torch.rand(5)), "x"),
    ("threshold_otsu x bool", lambda t: mb.threshold_otsu(m), "x"),
    ("threshold_yen bins 0", lambda t: mb.threshold_yen(x2, bins=0), "bins"),
    ("threshold_triangle bins None", lambda t: mb.threshold_triangle(x2, bins=None), "bins"),
    ("threshold_isodata bins -3", lambda t: mb.threshold_isodata(x2, bins=-3), "bins"),
    ("threshold_mean x str", lambda t: mb.threshold_mean("x"), "x"),
    ("threshold_li tolerance -1", lambda t: mb.threshold_li(x2, tolerance=-1.0), "tolerance"),
    ("threshold_li tolerance NaN", lambda t: mb.threshold_li(x2, tolerance=NAN), "tolerance"),
    ("threshold_li initial str", lambda t: mb.threshold_li(x2, initial="x"), "initial"),
    ("threshold_multiotsu classes 1", lambda t: mb.threshold_multiotsu(x2, classes=1), "classes"),
    ("threshold_multiotsu classes 6", lambda t: mb.threshold_multiotsu(x2, classes=6), "classes"),
    ("threshold_multiotsu classes str", lambda t: mb.threshold_multiotsu(x2, classes="3"), "classes"),
    ("threshold_multiotsu bins < classes", lambda t: mb.threshold_multiotsu(x2, classes=4, bins=3), "bins"),
    ("auto_threshold method unknown", lambda t: mb.auto_threshold(x2, method="foo"), "method"),
    ("auto_threshold method huge", lambda t: mb.auto_threshold(x2, method=HUGE), "method"),
    ("histogram bins 0", lambda t: mb.histogram(x2, bins=0), "bins"),
    ("histogram x bool", lambda t: mb.histogram(m), "x"),
    ("argmax_labels probs int", lambda t: mb.argmax_labels(labels), "probs"),
    ("argmax_labels min_confidence NaN", lambda t: mb.argmax_labels(logits, min_confidence=NAN), "min_confidence"),
    ("argmax_labels dim 7", lambda t: mb.argmax_labels(logits, dim=7), "dim"),
    ("argmax_labels background str", lambda t: mb.argmax_labels(logits, background="x"), "background"),
    ("hysteresis low str", lambda t: mb.hysteresis_threshold(x2, "x", 0.5), "low"),
    ("hysteresis high 10**400", lambda t: mb.hysteresis_threshold(x2, 0.1, BIG), "high"),
    ("hysteresis connectivity 3", lambda t: mb.hysteresis_threshold(x2, 0.1, 0.5, connectivity=3), "connectivity"),
    ("hysteresis x bool", lambda t: mb.hysteresis_threshold(m, 0.1, 0.5), "x"),
    # metrics
    ("confusion pred float", lambda t: mb.confusion_counts(x2, m), "pred"),
    ("confusion target shape", lambda t: mb.confusion_counts(m, m.T), "target"),
    ("confusion num_classes 0", lambda t: mb.confusion_counts(lab, lab, num_classes=0), "num_classes"),
    ("confusion num_classes 10**400", lambda t: mb.confusion_counts(lab, lab, num_classes=BIG), "num_classes"),
    ("confusion ignore str", lambda t: mb.confusion_counts(m, m, ignore="x"), "ignore"),
    ("confusion labels out of range", lambda t: mb.confusion_counts(lab, lab + 5, num_classes=3), "target"),
    ("iou 0-d vs 1-d", lambda t: mb.iou(torch.tensor(True), torch.tensor([True, False])), "target"),
    ("iou average unknown", lambda t: mb.iou(lab, lab, num_classes=3, average="foo"), "average"),
    ("iou empty str", lambda t: mb.iou(m, m, empty="x"), "empty"),
    ("dice empty 10**400", lambda t: mb.dice(m, m, empty=BIG), "empty"),
    ("precision per_image str", lambda t: mb.precision(m, m, per_image="yes"), "per_image"),
    ("recall pred None", lambda t: mb.recall(None, m), "pred"),
    ("f1 average huge", lambda t: mb.f1(lab, lab, num_classes=3, average=HUGE), "average"),
    ("scores_from_counts metric", lambda t: mb.scores_from_counts(lab, lab, lab, metric="foo"), "metric"),
    ("scores_from_counts tp str", lambda t: mb.scores_from_counts("x", lab, lab, metric="iou"), "tp"),
    # sweeps
    ("threshold_sweep probs bool", lambda t: mb.threshold_sweep(m, m), "probs"),
    ("threshold_sweep target float", lambda t: mb.threshold_sweep(x2, x2), "target"),
    ("threshold_sweep thresholds 0", lambda t: mb.threshold_sweep(x2, m, thresholds=0), "thresholds"),
    ("threshold_sweep thresholds 10**400", lambda t: mb.threshold_sweep(x2, m, thresholds=BIG), "thresholds"),
    (
        "threshold_sweep thresholds descending",
        lambda t: mb.threshold_sweep(x2, m, thresholds=torch.tensor([0.9, 0.1])),
        "thresholds",
    ),
    ("threshold_sweep ignore float", lambda t: mb.threshold_sweep(x2, m, ignore=x2), "ignore"),
    ("ThresholdSweep thresholds -1", lambda t: mb.ThresholdSweep(thresholds=-1), "thresholds"),
    ("ThresholdSweep thresholds str", lambda t: mb.ThresholdSweep(thresholds="x"), "thresholds"),
    ("ThresholdSweep.update probs bool", lambda t: _sweep().update(m, m), "probs"),
    ("DatasetSweep num_classes 0", lambda t: mb.DatasetSweep(num_classes=0), "num_classes"),
    ("DatasetSweep thresholds str", lambda t: mb.DatasetSweep(thresholds="x"), "thresholds"),
    ("sweep_dataset dataset None", lambda t: mb.sweep_dataset(None, progress=False), "dataset"),
    ("sweep_dataset batch_size 0", lambda t: mb.sweep_dataset([(x2, m)], batch_size=0, progress=False), "batch_size"),
    # losses
    ("masked_mse input int", lambda t: mb.masked_mse(lab, lab), "input"),
    ("masked_mse target shape", lambda t: mb.masked_mse(x2, torch.rand(3, 3)), "target"),
    ("masked_mse mask int", lambda t: mb.masked_mse(x2, x2, lab), "mask"),
    ("masked_l1 reduction", lambda t: mb.masked_l1(x2, x2, reduction="avg"), "reduction"),
    ("masked_l1 reduction huge", lambda t: mb.masked_l1(x2, x2, reduction=HUGE), "reduction"),
    ("masked_l1 empty str", lambda t: mb.masked_l1(x2, x2, empty="x"), "empty"),
    ("masked_loss fn str", lambda t: mb.masked_loss("x", x2, x2), "elementwise_fn"),
    ("masked_loss fn wrong shape", lambda t: mb.masked_loss(lambda a, b: (a - b).sum(), x2, x2), "elementwise_fn"),
    ("ce target float", lambda t: mb.masked_cross_entropy(logits, labels.float()), "target"),
    ("ce target shape", lambda t: mb.masked_cross_entropy(logits, labels[:, :2]), "target"),
    ("ce label_smoothing 2", lambda t: mb.masked_cross_entropy(logits, labels, label_smoothing=2.0), "label_smoothing"),
    ("ce weight shape", lambda t: mb.masked_cross_entropy(logits, labels, weight=torch.ones(5)), "weight"),
    ("ce ignore_index str", lambda t: mb.masked_cross_entropy(logits, labels, ignore_index="x"), "ignore_index"),
    ("ce labels out of range", lambda t: mb.masked_cross_entropy(logits, labels + 3), "target"),
    ("ce input 0-d", lambda t: mb.masked_cross_entropy(torch.tensor(1.0), labels), "input"),
    ("bce target shape", lambda t: mb.masked_bce_with_logits(bin_logits, bin_target[:, :, :2]), "target"),
    ("bce pos_weight str", lambda t: mb.masked_bce_with_logits(bin_logits, bin_target, pos_weight="x"), "pos_weight"),
    ("bce weight shape", lambda t: mb.masked_bce_with_logits(bin_logits, bin_target, weight=torch.ones(7)), "weight"),
    ("dice_loss smooth -1", lambda t: mb.dice_loss(bin_logits, bin_target, smooth=-1.0), "smooth"),
    ("dice_loss smooth 10**400", lambda t: mb.dice_loss(bin_logits, bin_target, smooth=BIG), "smooth"),
    ("dice_loss target shape", lambda t: mb.dice_loss(bin_logits, bin_target[..., :2]), "target"),
    ("MaskedL1Loss reduction", lambda t: mb.MaskedL1Loss(reduction="x"), "reduction"),
    ("MaskedMSELoss empty str", lambda t: mb.MaskedMSELoss(empty="x"), "empty"),
    ("DiceLoss smooth -1", lambda t: mb.DiceLoss(smooth=-1.0), "smooth"),
    (
        "MaskedCrossEntropyLoss label_smoothing",
        lambda t: mb.MaskedCrossEntropyLoss(label_smoothing=5.0),
        "label_smoothing",
    ),
    ("MaskedBCEWithLogitsLoss pos_weight str", lambda t: mb.MaskedBCEWithLogitsLoss(pos_weight="x"), "pos_weight"),
    # morphology and components
    ("dilate mask float", lambda t: mb.dilate(x2), "mask"),
    ("dilate mask 1-d", lambda t: mb.dilate(m.flatten()), "mask"),
    ("erode radius -1", lambda t: mb.erode(m, radius=-1), "radius"),
    ("opening radius 2.5", lambda t: mb.opening(m, radius=2.5), "radius"),
    ("closing radius 10**400", lambda t: mb.closing(m, radius=BIG), "radius"),
    ("dilate footprint", lambda t: mb.dilate(m, footprint="hex"), "footprint"),
    ("dilate footprint huge", lambda t: mb.dilate(m, footprint=HUGE), "footprint"),
    ("label_components connectivity 3", lambda t: mb.label_components(m, connectivity=3), "connectivity"),
    ("label_components mask int", lambda t: mb.label_components(lab), "mask"),
    ("remove_small_objects min_size -1", lambda t: mb.remove_small_objects(m, min_size=-1), "min_size"),
    ("remove_small_objects min_size str", lambda t: mb.remove_small_objects(m, min_size="x"), "min_size"),
    ("fill_holes connectivity 0", lambda t: mb.fill_holes(m, connectivity=0), "connectivity"),
    # painting
    ("stroke_mask shape str", lambda t: mb.stroke_mask("x", pts, 1.0), "shape"),
    ("stroke_mask shape negative", lambda t: mb.stroke_mask((-1, 5), pts, 1.0), "shape"),
    ("stroke_mask points 1-d", lambda t: mb.stroke_mask((5, 5), pts.flatten(), 1.0), "points"),
    ("stroke_mask points NaN", lambda t: mb.stroke_mask((5, 5), pts.masked_fill(pts > 3, NAN), 1.0), "points"),
    ("stroke_mask radius str", lambda t: mb.stroke_mask((5, 5), pts, "x"), "radius"),
    ("stroke_mask radius -1", lambda t: mb.stroke_mask((5, 5), pts, -1.0), "radius"),
    ("stroke_mask radius NaN", lambda t: mb.stroke_mask((5, 5), pts, NAN), "radius"),
    ("stroke_mask radius 10**400", lambda t: mb.stroke_mask((5, 5), pts, BIG), "radius"),
    ("polygon_mask vertices (3, 3)", lambda t: mb.polygon_mask((5, 5), torch.rand(3, 3)), "vertices"),
    ("polygon_mask vertices None", lambda t: mb.polygon_mask((5, 5), None), "vertices"),
    ("polygon_mask shape 3 dims", lambda t: mb.polygon_mask((5, 5, 5), pts), "shape"),
    ("flood_fill row outside", lambda t: mb.flood_fill_mask(lab, 100, 0), "row"),
    ("flood_fill col -1", lambda t: mb.flood_fill_mask(lab, 0, -1), "col"),
    ("flood_fill row float", lambda t: mb.flood_fill_mask(lab, 0.5, 0), "row"),
    ("flood_fill labels float", lambda t: mb.flood_fill_mask(x2, 0, 0), "labels"),
    ("flood_fill connectivity 3", lambda t: mb.flood_fill_mask(lab, 0, 0, connectivity=3), "connectivity"),
    # labels
    ("one_hot num_classes 0", lambda t: mb.one_hot(lab, 0), "num_classes"),
    ("one_hot num_classes 10**400", lambda t: mb.one_hot(lab, BIG), "num_classes"),
    ("one_hot labels float", lambda t: mb.one_hot(x2, 3), "labels"),
    ("one_hot dtype str", lambda t: mb.one_hot(lab, 3, dtype="x"), "dtype"),
    ("from_one_hot dim str", lambda t: mb.from_one_hot(mb.one_hot(lab, 3), dim="x"), "dim"),
    ("from_one_hot dim 9", lambda t: mb.from_one_hot(mb.one_hot(lab, 3), dim=9), "dim"),
    ("from_one_hot onehot None", lambda t: mb.from_one_hot(None), "onehot"),
    ("from_one_hot two set channels", lambda t: mb.from_one_hot(torch.ones(3, 2, 2, dtype=torch.bool)), "onehot"),
    ("from_one_hot ignore_index str", lambda t: mb.from_one_hot(mb.one_hot(lab, 3), ignore_index="x"), "ignore_index"),
    # io: RLE
    ("rle_encode mask None", lambda t: mb.rle_encode(None), "mask"),
    ("rle_encode mask float", lambda t: mb.rle_encode(x2), "mask"),
    ("rle_encode mask 3-d", lambda t: mb.rle_encode(bm), "mask"),
    ("rle_decode empty dict", lambda t: mb.rle_decode({}), "rle"),
    ("rle_decode str", lambda t: mb.rle_decode("x"), "rle"),
    ("rle_decode None", lambda t: mb.rle_decode(None), "rle"),
    ("rle_decode counts sum", lambda t: mb.rle_decode({"size": [2, 2], "counts": [1, 2]}), "counts"),
    ("rle_decode counts float", lambda t: mb.rle_decode({"size": [2, 2], "counts": [1.5, 2.5]}), "counts"),
    ("rle_decode counts negative", lambda t: mb.rle_decode({"size": [2, 2], "counts": [5, -1]}), "counts"),
    ("rle_decode counts bad str", lambda t: mb.rle_decode({"size": [2, 2], "counts": "\x00\xff"}), "counts"),
    ("rle_decode counts huge str", lambda t: mb.rle_decode({"size": [2, 2], "counts": HUGE}), "counts"),
    ("rle_decode size float", lambda t: mb.rle_decode({"size": [2.5, 2], "counts": [5]}), "size"),
    ("rle_decode size negative", lambda t: mb.rle_decode({"size": [-2, -2], "counts": [4]}), "size"),
    ("rle_decode size 3 dims", lambda t: mb.rle_decode({"size": [1, 2, 2], "counts": [4]}), "size"),
    ("rle_decode size 10**400", lambda t: mb.rle_decode({"size": [BIG, 1], "counts": [4]}), "size"),
    # io: files
    ("load_image None", lambda t: mb.load_image(None), "path"),
    ("load_image int", lambda t: mb.load_image(3), "path"),
    ("load_mask None", lambda t: mb.load_mask(None), "path"),
    ("save_mask mask None", lambda t: mb.save_mask(t / "m.png", None), "mask"),
    ("save_mask mask float", lambda t: mb.save_mask(t / "m.png", x2), "mask"),
    ("save_mask png 3-d", lambda t: mb.save_mask(t / "m.png", bm), "mask"),
    ("save_mask png empty", lambda t: mb.save_mask(t / "m.png", torch.zeros(0, 0, dtype=torch.bool)), "mask"),
    ("save_mask png values > 65535", lambda t: mb.save_mask(t / "m.png", lab * 100000), "mask"),
    ("save_mask path None", lambda t: mb.save_mask(None, m), "path"),
    ("save_mask suffix", lambda t: mb.save_mask(t / "m.txt", m), "path"),
    ("as_tensor object", lambda t: mb.as_tensor(object()), "x"),
    # data
    ("sample_image unknown", lambda t: mb.sample_image("foo"), "name"),
    ("sample_image huge name", lambda t: mb.sample_image(HUGE), "name"),
    ("sample_image dtype int", lambda t: mb.sample_image("coins", dtype=torch.int64), "dtype"),
    ("synthetic_scene size 2.5", lambda t: mb.synthetic_scene(size=2.5), "size"),
    ("synthetic_scene size 0", lambda t: mb.synthetic_scene(size=0), "size"),
    ("synthetic_scene size 10**400", lambda t: mb.synthetic_scene(size=BIG), "size"),
    ("synthetic_scene num_classes 1", lambda t: mb.synthetic_scene(16, num_classes=1), "num_classes"),
    ("synthetic_scene batch 0", lambda t: mb.synthetic_scene(16, batch=0), "batch"),
    ("synthetic_scene noise NaN", lambda t: mb.synthetic_scene(16, noise=NAN), "noise"),
    ("synthetic_scene noise -1", lambda t: mb.synthetic_scene(16, noise=-1.0), "noise"),
    ("synthetic_scene seed str", lambda t: mb.synthetic_scene(16, seed="x"), "seed"),
]

#: cases that fail today, with the defect (one line each); strict: a fix turns them into failures to remove
KNOWN: dict[str, str] = {}  # defects still open: "case id": "what is wrong" (strict xfail)


def _params():
    for case_id, call, name in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[case_id])] if case_id in KNOWN else []
        yield pytest.param(call, name, id=case_id, marks=marks)


def test_case_ids_are_unique_and_known_ids_exist() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert not set(KNOWN) - set(ids)


def test_every_public_function_has_a_bad_call() -> None:
    """A new public function needs a row here too (names as they appear in the calls)."""
    import inspect

    from .test_inputs_unmodified import BUILDERS

    sources = "\n".join(inspect.getsource(call) for _, call, _ in CASES)
    missing = [n for n in BUILDERS if f"mb.{n}(" not in sources]
    assert not missing, f"add a bad call for: {missing}"


def _outcome(call, tmp_path: Path) -> tuple[str, str, bool, bool]:
    """(error kind, message, is MaskbenchError, is ValueError/TypeError); kind "" when nothing was raised."""
    try:
        call(tmp_path)
    except Exception as err:  # noqa: BLE001 - the type is what we check
        kind = f"{type(err).__module__}.{type(err).__name__}"
        return kind, str(err), isinstance(err, mb.MaskbenchError), isinstance(err, (ValueError, TypeError))
    return "", "", False, False


def _bounded(call, tmp_path: Path, seconds: float = 8.0, memory: int = 2 << 30):
    """``_outcome`` in a forked child with a time and address-space limit: a huge number must not
    hang the suite (e.g. 10**400 smoothing steps) or allocate the machine away."""
    import multiprocessing
    import resource

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        torch.set_num_threads(1)
        try:
            child.send(_outcome(call, tmp_path))
        except MemoryError:
            child.send(("MemoryError", f"over the {memory >> 30} GiB test limit", False, False))

    proc = ctx.Process(target=target, daemon=True)
    proc.start()
    ready = parent.poll(seconds)
    result = parent.recv() if ready else ("timeout", f"no answer within {seconds:.0f} s (still running)", False, False)
    proc.kill()
    proc.join()
    if not ready and proc.exitcode not in (None, 0, -9):
        result = ("crash", f"child died with exit code {proc.exitcode}", False, False)
    return result


@pytest.mark.parametrize("call, name", list(_params()))
def test_bad_call_raises_a_named_maskbench_error(request, call, name: str, tmp_path: Path) -> None:
    bounded = "10**400" in request.node.callspec.id or "huge" in request.node.callspec.id
    kind, message, named_family, value_or_type = (_bounded if bounded else _outcome)(call, tmp_path)
    assert kind, "no error raised"
    assert named_family, f"{kind} is not a MaskbenchError: {message[:300]}"
    assert value_or_type, f"{kind} is neither a ValueError nor a TypeError"
    assert len(message) <= MAX_MESSAGE, f"{len(message)}-character message: {message[:200]}..."
    assert re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message), f"message does not name {name!r}: {message}"


def test_no_loss_accepts_a_target_on_another_device_silently() -> None:
    """Issue 10 #11: losses check the target's device (meta tensors stand in for a second device)."""
    x = torch.randn(2, 1, 3, 3)
    target = torch.empty(2, 1, 3, 3, device="meta")
    for loss in (mb.masked_mse, mb.masked_l1, mb.masked_bce_with_logits, mb.dice_loss):
        with pytest.raises(mb.MaskbenchError, match="target"):
            loss(x, target)
    with pytest.raises(mb.MaskbenchError, match="target"):
        mb.masked_cross_entropy(torch.randn(2, 3, 3, 3), torch.empty(2, 3, 3, dtype=torch.long, device="meta"))
