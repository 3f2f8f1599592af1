"""maskbench.widgets._tiles: the kernel side of the tile protocol, on a fake widget with a fake ``send``."""

from __future__ import annotations

import gc
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
import traitlets

from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import label_tile, level_count, tile_grid, value_tile
from maskbench.widgets._common import GuardedState, StatusText
from maskbench.widgets._tiles import MAX_TILE_KEYS, TILE_REPLY_BYTES, TileLayer, TileServer, tile_from_reply

H, W = 700, 1100  # 4 levels; 3 x 5 tiles at level 0, edge tiles smaller


class FakeWidget(TileServer, GuardedState, traitlets.HasTraits):
    """What a widget adds: its layers, a shape, an error trait and ``send`` (captured here)."""

    error = StatusText("")

    def __init__(self, image, labels, probs, *, capture: bool = True) -> None:
        super().__init__()
        self.image_shape = [H, W]
        self.pyramid, self.labels, self.probs = ImagePyramid(image), labels, probs
        self.sent: list = []
        self.count = 0
        self.capture = capture
        self.fetches = 0
        self._publish_tiles()

    def _tile_layers(self):
        def counted(fetch):
            def go(*key):
                self.fetches += 1
                return fetch(*key)

            return go

        return {
            "image": TileLayer(counted(self.pyramid.tile), "uint8", 4),
            "labels": TileLayer(counted(lambda k, r, c: label_tile(self.labels, k, r, c)), "uint8", 1),
            "prob": TileLayer(counted(lambda k, r, c: value_tile(self.probs, k, r, c)), "float32", 1),
        }

    def send(self, content, buffers=None) -> None:
        self.count += 1
        if self.capture:
            self.sent.append((content, [bytes(b) for b in buffers or []]))


@pytest.fixture
def widget() -> FakeWidget:
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, H, W), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 4, (H, W), dtype=torch.uint8, generator=g)
    return FakeWidget(image, labels, torch.rand(H, W, generator=g))


def ask(w: FakeWidget, keys, rid=1):
    assert w._handle_tiles_message({"type": "tiles", "id": rid, "keys": keys}, []) is True
    return w.sent[-1]


def test_tiles_info_describes_the_layers(widget) -> None:
    info = widget._tiles_info
    assert info["tile"] == 256 and info["shape"] == [H, W] and info["levels"] == level_count((H, W)) == 4
    assert info["layers"]["image"] == {"dtype": "uint8", "channels": 4, "version": info["layers"]["image"]["version"]}
    assert {k: v["dtype"] for k, v in info["layers"].items()} == {
        "image": "uint8",
        "labels": "uint8",
        "prob": "float32",
    }


def test_reply_holds_every_tile_in_key_order_with_its_bytes(widget) -> None:
    keys = [["prob", 0, 2, 4], ["image", 1, 0, 1], ["labels", 2, 0, 0], ["image", 0, 0, 0]]
    content, buffers = ask(widget, keys, rid=7)
    assert content["type"] == "tiles" and content["id"] == 7 and content["dropped"] == 0
    assert [[t["layer"], t["level"], t["row"], t["col"]] for t in content["tiles"]] == keys
    refs = [
        value_tile(widget.probs, 0, 2, 4),
        widget.pyramid.tile(1, 0, 1),
        label_tile(widget.labels, 2, 0, 0),
        widget.pyramid.tile(0, 0, 0),
    ]
    for meta, data, ref in zip(content["tiles"], buffers, refs):
        assert (meta["h"], meta["w"]) == ref.shape[:2] and meta["dtype"] == ref.dtype.name
        assert meta["channels"] == (4 if ref.ndim == 3 else 1)
        assert meta["version"] == widget._tiles_info["layers"][meta["layer"]]["version"]
        assert np.array_equal(np.frombuffer(data, ref.dtype).reshape(ref.shape), ref)
    assert content["tiles"][0]["h"] == 700 - 512 and content["tiles"][0]["w"] == 1100 - 1024  # an edge tile


def test_reply_stops_before_the_byte_budget_and_counts_the_dropped(widget) -> None:
    rows, cols = tile_grid((H, W), 0)
    keys = [[layer, 0, r, c] for layer in ("image", "prob") for r in range(rows) for c in range(cols)]
    keys += [["labels", 1, r, c] for r, c in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]]
    content, buffers = ask(widget, keys)
    sizes = [len(b) for b in buffers]
    assert sum(sizes) <= TILE_REPLY_BYTES and len(content["tiles"]) + content["dropped"] == len(keys)
    assert content["dropped"] > 0
    assert widget.fetches == len(content["tiles"])  # nothing fetched past the budget
    nxt = keys[len(content["tiles"])]
    assert sum(sizes) + 256 * 256 * 4 * (4 if nxt[0] == "prob" else 1) > TILE_REPLY_BYTES  # it stopped at the limit


def test_versions_move_on_a_bump_and_on_publish(widget) -> None:
    v = {k: x["version"] for k, x in widget._tiles_info["layers"].items()}
    widget._bump_tile_layer("labels")
    v2 = {k: x["version"] for k, x in widget._tiles_info["layers"].items()}
    assert v2["labels"] > max(v.values()) and v2["image"] == v["image"] and v2["prob"] == v["prob"]
    content, _ = ask(widget, [["labels", 0, 0, 0]])
    assert content["tiles"][0]["version"] == v2["labels"]
    widget._publish_tiles()  # a new item: every layer new
    v3 = {k: x["version"] for k, x in widget._tiles_info["layers"].items()}
    assert all(v3[k] > max(v2.values()) for k in v3) and len(set(v3.values())) == 3
    widget._publish_tiles(keep_versions=True)
    assert {k: x["version"] for k, x in widget._tiles_info["layers"].items()} == v3


def test_duplicate_keys_are_served_once(widget) -> None:
    content, buffers = ask(widget, [["image", 0, 0, 0], ["image", 0, 0, 0], ["prob", 2, 0, 0]])
    assert len(content["tiles"]) == 2 == len(buffers) and content["dropped"] == 0


def test_a_part_of_a_tile_is_that_crop_of_the_tile(widget) -> None:
    keys = [["image", 0, 2, 4, 3, 150, 10, 76], ["prob", 0, 0, 0, 0, 256, 255, 256], ["image", 0, 0, 0]]
    content, buffers = ask(widget, keys)
    refs = [
        widget.pyramid.tile(0, 2, 4)[3:150, 10:76],
        value_tile(widget.probs, 0, 0, 0)[:, 255:],
        widget.pyramid.tile(0, 0, 0),
    ]
    for meta, data, ref, key in zip(content["tiles"], buffers, refs, keys):
        assert (meta["h"], meta["w"]) == ref.shape[:2]
        assert meta.get("part") == ([key[4], key[6]] if len(key) == 8 else None)
        assert np.array_equal(tile_from_reply(meta, data), ref)
    # the budget counts a part's bytes, not its tile's: 40 parts of 100 x 100 RGBA fit in one reply
    content, _ = ask(widget, [["image", 0, r, c, 0, 100, 0, 100] for r in range(3) for c in range(4)])
    assert content["dropped"] == 0 and len(content["tiles"]) == 12


def test_other_messages_are_left_alone(widget) -> None:
    for msg in ({"type": "edit"}, {"kind": "tiles"}, None, "tiles", [1, 2]):
        assert widget._handle_tiles_message(msg, []) is False
    assert widget.sent == []


BAD = [
    ("keys missing", {"type": "tiles", "id": 1}, "keys: expected a list"),
    ("too many keys", {"type": "tiles", "id": 1, "keys": [["image", 0, 0, 0]] * (MAX_TILE_KEYS + 1)}, "at most 64"),
    ("unknown layer", {"type": "tiles", "id": 1, "keys": [["nope", 0, 0, 0]]}, "keys[0][0]: expected a layer"),
    (
        "level too high",
        {"type": "tiles", "id": 1, "keys": [["image", 4, 0, 0]]},
        "keys[0][1] (level): expected an int <= 3",
    ),
    (
        "row out of range",
        {"type": "tiles", "id": 1, "keys": [["image", 0, 3, 0]]},
        "keys[0][2] (row): expected an int <= 2",
    ),
    (
        "col out of range",
        {"type": "tiles", "id": 1, "keys": [["image", 1, 0, 3]]},
        "keys[0][3] (col): expected an int <= 2",
    ),
    ("negative", {"type": "tiles", "id": 1, "keys": [["image", 0, -1, 0]]}, "(row): expected an int >= 0"),
    ("float level", {"type": "tiles", "id": 1, "keys": [["image", 1.0, 0, 0]]}, "(level): expected an int"),
    ("bool col", {"type": "tiles", "id": 1, "keys": [["image", 0, 0, True]]}, "(col): expected an int"),
    ("short key", {"type": "tiles", "id": 1, "keys": [["image", 0, 0]]}, "keys[0]: expected [layer, level, row, col]"),
    (
        "5-long key",
        {"type": "tiles", "id": 1, "keys": [["image", 0, 0, 0, 1]]},
        "or [layer, level, row, col, y0, y1, x0, x1]",
    ),
    (
        "part past the tile",
        {"type": "tiles", "id": 1, "keys": [["image", 0, 2, 0, 0, 189, 0, 9]]},
        "(y1): expected an int <= 188",
    ),
    ("empty part", {"type": "tiles", "id": 1, "keys": [["image", 0, 0, 0, 0, 9, 5, 5]]}, "(x1): expected an int >= 6"),
    (
        "part start out",
        {"type": "tiles", "id": 1, "keys": [["image", 0, 0, 4, 0, 9, 76, 77]]},
        "(x0): expected an int <= 75",
    ),
    ("key not a list", {"type": "tiles", "id": 1, "keys": ["image/0/0/0"]}, "keys[0]: expected"),
    ("huge value", {"type": "tiles", "id": 1, "keys": [["x" * 10_000_000, 0, 0, 0]]}, "chars)"),
    ("one bad of many", {"type": "tiles", "id": 1, "keys": [["image", 0, 0, 0], ["image", 9, 0, 0]]}, "keys[1][1]"),
]


@pytest.mark.parametrize(("what", "msg", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_warning_and_an_error_reply(widget, what, msg, text) -> None:
    with pytest.warns(UserWarning, match="rejected a tile request") as record:
        assert widget._handle_tiles_message(msg, []) is True
    content, buffers = widget.sent[-1]
    assert content["type"] == "tiles" and content["id"] == 1 and content["tiles"] == [] and buffers == []
    assert text in content["error"] and text in str(record[0].message) and len(content["error"]) < 1000
    assert widget.error == content["error"] and widget.fetches == 0


def test_request_ids_are_echoed_only_when_json_safe(widget) -> None:
    for rid, echoed in [(5, 5), (2**60, None), ("x" * 100, None), (True, None), (1.5, None), (None, None)]:
        ask(widget, [["labels", 2, 0, 0]], rid=rid)
        assert widget.sent[-1][0]["id"] == echoed


def test_a_failing_or_wrong_layer_is_an_error_reply_not_an_exception(widget) -> None:
    def boom(*_):
        raise RuntimeError("disk on fire")

    widget._tile_layers = lambda: {
        "bad": TileLayer(boom, "uint8", 1),
        "wrong": TileLayer(lambda *_: np.zeros((2, 2)), "uint8", 1),
    }
    with pytest.warns(UserWarning, match="RuntimeError: disk on fire"):
        ask(widget, [["bad", 0, 0, 0]])
    assert widget.sent[-1][0]["tiles"] == []
    with pytest.warns(UserWarning, match=r"layer 'wrong' gave a \(2, 2\) float64 tile"):
        ask(widget, [["wrong", 0, 0, 0]])

    def closed(content, buffers=None):
        raise OSError("comm closed")

    del widget._tile_layers  # the class's layers again
    widget.send = closed
    with pytest.warns(UserWarning, match="could not send a tile reply"):
        assert widget._handle_tiles_message({"type": "tiles", "id": 1, "keys": [["image", 0, 0, 0]]}, []) is True


def test_a_thousand_bad_messages_do_not_grow_memory() -> None:
    import threading

    for thread in threading.enumerate():  # other tests' warm-ups and deferred counts would be traced too
        if isinstance(thread, threading.Timer) and thread.name.startswith("maskbench-"):
            thread.join(timeout=30)
    w = FakeWidget(torch.zeros(H, W), torch.zeros(H, W, dtype=torch.uint8), torch.zeros(H, W), capture=False)
    msgs = [
        {"type": "tiles", "id": i, "keys": [[f"layer{i}", i, -i, f"c{i}"]] + [["image", 0, 0, 0]] * (i % 70)}
        for i in range(1000)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # the filter that remembers each message shown once per location
        warnings.showwarning = lambda *a, **k: None  # not printed (pytest's capture would hold them)
        for m in msgs[:100]:
            w._handle_tiles_message(m, [])
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for m in msgs[100:]:
            w._handle_tiles_message(m, [])
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    assert w.count == 1000 and grown < 64 * 1024, grown  # per message ~0 bytes (one warning registry entry ~200)


def test_uniform_tiles_travel_as_one_pixel_and_expand_to_the_tile() -> None:
    image = torch.zeros(3, H, W, dtype=torch.uint8)
    image[:, :256, :256] = torch.tensor([7, 8, 9], dtype=torch.uint8)[:, None, None]  # tile (0, 0) one colour
    image[1, 300, 300] = 1  # tile (1, 1): one pixel off
    labels = torch.zeros(H, W, dtype=torch.uint8)
    labels[600, 1050] = 3  # the last tile is not uniform
    probs = torch.full((H, W), float("nan"))
    probs[:256, 256:512] = 0.0
    probs[5, 300] = -0.0  # tile (0, 1): +0.0 and -0.0 differ bitwise: not uniform
    w = FakeWidget(image, labels, probs)
    keys = [["image", 0, 0, 0], ["image", 0, 1, 1], ["labels", 0, 0, 0], ["labels", 0, 2, 4], ["prob", 0, 0, 0],
            ["prob", 0, 0, 1], ["labels", 3, 0, 0]]  # fmt: skip
    content, buffers = ask(w, keys)
    refs = [
        w.pyramid.tile(0, 0, 0), w.pyramid.tile(0, 1, 1), label_tile(labels, 0, 0, 0), label_tile(labels, 0, 2, 4),
        value_tile(probs, 0, 0, 0), value_tile(probs, 0, 0, 1), label_tile(labels, 3, 0, 0),
    ]  # fmt: skip
    uniform = [meta.get("uniform", False) for meta in content["tiles"]]
    assert uniform == [True, False, True, False, True, False, False]  # level 3 holds the labelled pixel (block max)
    for meta, data, ref, one in zip(content["tiles"], buffers, refs, uniform):
        pixel = ref.reshape(-1, meta["channels"])
        assert len(data) == (pixel[:1].nbytes if one else ref.nbytes)
        got = np.frombuffer(data, ref.dtype).reshape(-1, meta["channels"])
        got = np.broadcast_to(got, pixel.shape) if one else got
        assert got.tobytes() == pixel.tobytes()  # bit for bit, NaN included


def test_step_aside_waits_for_quiet_and_is_bounded(monkeypatch):
    """Background work waits while tile requests keep coming, resumes once they stop, never forever."""
    import maskbench.widgets._tiles as tiles_mod

    clock = {"now": 100.0}
    monkeypatch.setattr(tiles_mod, "monotonic", lambda: clock["now"])
    slept = []

    def sleep(s):
        slept.append(s)
        clock["now"] += s

    monkeypatch.setattr(tiles_mod, "sleep", sleep)
    server = tiles_mod.TileServer()
    server.step_aside(quiet_s=0.3)  # never asked: no wait
    assert slept == []
    server._tile_request_at = 100.0  # a request just now: waits until 0.3 s have passed
    server.step_aside(quiet_s=0.3)
    assert 0.3 <= clock["now"] - 100.0 < 0.4 and slept
    slept.clear()
    server._tile_request_at = float("inf")  # requests forever: bounded by longest_s
    server.step_aside(quiet_s=0.3, longest_s=2.0)
    assert 1.99 <= sum(slept) <= 2.0 + 1e-9


def test_a_tile_request_marks_the_time(widget) -> None:
    import time

    assert widget._tile_request_at == float("-inf")
    before = time.monotonic()
    ask(widget, [["image", 0, 0, 0]])
    assert before <= widget._tile_request_at <= time.monotonic()


def test_a_tile_of_zeros_and_ones_travels_as_bits(widget) -> None:
    """A one-channel uint8 tile holding only 0 and 1 (a bool mask's) is sent as numpy.packbits of its
    pixels (8x fewer bytes) and rebuilt exactly; a part of odd size too; other tiles as they are."""
    widget.labels = (widget.labels > 1).to(torch.uint8)  # 0 / 1
    widget.labels[:5, :5] = 0
    keys = [["labels", 0, 0, 0], ["labels", 0, 2, 4], ["labels", 0, 0, 0, 3, 6, 1, 8], ["image", 0, 0, 0]]
    content, buffers = ask(widget, keys)
    refs = [label_tile(widget.labels, 0, 0, 0), label_tile(widget.labels, 0, 2, 4)]
    refs += [refs[0][3:6, 1:8], widget.pyramid.tile(0, 0, 0)]
    for meta, data, ref in zip(content["tiles"], buffers, refs):
        assert np.array_equal(tile_from_reply(meta, data), ref)
    packed = [m.get("packed") for m in content["tiles"]]
    assert packed == ["bits", "bits", "bits", None]
    assert [len(b) for b in buffers[:3]] == [256 * 256 // 8, -(-(700 - 512) * (1100 - 1024) // 8), -(-3 * 7 // 8)]
    assert buffers[2] == np.packbits(refs[2].reshape(-1)).tobytes()
    widget.labels[:256, :256] = 2  # a 2: bytes as they are
    widget.labels[0, 0] = 0
    content, buffers = ask(widget, [["labels", 0, 0, 0]], rid=2)
    assert "packed" not in content["tiles"][0] and len(buffers[0]) == 256 * 256
    widget.labels[:256, :256] = 1  # one value: one pixel, not bits
    content, buffers = ask(widget, [["labels", 0, 0, 0]], rid=3)
    assert content["tiles"][0].get("uniform") and "packed" not in content["tiles"][0] and buffers[0] == b"\x01"
