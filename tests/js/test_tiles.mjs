// The browser side of the tile protocol (maskbench/widgets/static/tiles.js): level choice, visible
// tiles, the byte-bounded LRU, the one-in-flight client, against plain references.
import assert from "node:assert/strict";
import { test } from "node:test";

const T = await import(new URL("../../maskbench/widgets/static/tiles.js", import.meta.url));

test("levelFor: floor(log2(image px per screen px)), clamped to the levels", () => {
  const levels = 6;
  for (const [scale, k] of [[8, 0], [1, 0], [0.75, 0], [0.5, 1], [0.4, 1], [0.25, 2], [1 / 3, 1], [1 / 32, 5], [1 / 1000, 5]]) {
    assert.equal(T.levelFor(scale, levels), k, `scale ${scale}`);
  }
  for (let k = 0; k < 6; k++) assert.equal(T.levelFor(1 / 2 ** k, levels), k); // exact powers of two
  assert.equal(T.levelFor(0, 6), 5);
  assert.equal(T.levelFor(NaN, 6), 5);
  assert.equal(T.levelFor(0.1, 1), 0);
});

test("levelShape / tileGrid: ceil at every level (the kernel's render/tiles.py)", () => {
  assert.deepEqual(T.levelShape([1000, 513], 1), [500, 257]);
  assert.deepEqual(T.levelShape([1000, 513], 2), [250, 129]);
  assert.deepEqual(T.tileGrid([1000, 513], 0), [4, 3]);
  assert.deepEqual(T.tileGrid([8192, 8192], 5), [1, 1]);
  assert.deepEqual(T.tileGrid([1, 1], 0), [1, 1]);
});

// reference: every tile of the grid whose full-resolution box meets the viewport (grown by margin tiles)
function refVisible(view, width, height, shape, k, margin) {
  const span = T.TILE * 2 ** k, [rows, cols] = T.tileGrid(shape, k);
  const x0 = -view.tx / view.scale, x1 = (width - view.tx) / view.scale;
  const y0 = -view.ty / view.scale, y1 = (height - view.ty) / view.scale;
  const hit = (r, c) => c * span < Math.min(x1, shape[1]) && (c + 1) * span > Math.max(x0, 0) && r * span < Math.min(y1, shape[0]) && (r + 1) * span > Math.max(y0, 0);
  const seen = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (hit(r, c)) seen.push([r, c]);
  if (!seen.length) return [];
  const rs = seen.map((x) => x[0]), cs = seen.map((x) => x[1]);
  const out = [];
  for (let r = Math.max(0, Math.min(...rs) - margin); r <= Math.min(rows - 1, Math.max(...rs) + margin); r++) {
    for (let c = Math.max(0, Math.min(...cs) - margin); c <= Math.min(cols - 1, Math.max(...cs) + margin); c++) out.push(`${r},${c}`);
  }
  return out.sort();
}

test("visibleTiles: the tiles in view plus the margin, clipped to the grid, centre first", () => {
  const shape = [8192, 8192];
  const view = { scale: 1, tx: -1000, ty: -2000 }; // native zoom: a 600 x 400 viewport at image (1000, 2000)
  const tiles = T.visibleTiles(view, 600, 400, shape, 0, 0);
  const want = [];
  for (let r = 7; r <= 9; r++) for (let c = 3; c <= 6; c++) want.push(`${r},${c}`); // x 1000..1600, y 2000..2400
  assert.deepEqual(tiles.map(String).sort(), want.sort());
  assert.deepEqual(tiles[0], [8, 5]); // the viewport's centre (1300, 2200)
  const dist = ([r, c]) => (r + 0.5 - 2200 / 256) ** 2 + (c + 0.5 - 1300 / 256) ** 2;
  for (let i = 1; i < tiles.length; i++) assert.ok(dist(tiles[i - 1]) <= dist(tiles[i]), "sorted by distance to the centre");
  const withMargin = T.visibleTiles(view, 600, 400, shape, 0); // margin 1 by default
  assert.equal(withMargin.length, 5 * 6);
  assert.deepEqual(withMargin[0], [8, 5]);
  // the top-left corner: the margin never leaves the grid
  assert.deepEqual(T.visibleTiles({ scale: 1, tx: 0, ty: 0 }, 100, 100, shape, 0, 2).map(String).sort(), ["0,0", "0,1", "0,2", "1,0", "1,1", "1,2", "2,0", "2,1", "2,2"]);
  // out of view: nothing, margin or not
  assert.deepEqual(T.visibleTiles({ scale: 1, tx: 9000, ty: 0 }, 100, 100, shape, 0, 1), []);
  assert.deepEqual(T.visibleTiles({ scale: 1, tx: 0, ty: 0 }, 0, 100, shape, 0, 1), []);
  // zoomed out to level 5: the whole image is one tile
  assert.deepEqual(T.visibleTiles({ scale: 1 / 32, tx: 10, ty: 10 }, 300, 300, shape, 5), [[0, 0]]);
});

test("visibleTiles matches a brute-force reference on random views", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 300; i++) {
    const shape = [1 + Math.floor(rand() * 5000), 1 + Math.floor(rand() * 5000)];
    const scale = 2 ** (rand() * 8 - 5), k = T.levelFor(scale, 6), margin = Math.floor(rand() * 3);
    const view = { scale, tx: (rand() - 0.7) * shape[1] * scale, ty: (rand() - 0.7) * shape[0] * scale };
    const [w, h] = [1 + Math.floor(rand() * 1500), 1 + Math.floor(rand() * 1000)];
    const lv = Math.min(k, Math.max(0, Math.ceil(Math.log2(Math.max(...shape) / T.TILE))));
    const got = T.visibleTiles(view, w, h, shape, lv, margin).map(([r, c]) => `${r},${c}`).sort();
    assert.deepEqual(got, refVisible(view, w, h, shape, lv, margin), JSON.stringify({ shape, view, w, h, lv, margin }));
  }
});

test("createTileCache: LRU by bytes, touch on get, never above maxBytes", () => {
  const cache = T.createTileCache(100);
  cache.set("a", "A", 40);
  cache.set("b", "B", 40);
  assert.equal(cache.bytes, 80);
  assert.equal(cache.get("a"), "A"); // touched: b is now the least recently used
  assert.equal(cache.has("b"), true); // has() does not touch
  cache.set("c", "C", 40); // 120 > 100: evicts b
  assert.deepEqual(cache.keys(), ["a", "c"]);
  assert.equal(cache.bytes, 80);
  cache.set("a", "A2", 10); // replacing a key counts its new size only, and makes it most recent
  assert.deepEqual(cache.keys(), ["c", "a"]);
  assert.equal(cache.bytes, 50);
  assert.equal(cache.set("huge", "H", 101), false); // larger than the cache: not kept, nothing evicted
  assert.deepEqual([cache.size, cache.bytes], [2, 50]);
  cache.set("d", "D", 60); // evicts c (least recent) only: 10 + 60 fits
  assert.deepEqual(cache.keys(), ["a", "d"]);
  assert.equal(cache.get("c"), undefined);
  assert.equal(cache.delete("a"), true);
  assert.equal(cache.delete("a"), false);
  assert.deepEqual([cache.size, cache.bytes], [1, 60]);
  cache.clear();
  assert.deepEqual([cache.size, cache.bytes], [0, 0]);
  // many random sets: the total always equals the sum kept and stays within the bound
  const big = T.createTileCache(1000), sizes = new Map();
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const key = `k${Math.floor(rand() * 50)}`, n = Math.floor(rand() * 300);
    big.set(key, i, n);
    if (rand() < 0.3) big.get(`k${Math.floor(rand() * 50)}`);
    assert.ok(big.bytes <= 1000);
  }
  for (const key of big.keys()) sizes.set(key, true);
  assert.equal(sizes.size, big.size);
  assert.equal(T.createTileCache().maxBytes, 128 * 1024 * 1024);
});

test("bestTile: this level, else the nearest coarser cached ancestor", () => {
  const cache = T.createTileCache();
  cache.set(T.tileKey("image", 2, 1, 0, 4), "L2", 1);
  cache.set(T.tileKey("image", 3, 0, 0, 4), "L3", 1);
  assert.deepEqual(T.bestTile(cache, "image", 4, 0, 5, 3, 4), { key: "image/2/1/0/4", level: 2, tile: "L2" });
  assert.deepEqual(T.bestTile(cache, "image", 4, 0, 5, 7, 4), { key: "image/3/0/0/4", level: 3, tile: "L3" }); // (1, 1) at level 2 is not cached
  assert.equal(T.bestTile(cache, "image", 5, 0, 5, 3, 4), null); // another version
  assert.equal(T.bestTile(cache, "image", 4, 0, 5, 3, 2), null); // levels 2 and 3 are not among 2 levels
  cache.set(T.tileKey("image", 0, 5, 3, 4), "L0", 1);
  assert.equal(T.bestTile(cache, "image", 4, 0, 5, 3, 4).tile, "L0");
});

// ---- the client --------------------------------------------------------------------------------

const INFO = { tile: 256, shape: [1000, 1000], levels: 3, layers: { image: { dtype: "uint8", channels: 4, version: 1 }, labels: { dtype: "uint16", channels: 1, version: 7 } } };

function fakeTimers() {
  const timers = new Map();
  let next = 0;
  return {
    setTimer: (fn, ms) => { timers.set(++next, { fn, ms }); return next; },
    clearTimer: (id) => timers.delete(id),
    fire() { const all = [...timers.values()]; timers.clear(); for (const t of all) t.fn(); },
    get count() { return timers.size; },
  };
}

function setup(info = INFO) {
  const sent = [], timers = fakeTimers(), cache = T.createTileCache();
  const client = T.createTileClient({ send: (m) => sent.push(m), cache, info, ...timers });
  return { sent, timers, cache, client };
}

// the kernel's reply to a request: one buffer per key (values = a marker), versions as given
function reply(req, versions = { image: 1, labels: 7 }, opts = {}) {
  const tiles = [], buffers = [];
  for (const [layer, level, row, col] of req.keys.slice(0, opts.take ?? req.keys.length)) {
    const [h, w, channels, dtype] = layer === "image" ? [2, 3, 4, "uint8"] : [2, 3, 1, "uint16"];
    tiles.push({ layer, level, row, col, h, w, dtype, channels, version: versions[layer] });
    const n = h * w * channels, Typed = dtype === "uint8" ? Uint8Array : Uint16Array;
    const backing = new ArrayBuffer(n * Typed.BYTES_PER_ELEMENT + 3); // a DataView into a bigger buffer, offset 1
    const view = new DataView(backing, 1, n * Typed.BYTES_PER_ELEMENT);
    for (let i = 0; i < n; i++) {
      if (dtype === "uint8") view.setUint8(i, row * 10 + col);
      else view.setUint16(2 * i, 1000 + row, true);
    }
    buffers.push(view);
  }
  return [{ type: "tiles", id: req.id, tiles, dropped: req.keys.length - tiles.length }, buffers];
}

test("client: one request in flight; the newest wanted set is sent when the reply comes", () => {
  const { sent, client, cache } = setup();
  client.want([["image", 0, 0, 0], ["image", 0, 0, 1]]);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], { type: "tiles", id: 1, keys: [["image", 0, 0, 0], ["image", 0, 0, 1]] });
  assert.equal(client.busy, true);
  client.want([["image", 0, 1, 1]]); // while in flight: kept, not sent
  client.want([["image", 1, 0, 0], ["labels", 1, 0, 0]]); // replaces the set before it
  assert.equal(sent.length, 1);
  client.receive(...reply(sent[0]));
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].keys, [["image", 1, 0, 0], ["labels", 1, 0, 0]]); // only the newest set
  assert.ok(cache.has("image/0/0/0/1") && cache.has("image/0/0/1/1")); // the old reply's tiles are cached
  const tile = cache.get("image/0/0/1/1");
  assert.deepEqual([tile.h, tile.w, tile.channels, tile.version, tile.layer], [2, 3, 4, 1, "image"]);
  assert.ok(tile.data instanceof Uint8Array && tile.data.length === 24 && tile.data[0] === 1);
  assert.equal(tile.data.byteOffset, 0); // owns its bytes
  client.receive(...reply(sent[1]));
  const lab = cache.get("labels/1/0/0/7");
  assert.ok(lab.data instanceof Uint16Array && lab.data[5] === 1000);
  assert.equal(client.busy, false);
  assert.equal(sent.length, 2); // nothing missing: nothing sent
  client.want([["image", 0, 0, 0], ["image", 1, 0, 0]]); // all cached
  assert.equal(sent.length, 2);
});

test("client: only missing keys, deduplicated, at most MAX_TILE_KEYS, never outside the grid or layers", () => {
  const { sent, client, cache } = setup();
  cache.set("image/0/0/0/1", {}, 1);
  const keys = [["image", 0, 0, 0], ["image", 0, 0, 1], ["image", 0, 0, 1], ["nope", 0, 0, 0], ["image", 3, 0, 0], ["image", 0, 4, 0], ["image", 0, -1, 0], ["image", 0.5, 0, 0]];
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) for (const l of [0, 1, 2]) keys.push(["labels", l, r, c]);
  client.want(keys);
  const k = sent[0].keys;
  assert.deepEqual(k[0], ["image", 0, 0, 1]);
  assert.equal(k.length, 1 + 16 + 4 + 1); // level 0: 4 x 4 tiles; level 1: 2 x 2; level 2: 1
  assert.ok(k.length <= T.MAX_TILE_KEYS);
  const s2 = setup({ ...INFO, shape: [100000, 100000], levels: 10 });
  s2.client.want(Array.from({ length: 200 }, (_, i) => ["image", 0, i, 0]));
  assert.equal(s2.sent[0].keys.length, T.MAX_TILE_KEYS);
});

test("client: stale versions are dropped, fresh ones kept; setInfo forgets old versions", () => {
  const { sent, client, cache } = setup();
  client.want([["image", 0, 0, 0], ["labels", 0, 0, 0]]);
  client.setInfo({ ...INFO, layers: { ...INFO.layers, labels: { dtype: "uint16", channels: 1, version: 8 } } }); // an edit
  client.receive(...reply(sent[0])); // the reply still carries labels version 7
  assert.ok(cache.has("image/0/0/0/1"));
  assert.ok(!cache.has("labels/0/0/0/7") && !cache.has("labels/0/0/0/8"));
  assert.equal(client.stats.stale, 1);
  assert.deepEqual(sent[1].keys, [["labels", 0, 0, 0]]); // asked again at the new version
  client.receive(...reply(sent[1], { image: 1, labels: 8 }));
  assert.ok(cache.has("labels/0/0/0/8"));
  cache.set("other/thing", "x", 1); // not a tile key of this client: left alone
  client.setInfo({ ...INFO, layers: { image: { dtype: "uint8", channels: 4, version: 2 } } }); // a new item, labels gone
  assert.deepEqual(cache.keys(), ["other/thing"]);
});

test("client: a reply that never comes frees the slot after the timeout; a late reply still caches", () => {
  const { sent, client, cache, timers } = setup();
  client.want([["image", 0, 0, 0]]);
  assert.equal(timers.count, 1);
  client.want([["image", 0, 1, 0]]);
  assert.equal(sent.length, 1);
  timers.fire(); // 3 s later, no reply
  assert.equal(client.stats.timeouts, 1);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].keys, [["image", 0, 1, 0]]);
  client.receive(...reply(sent[1]));
  client.want([["image", 0, 0, 0], ["image", 0, 1, 1]]); // the timed-out key is not asked twice while its reply may come
  assert.deepEqual(sent[2].keys, [["image", 0, 1, 1]]);
  client.receive(...reply(sent[0])); // the first reply arrives late: cached, the slot stays busy
  assert.ok(cache.has("image/0/0/0/1"));
  assert.equal(client.busy, true);
  client.receive(...reply(sent[2]));
  assert.equal(client.busy, false);
  assert.equal(timers.count, 0); // every timer cleared
  client.want([["image", 0, 2, 2]]);
  client.close(); // the view went: its timer is cleared, nothing more is sent
  assert.equal(timers.count, 0);
  client.want([["image", 0, 3, 3]]);
  assert.equal(sent.length, 4);
});

test("client: after a timeout with nothing else missing, nothing is sent again (no timer loop)", () => {
  const { sent, client, timers } = setup();
  client.want([["image", 0, 0, 0]]);
  timers.fire();
  client.want([["image", 0, 0, 0]]);
  assert.deepEqual([sent.length, timers.count], [1, 0]);
  client.setInfo(INFO); // new info: it may be asked again
  assert.equal(sent.length, 2);
});

test("client: dropped tiles are asked for next; an error reply is not retried as the same request", () => {
  const { sent, client } = setup();
  const keys = [["image", 0, 0, 0], ["image", 0, 0, 1], ["image", 0, 0, 2]];
  client.want(keys);
  client.receive(...reply(sent[0], undefined, { take: 1 })); // over the byte budget: 2 dropped
  assert.deepEqual(sent[1].keys, keys.slice(1));
  client.receive({ type: "tiles", id: sent[1].id, tiles: [], error: "bad" }, []);
  assert.equal(client.stats.errors, 1);
  client.want(keys); // the next draw asks for the same: not re-sent (no error loop)
  assert.equal(sent.length, 2);
  client.want([["image", 0, 1, 0]]); // a new view: sent
  assert.equal(sent.length, 3);
  client.receive(...reply(sent[2]));
  client.setInfo(INFO); // new info: the rejected keys may be tried again
  client.want(keys);
  assert.deepEqual(sent[3].keys, keys.slice(1));
});

test("client: wrong-sized buffers and other messages are ignored", () => {
  const { sent, client, cache } = setup();
  client.want([["image", 0, 0, 0]]);
  const [msg] = reply(sent[0]);
  client.receive(msg, [new Uint8Array(5)]);
  assert.equal(cache.size, 0);
  assert.equal(client.receive({ type: "patch" }, []), false);
  assert.equal(client.receive(null), false);
  assert.equal(T.tileData(new Uint8Array(6).buffer, { h: 1, w: 3, dtype: "uint16", channels: 1 }).length, 3);
  assert.equal(T.tileData(new Uint8Array(6), { h: 1, w: 3, dtype: "int64" }), null);
});

test("client: want(keys, urgent) asks for the urgent keys alone first, then the rest", () => {
  const { sent, client } = setup();
  const keys = [["image", 0, 0, 0], ["image", 0, 0, 1], ["image", 0, 1, 0], ["image", 0, 1, 1]];
  client.want(keys, 2);
  assert.deepEqual(sent.map((m) => m.keys), [keys.slice(0, 2)]); // one in flight: the margin waits
  client.receive(...reply(sent[0]));
  assert.deepEqual(sent[1].keys, keys.slice(2)); // then the rest
  client.receive(...reply(sent[1]));
  client.want(keys, 2);
  assert.equal(sent.length, 2); // all cached
  const s2 = setup();
  s2.client.want(keys, 0); // nothing urgent: everything in one request
  assert.deepEqual(s2.sent[0].keys, keys);
});

test("client: laterKeys caps the requests past the urgent keys (never the urgent ones)", () => {
  const sent = [], cache = T.createTileCache();
  const client = T.createTileClient({ send: (m) => sent.push(m), cache, info: INFO, ...fakeTimers(), laterKeys: 3 });
  const keys = [];
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) keys.push(["labels", 0, r, c]);
  client.want(keys, 5);
  assert.deepEqual(sent.map((m) => m.keys), [keys.slice(0, 5)]); // the urgent five in one request
  for (const [i, want] of [[1, keys.slice(5, 8)], [2, keys.slice(8, 11)], [3, keys.slice(11, 14)], [4, keys.slice(14)]]) {
    client.receive(...reply(sent[i - 1]));
    assert.deepEqual(sent[i].keys, want); // then the rest, three at a time, one request in flight
  }
  client.receive(...reply(sent[4]));
  assert.equal(sent.length, 5);
  assert.ok(keys.every(([l, k, r, c]) => cache.has(`${l}/${k}/${r}/${c}/7`)));
  for (const bad of [0, -2, "x", NaN]) { // not a positive count: MAX_TILE_KEYS
    const out = [];
    T.createTileClient({ send: (m) => out.push(m), cache: T.createTileCache(), info: INFO, ...fakeTimers(), laterKeys: bad }).want(keys, 0);
    assert.equal(out[0].keys.length, keys.length, String(bad));
  }
});

test("client: with maxInFlight a new view's urgent keys do not wait for the replies in flight; the rest waits for none", () => {
  const sent = [], timers = fakeTimers(), cache = T.createTileCache();
  const client = T.createTileClient({ send: (m) => sent.push(m), cache, info: INFO, ...timers, maxInFlight: 2 });
  const keys = [["image", 0, 0, 0], ["image", 0, 0, 1], ["image", 0, 1, 0], ["image", 0, 1, 1]];
  client.want(keys, 1);
  assert.deepEqual(sent.map((m) => m.keys), [keys.slice(0, 1)]); // the margin waits for an idle client
  client.want([["image", 1, 0, 0], ...keys], 1); // a new view: sent at once, in the second slot
  assert.deepEqual(sent[1].keys, [["image", 1, 0, 0]]);
  assert.equal(client.inFlight, 2);
  client.want([["image", 2, 0, 0], ...keys], 1); // both slots busy: kept, not sent
  client.want([["image", 2, 0, 0], ["image", 1, 0, 0], ...keys], 2); // keys in flight are not asked again
  assert.equal(sent.length, 2);
  client.receive(...reply(sent[1])); // replies may come in any order; each frees its slot
  assert.equal(client.stats.lastTiles, 1);
  assert.ok(client.stats.lastMs >= 0);
  assert.deepEqual(sent[2].keys, [["image", 2, 0, 0]]);
  assert.equal(client.inFlight, 2);
  client.receive(...reply(sent[0]));
  client.receive(...reply(sent[2]));
  assert.deepEqual(sent[3].keys, keys.slice(1)); // idle: then the rest
  client.receive(...reply(sent[3]));
  assert.equal(client.busy, false);
  assert.equal(timers.count, 0);
  assert.equal(cache.size, 6);
  const big = T.createTileClient({ send: () => {}, cache: T.createTileCache(), info: INFO, ...fakeTimers(), maxInFlight: 1e9 });
  for (let i = 0; i < 16; i++) big.want([["image", 0, i >> 2, i & 3]]);
  assert.equal(big.inFlight, T.MAX_IN_FLIGHT); // clamped: a small fixed number
});

test("tileData: a uniform tile (one pixel sent) expands byte for byte, for every dtype and channel count", () => {
  for (const [dtype, Typed] of [["uint8", Uint8Array], ["uint16", Uint16Array], ["float32", Float32Array]]) {
    for (const channels of [1, 3, 4]) {
      for (const [h, w] of [[1, 1], [3, 5], [256, 256], [7, 256]]) {
        const px = Typed.from({ length: channels }, (_, c) => (dtype === "float32" ? -0 + c * 0.25 - 0.5 : 3 + 40 * c));
        if (dtype === "float32") px[0] = NaN;
        const backing = new Uint8Array(px.byteLength + 2); // a DataView at an offset, as JupyterLab may hand it
        backing.set(new Uint8Array(px.buffer), 1);
        const got = T.tileData(new DataView(backing.buffer, 1, px.byteLength), { h, w, dtype, channels, uniform: true });
        assert.ok(got instanceof Typed && got.length === h * w * channels, `${dtype} ${channels} ${h}x${w}`);
        const want = new Uint8Array(px.buffer), bytes = new Uint8Array(got.buffer);
        assert.equal(got.buffer.byteLength, got.byteLength); // owns exactly its bytes
        for (let i = 0; i < bytes.length; i++) if (bytes[i] !== want[i % want.length]) assert.fail(`${dtype} ${channels} byte ${i}`);
      }
    }
  }
  // a uniform buffer of the wrong size (a full tile, or a partial pixel) is refused, never expanded
  assert.equal(T.tileData(new Uint8Array(6), { h: 2, w: 3, dtype: "uint8", channels: 1, uniform: true }), null);
  assert.equal(T.tileData(new Uint8Array(1), { h: 2, w: 3, dtype: "uint16", channels: 1, uniform: true }), null);
});

test("tileData: a packed tile (0/1 pixels, 8 per byte, numpy.packbits order) unpacks bit for bit", () => {
  const pack = (px) => { // numpy.packbits: the first pixel in the high bit, the last byte padded with 0
    const out = new Uint8Array(Math.ceil(px.length / 8));
    px.forEach((v, i) => { out[i >> 3] |= v << (7 - (i & 7)); });
    return out;
  };
  for (const [h, w] of [[1, 1], [3, 5], [256, 256], [7, 256], [2, 3]]) {
    const px = Uint8Array.from({ length: h * w }, (_, i) => ((i * 7919) >> 3) & 1);
    const packed = pack(px), backing = new Uint8Array(packed.length + 3);
    backing.set(packed, 3);
    const got = T.tileData(new DataView(backing.buffer, 3, packed.length), { h, w, dtype: "uint8", channels: 1, packed: "bits" });
    assert.ok(got instanceof Uint8Array && got.length === h * w, `${h}x${w}`);
    assert.deepEqual(Array.from(got), Array.from(px), `${h}x${w}`);
  }
  // the wrong byte count, dtype or channels: refused
  assert.equal(T.tileData(new Uint8Array(2), { h: 2, w: 3, dtype: "uint8", channels: 1, packed: "bits" }), null);
  assert.equal(T.tileData(new Uint8Array(1), { h: 2, w: 3, dtype: "uint16", channels: 1, packed: "bits" }), null);
  assert.equal(T.tileData(new Uint8Array(3), { h: 2, w: 3, dtype: "uint8", channels: 3, packed: "bits" }), null);
});

test("client: a uniform tile is cached expanded, flagged uniform; a full tile is not flagged", () => {
  const { sent, client, cache } = setup();
  client.want([["image", 0, 0, 0], ["labels", 0, 0, 0]]);
  const msg = { type: "tiles", id: sent[0].id, dropped: 0, tiles: [
    { layer: "image", level: 0, row: 0, col: 0, h: 2, w: 3, dtype: "uint8", channels: 4, version: 1, uniform: true },
    { layer: "labels", level: 0, row: 0, col: 0, h: 2, w: 3, dtype: "uint16", channels: 1, version: 7 }] };
  client.receive(msg, [Uint8Array.of(9, 8, 7, 255), new Uint16Array(6).fill(5)]);
  const img = cache.get(T.tileKey("image", 0, 0, 0, 1)), lab = cache.get(T.tileKey("labels", 0, 0, 0, 7));
  assert.equal(img.uniform, true);
  assert.deepEqual([...img.data], [9, 8, 7, 255, 9, 8, 7, 255, 9, 8, 7, 255, 9, 8, 7, 255, 9, 8, 7, 255, 9, 8, 7, 255]);
  assert.equal(lab.uniform, undefined);
  assert.equal(cache.bytes, 24 + 12); // the expanded bytes are what the cache counts
});

test("gridLines: the edges of every image pixel at least partly in view, only from GRID_FROM screen px per image px", () => {
  assert.equal(T.GRID_FROM, 8);
  assert.deepEqual(T.gridLines({ scale: 4, tx: 0, ty: 0 }, 100, 100, 10, 10), { xs: [], ys: [] });
  assert.deepEqual(T.gridLines({ scale: 10, scaleY: 7.9, tx: 0, ty: 0 }, 100, 100, 10, 10), { xs: [], ys: [] });
  assert.equal(T.gridLines({ scale: 7.97, tx: 0, ty: 0 }, 100, 100, 10, 10).xs.length, 11); // shown as 800%
  // 10 px per image px, the image's pixel 3 at the stage's left edge: edges 3..13 in a 100 px stage
  const { xs, ys } = T.gridLines({ scale: 10, tx: -30, ty: 5 }, 100, 50, 20, 3);
  assert.deepEqual(xs, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  assert.deepEqual(ys, [5, 15, 25, 35]); // the image is 3 px tall: 4 edges
  // a pixel partly in view on the left (column 0 spans -5..5): its left edge too, off screen
  assert.deepEqual(T.gridLines({ scale: 10, tx: -5, ty: 0 }, 40, 20, 10, 5).xs, [-5, 5, 15, 25, 35, 45]);
  // scaleY (the Painter's proxy rounding): rows use their own scale
  assert.deepEqual(T.gridLines({ scale: 10, scaleY: 12, tx: 0, ty: 0 }, 30, 30, 2, 2).ys, [0, 12, 24]);
  // against a brute-force reference on random views: every edge whose pixel overlaps the screen
  for (let n = 0; n < 200; n++) {
    const view = { scale: 8 + ((n * 37) % 50) / 3, tx: ((n * 53) % 400) - 300, ty: ((n * 29) % 300) - 200 };
    const [w, h, W, H] = [120 + (n % 50), 80 + (n % 30), 5 + (n % 40), 3 + (n % 20)];
    const ref = (t, s, N, size) => {
      const out = [];
      for (let i = 0; i <= N; i++) {
        const left = i < N && t + i * s < size && t + (i + 1) * s > 0, right = i > 0 && t + (i - 1) * s < size && t + i * s > 0;
        if (left || right) out.push(t + i * s);
      }
      return out;
    };
    const got = T.gridLines(view, w, h, W, H);
    const want = { xs: ref(view.tx, view.scale, W, w), ys: ref(view.ty, view.scale, H, h) };
    if (want.xs.length && want.ys.length) assert.deepEqual(got, want, JSON.stringify(view));
  }
});

test("drawPixelGrid: one line per image pixel edge in view, on device-pixel centres, dpr applied", () => {
  const moves = [];
  const ctx = new Proxy({ moveTo: (x, y) => moves.push([x, y]) }, { get: (t, k) => (k in t ? t[k] : () => {}), set: () => true });
  T.drawPixelGrid(ctx, { scale: 10, tx: -5, ty: 0 }, 40, 20, 10, 5);
  const vertical = moves.filter(([, y]) => y === 0).map(([x]) => x);
  assert.deepEqual(vertical, [-4.5, 5.5, 15.5, 25.5, 35.5, 45.5]); // image columns 0..4 are (partly) in view
  assert.equal(moves.length, 6 + 3); // and rows 0..1: 3 horizontal edges
  moves.length = 0;
  T.drawPixelGrid(ctx, { scale: 10, tx: 0, ty: 0 }, 20, 20, 2, 2, 2); // dpr 2: device px
  assert.deepEqual(moves.filter(([, y]) => y === 0).map(([x]) => x), [0.5, 20.5, 40.5]);
  moves.length = 0;
  T.drawPixelGrid(ctx, { scale: 4, tx: 0, ty: 0 }, 20, 20, 2, 2); // below GRID_FROM: nothing
  assert.equal(moves.length, 0);
});

test("client rgba: grey / RGB tiles of the listed layers are cached as RGBA (toRGBA's pixels), others as sent", () => {
  const info = { ...INFO, layers: { image: { dtype: "uint8", channels: 3, version: 1 }, result: { dtype: "uint8", channels: 1, version: 2 }, mask: { dtype: "uint8", channels: 1, version: 3 } } };
  const sent = [], cache = T.createTileCache();
  const client = T.createTileClient({ send: (m) => sent.push(m), cache, info, rgba: ["image", "result"], ...fakeTimers() });
  client.want([["image", 0, 0, 0], ["result", 0, 0, 0], ["mask", 0, 0, 0], ["result", 0, 0, 1]]);
  const px = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed) & 255);
  const rgb = px(2 * 3 * 3, 5), grey = px(2 * 3, 9), mask = px(2 * 3, 1);
  const tiles = [
    { layer: "image", level: 0, row: 0, col: 0, h: 2, w: 3, dtype: "uint8", channels: 3, version: 1 },
    { layer: "result", level: 0, row: 0, col: 0, h: 2, w: 3, dtype: "uint8", channels: 1, version: 2 },
    { layer: "mask", level: 0, row: 0, col: 0, h: 2, w: 3, dtype: "uint8", channels: 1, version: 3 },
    { layer: "result", level: 0, row: 0, col: 1, h: 2, w: 3, dtype: "uint8", channels: 1, version: 2, uniform: true },
  ];
  client.receive({ type: "tiles", id: sent[0].id, tiles, dropped: 0 }, [rgb, grey, mask, new Uint8Array([77])].map((a) => new DataView(a.buffer)));
  const want = (src, channels) => { const out = new Uint8Array(4 * 6); T.toRGBA(out, src, channels); return Array.from(out); };
  const image = cache.get("image/0/0/0/1"), result = cache.get("result/0/0/0/2"), m = cache.get("mask/0/0/0/3"), flat = cache.get("result/0/0/1/2");
  assert.deepEqual([image.channels, Array.from(image.data)], [4, want(rgb, 3)]);
  assert.deepEqual([result.channels, Array.from(result.data)], [4, want(grey, 1)]);
  assert.deepEqual([m.channels, Array.from(m.data)], [1, Array.from(mask)]); // not listed: as sent
  assert.deepEqual([flat.channels, Array.from(flat.data)], [4, want(new Uint8Array(6).fill(77), 1)]); // uniform, then RGBA
  assert.equal(image.data[3], 255); // opaque
});

// the kernel's reply to part keys ([layer, level, row, col, y0, y1, x0, x1]): the part's pixels, `part` set
function partReply(req, version = 1) {
  const tiles = [], buffers = [];
  for (const [layer, level, row, col, y0, y1, x0, x1] of req.keys) {
    const whole = y0 === undefined, h = whole ? 256 : y1 - y0, w = whole ? 256 : x1 - x0;
    tiles.push({ layer, level, row, col, h, w, dtype: "uint8", channels: 4, version, ...(whole ? {} : { part: [y0, x0] }) });
    buffers.push(new Uint8Array(h * w * 4).fill(whole ? 9 : 5));
  }
  return [{ type: "tiles", id: req.id, tiles, dropped: 0 }, buffers];
}

test("client: parts of tiles are asked for as such, cached apart until the whole tile comes, never asked twice", () => {
  const { sent, client, cache } = setup();
  const part = ["image", 0, 1, 2, 10, 200, 0, 56], whole = ["image", 0, 1, 2];
  client.want([part, whole], 1); // the part first (urgent), the whole tile next
  assert.deepEqual(sent.map((m) => m.keys), [[part]]);
  client.receive(...partReply(sent[0]));
  const p = cache.get(T.partKey("image", 0, 1, 2, 1));
  assert.deepEqual([p.part, p.h, p.w, p.data.length], [[10, 0], 190, 56, 190 * 56 * 4]);
  assert.ok(!cache.has(T.tileKey("image", 0, 1, 2, 1)));
  assert.deepEqual(sent.map((m) => m.keys), [[part], [whole]]); // then the whole tile
  assert.ok(T.partCovers(p, [10, 200, 0, 56]) && T.partCovers(p, [20, 30, 5, 6]));
  assert.ok(!T.partCovers(p, [9, 200, 0, 56]) && !T.partCovers(p, [10, 201, 0, 56]) && !T.partCovers(null, [0, 1, 0, 1]));
  client.receive(...partReply(sent[1]));
  assert.ok(cache.has(T.tileKey("image", 0, 1, 2, 1)) && !cache.has(T.partKey("image", 0, 1, 2, 1))); // the part goes
  client.want([["image", 0, 1, 2, 0, 5, 0, 5]]); // the whole tile is here: no part asked for
  assert.equal(sent.length, 2);
  // a covered part is not asked again; a part outside the tile or empty is never sent; a late part
  // reply for a cached whole tile is not kept
  client.want([["image", 0, 0, 0, 0, 100, 0, 100]]);
  client.receive(...partReply(sent[2]));
  client.want([["image", 0, 0, 0, 50, 60, 50, 60], ["image", 0, 3, 3, 0, 256, 0, 1], ["image", 0, 0, 1, 5, 5, 0, 9], ["image", 0, 0, 1, 0, 9, 0, 1.5]]);
  assert.equal(sent.length, 3); // tile (3, 3) of a 1000 x 1000 image is 232 x 232: its 0..256 rows are out
  client.receive(...partReply({ id: 99, keys: [["image", 0, 1, 2, 0, 9, 0, 9]] }));
  assert.ok(!cache.has(T.partKey("image", 0, 1, 2, 1)));
  // a new image version forgets the old parts
  client.setInfo({ ...INFO, layers: { ...INFO.layers, image: { ...INFO.layers.image, version: 2 } } });
  assert.ok(!cache.has(T.partKey("image", 0, 0, 0, 1)));
});

test("shownPart: a tile's rectangle in view (+PART_PAD) at any level and per-axis scale; null when most of it shows", () => {
  const shape = [1000, 1000];
  // 2 screen px per image px across, 1 down: image x 50..250, y 20..320 in a 400 x 300 screen
  assert.deepEqual(T.shownPart({ scale: 2, scaleY: 1, tx: -100, ty: -20 }, 400, 300, shape, 0, 0, 0), { shows: [20, 256, 50, 250], ask: [18, 256, 48, 252] });
  assert.deepEqual(T.shownPart({ scale: 0.5, tx: -100, ty: 0 }, 100, 100, shape, 1, 0, 0).shows, [0, 100, 100, 200]); // level 1 px
  assert.equal(T.shownPart({ scale: 1, tx: 0, ty: 0 }, 1000, 1000, shape, 0, 3, 3), null); // the 232 x 232 edge tile, whole
  assert.equal(T.shownPart({ scale: 1, tx: -10, ty: -10 }, 400, 300, shape, 0, 0, 0), null); // 246 x 246 of it: >= PART_MAX
  assert.equal(T.PART_MAX, 0.75);
});
