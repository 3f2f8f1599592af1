// Level-of-detail tiles, the browser side (issue 12; the kernel side is widgets/_tiles.py and
// render/tiles.py). Pure functions and two small stateful helpers, no DOM: the widgets draw.
//
// Level k is the full image downsampled by 2**k, cut into TILE x TILE tiles (edge tiles smaller).
// A view is {scale, tx, ty}: screen = t + scale * full-resolution pixel (CSS or canvas px, the same
// units as the width/height passed along). A cache key is `${layer}/${level}/${row}/${col}/${version}`.
//
// Protocol: the client sends {type: "tiles", id, keys: [[layer, level, row, col], ...]} (at most
// MAX_TILE_KEYS), one request in flight; the kernel answers {type: "tiles", id, tiles: [{layer,
// level, row, col, h, w, dtype, channels, version}], dropped} with one buffer per tile, or
// {type: "tiles", id, tiles: [], error}. A cached tile is that entry plus `data`, a typed array
// (Uint8Array, Uint16Array or Float32Array) of h * w * channels values that owns its bytes. A tile
// with `uniform: true` came as one pixel (all its pixels are equal): cached expanded, flag kept.
//
// Additions to the protocol text (nothing in it changed): tileKey, tileData, MAX_TILE_KEYS,
// TILE_TIMEOUT_MS, TILE_CACHE_BYTES; cache.keys() and cache.maxBytes; client.close() (call it when
// the view is destroyed: it clears the timeout timer), client.busy, client.wanted, client.stats;
// createTileClient's optional timeoutMs / setTimer / clearTimer (tests inject fake timers) and maxInFlight
// (MAX_IN_FLIGHT at most); want(keys, urgent): the first `urgent` keys are asked for alone first;
// client.inFlight (the number of requests in flight); stats.lastMs / lastTiles (the last answered request's
// round trip and tile count). Parts of tiles: a wanted key [layer, level, row, col, y0, y1, x0, x1] asks
// for that tile-local rectangle (widgets/_tiles.py); its reply ({part: [y0, x0], h, w of the part}) is
// cached under partKey (one per tile) until the whole tile comes; partCovers tells whether it holds a
// rectangle, shownPart which rectangle of a tile a view shows (PART_MAX, PART_PAD).

import { LITTLE_ENDIAN, unpackBits } from "./shared.js";

export const TILE = 256;
export const MAX_TILE_KEYS = 64; // widgets/_tiles.py MAX_TILE_KEYS
export const TILE_TIMEOUT_MS = 3000; // a reply that never comes frees the slot after this
export const TILE_CACHE_BYTES = 128 * 1024 * 1024;
export const MAX_IN_FLIGHT = 4; // the most requests createTileClient keeps in flight (maxInFlight is clamped to it)

const TYPED = { uint8: Uint8Array, uint16: Uint16Array, float32: Float32Array };

export const tileKey = (layer, level, row, col, version) => `${layer}/${level}/${row}/${col}/${version}`;
/**
 * One ImageData per tile size, reused (putImageData copies it): a zoom's tile canvases allocate no
 * 256 KiB buffers for the garbage collector (it ran for ~100 ms around a zoom to native resolution at
 * 8192^2). Returns get(w, h); parts and edge tiles make a few sizes, the least recently used of more
 * than 8 goes. Callers write every pixel before drawing it.
 */
export function createScratchImages() {
  const scratch = new Map();
  return (w, h) => {
    const key = `${w}x${h}`;
    let img = scratch.get(key);
    if (!img) {
      if (scratch.size >= 8) scratch.delete(scratch.keys().next().value);
      img = new ImageData(w, h);
    }
    scratch.delete(key);
    scratch.set(key, img); // most recently used last
    return img;
  };
}

/** The cached part of tile (layer, level, row, col) at `version` (tiles.js keeps one per tile), or null. */
export function cachedPart(cache, layer, level, row, col, version) {
  const key = partKey(layer, level, row, col, version);
  return cache.has(key) ? cache.get(key) : null;
}

/** Tiles are asked for once the view has been still this long (a wheel burst asks once, at its end), or at
 * once where a gesture's end is known (pointer-up after a drag, a key zoom) or where waiting cannot save a
 * request: a zoom-in at level 0 from native resolution on (NATIVE), where the view only narrows about a
 * point in view, so any further zoom-in needs a subset of the tiles asked for (the Painter and the Viewer). */
export const TILE_SETTLE_MS = 40;
export const NATIVE = 1 - 1e-6; // screen px per image px counted as native resolution (a wheel lands a hair off 1)

/** The cache key of a part of a tile (one per tile: the latest part received). */
export const partKey = (layer, level, row, col, version) => tileKey(`${layer}${PART}`, level, row, col, version);
const PART = ":part";
/** Whether cached part `p` ({part: [y0, x0], h, w}) holds tile-local rows [y0, y1) and columns [x0, x1). */
export const partCovers = (p, [y0, y1, x0, x1]) => !!p && p.part[0] <= y0 && p.part[1] <= x0 && y1 <= p.part[0] + p.h && x1 <= p.part[1] + p.w;

/**
 * A tile a view shows less than PART_MAX of is first asked for as the part in view, PART_PAD px wider
 * (Painter, Viewer): the view is sharp sooner (the first reply of a 1:1 view of the Painter's 8192^2
 * browser test fell from 3.15 to 1.61 MB, its round trip from ~145 to ~91 ms); the whole tile follows.
 */
export const PART_MAX = 0.75;
export const PART_PAD = 2;

/**
 * The part of tile (row, col) of level k that a width x height screen shows under the view {scale,
 * scaleY = scale, tx, ty} (screen = t + scale * full-resolution px), tile-local [y0, y1, x0, x1]:
 * {shows, ask} (ask: PART_PAD px more around it), or null when it shows PART_MAX of the tile or more.
 * `shape` = [H, W] of the full image.
 */
export function shownPart(view, width, height, shape, k, row, col) {
  const [lh, lw] = levelShape(shape, k), h = Math.min(TILE, lh - row * TILE), w = Math.min(TILE, lw - col * TILE);
  const sx = view.scale * 2 ** k, sy = (view.scaleY ?? view.scale) * 2 ** k; // screen px per level-k px
  const x0 = Math.floor(-view.tx / sx) - col * TILE, x1 = Math.ceil((width - view.tx) / sx) - col * TILE;
  const y0 = Math.floor(-view.ty / sy) - row * TILE, y1 = Math.ceil((height - view.ty) / sy) - row * TILE;
  const rect = (pad) => [Math.max(0, y0 - pad), Math.min(h, y1 + pad), Math.max(0, x0 - pad), Math.min(w, x1 + pad)];
  const ask = rect(PART_PAD);
  if (!(ask[1] > ask[0] && ask[3] > ask[2]) || (ask[1] - ask[0]) * (ask[3] - ask[2]) >= PART_MAX * h * w) return null;
  return { shows: rect(0), ask };
}

/** The level for a view: floor(log2(image px per screen px)) clamped to [0, levels - 1] (napari's rule). */
export function levelFor(scale, levels) {
  const top = Math.max(0, (levels | 0) - 1);
  if (!(scale > 0)) return top; // 0, negative or NaN: nothing sensible to show finely
  const k = Math.floor(Math.log2(1 / scale) + 1e-9); // 1e-9: scale = 1/2**k exactly is level k
  return Math.min(top, Math.max(0, k));
}

/** [ceil(H / 2**k), ceil(W / 2**k)]. */
export function levelShape(shape, k) {
  const s = 2 ** k;
  return [Math.ceil(shape[0] / s), Math.ceil(shape[1] / s)];
}

/** [rows, cols] of tiles at level k. */
export function tileGrid(shape, k) {
  const [h, w] = levelShape(shape, k);
  return [Math.ceil(h / TILE), Math.ceil(w / TILE)];
}

/**
 * The tiles of level k a width x height viewport shows, plus `margin` tiles around (clipped to the
 * grid), nearest the viewport's centre first: [[row, col], ...]; [] when the image is out of view.
 */
export function visibleTiles(view, width, height, shape, k, margin = 1) {
  const { scale, tx, ty } = view;
  if (!(scale > 0) || !(width > 0) || !(height > 0)) return [];
  const [rows, cols] = tileGrid(shape, k);
  const span = TILE * 2 ** k; // full-resolution pixels per tile
  // the visible rectangle in full-resolution pixels, clipped to the image
  const x0 = Math.max(0, -tx / scale), x1 = Math.min(shape[1], (width - tx) / scale);
  const y0 = Math.max(0, -ty / scale), y1 = Math.min(shape[0], (height - ty) / scale);
  if (!(x1 > x0 && y1 > y0)) return [];
  const c0 = Math.max(0, Math.floor(x0 / span) - margin), c1 = Math.min(cols - 1, Math.ceil(x1 / span) - 1 + margin);
  const r0 = Math.max(0, Math.floor(y0 / span) - margin), r1 = Math.min(rows - 1, Math.ceil(y1 / span) - 1 + margin);
  const cx = (width / 2 - tx) / scale / span - 0.5, cy = (height / 2 - ty) / scale / span - 0.5; // centre, in tiles
  const out = [];
  for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push([r, c, (r - cy) ** 2 + (c - cx) ** 2]);
  out.sort((a, b) => a[2] - b[2] || a[0] - b[0] || a[1] - b[1]);
  return out.map(([r, c]) => [r, c]);
}

/**
 * An LRU cache bounded by bytes: get(key) (touches), set(key, value, bytes) (evicts the least
 * recently used until it fits; a value larger than maxBytes is not kept: returns false), has(key)
 * (no touch), delete(key), keys() (least recently used first), clear(); `bytes` and `size` getters.
 */
export function createTileCache(maxBytes = TILE_CACHE_BYTES) {
  const map = new Map(); // key -> {value, bytes}; insertion order = least recently used first
  let total = 0;
  function drop(key) {
    const e = map.get(key);
    if (!e) return false;
    map.delete(key);
    total -= e.bytes;
    return true;
  }
  return {
    get(key) {
      const e = map.get(key);
      if (!e) return undefined;
      map.delete(key);
      map.set(key, e);
      return e.value;
    },
    set(key, value, bytes) {
      drop(key);
      const n = Math.max(0, Number(bytes) || 0);
      if (n > maxBytes) return false;
      while (total + n > maxBytes && map.size) drop(map.keys().next().value);
      map.set(key, { value, bytes: n });
      total += n;
      return true;
    },
    has: (key) => map.has(key),
    delete: drop,
    keys: () => [...map.keys()],
    clear() { map.clear(); total = 0; },
    get bytes() { return total; },
    get size() { return map.size; },
    get maxBytes() { return maxBytes; },
  };
}

/** This level's tile if cached, else the nearest coarser cached ancestor: {key, level, tile} or null. */
export function bestTile(cache, layer, version, k, row, col, levels) {
  for (let a = k; a < levels; a++) {
    const key = tileKey(layer, a, row >> (a - k), col >> (a - k), version);
    if (cache.has(key)) return { key, level: a, tile: cache.get(key) };
  }
  return null;
}

/**
 * A reply buffer (DataView, typed array or ArrayBuffer) as an owned typed array of `dtype`, or null if
 * its size is wrong. meta.uniform: the buffer is one pixel, repeated h * w times (byte for byte);
 * meta.packed === "bits": 0/1 uint8 pixels packed 8 per byte (numpy.packbits order). view: a uint8 tile may come
 * back as a view of the reply's buffer (for a caller that converts it at once and keeps only the result).
 */
export function tileData(buffer, meta, { view = false } = {}) {
  const Typed = TYPED[meta.dtype];
  if (!Typed || !buffer) return null;
  const n = meta.h * meta.w * (meta.channels || 1);
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (meta.packed === "bits") { // 0/1 pixels, 8 per byte, the first in the high bit (numpy.packbits)
    if (meta.dtype !== "uint8" || (meta.channels || 1) !== 1 || !(n > 0) || bytes.byteLength !== Math.ceil(n / 8)) return null;
    return unpackBits(bytes, n);
  }
  if (meta.uniform) {
    const px = bytes.byteLength, total = n * Typed.BYTES_PER_ELEMENT;
    if (!(n > 0) || px !== (meta.channels || 1) * Typed.BYTES_PER_ELEMENT) return null;
    const out = new Uint8Array(total);
    out.set(bytes);
    for (let have = px; have < total; have *= 2) out.copyWithin(have, 0, Math.min(have, total - have)); // doubling copies
    return new Typed(out.buffer, 0, n);
  }
  if (bytes.byteLength !== n * Typed.BYTES_PER_ELEMENT) return null;
  if (view && Typed === Uint8Array) return bytes; // read once by the caller (converted, not cached): no copy
  // a view of a bigger buffer (or at an unaligned offset) is copied: the cache's byte count stays true
  const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  return new Typed(owned.buffer, 0, n);
}

/**
 * The tile fetcher: at most `maxInFlight` requests in flight (1 by default; a small fixed number,
 * never more than MAX_IN_FLIGHT). want(keys, urgent) keeps only the newest wanted set ([[layer,
 * level, row, col], ...], most wanted first; its first `urgent` keys, all by default, are the tiles in
 * view) and sends what is missing while a slot is free: the missing urgent keys alone first (a small
 * reply comes sooner; with maxInFlight > 1 a new view's request does not wait for the replies in
 * flight), the rest once no request is in flight. Keys in flight are not asked again. receive(msg, buffers) caches every
 * tile of a reply whose version is still current (a late reply too), frees its slot and sends what is
 * still missing. A reply that never comes frees its slot after timeoutMs; its keys are not asked again
 * while it may still come (until its late reply or setInfo()), so a busy kernel is not handed the same
 * work twice. Keys the kernel rejected (an error reply) are not sent again as the same request until
 * setInfo() (so a draw after each reply cannot loop on an error); keys outside the levels or grid of
 * `info` are never sent. setInfo(info) takes a new _tiles_info and forgets the cached tiles of its
 * layers' old versions. close() stops it (clears its timers; call it when the view goes). Timers are
 * injectable for tests. `rgba`: layers whose image tiles travel in the image's own channels (grey 1,
 * RGB 3: fewer bytes) and are cached as RGBA, so the widget draws them like 4-channel tiles. `laterKeys`:
 * the keys past the urgent ones go at most this many per request (MAX_TILE_KEYS by default), so that a
 * new view's urgent request waits for one such reply at most, not for a whole margin's.
 */
export function createTileClient({ send, cache, info, timeoutMs = TILE_TIMEOUT_MS, setTimer = setTimeout, clearTimer = clearTimeout, maxInFlight = 1, rgba = [], laterKeys = MAX_TILE_KEYS }) {
  const askLater = Math.floor(Number(laterKeys)), later = askLater >= 1 ? Math.min(MAX_TILE_KEYS, askLater) : MAX_TILE_KEYS;
  const toRgba = new Set(rgba); // layers whose uint8 tiles of 1 or 3 channels are cached as RGBA (4 channels)
  const slots = Math.min(MAX_IN_FLIGHT, Math.max(1, Math.floor(Number(maxInFlight)) || 1));
  let current = info || {};
  let wanted = [];
  let urgent = 0;
  const inFlight = new Map(); // id -> {keys, tiles: Set of tile keys, timer}
  let nextId = 0;
  let failed = ""; // the keys of the last request the kernel rejected, as JSON
  let closed = false;
  const late = new Map(); // id of a timed-out request -> its tile keys (its reply may still come)
  const stats = { sent: 0, received: 0, cached: 0, stale: 0, timeouts: 0, errors: 0, lastError: "", lastMs: 0, lastTiles: 0 };
  const version = (layer) => current.layers?.[layer]?.version;
  // the cache key a wanted key fills: the tile's, or its part's (a key of 8: [..., y0, y1, x0, x1])
  const keyOf = ([l, k, r, c, ...rect]) => (rect.length ? partKey : tileKey)(l, k, r, c, version(l));
  const keysOf = (keys) => new Set(keys.map(keyOf));

  // the missing keys of the wanted set (not cached, not in flight, not late): the urgent ones if any, else
  // the rest (only when nothing is in flight: a margin never queues in front of the next view's tiles)
  function missing() {
    const seen = new Set(), first = [], rest = [];
    const levels = current.levels || 0, shape = current.shape;
    const pending = new Set();
    for (const keys of late.values()) for (const k of keys) pending.add(k);
    for (const req of inFlight.values()) for (const k of req.tiles) pending.add(k);
    for (let i = 0; i < wanted.length; i++) {
      const [layer, level, row, col, ...rect] = wanted[i];
      const v = version(layer);
      if (v === undefined || !shape || !(Number.isInteger(level) && level >= 0 && level < levels)) continue;
      const [rows, cols] = tileGrid(shape, level);
      if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && col >= 0 && row < rows && col < cols)) continue;
      const k = tileKey(layer, level, row, col, v);
      if (seen.has(k) || cache.has(k) || pending.has(k)) continue;
      if (rect.length) { // a part: not when it is cached (or in flight) already, nor when its rectangle is empty or out of the tile
        const [lh, lw] = levelShape(shape, level), h = Math.min(TILE, lh - row * TILE), w = Math.min(TILE, lw - col * TILE);
        const [y0, y1, x0, x1] = rect;
        if (!(rect.length === 4 && rect.every(Number.isInteger) && y0 >= 0 && y0 < y1 && y1 <= h && x0 >= 0 && x0 < x1 && x1 <= w)) continue;
        const pk = partKey(layer, level, row, col, v);
        if (seen.has(pk) || pending.has(pk) || partCovers(cachedPart(cache, layer, level, row, col, v), rect)) continue;
        seen.add(pk);
      } else seen.add(k);
      const out = i < urgent ? first : rest;
      if (out.length < (out === first ? MAX_TILE_KEYS : later)) out.push(rect.length ? [layer, level, row, col, ...rect] : [layer, level, row, col]);
      if (first.length >= MAX_TILE_KEYS) break;
    }
    return first.length ? first : inFlight.size ? [] : rest;
  }
  function free(id) {
    const req = inFlight.get(id);
    if (req) clearTimer(req.timer);
    inFlight.delete(id);
  }
  function pump() {
    while (!closed && inFlight.size < slots) {
      const keys = missing();
      if (!keys.length || JSON.stringify(keys) === failed) return;
      const id = ++nextId;
      const timer = setTimer(() => {
        const req = inFlight.get(id);
        if (!req) return;
        stats.timeouts++;
        late.set(id, req.tiles);
        if (late.size > 8) late.delete(late.keys().next().value); // a kernel that never answers: bounded
        inFlight.delete(id);
        pump();
      }, timeoutMs);
      inFlight.set(id, { keys, tiles: keysOf(keys), timer, t0: performance.now() });
      stats.sent++;
      send({ type: "tiles", id, keys });
    }
  }
  return {
    want(keys, nUrgent) {
      wanted = Array.isArray(keys) ? keys : [];
      urgent = Number.isInteger(nUrgent) && nUrgent >= 0 ? nUrgent : wanted.length;
      pump();
    },
    receive(msg, buffers = []) {
      if (!msg || msg.type !== "tiles") return false;
      if (closed) return true;
      stats.received++;
      late.delete(msg.id);
      const tiles = Array.isArray(msg.tiles) ? msg.tiles : [];
      for (let i = 0; i < tiles.length && i < buffers.length; i++) {
        const t = tiles[i];
        if (t.version !== version(t.layer)) { stats.stale++; continue; } // the layer moved on meanwhile
        const convert = toRgba.has(t.layer) && t.dtype === "uint8" && (t.channels === 1 || t.channels === 3);
        let data = tileData(buffers[i], t, { view: convert }), channels = t.channels;
        if (!data) continue;
        if (convert) { // into a new RGBA array straight from the reply's bytes
          const px = new Uint8Array(4 * t.h * t.w);
          toRGBA(px, data, channels);
          [data, channels] = [px, 4];
        }
        const { layer, level, row, col, h, w, dtype, version: v } = t, entry = { layer, level, row, col, h, w, dtype, channels, version: v, data };
        if (t.uniform === true) entry.uniform = true;
        const part = Array.isArray(t.part) && t.part.length === 2 && t.part.every(Number.isInteger) ? t.part : null;
        if (part) { // part of a tile: kept under its own key until the whole tile comes
          if (cache.has(tileKey(layer, level, row, col, v))) continue;
          entry.part = part;
          cache.set(partKey(layer, level, row, col, v), entry, data.byteLength);
        } else {
          cache.set(tileKey(layer, level, row, col, v), entry, data.byteLength);
          cache.delete(partKey(layer, level, row, col, v));
        }
        stats.cached++;
      }
      if (msg.error) {
        stats.errors++;
        stats.lastError = String(msg.error);
      }
      const req = inFlight.get(msg.id);
      if (req) {
        if (msg.error) failed = JSON.stringify(req.keys); // the same request would fail again
        stats.lastMs = performance.now() - req.t0; // request sent -> reply here (the probes: where the time goes)
        stats.lastTiles = tiles.length;
        free(msg.id);
      }
      pump();
      return true;
    },
    setInfo(next) {
      const before = current.layers || {};
      current = next || {};
      failed = "";
      late.clear();
      for (const key of cache.keys()) {
        const parts = key.split("/"), layer = parts[0].endsWith(PART) ? parts[0].slice(0, -PART.length) : parts[0];
        if (parts.length !== 5 || !(layer in before)) continue; // not one of this client's tiles
        if (String(version(layer)) !== parts[4]) cache.delete(key);
      }
      for (const req of inFlight.values()) req.tiles = keysOf(req.keys); // in flight under the new versions
      pump();
    },
    close() {
      closed = true;
      for (const id of [...inFlight.keys()]) free(id);
      late.clear();
    },
    get busy() { return inFlight.size > 0; },
    get inFlight() { return inFlight.size; },
    get wanted() { return wanted; },
    stats,
  };
}

/** Image tile pixels of 1 (grey), 3 (RGB) or 4 channels into RGBA (render.tiles._to_rgba's rule: opaque unless 4). */
export function toRGBA(rgba, px, channels) {
  if (channels === 4) { rgba.set(px.subarray(0, rgba.length)); return; }
  const n = rgba.length >> 2;
  if (LITTLE_ENDIAN && rgba.byteOffset % 4 === 0) { // one 32-bit write per pixel: ~2x four byte writes in Chromium here
    const out = new Int32Array(rgba.buffer, rgba.byteOffset, n); // Int32: the packed value stays a small int (no double)
    let i = 0;
    if (channels === 3 && px.byteOffset % 4 === 0) { // 4 RGB pixels are 3 words: 2.5x the byte reads below (node, 256^2)
      const src = new Int32Array(px.buffer, px.byteOffset, (3 * n) >> 2), A = 0xff000000 | 0;
      for (let j = 0; i + 4 <= n; i += 4, j += 3) {
        const s0 = src[j], s1 = src[j + 1], s2 = src[j + 2];
        out[i] = A | (s0 & 0xffffff); out[i + 1] = A | (s0 >>> 24) | ((s1 & 0xffff) << 8);
        out[i + 2] = A | (s1 >>> 16) | ((s2 & 0xff) << 16); out[i + 3] = A | (s2 >>> 8);
      }
    }
    if (channels === 3) for (let j = 3 * i; i < n; i++, j += 3) out[i] = 0xff000000 | (px[j + 2] << 16) | (px[j + 1] << 8) | px[j];
    else for (; i < n; i++) out[i] = 0xff000000 | (px[i] * 0x010101);
    return;
  }
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += channels) {
    rgba[i] = px[j]; rgba[i + 1] = px[j + (channels === 3 ? 1 : 0)]; rgba[i + 2] = px[j + (channels === 3 ? 2 : 0)]; rgba[i + 3] = 255;
  }
}

// ---- the pixel grid at native zoom (Painter, ThresholdTuner, Viewer draw this one) -------------

/** Screen px per image px from which the pixel grid is drawn. */
export const GRID_FROM = 8;

/**
 * The pixel grid's lines for a view {scale, tx, ty, scaleY = scale} (screen = t + scale * image px) on a
 * width x height screen: the image pixel edges (integers 0..W, 0..H) of every pixel at least partly
 * in view, as screen coordinates {xs, ys}; empty below GRID_FROM screen px per image px.
 */
export function gridLines(view, width, height, W, H) {
  const sx = view.scale, sy = view.scaleY ?? view.scale;
  const on = (v) => v >= GRID_FROM * 0.995; // a zoom the indicator rounds to 800% (a wheel lands on 799.6%) counts
  if (!(on(sx) && on(sy))) return { xs: [], ys: [] };
  const line = (t, s, n, size) => {
    const a = Math.max(0, Math.floor(-t / s)), b = Math.min(n, Math.ceil((size - t) / s));
    const out = [];
    for (let i = a; i <= b; i++) out.push(t + i * s);
    return out;
  };
  return { xs: line(view.tx, sx, W, width), ys: line(view.ty, sy, H, height) };
}

/** The pixel grid: one-device-pixel grey lines on the image pixels' edges (at half pixels: crisp). dpr = device px per screen px. */
export function drawPixelGrid(ctx, view, width, height, W, H, dpr = 1) {
  const { xs, ys } = gridLines(view, width, height, W, H);
  if (!xs.length || !ys.length) return;
  const at = (v) => Math.round(dpr * v) + 0.5;
  const top = dpr * ys[0], bottom = dpr * ys[ys.length - 1], left = dpr * xs[0], right = dpr * xs[xs.length - 1];
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.beginPath();
  for (const x of xs) { ctx.moveTo(at(x), top); ctx.lineTo(at(x), bottom); }
  for (const y of ys) { ctx.moveTo(left, at(y)); ctx.lineTo(right, at(y)); }
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(128, 128, 128, 0.5)";
  ctx.stroke();
  ctx.restore();
}
