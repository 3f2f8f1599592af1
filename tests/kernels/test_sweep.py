"""maskbench.kernels.sweep: counts equal a per-threshold loop exactly; curves match torchmetrics."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskbench import DTypeError, MaskValueError, ShapeError, SweepResult, ThresholdSweep, threshold_sweep
from maskbench.kernels.sweep import _bucket

fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def loop_counts(probs, target, thresholds, ignore=None) -> torch.Tensor:
    """(T, 4) tp, fp, fn, tn: threshold and count once per threshold, on CPU."""
    probs, target, thresholds = probs.cpu(), target.cpu(), thresholds.cpu()
    keep = torch.ones_like(target) if ignore is None else ~ignore.cpu().expand(target.shape)
    dtype = torch.promote_types(probs.dtype, thresholds.dtype)
    rows = []
    for t in thresholds.to(dtype):
        pos = probs.to(dtype) > t  # the convention: strictly above
        rows.append([int((pos & target & keep).sum()), int((pos & ~target & keep).sum()),
                     int((~pos & target & keep).sum()), int((~pos & ~target & keep).sum())])  # fmt: skip
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, 4)


def counts(r: SweepResult) -> torch.Tensor:
    return torch.stack([r.tp, r.fp, r.fn, r.tn], -1).cpu()


# ---------------------------------------------------------------- strategies
@st.composite
def sweeps(draw):
    """(probs, target, ignore, thresholds) with values exactly on, just beside, and far from thresholds."""
    if draw(st.booleans()):
        thresholds = draw(st.integers(1, 12))
        thr = torch.linspace(0, 1, thresholds)
    else:
        dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16]))
        values = draw(st.lists(st.floats(-0.5, 1.5, width=16), min_size=1, max_size=8))
        thresholds = thr = torch.tensor(sorted(values), dtype=dtype)  # duplicates allowed
    dtype = draw(st.sampled_from(DTYPES))
    pool = thr.tolist() + [0.0, -0.0, 1.0, float("nan"), float("inf"), -float("inf"), 0.5, 1e-8, 1.0001]
    pool += torch.nextafter(thr.double(), torch.tensor(2.0, dtype=torch.float64)).tolist()
    pool += torch.nextafter(thr.float(), torch.tensor(-2.0)).tolist()
    shape = draw(st.sampled_from([(1,), (1, 1), (3, 4), (2, 1, 3, 5), (7,)]))
    n = torch.Size(shape).numel()
    values = draw(st.lists(st.one_of(st.sampled_from(pool), st.floats(0, 1)), min_size=n, max_size=n))
    probs = torch.tensor(values, dtype=torch.float64).to(dtype).reshape(shape)
    target = torch.tensor(draw(st.lists(st.booleans(), min_size=n, max_size=n))).reshape(shape)
    ignore = None
    if draw(st.booleans()):
        ignore = torch.tensor(draw(st.lists(st.booleans(), min_size=n, max_size=n))).reshape(shape)
        if draw(st.booleans()):  # a broadcasting mask
            ignore = ignore[(0,) * (len(shape) - 1)] if len(shape) > 1 else ignore
    return probs, target, ignore, thresholds


# ---------------------------------------------------------------- exactness
@fixtures_ok
@given(sweeps())
def test_counts_equal_per_threshold_loop(device, no_sync, case):
    probs, target, ignore, thresholds = case
    to = lambda x: x.to(device) if isinstance(x, torch.Tensor) else x  # noqa: E731
    with no_sync():
        r = threshold_sweep(to(probs), to(target), thresholds=to(thresholds), ignore=to(ignore))
    assert torch.equal(counts(r), loop_counts(probs, target, r.thresholds, ignore))
    assert r.tp.dtype == torch.int64 and r.thresholds.device.type == device.type


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [1, 2, 3, 255, 256, 1000, 4097])
def test_uniform_fast_path_is_exact_at_every_threshold(device, dtype, t):
    # every threshold, and the float just below and just above it, in each dtype
    thr = torch.linspace(0, 1, t, device=device)
    x = thr.to(dtype)
    around = torch.cat([x, torch.nextafter(x, x.new_tensor(-1.0)), torch.nextafter(x, x.new_tensor(2.0))])
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -1.0, 2.0], device=device, dtype=dtype)
    x = torch.cat([around, special])
    dt = torch.promote_types(dtype, torch.float32)
    expected = (x.to(dt)[:, None] > thr[None].to(dt)).sum(1)  # the definition, all at once
    assert torch.equal(_bucket(x.to(dt), thr.to(dt), uniform=True).long(), expected)
    assert torch.equal(_bucket(x.to(dt), thr.to(dt), uniform=False).long(), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_fast_path_at_its_largest_t(device, dtype):
    t = 65536  # _UNIFORM_MAX; torch.bucketize is the reference (a comparison matrix is too big)
    thr = torch.linspace(0, 1, t, device=device)
    x = thr.to(dtype)
    x = torch.cat([x, torch.nextafter(x, x.new_tensor(-1.0)), torch.nextafter(x, x.new_tensor(2.0))])
    x = torch.cat([x, torch.rand(10_000, device=device, dtype=dtype)])
    expected = torch.bucketize(x, thr.to(dtype), right=False)  # thresholds < x
    assert torch.equal(_bucket(x, thr.to(dtype), uniform=True).long(), expected)


def test_nan_is_never_positive(device, no_sync):
    probs = torch.tensor([float("nan"), float("nan"), 0.5], device=device)
    target = torch.tensor([True, False, True], device=device)
    with no_sync():
        r = threshold_sweep(probs, target, thresholds=3)
    assert r.tp.tolist() == [1, 0, 0] and r.fp.tolist() == [0, 0, 0]  # 0.5 > 0.5 is False
    assert r.fn.tolist() == [1, 2, 2] and r.tn.tolist() == [1, 1, 1]


def test_ignore_equals_dropping_pixels(device, no_sync):
    g = torch.Generator().manual_seed(5)
    probs = torch.rand(2, 1, 8, 9, generator=g).to(device)
    target = (torch.rand(2, 1, 8, 9, generator=g) > 0.5).to(device)
    ignore = (torch.rand(8, 9, generator=g) > 0.7).to(device)  # (H, W) broadcasts
    with no_sync():
        masked = threshold_sweep(probs, target, thresholds=17, ignore=ignore)
    keep = ~ignore.expand(probs.shape)
    assert torch.equal(counts(masked), counts(threshold_sweep(probs[keep], target[keep], thresholds=17)))


# ---------------------------------------------------------------- curves and best
def test_curves_equal_metrics_at_each_threshold(device, no_sync):
    g = torch.Generator().manual_seed(6)
    probs = torch.rand(3, 6, 6, generator=g).to(device)
    target = (torch.rand(3, 6, 6, generator=g) > 0.6).to(device)
    with no_sync():
        r = threshold_sweep(probs, target, thresholds=11)
        curves = {m: getattr(r, m)() for m in ("iou", "dice", "f1", "precision", "recall")}
    import maskbench

    for j, t in enumerate(r.thresholds):
        pred = probs > t
        for name, curve in curves.items():
            torch.testing.assert_close(curve[j], getattr(maskbench, name)(pred, target), msg=name)
    assert torch.equal(curves["f1"], curves["dice"])


def test_best_ties_go_to_lowest_threshold(device, no_sync):
    probs = torch.tensor([0.2, 0.7], device=device)
    target = torch.tensor([False, True], device=device)
    with no_sync():
        r = threshold_sweep(probs, target, thresholds=5)  # iou: 0.5, 1, 1, 0, 0
        t, v = r.best("iou")
        t_rec, v_rec = r.best("recall")  # recall 1, 1, 1, 0, 0
    assert t.shape == () and v.shape == ()
    assert (t.item(), v.item()) == (0.25, 1.0)
    assert (t_rec.item(), v_rec.item()) == (0.0, 1.0)


@fixtures_ok
@given(sweeps(), st.sampled_from(["iou", "dice", "f1", "precision", "recall"]), st.sampled_from([1.0, float("nan")]))
def test_best_is_first_maximum(device, no_sync, case, metric, empty):
    probs, target, ignore, thresholds = case
    thresholds = thresholds.to(device) if isinstance(thresholds, torch.Tensor) else thresholds
    r = threshold_sweep(probs.to(device), target.to(device), thresholds=thresholds)
    with no_sync():
        t, v = r.best(metric, empty=empty)
    curve = [c if c == c else -float("inf") for c in getattr(r, metric)(empty=empty).tolist()]
    j = curve.index(max(curve))  # Python: the first index of the maximum
    assert t.item() == r.thresholds[j].item()
    assert v.item() == curve[j] or (curve[j] == -float("inf") and v.isnan())


def test_torchmetrics_binned_precision_recall_curve():
    # torchmetrics' binned curve: thresholds linspace(0, 1, T), p >= t, 0/0 -> NaN, one extra point.
    # maskbench counts p > t: the same on data without ties (random floats never sit on 0, 1/6, ...).
    from torchmetrics.classification import BinaryPrecisionRecallCurve

    g = torch.Generator().manual_seed(7)
    probs = torch.rand(4, 1, 16, 16, generator=g)
    target = torch.rand(4, 1, 16, 16, generator=g) < probs
    for t in (2, 7, 256):
        assert not torch.isin(probs, torch.linspace(0, 1, t)).any()  # no exact ties
        metric = BinaryPrecisionRecallCurve(thresholds=t)
        metric.update(probs, target.long())
        precision, recall, thresholds = metric.compute()
        r = threshold_sweep(probs, target, thresholds=t)
        assert torch.equal(r.thresholds, thresholds)
        assert torch.equal(r.tp, metric.confmat[:, 1, 1]) and torch.equal(r.fp, metric.confmat[:, 0, 1])
        torch.testing.assert_close(r.precision(empty=float("nan")), precision[:t], equal_nan=True)
        torch.testing.assert_close(r.recall(empty=float("nan")), recall[:t], equal_nan=True)


def test_ties_follow_strict_convention_not_torchmetrics():
    """Values exactly on thresholds (the tie cases, adapted): p > t equals torchmetrics' p >= t on the
    next float below p, and differs from torchmetrics on p itself."""
    from torchmetrics.classification import BinaryPrecisionRecallCurve

    g = torch.Generator().manual_seed(7)
    probs = torch.rand(4, 1, 16, 16, generator=g)
    probs[0, 0, 0, :5] = torch.tensor([0.0, 1.0, 0.5, 1 / 3, 0.2])  # values on thresholds
    target = torch.rand(4, 1, 16, 16, generator=g) < probs
    # p > t  <=>  nextafter(p, -inf) >= t; kept in [0, 1] (torchmetrics applies a sigmoid otherwise),
    # so at t = 0 the zero pixels differ and the comparison starts at the second threshold
    below = torch.where(probs > 0, torch.nextafter(probs, torch.tensor(-1.0)), 0.0)
    for t in (2, 7, 256):
        r = threshold_sweep(probs, target, thresholds=t)
        metric = BinaryPrecisionRecallCurve(thresholds=t)
        metric.update(below, target.long())
        assert torch.equal(r.tp[1:], metric.confmat[1:, 1, 1]) and torch.equal(r.fp[1:], metric.confmat[1:, 0, 1])
        assert r.tp[0] + r.fp[0] == probs.numel() - 1  # everything but the one 0.0 pixel is > 0
        inclusive = BinaryPrecisionRecallCurve(thresholds=t)
        inclusive.update(probs, target.long())
        assert not torch.equal(r.tp + r.fp, inclusive.confmat[:, :, 1].sum(-1))  # 1.0 >= 1.0 counted there
    assert r.tp[-1] + r.fp[-1] == 0  # nothing is strictly above 1


def test_threshold_of_best_reproduces_the_counts(device, no_sync):
    """The sweep's best threshold, applied with maskbench.threshold, gives the mask it scored."""
    import maskbench

    probs = torch.tensor([0.0, 0.25, 0.5, 0.5, 0.75, 1.0], device=device)
    target = torch.tensor([False, False, False, False, True, True], device=device)
    with no_sync():
        r = threshold_sweep(probs, target, thresholds=5)  # values sit on every threshold
        t, best = r.best("iou")
    assert (t.item(), best.item()) == (0.5, 1.0)  # 0.5 itself is background (with >= it would be 0.75)
    assert torch.equal(maskbench.threshold(probs, t), target)


# ---------------------------------------------------------------- streaming
@fixtures_ok
@given(sweeps(), st.lists(st.integers(0, 6), max_size=4))
def test_streaming_equals_one_shot(device, no_sync, case, cuts):
    probs, target, _, thresholds = case
    probs, target = probs.reshape(-1).to(device), target.reshape(-1).to(device)
    thresholds = thresholds.to(device) if isinstance(thresholds, torch.Tensor) else thresholds
    sweep = ThresholdSweep(thresholds)
    bounds = sorted({0, len(probs), *[min(c, len(probs)) for c in cuts]})
    with no_sync():
        for a, b in zip(bounds[:-1], bounds[1:]):
            sweep.update(probs[a:b], target[a:b])
        streamed = sweep.compute()
    one_shot = threshold_sweep(probs, target, thresholds=thresholds)
    assert torch.equal(counts(streamed), counts(one_shot))
    assert torch.equal(streamed.thresholds, one_shot.thresholds)
    sweep.reset()
    assert int(counts(sweep.compute()).sum()) == 0


def test_streaming_with_ignore_and_device(device, no_sync):
    sweep = ThresholdSweep(thresholds=4, device=device)
    probs = torch.tensor([[0.1, 0.9], [0.5, 0.6]], device=device)
    target = torch.tensor([[False, True], [True, False]], device=device)
    ignore = torch.tensor([False, True], device=device)
    with no_sync():
        sweep.update(probs, target, ignore=ignore)
        sweep.update(probs, target)
        r = sweep.compute()
    expected = loop_counts(probs, target, r.thresholds, ignore) + loop_counts(probs, target, r.thresholds)
    assert torch.equal(counts(r), expected)
    assert ThresholdSweep(3).compute().tp.tolist() == [0, 0, 0]  # nothing seen yet
    assert "thresholds=3" in repr(ThresholdSweep(3))


def test_compiles_without_graph_breaks():
    # fullgraph capture proves there is no data-dependent Python branch and no .item()
    compiled = torch.compile(threshold_sweep, fullgraph=True, backend="aot_eager")
    probs, target = torch.rand(3, 10), torch.rand(3, 10) > 0.5
    got, expected = compiled(probs, target, thresholds=9), threshold_sweep(probs, target, thresholds=9)
    assert torch.equal(counts(got), counts(expected))


# ---------------------------------------------------------------- errors
def test_errors(device):
    p = torch.rand(2, 3, device=device)
    t = p > 0.5
    with pytest.raises(DTypeError, match=r"probs: expected floating scores.*confusion_counts"):
        threshold_sweep(t, t)
    with pytest.raises(DTypeError, match=r"target: expected a bool mask; got \(2, 3\) int64"):
        threshold_sweep(p, t.long())
    with pytest.raises(ShapeError, match=r"target: expected the same shape as probs \(2, 3\); got \(3, 2\)"):
        threshold_sweep(p, t.T)
    with pytest.raises(ShapeError, match=r"ignore: expected a shape that broadcasts to probs \(2, 3\)"):
        threshold_sweep(p, t, ignore=torch.zeros(2, dtype=torch.bool, device=device))
    with pytest.raises(MaskValueError, match=r"thresholds: expected values sorted ascending"):
        threshold_sweep(p.cpu(), t.cpu(), thresholds=torch.tensor([0.5, 0.2]))
    with pytest.raises(ValueError, match=r"thresholds: expected an int >= 1; got 0"):
        threshold_sweep(p, t, thresholds=0)
    with pytest.raises(TypeError, match=r"thresholds: expected an int T .* or a 1-D ascending tensor"):
        threshold_sweep(p, t, thresholds=0.5)
    with pytest.raises(ShapeError, match=r"thresholds: expected 1 dimensions"):
        threshold_sweep(p, t, thresholds=torch.zeros(2, 2, device=device))
    with pytest.raises(DTypeError, match=r"thresholds: expected a floating tensor"):
        threshold_sweep(p, t, thresholds=torch.arange(3, device=device))
    with pytest.raises(ValueError, match=r"metric: expected one of"):
        threshold_sweep(p, t).best("accuracy")


def test_strided_thresholds_and_probs_need_no_copy_warning() -> None:
    """torch.bucketize warns (UserWarning) on non-contiguous inputs: the sweeps pass contiguous ones."""
    import warnings

    t = torch.linspace(0, 1, 20)[::2]  # strided thresholds
    p = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    m = p > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep = ThresholdSweep(t)
        sweep.update(p.transpose(1, 2), m.transpose(1, 2))
        got = sweep.compute()
        ref = threshold_sweep(p, m, thresholds=t.clone())
    assert torch.equal(got.tp, ref.tp) and torch.equal(got.fp, ref.fp)
