"""Broadcasting of shapes in plain Python.

``torch.broadcast_shapes`` imports sympy on its first call in a process (0.5-1 s), which every
first ``apply_mask`` and masked loss would pay, and with them a widget's first paint.
"""

from __future__ import annotations

__all__ = ["broadcast_shape", "broadcasts_to"]


def broadcast_shape(a, b) -> tuple[int, ...] | None:
    """``torch.broadcast_shapes(a, b)`` for two shapes, or None when they do not broadcast.

    >>> broadcast_shape((3, 1, 5), (4, 1)), broadcast_shape((2, 0), (1, 1)), broadcast_shape((2, 3), (3, 3))
    ((3, 4, 5), (2, 0), None)
    """
    a, b = tuple(a), tuple(b)
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for s, t in zip(a, b):
        if s != t and s != 1 and t != 1:
            return None
        out.append(t if s == 1 else s)
    return tuple(out)


def broadcasts_to(shape, target) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (it never grows ``target``).

    >>> broadcasts_to((1, 5), (4, 5)), broadcasts_to((4, 5), (1, 5)), broadcasts_to((2, 4, 5), (4, 5))
    (True, False, False)
    """
    return broadcast_shape(shape, target) == tuple(target)
