"""maskbench.render.pixels: RGBA conversion and display proxies, against plain references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from maskbench._checks import DTypeError, ShapeError
from maskbench.render import display_size, downsample_labels, downsample_rgba, image_to_rgba


def test_image_to_rgba_exact_values(device) -> None:
    grey = torch.tensor([[0.0, 0.25, 1.0], [-3.0, 7.0, float("nan")]], device=device)
    out = image_to_rgba(grey)
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 4) and out.device == grey.device
    expected_grey = [[0, 64, 255], [0, 255, 0]]  # 0.25*255 = 63.75 -> 64; clamped; NaN -> 0
    assert out[..., 0].cpu().tolist() == expected_grey
    assert torch.equal(out[..., 0], out[..., 1]) and torch.equal(out[..., 0], out[..., 2])
    assert (out[..., 3] == 255).all()
    assert torch.equal(image_to_rgba(grey[None]), out)  # (1, H, W) == (H, W)


def test_image_to_rgba_rgb_uint8_bool(device) -> None:
    rgb = torch.arange(3 * 2 * 2, dtype=torch.uint8, device=device).reshape(3, 2, 2)
    out = image_to_rgba(rgb).cpu()
    assert out[1, 0].tolist() == [2, 6, 10, 255]  # (r, g, b) of pixel (1, 0), untouched uint8
    rgba = torch.zeros(4, 1, 1, device=device)
    rgba[3] = 0.5
    assert image_to_rgba(rgba).cpu()[0, 0].tolist() == [0, 0, 0, 128]
    b = torch.tensor([[True, False]], device=device)
    assert image_to_rgba(b).cpu()[0].tolist() == [[255, 255, 255, 255], [0, 0, 0, 255]]


def test_image_to_rgba_matches_numpy_reference(device) -> None:
    x = torch.rand(3, 5, 7, device=device, dtype=torch.float64)
    ref = np.clip(np.rint(x.cpu().numpy() * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert np.array_equal(image_to_rgba(x).cpu().numpy()[..., :3], ref)


def test_image_to_rgba_errors(device) -> None:
    with pytest.raises(ShapeError, match=r"image: .*\(2, 4, 4\)"):
        image_to_rgba(torch.zeros(2, 4, 4, device=device))
    with pytest.raises(ShapeError, match="3 dimensions"):
        image_to_rgba(torch.zeros(1, 3, 4, 4, device=device))
    with pytest.raises(DTypeError, match="int32"):
        image_to_rgba(torch.zeros(4, 4, dtype=torch.int32, device=device))


@given(h=st.integers(1, 20000), w=st.integers(1, 20000), m=st.integers(1, 4096))
@example(h=201, w=402, m=235)  # 117.5 exactly: a precomputed scale made it 117.49999 -> 117
def test_display_size_properties(h: int, w: int, m: int) -> None:
    dh, dw = display_size(h, w, max_side=m)
    assert max(dh, dw) <= m and dh >= 1 and dw >= 1
    if max(h, w) <= m:
        assert (dh, dw) == (h, w)
    else:
        long_side, short_side = (h, w) if h >= w else (w, h)
        short_out = max(1, round(short_side * m / long_side))  # aspect kept to the nearest pixel
        assert (dh, dw) == ((m, short_out) if h >= w else (short_out, m))


def test_display_size_examples_and_errors() -> None:
    assert display_size(4096, 4096) == (1024, 1024)
    assert display_size(1000, 3000, max_side=600) == (200, 600)
    with pytest.raises(ValueError, match="max_side"):
        display_size(10, 10, max_side=0)
    with pytest.raises(TypeError, match="h: expected an int"):
        display_size(10.0, 10)  # type: ignore[arg-type]


def test_downsample_rgba_block_mean(device) -> None:
    x = torch.randint(0, 256, (6, 8, 4), dtype=torch.uint8, device=device)
    out = downsample_rgba(x, (3, 4))
    ref = x.cpu().double().reshape(3, 2, 4, 2, 4).mean(dim=(1, 3))
    assert out.shape == (3, 4, 4) and out.dtype == torch.uint8
    assert (out.cpu().double() - ref).abs().max() <= 0.5 + 1e-6
    assert downsample_rgba(x, (6, 8)) is x
    with pytest.raises(ShapeError, match="rgba"):
        downsample_rgba(x[..., :3], (3, 4))


def _mode_reference(labels: np.ndarray, dh: int, dw: int) -> np.ndarray:
    h, w = labels.shape
    out = np.zeros((dh, dw), labels.dtype)
    for i in range(dh):
        r0, r1 = (i * h) // dh, -((-(i + 1) * h) // dh)  # adaptive pooling windows
        for j in range(dw):
            c0, c1 = (j * w) // dw, -((-(j + 1) * w) // dw)
            vals, counts = np.unique(labels[r0:r1, c0:c1], return_counts=True)
            out[i, j] = vals[np.argmax(counts)]  # np.unique sorts: ties go to the smaller id
    return out


@given(
    h=st.integers(1, 24), w=st.integers(1, 24), dh=st.integers(1, 24), dw=st.integers(1, 24),
    k=st.integers(1, 6), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_downsample_labels_keeps_ids(h: int, w: int, dh: int, dw: int, k: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (h, w), generator=g) * 7  # sparse ids: blending would invent new ones
    for method in ("nearest", "mode"):
        out = downsample_labels(labels, (dh, dw), method=method)
        assert out.shape == (dh, dw) and out.dtype == labels.dtype
        assert set(out.unique().tolist()) <= set(labels.unique().tolist())
    near = downsample_labels(labels, (dh, dw)).numpy()
    rows = np.minimum(((np.arange(dh) + 0.5) * h / dh).astype(int), h - 1)
    cols = np.minimum(((np.arange(dw) + 0.5) * w / dw).astype(int), w - 1)
    assert np.array_equal(near, labels.numpy()[rows][:, cols])
    mode = downsample_labels(labels, (dh, dw), method="mode").numpy()
    assert np.array_equal(mode, _mode_reference(labels.numpy(), dh, dw))


def test_downsample_labels_device_bool_and_thin_lines(device) -> None:
    mask = torch.zeros(64, 64, dtype=torch.bool, device=device)
    mask[:, 33] = True  # a 1-pixel line that nearest sampling at 1/4 misses
    assert not downsample_labels(mask, (16, 16)).any()
    assert downsample_labels(mask.to(torch.uint8), (16, 16), method="mode").sum() == 0  # minority in each block
    big = torch.full((4, 4), 70000, dtype=torch.int64, device=device)
    assert (downsample_labels(big, (2, 2)) == 70000).all()  # no float round trip for large ids
    with pytest.raises(DTypeError, match="labels"):
        downsample_labels(torch.zeros(4, 4, device=device), (2, 2))
    with pytest.raises(ValueError, match="method"):
        downsample_labels(mask, (2, 2), method="bilinear")


def test_render_imports_no_widget_stack() -> None:
    import subprocess
    import sys

    code = "import sys, maskbench.render; print(sorted(m for m in ('ipywidgets', 'anywidget', 'traitlets', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
