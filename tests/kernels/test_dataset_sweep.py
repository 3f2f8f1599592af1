"""DatasetSweep: counts equal thresholding and counting per image, ThresholdSweep when pooled; merge laws; errors."""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskbench import (
    DatasetSweep,
    DeviceError,
    DTypeError,
    MaskbenchError,
    MaskValueError,
    ShapeError,
    ThresholdSweep,
    confusion_counts,
    iou,
    threshold_sweep,
)
from maskbench._checks import ArgumentError

fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
FIELDS = ("tp", "fp", "fn", "tn")
# ThresholdSweep follows the `probs > t` rule once the convention change (issue 10 item 5) is in.
STRICT_THRESHOLD_SWEEP = int(threshold_sweep(torch.tensor([0.5]), torch.tensor([True]), thresholds=3).tp[1]) == 0


def thresholds_of(spec) -> torch.Tensor:
    return torch.linspace(0, 1, spec) if isinstance(spec, int) else spec


def reference(batches, spec, num_classes=None):
    """(N, [K,] T, 4) per-image counts by thresholding (``p > t``) and counting, one image and threshold at a time."""
    thr = thresholds_of(spec)
    rows = []
    for probs, target, ignore in batches:
        for i in range(probs.shape[0]):
            dtype = torch.promote_types(probs.dtype, thr.dtype)
            p = probs[i].to(dtype).cpu()
            t = target[i].reshape(p.shape[-2:]).cpu()
            ign = None
            if isinstance(ignore, torch.Tensor):
                ign = ignore.cpu().reshape(-1, *ignore.shape[-2:])
                ign = ign[i if ign.shape[0] > 1 else 0].expand(p.shape[-2:])
            elif ignore is not None:
                ign = t == ignore
            classes = [None] if num_classes is None else range(num_classes)
            per_class = []
            for c in classes:
                pc = p.reshape(p.shape[-2:]) if c is None else p[c]
                tc = t if c is None else t == c
                per_thr = []
                for tv in thr.to(dtype):
                    cc = confusion_counts(pc > tv, tc, ignore=ign)
                    per_thr.append([int(getattr(cc, f)) for f in FIELDS])
                per_class.append(per_thr)
            rows.append(per_class if num_classes is not None else per_class[0])
    return torch.tensor(rows, dtype=torch.int64)


def stacked(counts) -> torch.Tensor:
    return torch.stack([getattr(counts, f) for f in FIELDS], -1).cpu()


@st.composite
def datasets(draw, num_classes=None):
    """(batches, thresholds): batches of (probs, target, ignore), values on, beside and far from thresholds."""
    if draw(st.booleans()):
        spec = draw(st.integers(1, 9))
    else:
        values = draw(st.lists(st.floats(-0.25, 1.25, width=16), min_size=1, max_size=6))
        spec = torch.tensor(sorted(values), dtype=draw(st.sampled_from([torch.float32, torch.float64])))
    thr = thresholds_of(spec)
    pool = thr.tolist() + [0.0, 1.0, 0.5, -0.1, 1.1] + torch.nextafter(thr, torch.tensor(2.0, dtype=thr.dtype)).tolist()
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        b, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        k = num_classes or 1
        n = b * k * h * w
        values = draw(st.lists(st.one_of(st.sampled_from(pool), st.floats(0, 1)), min_size=n, max_size=n))
        probs = torch.tensor(values, dtype=torch.float64).to(draw(st.sampled_from(DTYPES))).reshape(b, k, h, w)
        if num_classes is None:
            probs = probs if draw(st.booleans()) else probs[:, 0]
            target = torch.tensor(draw(st.lists(st.booleans(), min_size=b * h * w, max_size=b * h * w)))
            target = target.reshape(b, 1, h, w) if draw(st.booleans()) else target.reshape(b, h, w)
            ignore = None
            if draw(st.booleans()):
                shape = draw(st.sampled_from([(b, h, w), (b, 1, h, w), (h, w), (1, w)]))
                ignore = torch.rand(shape) > 0.6
        else:
            target = torch.randint(0, num_classes + 1, (b, h, w))  # num_classes = the ignore label
            ignore = num_classes
        batches.append((probs, target, ignore))
    return batches, spec


def sweep_of(batches, spec, **kw) -> DatasetSweep:
    sweep = DatasetSweep(spec, **kw)
    for probs, target, ignore in batches:
        sweep.update(probs, target, ignore=ignore)
    return sweep


@given(datasets())
def test_equals_counting_per_image_and_threshold(data) -> None:
    batches, spec = data
    sweep = sweep_of(batches, spec)
    ref = reference(batches, spec)
    assert torch.equal(stacked(sweep.per_image), ref)
    assert torch.equal(stacked(sweep.pooled), ref.sum(0))
    assert sweep.ids == list(range(ref.shape[0]))


@given(datasets(num_classes=3))
def test_multiclass_one_vs_rest_with_ignore_label(data) -> None:
    batches, spec = data
    sweep = sweep_of(batches, spec, num_classes=3)
    ref = reference(batches, spec, num_classes=3)
    assert torch.equal(stacked(sweep.per_image), ref)
    assert torch.equal(stacked(sweep.pooled), ref.sum(0))


def _off_thresholds(batches, spec):
    """The same data with every value equal to a threshold moved off it (where >= and > agree)."""
    thr = thresholds_of(spec)
    out = []
    for probs, target, ignore in batches:
        dtype = torch.promote_types(probs.dtype, thr.dtype)
        on = (probs.to(dtype)[..., None] == thr.to(dtype)).any(-1)
        out.append((torch.where(on, torch.full_like(probs, 0.3), probs), target, ignore))
        if (out[-1][0].to(dtype)[..., None] == thr.to(dtype)).any():
            out[-1] = (torch.where(on, torch.full_like(probs, 2.0), probs), target, ignore)
    return out


def _threshold_sweep_counts(batches, spec) -> torch.Tensor:
    ts = ThresholdSweep(spec)
    for probs, target, ignore in batches:
        p = probs.reshape(probs.shape[0], *probs.shape[-2:])
        t = target.reshape(p.shape)
        ts.update(p, t, None if ignore is None else ignore.reshape(-1, *ignore.shape[-2:]).expand(p.shape))
    return stacked(ts.compute())


@given(datasets())
def test_pooled_equals_threshold_sweep_on_the_concatenated_data(data) -> None:
    batches, spec = data
    batches = _off_thresholds(batches, spec)
    assert torch.equal(stacked(sweep_of(batches, spec).pooled), _threshold_sweep_counts(batches, spec))


@pytest.mark.skipif(not STRICT_THRESHOLD_SWEEP, reason="ThresholdSweep still counts probs >= t (issue 10 item 5)")
@given(datasets())
def test_pooled_equals_threshold_sweep_with_ties(data) -> None:
    batches, spec = data
    assert torch.equal(stacked(sweep_of(batches, spec).pooled), _threshold_sweep_counts(batches, spec))


def test_strictly_above_the_threshold() -> None:
    sweep = DatasetSweep(torch.tensor([0.25, 0.5, 0.5, 0.75]))
    sweep.update(torch.tensor([[[0.5, 0.75, 0.25]]]), torch.tensor([[[True, True, False]]]))
    assert sweep.pooled.tp.tolist() == [2, 1, 1, 0]
    assert sweep.pooled.fp.tolist() == [0, 0, 0, 0]


# ---------------------------------------------------------------- merge
def same(a: DatasetSweep, b: DatasetSweep) -> bool:
    return (
        a.ids == b.ids
        and torch.equal(stacked(a.pooled), stacked(b.pooled))
        and torch.equal(stacked(a.per_image), stacked(b.per_image))
    )


def by_id(s: DatasetSweep) -> dict:
    return {i: c for i, c in zip(s.ids, stacked(s.per_image))}


@given(datasets(), st.integers(0, 3), st.integers(0, 3))
def test_merge_is_exact_associative_commutative_and_pure(data, cut1, cut2) -> None:
    batches, spec = data
    cut1, cut2 = sorted((min(cut1, len(batches)), min(cut2, len(batches))))
    whole = sweep_of(batches, spec)
    parts = [DatasetSweep(spec) for _ in range(3)]
    first = 0
    for part, chunk in zip(parts, (batches[:cut1], batches[cut1:cut2], batches[cut2:])):
        for probs, target, ignore in chunk:
            part.update(probs, target, ignore=ignore, ids=range(first, first + probs.shape[0]))
            first += probs.shape[0]
    a, b, c = parts
    snapshots = [snapshot(p) for p in parts]
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    assert same(left, whole) and same(right, whole)
    ab, ba = a.merge(b), b.merge(a)
    assert torch.equal(stacked(ab.pooled), stacked(ba.pooled))
    assert by_id(ab).keys() == by_id(ba).keys()
    assert all(torch.equal(by_id(ab)[i], by_id(ba)[i]) for i in by_id(ab))
    for part, before in zip(parts, snapshots):  # inputs unchanged
        after = snapshot(part)
        assert after[0] == before[0] and all(torch.equal(x, y) for x, y in zip(after[1:], before[1:]))


def test_merge_rejects_other_thresholds_and_options() -> None:
    a = DatasetSweep(3)
    a.update(torch.rand(1, 2, 2), torch.rand(1, 2, 2) > 0.5)
    b = DatasetSweep(4)
    b.update(torch.rand(1, 2, 2), torch.rand(1, 2, 2) > 0.5)
    with pytest.raises(ArgumentError, match="same thresholds"):
        a.merge(b)
    with pytest.raises(ArgumentError, match="per_image"):
        a.merge(DatasetSweep(3, per_image=False))
    assert same(a.merge(DatasetSweep(3)), a)  # an empty sweep is the identity


# ---------------------------------------------------------------- scores
def test_scores_best_worst_match_the_metrics() -> None:
    gen = torch.Generator().manual_seed(1)
    probs = torch.rand(6, 1, 9, 7, generator=gen)
    target = torch.rand(6, 9, 7, generator=gen) > 0.4
    sweep = DatasetSweep(21)
    sweep.update(probs[:4], target[:4], ids=list("abcd"))
    sweep.update(probs[4:], target[4:], ids=list("ef"))
    thr = sweep.thresholds
    for metric in ("iou", "dice", "precision", "recall"):
        fn = {"iou": iou}.get(metric)
        if fn is not None:
            expected = torch.stack([fn(probs[:, 0] > t, target, per_image=True) for t in thr], -1)
            assert torch.allclose(sweep.scores(metric, average="per_image"), expected)
            assert torch.allclose(sweep.scores(metric), torch.stack([fn(probs[:, 0] > t, target) for t in thr]))
    at = sweep.scores("iou", 0.52, average="per_image")  # nearest swept threshold: 0.5
    assert torch.allclose(at, iou(probs[:, 0] > 0.5, target, per_image=True))
    t_best, v_best = sweep.best("iou")
    curve = sweep.scores("iou")
    assert v_best == curve.max() and t_best == thr[curve.argmax()]
    t_img, v_img = sweep.best("iou", average="per_image")
    assert torch.isclose(v_img, sweep.scores("iou", average="per_image").mean(0).max())
    order = torch.argsort(iou(probs[:, 0] > 0.5, target, per_image=True), stable=True)
    assert sweep.worst(3, "iou", 0.5) == [list("abcdef")[i] for i in order[:3]]


def test_pooled_only() -> None:
    sweep = DatasetSweep(5, per_image=False)
    sweep.update(torch.rand(3, 4, 4), torch.rand(3, 4, 4) > 0.5)
    assert sweep.pooled.tp.shape == (5,) and len(sweep) == 3
    with pytest.raises(ArgumentError, match="per_image=True"):
        _ = sweep.per_image


def test_on_device_matches_cpu(device, no_sync) -> None:
    gen = torch.Generator().manual_seed(2)
    probs, target = torch.rand(3, 1, 16, 16, generator=gen), torch.rand(3, 16, 16, generator=gen) > 0.5
    cpu = DatasetSweep(64)
    cpu.update(probs, target)
    dev = DatasetSweep(64)
    dev.update(probs.to(device), target.to(device))  # first call allocates (and checks values)
    with no_sync():
        dev.update(probs.to(device), target.to(device), check_values=False)
        dev.best("iou")
    assert torch.equal(stacked(dev.per_image)[:3], stacked(cpu.per_image))
    assert torch.equal(stacked(dev.pooled), 2 * stacked(cpu.pooled))


# ---------------------------------------------------------------- bad input
def snapshot(s: DatasetSweep):
    return s.ids, stacked(s.pooled), stacked(s.per_image)


@pytest.mark.parametrize(
    ("bad", "error", "text"),
    [
        ("shape", ShapeError, "items 3-4 (ids 'c'..'d'): target: expected (B, H, W)"),
        ("nan", MaskValueError, "item 4 (id 'd'): probs: expected finite"),
        ("inf", MaskValueError, "item 3 (id 'c'): probs: expected finite"),
        ("nonbinary", MaskValueError, "item 4 (id 'd'): target: expected a binary mask"),
        ("device", DeviceError, "items 3-4 (ids 'c'..'d'): probs, target, ignore: expected one device"),
        ("dtype", DTypeError, "probs: expected floating"),
    ],
)
def test_bad_item_is_named_and_the_sweep_stays_intact(bad, error, text) -> None:
    sweep = DatasetSweep(9)
    sweep.update(torch.rand(3, 5, 5), torch.rand(3, 5, 5) > 0.5, ids=list("xyz"))
    before = snapshot(sweep)
    probs, target = torch.rand(2, 5, 5), (torch.rand(2, 5, 5) > 0.5).to(torch.uint8)
    if bad == "shape":
        target = target[:, :4]
    elif bad == "nan":
        probs[1, 2, 2] = float("nan")
    elif bad == "inf":
        probs[0, 0, 0] = float("inf")
    elif bad == "nonbinary":
        target[1, 0, 0] = 255
    elif bad == "device":
        target = target.to("meta")
    elif bad == "dtype":
        probs = (probs * 255).to(torch.uint8)
    with pytest.raises(error) as info:
        sweep.update(probs, target, ids=["c", "d"])
    assert isinstance(info.value, MaskbenchError)
    assert text in str(info.value)
    after = snapshot(sweep)
    assert after[0] == before[0] and all(torch.equal(a, b) for a, b in zip(after[1:], before[1:]))
    sweep.update(torch.rand(1, 5, 5), torch.rand(1, 5, 5) > 0.5, ids=["ok"])  # skip the item and go on
    assert sweep.ids == ["x", "y", "z", "ok"]


def test_error_carries_index_and_id() -> None:
    sweep = DatasetSweep(3)
    probs = torch.rand(2, 4, 4)
    probs[1, 0, 0] = float("nan")
    with pytest.raises(MaskValueError) as info:
        sweep.update(probs, torch.zeros(2, 4, 4, dtype=torch.bool), ids=["a", "b"])
    assert (info.value.index, info.value.id) == (1, "b")
    assert len(sweep) == 0


def test_argument_errors() -> None:
    with pytest.raises(ArgumentError, match="thresholds"):
        DatasetSweep(0)
    with pytest.raises(ShapeError, match="num_classes=K"):
        DatasetSweep(3).update(torch.rand(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(DTypeError, match="integer labels"):
        DatasetSweep(3, num_classes=3).update(torch.rand(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(MaskValueError, match="labels in"):
        DatasetSweep(3, num_classes=3).update(torch.rand(2, 3, 4, 4), torch.full((2, 4, 4), 7))
    with pytest.raises(ArgumentError, match="one id per image"):
        DatasetSweep(3).update(torch.rand(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool), ids=["a"])
    with pytest.raises(ArgumentError, match="metric"):
        DatasetSweep(3).scores("accuracy")


def test_pickles_with_its_counts() -> None:
    sweep = DatasetSweep(7)
    for _ in range(3):
        sweep.update(torch.rand(2, 3, 3), torch.rand(2, 3, 3) > 0.5)
    copy = pickle.loads(pickle.dumps(sweep))
    assert same(copy, sweep) and repr(copy) == repr(sweep)
    assert len(DatasetSweep(7).pooled.tp) == 7 and DatasetSweep(7).per_image.tp.shape == (0, 7)


def test_huge_finite_probabilities_are_not_mistaken_for_inf() -> None:
    probs = torch.full((2, 3, 3), 3e38)  # the per-image sum overflows; every value is finite
    sweep = DatasetSweep(4)
    sweep.update(probs, torch.ones(2, 3, 3, dtype=torch.bool))
    assert sweep.pooled.tp.tolist() == [18, 18, 18, 18]


def test_maskbench_errors_keep_their_attributes_through_pickle() -> None:
    """Errors come back from Dask/DataLoader workers pickled: name/expected/got and .index/.id must survive."""
    import pickle

    from maskbench._checks import ArgumentError, ShapeError

    err = ArgumentError("radius: expected an int >= 0; got -1.", name="radius", expected="an int >= 0", got="-1")
    err.index, err.id = 7, "img-7"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ArgumentError and isinstance(back, ValueError)
    assert str(back) == str(err)
    assert (back.name, back.expected, back.got, back.index, back.id) == ("radius", "an int >= 0", "-1", 7, "img-7")
    plain = pickle.loads(pickle.dumps(ShapeError("x: bad shape")))
    assert str(plain) == "x: bad shape" and plain.name is None
