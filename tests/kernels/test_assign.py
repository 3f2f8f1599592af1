"""assign_where: reference loop, exact-cast rule, error text, gradients, sync-free same-dtype path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskbench import CastError, DeviceError, DTypeError, ShapeError, assign_where
from maskbench.kernels.assign import _exact_values, is_exact_cast


def test_issue_cases(device, no_sync):
    dst = torch.zeros(3, 2, device=device)
    cond = torch.tensor([[True, False], [False, True], [True, True]], device=device)
    src = torch.tensor([[1], [2], [3]], device=device)  # (3, 1) int64 into (3, 2) float32
    out = assign_where(dst, src, cond)
    assert out.dtype == torch.float32 and out.shape == (3, 2)
    assert out.cpu().tolist() == [[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]
    assert (dst == 0).all() and out.data_ptr() != dst.data_ptr()  # dst untouched, new tensor
    with no_sync():  # exact by dtype: float32 src into float32
        assign_where(dst, src.float(), cond)


def test_scalar_src(device, no_sync):
    dst = torch.arange(4, device=device, dtype=torch.uint8)
    cond = torch.tensor([True, False, True, False], device=device)
    with no_sync():  # a Python scalar is checked on the host: no device read
        out = assign_where(dst, 255, cond)
        assert out.dtype == torch.uint8
        assert assign_where(dst.float(), 2**24, cond).dtype == torch.float32
        assert assign_where(dst.bool(), True, cond).dtype == torch.bool
    assert out.cpu().tolist() == [255, 1, 255, 3]
    assert assign_where(dst, np.int64(7), cond).cpu().tolist() == [7, 1, 7, 3]
    assert assign_where(dst, 3.0, cond).cpu().tolist() == [3, 1, 3, 3]


def _representable(v, dst: torch.dtype) -> bool:
    """Plain-Python reference of the cast rule for one value."""
    if dst == torch.bool:
        return v in (0, 1)
    if not dst.is_floating_point:
        if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
            return False
        info = torch.iinfo(dst)
        return info.min <= int(v) <= info.max
    if isinstance(v, bool):
        return True
    np_t = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}[dst]
    with np.errstate(over="ignore"):
        r = float(np_t(v))
    if isinstance(v, int):  # must round-trip exactly
        return math.isfinite(r) and int(r) == v
    return math.isfinite(r) or not math.isfinite(v)  # rounding is fine, overflow is not


_DST = [
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
    torch.float16,
    torch.float32,
    torch.float64,
]
_SRC = [torch.uint8, torch.int8, torch.int32, torch.int64, torch.bool, torch.float16, torch.float32, torch.float64]
_VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, -1, 127, 128, 255, 256, -129, 2**24 + 1, 2**31, 2**53 + 1, 70000]),
    st.floats(-6e4, 6e4, width=16),
    st.floats(-1e6, 1e6, width=32),
    st.sampled_from([0.5, -0.0, 1.0, 2.5, float("nan"), float("inf"), -float("inf"), 1e300, 3e38]),
)


@given(
    dst_dtype=st.sampled_from(_DST),
    src_dtype=st.sampled_from(_SRC),
    values=st.lists(_VALUES, min_size=1, max_size=6),
    data=st.data(),
)
def test_against_reference(device, dst_dtype, src_dtype, values, data):
    n = len(values)
    # src holds the values as src_dtype represents them (skip values src_dtype itself cannot hold)
    src_vals = []
    for v in values:
        if not _representable(v, src_dtype):
            v = 0
        src_vals.append(
            torch.tensor([v], dtype=torch.float64 if isinstance(v, float) else torch.int64).to(src_dtype).item()
        )
    src = torch.tensor(src_vals, dtype=src_dtype)
    cond = torch.tensor(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    dst = torch.zeros(n, dtype=dst_dtype)
    fits = all(_representable(v, dst_dtype) for v, c in zip(src.tolist(), cond.tolist()) if c)
    if fits:
        out = assign_where(dst.to(device), src.to(device), cond.to(device)).cpu()
        expected = [src[i].to(dst_dtype).item() if cond[i] else dst[i].item() for i in range(n)]
        assert out.dtype == dst_dtype
        assert [x for x in out.tolist()] == pytest.approx(expected, nan_ok=True)
    else:
        with pytest.raises(CastError, match=rf"src: \d+ of {int(cond.sum())} value\(s\) assigned where cond"):
            assign_where(dst.to(device), src.to(device), cond.to(device))


@pytest.mark.parametrize(
    "src, dst_dtype, pieces",
    [
        (
            torch.tensor([1.5, 2.0]),
            torch.int32,
            ["1 of 2", "int32", "1.5", "whole numbers in [-2147483648, 2147483647]", ".round().clamp("],
        ),
        (torch.tensor([float("nan"), 1.0]), torch.int64, ["1 of 2", "nan"]),
        (torch.tensor([float("inf"), 1.0]), torch.int64, ["inf"]),
        (torch.tensor([300, 1]), torch.uint8, ["1 of 2", "300", "[0, 255]", "(2,) int64 on"]),
        (torch.tensor([-1, 1]), torch.uint8, ["-1", "[0, 255]"]),
        (torch.tensor([2, 1]), torch.bool, ["2", "bool holds only 0 and 1", "`src != 0`"]),
        (torch.tensor([2**24 + 1, 3]), torch.float32, ["16777217", "2**24", "float64"]),
        (torch.tensor([1e300, 1.0], dtype=torch.float64), torch.float32, ["1e+300", "overflows float32"]),
    ],
)
def test_error_messages(device, src, dst_dtype, pieces):
    with pytest.raises(CastError) as info:
        assign_where(
            torch.zeros(2, dtype=dst_dtype, device=device),
            src.to(device),
            torch.ones(2, dtype=torch.bool, device=device),
        )
    msg = str(info.value)
    assert msg.startswith("src: ") and "dst's dtype" in msg
    for piece in pieces:
        assert piece in msg, (piece, msg)


def test_only_assigned_positions_are_checked(device):
    src = torch.tensor([300.0, 1.5, float("nan"), 7.0], device=device)
    cond = torch.tensor([False, False, False, True], device=device)
    out = assign_where(torch.zeros(4, dtype=torch.uint8, device=device), src, cond)
    assert out.cpu().tolist() == [0, 0, 0, 7]
    # broadcasting src against a larger cond: the count is over dst's positions
    with pytest.raises(CastError, match="src: 2 of 4 value"):
        assign_where(
            torch.zeros(2, 3, dtype=torch.int8, device=device),
            torch.tensor([[200], [0]], device=device),
            torch.tensor([True, False, True], device=device),
        )


def test_float64_into_float32_rounds(device):
    out = assign_where(
        torch.zeros(2, device=device),
        torch.tensor([0.1, 0.2], dtype=torch.float64, device=device),
        torch.tensor([True, False], device=device),
    )
    assert out.dtype == torch.float32 and out[0].item() == pytest.approx(0.1)


def test_scalar_errors():
    dst = torch.zeros(2, dtype=torch.uint8)
    cond = torch.tensor([False, False])
    for value, piece in [(300, "300"), (-1, "-1"), (0.5, "0.5"), (float("nan"), "nan")]:
        with pytest.raises(
            CastError,
            match=f"src: the Python .* {piece} cannot be stored exactly in dst's dtype uint8 "
            r"\(uint8 holds whole numbers in \[0, 255\]\). To fix, pass a whole number",
        ):
            assign_where(dst, value, cond)  # scalars are checked whatever cond holds
    with pytest.raises(CastError, match="does not fit int64"):
        assign_where(dst, 2**70, cond)
    with pytest.raises(CastError, match="2\\*\\*24"):
        assign_where(torch.zeros(2), 2**24 + 1, cond)
    with pytest.raises(DTypeError, match="src: expected a tensor or a Python bool/int/float; got str"):
        assign_where(dst, "1", cond)


def test_shape_dtype_device_errors():
    dst = torch.zeros(3, 2)
    with pytest.raises(
        DTypeError, match=r"cond: expected a bool tensor; got an integer tensor \(3, 2\) uint8.*`cond.bool\(\)`"
    ):
        assign_where(dst, 1.0, torch.ones(3, 2, dtype=torch.uint8))
    with pytest.raises(DTypeError, match=r"cond: .*a float tensor .*`cond > 0.5`"):
        assign_where(dst, 1.0, torch.ones(3, 2))
    with pytest.raises(ShapeError, match=r"src: expected a shape that broadcasts to dst \(3, 2\) .*got \(3, 3\)"):
        assign_where(dst, torch.zeros(3, 3), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"cond: .*dst \(3, 2\).*got \(2, 3, 2\) bool"):
        assign_where(dst, 1.0, torch.ones(2, 3, 2, dtype=torch.bool))
    with pytest.raises(DeviceError, match="src: expected a tensor on cpu like dst"):
        assign_where(dst, torch.zeros(3, 2, device="meta"), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(DTypeError, match="dst: expected a torch.Tensor"):
        assign_where([1.0], 1.0, torch.ones(1, dtype=torch.bool))
    with pytest.raises(DTypeError, match=r"imaginary part.*`src.real`"):
        assign_where(dst, torch.zeros(3, 2, dtype=torch.complex64), torch.ones(3, 2, dtype=torch.bool))


@pytest.mark.parametrize(
    "src, dst, exact",
    [
        (torch.bool, torch.uint8, True),
        (torch.uint8, torch.int16, True),
        (torch.int8, torch.uint8, False),
        (torch.uint8, torch.float16, True),
        (torch.uint8, torch.bfloat16, True),
        (torch.int16, torch.float16, False),
        (torch.int16, torch.float32, True),
        (torch.int32, torch.float32, False),
        (torch.int32, torch.float64, True),
        (torch.int64, torch.float32, False),
        (torch.int64, torch.float64, False),
        (torch.float16, torch.float32, True),
        (torch.bfloat16, torch.float32, True),
        (torch.float16, torch.bfloat16, False),
        (torch.bfloat16, torch.float16, False),
        (torch.float64, torch.float32, False),
        (torch.float32, torch.int64, False),
        (torch.int64, torch.bool, False),
        (torch.float32, torch.complex64, True),
        (torch.float64, torch.complex64, False),
        (torch.complex64, torch.float32, False),
        (torch.int32, torch.int64, True),
    ],
)
def test_exact_cast_rule(src, dst, exact):
    assert is_exact_cast(src, dst) is exact
    # the dtype rule never claims exactness that torch.promote_types contradicts
    if exact and src != torch.bool:
        assert torch.promote_types(src, dst) == dst


@given(st.integers(-(2**62), 2**62))
def test_int_round_trip_values(v):
    expected = float(np.float32(v)) == v
    assert bool(_exact_values(torch.tensor([v]), torch.float32)) is expected


def test_gradients(device):
    dst = torch.randn(3, 2, dtype=torch.float64, device=device, requires_grad=True)
    src = torch.randn(3, 1, dtype=torch.float64, device=device, requires_grad=True)
    cond = torch.tensor([[True, False], [False, False], [True, True]], device=device)
    assert torch.autograd.gradcheck(lambda d, s: assign_where(d, s, cond), (dst, src))
    out = assign_where(dst, src, cond)
    out.sum().backward()
    assert dst.grad.cpu().tolist() == [[0, 1], [1, 1], [0, 0]]
    assert src.grad.cpu().flatten().tolist() == [1, 0, 2]


def test_nan_in_dst_stays_out_of_assigned_positions(device):
    dst = torch.tensor([float("nan"), 1.0], device=device, requires_grad=True)
    out = assign_where(dst, 5.0, torch.tensor([True, False], device=device))
    out.sum().backward()
    assert out.detach().cpu().tolist() == [5.0, 1.0] and dst.grad.cpu().tolist() == [0.0, 1.0]
