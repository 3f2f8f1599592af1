"""maskbench.data: bundled sample images and synthetic scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskbench import SAMPLE_IMAGES, Scene, sample_image, synthetic_scene


def test_sample_images_include_the_required_ones() -> None:
    assert {"coins", "camera", "cell", "retina", "page"} <= set(SAMPLE_IMAGES)


@pytest.mark.parametrize("name", ["coins", "retina", "horse", "page"])
def test_sample_image_matches_skimage(name, device) -> None:
    import skimage.data

    ref = getattr(skimage.data, name)()
    img = sample_image(name, device=device)
    assert img.device.type == device.type and img.dtype == torch.float32
    expected = ref.astype(np.float32) / (1 if ref.dtype == bool else 255)
    expected = expected[None] if expected.ndim == 2 else expected.transpose(2, 0, 1)
    np.testing.assert_allclose(img.cpu().numpy(), expected, rtol=1e-6)
    assert 0 <= img.min() and img.max() <= 1


def test_every_sample_image_loads_offline() -> None:
    # scikit-image raises ModuleNotFoundError (pooch) for images it would have to download
    for name in SAMPLE_IMAGES:
        img = sample_image(name, dtype=torch.float16)
        assert img.ndim == 3 and img.shape[0] in (1, 3) and img.dtype == torch.float16, name


def test_sample_image_errors() -> None:
    with pytest.raises(ValueError, match=r"name: expected one of coins, camera, .*; got 'lena'"):
        sample_image("lena")
    with pytest.raises(TypeError, match=r"dtype: expected a floating dtype"):
        sample_image("coins", dtype=torch.uint8)


def test_scene_shapes_dtypes_and_consistency(device) -> None:
    scene = synthetic_scene((40, 56), num_classes=4, device=device)
    assert isinstance(scene, Scene)
    assert scene.image.shape == (3, 40, 56) and scene.image.dtype == torch.float32
    assert scene.labels.shape == (40, 56) and scene.labels.dtype == torch.int64
    assert scene.class_probs.shape == (4, 40, 56) and scene.class_probs.dtype == torch.float32
    assert scene.probs.shape == (40, 56) and scene.probs.dtype == torch.float32
    assert all(t.device.type == device.type for t in (scene.image, scene.labels, scene.probs, scene.mask))
    assert 0 <= scene.image.min() and scene.image.max() <= 1
    assert 0 <= scene.probs.min() and scene.probs.max() <= 1
    assert torch.equal(scene.mask, scene.labels > 0)
    torch.testing.assert_close(scene.class_probs.sum(0), torch.ones(40, 56, device=device))
    torch.testing.assert_close(scene.probs, 1 - scene.class_probs[0])
    assert "labels=(40, 56)" in repr(scene)


def test_scene_is_deterministic_per_seed() -> None:
    a, b, c = synthetic_scene(48, seed=3), synthetic_scene(48, seed=3), synthetic_scene(48, seed=4)
    for name in ("image", "labels", "probs", "class_probs"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.labels, c.labels)


@pytest.mark.parametrize("size, k", [(64, 3), (48, 2), (64, 8), ((50, 120), 5), (96, 3)])
def test_scene_has_every_class_and_a_plausible_model(size, k) -> None:
    for seed in range(4):
        scene = synthetic_scene(size, num_classes=k, seed=seed)
        assert scene.labels.unique().tolist() == list(range(k)), (size, k, seed)
        pred = scene.probs > 0.5
        iou = ((pred & scene.mask).sum() / (pred | scene.mask).sum()).item()
        assert 0.6 <= iou <= 0.98, (size, k, seed, iou)  # mostly right, not the label itself
        # soft, not binary: a real share of pixels is uncertain, and mostly near boundaries
        assert ((scene.probs > 0.1) & (scene.probs < 0.9)).float().mean() > 0.02
        # probabilities rank foreground above background
        assert scene.probs[scene.mask].mean() > scene.probs[~scene.mask].mean() + 0.5
        # the image carries the labels too: foreground is brighter than background on average
        gray = scene.image.mean(0)
        assert gray[scene.mask].mean() > gray[~scene.mask].mean() + 0.1


def test_scene_argmax_of_class_probs_is_mostly_the_label() -> None:
    scene = synthetic_scene(64, num_classes=5, seed=0)
    acc = (scene.class_probs.argmax(0) == scene.labels).float().mean().item()
    assert 0.8 < acc < 1.0


def test_scene_batch_and_degradations(device) -> None:
    batch = synthetic_scene(32, batch=3, seed=1, device=device)
    assert batch.image.shape == (3, 3, 32, 32) and batch.labels.shape == (3, 32, 32)
    assert batch.class_probs.shape == (3, 3, 32, 32) and batch.probs.shape == (3, 32, 32)
    assert not torch.equal(batch.labels[0], batch.labels[1])  # different scenes
    clean = synthetic_scene(32, seed=1, noise=0, blur=0, illumination=0)
    # without degradations each class is one flat colour
    for cls in range(3):
        pixels = clean.image[:, clean.labels == cls]
        assert torch.allclose(pixels.std(1), torch.zeros(3), atol=0.05), cls
    noisy = synthetic_scene(32, seed=1, noise=0.2)
    assert not torch.equal(noisy.image, synthetic_scene(32, seed=1).image)
    assert torch.equal(noisy.labels, synthetic_scene(32, seed=1).labels)  # labels do not depend on noise
    tiny = synthetic_scene(1, num_classes=2)
    assert tiny.image.shape == (3, 1, 1)


def test_scene_errors() -> None:
    with pytest.raises(ValueError, match=r"num_classes: expected an int >= 2"):
        synthetic_scene(16, num_classes=1)
    with pytest.raises(ValueError, match=r"size \(height\): expected an int >= 1"):
        synthetic_scene(0)
    with pytest.raises(ValueError, match=r"noise: expected a number >= 0; got -1"):
        synthetic_scene(16, noise=-1)
    with pytest.raises(ValueError, match=r"batch: expected an int >= 1"):
        synthetic_scene(16, batch=0)


# issue 10 regressions ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2.5, "64", None, (64,), (64, 64, 3)])
def test_scene_bad_size_names_size_issue10_13(size) -> None:
    # size=2.5 raised "TypeError: 'float' object is not iterable"
    from maskbench import MaskbenchError

    with pytest.raises(MaskbenchError, match=r"^size"):
        synthetic_scene(size)


def test_scene_list_size_and_bad_degradation_types_issue10_13() -> None:
    from maskbench import MaskbenchError

    assert synthetic_scene([16, 24], seed=0).image.shape == (3, 16, 24)
    with pytest.raises(MaskbenchError, match=r"^noise: expected a number"):
        synthetic_scene(16, noise="0.1")
    with pytest.raises(MaskbenchError, match=r"^blur: expected a finite number"):
        synthetic_scene(16, blur=float("nan"))


def test_scene_huge_size_and_bad_seed_are_named_issue10_11() -> None:
    with pytest.raises(ValueError, match=r"^size \(height\): expected an int <= 16384"):
        synthetic_scene(10**400)
    with pytest.raises(TypeError, match=r"^seed: expected an int"):
        synthetic_scene(16, seed="x")
