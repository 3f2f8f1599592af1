"""Checks of Python numbers, flags and options (never tensors' values: no host sync)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from maskbench._checks.errors import ArgumentError, ArgumentTypeError, describe, short_repr
from maskbench._checks.tensors import check_broadcast_to, check_real

__all__ = [
    "check_choice",
    "check_int",
    "check_number",
    "check_bool",
    "check_number_or_tensor",
]


def check_choice(value: object, name: str, choices: Iterable[object]) -> object:
    """Require ``value`` to be one of ``choices``."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except Exception:  # noqa: BLE001 - e.g. a tensor compared with strings
        ok = False
    if not ok:
        expected = f"one of {', '.join(map(repr, choices))}"
        raise ArgumentError(
            f"{name}: expected {expected}; got {short_repr(value)}.",
            name=name,
            expected=expected,
            got=short_repr(value),
        )
    return value


def check_int(value: object, name: str, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Require a Python integer (not bool) in ``[min_value, max_value]``."""
    if (  # the common case, without check_number's general path (tile requests check ~10 ints per tile)
        type(value) is int and (min_value is None or value >= min_value) and (max_value is None or value <= max_value)
    ):
        return value
    return check_number(value, name, min=min_value, max=max_value, integer=True)


def check_number(
    value: object,
    name: str,
    *,
    min: float | None = None,  # noqa: A002 - the issue's and numpy's name
    max: float | None = None,  # noqa: A002
    finite: bool = True,
    integer: bool = False,
) -> int | float:
    """Require a real Python/numpy number (never ``bool``) in ``[min, max]``; returns it as int or float.

    ``integer=True`` accepts only integers (``3``, ``np.int64(3)``; not ``3.0``); ``finite=True``
    rejects NaN and +-Inf. Numbers too large for a float (``10**400``) are rejected as out of range
    instead of raising ``OverflowError``. A 0-d tensor is not a number here (that would be a host sync).
    """
    import numbers

    kind = "an int" if integer else "a number"
    if isinstance(value, (bool, torch.Tensor)) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        got = short_repr(value) if not isinstance(value, torch.Tensor) else f"a tensor {describe(value)}"
        fix = " Pass a Python int, e.g. int(x)." if integer else " Pass a Python float, e.g. float(x)."
        raise ArgumentTypeError(
            f"{name}: expected {kind}; got {type(value).__name__} {got}.{fix}", name=name, expected=kind, got=got
        )
    value = int(value) if integer else value
    if not integer:
        try:
            value = float(value)
        except OverflowError:
            raise ArgumentError(
                f"{name}: expected a finite number; got {short_repr(value)} (too large for a float).",
                name=name,
                expected="a finite number",
                got=short_repr(value),
            ) from None
        if finite and not math.isfinite(value):
            raise ArgumentError(
                f"{name}: expected a finite number; got {value}.",
                name=name,
                expected="a finite number",
                got=repr(value),
            )
        if math.isnan(value) and (min is not None or max is not None):
            raise ArgumentError(f"{name}: expected a number, not NaN.", name=name, expected=kind, got="nan")
    bounds = ""
    if min is not None and value < min:
        bounds = f">= {min}"
    elif max is not None and value > max:
        bounds = f"<= {max}"
    if bounds:
        expected = f"{kind} {bounds}"
        raise ArgumentError(
            f"{name}: expected {expected}; got {short_repr(value)}.",
            name=name,
            expected=expected,
            got=short_repr(value),
        )
    return value


def check_bool(value: object, name: str) -> bool:
    """Require a Python ``bool`` (or ``numpy.bool_``): flags such as ``per_image`` take no truthy stand-ins."""
    if type(value).__name__ not in ("bool", "bool_"):
        expected = "True or False"
        got = f"{type(value).__name__} {short_repr(value)}"
        raise ArgumentTypeError(f"{name}: expected {expected}; got {got}.", name=name, expected=expected, got=got)
    return bool(value)


def check_number_or_tensor(
    value: object,
    name: str,
    *,
    finite: bool = False,
    broadcast_to: Sequence[int] | None = None,
    target_name: str = "x",
) -> int | float | torch.Tensor:
    """Require a real Python number (a threshold, a start value) or a real tensor; returns it.

    A number goes through :func:`check_number` (``finite=False`` lets NaN and +-Inf through, as
    comparisons define them); a tensor must be real (not bool/complex) and, with ``broadcast_to``,
    broadcast to that shape without growing it. Anything else is an :class:`ArgumentTypeError`.
    Devices are the caller's to check (:func:`check_same_device`).
    """
    if isinstance(value, torch.Tensor):
        check_real(value, name)
        if broadcast_to is not None:
            check_broadcast_to(value, name, broadcast_to, target_name)
        return value
    try:
        return check_number(value, name, finite=finite)
    except ArgumentTypeError:
        where = f" broadcastable to {target_name}" if broadcast_to is not None else ""
        expected = f"a number or a tensor{where}"
        got = f"{type(value).__name__} {short_repr(value)}"
        raise ArgumentTypeError(
            f"{name}: expected {expected}; got {got}. Pass a Python float or a tensor.",
            name=name,
            expected=expected,
            got=got,
        ) from None
