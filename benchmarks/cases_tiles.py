"""Level-of-detail tiles (issue 12, ``maskbench.render.tiles``): the pyramid, one tile per level, label tiles.

CPU only (tiles are numpy arrays the widgets send). Full run: 8192^2 RGB uint8, the issue's size;
``--quick``: 1024^2. Baselines are the straightforward ways, measured in the same run:

* pyramid build: a float ``avg_pool2d`` pyramid (the recipe's "area-averaged pyramid", 1.5 s at
  8192^2) vs ``ImagePyramid`` (exact uint16 2x2 sums, a band of rows at a time);
* one image tile of level k: area-averaging the tile's full-resolution region on the fly vs a
  crop of the lazily built level;
* ``label_tile(reduce="max")`` of level k (computed from the full map on every call, no pyramid)
  vs numpy's ``region.reshape(h, s, w, s).max(axis=(1, 3))``.

The "blobby" images/labels come from ``synthetic_scene`` at 1024^2 (repeated up, uint8); "rand>0.5"
are uniform random pixels / a ``rand() > 0.5`` mask.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks._case import measure, wanted
from benchmarks._data import rand_mask, scene, size_text
from benchmarks._timing import Row
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import TILE, label_tile, level_count, tile_box, tile_grid

OPERATIONS = (
    "tiles: pyramid build (all levels)",
    "tiles: one image tile (level k)",
    "tiles: label_tile max (level k)",
)
_KINDS = ("blobby", "rand>0.5")


def _inputs(size: int, kind: str) -> tuple[np.ndarray, torch.Tensor]:
    """``(size, size, 3)`` uint8 image (numpy, as a user has it) and a ``(size, size)`` uint8 label map."""
    if kind == "blobby":
        base = min(size, 1024)
        sc = scene(1, base)
        rep = size // base
        img = (sc.image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        img = np.repeat(np.repeat(img, rep, axis=0), rep, axis=1)
        lab = sc.labels[0].to(torch.uint8).repeat_interleave(rep, 0).repeat_interleave(rep, 1).contiguous()
        return img, lab
    img = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return img, rand_mask(size, size, seed=1).to(torch.uint8)


def float_pyramid(img: np.ndarray) -> list[torch.Tensor]:
    """The baseline pyramid: the image as float, ``avg_pool2d`` by 2 per level, each level to uint8."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    out = []
    while max(x.shape[-2:]) > TILE:
        x = F.avg_pool2d(x, 2, ceil_mode=True)
        out.append(x[0].round().to(torch.uint8).permute(1, 2, 0).contiguous())
    return out


def area_tile(img: torch.Tensor, shape, k: int, row: int, col: int) -> np.ndarray:
    """The baseline tile: the tile's full-resolution region averaged on the fly, as RGBA."""
    s = 1 << k
    r0, r1, c0, c1 = tile_box(shape, k, row, col)
    region = img[r0 * s : r1 * s, c0 * s : c1 * s].permute(2, 0, 1)[None].float()
    px = F.avg_pool2d(region, s, ceil_mode=True)[0].round().to(torch.uint8).permute(1, 2, 0)
    out = np.empty((*px.shape[:2], 4), np.uint8)
    out[..., :3], out[..., 3] = px.numpy(), 255
    return out


def numpy_block_max(lab: np.ndarray, shape, k: int, row: int, col: int) -> np.ndarray:
    s = 1 << k
    r0, r1, c0, c1 = tile_box(shape, k, row, col)
    region = lab[r0 * s : r1 * s, c0 * s : c1 * s]
    return region.reshape(r1 - r0, s, c1 - c0, s).max(axis=(1, 3))


def cases(device: torch.device, quick: bool) -> list[Row]:
    if device.type != "cpu" or not wanted(*OPERATIONS, "tiles"):
        return []
    size = 1024 if quick else 8192
    shape = (size, size)
    rows: list[Row] = []
    for kind in _KINDS:
        img, lab = _inputs(size, kind)
        if wanted(OPERATIONS[0], "tiles", "pyramid"):

            def build() -> ImagePyramid:
                p = ImagePyramid(img)
                p.level(p.levels - 1)
                return p

            p = build()
            rows += measure(
                OPERATIONS[0],
                size_text(size, size, 3),
                kind,
                key="tiles_pyramid",
                ours=build,
                baselines={"float avg_pool2d pyramid": lambda: float_pyramid(img)},
                note=f"levels 1..{p.levels - 1} add {100 * (p.nbytes - img.nbytes) / img.nbytes:.0f}% of the image's bytes",
                check_sync=False,
                slow=True,
                device=device,
                quick=quick,
            )
        pyramid = ImagePyramid(img)
        pyramid.level(pyramid.levels - 1)
        timg, lab_np = torch.from_numpy(img), lab.numpy()
        for k in range(level_count(shape)):
            r, c = (n // 2 for n in tile_grid(shape, k))  # the centre tile: full 2^k blocks
            where = f"{size_text(size, size)} L{k}"
            if wanted(OPERATIONS[1], "tiles", "image tile"):
                rows += measure(
                    OPERATIONS[1],
                    where,
                    kind,
                    key="tiles_image_tile",
                    ours=lambda k=k, r=r, c=c: pyramid.tile(k, r, c),
                    baselines={
                        "area mean of the region on the fly": lambda k=k, r=r, c=c: area_tile(timg, shape, k, r, c)
                    },
                    note=f"reads {(TILE << k) ** 2 * 3 / 2**20:.2f} MiB for the baseline",
                    check_sync=False,
                    device=device,
                    quick=quick,
                )
            if wanted(OPERATIONS[2], "tiles", "label"):
                rows += measure(
                    OPERATIONS[2],
                    where,
                    kind,
                    key="tiles_label_max",
                    ours=lambda k=k, r=r, c=c: label_tile(lab, k, r, c),
                    baselines={"numpy reshape-max": lambda k=k, r=r, c=c: numpy_block_max(lab_np, shape, k, r, c)},
                    note=f"{(TILE << k) ** 2 / 2**20:.2f} M labels read per tile",
                    check_sync=False,
                    device=device,
                    quick=quick,
                )
    return rows
