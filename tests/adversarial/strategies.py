"""Hypothesis strategies for hostile but valid kernel inputs (issue 10, "our own adversarial suite").

Values come from a drawn seed (fast: one ``torch.Generator`` per tensor, not one draw per element)
with special values (NaN, +-Inf, -0.0, 0, 1) sprinkled in at drawn positions. Layouts cover what a
caller can hand us without noticing: contiguous, transposed (``.mT`` of a contiguous buffer),
sliced with a step, channels-last memory format, and expanded (stride-0) dims. Shapes include
0-sized dims, 1x1 and odd sizes. Every test using these runs with ``derandomize=True`` (see
``SEEDED``), so reruns draw the same cases.
"""

from __future__ import annotations

import hashlib

import torch
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INTS = (torch.uint8, torch.int64)
DTYPES = FLOATS + INTS + (torch.bool,)
SPECIALS = (float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1.0)
LAYOUTS = ("contiguous", "transposed", "sliced", "channels_last", "expanded")

#: sizes of a spatial dim: empty, one, odd, even
SIDES = st.sampled_from((0, 1, 1, 2, 3, 5, 7, 8))
NONEMPTY_SIDES = st.sampled_from((1, 1, 2, 3, 5, 7, 8))
ANY_DTYPE = st.sampled_from(DTYPES)
CHANNELS = st.sampled_from((1, 2, 3))


def seeded(max_examples: int, **kwargs) -> settings:
    """Settings for an adversarial test: derandomized (reruns agree), no deadline, small budget."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),  # no shrinking: bounded time in CI, reports show the draws
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        **kwargs,
    )


def _values(shape: tuple[int, ...], dtype: torch.dtype, seed: int, *, special: float, low, high):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) < 0.5
    if dtype in INTS:  # [low, high] inclusive; by default all of uint8, or [-3, 3]
        lo = (
            (0 if dtype == torch.uint8 else -3)
            if low is None
            else max(int(low), 0 if dtype == torch.uint8 else -(2**62))
        )
        hi = (255 if dtype == torch.uint8 else 3) if high is None else int(high)
        return torch.randint(lo, hi + 1, shape, generator=g, dtype=torch.int64).to(dtype)
    low, high = -3.0 if low is None else low, 3.0 if high is None else high
    x = torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low
    if special > 0 and x.numel():
        pick = torch.rand(shape, generator=g) < special
        which = torch.randint(0, len(SPECIALS), shape, generator=g)
        x = torch.where(pick, torch.tensor(SPECIALS, dtype=torch.float64)[which], x)
    return x.to(dtype)


def relayout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as ``x`` in another memory layout (``expanded`` only where a dim is 1 or repeats)."""
    if layout == "transposed" and x.ndim >= 2:
        return x.mT.contiguous().mT
    if layout == "sliced" and x.ndim >= 1:
        big = torch.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if layout == "channels_last" and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


@st.composite
def tensors(
    draw,
    shape: tuple[int, ...],
    dtype: torch.dtype | st.SearchStrategy = ANY_DTYPE,
    *,
    special: float | None = None,
    low: float | None = None,
    high: float | None = None,
    layouts=LAYOUTS,
) -> torch.Tensor:
    """A tensor of ``shape`` in a drawn dtype and layout, with NaN/Inf/-0.0 where ``special`` > 0.

    Values lie in ``[low, high]`` (floats default to [-3, 3]; integers are inclusive, uint8 defaults
    to all of [0, 255] and int64 to [-3, 3]).
    """
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    seed = draw(st.integers(0, 2**31 - 1))
    if special is None:
        special = draw(st.sampled_from((0.0, 0.0, 0.2)))
    layout = draw(st.sampled_from(layouts))
    if layout == "expanded" and len(shape) >= 1:
        dim = draw(st.integers(0, len(shape) - 1))
        one = list(shape)
        one[dim] = 1
        return _values(tuple(one), dtype, seed, special=special, low=low, high=high).expand(shape)
    return relayout(_values(shape, dtype, seed, special=special, low=low, high=high), layout)


@st.composite
def image_shapes(draw, *, batched: bool | None = None, channels=CHANNELS, sides=SIDES):
    """``(C, H, W)`` or ``(B, C, H, W)``; returns ``(shape, batched)``."""
    batched = draw(st.booleans()) if batched is None else batched
    c, h, w = draw(channels), draw(sides), draw(sides)
    if batched:
        return (draw(st.sampled_from((1, 2, 3))), c, h, w), True
    return (c, h, w), False


def mask_shapes(image_shape: tuple[int, ...], batched: bool, *, channels: bool = True):
    """Every mask shape the spatial-mask convention accepts for an image (see ``spatial_mask_as_4d``)."""
    if batched:
        b, c, h, w = image_shape
        out = [(h, w), (1, h, w), (b, h, w), (b, 1, h, w), (1, 1, h, w)]
        if channels:
            out.append((b, c, h, w))
    else:
        c, h, w = image_shape
        out = [(h, w), (1, h, w)] + ([(c, h, w)] if channels else [])
    return list(dict.fromkeys(out))


@st.composite
def masks(draw, shape: tuple[int, ...], kind: str | None = None, **kwargs) -> torch.Tensor:
    """A bool mask, or a float weight in [0, 1] (with exact 0 and 1 among the values), of ``shape``."""
    kind = kind or draw(st.sampled_from(("bool", "float")))
    if kind == "bool":
        return draw(tensors(shape, torch.bool, **kwargs))
    dtype = draw(st.sampled_from((torch.float32, torch.float64)))
    w = draw(tensors(shape, dtype, special=0.0, low=-0.6, high=1.6, **kwargs))
    return w.clamp(0, 1)  # ~25% exactly 0, ~25% exactly 1, the rest inside


@st.composite
def image_and_mask(draw, *, dtypes=FLOATS, kind: str | None = None, channels: bool = True, **shape_kwargs):
    """``(image, mask, batched)`` of matching, accepted shapes."""
    shape, batched = draw(image_shapes(**shape_kwargs))
    image = draw(tensors(shape, st.sampled_from(dtypes)))
    mshape = draw(st.sampled_from(mask_shapes(shape, batched, channels=channels)))
    return image, draw(masks(mshape, kind)), batched


def fingerprint(t: torch.Tensor) -> tuple:
    """What must not change when a tensor is passed to a public function: its values, the whole
    storage it views (a write outside the view counts), shape, strides, dtype, version counter and grad."""
    logical = torch.empty(t.numel(), dtype=t.dtype).copy_(t.detach().reshape(-1)).view(torch.uint8)
    storage = torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage())
    digest = hashlib.sha256(logical.numpy().tobytes())
    digest.update(storage.numpy().tobytes())
    grad = None if t.grad is None else fingerprint(t.grad)
    return (digest.hexdigest(), tuple(t.shape), t.stride(), t.storage_offset(), t.dtype, t._version, grad)


def all_tensors(obj, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor inside args/kwargs (lists, tuples, dicts, dataclass-like objects), with a path."""
    if isinstance(obj, torch.Tensor):
        return [(prefix or "arg", obj)]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in all_tensors(v, f"{prefix}[{k!r}]")]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in all_tensors(v, f"{prefix}[{i}]")]
    return []
