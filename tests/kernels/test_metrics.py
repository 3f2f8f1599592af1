"""maskbench.kernels.metrics against plain-Python counts, torchmetrics and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskbench import (
    Confusion,
    DTypeError,
    MaskValueError,
    ShapeError,
    confusion_counts,
    dice,
    f1,
    iou,
    precision,
    recall,
    scores_from_counts,
)
from maskbench._checks import ArgumentError, ArgumentTypeError
from maskbench.kernels._counting import bincount_fixed

# `device` / `no_sync` are fixtures that do not change between examples
fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

METRICS = {"iou": iou, "dice": dice, "precision": precision, "recall": recall, "f1": f1}


# ---------------------------------------------------------------- plain references (numpy, loops)
def ref_counts(pred: np.ndarray, target: np.ndarray, k: int, keep: np.ndarray) -> np.ndarray:
    """(K, 4) tp, fp, fn, tn per class by looping over pixels."""
    out = np.zeros((k, 4), dtype=np.int64)
    for p, t, ok in zip(pred.ravel(), target.ravel(), keep.ravel()):
        if not ok:
            continue
        for c in range(k):
            out[c, 0] += p == c and t == c
            out[c, 1] += p == c and t != c
            out[c, 2] += p != c and t == c
            out[c, 3] += p != c and t != c
    return out


def ref_score(name: str, tp: int, fp: int, fn: int, empty: float) -> float:
    num, den = {
        "iou": (tp, tp + fp + fn),
        "dice": (2 * tp, 2 * tp + fp + fn),
        "f1": (2 * tp, 2 * tp + fp + fn),
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
    }[name]
    return empty if den == 0 else num / den


def ref_macro(name: str, counts: np.ndarray, empty: float) -> float:
    """Mean over classes present in pred or target; NaN scores are skipped; none present -> empty."""
    values = [ref_score(name, *counts[c, :3], empty) for c in range(len(counts)) if counts[c, :3].sum() > 0]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else empty


def close(actual: torch.Tensor, expected, **kw) -> None:
    expected = torch.as_tensor(np.asarray(expected, dtype=np.float64), dtype=actual.dtype)
    torch.testing.assert_close(actual.cpu(), expected, equal_nan=True, **kw)


# ---------------------------------------------------------------- strategies
@st.composite
def label_maps(draw, *, max_classes: int = 4, binary: bool = False):
    """(pred, target, keep, k) as numpy arrays of shape (B, H, W) with corner cases likely."""
    b, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    k = 2 if binary else draw(st.integers(1, max_classes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def labels():
        kind = draw(st.sampled_from(["random", "zeros", "full", "one"]))
        if kind == "zeros":
            return np.zeros((b, h, w), np.int64)
        if kind == "full":
            return np.full((b, h, w), k - 1, np.int64)
        if kind == "one":
            return np.full((b, h, w), draw(st.integers(0, k - 1)), np.int64)
        return rng.integers(0, k, (b, h, w))

    pred, target = labels(), labels()
    keep_kind = draw(st.sampled_from(["all", "random", "none"]))
    keep = {"all": np.ones((b, h, w), bool), "none": np.zeros((b, h, w), bool)}.get(
        keep_kind, rng.random((b, h, w)) < 0.7
    )
    return pred, target, keep, k


# ---------------------------------------------------------------- confusion_counts
def test_doc_example_counts(device, no_sync):
    pred = torch.tensor([[True, True], [False, False]], device=device)
    target = torch.tensor([[True, False], [True, False]], device=device)
    with no_sync():
        c = confusion_counts(pred, target)
    assert isinstance(c, Confusion) and tuple(int(v) for v in c) == (1, 1, 1, 1)
    assert c.tp.dtype == torch.int64 and c.tp.shape == ()
    assert c.matrix.tolist() == [[1, 1], [1, 1]]


@fixtures_ok
@given(label_maps(binary=True), st.booleans())
def test_binary_counts_match_loop(device, no_sync, case, per_image):
    pred, target, keep, _ = case
    p, t = torch.tensor(pred == 1, device=device), torch.tensor(target == 1, device=device)
    ignore = torch.tensor(~keep, device=device)
    with no_sync():
        c = confusion_counts(p, t, ignore=ignore, per_image=per_image)
    if per_image:
        expected = np.stack([ref_counts(pred[i], target[i], 2, keep[i])[1] for i in range(len(pred))])
        got = torch.stack(list(c), -1)
    else:
        expected, got = ref_counts(pred, target, 2, keep)[1], torch.stack(list(c))
    assert got.cpu().tolist() == expected.tolist()
    assert int(torch.stack(list(c)).sum()) == int(keep.sum())  # every kept pixel counted once


@fixtures_ok
@given(label_maps(), st.booleans(), st.sampled_from(["mask", "value", None]))
def test_multiclass_counts_match_loop(device, no_sync, case, per_image, ignore_kind):
    pred, target, keep, k = case
    target = np.where(keep, target, 255) if ignore_kind == "value" else target
    ignore = {"mask": torch.tensor(~keep, device=device), "value": 255, None: None}[ignore_kind]
    keep = keep if ignore_kind else np.ones_like(keep)
    p = torch.tensor(pred, device=device, dtype=torch.uint8)
    t = torch.tensor(target, device=device, dtype=torch.int32)
    with no_sync():
        c = confusion_counts(p, t, num_classes=k, ignore=ignore, per_image=per_image)
    if per_image:
        expected = np.stack([ref_counts(pred[i], target[i], k, keep[i]) for i in range(len(pred))])
    else:
        expected = ref_counts(pred, target, k, keep)
    assert torch.stack(list(c), -1).cpu().tolist() == expected.tolist()
    # the matrix: rows = target, cols = pred; its diagonal is tp
    assert c.matrix.shape == ((len(pred),) if per_image else ()) + (k, k)
    assert torch.equal(c.matrix.diagonal(dim1=-2, dim2=-1), c.tp)


def test_binary_is_multiclass_class_one(device):
    g = torch.Generator().manual_seed(1)
    pred = (torch.rand(3, 6, 7, generator=g) > 0.5).to(device)
    target = (torch.rand(3, 6, 7, generator=g) > 0.3).to(device)
    binary = confusion_counts(pred, target, per_image=True)
    multi = confusion_counts(pred.long(), target.long(), num_classes=2, per_image=True)
    for a, b in zip(binary, multi):
        assert torch.equal(a, b[:, 1])
    assert torch.equal(binary.matrix, multi.matrix)


def test_ignore_broadcasts(device):
    pred = torch.ones(2, 3, 4, dtype=torch.bool, device=device)
    target = torch.zeros(2, 3, 4, dtype=torch.bool, device=device)
    ignore = torch.zeros(3, 4, dtype=torch.bool, device=device)
    ignore[0] = True  # one row of each image
    c = confusion_counts(pred, target, ignore=ignore, per_image=True)
    assert c.fp.tolist() == [8, 8]


def test_scatter_path_equals_bincount():
    # the accelerator path (index_add_ into a fixed buffer) is exercised on CPU too
    index = torch.randint(0, 17, (1000,))
    assert torch.equal(bincount_fixed(index, 20, use_bincount=False), torch.bincount(index, minlength=20))
    assert torch.equal(bincount_fixed(index.int(), 20, use_bincount=False), torch.bincount(index, minlength=20))


# ---------------------------------------------------------------- scores
@fixtures_ok
@given(
    name=st.sampled_from(sorted(METRICS)),
    case=label_maps(),
    per_image=st.booleans(),
    empty=st.sampled_from([1.0, 0.0, float("nan")]),
)
def test_multiclass_scores_match_reference(device, no_sync, name, case, per_image, empty):
    pred, target, keep, k = case
    p, t = torch.tensor(pred, device=device), torch.tensor(target, device=device)
    ignore = torch.tensor(~keep, device=device)
    fn = METRICS[name]
    with no_sync():
        per_class = fn(p, t, num_classes=k, ignore=ignore, per_image=per_image, empty=empty)
        macro = fn(p, t, num_classes=k, ignore=ignore, per_image=per_image, empty=empty, average="macro")
        micro = fn(p, t, num_classes=k, ignore=ignore, per_image=per_image, empty=empty, average="micro")
    images = [(pred[i], target[i], keep[i]) for i in range(len(pred))] if per_image else [(pred, target, keep)]
    counts = [ref_counts(a, b, k, m) for a, b, m in images]
    exp_class = [[ref_score(name, *c[j, :3], empty) for j in range(k)] for c in counts]
    exp_macro = [ref_macro(name, c, empty) for c in counts]
    exp_micro = [ref_score(name, *c[:, :3].sum(0), empty) for c in counts]
    if not per_image:
        exp_class, exp_macro, exp_micro = exp_class[0], exp_macro[0], exp_micro[0]
    close(per_class, exp_class)
    close(macro, exp_macro)
    close(micro, exp_micro)
    if empty == empty:  # NaN-free unless asked for
        assert not per_class.isnan().any() and not macro.isnan().any() and not micro.isnan().any()


@fixtures_ok
@given(
    name=st.sampled_from(sorted(METRICS)),
    case=label_maps(binary=True),
    per_image=st.booleans(),
    average=st.sampled_from([None, "micro", "macro"]),
)
def test_binary_scores_match_reference(device, no_sync, name, case, per_image, average):
    pred, target, keep, _ = case
    p, t = torch.tensor(pred == 1, device=device), torch.tensor(target == 1, device=device)
    with no_sync():
        got = METRICS[name](p, t, ignore=torch.tensor(~keep, device=device), per_image=per_image, average=average)
    images = [(pred[i], target[i], keep[i]) for i in range(len(pred))] if per_image else [(pred, target, keep)]
    expected = [ref_score(name, *ref_counts(a, b, 2, m)[1, :3], 1.0) for a, b, m in images]
    close(got, expected if per_image else expected[0])
    assert got.dtype == torch.get_default_dtype()


@fixtures_ok
@given(
    shape=st.sampled_from([(1, 1), (1, 1, 1), (3, 5), (2, 4, 3)]),
    fill=st.sampled_from(["empty", "full"]),
    empty=st.sampled_from([1.0, 0.0, float("nan")]),
)
def test_empty_and_full_masks(device, no_sync, shape, fill, empty):
    x = torch.full(shape, fill == "full", dtype=torch.bool, device=device)
    with no_sync():
        scores = {name: fn(x, x, empty=empty) for name, fn in METRICS.items()}
        flipped = iou(x, ~x, empty=empty)
    for value in scores.values():
        # a perfect prediction scores 1; with both empty every denominator is zero -> `empty`
        close(value, 1.0 if fill == "full" else empty)
    close(flipped, 0.0)  # one empty, one full: the denominator is not zero


@fixtures_ok
@given(
    k=st.integers(1, 4),
    per_image=st.booleans(),
    how=st.sampled_from(["mask", "value"]),
    empty=st.sampled_from([1.0, 0.0, float("nan")]),
)
def test_ignore_everything_gives_empty(device, no_sync, k, per_image, how, empty):
    pred = torch.randint(0, k, (2, 3, 3), device=device)
    target = torch.randint(0, k, (2, 3, 3), device=device)
    target = target.fill_(255) if how == "value" else target
    ignore = 255 if how == "value" else torch.ones(3, 3, dtype=torch.bool, device=device)
    with no_sync():
        c = confusion_counts(pred, target, num_classes=k, ignore=ignore, per_image=per_image)
        scores = [
            fn(pred, target, num_classes=k, ignore=ignore, per_image=per_image, average=avg, empty=empty)
            for fn in METRICS.values()
            for avg in (None, "micro", "macro")
        ]
    assert all(int(v.sum()) == 0 for v in c)
    for s in scores:
        close(s, torch.full(s.shape, empty))


def test_per_image_equals_separate_calls(device, no_sync):
    g = torch.Generator().manual_seed(3)
    pred = torch.randint(0, 3, (4, 5, 6), generator=g).to(device)
    target = torch.randint(0, 3, (4, 5, 6), generator=g).to(device)
    target[2] = 0  # an image with one class only
    with no_sync():
        batched = iou(pred, target, num_classes=3, per_image=True, average="macro")
    separate = torch.stack([iou(pred[i], target[i], num_classes=3, average="macro") for i in range(4)])
    torch.testing.assert_close(batched, separate)


def test_f1_equals_dice_and_formula(device):
    g = torch.Generator().manual_seed(4)
    pred = (torch.rand(3, 8, 8, generator=g) > 0.5).to(device)
    target = (torch.rand(3, 8, 8, generator=g) > 0.6).to(device)
    p, r = precision(pred, target, per_image=True), recall(pred, target, per_image=True)
    torch.testing.assert_close(f1(pred, target, per_image=True), dice(pred, target, per_image=True))
    torch.testing.assert_close(f1(pred, target, per_image=True), 2 * p * r / (p + r))


def test_macro_excludes_absent_classes(device):
    # class 2 is in neither pred nor target: its per-class IoU is `empty`, macro skips it
    pred = torch.tensor([[0, 1], [1, 1]], device=device)
    target = torch.tensor([[0, 0], [1, 1]], device=device)
    close(iou(pred, target, num_classes=3), [0.5, 2 / 3, 1.0])
    close(iou(pred, target, num_classes=3, average="macro"), (0.5 + 2 / 3) / 2)
    close(iou(pred, target, num_classes=3, average="macro", empty=0.0), (0.5 + 2 / 3) / 2)


def test_compiles_without_graph_breaks():
    # fullgraph capture proves there is no data-dependent branch or .item(); off CPU-eager the
    # counts go through index_add_ (the accelerator path)
    fn = torch.compile(
        lambda p, t: iou(p, t, num_classes=3, ignore=255, per_image=True, average="macro"),
        fullgraph=True,
        backend="aot_eager",
    )
    pred, target = torch.randint(0, 3, (2, 5, 5)), torch.randint(0, 3, (2, 5, 5))
    target[0, 0] = 255
    expected = iou(pred, target, num_classes=3, ignore=255, per_image=True, average="macro")
    torch.testing.assert_close(fn(pred, target), expected)


# ---------------------------------------------------------------- torchmetrics where conventions match
tm = pytest.importorskip("torchmetrics")


@fixtures_ok
@given(label_maps(binary=True), st.sampled_from([0.0, 1.0]))
def test_binary_against_torchmetrics(case, zero_division):
    from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex, BinaryPrecision, BinaryRecall

    pred, target, keep, _ = case
    p = torch.tensor(pred == 1)
    t = torch.tensor(target == 1)
    t_tm = torch.where(torch.tensor(keep), t.long(), -1)  # torchmetrics ignores by target value
    kw = dict(ignore_index=-1, zero_division=zero_division)
    ours = {"iou": iou, "precision": precision, "recall": recall, "f1": f1}
    theirs = {"iou": BinaryJaccardIndex(**kw), "precision": BinaryPrecision(**kw),
              "recall": BinaryRecall(**kw), "f1": BinaryF1Score(**kw)}  # fmt: skip
    for name, metric in theirs.items():
        got = ours[name](p, t, ignore=torch.tensor(~keep), empty=zero_division)
        torch.testing.assert_close(got, metric(p.long(), t_tm).float(), msg=name)
    if keep.all():  # per image, against samplewise
        sw = BinaryPrecision(multidim_average="samplewise", zero_division=zero_division)
        expected = sw(p.long(), t.long()).reshape(-1)  # torchmetrics squeezes B = 1
        torch.testing.assert_close(precision(p, t, per_image=True, empty=zero_division), expected)


@fixtures_ok
@given(average=st.sampled_from([None, "macro", "micro"]), case=label_maps(), zero_division=st.sampled_from([0.0, 1.0]))
def test_multiclass_against_torchmetrics(average, case, zero_division):
    from torchmetrics.classification import MulticlassJaccardIndex, MulticlassPrecision, MulticlassRecall

    pred, target, keep, k = case
    if k < 2:
        return  # torchmetrics needs num_classes >= 2
    p = torch.tensor(pred)
    t = torch.tensor(np.where(keep, target, 255))
    avg = "none" if average is None else average
    theirs = {
        "iou": MulticlassJaccardIndex(k, average=avg, ignore_index=255, zero_division=zero_division),
        "precision": MulticlassPrecision(k, average=avg, ignore_index=255, zero_division=zero_division),
        "recall": MulticlassRecall(k, average=avg, ignore_index=255, zero_division=zero_division),
    }
    for name, metric in theirs.items():
        expected = metric(p, t).float()
        if average == "macro" and not keep.any():
            expected = torch.tensor(zero_division)  # torchmetrics: 0/0 weights; ours: `empty`
        got = METRICS[name](p, t, num_classes=k, ignore=255, average=average, empty=zero_division)
        torch.testing.assert_close(got, expected, msg=name)


@pytest.mark.filterwarnings("ignore:dice_score metric currently defaults")
@fixtures_ok
@given(average=st.sampled_from(["none", "macro", "micro"]), case=label_maps())
def test_dice_against_torchmetrics_dice_score(average, case):
    # DiceScore: 0/0 -> NaN and macro = nanmean: our empty=nan convention, per image
    from torchmetrics.functional.segmentation import dice_score

    pred, target, _, k = case
    p, t = torch.tensor(pred), torch.tensor(target)
    expected = dice_score(p, t, k, average=average, input_format="index", aggregation_level="samplewise")
    got = dice(p, t, num_classes=k, per_image=True, average=None if average == "none" else average, empty=float("nan"))
    torch.testing.assert_close(got, expected.float(), equal_nan=True)


# ---------------------------------------------------------------- errors
def test_errors_name_argument_and_fix(device):
    b = torch.zeros(2, 3, dtype=torch.bool, device=device)
    with pytest.raises(DTypeError, match=r"pred: .*bool mask.*maskbench\.threshold"):
        iou(torch.rand(2, 3, device=device), b)
    with pytest.raises(DTypeError, match=r"target: .*num_classes=K"):
        iou(b, torch.zeros(2, 3, dtype=torch.long, device=device))
    with pytest.raises(ShapeError, match=r"target: expected the same shape as pred \(2, 3\); got \(3, 2\)"):
        confusion_counts(b, b.T)
    with pytest.raises(ShapeError, match=r"Drop the channel dim"):
        confusion_counts(b[:, None], b)
    with pytest.raises(TypeError, match=r"ignore: an int ignore value needs integer label maps"):
        iou(b, b, ignore=255)
    with pytest.raises(ShapeError, match=r"ignore: expected a shape that broadcasts to target \(2, 3\)"):
        iou(b, b, ignore=torch.zeros(2, dtype=torch.bool, device=device))
    with pytest.raises(DTypeError, match=r"ignore: expected a bool mask"):
        iou(b, b, ignore=torch.zeros(2, 3, device=device))
    with pytest.raises(ValueError, match=r"average: expected one of"):
        iou(b, b, average="weighted")
    with pytest.raises(TypeError, match=r"empty: expected a number"):
        iou(b, b, empty=None)
    labels = torch.tensor([[0, 1, 5]], device=device)
    with pytest.raises(DTypeError, match=r"pred: expected an integer label map"):
        iou(labels.float(), labels, num_classes=6)
    with pytest.raises(ValueError, match=r"num_classes: expected an int >= 1"):
        iou(labels, labels, num_classes=0)


def test_out_of_range_labels_raise_on_cpu():
    labels = torch.tensor([[0, 1, 5]])
    with pytest.raises(MaskValueError, match=r"target: expected labels in \[0, 2\].*\[5\].*ignore=255"):
        iou(torch.zeros_like(labels), labels, num_classes=3)
    with pytest.raises(MaskValueError, match=r"pred: expected labels in \[0, 2\]"):
        iou(labels, torch.zeros_like(labels), num_classes=3)
    # an ignore value and masked-out pixels may hold anything
    target = torch.tensor([[0, 1, 255]])
    assert iou(torch.tensor([[0, 1, 9]]), target, num_classes=3, ignore=255).tolist() == [1.0, 1.0, 1.0]
    masked = iou(labels, torch.zeros_like(labels), num_classes=3, ignore=torch.tensor([False, False, True]))
    assert masked.tolist() == [0.5, 0.0, 1.0]


# ---------------------------------------------------------------- scores_from_counts
@pytest.mark.parametrize("name", ["iou", "dice", "f1", "precision", "recall"])
@pytest.mark.parametrize("empty", [1.0, 0.0, math.nan])
def test_scores_from_counts_matches_formula(device, no_sync, name, empty):
    gen = torch.Generator().manual_seed(1)
    counts = torch.randint(0, 3, (3, 4, 5), generator=gen)  # many zero denominators
    counts[:, 0, 0] = 0
    tp, fp, fn = (c.to(device) for c in counts)
    with no_sync():
        got = scores_from_counts(tp, fp, fn, metric=name, empty=empty)
    assert got.shape == (4, 5) and got.dtype == torch.get_default_dtype()
    expected = [[ref_score(name, *counts[:, i, j].tolist(), empty) for j in range(5)] for i in range(4)]
    close(got, expected)


def test_scores_from_counts_broadcasts_float_counts_and_keeps_float64():
    tp = torch.tensor([[0.5], [2.0]], dtype=torch.float64)
    got = scores_from_counts(tp, torch.tensor([0.5, 0.0]), torch.tensor(0.0), metric="precision", empty=-1.0)
    assert got.dtype == torch.float64
    # a fractional denominator (weighted counts) is divided by, not clamped to 1
    torch.testing.assert_close(got, torch.tensor([[0.5, 1.0], [0.8, 1.0]], dtype=torch.float64))
    zero = torch.zeros(2, dtype=torch.float64)
    torch.testing.assert_close(scores_from_counts(zero, zero, zero, metric="iou", empty=-1.0), -torch.ones(2).double())


def test_metrics_and_sweep_curves_use_scores_from_counts():
    pred = torch.tensor([[True, True], [False, False]])
    target = torch.tensor([[True, False], [True, False]])
    c = confusion_counts(pred, target)
    for name, fn in METRICS.items():
        torch.testing.assert_close(fn(pred, target), scores_from_counts(c.tp, c.fp, c.fn, metric=name))


def test_scores_from_counts_errors():
    one = torch.ones(2)
    with pytest.raises(ArgumentError, match="metric: expected one of 'iou'"):
        scores_from_counts(one, one, one, metric="accuracy")
    with pytest.raises(ArgumentTypeError, match="empty: expected a number"):
        scores_from_counts(one, one, one, metric="iou", empty="1")
    with pytest.raises(DTypeError, match="fn: expected a torch.Tensor"):
        scores_from_counts(one, one, [1, 1], metric="iou")
    with pytest.raises(TypeError):
        scores_from_counts(one, one, one)  # metric is required and keyword-only


# ---------------------------------------------------------------- issue 10 items 8 and 11
@pytest.mark.parametrize("average", ["none", "macro", "micro"])
def test_ignore_value_inside_range_against_torchmetrics(average):
    """An ignore value inside [0, K) keeps its class column (issue 10 item 8): precision, recall and F1
    equal torchmetrics'; its Jaccard index drops the class from its averages, which the documented
    recipe (average the per-class IoU without that class) reproduces."""
    from torchmetrics.functional.classification import (
        multiclass_f1_score,
        multiclass_jaccard_index,
        multiclass_precision,
        multiclass_recall,
    )

    g = torch.Generator().manual_seed(3)
    p, t = torch.randint(0, 4, (3, 9, 9), generator=g), torch.randint(0, 4, (3, 9, 9), generator=g)
    avg = None if average == "none" else average
    kw = dict(num_classes=4, ignore=1, average=avg, empty=0.0)
    for ours, theirs in ((precision, multiclass_precision), (recall, multiclass_recall), (f1, multiclass_f1_score)):
        torch.testing.assert_close(ours(p, t, **kw), theirs(p, t, 4, average=average, ignore_index=1))
    per_class = iou(p, t, num_classes=4, ignore=1)
    jaccard = multiclass_jaccard_index(p, t, 4, average=average, ignore_index=1)
    if average == "none":
        torch.testing.assert_close(per_class, jaccard)
    elif average == "macro":
        torch.testing.assert_close(per_class[[0, 2, 3]].mean(), jaccard)  # the recipe in the docstring
        assert not torch.isclose(iou(p, t, **kw), jaccard)  # the class column stays in ours
    else:
        c = confusion_counts(p, t, num_classes=4, ignore=1)
        keep = torch.tensor([True, False, True, True])
        torch.testing.assert_close(c.tp[keep].sum() / (c.tp + c.fp + c.fn)[keep].sum(), jaccard)


def test_docstring_no_longer_claims_plain_torchmetrics_macro():
    import maskbench.kernels.metrics as module

    assert "This matches torchmetrics' macro. " not in module.__doc__
    assert "drops that class from its averages" in module.__doc__


@pytest.mark.parametrize("num_classes", [None, 3])
def test_empty_batch_gives_empty_counts(device, num_classes):
    """Batch 0 (issue 10 item 11): per_image counts of shape (0,) / (0, K), not an IndexError."""
    dtype = torch.bool if num_classes is None else torch.long
    x = torch.zeros(0, 4, 5, dtype=dtype, device=device)
    c = confusion_counts(x, x, num_classes=num_classes, per_image=True)
    extra = () if num_classes is None else (num_classes,)
    assert all(v.shape == (0, *extra) and v.dtype == torch.int64 for v in c)
    assert c.matrix.shape == (0, 2 if num_classes is None else 3, 2 if num_classes is None else 3)
    for name, fn in METRICS.items():
        assert fn(x, x, num_classes=num_classes, per_image=True).shape == (0, *extra), name
        assert fn(x, x, num_classes=num_classes, per_image=True, average="macro").shape == (0,), name
    whole = confusion_counts(x, x, num_classes=num_classes)
    assert all(int(v.sum()) == 0 for v in whole)
    ignore = torch.zeros(0, 4, 5, dtype=torch.bool, device=device)
    assert confusion_counts(x, x, num_classes=num_classes, per_image=True, ignore=ignore).tp.shape == (0, *extra)


@pytest.mark.parametrize("swap", [False, True])
def test_zero_d_against_one_d_is_a_shape_error_naming_target(swap):
    """iou(tensor(True), tensor([True, False])) (issue 10 item 11): a ShapeError naming target."""
    a, b = torch.tensor(True), torch.tensor([True, False])
    if swap:
        a, b = b, a
    with pytest.raises(ShapeError, match=r"target: expected the same shape as pred"):
        iou(a, b)
