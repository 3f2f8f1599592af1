"""maskbench._checks: error classes, message text, and the shapes each helper accepts or rejects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import maskbench
from maskbench import _checks
from maskbench._checks import (
    CastError,
    DeviceError,
    DTypeError,
    MaskbenchError,
    MaskValueError,
    ShapeError,
    as_bchw,
    check_broadcast_to,
    check_choice,
    check_int,
    check_labels,
    check_mask_dtype,
    check_same_device,
    check_tensor,
    check_weight_range,
    describe,
    from_bchw,
    spatial_mask_as_4d,
)


@pytest.mark.parametrize(
    "cls, base",
    [
        (ShapeError, ValueError),
        (DTypeError, TypeError),
        (DeviceError, ValueError),
        (MaskValueError, ValueError),
        (CastError, ValueError),
    ],
)
def test_error_classes_subclass_builtin_errors(cls, base):
    assert issubclass(cls, base) and issubclass(cls, MaskbenchError)
    with pytest.raises(base):
        raise cls("x")
    assert getattr(maskbench, cls.__name__) is cls  # re-exported


def test_describe():
    assert describe(torch.zeros(2, 3, dtype=torch.uint8)) == "(2, 3) uint8 on cpu"
    assert describe(3) == "int 3"
    assert describe([1, 2]) == "list [1, 2]"
    assert len(describe("x" * 500)) <= 120


def test_check_tensor():
    x = torch.zeros(2, 3)
    assert check_tensor(x, "image") is x
    assert check_tensor(x, "image", ndim=(2, 3)) is x
    with pytest.raises(DTypeError, match=r"image: expected a torch.Tensor; got list .*maskbench.as_tensor\(image\)"):
        check_tensor([1.0], "image")
    with pytest.raises(ShapeError, match=r"image: expected 3 or 4 dimensions; got \(2, 3\) float32"):
        check_tensor(x, "image", ndim=(3, 4))


def test_check_choice_and_int():
    assert check_choice("mean", "fill", ("mean", "inpaint")) == "mean"
    with pytest.raises(ValueError, match=r"fill: expected one of 'mean', 'inpaint'; got 'median'"):
        check_choice("median", "fill", ("mean", "inpaint"))
    assert check_int(3, "steps", min_value=0) == 3
    with pytest.raises(TypeError, match="steps: expected an int; got bool"):
        check_int(True, "steps")
    with pytest.raises(TypeError, match="steps: expected an int; got float"):
        check_int(2.0, "steps")
    with pytest.raises(ValueError, match="steps: expected an int >= 0; got -1"):
        check_int(-1, "steps", min_value=0)
    with pytest.raises(ValueError, match="steps: expected an int <= 5; got 6"):
        check_int(6, "steps", max_value=5)
    # plain ints take a fast path: the bounds are inclusive there too, numpy ints still come back as int
    assert check_int(5, "steps", min_value=5, max_value=5) == 5
    assert type(check_int(np.int64(4), "steps", max_value=5)) is int


def test_check_same_device():
    cpu, meta = torch.zeros(2), torch.zeros(2, device="meta")
    check_same_device(image=cpu, mask=cpu, fill=None)
    check_same_device()
    with pytest.raises(
        DeviceError,
        match=r"mask: expected a tensor on cpu like image; got \(2,\) float32 on meta\. "
        r"Move it with mask.to\(image.device\)",
    ):
        check_same_device(image=cpu, mask=meta)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.int32])
def test_check_mask_dtype_rejects_integers(dtype):
    m = torch.zeros(2, 2, dtype=dtype)
    with pytest.raises(DTypeError) as info:
        check_mask_dtype(m, "seg")
    msg = str(info.value)
    assert msg.startswith("seg: expected a bool or floating (a weight in [0, 1]) mask")
    assert f"(2, 2) {str(dtype)[6:]}" in msg and "`seg > 0`" in msg and "`seg.float() / 255`" in msg


def test_check_mask_dtype_accepts_bool_and_float():
    for m in (torch.ones(2, dtype=torch.bool), torch.ones(2), torch.ones(2, dtype=torch.float16)):
        assert check_mask_dtype(m) is m
    with pytest.raises(DTypeError, match=r"mask: expected a bool mask; .*`mask.bool\(\)`\.$"):
        check_mask_dtype(torch.ones(2), allow_float=False)


def test_check_weight_range():
    ok = torch.tensor([0.0, 0.25, 1.0])
    assert check_weight_range(ok) is ok
    check_weight_range(torch.tensor([2, 3]))  # not floating: not a weight, nothing to check
    check_weight_range(torch.empty(0))
    check_weight_range(torch.full((2,), 5.0, device="meta"))  # values unreadable: skipped
    with pytest.raises(MaskValueError) as info:
        check_weight_range(torch.tensor([-0.5, 0.5, 2.0]), "w")
    msg = str(info.value)
    assert msg.startswith("w: a floating mask is a weight and must lie in [0, 1]")
    assert "values in [-0.5, 2]" in msg and "(2 of 3 outside, 0 NaN)" in msg and "`w > 0.5`" in msg


def test_check_weight_range_reports_inf_and_nan():
    # regression: Inf was shown as 3.403e+38 and any NaN turned the range into [nan, nan]
    with pytest.raises(MaskValueError, match=r"values in \[0\.5, inf\] \(1 of 2 outside, 0 NaN\)"):
        check_weight_range(torch.tensor([0.5, float("inf")]))
    with pytest.raises(MaskValueError, match=r"non-NaN values in \[0\.2, 0\.5\] \(1 of 3 outside, 1 NaN\)"):
        check_weight_range(torch.tensor([0.2, float("nan"), 0.5]))
    with pytest.raises(MaskValueError, match=r"got only NaN \(2 of 2 outside, 2 NaN\)"):
        check_weight_range(torch.full((2,), float("nan"), dtype=torch.bfloat16))


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=8))
def test_check_weight_range_property(values):
    t = torch.tensor(values, dtype=torch.float32)
    ok = all(0.0 <= v <= 1.0 for v in values)
    if ok:
        check_weight_range(t)
    else:
        with pytest.raises(MaskValueError, match=f"outside, {sum(v != v for v in values)} NaN"):
            check_weight_range(t)


def test_check_labels():
    lab = torch.tensor([[0, 2], [1, 1]], dtype=torch.uint8)
    assert check_labels(lab, num_classes=3) is lab
    check_labels(torch.tensor([5, -3]))  # no num_classes: dtype only
    for bad in (lab.float(), lab.bool()):
        with pytest.raises(
            DTypeError, match=r"labels: expected an integer label map .*argmax_labels.*`labels.long\(\)`"
        ):
            check_labels(bad)
    with pytest.raises(
        MaskValueError, match=r"seg: expected labels in \[0, 1\] for num_classes=2; got values in \[0, 2\]"
    ):
        check_labels(lab, "seg", num_classes=2)
    with pytest.raises(MaskValueError, match=r"values in \[-1, 1\]"):
        check_labels(torch.tensor([-1, 1]), num_classes=2)
    with pytest.raises(DTypeError):
        check_labels([0, 1])


@pytest.mark.parametrize(
    "shape, channels_last, batched, bchw",
    [
        ((3, 4, 5), False, False, (1, 3, 4, 5)),
        ((2, 3, 4, 5), False, True, (2, 3, 4, 5)),
        ((4, 5, 3), True, False, (1, 3, 4, 5)),
        ((2, 4, 5, 3), True, True, (2, 3, 4, 5)),
    ],
)
def test_as_bchw_round_trip(shape, channels_last, batched, bchw):
    image = torch.randn(shape)
    x, b = as_bchw(image, channels_last=channels_last)
    assert b is batched and tuple(x.shape) == bchw
    back = from_bchw(x, b, channels_last=channels_last)
    assert back.shape == image.shape and torch.equal(back, image)


def test_as_bchw_errors():
    with pytest.raises(
        ShapeError, match=r"image: expected \(C, H, W\) or \(B, C, H, W\); got \(4, 5\) .*`image\[None\]`"
    ):
        as_bchw(torch.zeros(4, 5))
    with pytest.raises(ShapeError, match=r"img: expected \(H, W, C\) or \(B, H, W, C\); got \(1, 1, 1, 1, 1\)"):
        as_bchw(torch.zeros(1, 1, 1, 1, 1), "img", channels_last=True)


B, C, H, W = 2, 3, 4, 5


@pytest.mark.parametrize(
    "mask_shape, expected",
    [
        ((H, W), (1, 1, H, W)),
        ((1, H, W), (1, 1, H, W)),
        ((B, H, W), (B, 1, H, W)),
        ((B, 1, H, W), (B, 1, H, W)),
        ((1, 1, H, W), (1, 1, H, W)),
        ((B, C, H, W), (B, C, H, W)),
        ((1, C, H, W), (1, C, H, W)),
    ],
)
def test_spatial_mask_batched_accepts(mask_shape, expected):
    image = torch.zeros(B, C, H, W)
    assert tuple(spatial_mask_as_4d(torch.ones(mask_shape, dtype=torch.bool), image, True).shape) == expected


@pytest.mark.parametrize(
    "mask_shape, expected", [((H, W), (1, 1, H, W)), ((1, H, W), (1, 1, H, W)), ((C, H, W), (1, C, H, W))]
)
def test_spatial_mask_unbatched_accepts(mask_shape, expected):
    image = torch.zeros(1, C, H, W)  # an unbatched (C, H, W) image after as_bchw
    assert tuple(spatial_mask_as_4d(torch.ones(mask_shape), image, False).shape) == expected


@pytest.mark.parametrize(
    "batched, mask_shape",
    [
        (True, (C, H, W)),  # 3-D on a batch is (B, H, W); C != B here
        (True, (B + 1, 1, H, W)),
        (True, (B, C + 1, H, W)),
        (True, (1, B, C, H, W)),
        (False, (C + 1, H, W)),
        (False, (1, C, H, W)),  # unbatched images take no 4-D mask
        (True, (H + 1, W)),
    ],
)
def test_spatial_mask_rejects(batched, mask_shape):
    image = torch.zeros(B if batched else 1, C, H, W)
    with pytest.raises(ShapeError) as info:
        spatial_mask_as_4d(torch.ones(mask_shape), image, batched, "seg", image_name="img")
    msg = str(info.value)
    shown = (B, C, H, W) if batched else (C, H, W)
    assert msg.startswith("seg: expected (H, W)") and f"to match img {shown}" in msg
    assert f"got {mask_shape}".replace(",)", ")") in msg


def test_spatial_mask_3d_on_batch_is_batch_when_b_equals_c():
    image = torch.zeros(3, 3, H, W)
    assert spatial_mask_as_4d(torch.ones(3, H, W), image, True).shape == (3, 1, H, W)


def test_spatial_mask_allow_channels_false():
    with pytest.raises(ShapeError) as info:
        spatial_mask_as_4d(torch.ones(B, C, H, W), torch.zeros(B, C, H, W), True, allow_channels=False)
    assert "(B, C, H, W)" not in str(info.value).split("; got")[0]
    with pytest.raises(ShapeError):
        spatial_mask_as_4d(torch.ones(C, H, W), torch.zeros(1, C, H, W), False, allow_channels=False)


@pytest.mark.parametrize(
    "mask_shape, hint",
    [
        ((W, H), "looks transposed (W, H)"),
        ((H * W,), f"reshape it to ({H}, {W})"),
        ((H, W, 3), "looks channels-last (H, W, C)"),
    ],
)
def test_spatial_mask_hints(mask_shape, hint):
    with pytest.raises(ShapeError, match=r".*" + hint.replace("(", r"\(").replace(")", r"\)")):
        spatial_mask_as_4d(torch.ones(mask_shape), torch.zeros(1, C, H, W), False)


def test_spatial_mask_non_contiguous():
    m = torch.ones(W, H, dtype=torch.bool).T
    assert spatial_mask_as_4d(m, torch.zeros(1, C, H, W), False).shape == (1, 1, H, W)


@given(
    st.lists(st.integers(1, 3), min_size=0, max_size=4),
    st.lists(st.integers(1, 3), min_size=1, max_size=4),
)
def test_check_broadcast_to_matches_numpy_rule(xs, target):
    x = torch.zeros(xs)
    grows = False
    try:
        grows = torch.broadcast_shapes(tuple(xs), tuple(target)) != tuple(target)
        fits = not grows
    except RuntimeError:
        fits = False
    if fits:
        check_broadcast_to(x, "src", target, "dst")
    else:
        with pytest.raises(ShapeError, match=r"src: expected a shape that broadcasts to dst"):
            check_broadcast_to(x, "src", target, "dst")


def test_check_broadcast_to_message():
    with pytest.raises(
        ShapeError, match=r"src: expected a shape that broadcasts to dst \(3, 2\) .*got \(3, 3\) float32"
    ):
        check_broadcast_to(torch.zeros(3, 3), "src", (3, 2), "dst")
    check_broadcast_to(torch.zeros(3, 1), "src", (3, 2), "dst")


def test_all_names_exist():
    for name in _checks.__all__:
        assert hasattr(_checks, name), name
