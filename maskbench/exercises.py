"""Checked exercises for the notebooks: ``check(name, answer, **data)`` says right or wrong, and why.

Each notebook asks a question, the student writes ``answer = ...`` and runs
``check("03.per_image_iou", answer, pred=pred, target=truth)``. The expected value is computed
here from the notebook's own data (never typed in), so the check holds for any run and any size.
It prints one line and returns ``True`` / ``False``; the hidden solution cells ``assert`` it, which
is how the test suite knows each solution is right.

Needs only torch (no Jupyter stack), like the rest of the core package. Not exported from
``maskbench``: use ``from maskbench.exercises import check``.

>>> import torch
>>> from maskbench.exercises import check
>>> pred = torch.tensor([[True, False], [True, True]])
>>> check("03.per_image_iou", 1.0, pred=pred, target=pred)
right: the mean of the per-image IoUs is 1.0000.
True
>>> check("03.per_image_iou", ..., pred=pred, target=pred)
not answered yet: replace ... with your answer and run the cell again.
False
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from maskbench._checks import ArgumentError, check_choice
from maskbench.kernels.apply import apply_mask
from maskbench.kernels.assign import assign_where
from maskbench.kernels.metrics import iou

__all__ = ["CAST_CASES", "EXERCISES", "cast_raises", "check"]

Verdict = tuple[bool, str]
#: name -> checker(answer, **data) -> (right, why)
EXERCISES: dict[str, Callable[..., Verdict]] = {}


def _exercise(name: str) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        EXERCISES[name] = fn
        return fn

    return register


def check(name: str, answer: object, **data: object) -> bool:
    """Check ``answer`` to exercise ``name`` against the notebook's ``data``; print why, return the verdict.

    Args:
        name: the exercise, e.g. ``"01.fill_mean"`` (see :data:`EXERCISES`).
        answer: the student's answer; ``...`` (or ``None``) means "not answered yet".
        **data: the tensors the exercise is about, as named in the notebook's check cell.

    Returns:
        ``True`` when the answer is right.

    Raises:
        ArgumentError: unknown exercise name, or the notebook passed data the exercise does not take.
    """
    check_choice(name, "name", EXERCISES)
    if answer is ... or answer is None:
        print("not answered yet: replace ... with your answer and run the cell again.")
        return False
    checker = EXERCISES[name]
    try:
        inspect.signature(checker).bind(answer, **data)
    except TypeError as err:
        raise ArgumentError(
            f"data: exercise {name!r} cannot take {sorted(data)} ({err}); pass the names its cell shows."
        ) from err
    try:
        ok, why = checker(answer, **data)
    except (TypeError, ValueError, RuntimeError, IndexError) as err:  # a malformed answer, not a crash
        ok, why = False, f"the answer could not be checked ({type(err).__name__}: {err})."
    print(("right: " if ok else "not yet: ") + why)
    return ok


# ---------------------------------------------------------------- helpers


def _as_tensor(answer: object, like: torch.Tensor) -> torch.Tensor | str:
    """The answer as a tensor shaped like ``like``, or a message saying why it is not."""
    if not isinstance(answer, torch.Tensor):
        return f"expected a tensor of shape {tuple(like.shape)}; got a {type(answer).__name__}."
    if tuple(answer.shape) != tuple(like.shape):
        return f"expected shape {tuple(like.shape)}; got {tuple(answer.shape)}."
    return answer


def _number(answer: object) -> float | str:
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return float(answer)
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return float(answer)
    return f"expected one number (a float or a 0-d tensor); got {type(answer).__name__}."


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-6, equal_nan=True)


# ---------------------------------------------------------------- 00 tour


@_exercise("00.replaced_region")
def _replaced_region(answer: object, *, mask: torch.Tensor, mode: str) -> Verdict:
    """The (H, W) bool region whose pixels the Viewer replaces in ``mode``."""
    expected = mask if mode in ("remove", "mean", "inpaint") else ~mask
    got = _as_tensor(answer, expected)
    if isinstance(got, str):
        return False, got
    if got.dtype != torch.bool:
        return False, f"expected a bool mask; got {got.dtype}."
    if torch.equal(got, expected):
        return True, f"in mode {mode!r} the Viewer replaces {'the mask' if expected is mask else '~mask'}."
    if torch.equal(got, ~expected):
        return False, (
            f"that is the region mode {mode!r} leaves untouched. 'keep' keeps the mask and fills ~mask; "
            "'remove', 'mean' and 'inpaint' fill the mask itself."
        )
    return False, "neither the mask nor its complement: the Viewer replaces one of the two."


@_exercise("00.iou_at_half")
def _iou_at_half(answer: object, *, probs: torch.Tensor, target: torch.Tensor) -> Verdict:
    got = _number(answer)
    if isinstance(got, str):
        return False, got
    expected = float(iou(probs > 0.5, target))
    if abs(got - expected) < 1e-4:
        return True, f"IoU(probs > 0.5, target) = {expected:.4f}."
    if abs(got - float(iou(probs >= 0.5, target))) < 1e-4:
        return False, "that is the IoU of probs >= 0.5; maskbench's foreground is strictly above t."
    if not 0 <= got <= 1:
        return False, "an IoU lies in [0, 1]."
    return False, f"{got:.4f} is not IoU(probs > 0.5, target): threshold with mb.threshold, then mb.iou(mask, target)."


# ---------------------------------------------------------------- 01 apply and fill


@_exercise("01.fill_mean")
def _fill_mean(answer: object, *, image: torch.Tensor, keep: torch.Tensor) -> Verdict:
    """(C, H, W) image with the removed pixels set to the per-channel mean of the kept ones."""
    expected = apply_mask(image, keep, fill="mean")
    got = _as_tensor(answer, expected)
    if isinstance(got, str):
        return False, got
    if _close(got, expected):
        return True, "the removed pixels hold the per-channel mean of the kept pixels, the kept ones are untouched."
    if not torch.equal(got[:, keep], image[:, keep]):
        return False, "the kept pixels changed: only the pixels where keep is False get the fill."
    whole = torch.where(keep, image, image.mean((-2, -1), keepdim=True))
    if _close(got, whole):
        return False, "you filled with the mean of the whole image; the fill is the mean of the KEPT pixels only."
    if _close(got, torch.where(keep, image, image[:, keep].mean())):
        return False, "one mean over all channels: take the mean per channel, shape (C, 1, 1)."
    return False, "the removed pixels do not hold the per-channel mean of the kept pixels."


@_exercise("01.batch_multiply")
def _batch_multiply(answer: object, *, images: torch.Tensor, keep: torch.Tensor) -> Verdict:
    """(B, C, H, W) images * a (B, H, W) mask, with the mask's batch axis on the batch."""
    expected = apply_mask(images, keep)
    got = _as_tensor(answer, expected)
    if isinstance(got, str):
        return False, got
    if _close(got, expected):
        return True, "the mask's batch axis meets the images' batch axis (keep[:, None] is (B, 1, H, W))."
    if images.shape[0] == images.shape[1] and _close(got, images * keep):
        return False, "images * keep aligns from the right: the mask's batch axis landed on the channels."
    return False, "not the images with each image's own mask applied; try keep[:, None]."


# ---------------------------------------------------------------- 02 conditional assignment


@_exercise("02.max_label")
def _max_label(answer: object, *, labels: torch.Tensor, other: torch.Tensor, disputed: torch.Tensor) -> Verdict:
    """labels, with max(labels, other) where disputed; dtype unchanged."""
    expected = torch.where(disputed, torch.maximum(labels, other), labels)
    got = _as_tensor(answer, expected)
    if isinstance(got, str):
        return False, got
    if got.dtype != labels.dtype:
        return False, f"the label map must stay {labels.dtype}; got {got.dtype}."
    if torch.equal(got, expected):
        return True, "the disputed pixels hold the larger label, the others are untouched, the dtype is kept."
    if not torch.equal(got[~disputed], labels[~disputed]):
        return False, "pixels outside `disputed` changed."
    return False, "the disputed pixels do not hold torch.maximum(labels, other)."


#: exercise 02.which_raise: case -> (dst, src) factories; ``assign_where(dst, src, [True, False])``
CAST_CASES: dict[str, tuple[Callable[[], torch.Tensor], Callable[[], object]]] = {
    "float64 0.1 into float32": (lambda: torch.zeros(2), lambda: torch.tensor([0.1, 0.1], dtype=torch.float64)),
    "int64 2**24 + 1 into float32": (lambda: torch.zeros(2), lambda: torch.tensor([2**24 + 1, 1])),
    "2.5 into int64": (lambda: torch.zeros(2, dtype=torch.long), lambda: 2.5),
    "3.0 into int64": (lambda: torch.zeros(2, dtype=torch.long), lambda: 3.0),
    "300 into uint8": (lambda: torch.zeros(2, dtype=torch.uint8), lambda: 300),
}


def cast_raises() -> dict[str, bool]:
    """For each case of ``02.which_raise``: does ``assign_where`` raise for it (run, not typed)?"""
    out = {}
    for case, (dst, src) in CAST_CASES.items():
        try:
            assign_where(dst(), src(), torch.tensor([True, False]))
        except ValueError:
            out[case] = True
        else:
            out[case] = False
    return out


@_exercise("02.which_raise")
def _which_raise(answer: object) -> Verdict:
    """A dict case -> True (assign_where raises) / False (it assigns)."""
    truth = cast_raises()
    if isinstance(answer, dict) and any(v is ... for v in answer.values()):
        return False, "some cases are still ...: put True (raises) or False (assigns) for each."
    if not isinstance(answer, dict) or set(answer) != set(truth):
        return False, f"expected a dict with the keys {sorted(truth)}, each True (raises) or False."
    wrong = [case for case in truth if bool(answer[case]) != truth[case]]
    if not wrong:
        return True, "assign_where refuses exactly the casts that would change an assigned value."
    first = wrong[0]
    return False, (
        f"{len(wrong)} wrong, e.g. {first!r} {'raises' if truth[first] else 'does not raise'}. The rule: float -> "
        "narrower float rounds like .to() (no error unless it overflows); an integer a float dtype cannot hold "
        "exactly, a fraction into an integer, or an out-of-range integer raises CastError."
    )


# ---------------------------------------------------------------- 03 thresholds


@_exercise("03.tuner_threshold")
def _tuner_threshold(answer: object, *, probs: torch.Tensor, target: torch.Tensor, tolerance: float = 0.02) -> Verdict:
    """A threshold (e.g. ``tuner.threshold``) whose IoU on held-out scenes is near the best one."""
    t = _number(answer)
    if isinstance(t, str):
        return False, t
    grid = torch.linspace(0, 1, 257)
    scores = torch.stack([iou(probs > g, target) for g in grid])
    best = int(scores.argmax())
    got = float(iou(probs > t, target))
    if got >= float(scores[best]) - tolerance:
        return True, f"t = {t:.3f} gives IoU {got:.4f} on the held-out scenes; their best is {float(scores[best]):.4f}."
    return False, (
        f"t = {t:.3f} gives IoU {got:.4f} on the held-out scenes, more than {tolerance} below their best "
        f"({float(scores[best]):.4f}). Look at where the IoU curve peaks."
    )


@_exercise("03.per_image_iou")
def _per_image_iou(answer: object, *, pred: torch.Tensor, target: torch.Tensor) -> Verdict:
    got = _number(answer)
    if isinstance(got, str):
        return False, got
    per_image = iou(pred, target, per_image=True) if pred.ndim >= 3 else iou(pred, target)[None]
    expected = float(per_image.mean())
    if abs(got - expected) < 1e-4:
        return True, f"the mean of the per-image IoUs is {expected:.4f}."
    if abs(got - float(iou(pred, target))) < 1e-4:
        return False, "that is the pooled IoU (all pixels counted together); average one IoU per image instead."
    return False, "not the mean of the per-image IoUs: mb.iou(pred, target, per_image=True) gives one per image."


# ---------------------------------------------------------------- 04 extract


@_exercise("04.class_mean")
def _class_mean(answer: object, *, image: torch.Tensor, labels: torch.Tensor, k: int) -> Verdict:
    """(C,) mean colour of class k."""
    sel = labels == k
    expected = image[:, sel].mean(1)
    got = _as_tensor(answer, expected)
    if isinstance(got, str):
        return False, got
    if _close(got, expected):
        return True, f"the mean colour of class {k} over its {int(sel.sum())} pixels."
    flat = image[sel.expand_as(image)].reshape(-1, image.shape[0]).mean(0)
    if _close(got, flat):
        return False, "image[mask3].reshape(-1, C) lists channel after channel, not pixel after pixel."
    return False, f"not the mean colour of the pixels where labels == {k}."


@_exercise("04.rows_of_mask3")
def _rows_of_mask3(answer: object, *, mask: torch.Tensor, channels: int) -> Verdict:
    """How many elements ``image[mask3]`` has for a (1, H, W) mask expanded to C channels."""
    got = _number(answer)
    if isinstance(got, str):
        return False, got
    n = int(mask.sum())
    if got == channels * n:
        return True, f"{channels} x {n}: the expanded mask has one copy per channel."
    if got == n:
        return False, f"{n} is the number of pixels; the (C, H, W) mask selects each of them in every channel."
    return False, "count the True entries of the expanded mask."


# ---------------------------------------------------------------- 05 training


@_exercise("05.masked_mean")
def _masked_mean(answer: object) -> Verdict:
    """A function f(loss (N, 1, H, W), mask (H, W) bool) -> the mean over kept elements, 0 if none."""
    if not callable(answer):
        return False, "expected a function f(loss, mask)."
    g = torch.Generator().manual_seed(0)
    loss = torch.rand(3, 1, 4, 5, generator=g, requires_grad=True)
    mask = torch.rand(4, 5, generator=g) > 0.4
    expected = loss.detach()[:, 0][:, mask].mean()
    got = answer(loss, mask)
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        return False, "f must return a one-element tensor."
    if not _close(got.detach(), expected):
        ratio = float(got.detach() / expected)
        if abs(ratio - loss.shape[0]) < 1e-3:
            return (
                False,
                "N times too large: the (H, W) mask is broadcast over N images; divide by the broadcast count.",
            )
        return False, "on a (3, 1, 4, 5) loss with a (4, 5) mask the result is not the mean of the kept elements."
    empty = answer(loss, torch.zeros(4, 5, dtype=torch.bool))
    value = float(empty.detach())
    if value != 0.0:
        return False, f"an empty mask gives {value}; it should give 0.0 (no kept element: nothing to learn)."
    empty.backward()
    if loss.grad is not None and not bool(torch.isfinite(loss.grad).all()):
        return False, "the empty mask's gradient is not finite: avoid 0/0 in the graph (clamp the count to >= 1)."
    return True, "correct mean over the broadcast kept elements, and 0.0 with a finite gradient on an empty mask."


@_exercise("05.painted_keep")
def _painted_keep(answer: object, *, painted: torch.Tensor) -> Verdict:
    """The loss mask (True = counts) from a Painter label map where label > 0 = ignore."""
    expected = painted == 0
    if not isinstance(answer, torch.Tensor) or answer.dtype != torch.bool:
        return False, "expected a bool tensor (True = the pixel counts in the loss)."
    if answer.shape[-2:] != expected.shape:
        return False, f"expected the spatial shape {tuple(expected.shape)}; got {tuple(answer.shape)}."
    got = answer.reshape(-1, *expected.shape)
    if bool((got == expected).all()):
        return True, f"{int((~expected).sum())} painted pixels are out of the loss, the rest count."
    if bool((got == ~expected).all()):
        return False, "inverted: that keeps only the painted pixels. The painted region is what to ignore."
    return False, "the mask should be True exactly where nothing is painted (painter.mask == 0)."
