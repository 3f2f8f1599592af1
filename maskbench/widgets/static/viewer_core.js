// maskbench Viewer: pure helpers (the DOM wiring is viewer.js; decodeArray, unpackBits and the
// overlay blend are in shared.js). node tests import this file: tests/js/test_viewer.mjs.
import { zoomAbout } from "./shared.js";

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

/** Is proxy pixel i a mask pixel? label > 0, or weight >= 0.5 (the weight proxy is round(w * 255)). */
export const isMaskPixel = (labels, i, kind) => (kind === "weight" ? labels[i] >= 128 : labels[i] > 0);

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
  const [r, g, b, a] = [fills[base], fills[base + 1], fills[base + 2], fills[base + 3]];
  const replaceMask = mode !== "keep"; // keep replaces the pixels outside the mask
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

/**
 * The inpaint panel: the image proxy with its mask pixels replaced by `colours`, the kernel's RGBA
 * of the mask pixels in raster order (_result of shape (n, 4): a quarter of the bytes of a whole
 * panel when the mask covers a quarter of the image; the other pixels are the image's exactly).
 */
export function fillMaskPixels(image, labels, colours, kind = "labels", out = null) {
  const n = labels.length;
  out = out && out.length === 4 * n ? out : new Uint8ClampedArray(4 * n);
  out.set(image);
  for (let i = 0, q = 0; i < n && q < colours.length; i++) {
    if (!isMaskPixel(labels, i, kind)) continue;
    const p = 4 * i;
    out[p] = colours[q]; out[p + 1] = colours[q + 1]; out[p + 2] = colours[q + 2]; out[p + 3] = colours[q + 3];
    q += 4;
  }
  return out;
}

/** Mask panel pixels: class colours on black (labels / bool) or a grey ramp (weights). */
export function colorizeMask(labels, palette, kind = "labels") {
  const out = new Uint8ClampedArray(labels.length * 4);
  const k = palette.length / 4;
  for (let i = 0; i < labels.length; i++) {
    const p = 4 * i;
    const v = labels[i];
    if (kind === "weight") {
      out[p] = out[p + 1] = out[p + 2] = v;
    } else if (v > 0 && v < k) {
      out[p] = palette[4 * v];
      out[p + 1] = palette[4 * v + 1];
      out[p + 2] = palette[4 * v + 2];
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

/** Keep the zoomed image covering its panel: scale in [1, MAX_ZOOM], offsets in [1 - s, 0]. */
export function clampView(view) {
  const s = Math.min(MAX_ZOOM, Math.max(1, view.s));
  const clamp = (t) => Math.min(0, Math.max(1 - s, t));
  return { s, tx: clamp(view.tx), ty: clamp(view.ty) };
}

/** Zoom by `factor` about the point (u, v) of the panel (fractions of its width / height). */
export function zoomAt(view, factor, u, v) {
  const [s, tx, ty] = zoomAbout(view.s, view.tx, view.ty, u, v, factor, 1, MAX_ZOOM);
  return clampView({ s, tx, ty });
}

/** Pan by (du, dv), fractions of the panel size. */
export function panBy(view, du, dv) {
  return clampView({ s: view.s, tx: view.tx + du, ty: view.ty + dv });
}

/** Panel fraction (u, v) -> image pixel (col, row) of a w x h display proxy. */
export function panelToImage(view, u, v, w, h) {
  return [((u - view.tx) / view.s) * w, ((v - view.ty) / view.s) * h];
}

/** CSS transform for a canvas of the panel's size (translate % is of the canvas' own size). */
export function viewTransform(view) {
  return `translate(${(view.tx * 100).toFixed(4)}%, ${(view.ty * 100).toFixed(4)}%) scale(${view.s.toFixed(4)})`;
}
