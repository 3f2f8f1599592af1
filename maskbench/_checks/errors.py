"""maskbench's input errors: one family, each a ValueError or TypeError too, and the message helpers."""

from __future__ import annotations

import torch

__all__ = [
    "MaskbenchError",
    "ArgumentError",
    "ArgumentTypeError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "MaskValueError",
    "CastError",
    "describe",
    "short_repr",
]


class MaskbenchError(Exception):
    """Base of maskbench's input errors (always combined with ValueError or TypeError).

    Like kornia's errors it can carry what went wrong as attributes, for code that reacts to them:
    ``name`` (the argument), ``expected`` and ``got`` (short descriptions); each ``None`` if unknown.
    """

    def __init__(
        self, message: str = "", *, name: str | None = None, expected: str | None = None, got: str | None = None
    ) -> None:
        super().__init__(message)
        self.name = name
        self.expected = expected
        self.got = got

    def __reduce__(self):
        # Exception pickles as cls(*args): keyword attributes (and a subclass's own, such as
        # ``.index``) would be lost on the way back from a worker process. Restore them all.
        return _rebuild_error, (type(self), self.args, self.__dict__)


class ArgumentError(MaskbenchError, ValueError):
    """An option or number has a value the operation does not accept (e.g. a negative radius)."""


class ArgumentTypeError(MaskbenchError, TypeError):
    """An argument has a Python type the operation does not accept (e.g. a string for a size)."""


class ShapeError(MaskbenchError, ValueError):
    """A tensor has a shape that does not fit the operation."""


class DTypeError(MaskbenchError, TypeError):
    """A tensor has a dtype the operation does not accept."""


class DeviceError(MaskbenchError, ValueError):
    """Tensors that must live together are on different devices."""


class MaskValueError(MaskbenchError, ValueError):
    """A mask holds values outside what its dtype promises (e.g. a weight outside [0, 1])."""


class CastError(MaskbenchError, ValueError):
    """Values cannot be stored exactly in the target dtype (fractions, NaN/Inf or out of range)."""


# Tracebacks and pickles name the public path (``maskbench.ShapeError``), not where they are defined.
for _cls in (MaskbenchError, ArgumentError, ArgumentTypeError, ShapeError, DTypeError, DeviceError, MaskValueError,
             CastError):  # fmt: skip
    _cls.__module__ = "maskbench"


def _rebuild_error(cls: type, args: tuple, state: dict) -> BaseException:
    """Unpickle a :class:`MaskbenchError` (subclass): the message, then every attribute."""
    err = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


def describe(x: object) -> str:
    """Short description of a value for error messages: ``(2, 3, 64, 64) float32 on cpu``."""
    if isinstance(x, torch.Tensor):
        dtype = str(x.dtype).replace("torch.", "")
        return f"{tuple(x.shape)} {dtype} on {x.device}"
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__} of shape {tuple(shape)} dtype {getattr(x, 'dtype', '?')}"
    return f"{type(x).__name__} {x!r}"[:120]


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a bad 9 MiB string must not come back whole."""
    text = describe(value) if isinstance(value, torch.Tensor) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 15]}... ({len(text)} chars)"
