"""Label maps and their other forms: one-hot planes and per-class probabilities.

A label map is an integer ``(H, W)`` or ``(B, H, W)`` tensor of class indices in ``[0, K)``.
"""

from __future__ import annotations

import torch

from maskbench._checks import (
    ArgumentTypeError,
    DTypeError,
    MaskValueError,
    ShapeError,
    can_read_values,
    check_int,
    check_labels,
    check_number,
    check_tensor,
    describe,
    short_repr,
)

__all__ = ["one_hot", "from_one_hot", "argmax_labels"]


def one_hot(
    labels: torch.Tensor, num_classes: int, *, dtype: torch.dtype = torch.bool, dim: int | None = None
) -> torch.Tensor:
    """Labels to one-hot planes, channel axis before (H, W) (or at ``dim``).

    Args:
        labels: integer ``(H, W)`` or ``(B, H, W)``; any shape when ``dim`` is given.
        num_classes: K.
        dtype: output dtype (``torch.bool`` by default; e.g. ``torch.float32`` for losses).
        dim: where the class axis goes in the output. None (default): just before (H, W), i.e. -3.
            E.g. ``dim=1`` turns ``(N, *S)`` labels (volumes, sequences) into ``(N, K, *S)``.

    Returns:
        ``(K, H, W)`` or ``(B, K, H, W)`` (``labels.shape`` with K inserted at ``dim``). A label
        outside ``[0, K)`` (e.g. an ignore value 255) gives a pixel with no channel set, rather than
        an error (``torch.nn.functional.one_hot`` raises, and on CUDA that check is a host sync).
        Sync-free.

    >>> one_hot(torch.tensor([[0, 2], [255, 1]]), 3).int()
    tensor([[[1, 0],
             [0, 0]],
    <BLANKLINE>
            [[0, 0],
             [0, 1]],
    <BLANKLINE>
            [[0, 1],
             [0, 0]]], dtype=torch.int32)
    >>> one_hot(torch.tensor([[0, 1, 1]]), 2, dim=1).shape  # (N, L) -> (N, K, L)
    torch.Size([1, 2, 3])
    """
    check_labels(labels, "labels")
    if dim is None:
        if labels.ndim not in (2, 3):
            raise ShapeError(
                f"labels: expected (H, W) or (B, H, W); got {describe(labels)}. "
                "For other shapes say where the class axis goes, e.g. dim=1.",
                name="labels",
            )
        dim = -3
    dim = check_int(dim, "dim", min_value=-(labels.ndim + 1), max_value=labels.ndim)
    k = check_int(num_classes, "num_classes", min_value=1, max_value=2**31 - 1)
    if not isinstance(dtype, torch.dtype):
        raise ArgumentTypeError(
            f"dtype: expected a torch.dtype (e.g. torch.float32); got {short_repr(dtype)}.", name="dtype"
        )
    shape = [1] * (labels.ndim + 1)
    shape[dim] = k
    classes = torch.arange(k, device=labels.device).view(shape)
    planes = labels.unsqueeze(dim) == classes  # integer promotion: 255 in uint8 stays 255
    return planes if dtype == torch.bool else planes.to(dtype)


def from_one_hot(onehot: torch.Tensor, *, dim: int = -3, ignore_index: int | None = None) -> torch.Tensor:
    """One-hot planes back to int64 labels (the index of the set channel along ``dim``).

    A channel is *set* where it is nonzero (True for bool). Rule: every pixel must have exactly one
    set channel. Pixels with none get ``ignore_index`` when it is given (the inverse of
    :func:`one_hot` on an ignore value). On CPU (eager) a pixel with several set channels, or with
    none and no ``ignore_index``, raises :class:`~maskbench.MaskValueError`; on an accelerator
    nothing is checked (that would sync): such pixels get the first set channel, or 0. For soft
    class probabilities use ``maskbench.argmax_labels`` instead.

    Args:
        onehot: ``(K, H, W)``, ``(B, K, H, W)`` or any shape with the classes on ``dim``.
        dim: the class axis (default -3, i.e. just before (H, W)).
        ignore_index: label for pixels with no set channel.

    Returns:
        int64 labels with ``dim`` removed. Sync-free.

    >>> planes = one_hot(torch.tensor([[0, 2], [255, 1]]), 3)
    >>> from_one_hot(planes, ignore_index=255)
    tensor([[  0,   2],
            [255,   1]])
    """
    check_tensor(onehot, "onehot")
    dim = check_int(dim, "dim")
    if ignore_index is not None:
        ignore_index = check_int(ignore_index, "ignore_index")
    if onehot.ndim == 0:
        raise ShapeError(f"onehot: expected a class axis at dim={dim}; got {describe(onehot)}.")
    if not -onehot.ndim <= dim < onehot.ndim or onehot.shape[dim] == 0:
        raise ShapeError(f"onehot: expected a non-empty class axis at dim={dim}; got {describe(onehot)}.")
    is_set = onehot != 0
    n_set = is_set.sum(dim)
    if can_read_values(onehot) and onehot.numel() > 0:
        several = int((n_set > 1).sum())
        none = 0 if ignore_index is not None else int((n_set == 0).sum())
        if several or none:
            raise MaskValueError(
                f"onehot: expected exactly one set channel per pixel along dim={dim} of {describe(onehot)}; "
                f"got {several} pixel(s) with several and {none} with none. "
                "For pixels with none pass ignore_index=...; for soft probabilities use maskbench.argmax_labels."
            )
    labels = is_set.to(torch.uint8).argmax(dim)  # first set channel (0 when none)
    if ignore_index is not None:
        labels = torch.where(n_set == 0, ignore_index, labels)
    return labels


def argmax_labels(
    probs: torch.Tensor, *, min_confidence: float | None = None, background: int = 0, dim: int = -3
) -> torch.Tensor:
    """Class labels from a multi-class probability map: the most likely class per pixel.

    Args:
        probs: ``(..., K, H, W)`` floating probabilities (or scores) with the classes on ``dim``.
        min_confidence: pixels whose largest probability is below this get ``background``.
        background: label for unsure pixels and for pixels with a NaN probability.
        dim: the class dimension (default -3).

    Returns:
        int64 labels ``probs.shape`` without ``dim``, e.g. ``(..., H, W)``. Ties take the lowest
        class index (as ``torch.argmax``).

    Syncs: none.

    Example:
        >>> p = torch.tensor([[[0.7, 0.2]], [[0.3, 0.5]], [[0.0, 0.3]]])  # (K=3, H=1, W=2)
        >>> argmax_labels(p)
        tensor([[0, 1]])
        >>> argmax_labels(p, min_confidence=0.6, background=255)
        tensor([[  0, 255]])
    """
    check_tensor(probs, "probs")
    if not probs.is_floating_point():
        raise DTypeError(
            f"probs: expected floating probabilities (..., K, H, W); got {describe(probs)}. "
            f"An integer map is already labels; for one-hot masks use maskbench.from_one_hot."
        )
    if probs.ndim < 3:
        raise ShapeError(
            f"probs: expected (..., K, H, W) class probabilities (at least 3 dims); got "
            f"{describe(probs)}. For one foreground probability map use "
            f"maskbench.threshold(probs, 0.5)."
        )
    dim = check_int(dim, "dim", min_value=-probs.ndim, max_value=probs.ndim - 1)
    if probs.shape[dim] == 0:
        raise ShapeError(f"probs: expected at least one class on dim {dim}; got {describe(probs)}.")
    check_int(background, "background")
    if min_confidence is not None:
        min_confidence = check_number(min_confidence, "min_confidence")
    conf, labels = probs.detach().max(dim)
    unsure = torch.isnan(conf)
    if min_confidence is not None:
        unsure = unsure | (conf < float(min_confidence))
    return torch.where(unsure, background, labels)
