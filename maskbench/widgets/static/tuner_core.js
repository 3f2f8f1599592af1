// maskbench ThresholdTuner: pure helpers and chart drawing (the DOM wiring is tuner.js; decodeArray,
// unpackBits and the overlay blend are in shared.js). node tests import this file:
// tests/js/test_tuner.mjs.
import { decodeArray, snapStep } from "./shared.js";

export const THROTTLE_MS = 100;
export const PAD = { l: 8, r: 8, t: 8, b: 18 }; // chart padding, CSS px
export const MASK_RGBA = [230, 159, 0, 255]; // Okabe-Ito orange (maskbench.render.label_palette(2)[1])
export const REMOVED_RGBA = [86, 180, 233, 255]; // sky blue: thresholded, then removed by clean-up
export const EDGE_RGB = [0, 230, 160]; // target outline
const HIST_COLOURS = { all: "rgba(25, 118, 210, 0.75)", neg: "rgba(120, 130, 150, 0.7)", pos: "rgba(0, 158, 115, 0.75)" };
const CURVE_COLOURS = { iou: "#1976d2", dice: "#cc79a7" };
const LINE = "rgb(230, 159, 0)";

/** For a uint8 proxy q = round(p * 255): lut[q] = 1 where q / 255 > t. */
export function levelTable(t) {
  const lut = new Uint8Array(256);
  for (let q = 0; q < 256; q++) lut[q] = q / 255 > t ? 1 : 0;
  return lut;
}

/**
 * The preview mask `p > t` of the proxy (1 / 0): maskbench's convention, foreground is strictly
 * above the threshold (maskbench.threshold, the Tuner's kernel mask). A float32 proxy compares with
 * t rounded to float32, as torch compares a float32 tensor with a Python float; NaN is never in.
 */
export function thresholdProxy(probs, t, out = new Uint8Array(probs.length)) {
  if (probs instanceof Float32Array) {
    const tf = Math.fround(t);
    for (let i = 0; i < probs.length; i++) out[i] = probs[i] > tf ? 1 : 0;
  } else {
    const lut = levelTable(t);
    for (let i = 0; i < probs.length; i++) out[i] = lut[probs[i]];
  }
  return out;
}

/** Opaque grey RGBA of a probability proxy (float32 in [0, 1] or uint8 levels). */
// one opaque grey pixel per level, as a Uint32 view holds it (made once: the Tuner greys every tile it composes)
const GREY = Uint32Array.from({ length: 256 }, (_, v) => packColour([v, v, v, 255]));

export function greyPixels(probs) {
  const n = probs.length, out = new Uint8ClampedArray(n * 4), out32 = new Uint32Array(out.buffer);
  const grey = GREY;
  if (probs instanceof Float32Array) {
    for (let i = 0; i < n; i++) {
      // Math.round(p * 255), clamped like a Uint8ClampedArray store (NaN -> 0); floor(x + 0.5) is
      // Math.round here: p * 255 of a float32 is exact in a double, never just under a half
      const x = probs[i] * 255 + 0.5;
      out32[i] = grey[x >= 255 ? 255 : x >= 1 ? x | 0 : 0];
    }
  } else {
    for (let i = 0; i < n; i++) out32[i] = grey[probs[i]];
  }
  return out;
}

/** One RGBA colour as the Uint32 a Uint32Array view of canvas pixels holds (any endianness). */
export function packColour(rgba) {
  return new Uint32Array(new Uint8ClampedArray([rgba[0], rgba[1], rgba[2], rgba[3] ?? 255]).buffer)[0];
}

/**
 * Per pixel: the tinted pixel where `mask`, else the base pixel; `removedMask & !mask` pixels get
 * `removed32` (what clean-up took away); the pixels listed in `edgeIndex` get `edge32`. Pixel
 * arrays are Uint32 views; masks hold exactly 0 / 1. Branchless selects (`-m` is 0 or all ones):
 * about 3x faster than `m ? a : b` on noisy masks, ~6 ms per 1024x1024 frame here.
 */
export function composeOverlay(out32, base32, tint32, mask, extra = {}) {
  const { removed32 = null, removedMask = null, edgeIndex = null, edge32 = 0 } = extra;
  const n = out32.length;
  for (let i = 0; i < n; i++) { const b = base32[i]; out32[i] = b ^ ((tint32[i] ^ b) & -mask[i]); }
  if (removedMask !== null) {
    for (let i = 0; i < n; i++) { const o = out32[i]; out32[i] = o ^ ((removed32[i] ^ o) & -(removedMask[i] & (mask[i] ^ 1))); }
  }
  if (edgeIndex !== null) for (let k = 0; k < edgeIndex.length; k++) out32[edgeIndex[k]] = edge32;
  return out32;
}

/** Positions of the set entries of a 0 / 1 array (outline pixels are few: draw only those). */
export function indicesOf(flags) {
  let n = 0;
  for (let i = 0; i < flags.length; i++) n += flags[i] ? 1 : 0;
  const out = new Int32Array(n);
  for (let i = 0, k = 0; i < flags.length; i++) if (flags[i]) out[k++] = i;
  return out;
}

/**
 * Outline pixels (indices) of one (h, w) tile of a 0 / 1 map, the rule of _tuner_core.outline on the
 * whole map: a set pixel with a 4-neighbour unset or outside the image. `up` / `down` (length w) and
 * `left` / `right` (length h) are the touching row / column of the neighbouring tiles: null at the
 * image's edge (outside), undefined while that tile is not here (taken as set: no outline there yet).
 */
export function tileOutline(tile, w, h, { up, down, left, right } = {}) {
  const out = [];
  const at = (edge, i) => (edge === null ? 0 : edge === undefined ? 1 : edge[i]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!tile[i]) continue;
      const n = y > 0 ? tile[i - w] : at(up, x);
      const s = y < h - 1 ? tile[i + w] : at(down, x);
      const west = x > 0 ? tile[i - 1] : at(left, y);
      const east = x < w - 1 ? tile[i + 1] : at(right, y);
      if (!n || !s || !west || !east) out.push(i);
    }
  }
  return Int32Array.from(out);
}

/** Threshold value -> chart x (CSS px), and back (clamped to [0, 1]). */
export function valueToX(v, width, pad = PAD) {
  return pad.l + v * (width - pad.l - pad.r);
}
export function xToValue(x, width, pad = PAD) {
  const w = width - pad.l - pad.r;
  return w > 0 ? Math.min(1, Math.max(0, (x - pad.l) / w)) : 0;
}

/**
 * Bars of a (rows, bins) histogram drawn in a width x height chart: rows[r][b] = {x, y, w, h}.
 * Heights share one scale across rows: log1p(count) / log1p(max) (or count / max when !log),
 * so the many near-0 background pixels do not flatten the rest.
 */
export function histogramBars(counts, rows, bins, width, height, { pad = PAD, log = true } = {}) {
  let max = 0;
  for (let i = 0; i < rows * bins; i++) if (counts[i] > max) max = counts[i];
  const f = (c) => (max <= 0 ? 0 : log ? Math.log1p(c) / Math.log1p(max) : c / max);
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const bw = plotW / bins;
  const out = [];
  for (let r = 0; r < rows; r++) {
    const bars = [];
    for (let b = 0; b < bins; b++) {
      const h = f(counts[r * bins + b]) * plotH;
      bars.push({ x: pad.l + b * bw, y: pad.t + plotH - h, w: bw, h });
    }
    out.push(bars);
  }
  return out;
}

/** Linear interpolation of ys (over ascending xs) at t, clamped to the ends. */
export function interpolate(xs, ys, t) {
  const n = xs.length;
  if (n === 0) return NaN;
  if (t <= xs[0]) return ys[0];
  if (t >= xs[n - 1]) return ys[n - 1];
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (xs[mid] <= t) lo = mid; else hi = mid; }
  const f = (t - xs[lo]) / (xs[hi] - xs[lo] || 1);
  return ys[lo] + f * (ys[hi] - ys[lo]);
}

/** Chart points [x, y] of a curve with values in [0, 1]. */
export function curvePoints(xs, ys, width, height, pad = PAD) {
  const plotH = height - pad.t - pad.b;
  return Array.from(xs, (x, i) => [valueToX(x, width, pad), pad.t + (1 - ys[i]) * plotH]);
}

/**
 * Keyboard stepping of the threshold: arrows 0.01 (Shift 0.1), PageUp/Down 0.1, Home/End; else null.
 * Steps land on their grid (0.706442 + 0.01 -> 0.71), as a native range input with that step does.
 */
export function stepThreshold(value, key, shift = false) {
  const small = shift ? 0.1 : 0.01;
  const delta = { ArrowRight: small, ArrowUp: small, ArrowLeft: -small, ArrowDown: -small, PageUp: 0.1, PageDown: -0.1 }[key];
  if (key === "Home") return 0;
  if (key === "End") return 1;
  if (delta === undefined) return null;
  return snapStep(value, delta, Math.abs(delta), 0, 1);
}

/**
 * A key pressed on the focused image: {type: "zoom", value} (+ = in, - out), {type: "fit"} (0, f,
 * or R as in the Painter), {type: "grid"} (g, or P as in the Painter: the pixel grid on / off),
 * {type: "pan", dx, dy} (arrows move the view by 64
 * stage px, Shift 256), else null.
 */
export function stageKey(key, shift = false) {
  if (key === "+" || key === "=") return { type: "zoom", value: 1.25 };
  if (key === "-" || key === "_") return { type: "zoom", value: 0.8 };
  const one = key.length === 1 ? key.toLowerCase() : "";
  if (key === "0" || one === "f" || one === "r") return { type: "fit" }; // R: the Painter's fit key too
  if (one === "g" || one === "p") return { type: "grid" }; // P: the Painter's grid key too
  const d = shift ? 256 : 64;
  const pan = { ArrowLeft: [d, 0], ArrowRight: [-d, 0], ArrowUp: [0, d], ArrowDown: [0, -d] }[key];
  return pan ? { type: "pan", dx: pan[0], dy: pan[1] } : null;
}

/**
 * Leading + trailing throttle: push(v) sends at once when `interval` ms passed since the last
 * send, else keeps the newest value and sends it when the interval is up; flush() sends a
 * pending value now (pointer release). `clock` = {now, set, clear} is injectable for tests.
 */
export function createThrottle(send, interval = THROTTLE_MS, clock = null) {
  const c = clock || { now: () => performance.now(), set: (f, ms) => setTimeout(f, ms), clear: (id) => clearTimeout(id) };
  let last = -Infinity;
  let pending;
  let has = false;
  let timer = null;
  const fire = () => {
    if (timer !== null) { c.clear(timer); timer = null; }
    if (!has) return;
    const v = pending;
    has = false;
    last = c.now();
    send(v);
  };
  return {
    push(v) {
      pending = v;
      has = true;
      const wait = last + interval - c.now();
      if (wait <= 0) fire();
      else if (timer === null) timer = c.set(fire, wait);
    },
    flush: fire,
    cancel() { if (timer !== null) c.clear(timer); timer = null; has = false; },
    get pending() { return has; },
  };
}

// ---- metrics from the kernel's one-pass counts at every slider step (issue 11 item 4) -------------

/** {buffer, dtype: "float64", shape} -> {data: Float64Array, shape} (other dtypes: decodeArray). */
export function decodeFloat64(value) {
  if (!value || !value.buffer || value.dtype !== "float64") return decodeArray(value);
  const b = value.buffer;
  const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const shape = Array.from(value.shape, Number);
  const n = shape.reduce((a, k) => a * k, 1);
  if (bytes.byteLength !== 8 * n) throw new Error(`decodeFloat64: float64${JSON.stringify(shape)} needs ${8 * n} bytes, got ${bytes.byteLength}`);
  return { data: new Float64Array(bytes.slice().buffer), shape };
}

/** Position of the grid value nearest to v (ties: the lower one); grid ascending. */
export function nearestIndex(grid, v) {
  let lo = 0, hi = grid.length - 1;
  if (!(hi >= 0)) return -1;
  if (!(v > grid[0])) return 0;
  if (v >= grid[hi]) return hi;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (grid[mid] <= v) lo = mid; else hi = mid; }
  return v - grid[lo] <= grid[hi] - v ? lo : hi;
}

/** The slider's value for a raw position v: the nearest step of the grid (the counts exist there). */
export function snapToGrid(grid, v) {
  return grid && grid.length ? grid[nearestIndex(grid, v)] : v;
}

/** The grid position holding exactly t, or -1 (a method's or a typed value off the grid). */
export function gridIndex(grid, t) {
  if (!grid || !grid.length) return -1;
  const j = nearestIndex(grid, t);
  return grid[j] === t ? j : -1;
}

/**
 * A keyboard step on the grid: stepThreshold's value snapped to the grid; where the grid is coarser
 * than the key's step, at least one grid step in the key's direction. null for other keys.
 */
export function stepOnGrid(grid, value, key, shift = false) {
  const v = stepThreshold(value, key, shift);
  if (v === null || !grid || !grid.length) return v;
  let j = nearestIndex(grid, v);
  const here = gridIndex(grid, value);
  if (here >= 0 && j === here && v !== value) j = Math.min(grid.length - 1, Math.max(0, j + (v > value ? 1 : -1)));
  return grid[j];
}

/** score = num / den, or `empty` where den is 0: scores_from_counts' rule, in doubles. */
export function ratio(num, den, empty = 1) {
  return den > 0 ? num / den : empty;
}

/** One score from counts, the same IEEE operations in the same order as maskbench.scores_from_counts. */
export function scoreFromCounts(tp, fp, fn, metric) {
  if (metric === "iou") return ratio(tp, tp + fp + fn);
  if (metric === "dice" || metric === "f1") return ratio(2 * tp, 2 * tp + fp + fn);
  if (metric === "precision") return ratio(tp, tp + fp);
  if (metric === "recall") return ratio(tp, tp + fn);
  throw new Error(`scoreFromCounts: unknown metric ${metric}`);
}

/**
 * The Tuner's metrics at grid position j from (T, 4) counts (tp, fp, fn, tn of p > grid[j], flat):
 * area = (tp + fp) / N and, with a target, IoU / Dice / precision / recall. Equal, bit for bit, to
 * the kernel's for that threshold (_tuner_core.metrics_from_counts).
 */
export function metricsFromCounts(counts, j, hasTarget) {
  const o = 4 * j;
  const tp = counts[o], fp = counts[o + 1], fn = counts[o + 2], tn = counts[o + 3];
  const n = tp + fp + fn + tn;
  const out = { foreground: (tp + fp) / Math.max(n, 1) };
  if (hasTarget) for (const m of ["iou", "dice", "precision", "recall"]) out[m] = scoreFromCounts(tp, fp, fn, m);
  return out;
}

/** "0.873" or an en dash when there is no number. */
export function formatMetric(v, digits = 3) {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "\u2013";
}

/**
 * Size a chart canvas to its CSS box (times devicePixelRatio) and clear it: {ctx, w, h} in CSS px,
 * or null while it has no box (hidden, or mid re-layout as on a theme switch): the canvas then keeps
 * its last picture instead of collapsing to 1x1, and the ResizeObserver redraws it later.
 */
export function fitCanvas(canvas) {
  const r = canvas.getBoundingClientRect();
  if (!(r.width >= 1 && r.height >= 1)) return null;
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, r.width, r.height);
  return { ctx, w: r.width, h: r.height };
}

export function axis(ctx, w, h, muted) {
  ctx.strokeStyle = muted; ctx.globalAlpha = 0.35; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(PAD.l, h - PAD.b + 0.5); ctx.lineTo(w - PAD.r, h - PAD.b + 0.5); ctx.stroke();
  ctx.globalAlpha = 1; ctx.fillStyle = muted; ctx.font = "10px system-ui, sans-serif"; ctx.textBaseline = "top";
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    ctx.textAlign = v === 0 ? "left" : v === 1 ? "right" : "center";
    ctx.fillText(String(v), valueToX(v, w), h - PAD.b + 4);
  }
}

export function marker(ctx, x, top, bottom, colour, dash = []) {
  ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(dash);
  ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke(); ctx.setLineDash([]);
}

/** The histogram chart: bars (two colours when split by target), axis, the threshold line. */
export function drawHistogram(canvas, hist, current, muted) {
  const fit = fitCanvas(canvas);
  if (!fit || !hist) return;
  const { ctx, w, h } = fit;
  const [rows, bins] = hist.shape;
  const x = valueToX(current, w);
  ctx.fillStyle = "rgba(230, 159, 0, 0.08)"; // the side that ends up in the mask
  ctx.fillRect(x, PAD.t, w - PAD.r - x, h - PAD.t - PAD.b);
  const colours = rows === 2 ? [HIST_COLOURS.neg, HIST_COLOURS.pos] : [HIST_COLOURS.all];
  histogramBars(hist.data, rows, bins, w, h).forEach((bars, r) => {
    ctx.fillStyle = colours[r];
    for (const b of bars) if (b.h > 0) ctx.fillRect(b.x + 0.15, b.y, Math.max(0.5, b.w - 0.3), b.h);
  });
  axis(ctx, w, h, muted);
  marker(ctx, x, PAD.t - 2, h - PAD.b, LINE);
}

/** The IoU / Dice curves ((3, T): thresholds, IoU, Dice), the best-IoU line and the current threshold. */
export function drawCurves(canvas, curve, current, best, muted) {
  const fit = fitCanvas(canvas);
  if (!fit) return;
  const { ctx, w, h } = fit;
  const T = curve.shape[1];
  const xs = curve.data.subarray(0, T);
  const plotH = h - PAD.t - PAD.b;
  ctx.strokeStyle = muted; ctx.globalAlpha = 0.15; ctx.lineWidth = 1;
  for (const v of [0.25, 0.5, 0.75, 1]) {
    const y = Math.round(PAD.t + (1 - v) * plotH) + 0.5;
    ctx.beginPath(); ctx.moveTo(PAD.l, y); ctx.lineTo(w - PAD.r, y); ctx.stroke();
  }
  ctx.globalAlpha = 1;
  if (typeof best.iou_threshold === "number") marker(ctx, valueToX(best.iou_threshold, w), PAD.t, h - PAD.b, CURVE_COLOURS.iou, [3, 3]);
  const x = valueToX(current, w);
  marker(ctx, x, PAD.t - 2, h - PAD.b, LINE);
  [["iou", 1], ["dice", 2]].forEach(([key, row]) => {
    const ys = curve.data.subarray(row * T, (row + 1) * T);
    ctx.strokeStyle = CURVE_COLOURS[key]; ctx.lineWidth = 2; ctx.lineJoin = "round";
    ctx.beginPath();
    curvePoints(xs, ys, w, h).forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.stroke();
    ctx.fillStyle = CURVE_COLOURS[key];
    ctx.beginPath(); ctx.arc(x, PAD.t + (1 - interpolate(xs, ys, current)) * plotH, 3.5, 0, 2 * Math.PI); ctx.fill();
  });
  axis(ctx, w, h, muted);
}
