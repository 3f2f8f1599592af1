"""Images to practise on: scikit-image's bundled samples, and synthetic scenes with exact ground truth.

Nothing is downloaded: the samples are files shipped inside scikit-image (imported only when a
sample is asked for), and synthetic scenes are drawn with torch from a seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from maskbench._checks import ArgumentError, ArgumentTypeError, check_int, check_number, short_repr

__all__ = ["SAMPLE_IMAGES", "sample_image", "synthetic_scene", "Scene"]

#: Largest side of a synthetic scene (a 16384 x 16384 scene already needs several GiB).
MAX_SCENE_SIDE = 16384

#: Names accepted by :func:`sample_image` (all bundled with scikit-image; no download).
SAMPLE_IMAGES: tuple[str, ...] = (
    "coins",
    "camera",
    "cell",
    "retina",
    "page",
    "astronaut",
    "microaneurysms",
    "moon",
    "horse",
    "text",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
)


def sample_image(
    name: str, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A bundled sample image as a ``(C, H, W)`` tensor in [0, 1].

    Args:
        name: one of :data:`SAMPLE_IMAGES` (e.g. ``"coins"``, ``"camera"``, ``"retina"``).
        device: where the tensor goes (default CPU).
        dtype: a floating dtype.

    Returns:
        ``(1, H, W)`` for grayscale, ``(3, H, W)`` for colour; uint8 images are divided by 255 and
        binary ones (``"horse"``) become 0.0/1.0.

    >>> sample_image("coins").shape
    torch.Size([1, 303, 384])
    >>> sample_image("astronaut").shape
    torch.Size([3, 512, 512])
    """
    if not isinstance(name, str) or name not in SAMPLE_IMAGES:
        error = ArgumentError if isinstance(name, str) else ArgumentTypeError
        raise error(f"name: expected one of {', '.join(SAMPLE_IMAGES)}; got {short_repr(name)}.", name="name")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ArgumentTypeError(
            f"dtype: expected a floating dtype (values lie in [0, 1]); got {short_repr(dtype)}. "
            "Pass e.g. torch.float32.",
            name="dtype",
        )
    import skimage.data

    arr = getattr(skimage.data, name)()
    t = torch.from_numpy(arr)
    if t.dtype == torch.bool:
        t = t.to(dtype)
    elif t.dtype == torch.uint8:
        t = t.to(dtype) / 255
    else:  # float images from scikit-image are already in [0, 1]
        t = t.to(dtype)
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)[:3]
    return t.contiguous().to(device)


@dataclass(frozen=True)
class Scene:
    """A synthetic image with its exact ground truth and a plausible model output.

    Shapes are given unbatched; with ``batch=B`` every field gains a leading ``B``.

    Attributes:
        image: ``(3, H, W)`` float32 in [0, 1] (noisy, blurred, unevenly lit).
        labels: ``(H, W)`` int64, classes ``0 .. K-1`` (0 = background), exact.
        mask: ``(H, W)`` bool, ``labels > 0``.
        probs: ``(H, W)`` float32 foreground probability (``1 - class_probs[0]``), as a decent but
            imperfect model would output: soft at boundaries, with a few false positive/negative blobs.
        class_probs: ``(K, H, W)`` float32, sums to 1 over classes.
    """

    image: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    probs: torch.Tensor
    class_probs: torch.Tensor

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={tuple(getattr(self, n).shape)}" for n in ("image", "labels", "class_probs"))
        return f"Scene({fields}, device={self.image.device})"


def synthetic_scene(
    size: int | tuple[int, int] = 256,
    *,
    num_classes: int = 3,
    batch: int | None = None,
    seed: int = 0,
    noise: float = 0.05,
    blur: float = 1.0,
    illumination: float = 0.3,
    device: torch.device | str | None = None,
) -> Scene:
    """A seeded synthetic scene: random shapes with exact labels, and a model-like probability map.

    Each foreground class gets a colour and a few shapes (ellipses, rotated rectangles, smooth
    blobs) on a dark background. The image is then blurred (Gaussian, ``blur`` pixels), lit by a
    linear gradient (brightness varies by ``illumination`` across the image) and given Gaussian
    noise (std ``noise``, which also scales a faint low-frequency texture). Drawn on CPU with a
    ``torch.Generator`` (deterministic per ``seed``), then moved to ``device``. Every class is
    present when the image is large enough for it (e.g. 64x64 with up to 8 classes).

    ``probs`` mimics a decent model: it follows the labels with soft edges, wobbles smoothly and
    makes a few confident mistakes (IoU of ``probs > 0.5`` with ``mask`` is typically 0.75-0.95).

    Args:
        size: ``H`` (square) or ``(H, W)``, each in ``[1, 16384]``.
        num_classes: K >= 2, background included.
        batch: ``None`` for one scene, or B for B different scenes stacked.
        seed: random seed.
        noise, blur, illumination: image degradations (0 disables each).
        device: where the tensors go.

    Returns:
        :class:`Scene` with ``image``, ``labels``, ``mask``, ``probs`` and ``class_probs``.

    >>> scene = synthetic_scene(64, num_classes=4, seed=1)
    >>> scene
    Scene(image=(3, 64, 64), labels=(64, 64), class_probs=(4, 64, 64), device=cpu)
    >>> sorted(scene.labels.unique().tolist())
    [0, 1, 2, 3]
    """
    if isinstance(size, (list, tuple)) and len(size) == 2:
        h, w = size
    elif isinstance(size, (list, tuple)):
        raise ArgumentError(f"size: expected H or (H, W); got {short_repr(size)}.", name="size")
    else:
        h = w = check_int(size, "size")  # the type; the range is checked per side below
    check_int(h, "size (height)", min_value=1, max_value=MAX_SCENE_SIDE)
    check_int(w, "size (width)", min_value=1, max_value=MAX_SCENE_SIDE)
    seed = check_int(seed, "seed", min_value=-(2**63), max_value=2**64 - 1)  # torch.manual_seed's range
    k = check_int(num_classes, "num_classes", min_value=2)
    noise = check_number(noise, "noise", min=0)
    blur = check_number(blur, "blur", min=0)
    illumination = check_number(illumination, "illumination", min=0)
    gen = torch.Generator().manual_seed(seed)
    n = 1 if batch is None else check_int(batch, "batch", min_value=1)
    scenes = [_one_scene(h, w, k, gen, noise, blur, illumination) for _ in range(n)]
    fields = [torch.stack(f) if batch is not None else f[0] for f in zip(*scenes)]
    image, labels, class_probs = (f.to(device) for f in fields)
    probs = 1 - class_probs.select(-3, 0)
    return Scene(image=image, labels=labels, mask=labels > 0, probs=probs, class_probs=class_probs)


def _rand(gen: torch.Generator, lo: float = 0.0, hi: float = 1.0, n: int | None = None):
    r = lo + (hi - lo) * torch.rand(1 if n is None else n, generator=gen)
    return r.item() if n is None else r


def _shape(kind: int, yy: torch.Tensor, xx: torch.Tensor, s: float, gen: torch.Generator) -> torch.Tensor:
    """One random shape as a bool (H, W) mask; coordinates are pixels, ``s`` the short side."""
    h, w = yy.shape
    cy, cx = _rand(gen, 0.12, 0.88) * h, _rand(gen, 0.12, 0.88) * w
    angle = _rand(gen, 0, math.pi)
    u = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
    v = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
    if kind == 0:  # ellipse
        a, b = _rand(gen, 0.07, 0.18) * s + 0.6, _rand(gen, 0.05, 0.14) * s + 0.6
        return (u / a) ** 2 + (v / b) ** 2 <= 1
    if kind == 1:  # rotated rectangle
        a, b = _rand(gen, 0.05, 0.15) * s + 0.6, _rand(gen, 0.04, 0.12) * s + 0.6
        return (u.abs() <= a) & (v.abs() <= b)
    # smooth blob: a few Gaussian bumps around the centre, thresholded (metaball)
    field = torch.zeros_like(yy)
    for dy, dx in (_rand(gen, -0.09, 0.09, 8) * s).view(4, 2).tolist():
        sigma = _rand(gen, 0.04, 0.07) * s + 0.7
        field += torch.exp(-((yy - cy - dy) ** 2 + (xx - cx - dx) ** 2) / (2 * sigma**2))
    return field >= 0.5


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (N, H, W) stack, replicate padding."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).to(x.device)
    y = x.unsqueeze(1)  # (N, 1, H, W)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kernel.view(1, 1, -1, 1))
    return y.squeeze(1)


def _smooth_field(h: int, w: int, n: int, gen: torch.Generator, cells: int = 5) -> torch.Tensor:
    """(n, H, W) smooth random field with unit-ish amplitude (bicubic upsampled coarse noise)."""
    coarse = torch.randn(n, 1, cells, cells, generator=gen)
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).squeeze(1)


def _one_scene(h: int, w: int, k: int, gen: torch.Generator, noise: float, blur: float, illumination: float):
    s = float(min(h, w))
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    labels = torch.zeros(h, w, dtype=torch.long)
    # paint 2-3 shapes per class (at least ~6 in all, more on elongated images), interleaved so no
    # class is always on top
    per = max(1, round(h * w / (s * s)))
    strokes = [c for c in range(1, k) for _ in range(max(2 + int(_rand(gen) < 0.5), math.ceil(6 / (k - 1))) * per)]
    for i in torch.randperm(len(strokes), generator=gen).tolist():
        labels[_shape(int(_rand(gen, 0, 3)), yy, xx, s, gen)] = strokes[i]
    for _ in range(3):  # a class hidden under others gets one more small disk, on top
        for c in range(1, k):
            if not (labels == c).any():
                cy, cx = _rand(gen, 0.1, 0.9) * h, _rand(gen, 0.1, 0.9) * w
                r = max(0.08 * s, 0.75)
                labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = c

    # colours: dark background, foreground hues spread around the wheel, bright enough to threshold
    hues = (torch.arange(k - 1) / max(k - 1, 1) + _rand(gen)) % 1.0
    rgb = torch.stack([_hsv_to_rgb(float(hh), _rand(gen, 0.45, 0.8), _rand(gen, 0.65, 0.95)) for hh in hues])
    palette = torch.cat((torch.full((1, 3), _rand(gen, 0.12, 0.25)), rgb))  # (K, 3)
    image = palette[labels].permute(2, 0, 1)  # (3, H, W)
    image = image * (1 + 2 * noise * _smooth_field(h, w, 1, gen, cells=9))  # mild texture
    image = _gaussian_blur(image, blur)
    angle = _rand(gen, 0, 2 * math.pi)
    ramp = (xx / max(w - 1, 1)) * math.cos(angle) + (yy / max(h - 1, 1)) * math.sin(angle)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min()).clamp_min(1e-6)
    image = image * (1 + illumination * (ramp - 0.5))
    image = (image + noise * torch.randn(image.shape, generator=gen)).clamp(0, 1)

    # a plausible model: logits follow a blurred (soft-edged) one-hot, wobble smoothly, and make a
    # few confident mistakes (false-positive and false-negative blobs)
    onehot = (labels[None] == torch.arange(k)[:, None, None]).float()
    soft = _gaussian_blur(onehot, max(0.8, 0.012 * s))
    logits = 6.0 * soft + 1.8 * _smooth_field(h, w, k, gen)
    bump_r = max(1.0, 0.04 * s)
    for _ in range(1 + len(strokes) // 3):  # mistakes grow with the number of objects
        fp = _bump(yy, xx, _rand(gen) * h, _rand(gen) * w, bump_r * _rand(gen, 0.7, 1.5))
        logits[int(_rand(gen, 1, k))] += 6.0 * fp  # some foreground class appears from nowhere
        fg = (labels > 0).flatten().float()
        if fg.sum() > 0:
            p = torch.multinomial(fg, 1, generator=gen).item()
            fn = _bump(yy, xx, p // w, p % w, bump_r * _rand(gen, 0.7, 1.5))
            logits[0] += 6.0 * fn  # part of an object is missed
    class_probs = torch.softmax(logits, dim=0)
    return image.float(), labels, class_probs


def _bump(yy: torch.Tensor, xx: torch.Tensor, cy: float, cx: float, r: float) -> torch.Tensor:
    return torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))


def _hsv_to_rgb(h: float, s: float, v: float) -> torch.Tensor:
    k = (torch.tensor([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
