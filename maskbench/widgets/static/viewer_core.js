// maskbench Viewer: pure helpers (the DOM wiring is viewer.js; decodeArray, unpackBits and the
// overlay blend are in shared.js). node tests import this file: tests/js/test_viewer.mjs.
import { LITTLE_ENDIAN, blendOverlay, subscribe, zoomAbout } from "./shared.js";
import {
  NATIVE, TILE, TILE_SETTLE_MS, cachedPart, createScratchImages, createTileCache, createTileClient, drawPixelGrid, levelFor, partCovers, shownPart, visibleTiles,
} from "./tiles.js";

export const MAX_ZOOM = 32;
export const PANELS = [
  ["image", "Image"],
  ["mask", "Mask"],
  ["result", "Result"],
  ["overlay", "Overlay"],
];

/** Modes whose result the browser composes itself (maskbench/widgets/_viewer_core.py BROWSER_MODES):
 * every replaced pixel gets one colour, so the result is a per-pixel choice between the image proxy
 * and that colour. inpaint / weighted results are computed by the kernel and sent as RGBA. */
export const BROWSER_MODES = ["keep", "remove", "mean"];

/** The smallest mask value of `kind`: a label >= 1 (labels are integers), a weight >= 0.5 (the weight proxy is round(w * 255)). */
export const maskFrom = (kind) => (kind === "weight" ? 128 : 1);
/** Is proxy pixel i a mask pixel? (The loops below compare with maskFrom(kind) once taken: the same rule.) */
export const isMaskPixel = (labels, i, kind) => labels[i] >= maskFrom(kind);

/**
 * The result panel of a constant-fill mode, from the image proxy `image` (RGBA), the mask proxy
 * `labels` and `fills` = [RGBA of `fill`, RGBA of the mean] (the kernel's `_fills`):
 * keep: mask pixels keep the image, the rest is `fill`; remove: mask pixels are `fill`;
 * mean: mask pixels are the mean colour. Same pixels as the kernel's apply_mask on the proxies.
 */
export function composeResult(image, labels, fills, mode, kind = "labels", out = null) {
  const n = labels.length;
  out = out && out.length === 4 * n ? out : new Uint8ClampedArray(4 * n);
  const base = mode === "mean" ? 4 : 0;
  const replaceMask = mode !== "keep"; // keep replaces the pixels outside the mask
  const src = words(image, n), dst = words(out, n);
  if (src && dst) { // one 32-bit move per pixel (~3x the four byte moves below at 1024^2), without a branch (a
    // scattered mask mispredicts: ~2x slower with one in node at 256^2)
    const fill = new Int32Array(Uint8Array.from(fills.slice(base, base + 4)).buffer)[0], from = maskFrom(kind);
    const flip = replaceMask ? 0 : -1; // all ones where the pixel takes the fill
    for (let i = 0; i < n; i++) {
      const s = src[i], take = -(labels[i] >= from) ^ flip;
      dst[i] = s ^ ((s ^ fill) & take);
    }
    return out;
  }
  const [r, g, b, a] = [fills[base], fills[base + 1], fills[base + 2], fills[base + 3]];
  for (let i = 0; i < n; i++) {
    const p = 4 * i;
    if (isMaskPixel(labels, i, kind) === replaceMask) {
      out[p] = r; out[p + 1] = g; out[p + 2] = b; out[p + 3] = a;
    } else {
      out[p] = image[p]; out[p + 1] = image[p + 1]; out[p + 2] = image[p + 2]; out[p + 3] = image[p + 3];
    }
  }
  return out;
}

/** The first `n` RGBA pixels of a byte array as an Int32Array view (one word per pixel), or null if it is not 4-byte aligned. */
function words(bytes, n) { // Int32: a word stays a small integer in V8 (a Uint32 above 2^31 would be a double)
  return bytes.byteOffset % 4 === 0 && bytes.length >= 4 * n ? new Int32Array(bytes.buffer, bytes.byteOffset, n) : null;
}

/**
 * The inpaint panel: the image proxy with its mask pixels replaced by `colours`, the kernel's RGBA
 * of the mask pixels in raster order (_result of shape (n, 4): a quarter of the bytes of a whole
 * panel when the mask covers a quarter of the image; the other pixels are the image's exactly).
 */
export function fillMaskPixels(image, labels, colours, kind = "labels", out = null) {
  const n = labels.length;
  out = out && out.length === 4 * n ? out : new Uint8ClampedArray(4 * n);
  out.set(image);
  const m = colours.length >> 2, dst = words(out, n);
  const col = dst && (words(colours, m) || words(colours.slice(0, 4 * m), m)); // a reply's view may be unaligned: copied
  if (col) { // one 32-bit move per mask pixel
    const from = maskFrom(kind);
    for (let i = 0, q = 0; i < n && q < m; i++) if (labels[i] >= from) dst[i] = col[q++];
    return out;
  }
  for (let i = 0, q = 0; i < n && q < colours.length; i++) {
    if (!isMaskPixel(labels, i, kind)) continue;
    const p = 4 * i;
    out[p] = colours[q]; out[p + 1] = colours[q + 1]; out[p + 2] = colours[q + 2]; out[p + 3] = colours[q + 3];
    q += 4;
  }
  return out;
}

/** Mask panel pixels: class colours on black (labels / bool) or a grey ramp (weights). */
export function colorizeMask(labels, palette, kind = "labels", out = null) {
  const n = labels.length;
  out = out && out.length === 4 * n ? out : new Uint8ClampedArray(n * 4);
  const k = palette.length / 4, weight = kind === "weight", dst = words(out, n);
  if (dst && LITTLE_ENDIAN && (!weight || labels instanceof Uint8Array || labels instanceof Uint8ClampedArray)) {
    // one table word per pixel: ~2x the byte writes below (node, 256^2; mask tiles are composed on every zoom)
    const size = weight ? 256 : k, lut = new Int32Array(Math.max(1, size)), black = 0xff000000 | 0;
    for (let v = 0; v < size; v++) {
      const [r, g, b] = weight ? [v, v, v] : v > 0 ? [palette[4 * v], palette[4 * v + 1], palette[4 * v + 2]] : [0, 0, 0];
      lut[v] = black | (b << 16) | (g << 8) | r;
    }
    for (let i = 0; i < n; i++) { const v = labels[i]; dst[i] = v < size ? lut[v] : black; }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const p = 4 * i;
    const v = labels[i];
    if (weight) {
      out[p] = out[p + 1] = out[p + 2] = v;
    } else if (v > 0 && v < k) {
      out[p] = palette[4 * v];
      out[p + 1] = palette[4 * v + 1];
      out[p + 2] = palette[4 * v + 2];
    } else {
      out[p] = out[p + 1] = out[p + 2] = 0; // black (a reused buffer holds other pixels)
    }
    out[p + 3] = 255;
  }
  return out;
}

/** Paint contour pixels (edges[i] == 1) solid in their class colour, in place. */
export function drawEdges(rgba, labels, edges, palette, kind = "labels") {
  const k = palette.length / 4;
  for (let i = 0; i < edges.length; i++) {
    if (!edges[i]) continue;
    const cls = kind === "weight" ? 1 : labels[i];
    if (cls <= 0 || cls >= k) continue;
    rgba[4 * i] = palette[4 * cls];
    rgba[4 * i + 1] = palette[4 * cls + 1];
    rgba[4 * i + 2] = palette[4 * cls + 2];
  }
  return rgba;
}

/** Keep the zoomed image covering its panel: scale in [1, hi], offsets in [1 - s, 0]. */
export function clampView(view, hi = MAX_ZOOM) {
  const s = Math.min(hi, Math.max(1, view.s));
  const clamp = (t) => Math.min(0, Math.max(1 - s, t));
  return { s, tx: clamp(view.tx), ty: clamp(view.ty) };
}

/** Zoom by `factor` about the point (u, v) of the panel (fractions of its width / height). */
export function zoomAt(view, factor, u, v, hi = MAX_ZOOM) {
  const [s, tx, ty] = zoomAbout(view.s, view.tx, view.ty, u, v, factor, 1, hi);
  return clampView({ s, tx, ty }, hi);
}

/** Pan by (du, dv), fractions of the panel size. */
export function panBy(view, du, dv) {
  return clampView({ s: view.s, tx: view.tx + du, ty: view.ty + dv }, Math.max(MAX_ZOOM, view.s));
}

/** The closest zoom: this many screen pixels per image pixel (past native resolution). */
export const PIXEL_ZOOM = 32;

/** The largest view scale for a `fullW`-wide image in a panel `panelPx` device pixels wide:
 * MAX_ZOOM, or more for big images, up to PIXEL_ZOOM screen pixels per image pixel. */
export function maxZoom(fullW, panelPx) {
  return Math.max(MAX_ZOOM, (PIXEL_ZOOM * fullW) / Math.max(1, panelPx));
}

/**
 * Where full-resolution pixels land on a `cw` x `ch` canvas showing a `fullW`-wide image under
 * `view`: canvas = t + scale * imagePixel (scale in canvas pixels per image pixel). This is the
 * view of the tile protocol (static/tiles.js visibleTiles, levelFor).
 */
export function canvasView(view, cw, ch, fullW) {
  return { scale: (cw * view.s) / fullW, tx: view.tx * cw, ty: view.ty * ch };
}

/**
 * The view at `scale` canvas pixels per image pixel (1: native resolution) about the panel point
 * (u, v), its offsets snapped to whole canvas pixels so that image pixels fall on canvas pixels.
 */
export function viewAtScale(view, scale, u, v, cw, ch, fullW, hi) {
  const now = canvasView(view, cw, ch, fullW).scale;
  const z = zoomAt(view, scale / now, u, v, hi);
  return clampView({ s: z.s, tx: Math.round(z.tx * cw) / cw, ty: Math.round(z.ty * ch) / ch }, hi);
}

/** The zoom indicator: screen pixels per image pixel as a percentage (100% = native resolution). */
export function zoomText(scale) {
  const p = 100 * scale;
  return `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

/** The Viewer's layouts (maskbench.widgets.viewer.LAYOUTS): the grid, or one panel full width. */
export const LAYOUTS = ["grid", "image", "mask", "result", "overlay"];

/** Panel fraction (u, v) -> image pixel (col, row) of a w x h display proxy. */
export function panelToImage(view, u, v, w, h) {
  return [((u - view.tx) / view.s) * w, ((v - view.ty) / view.s) * h];
}

/** CSS transform for a canvas of the panel's size (translate % is of the canvas' own size). */
export function viewTransform(view) {
  return `translate(${(view.tx * 100).toFixed(4)}%, ${(view.ty * 100).toFixed(4)}%) scale(${view.s.toFixed(4)})`;
}

// ---- tiles past the proxy (the LOD protocol of static/tiles.js) --------------------------------

/** Does the view show more than the proxy has? (canvas pixels per proxy pixel > 1) */
export const needsTiles = (scale, fullW, proxyW) => (scale * fullW) / Math.max(1, proxyW) > 1.0001;

/**
 * The tile layers a panel is drawn from: the image and the mask (the browser composes the overlay
 * and the keep / remove / mean results from them, like the proxy path), the kernel's `result`
 * tiles for the modes it draws (inpaint, weighted), and `edges` (plus the mask for their colours)
 * when contours are on.
 */
export function panelLayers(panel, mode, contours) {
  const edges = contours && (panel === "result" || panel === "overlay") ? ["edges"] : [];
  if (panel === "image") return ["image"];
  if (panel === "mask") return ["mask"];
  if (panel === "overlay" || BROWSER_MODES.includes(mode)) return ["image", "mask", ...edges];
  return ["result", ...(edges.length ? ["mask", "edges"] : [])];
}

/**
 * RGBA pixels of one panel's tile from its layers' tiles `t` = {image, mask, result, edges} (flat
 * typed arrays of one tile) and `p` = {mode, kind, palette, fills, opacity}: the proxy path's
 * functions on a tile, so a tile shows exactly what the panel shows on the proxy.
 */
export function tilePixels(panel, t, p, out = null) {
  const view = (a) => new Uint8ClampedArray(a.buffer, a.byteOffset, a.length); // the cached tile's own bytes
  const fits = (n) => (out && out.length === n ? out : new Uint8ClampedArray(n));
  const edges = t.edges && (panel === "result" || panel === "overlay");
  if (panel === "image") return view(t.image); // never drawn on: no copy
  if (panel === "mask") out = colorizeMask(t.mask, p.palette, p.kind, out);
  else if (panel === "overlay") out = blendOverlay(t.image, t.mask, p.palette, p.opacity, p.kind, fits(t.image.length));
  else if (BROWSER_MODES.includes(p.mode)) out = composeResult(t.image, t.mask, p.fills, p.mode, p.kind, out);
  else if (!edges) return view(t.result);
  else (out = fits(t.result.length)).set(t.result);
  if (edges) drawEdges(out, t.mask, t.edges, p.palette, p.kind);
  return out;
}

/**
 * Where tile (level, row, col) of `h` x `w` level pixels lands on the canvas under the canvas view
 * `g` (canvasView): [x, y, width, height] in canvas pixels (a level pixel covers 2^level image pixels).
 */
export function tileRect(g, level, row, col, h, w, tile = 256) {
  const s = 2 ** level * g.scale;
  return [g.tx + col * tile * s, g.ty + row * tile * s, w * s, h * s];
}

// ---- the tile view (DOM: canvases; node-tested with the fake DOM in tests/js/test_viewer_tiles.mjs) ----

const SPARE_CANVASES = 32;
// The margin and the whole tiles after parts go LATER_KEYS tiles a request (~1-2 MB; a whole margin came as one
// ~6 MB reply that a zoom right after it waited for), one at a time; a new view's tiles go at once beside one
// (two requests in flight at most: a reply costs ~20 ms + ~18 ms per MB here, kernel to widget).
export const LATER_KEYS = 12;
const MAX_TILE_CANVASES = 192; // composed 256 x 256 tiles kept as canvases: <= 48 MiB (raw tiles: the tile cache's bound)

/**
 * The tile canvases over the four panels: past the proxy's resolution each panel draws the tiles of
 * the level the zoom needs (the best cached ancestor until they arrive; the proxy underneath where
 * none is cached), composed per panel by tilePixels and kept as small canvases.
 */
export function createTileView({ model, ui, root, probes, getView, getParams, settleMs = TILE_SETTLE_MS }) {
  let info = model.get("_tiles_info") || {};
  const cache = createTileCache();
  const client = createTileClient({ send: (msg) => model.send(msg), cache, info, rgba: ["image", "result"], laterKeys: LATER_KEYS, maxInFlight: 2 }); // rgba: grey / RGB on the wire
  const canvases = new Map(); // `${panel}/${level}/${row}/${col}` -> {canvas, stamp}, least recently used first
  let frame = 0;
  // the settle rule (tiles.js TILE_SETTLE_MS): a wheel burst asks for its last view's tiles only
  let lastView = "", lastScale = 0, zoomIn = false, movedAt = 0, settled = false, timer = 0;
  let aim = null; // {view, u, v}: the last wheel zoom-in's view and panel point (aim())
  const version = (layer) => info.layers?.[layer]?.version ?? 0;
  const keyOf = (layer, k, r, c) => `${layer}/${k}/${r}/${c}/${version(layer)}`;
  const layerTiles = (layers, k, r, c) => {
    const out = {};
    for (const l of layers) {
      const t = cache.get(keyOf(l, k, r, c));
      if (!t) return null;
      out[l] = t;
    }
    return out;
  };
  // the cached parts of tile (k, r, c) of every layer when they are one rectangle ({layer: part}), else null
  const layerParts = (layers, k, r, c) => {
    const out = {};
    let first = null;
    for (const l of layers) {
      const t = cachedPart(cache, l, k, r, c, version(l));
      if (!t) return null;
      first ??= t;
      if (t.part[0] !== first.part[0] || t.part[1] !== first.part[1] || t.h !== first.h || t.w !== first.w) return null;
      out[l] = t;
    }
    return out;
  };
  const scratchImage = createScratchImages(); // one ImageData per tile size, reused
  const spare = []; // canvases of evicted tiles: a new tile takes one (creating a canvas and its context costs more)
  function tileCanvas(panel, k, r, c, tiles, stamp, p, tag = "") { // tag: ":part" for a part's canvas
    const key = `${panel}/${k}/${r}/${c}${tag}`;
    const e = canvases.get(key) || { canvas: spare.pop() || document.createElement("canvas"), stamp: null };
    canvases.delete(key);
    canvases.set(key, e);
    while (canvases.size > MAX_TILE_CANVASES) { // the least recently used goes; its canvas (and 2D context) is reused
      const old = canvases.keys().next().value;
      if (spare.length < SPARE_CANVASES) spare.push(canvases.get(old).canvas);
      canvases.delete(old);
    }
    if (e.stamp !== stamp) {
      const { h, w } = Object.values(tiles)[0];
      const img = scratchImage(w, h);
      const px = tilePixels(panel, Object.fromEntries(Object.entries(tiles).map(([l, t]) => [l, t.data])), p, img.data);
      if (e.canvas.width !== w || e.canvas.height !== h) Object.assign(e.canvas, { width: w, height: h });
      e.canvas.getContext("2d").putImageData(px === img.data ? img : new ImageData(px, w, h), 0, 0);
      e.stamp = stamp;
    }
    return e.canvas;
  }
  // What one panel needs under `view` on its cw x ch canvas: its missing tiles go into `wanted` ({now, later}:
  // Maps of keys); returns the geometry drawPanel paints with (k: null where the proxy shows enough).
  function plan(panel, cw, ch, view, p, wanted) {
    const [H, W] = info.shape || [0, 0];
    const g = canvasView(view, cw, ch, W);
    if (!cw || !info.levels || !needsTiles(g.scale, W, p.proxyW)) return { g, k: null };
    const k = levelFor(g.scale, info.levels);
    const layers = panelLayers(panel, p.mode, p.contours);
    const inView = visibleTiles(g, cw, ch, [H, W], k, 0);
    const seen = new Set(inView.map(([r, c]) => `${r}/${c}`));
    const shown = new Map(inView.map(([r, c]) => [`${r}/${c}`, shownPart(g, cw, ch, [H, W], k, r, c)]));
    for (const [r, c] of [...inView, ...visibleTiles(g, cw, ch, [H, W], k, 1)]) {
      const part = shown.get(`${r}/${c}`);
      for (const l of layers) {
        const key = keyOf(l, k, r, c);
        if (cache.has(key)) continue;
        if (!seen.has(`${r}/${c}`)) { wanted.later.set(key, [l, k, r, c]); continue; } // the margin only once the view is sharp
        if (!part) { wanted.now.set(key, [l, k, r, c]); continue; }
        wanted.later.set(`${key}:whole`, [l, k, r, c]); // the whole tile after the part in view
        if (partCovers(cachedPart(cache, l, k, r, c, version(l)), part.shows)) continue;
        const had = wanted.now.get(key); // another panel's part of it: ask for both (their bounding box)
        const [y0, y1, x0, x1] = had && had.length === 8 ? [Math.min(had[4], part.ask[0]), Math.max(had[5], part.ask[1]), Math.min(had[6], part.ask[2]), Math.max(had[7], part.ask[3])] : part.ask;
        if (!had || had.length === 8) wanted.now.set(key, [l, k, r, c, y0, y1, x0, x1]);
      }
    }
    return { g, k, layers, inView, shown };
  }
  // one panel: returns whether every visible tile is drawn at the level the zoom needs
  function drawPanel(panel, frameEl, canvas, cw, ch, pl, p) {
    if (canvas.width !== cw || canvas.height !== ch) Object.assign(canvas, { width: cw, height: ch });
    const complete = drawTiles(panel, frameEl, canvas, cw, ch, pl, p);
    const [H, W] = info.shape || [0, 0];
    if (p.grid) drawPixelGrid(canvas.getContext("2d"), pl.g, cw, ch, W, H);
    return complete;
  }
  function drawTiles(panel, frameEl, canvas, cw, ch, { g, k, layers, inView, shown }, p) {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    const [H, W] = info.shape || [0, 0];
    Object.assign(frameEl.dataset, { scale: String(g.scale), ox: String(g.tx), oy: String(g.ty), level: "", layers: "" });
    if (k === null) return true;
    frameEl.dataset.level = String(k);
    frameEl.dataset.layers = layers.join(" ");
    const draws = new Map(), parts = [];
    let complete = true;
    for (const [r, c] of inView) {
      let a = k;
      for (; a < info.levels; a++) {
        const [R, C] = [r >> (a - k), c >> (a - k)];
        if (draws.has(`${a}/${R}/${C}`)) break;
        const t = layerTiles(layers, a, R, C);
        if (t) { draws.set(`${a}/${R}/${C}`, [a, R, C, t]); break; }
      }
      const part = a === k ? null : layerParts(layers, k, r, c); // this level's part, over the ancestor
      if (part) parts.push([r, c, part]);
      const want = shown.get(`${r}/${c}`);
      complete &&= a === k || (!!part && !!want && partCovers(Object.values(part)[0], want.shows));
    }
    const stamp0 = `${layers.map(version).join(",")}|${p.stamp}`;
    ctx.save();
    ctx.beginPath();
    ctx.rect(g.tx, g.ty, W * g.scale, H * g.scale); // edge tiles' last level pixel may reach past the image
    ctx.clip();
    ctx.imageSmoothingEnabled = false; // nearest: crisp pixels past 1:1
    for (const [a, R, C, t] of [...draws.values()].sort((x, y) => y[0] - x[0])) { // coarse first, fine over it
      const { h, w } = Object.values(t)[0];
      ctx.drawImage(tileCanvas(panel, a, R, C, t, stamp0, p), ...tileRect(g, a, R, C, h, w));
    }
    for (const [r, c, t] of parts) { // parts of this level's tiles, where they lie
      const { h, w, part: [y0, x0] } = Object.values(t)[0], s = 2 ** k * g.scale;
      const canvas = tileCanvas(panel, k, r, c, t, `${stamp0}|${y0},${x0},${h},${w}`, p, ":part");
      ctx.drawImage(canvas, g.tx + (c * TILE + x0) * s, g.ty + (r * TILE + y0) * s, w * s, h * s);
    }
    ctx.restore();
    return complete;
  }
  // every panel's plan under `view` (its missing tiles into `wanted`): [panel, frame, cw, ch, plan]
  function planAll(view, p, wanted) {
    return Object.entries(ui.panels).map(([panel, frameEl]) => {
      const [cw, ch] = [Math.round(frameEl.clientWidth * devicePixelRatio), Math.round(frameEl.clientHeight * devicePixelRatio)];
      return [panel, frameEl, cw, ch, plan(panel, cw, ch, view, p, wanted)];
    });
  }
  // A wheel zoom-in about a point with the view at level 0, short of native: every view from here to native
  // about that point shows the native view's tiles (the views nest), so those are asked for before the burst
  // ends (its last event comes ~30-40 ms later in the browser tests; the reply takes ~60-140 ms). Urgent keys only.
  function aimedKeys(plans, p) {
    if (!aim || aim.view !== getView()) return [];
    const big = plans.reduce((a, b) => (b[2] > a[2] ? b : a));
    const [, , cw, ch, pl] = big, W = (info.shape || [0, 0])[1];
    if (pl.k !== 0 || !(pl.g.scale < NATIVE)) return [];
    const target = viewAtScale(aim.view, 1, aim.u, aim.v, cw, ch, W, maxZoom(W, cw));
    const wanted = { now: new Map(), later: new Map() };
    planAll(target, p, wanted);
    return [...wanted.now.values()];
  }
  // coalesce: while the view moves, draw what is cached and ask for nothing (but the native view a zoom-in at
  // level 0 heads for); ask once it has been still settleMs, or at once where the gesture ended (settle()) or on
  // a zoom-in at native resolution or past it
  function ask(view, plans, p, wanted) {
    for (const key of wanted.now.keys()) wanted.later.delete(key);
    const now = performance.now(), key = `${view.s},${view.tx},${view.ty},${plans.map(([, , cw, ch]) => `${cw}x${ch}`).join(",")}`;
    if (key !== lastView) { zoomIn = lastScale > 0 && view.s > lastScale; [lastView, lastScale, movedAt] = [key, view.s, now]; }
    // some panel at native resolution: the enlarged one, whose thumbnails show the view coarser (waiting for
    // them cost ~30-40 ms of each zoom to native there; their few tiles may change on a further zoom-in)
    const native = plans.some(([, , , , pl]) => pl.k === 0 && pl.g.scale >= NATIVE);
    if (settled || (zoomIn && native)) { settled = false; movedAt = -Infinity; }
    clearTimeout(timer);
    if (now - movedAt >= settleMs) { // a small first reply makes the view sharp sooner (a reply's cost grows with its bytes)
      client.want([...wanted.now.values(), ...wanted.later.values()], wanted.now.size); // later: once nothing is in flight
    } else {
      client.want(zoomIn ? aimedKeys(plans, p) : []); // nothing else for a view that is still moving (the requests in flight stay)
      timer = setTimeout(schedule, settleMs - (now - movedAt) + 1);
    }
  }
  function draw() {
    frame = 0;
    const view = getView(), p = getParams(), wanted = { now: new Map(), later: new Map() };
    const plans = planAll(view, p, wanted);
    ask(view, plans, p, wanted); // before painting: the request leaves ~5-10 ms sooner (the fallbacks of four panels)
    let complete = true;
    for (const [panel, frameEl, cw, ch, pl] of plans) {
      const done = drawPanel(panel, frameEl, ui.tiles[panel], cw, ch, pl, p);
      complete &&= done;
      if (panel === "result" && done && pl.k !== null) probes.end("tileResult");
    }
    const shown = plans.some(([, , , , pl]) => pl.k !== null);
    root.dataset.tilesComplete = complete ? "1" : "0";
    if (complete && shown) probes.end("sharp"); // data-sharp-ms: a view change until every panel is sharp
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };
  // tiles came: drawn now, on screen in the next frame (not one frame later)
  const drawNow = () => { if (frame) cancelAnimationFrame(frame); draw(); };
  const unsubscribe = subscribe(model, [
    ["msg:custom", (msg, buffers) => { if (msg && msg.type === "tiles") { client.receive(msg, buffers); drawNow(); } }],
    ["change:_tiles_info", () => { info = model.get("_tiles_info") || {}; client.setInfo(info); schedule(); }],
  ]);
  const resize = new ResizeObserver(schedule);
  resize.observe(ui.grid);
  return {
    schedule,
    /** The view change that follows is a gesture's end (a key zoom, a drag's release): no settle wait. */
    settle() { settled = true; },
    /** `view` is a wheel zoom-in about panel point (u, v) (fractions of its width / height): see aimedKeys. */
    aim(view, u, v) { aim = { view, u, v }; },
    destroy() {
      unsubscribe(); resize.disconnect(); client.close(); clearTimeout(timer);
      if (frame) cancelAnimationFrame(frame);
      cache.clear(); canvases.clear(); spare.length = 0;
    },
  };
}
