"""dilate / erode / opening / closing against scikit-image 0.26 and scipy, on every device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage import morphology as skm

import maskbench
from maskbench import DTypeError, ShapeError
from maskbench.kernels.morphology import closing, dilate, erode, footprint_mask, opening

# skimage 0.26 deprecates binary_* in favour of the grey-level versions; they are still the reference.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

OPS = {"dilate": dilate, "erode": erode, "opening": opening, "closing": closing}
SK_OPS = {
    "dilate": skm.binary_dilation,
    "erode": skm.binary_erosion,
    "opening": skm.binary_opening,
    "closing": skm.binary_closing,
}


def _sk_footprint(radius: int, kind: str) -> np.ndarray:
    return skm.disk(radius) if kind == "disk" else np.ones((2 * radius + 1,) * 2, np.uint8)


def _reference(op: str, m: np.ndarray, radius: int, kind: str) -> np.ndarray:
    if radius == 0:
        return m.copy()
    return SK_OPS[op](m, _sk_footprint(radius, kind))


def _random_mask(h: int, w: int, density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w)) < density


@pytest.mark.parametrize("radius", range(0, 13))
def test_footprint_mask_is_skimage_disk(radius):
    assert np.array_equal(footprint_mask(radius, "disk").numpy(), skm.disk(radius).astype(bool))
    assert footprint_mask(radius, "square").all() and footprint_mask(radius).shape == (2 * radius + 1,) * 2


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("kind", ["square", "disk"])
@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (13, 11), (20, 17)])
def test_matches_skimage(op, kind, radius, shape, device, no_sync):
    m = _random_mask(*shape, 0.55, seed=radius * 100 + shape[0])
    with no_sync():
        out = OPS[op](torch.from_numpy(m).to(device), radius=radius, footprint=kind)
    assert out.dtype == torch.bool and out.shape == shape and out.device.type == device.type
    assert np.array_equal(out.cpu().numpy(), _reference(op, m, radius, kind))


@given(
    h=st.integers(1, 24),
    w=st.integers(1, 24),
    density=st.sampled_from([0.05, 0.3, 0.5, 0.7, 0.95]),
    radius=st.integers(0, 6),
    kind=st.sampled_from(["square", "disk"]),
    op=st.sampled_from(list(OPS)),
    seed=st.integers(0, 2**16),
)
def test_matches_skimage_random(h, w, density, radius, kind, op, seed, device):
    m = _random_mask(h, w, density, seed)
    out = OPS[op](torch.from_numpy(m).to(device), radius=radius, footprint=kind)
    assert np.array_equal(out.cpu().numpy(), _reference(op, m, radius, kind))


@pytest.mark.parametrize("kind", ["square", "disk"])
def test_border_rules_match_scipy(kind, device):
    # The stated rule: outside is False for dilation, True for erosion (scipy border_value 0 / 1).
    m = _random_mask(15, 12, 0.6, seed=3)
    fp = _sk_footprint(2, kind).astype(bool)
    t = torch.from_numpy(m).to(device)
    assert np.array_equal(dilate(t, radius=2, footprint=kind).cpu().numpy(), ndi.binary_dilation(m, fp, border_value=0))
    assert np.array_equal(erode(t, radius=2, footprint=kind).cpu().numpy(), ndi.binary_erosion(m, fp, border_value=1))
    # An object touching the border is not eroded from the border side.
    full = torch.ones(6, 6, dtype=torch.bool, device=device)
    assert erode(full, radius=3, footprint=kind).all()
    assert not dilate(~full, radius=3, footprint=kind).any()


@pytest.mark.parametrize("kind", ["square", "disk"])
def test_radius_larger_than_image(kind, device):
    m = torch.zeros(3, 4, dtype=torch.bool, device=device)
    m[1, 2] = True
    ref = _reference("dilate", m.cpu().numpy(), 9, kind)
    assert np.array_equal(dilate(m, radius=9, footprint=kind).cpu().numpy(), ref)
    assert not erode(m, radius=9, footprint=kind).any()


@pytest.mark.parametrize("op", OPS)
def test_batched_any_leading_dims(op, device, no_sync):
    masks = np.stack([_random_mask(10, 9, d, seed=i) for i, d in enumerate([0.0, 0.3, 0.7, 1.0])])
    t = torch.from_numpy(masks).to(device)
    with no_sync():
        out3 = OPS[op](t, radius=2, footprint="disk")
        out4 = OPS[op](t[:, None], radius=2, footprint="disk")
        out5 = OPS[op](t.view(2, 2, 1, 10, 9), radius=2, footprint="disk")
    assert out3.shape == (4, 10, 9) and out4.shape == (4, 1, 10, 9) and out5.shape == (2, 2, 1, 10, 9)
    for i, m in enumerate(masks):
        ref = _reference(op, m, 2, "disk")
        assert np.array_equal(out3[i].cpu().numpy(), ref)
        assert np.array_equal(out4[i, 0].cpu().numpy(), ref)
        assert np.array_equal(out5.reshape(4, 10, 9)[i].cpu().numpy(), ref)


@pytest.mark.parametrize("op", OPS)
def test_empty_and_full_masks(op, device):
    empty = torch.zeros(2, 7, 5, dtype=torch.bool, device=device)
    assert not OPS[op](empty, radius=2).any()
    assert OPS[op](~empty, radius=2, footprint="disk").all()
    for shape in [(0, 5, 5), (3, 0, 4), (2, 4, 0)]:
        z = torch.zeros(shape, dtype=torch.bool, device=device)
        assert OPS[op](z, radius=1).shape == shape


def test_duality_and_ordering(device):
    # Properties: erode <= mask <= dilate; opening <= mask <= closing; erosion is dual to dilation
    # under complement (with the border rules above); opening is idempotent.
    m = torch.from_numpy(_random_mask(31, 29, 0.5, seed=11)).to(device)
    for kind in ("square", "disk"):
        e, d = erode(m, radius=2, footprint=kind), dilate(m, radius=2, footprint=kind)
        o, c = opening(m, radius=2, footprint=kind), closing(m, radius=2, footprint=kind)
        assert bool((e <= m).all() and (m <= d).all() and (o <= m).all() and (m <= c).all())
        assert torch.equal(e, ~dilate(~m, radius=2, footprint=kind))
        assert torch.equal(opening(o, radius=2, footprint=kind), o)


def test_public_exports():
    assert maskbench.dilate is dilate and maskbench.erode is erode
    assert maskbench.opening is opening and maskbench.closing is closing


def test_input_is_not_modified(device):
    m = torch.from_numpy(_random_mask(8, 8, 0.5, seed=1)).to(device)
    before = m.clone()
    for op in OPS.values():
        op(m, radius=1)
        op(m, radius=0)
    assert torch.equal(m, before)
    assert dilate(m, radius=0) is not m


@pytest.mark.parametrize("op", OPS)
def test_rejects_float_mask_with_fix(op, device):
    probs = torch.rand(2, 5, 5, device=device)
    with pytest.raises(DTypeError, match=r"mask: expected a bool mask; got \(2, 5, 5\) float32.*mask > 0\.5"):
        OPS[op](probs)
    with pytest.raises(TypeError, match=r"mask > 0` or `mask.bool\(\)"):
        OPS[op](torch.ones(5, 5, dtype=torch.uint8, device=device))
    with pytest.raises(DTypeError, match="expected a torch.Tensor"):
        OPS[op](np.ones((5, 5), bool))


def test_rejects_bad_shapes_and_options(device):
    m = torch.ones(5, 5, dtype=torch.bool, device=device)
    with pytest.raises(ShapeError, match=r"mask: expected at least 2 dimensions \(\.\.\., H, W\); got \(5,\)"):
        dilate(m[0])
    with pytest.raises(ValueError, match="radius: expected an int >= 0; got -1"):
        erode(m, radius=-1)
    with pytest.raises(TypeError, match="radius: expected an int; got float"):
        dilate(m, radius=1.5)
    with pytest.raises(ValueError, match="footprint: expected one of 'square', 'disk'; got 'circle'"):
        opening(m, footprint="circle")
    with pytest.raises(TypeError):
        closing(m, 2)  # options are keyword-only
