"""The kernel side of the level-of-detail tile protocol (issue 12): 256-px tiles of a power-of-two pyramid.

The protocol is described here (and in the README's "Large images" section). A widget mixes in
:class:`TileServer` (before ``GuardedState`` / ``anywidget.AnyWidget``), lists its layers in
``_tile_layers`` and calls ``_handle_tiles_message`` first from its custom-message handler.

Browser -> kernel: ``{type: "tiles", id, keys: [[layer, level, row, col], ...]}`` (at most
:data:`MAX_TILE_KEYS` keys). Kernel -> browser, one reply per request, one buffer per tile in key
order, stopping before :data:`TILE_REPLY_BYTES`:
``{type: "tiles", id, tiles: [{layer, level, row, col, h, w, dtype, channels, version}], dropped}``.
A tile whose pixels are all equal (an empty label tile, a slide's background) carries
``uniform: true`` and its buffer holds that one pixel (``channels`` values): the browser expands it,
bit for bit. A one-channel uint8 tile holding only 0 and 1 (a bool mask's) carries ``packed: "bits"``
and travels as ``numpy.packbits`` of its pixels (row-major, first pixel in the high bit of the first
byte; 8x fewer bytes): the browser unpacks it. A key may name part of a tile, ``[layer, level, row, col, y0, y1, x0, x1]`` (tile-local
pixels, half-open, inside the tile): its reply carries ``part: [y0, x0]`` and ``h, w`` of that part
(the Painter asks so for the edge tiles of a view: what shows first, in fewer bytes). A bad request
is answered ``{type: "tiles", id, tiles: [], error}``, warned about and shown in the widget's
``error`` trait (when it has one); nothing raised here reaches the comm.

Additions to the protocol text (nothing in it changed):

* ``_tile_shape()`` gives the ``(H, W)`` of the tiled image: by default the widget's ``_full_size``
  (Viewer, Tuner) or ``image_shape`` (Painter); override it otherwise.
* ``_publish_tiles()`` gives every layer a NEW version (a new image or batch item: the browser drops
  all its tiles); ``_publish_tiles(keep_versions=True)`` republishes without invalidating (a layer
  added or removed). Versions come from one counter per widget, so a layer that comes back never
  reuses a version whose tiles the browser may still hold.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic, sleep
from typing import NamedTuple

import numpy as np
import traitlets

from maskbench._checks import MaskbenchError, check_int, short_repr
from maskbench.render.tiles import TILE, level_count, tile_box, tile_grid
from maskbench.widgets._common import warn_browser
from maskbench.widgets._transport import pack_bits, unpack_bits

__all__ = ["TileLayer", "TileServer", "MAX_TILE_KEYS", "TILE_REPLY_BYTES", "tile_from_reply"]

#: The most tile keys one request may hold (24 RGBA tiles fill a reply; the rest is margin).
MAX_TILE_KEYS = 64
#: A reply's tiles stop before this many bytes (under the 8 MiB message limit, with room for the header).
TILE_REPLY_BYTES = 6 * 1024 * 1024
_DTYPES = ("uint8", "uint16", "float32")


class TileLayer(NamedTuple):
    """One tiled layer: ``fetch(level, row, col)`` returns the tile, ``(h, w, channels)`` (or ``(h, w)``
    when ``channels == 1``) numpy of ``dtype`` (``"uint8"``, ``"uint16"`` or ``"float32"``)."""

    fetch: Callable[[int, int, int], np.ndarray]
    dtype: str
    channels: int


class _BadRequest(Exception):
    """A tile request the kernel does not serve (answered with an error reply)."""


def _safe_id(value):
    """The request id echoed back: a JSON-safe int, else None (never a big or odd value)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53
    return value if ok else None


_warn = warn_browser  # a throwaway warning registry: 1000 distinct bad requests add no registry entries


#: Seconds without a tile request before background work resumes (:meth:`TileServer.step_aside`).
STEP_ASIDE_S = 0.3


class TileServer(traitlets.HasTraits):
    """Mixin: serves a widget's tile layers over custom messages (see the module docstring).

    A ``HasTraits`` subclass so that traitlets sets up ``_tiles_info`` (a trait declared on a plain
    mixin class is never initialised); it goes before ``GuardedState`` / ``anywidget.AnyWidget``.
    """

    _tiles_info = traitlets.Dict().tag(sync=True)
    _tile_request_at = float("-inf")  # monotonic() of the last tile request

    def step_aside(self, quiet_s: float = STEP_ASIDE_S, longest_s: float = 2.0) -> None:
        """For background work between its chunks: wait while tile requests keep coming (the user pans or
        zooms: on 2 cores a background pass would take a core from the kernel, the server and the browser
        serving them), until ``quiet_s`` pass without one, or ``longest_s`` at most (it always progresses)."""
        deadline = monotonic() + longest_s
        while (now := monotonic()) < deadline and now - self._tile_request_at < quiet_s:
            sleep(min(quiet_s / 4, deadline - now))

    # -- what the widget provides ---------------------------------------------------------------
    def _tile_layers(self) -> dict[str, TileLayer]:
        """The widget's layers by name (override)."""
        return {}

    def _tile_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the tiled image: ``_full_size`` or ``image_shape`` by default (override otherwise)."""
        size = getattr(self, "_full_size", None) or getattr(self, "image_shape", None)
        return int(size[0]), int(size[1])

    # -- versions and _tiles_info ---------------------------------------------------------------
    def _tile_state(self) -> dict:
        state = self.__dict__.get("_tile_server_state")
        if state is None:
            state = self.__dict__["_tile_server_state"] = {"versions": {}, "counter": 0}
        return state

    def _new_tile_version(self) -> int:
        state = self._tile_state()
        state["counter"] += 1
        return state["counter"]

    def _publish_tiles(self, *, keep_versions: bool = False) -> None:
        """(Re)compute ``_tiles_info``; every layer gets a new version unless ``keep_versions``."""
        versions = self._tile_state()["versions"]
        layers = self._tile_layers()
        h, w = self._tile_shape()
        out = {}
        for name, layer in layers.items():
            if not keep_versions or name not in versions:
                versions[name] = self._new_tile_version()
            out[name] = {"dtype": layer.dtype, "channels": int(layer.channels), "version": versions[name]}
        self._tiles_info = {"tile": TILE, "shape": [h, w], "levels": level_count((h, w)), "layers": out}

    def _bump_tile_layer(self, name: str) -> None:
        """Layer ``name`` changed (an edit, a new threshold or mode): a new version, then republish."""
        self._tile_state()["versions"][name] = self._new_tile_version()
        self._publish_tiles(keep_versions=True)

    # -- requests --------------------------------------------------------------------------------
    def _handle_tiles_message(self, content, buffers) -> bool:
        """Answer a ``{type: "tiles"}`` message (True), or leave any other message alone (False). Never raises."""
        if not isinstance(content, dict) or content.get("type") != "tiles":
            return False
        self._tile_request_at = monotonic()  # background work steps aside meanwhile (step_aside)
        request_id = _safe_id(content.get("id"))
        try:
            reply, data = self._serve_tiles(content.get("keys"))
        except Exception as err:  # noqa: BLE001 - a bad request (or a failing layer) must not reach the comm
            text = str(err) if isinstance(err, (_BadRequest, MaskbenchError)) else f"{type(err).__name__}: {err}"
            text = text if len(text) <= 500 else text[:485] + "... (truncated)"
            message = f"{type(self).__name__} rejected a tile request: {text}"
            _warn(message)
            if self.has_trait("error"):
                self.error = message
            reply, data = {"tiles": [], "error": message}, []
        try:
            self.send({"type": "tiles", "id": request_id, **reply}, data)
        except Exception as err:  # noqa: BLE001 - e.g. the comm closed while the tiles were fetched
            _warn(f"{type(self).__name__}: could not send a tile reply ({type(err).__name__}: {short_repr(err)})")
        return True

    def _parse_keys(self, keys, layers: dict[str, TileLayer], shape: tuple[int, int]) -> list[tuple]:
        if not isinstance(keys, list):
            raise _BadRequest(f"keys: expected a list of [layer, level, row, col]; got {short_repr(keys)}")
        if len(keys) > MAX_TILE_KEYS:
            raise _BadRequest(f"keys: expected at most {MAX_TILE_KEYS} keys; got {len(keys)}")
        levels = level_count(shape)
        out: dict[tuple, None] = {}  # in request order, duplicates once
        for i, key in enumerate(keys):
            if not (isinstance(key, list) and len(key) in (4, 8)):
                raise _BadRequest(
                    f"keys[{i}]: expected [layer, level, row, col] or [layer, level, row, col, y0, y1, x0, x1]; "
                    f"got {short_repr(key)}"
                )
            layer, level, row, col = key[:4]
            if not isinstance(layer, str) or layer not in layers:
                raise _BadRequest(f"keys[{i}][0]: expected a layer, one of {sorted(layers)}; got {short_repr(layer)}")
            level = check_int(level, f"keys[{i}][1] (level)", min_value=0, max_value=levels - 1)
            rows, cols = tile_grid(shape, level)
            row = check_int(row, f"keys[{i}][2] (row)", min_value=0, max_value=rows - 1)
            col = check_int(col, f"keys[{i}][3] (col)", min_value=0, max_value=cols - 1)
            part = None
            if len(key) == 8:  # part of the tile: y0 < y1 <= h, x0 < x1 <= w (tile-local)
                r0, r1, c0, c1 = tile_box(shape, level, row, col)
                y0 = check_int(key[4], f"keys[{i}][4] (y0)", min_value=0, max_value=r1 - r0 - 1)
                y1 = check_int(key[5], f"keys[{i}][5] (y1)", min_value=y0 + 1, max_value=r1 - r0)
                x0 = check_int(key[6], f"keys[{i}][6] (x0)", min_value=0, max_value=c1 - c0 - 1)
                x1 = check_int(key[7], f"keys[{i}][7] (x1)", min_value=x0 + 1, max_value=c1 - c0)
                part = (y0, y1, x0, x1)
            out[(layer, level, row, col, part)] = None
        return list(out)

    def _serve_tiles(self, keys) -> tuple[dict, list]:
        layers = self._tile_layers()
        shape = self._tile_shape()
        wanted = self._parse_keys(keys, layers, shape)
        versions = self._tile_state()["versions"]
        tiles, data, total = [], [], 0
        for n, (name, level, row, col, part) in enumerate(wanted):
            layer = layers[name]
            r0, r1, c0, c1 = tile_box(shape, level, row, col)
            h, w = r1 - r0, c1 - c0
            y0, y1, x0, x1 = part or (0, h, 0, w)
            nbytes = (y1 - y0) * (x1 - x0) * int(layer.channels) * np.dtype(layer.dtype).itemsize
            if total + nbytes > TILE_REPLY_BYTES:  # known before fetching: never more than the budget
                return {"tiles": tiles, "dropped": len(wanted) - n}, data
            tile = np.ascontiguousarray(layer.fetch(level, row, col))
            want = (h, w) if layer.channels == 1 else (h, w, layer.channels)
            if tile.dtype.name != layer.dtype or tile.shape not in (want, (h, w, layer.channels)):
                raise _BadRequest(
                    f"layer {name!r} gave a {tile.shape} {tile.dtype} tile for ({level}, {row}, {col}); "
                    f"expected {want} {layer.dtype} (a widget defect)"
                )
            meta = {"layer": name, "level": level, "row": row, "col": col, "h": y1 - y0, "w": x1 - x0,
                    "dtype": layer.dtype, "channels": int(layer.channels), "version": versions.get(name, 0)}  # fmt: skip
            if part:
                tile, meta["part"] = np.ascontiguousarray(tile[y0:y1, x0:x1]), [y0, x0]
            pixels = tile.reshape(-1, int(layer.channels))
            if _uniform(pixels):  # one pixel travels (an empty label tile, a slide's background)
                meta["uniform"], pixels = True, pixels[:1]
            elif layer.dtype == "uint8" and layer.channels == 1 and pixels.max() <= 1:  # a bool mask's
                meta["packed"], pixels = "bits", pack_bits(pixels)
            tiles.append(meta)
            data.append(memoryview(np.ascontiguousarray(pixels).reshape(-1).view(np.uint8)))
            total += pixels.nbytes
        return {"tiles": tiles, "dropped": 0}, data


def tile_from_reply(meta: dict, buffer) -> np.ndarray:
    """One tile of a reply as the browser rebuilds it (``tiles.js: tileData``): ``(h, w)`` or
    ``(h, w, channels)`` numpy of ``meta["dtype"]``; a ``uniform`` tile's one pixel repeated, a
    ``packed`` one's bits unpacked."""
    channels = int(meta["channels"])
    shape = (meta["h"], meta["w"]) + ((channels,) if channels > 1 else ())
    if meta.get("packed") == "bits":
        return unpack_bits(np.frombuffer(bytes(buffer), np.uint8), (meta["h"], meta["w"])).astype(np.uint8)
    pixels = np.frombuffer(bytes(buffer), dtype=meta["dtype"]).reshape(-1, channels)
    if meta.get("uniform"):
        pixels = np.repeat(pixels, meta["h"] * meta["w"], axis=0)
    return pixels.reshape(shape)


def _uniform(pixels: np.ndarray) -> bool:
    """Every pixel (row of ``pixels``, ``(n, channels)``, C-contiguous) has the first one's bytes: sending
    that one pixel reproduces the tile bit for bit (NaN and -0.0 included)."""
    raw = pixels.view(np.uint8)  # (n, channels * itemsize)
    probe = raw[:: max(1, len(raw) // 16)]  # a few pixels first: most tiles differ there
    return bool((probe == raw[:1]).all()) and bool((raw == raw[:1]).all())
