"""The Viewer at real sizes (issue 11 #5): every panel is computed on the display proxy and cached
per batch item; the browser composes keep/remove/mean from the proxies; `result` stays the
full-resolution apply_mask. Also the one meaning of the mask in every mode (issue 14 #1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import maskbench
from maskbench.render import display_size, image_to_rgba
from maskbench.widgets.viewer import Viewer


def _composed(v: Viewer) -> np.ndarray:
    """What viewer_core.js composeResult draws for a keep/remove/mean mode (a plain numpy reference;
    the same helper as in test_viewer.py)."""
    keep = v._labels >= 128 if v._kind == "weight" else v._labels > 0
    replaced = keep if v.mode != "keep" else ~keep
    return np.where(replaced[..., None], v._fills[1 if v.mode == "mean" else 0], v._image)


def _panel(v: Viewer) -> np.ndarray:
    """The result panel the browser draws: composed (keep/remove/mean), the image with the kernel's
    colours of the mask pixels (inpaint: _result is (n, 4)), or the kernel's whole RGBA (weighted)."""
    if v.mode in ("keep", "remove", "mean"):
        return _composed(v)
    if v._result.ndim == 2:
        keep = v._labels >= 128 if v._kind == "weight" else v._labels > 0
        out = v._image.copy()
        out[keep] = v._result
        return out
    return v._result


def _big_scene(dtype, kind):
    g = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 61, 83, generator=g)
    if dtype == "uint8":
        image = (image * 255).round().to(torch.uint8)
    if kind == "bool":
        mask = torch.rand(2, 61, 83, generator=g) > 0.6
    elif kind == "labels":
        mask = torch.randint(0, 4, (2, 61, 83), generator=g)
    else:
        mask = torch.rand(2, 61, 83, generator=g)
    return image, mask


@pytest.mark.parametrize("dtype", ["float", "uint8"])
@pytest.mark.parametrize("kind", ["bool", "labels", "weight"])
def test_panels_are_the_kernel_result_on_the_proxy(dtype, kind) -> None:
    """Every panel is computed on the display proxy; what the browser composes (keep/remove/mean)
    equals apply_mask on the proxies, and `result` stays apply_mask at full resolution."""
    import torch.nn.functional as F

    from maskbench.render.proxy import nearest_proxy, rgba_proxy, weight_proxy

    image, mask = _big_scene(dtype, kind)
    fill = 0.25 if dtype == "float" else 7
    v = Viewer(image, mask, max_display=40, fill=fill)
    size = display_size(61, 83, 40)
    for index in (0, 1):
        v.index = index
        assert np.array_equal(v._image, rgba_proxy(image[index], size).numpy())  # the image panel is unchanged
        if kind == "weight":
            keep_p = weight_proxy(mask[index], size) >= 128
        else:
            keep_p = nearest_proxy(mask[index], size) > 0
        pooled = F.adaptive_avg_pool2d((image[index].float() / (255 if dtype == "uint8" else 1))[None], size)[0]
        xp = (pooled * 255).round().to(torch.uint8) if dtype == "uint8" else pooled
        for mode in v._modes:
            v.mode = mode
            if mode == "weighted":
                continue  # proxy weights are quantised to 1/255: checked against the kernel below
            m = keep_p[None] if mode == "keep" else ~keep_p[None]
            f = fill if mode in ("keep", "remove") else mode
            # inpaint: smoothing steps scaled with the proxy (40 / 83 of the image: 4 -> 2 steps)
            steps = {"inpaint_steps": 2} if mode == "inpaint" else {}
            expected = image_to_rgba(maskbench.apply_mask(xp, m, fill=f, **steps)).numpy()
            assert np.array_equal(v._display_result(), expected), (index, mode)
            shown = _panel(v)
            assert np.array_equal(shown, expected), (index, mode)
            keep_full = mask >= 0.5 if kind == "weight" else mask > 0
            full = {
                "keep": lambda: maskbench.apply_mask(image, keep_full[:, None], fill=fill),
                "remove": lambda: maskbench.apply_mask(image, ~keep_full[:, None], fill=fill),
            }.get(mode, lambda: maskbench.apply_mask(image, ~keep_full[:, None], fill=mode))
            assert torch.equal(v.result, full())
        if "weighted" in v._modes:
            v.mode = "weighted"
            assert torch.equal(v.result, maskbench.apply_mask(image, mask[:, None], fill=fill))
            assert np.array_equal(v._result, v._display_result()) and v._result_for == f"weighted:{index}"
        v.mode = "keep"


def test_item_proxies_and_result_are_cached(monkeypatch) -> None:
    from maskbench.widgets import viewer as viewer_module

    image, mask = _big_scene("float", "bool")
    image = image.repeat(5, 1, 1, 1)[:10]
    mask = mask.repeat(5, 1, 1)[:10]
    v = Viewer(image, mask, max_display=40)
    built: list[torch.Tensor] = []
    real = viewer_module.build_item
    monkeypatch.setattr(viewer_module, "build_item", lambda x, *a: built.append(x) or real(x, *a))
    v.index = 1
    v.index = 0
    v.index = 1
    assert len(built) == 1  # item 0 was cached at construction, item 1 on the first visit
    for i in range(10):
        v.index = i
    assert len(v._cache) == viewer_module._CACHED_ITEMS  # bounded: least recently used dropped
    # result: computed once per (mode, fill), a copy each time
    calls: list[str] = []
    real_masked = viewer_module.masked
    monkeypatch.setattr(viewer_module, "masked", lambda x, *a: calls.append(tuple(x.shape)) or real_masked(x, *a))
    first = v.result
    first.zero_()  # the caller's copy: the cache is untouched
    assert torch.equal(v.result, maskbench.apply_mask(image, mask[:, None], fill=0.0))
    assert calls.count(tuple(image.shape)) == 1
    v.mode = "remove"
    assert torch.equal(v.result, maskbench.apply_mask(image, ~mask[:, None], fill=0.0))
    v.fill = 0.5
    assert torch.equal(v.result, maskbench.apply_mask(image, ~mask[:, None], fill=0.5))
    assert calls.count(tuple(image.shape)) == 3


def test_mode_menu_says_what_happens_to_the_mask() -> None:
    """Issue 14 #1: one meaning of the mask in every mode, spelled out in the menu and the docs."""
    from maskbench.widgets._viewer_core import MODE_TEXT

    v = Viewer(torch.rand(3, 4, 4), torch.rand(4, 4))
    assert v._mode_text == [MODE_TEXT[m] for m in v._modes]
    assert MODE_TEXT["keep"].startswith("keep the mask") and "remove the mask" in MODE_TEXT["remove"]
    assert all("mask" in MODE_TEXT[m] for m in ("keep", "remove", "mean", "inpaint"))
    doc = Viewer.__doc__
    assert "mask pixels" in doc and 'apply_mask(image, ~mask, fill="inpaint")' in doc


def test_inpaint_panel_is_computed_in_the_background() -> None:
    """Keep/remove/mean leave the kernel idle: the inpaint panel is prefetched on a worker thread
    and picking inpaint sends exactly what the foreground would have computed."""
    from maskbench.widgets._viewer_core import inpaint_rgba

    image, mask = _big_scene("float", "bool")
    v = Viewer(image, mask, max_display=40)
    item = v._cache[0]
    assert item.inpaint is not None
    prefetched = item.inpaint.result(timeout=60)
    expected = maskbench.apply_mask(item.xp[None], ~item.keep[None, None], fill="inpaint", inpaint_steps=2)
    assert np.array_equal(prefetched, image_to_rgba(expected[0]).numpy())
    assert np.array_equal(prefetched, inpaint_rgba(item.xp, item.keep, 2))
    v.mode = "inpaint"
    assert np.array_equal(_panel(v), prefetched) and v._result_for == "inpaint:0"
    v.index = 1  # in inpaint mode the new item's panel is computed at once, not prefetched
    assert v._cache[1].inpaint is None and v._result_for == "inpaint:1"
    u = Viewer((image * 255).to(torch.uint8), mask, max_display=40)
    assert u._cache[0].inpaint is None  # no inpaint mode for a uint8 image: nothing to prefetch


def test_bool_image_proxy_keeps_grey_levels() -> None:
    from maskbench.render.proxy import rgba_proxy

    image = torch.rand(1, 61, 83, generator=torch.Generator().manual_seed(1)) > 0.5
    v = Viewer(image, torch.ones(61, 83, dtype=torch.bool), max_display=40, fill=1)
    assert np.array_equal(v._image, rgba_proxy(image, display_size(61, 83, 40)).numpy())
    assert len(np.unique(v._image[..., 0])) > 2  # averaged, not re-thresholded
    assert np.array_equal(_composed(v), v._display_result())
    assert torch.equal(v.result, maskbench.apply_mask(image, torch.ones(61, 83, dtype=torch.bool), fill=1))


@pytest.mark.parametrize("factors", [(2, 2), (2, 3), (3, 5), (4, 4), (1, 2), (1, 1)])
@pytest.mark.parametrize("layout", ["chw", "hwc"])
def test_area_mean_is_adaptive_pooling_bit_for_bit(factors, layout) -> None:
    """The Viewer's proxy at an integer ratio (2048^2 -> 1024^2) is summed from strided slices
    (issue 11 #5: ~3x faster than the CPU pooling kernel) and must be the pooling's float32 result
    exactly, so `image_to_rgba(image_proxy(x, s)) == rgba_proxy(x, s)` still holds."""
    import torch.nn.functional as F

    from maskbench.render.proxy import rgba_proxy
    from maskbench.widgets._viewer_core import area_mean, image_proxy

    kh, kw = factors
    g = torch.Generator().manual_seed(kh * 10 + kw)
    for trial in range(4):
        x = torch.rand(3, 24 * kh, 36 * kw, generator=g) ** (1 + 2 * trial)  # many exponents: rounding varies
        x = x.permute(1, 2, 0).contiguous().permute(2, 0, 1) if layout == "hwc" else x
        assert torch.equal(area_mean(x, (24, 36)), F.adaptive_avg_pool2d(x[None], (24, 36))[0])
        assert torch.equal(image_to_rgba(image_proxy(x, (24, 36))), rgba_proxy(x, (24, 36)))
        u8 = (x * 255).round().to(torch.uint8)
        assert torch.equal(image_to_rgba(image_proxy(u8, (24, 36))), rgba_proxy(u8, (24, 36)))
    x = torch.rand(3, 50, 70, generator=g)  # not an integer ratio: the pooling itself
    assert torch.equal(area_mean(x, (24, 36)), F.adaptive_avg_pool2d(x[None], (24, 36))[0])


@pytest.mark.parametrize("prefetched", [False, True])
def test_inpaint_panel_at_an_integer_ratio_is_the_kernels(prefetched) -> None:
    """Issue 11 #5: the inpaint panel is computed on the mask pixels only (their colours are what is
    sent); the panel equals the kernel's inpaint of the (area-mean) proxy, pixel for pixel, whether it
    was prefetched while idle or computed when the mode changed."""
    import torch.nn.functional as F

    from maskbench.widgets._viewer_core import inpaint_colours

    g = torch.Generator().manual_seed(5)
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(192.0), indexing="ij")
    image = torch.stack([yy / 127, xx / 191, torch.rand(128, 192, generator=g)])
    mask = ((yy - 60) ** 2 + (xx - 90) ** 2 < 40**2) | (torch.rand(128, 192, generator=g) > 0.97)
    v = Viewer(image, mask, max_display=96)  # (64, 96): a 2x2 area mean
    item = v._cache[0]
    if prefetched:
        item.inpaint.result(timeout=60)
    else:
        item.inpaint.cancel() or item.inpaint.result(timeout=60)
        item.inpaint = None  # as if the prefetch had not run (or failed)
    v.mode = "inpaint"
    xp = F.adaptive_avg_pool2d(image[None], (64, 96))[0]
    keep = mask[None, None].float()
    keep = F.interpolate(keep, size=(64, 96), mode="nearest-exact")[0, 0] > 0  # nearest_proxy's sampling
    assert torch.equal(item.keep, keep) and torch.equal(item.xp, xp)
    steps = v._inpaint_steps()
    expected = image_to_rgba(maskbench.inpaint(xp, ~keep, steps=steps)).numpy()
    assert np.array_equal(v._display_result(), expected) and np.array_equal(_panel(v), expected)
    assert np.array_equal(v._result, expected[keep.numpy()]) and v._result.shape == (int(keep.sum()), 4)
    assert np.array_equal(inpaint_colours(xp, keep, steps), v._result)
