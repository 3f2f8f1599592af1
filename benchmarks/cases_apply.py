"""apply_mask (bool, weighted, mean fill, inpaint) and assign_where vs the plain expressions."""

from __future__ import annotations

import torch

import maskbench as mb
from benchmarks._case import measure, wanted
from benchmarks._data import rand, rand_mask, scene, size_text
from benchmarks._timing import Row

OPERATIONS = (
    "apply_mask bool, fill 0",
    "apply_mask weighted",
    "apply_mask fill='mean'",
    "apply_mask fill='inpaint'",
    "assign_where",
)


def _inputs(batch: int, size: int, kind: str, device: torch.device):
    """image (B, 3, S, S) float32, bool mask (B, 1, S, S), weight (B, 1, S, S) in [0, 1]."""
    if kind == "blobby":
        sc = scene(batch, size)
        # the scene's soft probabilities are a realistic weight mask (soft edges, mostly 0 or 1)
        image, mask, weight = sc.image, sc.mask[:, None], sc.probs[:, None]
    else:
        image, mask, weight = rand(batch, 3, size, size), rand_mask(batch, 1, size, size), rand(batch, 1, size, size)
    return image.to(device), mask.to(device), weight.to(device)


def _naive_mean_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.float()
    mean = (image * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True).clamp_min(1)
    return torch.where(mask, image, mean)


def _apply_rows(batch: int, size: int, kind: str, device: torch.device, quick: bool) -> list[Row]:
    image, mask, weight = _inputs(batch, size, kind, device)
    shape = size_text(batch, 3, size, size)
    px, el = batch * size * size, batch * 3 * size * size
    slow = size >= 2048
    rows: list[Row] = []
    common = dict(device=device, quick=quick, slow=slow)
    if wanted(OPERATIONS[0], "apply"):
        rows += measure(
            OPERATIONS[0],
            shape,
            kind,
            key="apply_bool",
            ours=lambda: mb.apply_mask(image, mask),
            baselines={
                "image * mask": lambda: image * mask,
                "torch.where(mask, image, 0)": lambda: torch.where(mask, image, 0.0),
                "image.masked_fill(~mask, 0)": lambda: image.masked_fill(~mask, 0.0),
            },
            bytes_moved=8 * el + px,
            bytes_formula="image read + output written (4 B each), mask read (1 B/px)",
            **common,
        )
    if wanted(OPERATIONS[1], "apply"):
        rows += measure(
            OPERATIONS[1],
            shape,
            kind,
            key="apply_weighted",
            ours=lambda: mb.apply_mask(image, weight),
            baselines={"image * w": lambda: image * weight},
            bytes_moved=8 * el + 4 * px,
            bytes_formula="image read + output written (4 B each), weight read (4 B/px)",
            note="fill 0; ours also keeps NaN/Inf under w == 0 out of the result",
            **common,
        )
    if wanted(OPERATIONS[2], "apply"):
        rows += measure(
            OPERATIONS[2],
            shape,
            kind,
            key="apply_mean",
            ours=lambda: mb.apply_mask(image, mask, fill="mean"),
            baselines={"mean of image * m.float(), torch.where": lambda: _naive_mean_fill(image, mask)},
            bytes_moved=8 * el + px,
            bytes_formula="minimum traffic: image read once, output written, mask read",
            **common,
        )
    if wanted(OPERATIONS[3], "apply", "inpaint"):
        rows += measure(
            OPERATIONS[3],
            shape,
            kind,
            key="apply_inpaint",
            ours=lambda: mb.apply_mask(image, mask, fill="inpaint"),
            baselines={"image * mask (zero fill)": lambda: image * mask},
            note="not the same result: the ratio is the cost of inpainting relative to a plain zero fill",
            **common,
        )
    return rows


def _inpaint_2048(quick: bool, device: torch.device) -> list[Row]:
    """Issue 11's scale target: inpaint one 3x2048^2 image (blobby holes) vs a zero fill of it."""
    size = 256 if quick else 2048
    image, mask, _ = _inputs(1, size, "blobby", device)
    return measure(
        OPERATIONS[3],
        size_text(3, size, size),
        "blobby",
        key="inpaint_2048",
        ours=lambda: mb.inpaint(image[0], mask[0]),
        baselines={"image * mask (zero fill)": lambda: image[0] * mask[0]},
        note="the issue-11 scale target: inpaint at most ~20x a zero fill of the same tensor",
        device=device,
        quick=quick,
        slow=True,
    )


def _assign_rows(batch: int, size: int, kind: str, device: torch.device, quick: bool) -> list[Row]:
    dst, cond, _ = _inputs(batch, size, kind, device)
    src = dst.flip(-1).contiguous()
    full = cond.expand_as(dst)  # `dst[cond]` needs the full shape

    def index_put() -> torch.Tensor:
        out = dst.clone()  # out of place, like assign_where
        out[full] = src[full]
        return out

    el, px = dst.numel(), batch * size * size
    return measure(
        OPERATIONS[4],
        size_text(batch, 3, size, size),
        kind,
        key="assign",
        ours=lambda: mb.assign_where(dst, src, cond),
        baselines={"out = dst.clone(); out[cond] = src[cond]": index_put},
        peer=("torch.where(cond, src, dst)", lambda: torch.where(cond, src, dst)),
        bytes_moved=12 * el + px,
        bytes_formula="dst, src read + output written (4 B each), cond read (1 B/px)",
        note="baseline syncs on CUDA (boolean indexing)",
        device=device,
        quick=quick,
    )


def cases(device: torch.device, quick: bool) -> list[Row]:
    sizes = [(2, 64), (1, 256)] if quick else [(8, 512), (1, 4096)]
    rows: list[Row] = []
    for batch, size in sizes:
        for kind in ("blobby", "rand>0.5"):
            rows += _apply_rows(batch, size, kind, device, quick)
    if wanted(OPERATIONS[3], "apply", "inpaint"):
        rows += _inpaint_2048(quick, device)
    if wanted(OPERATIONS[4], "assign"):
        batch, size = sizes[0]
        for kind in ("blobby", "rand>0.5"):
            rows += _assign_rows(batch, size, kind, device, quick)
    return rows
