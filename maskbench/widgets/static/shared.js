// maskbench front ends: helpers shared by the Painter, the ThresholdTuner and the Viewer.
// maskbench/widgets/_frontend.py puts this file in front of each widget's <name>_core.js and
// <name>.js (anywidget loads one module from a Blob URL, so relative imports cannot resolve there);
// node tests import it directly (tests/js).

const DTYPES = { uint8: Uint8Array, uint16: Uint16Array, int32: Int32Array, float32: Float32Array };

/**
 * {buffer: DataView|ArrayBuffer|TypedArray, dtype, shape} from the kernel -> {data: TypedArray, shape},
 * or null. Always a copy: a view may mutate it (the Painter paints into its labels) and the copy is
 * aligned for any dtype. `dtype` defaults to "uint8".
 */
export function decodeArray(value) {
  if (!value || !value.buffer) return null;
  const b = value.buffer;
  const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const dtype = value.dtype || "uint8";
  const T = DTYPES[dtype];
  if (!T) throw new Error(`decodeArray: unsupported dtype ${dtype}`);
  const shape = Array.from(value.shape, Number);
  const n = shape.reduce((a, s) => a * s, 1);
  if (bytes.byteLength !== n * T.BYTES_PER_ELEMENT) {
    throw new Error(`decodeArray: ${dtype}${JSON.stringify(shape)} needs ${n} items, got ${bytes.byteLength / T.BYTES_PER_ELEMENT}`);
  }
  const copy = bytes.slice();
  return { data: new T(copy.buffer, 0, n), shape };
}

/** numpy.packbits layout (row-major, most significant bit first) -> 0 / 1 per item. */
export function unpackBits(packed, n, out = new Uint8Array(n)) {
  const whole = n >> 3;
  let i = 0;
  if (LITTLE_ENDIAN && out.byteOffset % 4 === 0) { // two table words per byte: ~2x the byte at a time below (node, 256^2)
    const words = new Uint32Array(out.buffer, out.byteOffset, 2 * whole);
    for (let o = 0; i < whole; i++, o += 2) { const b = packed[i]; words[o] = BITS_HIGH[b]; words[o + 1] = BITS_LOW[b]; }
  }
  for (let o = 8 * i; i < whole; i++, o += 8) { // a byte at a time: 8 pixels
    const b = packed[i];
    out[o] = b >> 7; out[o + 1] = (b >> 6) & 1; out[o + 2] = (b >> 5) & 1; out[o + 3] = (b >> 4) & 1;
    out[o + 4] = (b >> 3) & 1; out[o + 5] = (b >> 2) & 1; out[o + 6] = (b >> 1) & 1; out[o + 7] = b & 1;
  }
  for (let o = whole * 8; o < n; o++) out[o] = (packed[whole] >> (7 - (o & 7))) & 1;
  return out;
}
// BITS_HIGH[b]: the 4 pixels of b's high bits as one little-endian word (first pixel lowest); BITS_LOW: of its low bits
const BITS_HIGH = new Uint32Array(256), BITS_LOW = new Uint32Array(256);
for (let b = 0; b < 256; b++) {
  for (let j = 0; j < 4; j++) { BITS_HIGH[b] |= ((b >> (7 - j)) & 1) << (8 * j); BITS_LOW[b] |= ((b >> (3 - j)) & 1) << (8 * j); }
}

/**
 * One DOM element: el("input", "mb-x", {type: "range", oninput: fn}, "text"). Functions and booleans
 * are set as properties (handlers, `disabled`), everything else as attributes.
 */
export function el(tag, cls, attrs = {}, text = "") {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function" || typeof v === "boolean") e[k] = v;
    else e.setAttribute(k, String(v));
  }
  if (text) e.textContent = text;
  return e;
}

/** Register DOM listeners; returns one function that removes them all. */
export function listen(entries) {
  for (const [target, type, fn, opts] of entries) target.addEventListener(type, fn, opts);
  return () => { for (const [target, type, fn, opts] of entries) target.removeEventListener(type, fn, opts); };
}

/**
 * Subscribe to model events one name per `on` call (marimo's model keeps listeners under the exact
 * event string: "change:a change:b" would never fire there). Returns the unsubscribe function.
 */
export function subscribe(model, entries) {
  const flat = entries.flatMap(([names, fn]) => names.split(/\s+/).filter(Boolean).map((n) => [n, fn]));
  for (const [n, fn] of flat) model.on(n, fn);
  return () => { for (const [n, fn] of flat) model.off(n, fn); };
}

/**
 * Keys pressed in a widget must not reach the notebook's command-mode shortcuts (JupyterLab,
 * Notebook 7): lumino tests its selector on the focused element first and skips elements carrying
 * `data-lm-suppress-shortcuts`, so the attribute goes on whatever gets focus inside `root`.
 * A click outside the widget hands the keyboard back: JupyterLab leaves the focus where it is when
 * it is inside the notebook already (our slider), so the focused control is blurred first.
 */
export function suppressShortcuts(root) {
  root.dataset.lmSuppressShortcuts = "true";
  const mark = (e) => { if (e.target && e.target.setAttribute) e.target.setAttribute("data-lm-suppress-shortcuts", ""); };
  const outside = (e) => { if (!root.contains(e.target) && root.contains(document.activeElement)) document.activeElement.blur(); };
  return listen([[root, "focusin", mark], [document, "pointerdown", outside, true]]);
}

// ---- the overlay blend (maskbench.render.overlay's integer formula, in one place) ----------------

/** The overlay alpha of one class colour: floor(opacity * alpha_k * weight + 0.5). */
export function blendAlpha(opacity, colourAlpha, weight = 1) {
  return Math.floor(opacity * colourAlpha * weight + 0.5);
}

/** One channel: floor((base * (255 - a) + colour * a + 127) / 255). */
export function blendChannel(base, colour, a) {
  return Math.floor((base * (255 - a) + colour * a + 127) / 255);
}

/** True where a Uint32 view of bytes [r, g, b, a] reads r + (g << 8) + (b << 16) + (a << 24). */
export const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * Blend class colours over RGBA pixels (same integer formula as maskbench.render.overlay).
 * kind "weight": `labels` holds round(w * 255) and every pixel uses palette[1] scaled by w.
 * The formula is tabled per class (per weight level) as it first appears, 256 values a channel, and
 * 4-byte-aligned pixels move as one 32-bit word (1024^2 in node: 39-47 -> 16-18 ms; the Viewer blends its
 * overlay panel when it opens).
 */
export function blendOverlay(rgba, labels, palette, opacity, kind = "labels", out = null) {
  const n = labels.length;
  out = out || new Uint8ClampedArray(rgba.length);
  const k = palette.length / 4, weight = kind === "weight";
  if (weight && !(labels instanceof Uint8Array || labels instanceof Uint8ClampedArray)) return blendOverlayPlain(rgba, labels, palette, opacity, out);
  const tables = weight ? 256 : k, lut = new Uint8Array(768 * tables), built = new Uint8Array(tables);
  const build = (t) => { // table t: class t, or (weight) class 1 at weight t / 255
    const cls = weight ? 1 : t, a = weight ? blendAlpha(opacity, palette[7], t / 255) : blendAlpha(opacity, palette[4 * cls + 3]);
    for (let j = 0; j < 3; j++) for (let v = 0; v < 256; v++) lut[768 * t + 256 * j + v] = blendChannel(v, palette[4 * cls + j], a);
    built[t] = 1;
  };
  if (LITTLE_ENDIAN && rgba.byteOffset % 4 === 0 && out.byteOffset % 4 === 0) {
    const src = new Uint32Array(rgba.buffer, rgba.byteOffset, n), dst = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const v = labels[i], t = weight || v < k ? v : 0;
      if (!built[t]) build(t);
      const b = 768 * t, p = src[i];
      dst[i] = (p & 0xff000000) | (lut[b + 512 + ((p >>> 16) & 255)] << 16) | (lut[b + 256 + ((p >>> 8) & 255)] << 8) | lut[b + (p & 255)];
    }
    return out;
  }
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    const v = labels[i], t = weight || v < k ? v : 0;
    if (!built[t]) build(t);
    const b = 768 * t;
    out[p] = lut[b + rgba[p]]; out[p + 1] = lut[b + 256 + rgba[p + 1]]; out[p + 2] = lut[b + 512 + rgba[p + 2]]; out[p + 3] = rgba[p + 3];
  }
  return out;
}

/** blendOverlay's formula pixel by pixel (weights in a wider array than bytes: any value). */
function blendOverlayPlain(rgba, labels, palette, opacity, out) {
  for (let i = 0, p = 0; i < labels.length; i++, p += 4) {
    const a = blendAlpha(opacity, palette[7], labels[i] / 255);
    for (let j = 0; j < 3; j++) out[p + j] = blendChannel(rgba[p + j], palette[4 + j], a);
    out[p + 3] = rgba[p + 3];
  }
  return out;
}

/**
 * Every pixel blended with one colour (the overlay formula with the same class everywhere). The
 * formula is tabled once per channel (256 values) and 4-byte-aligned pixels move as one 32-bit word:
 * ~5x the per-channel formula at 1024^2 (the Tuner tints its proxy twice when it opens).
 */
export function tintPixels(rgba, colour, opacity) {
  const a = blendAlpha(opacity, colour[3]);
  const out = new Uint8ClampedArray(rgba.length);
  const lut = new Uint8Array(768); // lut[256 * j + v] = channel j of a pixel whose channel j is v
  for (let j = 0; j < 3; j++) for (let v = 0; v < 256; v++) lut[256 * j + v] = blendChannel(v, colour[j], a);
  const n = rgba.length >> 2;
  if (LITTLE_ENDIAN && rgba.byteOffset % 4 === 0) {
    const src = new Uint32Array(rgba.buffer, rgba.byteOffset, n), dst = new Uint32Array(out.buffer, 0, n);
    for (let i = 0; i < n; i++) {
      const p = src[i];
      dst[i] = (p & 0xff000000) | (lut[512 + ((p >>> 16) & 255)] << 16) | (lut[256 + ((p >>> 8) & 255)] << 8) | lut[p & 255];
    }
  } else {
    for (let p = 0; p < 4 * n; p += 4) {
      out[p] = lut[rgba[p]]; out[p + 1] = lut[256 + rgba[p + 1]]; out[p + 2] = lut[512 + rgba[p + 2]]; out[p + 3] = rgba[p + 3];
    }
  }
  return out;
}

// ---- view maths ---------------------------------------------------------------------------------

/**
 * Zoom a (scale, tx, ty) view by `factor` about the point (x, y), which stays fixed:
 * screen = t + scale * p. The scale is clamped to [lo, hi]. Returns [scale, tx, ty].
 */
export function zoomAbout(scale, tx, ty, x, y, factor, lo, hi) {
  const s = Math.min(hi, Math.max(lo, scale * factor));
  const f = s / scale;
  return [s, x - (x - tx) * f, y - (y - ty) * f];
}

// ---- numbers ------------------------------------------------------------------------------------

/**
 * A keyboard step of `delta` (a multiple of `step`) from `value`, landing on the `step` grid from
 * `min` (an off-grid value first moves to the next grid point in the key's direction), clamped.
 */
export function snapStep(value, delta, step, min = 0, max = 1) {
  const n = (value - min) / step, m = Math.round(Math.abs(delta) / step), eps = 1e-6;
  const k = delta > 0 ? Math.floor(n + eps) + m : Math.ceil(n - eps) - m;
  const digits = Math.max(0, Math.ceil(-Math.log10(step)) + 1);
  return Math.min(max, Math.max(min, Number((min + k * step).toFixed(digits))));
}

// ---- batch navigation: items count from 1 in the UI (the `index` trait counts from 0) ----------

/** What the batch controls show for item `index` (0-based) of `size`: the input reads index + 1. */
export function batchView(index, size) {
  return { value: String(index + 1), min: "1", max: String(size), count: `/ ${size}`, atStart: index <= 0, atEnd: index >= size - 1 };
}

/** The 0-based index a typed 1-based item number asks for, or null when it is not an item. */
export function batchIndex(typed, size) {
  const n = Number(typed);
  return Number.isInteger(n) && n >= 1 && n <= size ? n - 1 : null;
}

// ---- image views: {scale, tx, ty} with screen = t + scale * image pixel (CSS px; image pixel edges
// on integers). Named view* so they never clash with a widget's own helpers in the assembled module.

/** The view that fits a w x h image (any pixel unit) in a stageW x stageH stage, centred. */
export function viewFit(stageW, stageH, w, h) {
  const scale = Math.min(stageW / w, stageH / h);
  return { scale, tx: (stageW - w * scale) / 2, ty: (stageH - h * scale) / 2 };
}

/** Zoom `view` by `factor` about the stage point (sx, sy), which stays fixed; scale clamped to [lo, hi]. */
export function viewZoom(view, sx, sy, factor, lo = 0, hi = Infinity) {
  const [scale, tx, ty] = zoomAbout(view.scale, view.tx, view.ty, sx, sy, factor, lo, hi);
  return { scale, tx, ty };
}

/** `view` moved by (dx, dy) stage px. */
export function viewPan(view, dx, dy) {
  return { scale: view.scale, tx: view.tx + dx, ty: view.ty + dy };
}

/** Stage point (sx, sy) -> image point [x, y] (continuous; pixel j spans [j, j + 1)). */
export function viewToImage(view, sx, sy) {
  return [(sx - view.tx) / view.scale, (sy - view.ty) / view.scale];
}

/**
 * `view` shifted so that at least `keep` stage px of the w x h image stay inside the stageW x stageH
 * stage (a pan or zoom can never lose the image).
 */
export function viewKeep(view, stageW, stageH, w, h, keep = 32) {
  const iw = w * view.scale, ih = h * view.scale;
  const kx = Math.min(keep, iw, stageW), ky = Math.min(keep, ih, stageH);
  const tx = Math.min(stageW - kx, Math.max(kx - iw, view.tx));
  const ty = Math.min(stageH - ky, Math.max(ky - ih, view.ty));
  return { scale: view.scale, tx, ty };
}

/** The zoom indicator: screen px per image px as a percentage ("400%", "12.5%"). */
export function viewPercent(scale) {
  const p = 100 * scale;
  return `${p >= 100 ? Math.round(p) : p >= 10 ? p.toFixed(1).replace(/\.0$/, "") : p.toPrecision(2)}%`;
}
