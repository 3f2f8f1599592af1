// maskbench LossExplorer: pure helpers (the DOM wiring is loss_explorer.js; the blend formula is
// shared.js's blendAlpha / blendChannel). node tests import this file: tests/js/test_loss_explorer.mjs.
import { blendAlpha, blendChannel } from "./shared.js";

/** The four panels, in the order of the kernel's (4, dh, dw) `_maps` array: [key, title, row]. */
export const PANELS = [
  ["loss_masked", "Loss \u00b7 maskbench", "loss"],
  ["loss_naive", "Loss \u00b7 naive", "loss"],
  ["grad_masked", "|\u2202loss/\u2202input| \u00b7 maskbench", "grad"],
  ["grad_naive", "|\u2202loss/\u2202input| \u00b7 naive", "grad"],
];
/** Decades shown by the log scale: [vmax * 10^-DECADES, vmax]. */
export const DECADES = 4;
export const NAN_COLOUR = [255, 0, 255];
export const OUTLINE_COLOUR = [255, 255, 255];

// viridis at 9 evenly spaced stops (matplotlib's table), interpolated linearly
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** A 256-entry RGB lookup table (Uint8Array of 768) interpolated from `stops`. */
export function buildLut(stops = VIRIDIS, n = 256) {
  const lut = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const f = (i / (n - 1)) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(f));
    const t = f - k;
    for (let j = 0; j < 3; j++) lut[3 * i + j] = Math.round(stops[k][j] * (1 - t) + stops[k + 1][j] * t);
  }
  return lut;
}
export const LUT = buildLut();

/** The largest finite value of the given arrays (0 when there is none): the top of a shared scale. */
export function finiteMax(...arrays) {
  let m = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) { const v = a[i]; if (v > m && v !== Infinity) m = v; }
  return m;
}

/**
 * Where `v` falls on the colour scale: a fraction in [0, 1], "zero" for exactly 0 (drawn without
 * colour: an exact zero must look different from a small value), "nan" for NaN.
 * Linear: v / vmax; log: log10(v / vmax) / DECADES + 1; both clamped (+Inf is the top).
 */
export function scaleValue(v, vmax, scale = "linear") {
  if (Number.isNaN(v)) return "nan";
  if (v === 0) return "zero";
  if (!(vmax > 0)) return 1;
  const t = scale === "log" ? Math.log10(Math.abs(v) / vmax) / DECADES + 1 : Math.abs(v) / vmax;
  return Math.min(1, Math.max(0, t));
}

/**
 * RGBA pixels of one map blended over `base` (RGBA, or null for black): a coloured pixel gets the
 * colour with opacity `opacity` (shared.js's integer blend formula), an exact zero keeps the base,
 * NaN is NAN_COLOUR at full opacity.
 */
export function colorizeMap(values, vmax, { scale = "linear", opacity = 0.8, base = null, lut = LUT, out = null } = {}) {
  const n = values.length;
  out = out || new Uint8ClampedArray(4 * n);
  const a = blendAlpha(opacity, 255);
  const top = lut.length / 3 - 1;
  for (let i = 0; i < n; i++) {
    const p = 4 * i;
    const b0 = base ? base[p] : 0, b1 = base ? base[p + 1] : 0, b2 = base ? base[p + 2] : 0;
    const t = scaleValue(values[i], vmax, scale);
    if (t === "zero") {
      out[p] = b0; out[p + 1] = b1; out[p + 2] = b2;
    } else if (t === "nan") {
      [out[p], out[p + 1], out[p + 2]] = NAN_COLOUR;
    } else {
      const q = 3 * Math.round(t * top);
      out[p] = blendChannel(b0, lut[q], a);
      out[p + 1] = blendChannel(b1, lut[q + 1], a);
      out[p + 2] = blendChannel(b2, lut[q + 2], a);
    }
    out[p + 3] = 255;
  }
  return out;
}

/** Paint the pixels where edges[i] == 1 in `colour`, in place. */
export function drawOutline(rgba, edges, colour = OUTLINE_COLOUR) {
  for (let i = 0; i < edges.length; i++) {
    if (!edges[i]) continue;
    rgba[4 * i] = colour[0];
    rgba[4 * i + 1] = colour[1];
    rgba[4 * i + 2] = colour[2];
  }
  return rgba;
}

/** Plane k of a (4, h, w) float32 array. */
export function plane(maps, k) {
  const [, h, w] = maps.shape;
  return maps.data.subarray(k * h * w, (k + 1) * h * w);
}

/** A statistic as text: an exact 0 says so; "nan"/"inf" strings (JSON has no NaN) as NaN / Inf. */
export function formatStat(v) {
  if (v === "nan" || Number.isNaN(v)) return "NaN";
  if (v === "inf") return "+Inf";
  if (v === "-inf") return "\u2212Inf";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0 (exactly)";
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? v.toPrecision(4) : v.toExponential(3);
}

/** The headline: does the maskbench loss give every excluded pixel exactly zero gradient? */
export function verdict(stats) {
  if (!stats || stats.excluded_pixels === undefined) return { ok: false, text: "" };
  if (!stats.excluded_pixels) return { ok: true, text: "No pixel is excluded by this mask." };
  const ok = stats.excluded_max_masked === 0;
  const naive = stats.naive_error ? `the naive loss fails (${stats.naive_error})`
    : `the naive loss gives up to ${formatStat(stats.excluded_max_naive)}`;
  return {
    ok,
    text: ok ? `Excluded pixels (${stats.excluded_pixels} of ${stats.pixels}) get exactly zero gradient with maskbench; ${naive}.`
      : `Excluded pixels get a non-zero gradient with maskbench: max |grad| = ${formatStat(stats.excluded_max_masked)}.`,
  };
}

/**
 * The readout under the pointer: panel fractions (u, v) -> proxy pixel (row, col) of a (4, h, w) maps
 * array and its four values (the order of PANELS), or null outside; `full` = [H, W] scales the
 * position back to image pixels (the first row / column of the block the proxy pixel covers).
 */
export function pixelAt(maps, u, v, full = null) {
  const [, h, w] = maps.shape;
  if (!(u >= 0 && u < 1 && v >= 0 && v < 1)) return null;
  const row = Math.floor(v * h), col = Math.floor(u * w);
  const values = PANELS.map((_, k) => maps.data[k * h * w + row * w + col]);
  const [fh, fw] = full || [h, w];
  return { row: Math.floor((row * fh) / h), col: Math.floor((col * fw) / w), values };
}

/** One line of text for pixelAt's result. */
export function readout(p) {
  if (!p) return "";
  const [lm, ln, gm, gn] = p.values.map(formatStat);
  return `pixel (${p.row}, ${p.col}) \u00b7 loss ${lm} | ${ln} \u00b7 |grad| ${gm} | ${gn} (maskbench | naive)`;
}

/** Tick labels of a colour bar from 0 (or vmax * 10^-DECADES) to vmax. */
export function scaleTicks(vmax, scale = "linear") {
  if (!(vmax > 0)) return ["0", "0"];
  const lo = scale === "log" ? vmax * 10 ** -DECADES : 0;
  const f = (v) => (v === 0 ? "0" : v.toExponential(1));
  return [f(lo), f(vmax)];
}
