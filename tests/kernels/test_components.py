"""label_components, remove_small_objects, fill_holes, hysteresis_threshold vs scikit-image/scipy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage import filters as skf
from skimage import measure as skmeasure
from skimage import morphology as skm

import maskbench
from maskbench import DTypeError, ShapeError
from maskbench.kernels.components import (
    _component_roots,
    _holes_torch,
    _hysteresis_torch,
    _label_torch,
    _remove_small_torch,
    fill_holes,
    hysteresis_threshold,
    label_components,
    remove_small_objects,
)

DENSITIES = [0.05, 0.3, 0.45, 0.55, 0.6, 0.7, 0.95]


def _random_mask(h: int, w: int, density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w)) < density


def spiral(h: int, w: int | None = None) -> np.ndarray:
    """One 1-pixel-wide square spiral path, walls one pixel apart (a single 4-connected component)."""
    w = h if w is None else w
    a = np.zeros((h, w), bool)
    y = x = d = turns = 0
    a[0, 0] = True
    dirs = [(0, 1), (1, 0), (0, -1), (-1, 0)]

    def free(yy: int, xx: int) -> bool:
        return 0 <= yy < h and 0 <= xx < w and not a[yy, xx]

    def inside(yy: int, xx: int) -> bool:
        return 0 <= yy < h and 0 <= xx < w

    while turns < 2:
        dy, dx = dirs[d]
        ny, nx = y + dy, x + dx
        if free(ny, nx) and not (inside(ny + dy, nx + dx) and a[ny + dy, nx + dx]):
            y, x, turns = ny, nx, 0
            a[y, x] = True
        else:
            d, turns = (d + 1) % 4, turns + 1
    return a


def serpentine(h: int, w: int) -> np.ndarray:
    """Full even rows joined at alternating ends: one path of length ~h*w/2 (a maze corridor)."""
    a = np.zeros((h, w), bool)
    a[::2] = True
    for i in range(1, h, 2):
        a[i, -1 if (i // 2) % 2 == 0 else 0] = True
    return a


def diagonal_zigzag(n: int) -> np.ndarray:
    """A staircase of pixels touching only at corners: n components for connectivity 1, one for 2."""
    a = np.zeros((n, n), bool)
    a[np.arange(n), np.arange(n)] = True
    return a


def _label_ref(m: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    labels, num = skmeasure.label(m, connectivity=connectivity, return_num=True)
    return labels, num


def _check_labels(m: np.ndarray, connectivity: int, device: torch.device) -> None:
    labels, count = label_components(torch.from_numpy(m).to(device), connectivity=connectivity)
    ref, num = _label_ref(m, connectivity)
    assert labels.dtype == torch.int64 and count.dtype == torch.int64 and count.shape == ()
    assert int(count) == num
    assert np.array_equal(labels.cpu().numpy(), ref)  # same partition AND same numbers


# ---------------------------------------------------------------- label_components


@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    density=st.sampled_from(DENSITIES),
    connectivity=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_label_matches_skimage_random(h, w, density, connectivity, seed, device):
    _check_labels(_random_mask(h, w, density, seed), connectivity, device)


@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize(
    "name, m",
    [
        ("spiral", spiral(64)),
        ("spiral_odd", spiral(37, 53)),
        ("spiral_flipped", spiral(48)[::-1, ::-1].copy()),
        ("serpentine", serpentine(41, 60)),
        ("serpentine_T", serpentine(60, 41).T.copy()),
        ("diagonal", diagonal_zigzag(33)),
        ("anti_diagonal", diagonal_zigzag(33)[:, ::-1].copy()),
        ("rings", np.hypot(*np.mgrid[-20:21, -20:21]).astype(int) % 4 < 2),
        ("one_row", _random_mask(1, 97, 0.6, 0)),
        ("one_col", _random_mask(97, 1, 0.6, 1)),
    ],
)
def test_label_structured_shapes(name, m, connectivity, device):
    _check_labels(m, connectivity, device)


def test_label_spiral_is_one_component_and_converges_fast(device):
    m = spiral(256)
    assert _label_ref(m, 1)[1] == 1
    _, iterations = _component_roots(torch.from_numpy(m).to(device)[None], 1)
    print(f"\n256x256 spiral ({int(m.sum())} pixels, one path): {iterations} iterations")
    assert iterations <= 64  # pointer jumping: far fewer than the path length (~33k)
    _check_labels(m, 1, device)


@pytest.mark.parametrize("check_every", [1, 3, 4])
def test_roots_do_not_depend_on_check_interval(check_every, device):
    # Accelerators check for the fixed point every 4 iterations, CPU every iteration: same roots.
    masks = torch.from_numpy(np.stack([spiral(40), _random_mask(40, 40, 0.6, 3)])).to(device)
    parent, iterations = _component_roots(masks, 1, check_every=check_every)
    reference, _ = _component_roots(masks, 1, check_every=1)
    assert torch.equal(parent, reference) and iterations % check_every == 0


def test_syncs_only_at_fixed_point_checks(device):
    # The documented syncs: at most one per 4 iterations (the fixed-point check) on CUDA.
    if device.type != "cuda":
        pytest.skip("host syncs are only observable on CUDA")
    m = torch.from_numpy(np.stack([spiral(64), _random_mask(64, 64, 0.6, 4)])).to(device)
    _, iterations = _component_roots(m, 1)
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            label_components(m)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) <= iterations // 4


def test_label_checkerboard_connectivity(device):
    m = np.add.outer(np.arange(9), np.arange(11)) % 2 == 0
    labels1, count1 = label_components(torch.from_numpy(m).to(device), connectivity=1)
    labels2, count2 = label_components(torch.from_numpy(m).to(device), connectivity=2)
    assert int(count1) == int(m.sum()) and int(count2) == 1
    assert np.array_equal(labels1.cpu().numpy()[m], np.arange(1, m.sum() + 1))  # raster order
    assert np.array_equal(labels2.cpu().numpy(), m.astype(np.int64))
    _check_labels(m, 1, device)
    _check_labels(m, 2, device)


def test_label_empty_full_and_one_pixel(device):
    for h, w in [(1, 1), (5, 7)]:
        empty = torch.zeros(h, w, dtype=torch.bool, device=device)
        labels, count = label_components(empty)
        assert int(count) == 0 and not labels.any()
        labels, count = label_components(~empty, connectivity=2)
        assert int(count) == 1 and bool((labels == 1).all())
    labels, count = label_components(torch.zeros(2, 0, 3, dtype=torch.bool, device=device))
    assert labels.shape == (2, 0, 3) and count.tolist() == [0, 0]


def test_label_batched_restarts_numbering(device):
    masks = np.stack([spiral(23, 30), _random_mask(23, 30, 0.5, 2), np.zeros((23, 30), bool), serpentine(23, 30)])
    t = torch.from_numpy(masks).to(device)
    labels, count = label_components(t)
    labels4, count4 = label_components(t[:, None])
    assert labels.shape == (4, 23, 30) and count.shape == (4,)
    assert labels4.shape == (4, 1, 23, 30) and count4.shape == (4, 1)
    for i, m in enumerate(masks):
        ref, num = _label_ref(m, 1)
        assert int(count[i]) == num and np.array_equal(labels[i].cpu().numpy(), ref)
        assert torch.equal(labels4[i, 0], labels[i])


# ---------------------------------------------------------------- remove_small_objects


def test_remove_small_objects_keeps_exactly_min_size(device):
    # Objects of 1, 3 and 4 pixels (connectivity 1). min_size=3 removes only the 1-pixel object.
    m = np.array(
        [[1, 0, 1, 1, 1], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]],
        bool,
    )
    out = remove_small_objects(torch.from_numpy(m).to(device), min_size=3).cpu().numpy()
    expected = m.copy()
    expected[0, 0] = False
    assert np.array_equal(out, expected)
    # scikit-image 0.26's max_size=3 also drops the 3-pixel object (<= 3): that is the off-by-one.
    assert not skm.remove_small_objects(m, max_size=3)[0, 2:].any()
    assert np.array_equal(skm.remove_small_objects(m, max_size=3 - 1), out)


@given(
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    density=st.sampled_from(DENSITIES),
    min_size=st.integers(0, 12),
    connectivity=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_remove_small_objects_matches_skimage(h, w, density, min_size, connectivity, seed, device):
    m = _random_mask(h, w, density, seed)
    out = remove_small_objects(torch.from_numpy(m).to(device), min_size=min_size, connectivity=connectivity)
    ref = skm.remove_small_objects(m, max_size=min_size - 1, connectivity=connectivity)
    assert out.dtype == torch.bool and np.array_equal(out.cpu().numpy(), ref)


def test_remove_small_objects_batched(device):
    masks = np.stack([_random_mask(17, 19, d, seed=i) for i, d in enumerate([0.3, 0.5, 0.0, 1.0])])
    out = remove_small_objects(torch.from_numpy(masks).to(device)[:, None], min_size=4, connectivity=2)
    assert out.shape == (4, 1, 17, 19)
    for i, m in enumerate(masks):
        assert np.array_equal(out[i, 0].cpu().numpy(), skm.remove_small_objects(m, max_size=3, connectivity=2))


# ---------------------------------------------------------------- fill_holes


@given(
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    density=st.sampled_from(DENSITIES),
    connectivity=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_fill_holes_matches_skimage_and_scipy(h, w, density, connectivity, seed, device):
    m = _random_mask(h, w, density, seed)
    out = fill_holes(torch.from_numpy(m).to(device), connectivity=connectivity).cpu().numpy()
    structure = ndi.generate_binary_structure(2, connectivity)  # of the background
    assert np.array_equal(out, ndi.binary_fill_holes(m, structure=structure))
    if connectivity == 1:  # scipy's default background structure is the cross
        assert np.array_equal(out, ndi.binary_fill_holes(m))
    # Plain-loop reference: background components (skimage labels) that touch no border pixel.
    bg_labels = skmeasure.label(~m, connectivity=connectivity)
    border = np.unique(np.concatenate([bg_labels[0], bg_labels[-1], bg_labels[:, 0], bg_labels[:, -1]]))
    assert np.array_equal(out, m | ((bg_labels > 0) & ~np.isin(bg_labels, border)))


def test_fill_holes_differs_from_remove_small_holes(device):
    # skimage's remove_small_holes fills every small background region, border or not.
    m = np.ones((5, 5), bool)
    m[0, 2] = False  # a notch in the border: not a hole
    m[2, 2] = False  # a real hole
    out = fill_holes(torch.from_numpy(m).to(device)).cpu().numpy()
    assert not out[0, 2] and out[2, 2]
    assert skm.remove_small_holes(m, max_size=25).all()


def test_fill_holes_structured(device):
    ring = np.hypot(*np.mgrid[-8:9, -8:9]) <= 7
    ring &= np.hypot(*np.mgrid[-8:9, -8:9]) > 4
    out = fill_holes(torch.from_numpy(ring).to(device)).cpu().numpy()
    assert np.array_equal(out, np.hypot(*np.mgrid[-8:9, -8:9]) <= 7)
    # A "hole" touching the border is not a hole.
    u = np.ones((6, 6), bool)
    u[1:5, 2:4] = False
    u[5, 2] = False
    assert np.array_equal(fill_holes(torch.from_numpy(u).to(device)).cpu().numpy(), u)
    # A pocket leaking out only through a diagonal gap: filled with connectivity 1, kept with 2.
    d = np.array(
        [[0, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]],
        bool,
    )
    t = torch.from_numpy(d).to(device)
    assert fill_holes(t, connectivity=1).cpu().numpy()[1:3, 1:3].all()
    assert np.array_equal(fill_holes(t, connectivity=2).cpu().numpy(), d)
    # Spiral corridors all reach the border through the spiral's own gap: nothing to fill.
    s = spiral(31)
    assert np.array_equal(fill_holes(torch.from_numpy(s).to(device)).cpu().numpy(), ndi.binary_fill_holes(s))


def test_fill_holes_empty_full_batched(device):
    masks = np.stack([np.zeros((7, 8), bool), np.ones((7, 8), bool), _random_mask(7, 8, 0.7, 5)])
    out = fill_holes(torch.from_numpy(masks).to(device))
    for i, m in enumerate(masks):
        assert np.array_equal(out[i].cpu().numpy(), ndi.binary_fill_holes(m))
    one = torch.zeros(1, 1, dtype=torch.bool, device=device)
    assert not fill_holes(one).any() and fill_holes(~one).all()


# ---------------------------------------------------------------- hysteresis_threshold


@given(
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    low=st.floats(0.0, 1.0),
    high=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_hysteresis_matches_skimage(h, w, low, high, seed, dtype, device):
    # low > high is allowed: skimage clips low to high, and so do we.
    x = np.random.default_rng(seed).random((h, w))
    xt = torch.from_numpy(x).to(dtype)
    out = hysteresis_threshold(xt.to(device), low, high)
    ref = skf.apply_hysteresis_threshold(xt.numpy(), low, high)
    assert out.dtype == torch.bool and np.array_equal(out.cpu().numpy(), ref)


def test_hysteresis_connectivity_two_and_nan(device):
    x = np.random.default_rng(0).random((25, 23))
    x[3, :] = np.nan
    x[10, 4:9] = np.inf  # +Inf is above every threshold, as in numpy
    x[12, :] = -np.inf
    t = torch.from_numpy(x).to(device)
    assert np.array_equal(hysteresis_threshold(t, 0.4, 0.9).cpu().numpy(), skf.apply_hysteresis_threshold(x, 0.4, 0.9))
    labels, n = ndi.label(x > 0.4, structure=np.ones((3, 3)))  # 8-connected reference
    seeded = np.zeros(n + 1, bool)
    seeded[labels[x > 0.9]] = True
    ref = seeded[labels] & (labels > 0)
    out = hysteresis_threshold(t, 0.4, 0.9, connectivity=2).cpu().numpy()
    assert np.array_equal(out, ref) and not out[3].any() and out[10, 4:9].all() and not out[12].any()


def test_hysteresis_per_image_thresholds_and_integers(device):
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 1, 16, 18))).to(device)
    low = torch.tensor([50.0, 100.0, 150.0], device=device).view(3, 1, 1, 1)
    out = hysteresis_threshold(x, low, 200)
    assert out.shape == (3, 1, 16, 18)
    for i, lo in enumerate([50, 100, 150]):
        ref = skf.apply_hysteresis_threshold(x[i, 0].cpu().numpy(), lo, 200)
        assert np.array_equal(out[i, 0].cpu().numpy(), ref)


# ---------------------------------------------------------------- errors and exports


@pytest.mark.parametrize("fn", [label_components, remove_small_objects, fill_holes])
def test_rejects_non_bool_masks_and_bad_connectivity(fn, device):
    with pytest.raises(DTypeError, match=r"mask: expected a bool mask; got \(4, 4\) float32.*`mask > 0\.5`"):
        fn(torch.rand(4, 4, device=device))
    with pytest.raises(DTypeError, match=r"got \(4, 4\) uint8.*`mask > 0`"):
        fn(torch.ones(4, 4, dtype=torch.uint8, device=device))
    with pytest.raises(ShapeError, match=r"mask: expected at least 2 dimensions"):
        fn(torch.ones(4, dtype=torch.bool, device=device))
    for bad in (0, 3, "8"):
        with pytest.raises(ValueError, match=rf"connectivity: expected one of 1, 2; got {bad!r}"):
            fn(torch.ones(4, 4, dtype=torch.bool, device=device), connectivity=bad)


def test_other_argument_errors(device):
    m = torch.ones(4, 4, dtype=torch.bool, device=device)
    with pytest.raises(ValueError, match="min_size: expected an int >= 0; got -1"):
        remove_small_objects(m, min_size=-1)
    with pytest.raises(DTypeError, match=r"x: expected a real .* got \(4, 4\) bool"):
        hysteresis_threshold(m, 0.2, 0.5)
    with pytest.raises(ShapeError, match=r"low: expected a shape that broadcasts to x \(4, 4\).*got \(3,\)"):
        hysteresis_threshold(torch.rand(4, 4, device=device), torch.zeros(3, device=device), 0.5)
    with pytest.raises(TypeError, match="high: expected a number or a tensor broadcastable to x; got NoneType"):
        hysteresis_threshold(torch.rand(4, 4, device=device), 0.2, None)
    with pytest.raises(ShapeError, match="x: expected at least 2 dimensions"):
        hysteresis_threshold(torch.rand(4, device=device), 0.2, 0.5)
    with pytest.raises(TypeError):
        label_components(m, 2)  # keyword-only


def test_public_exports():
    for name in ("label_components", "remove_small_objects", "fill_holes", "hysteresis_threshold"):
        assert getattr(maskbench, name) is globals()[name]


def test_large_blobby_mask_matches_skimage():
    """1024x1024 blobby mask: labels and small-object removal equal scikit-image's (timings: benchmarks/)."""
    rng = np.random.default_rng(0)
    m = ndi.gaussian_filter(rng.random((1024, 1024)), 4) > 0.5
    t = torch.from_numpy(m)
    labels, count = label_components(t)
    ref_labels = skmeasure.label(m, connectivity=1)
    assert int(count) == ref_labels.max() > 100
    assert np.array_equal(labels.numpy(), ref_labels)
    kept = remove_small_objects(t, min_size=64)
    assert np.array_equal(kept.numpy(), skm.remove_small_objects(m, max_size=63))


# ---------------------------------------------------------------- CPU backend (scipy) == torch path
def _backend_cases() -> list[tuple[str, np.ndarray]]:
    """(name, (N, H, W) bool) batches: random, spirals, checkerboards, 1-px lines, empty, full."""
    rng = np.random.default_rng(11)
    checker = (np.add.outer(np.arange(9), np.arange(12)) % 2).astype(bool)
    lines = np.zeros((3, 10, 13), bool)
    lines[0, 4, :] = True  # a row
    lines[1, :, 6] = True  # a column
    lines[2, np.arange(10), np.arange(10)] = True  # a diagonal: 10 components / 1
    return [
        ("random", rng.random((4, 17, 23)) < 0.45),
        ("random dense", rng.random((3, 31, 8)) < 0.6),
        ("spirals", np.stack([spiral(21), ~spiral(21)])),
        ("serpentine", serpentine(15, 20)[None]),
        ("checkerboard", np.stack([checker, ~checker])),
        ("lines", lines),
        ("single row", (rng.random((2, 1, 40)) < 0.5)),
        ("single column", (rng.random((2, 40, 1)) < 0.5)),
        ("empty", np.zeros((2, 6, 7), bool)),
        ("full", np.ones((2, 6, 7), bool)),
        ("mixed batch", np.stack([np.zeros((8, 8), bool), np.ones((8, 8), bool), rng.random((8, 8)) < 0.5])),
        ("one image", (rng.random((1, 50, 50)) < 0.5)),
    ]


@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("name, m", _backend_cases(), ids=[c[0] for c in _backend_cases()])
def test_cpu_backend_equals_torch_path(name, m, connectivity):
    """The CPU dispatch (scipy.ndimage) and the accelerator kernel give identical results and numbering."""
    t = torch.from_numpy(m)
    labels, count = label_components(t, connectivity=connectivity)
    ref_labels, ref_count = _label_torch(t, connectivity)
    assert torch.equal(labels, ref_labels) and torch.equal(count, ref_count)
    for i, img in enumerate(m):  # and both are skimage's numbering, restarting at 1 per image
        assert np.array_equal(labels[i].numpy(), skmeasure.label(img, connectivity=connectivity))
    for min_size in (2, 5):
        got = remove_small_objects(t, min_size=min_size, connectivity=connectivity)
        assert torch.equal(got, _remove_small_torch(t, min_size, connectivity))
    assert torch.equal(fill_holes(t, connectivity=connectivity), t | _holes_torch(~t, connectivity))
    x = torch.from_numpy(np.random.default_rng(3).random(m.shape))
    fg, seeds = x > 0.3, x > 0.8
    got = hysteresis_threshold(x, 0.3, 0.8, connectivity=connectivity)
    assert torch.equal(got, _hysteresis_torch(fg, seeds, connectivity))


@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 3), st.floats(0, 1), st.sampled_from([1, 2]))
def test_cpu_backend_equals_torch_path_random(h, w, n, density, connectivity):
    m = torch.rand(n, h, w) < density
    assert all(
        torch.equal(a, b) for a, b in zip(label_components(m, connectivity=connectivity), _label_torch(m, connectivity))
    )
    assert torch.equal(fill_holes(m, connectivity=connectivity), m | _holes_torch(~m, connectivity))


def test_cpu_backend_keeps_leading_dims_and_does_not_modify_input():
    m = torch.rand(2, 1, 9, 9) < 0.5
    before = m.clone()
    labels, count = label_components(m)
    assert labels.shape == m.shape and count.shape == (2, 1) and labels.dtype == torch.int64
    assert fill_holes(m).shape == m.shape and remove_small_objects(m, min_size=3).shape == m.shape
    assert torch.equal(m, before)
