"""Masked BCE / cross-entropy / Dice, forward + backward, vs ``(loss * mask.float()).sum() / mask.float().sum()``.

Peer: MONAI's ``MaskedLoss`` / ``MaskedDiceLoss`` when MONAI is installed (it multiplies input and
target by the mask and calls the wrapped loss, so excluded pixels still count in its mean).
On CUDA, ``torch.compile`` of the BCE step is timed too (the fused form the issue asks about).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import maskbench as mb
from benchmarks._case import grad_step, measure, wanted
from benchmarks._data import rand, rand_mask, randint, scene, size_text
from benchmarks._probes import describe_copies, mask_copies
from benchmarks._timing import Row

OPERATIONS = ("masked BCE fwd+bwd", "masked cross-entropy fwd+bwd", "Dice loss fwd+bwd")
NUM_CLASSES = 21

try:  # MONAI is optional and usually absent: the peer column says so
    from monai.losses import MaskedDiceLoss as _MonaiDice
    from monai.losses import MaskedLoss as _MonaiMasked
except ImportError:  # pragma: no cover - depends on the environment
    _MonaiDice = _MonaiMasked = None
_NO_MONAI = "MONAI MaskedLoss: not installed"


def _keep(batch: int, size: int, kind: str, device: torch.device) -> torch.Tensor:
    """The loss mask (B, H, W) bool: blobby = everything but one class's regions (an ignore region)."""
    keep = scene(batch, size).labels != 2 if kind == "blobby" else rand_mask(batch, size, size, seed=1)
    return keep.to(device)


def _bce(batch: int, size: int, kind: str, device: torch.device, quick: bool) -> list[Row]:
    if kind == "blobby":
        sc = scene(batch, size)
        x, t = torch.logit(sc.probs.clamp(1e-4, 1 - 1e-4))[:, None], sc.mask[:, None].float()
    else:
        x, t = torch.randn(batch, 1, size, size), rand_mask(batch, 1, size, size, seed=2).float()
    x, t = x.to(device).requires_grad_(), t.to(device)
    keep = _keep(batch, size, kind, device)[:, None]

    def naive() -> torch.Tensor:
        return (F.binary_cross_entropy_with_logits(x, t, reduction="none") * keep.float()).sum() / keep.float().sum()

    def ours() -> torch.Tensor:
        return mb.masked_bce_with_logits(x, t, keep)

    ours_copies = describe_copies(mask_copies(grad_step(ours, x), keep), keep)
    naive_copies = describe_copies(mask_copies(grad_step(naive, x), keep), keep)
    peer = (_NO_MONAI, None)
    if _MonaiMasked is not None:
        monai = _MonaiMasked(torch.nn.BCEWithLogitsLoss)
        peer = ("MONAI MaskedLoss(BCEWithLogitsLoss)", grad_step(lambda: monai(x, t, keep.float()), x))
    px = x.numel()
    shape = size_text(*x.shape)
    rows = measure(
        OPERATIONS[0],
        shape,
        kind,
        key="bce",
        ours=grad_step(ours, x),
        baselines={"naive (bce * mask.float()).sum() / mask.float().sum()": grad_step(naive, x)},
        peer=peer,
        bytes_moved=13 * px,
        bytes_formula="logits, target read (4 B/px), mask read (1 B/px), grad written (4 B/px): a fused fwd+bwd's minimum",
        note=f"maskbench: {ours_copies}; naive: {naive_copies}",
        device=device,
        quick=quick,
    )
    rows[0].extra["mask_copies"] = ours_copies
    if device.type == "cuda" and not quick:
        rows += _compiled_bce(x, t, keep, naive, shape, kind, device)
    return rows


def _compiled_bce(x, t, keep, naive, shape, kind, device) -> list[Row]:
    """torch.compile fuses the composite path into one kernel: the design route to >= 70% of copy bandwidth."""
    try:
        compiled = torch.compile(mb.masked_bce_with_logits)
        step = grad_step(lambda: compiled(x, t, keep), x)
        step()  # compile outside the timing
        return measure(
            OPERATIONS[0] + " (torch.compile)",
            shape,
            kind,
            key="bce_compiled",
            ours=step,
            baselines={"naive (eager)": grad_step(naive, x)},
            bytes_moved=13 * x.numel(),
            bytes_formula="as the eager row",
            device=device,
            quick=False,
        )
    except Exception as err:  # an optional extra row: report, never lose the eager rows
        print(f"  torch.compile(masked_bce_with_logits) failed: {type(err).__name__}: {err}")
        return []


def _multiclass_inputs(batch: int, size: int, kind: str, device: torch.device):
    if kind == "blobby":
        sc = scene(batch, size, num_classes=NUM_CLASSES)
        # logits that roughly follow the labels, as a half-trained model's would
        x = 4 * F.one_hot(sc.labels, NUM_CLASSES).permute(0, 3, 1, 2).float() + torch.randn(
            batch, NUM_CLASSES, size, size, generator=torch.Generator().manual_seed(0)
        )
        y = sc.labels
    else:
        x, y = 4 * rand(batch, NUM_CLASSES, size, size) - 2, randint(NUM_CLASSES, batch, size, size)
    return x.to(device).requires_grad_(), y.to(device), _keep(batch, size, kind, device)


def _multiclass(batch: int, size: int, kind: str, device: torch.device, quick: bool) -> list[Row]:
    x, y, keep = _multiclass_inputs(batch, size, kind, device)
    shape = size_text(*x.shape)
    el, px = x.numel(), y.numel()
    bytes_moved = 8 * el + 9 * px
    formula = "logits read + grad written (4 B each), labels read (8 B/px), mask read (1 B/px)"
    onehot = F.one_hot(y, NUM_CLASSES).permute(0, 3, 1, 2).float()  # for the MONAI peers only
    rows: list[Row] = []

    if wanted(OPERATIONS[1], "loss", "cross"):

        def naive_ce() -> torch.Tensor:
            return (F.cross_entropy(x, y, reduction="none") * keep.float()).sum() / keep.float().sum()

        peer = (_NO_MONAI, None)
        if _MonaiMasked is not None:
            monai_ce = _MonaiMasked(torch.nn.CrossEntropyLoss)
            peer = (
                "MONAI MaskedLoss(CrossEntropyLoss)",
                grad_step(lambda: monai_ce(x, onehot, keep[:, None].float()), x),
            )
        rows += measure(
            OPERATIONS[1],
            shape,
            kind,
            key="ce",
            ours=grad_step(lambda: mb.masked_cross_entropy(x, y, keep), x),
            baselines={"naive (ce * mask.float()).sum() / mask.float().sum()": grad_step(naive_ce, x)},
            peer=peer,
            bytes_moved=bytes_moved,
            bytes_formula=formula,
            device=device,
            quick=quick,
        )

    if wanted(OPERATIONS[2], "loss", "dice"):

        def naive_dice() -> torch.Tensor:
            m = keep[:, None].float()
            p = torch.softmax(x, 1) * m
            g = F.one_hot(y, NUM_CLASSES).permute(0, 3, 1, 2).float() * m
            inter, card = (p * g).sum((0, 2, 3)), p.sum((0, 2, 3)) + g.sum((0, 2, 3))
            return (1 - 2 * inter / card.clamp_min(1e-6)).mean()

        peer = (_NO_MONAI.replace("MaskedLoss", "MaskedDiceLoss"), None)
        if _MonaiDice is not None:
            monai_dice = _MonaiDice(softmax=True, to_onehot_y=True)
            peer = (
                "MONAI MaskedDiceLoss(softmax, to_onehot_y)",
                grad_step(lambda: monai_dice(x, y[:, None], keep[:, None].float()), x),
            )
        rows += measure(
            OPERATIONS[2],
            shape,
            kind,
            key="dice",
            ours=grad_step(lambda: mb.dice_loss(x, y, keep[:, None]), x),
            baselines={"naive softmax * mask.float(), one_hot, sums": grad_step(naive_dice, x)},
            peer=peer,
            bytes_moved=bytes_moved,
            bytes_formula=formula,
            device=device,
            quick=quick,
        )
    return rows


def cases(device: torch.device, quick: bool) -> list[Row]:
    bce_size, mc_size = ((2, 64), (2, 64)) if quick else ((8, 512), (4, 512))
    rows: list[Row] = []
    for kind in ("blobby", "rand>0.5"):
        if wanted(OPERATIONS[0], "loss", "bce"):
            rows += _bce(*bce_size, kind, device, quick)
        if wanted(*OPERATIONS[1:], "loss"):
            rows += _multiclass(*mc_size, kind, device, quick)
    return rows
