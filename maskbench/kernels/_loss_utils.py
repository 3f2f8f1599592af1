"""Private helpers of :mod:`maskbench.kernels.losses`: NaN-safe masking and reduction, and the eager
fast path for masked BCE (see ``FusedMaskedBCE``). Their input checks live in :mod:`maskbench._checks`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from maskbench.kernels._casting import accumulation_dtype
from maskbench.kernels._masking import keep_bits, where0, zero_outside


def kept_values(loss: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``w * loss``, exactly 0 where excluded even if the loss is NaN there."""
    if mask is None:
        return loss
    if mask.dtype == torch.bool:
        return where0(mask, loss)
    return where0(mask > 0, loss * mask)


def count_kept(mask: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Kept elements at the loss's shape: each mask element counts once per broadcast copy."""
    copies = math.prod(shape) // max(mask.numel(), 1)
    kept = torch.count_nonzero(mask) if mask.dtype == torch.bool else mask.sum(dtype=dtype)
    return kept.to(dtype) * copies


def safe_div(total: torch.Tensor, denom: torch.Tensor, empty: float) -> torch.Tensor:
    ok = denom > 0
    return torch.where(ok, total / torch.where(ok, denom, 1.0), empty)


def reduce_loss(
    loss: torch.Tensor, mask: torch.Tensor | None, reduction: str, empty: float, *, denom: torch.Tensor | None = None
) -> torch.Tensor:
    kept = kept_values(loss, mask)
    if reduction == "none":
        return kept.to(loss.dtype)
    acc = accumulation_dtype(loss.dtype)
    total = kept.sum(dtype=acc)
    if reduction == "sum":
        return total.to(loss.dtype)
    if denom is None:
        denom = total.new_full((), loss.numel()) if mask is None else count_kept(mask, loss.shape, acc)
    return safe_div(total, denom, empty).to(loss.dtype)


def squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).square()


def absolute_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs()


# --- eager CPU fast path ---------------------------------------------------------------------------


class FusedMaskedBCE(torch.autograd.Function):
    """Sum over kept elements of BCE with logits, with a bool mask, in as few eager passes as possible.

    Why: on CPU ``torch.where`` with a bool condition runs a scalar loop (about 10x slower than a
    vectorised pass), and the composite formula's autograd graph allocates several full-size
    temporaries. Here excluded elements are zeroed by AND-ing the floats' bits with all-ones/zeros
    (vectorised; gives +0.0 even over NaN), ``softplus(x) - x t`` is formed in place, and the
    backward is one sigmoid plus in-place ops. Elsewhere than on CPU the zeroing is ``torch.where``.
    With ``create_graph=True`` the backward uses differentiable ops instead (double backward works).
    torch.compile never sees this class: it traces the composite path, which it fuses by itself.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, t: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        bits = keep_bits(keep, x)
        xs = zero_outside(x, keep, bits)
        loss = F.softplus(xs)
        loss.addcmul_(xs, t, value=-1)  # softplus(x) - x * t is BCE with logits
        loss = zero_outside(loss, keep, bits, inplace=True)  # excluded targets may be NaN
        ctx.save_for_backward(x, xs, t, keep, bits)
        return loss.sum(dtype=accumulation_dtype(x.dtype))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, xs, t, keep, bits = ctx.saved_tensors
        gx = gt = None
        if torch.is_grad_enabled():  # create_graph=True: stay differentiable
            xs = torch.where(keep, x, 0.0)
            if ctx.needs_input_grad[0]:
                gx = torch.where(keep, torch.sigmoid(xs) - t, 0.0) * grad
            if ctx.needs_input_grad[1]:
                gt = -xs * grad
            return gx, gt, None
        if ctx.needs_input_grad[0]:
            gx = zero_outside(torch.sigmoid(xs).sub_(t).mul_(grad), keep, bits, inplace=True)
        if ctx.needs_input_grad[1]:
            gt = xs * -grad  # xs is already 0 where excluded
        return gx, gt, None


class FusedMaskedCE(torch.autograd.Function):
    """Sum over kept elements of cross-entropy (no class weights, no smoothing), bool mask, eager.

    Why (issue 11): the composite path masks the logits with a where, runs ``F.cross_entropy`` and
    its autograd graph (log_softmax, nll, their backwards), then masks again. Here ``log_softmax``
    runs once on the raw logits (rows are independent) and is reused in the backward as
    ``softmax - onehot`` formed in place (exp, one scatter, one multiply, one AND). With
    ``create_graph=True`` the backward uses differentiable ops. torch.compile traces the composite path.

    ``labels`` (N, *S) int64 are already 0 where excluded; ``keep`` (N or 1, 1, *S) bool.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        # log_softmax is per element of (N, *S): a NaN/Inf logit under an excluded element spoils only
        # that element's row, which the ANDs below (forward and backward) zero bit for bit.
        lsm = F.log_softmax(x, 1)
        picked = lsm.gather(1, labels.unsqueeze(1))  # (N, 1, *S): log p of the true class
        picked = zero_outside(picked, keep, keep_bits(keep, picked), inplace=True)
        ctx.save_for_backward(x, lsm, labels, keep)
        return -picked.sum(dtype=accumulation_dtype(x.dtype))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, lsm, labels, keep = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        if torch.is_grad_enabled():  # create_graph=True: stay differentiable
            p = torch.softmax(torch.where(keep, x, 0.0), 1)
            onehot = F.one_hot(labels, x.shape[1]).movedim(-1, 1).to(p.dtype)
            return torch.where(keep, p - onehot, 0.0) * grad, None, None
        g = lsm.exp()  # softmax (not in place: a retained graph may run this backward again)
        g.scatter_add_(1, labels.unsqueeze(1), torch.full_like(labels.unsqueeze(1), -1, dtype=g.dtype))
        g.mul_(grad)
        bits = keep_bits(keep, g)
        return zero_outside(g, keep, bits, inplace=bits is not None), None, None
