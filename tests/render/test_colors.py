"""maskbench.render.colors: palettes, colour parsing, colourised labels and the overlay formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskbench._checks import DTypeError, MaskValueError, ShapeError
from maskbench.render import OKABE_ITO, colorize_labels, label_palette, overlay, parse_color


@pytest.mark.parametrize("n", [1, 2, 8, 9, 50, 300, 4096])
def test_palette_distinct(n: int) -> None:
    pal = label_palette(n)
    assert pal.shape == (n, 4) and pal.dtype == torch.uint8
    assert pal[0].tolist() == [0, 0, 0, 0]
    rgb = {tuple(row[:3]) for row in pal[1:].tolist()}
    assert len(rgb) == n - 1 and (0, 0, 0) not in rgb  # distinct, none black
    assert (pal[1:, 3] == 255).all()
    assert [tuple(r[:3]) for r in pal[1:8].tolist()] == list(OKABE_ITO)[: n - 1]


def test_palette_first_colours_far_apart() -> None:
    rgb = label_palette(16)[1:, :3].double()
    dist = torch.cdist(rgb, rgb) + torch.eye(15) * 1e9
    assert dist.min() > 40  # readable neighbours, not near-duplicates


def test_palette_prefix_stable_and_errors() -> None:
    assert torch.equal(label_palette(300)[:20], label_palette(20))  # adding classes keeps old colours
    with pytest.raises(ValueError, match="n: expected an int >= 1"):
        label_palette(0)


@pytest.mark.parametrize(
    ("color", "expected"),
    [
        ("#FF0000", (255, 0, 0, 255)), ("00ff0080", (0, 255, 0, 128)), ("#abc", (170, 187, 204, 255)),
        ((1, 2, 3), (1, 2, 3, 255)), ([0, 0, 0, 0], (0, 0, 0, 0)), ((0.0, 1.0, 0.5), (0, 255, 128, 255)),
    ],
)  # fmt: skip
def test_parse_color(color, expected) -> None:
    assert parse_color(color) == expected


@pytest.mark.parametrize(
    "bad", ["red", "#ff000", "#1234567", "#gg0000", (256, 0, 0), (1.5, 0, 0), (True, 0, 0), (1, 2), None]
)
def test_parse_color_rejects(bad) -> None:
    with pytest.raises(ValueError, match="color: expected"):
        parse_color(bad)


def test_colorize_labels_lookup(device) -> None:
    pal = label_palette(4)
    labels = torch.tensor([[0, 1], [3, 2]], device=device, dtype=torch.uint8)
    out = colorize_labels(labels, pal)
    assert out.device == labels.device and out.shape == (2, 2, 4)
    ref = pal.numpy()[labels.cpu().numpy()]
    assert np.array_equal(out.cpu().numpy(), ref)
    assert torch.equal(colorize_labels(labels.bool(), pal), colorize_labels((labels > 0).long(), pal))


def test_colorize_labels_errors() -> None:
    with pytest.raises(MaskValueError, match=r"labels: expected labels in \[0, 2\]"):
        colorize_labels(torch.tensor([[3]]), label_palette(3))
    with pytest.raises(DTypeError, match="labels"):
        colorize_labels(torch.zeros(2, 2), label_palette(3))
    with pytest.raises(ShapeError, match="palette"):
        colorize_labels(torch.zeros(2, 2, dtype=torch.long), torch.zeros(3, 3, dtype=torch.uint8))


def _overlay_reference(base: np.ndarray, labels: np.ndarray, pal: np.ndarray, opacity: float) -> np.ndarray:
    out = base.copy()
    for i in range(base.shape[0]):
        for j in range(base.shape[1]):
            colour = pal[labels[i, j]]
            a = int(np.floor(opacity * int(colour[3]) + 0.5))
            for c in range(3):
                out[i, j, c] = (int(base[i, j, c]) * (255 - a) + int(colour[c]) * a + 127) // 255
    return out


@given(opacity=st.floats(0, 1), seed=st.integers(0, 2**16), h=st.integers(1, 6), w=st.integers(1, 6))
def test_overlay_formula(opacity: float, seed: int, h: int, w: int) -> None:
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (h, w, 4), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 5, (h, w), generator=g)
    pal = label_palette(5)
    pal[4, 3] = 100  # a half-transparent class colour scales the opacity
    out = overlay(base, labels, pal, opacity=opacity)
    assert np.array_equal(out.numpy(), _overlay_reference(base.numpy(), labels.numpy(), pal.numpy(), opacity))


def test_overlay_limits_and_weights(device) -> None:
    base = torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 3, (3, 4), device=device)
    pal = label_palette(3)
    assert torch.equal(overlay(base, labels, pal, opacity=0.0), base)
    solid = overlay(base, labels, pal, opacity=1.0)
    fg = labels > 0
    assert torch.equal(solid[..., :3][fg], pal.to(device)[labels][..., :3][fg])  # solid class colour
    assert torch.equal(solid[~fg], base[~fg]) and torch.equal(solid[..., 3], base[..., 3])
    # a float weight of exactly 0/1 equals the bool mask; 0.5 is half the opacity
    w = fg.float()
    assert torch.equal(overlay(base, w, pal, opacity=0.6), overlay(base, fg, pal, opacity=0.6))
    assert torch.equal(overlay(base, w * 0.5, pal, opacity=1.0), overlay(base, fg, pal, opacity=0.5))


def test_overlay_errors(device) -> None:
    base = torch.zeros(2, 2, 4, dtype=torch.uint8, device=device)
    lab = torch.zeros(2, 2, dtype=torch.long, device=device)
    with pytest.raises(ValueError, match="opacity"):
        overlay(base, lab, label_palette(2), opacity=1.5)
    with pytest.raises(ShapeError, match=r"labels: expected \(2, 2\)"):
        overlay(base, lab[:1], label_palette(2), opacity=0.5)
    with pytest.raises(ShapeError, match="rgba"):
        overlay(base[..., :3], lab, label_palette(2), opacity=0.5)
