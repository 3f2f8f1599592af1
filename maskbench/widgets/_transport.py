"""One binary serializer for arrays crossing the widget boundary (never JSON lists or base64).

An array trait travels as ``{"buffer": <bytes>, "dtype": "uint8", "shape": [h, w, 4]}``; ipywidgets
sends the buffer as a binary websocket frame. From the browser the buffer arrives as a memoryview,
so ``from_json`` copies it into an owned numpy array. In JS the matching decode is
``new Uint8Array(value.buffer.buffer, value.buffer.byteOffset, value.buffer.byteLength)``.
"""

from __future__ import annotations

import numpy as np
import torch
import traitlets

from maskbench._checks import ArgumentError, ArgumentTypeError

# The server drops browser messages over 10 MiB; keep every message well under.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"}


def array_to_json(value, widget=None):
    if value is None:
        return None
    array = np.ascontiguousarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value)
    if array.dtype.name not in _DTYPES:
        raise ArgumentTypeError(f"array trait: dtype {array.dtype} cannot be sent; use one of {sorted(_DTYPES)}")
    if array.nbytes > MAX_MESSAGE_BYTES:
        raise ArgumentError(
            f"array trait: {array.nbytes} bytes ({array.shape} {array.dtype}) exceeds the "
            f"{MAX_MESSAGE_BYTES}-byte message limit; send a display proxy or chunks instead"
        )
    return {
        "buffer": memoryview(array.reshape(-1).view(np.uint8)),
        "dtype": array.dtype.name,
        "shape": list(array.shape),
    }


def array_from_json(value, widget=None):
    """Decode a browser payload; raises ArgumentError (a ValueError) on a malformed one (callers warn and keep state)."""
    if value is None:
        return None
    try:
        dtype = np.dtype(value["dtype"])
        shape = tuple(int(s) for s in value["shape"])
        raw = bytes(value["buffer"])
    except (KeyError, TypeError, ValueError) as err:
        raise ArgumentError(
            f"array payload: expected {{buffer, dtype, shape}}; got {type(value).__name__} ({err})"
        ) from None
    if dtype.name not in _DTYPES:
        raise ArgumentError(f"array payload: dtype {dtype} is not accepted")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ArgumentError(f"array payload: shape {shape} {dtype} needs {expected} bytes; got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


array_serialization = {"to_json": array_to_json, "from_json": array_from_json}


class _ArrayValue(traitlets.Any):
    """``Any``, except that a change is a new object: traitlets' ``old == new`` is elementwise for
    numpy (``None == array`` goes through an object array: ~0.4 s for a 1024^2 image)."""

    def set(self, obj, value) -> None:
        new_value = self._validate(obj, value)
        old_value = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = new_value
        if old_value is not new_value:
            obj._notify_trait(self.name, old_value, new_value)


def ArrayTrait(**kwargs) -> traitlets.TraitType:
    """A synced numpy-array trait using the binary codec above (reassign it; never mutate in place)."""
    return _ArrayValue(None, allow_none=True, **kwargs).tag(sync=True, **array_serialization)


def pack_bits(mask: np.ndarray) -> np.ndarray:
    """Bool (H, W) -> uint8 bit-packed, row-major, most significant bit first (numpy's packbits)."""
    return np.packbits(np.asarray(mask, dtype=bool).reshape(-1))


def unpack_bits(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    n = int(shape[0]) * int(shape[1])
    if packed.size * 8 < n:
        raise ArgumentError(f"packed mask: {packed.size} bytes cannot hold {shape} = {n} bits")
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), count=n).reshape(shape).astype(bool)
