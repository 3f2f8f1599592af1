// maskbench Painter: pure helpers (the DOM wiring is painter.js; decodeArray is in shared.js).
// Rasterisers follow maskbench.kernels.paint's rules so the preview matches the kernel's edit;
// createEdits holds what the view shows before the kernel confirms an edit. node tests import this
// file: tests/js/test_painter.mjs.
import { zoomAbout } from "./shared.js";

/** Flat [row, col, row, col, ...] -> little-endian Float32 bytes, the wire format of strokes. */
export function packPoints(flat) {
  return Float32Array.from(flat);
}

/** The view that fits a (dh, dw) proxy in a (stageW, stageH) stage, centred. */
export function fitView(stageW, stageH, dw, dh) {
  const scale = Math.min(stageW / dw, stageH / dh);
  return { scale, tx: (stageW - dw * scale) / 2, ty: (stageH - dh * scale) / 2 };
}

/** Zoom by `factor` keeping the point under (sx, sy) fixed; scale clamped to [lo, hi]. */
export function zoomAt(view, sx, sy, factor, lo = 0.05, hi = 64) {
  const [scale, tx, ty] = zoomAbout(view.scale, view.tx, view.ty, sx, sy, factor, lo, hi);
  return { scale, tx, ty };
}

/**
 * Two-finger pinch: the view that keeps the image point under the fingers' first midpoint under
 * their current midpoint, scaled by the change of their distance. start / now = [[x, y], [x, y]].
 */
export function pinchView(view, start, now, lo = 0.05, hi = 64) {
  const mid = ([a, b]) => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const dist = ([a, b]) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const [c0, c1] = [mid(start), mid(now)];
  const scale = Math.min(hi, Math.max(lo, (view.scale * dist(now)) / Math.max(dist(start), 1e-6)));
  const px = (c0[0] - view.tx) / view.scale, py = (c0[1] - view.ty) / view.scale;
  return { scale, tx: c1[0] - px * scale, ty: c1[1] - py * scale };
}

/** Stage point (CSS px) -> full-resolution [row, col]; geo = {H, W, dh, dw}. */
export function screenToImage(view, sx, sy, geo) {
  const px = (sx - view.tx) / view.scale;
  const py = (sy - view.ty) / view.scale; // proxy coordinates, pixel edges on integers
  return [(py * geo.H) / geo.dh - 0.5, (px * geo.W) / geo.dw - 0.5];
}

/** Full-resolution [row, col] -> stage point [sx, sy] (inverse of screenToImage). */
export function imageToScreen(view, row, col, geo) {
  return [view.tx + (((col + 0.5) * geo.dw) / geo.W) * view.scale, view.ty + (((row + 0.5) * geo.dh) / geo.H) * view.scale];
}

/** Full-resolution [row, col] -> proxy [row, col], both with pixel centres on integers. */
export function imageToProxy(row, col, geo) {
  return [((row + 0.5) * geo.dh) / geo.H - 0.5, ((col + 0.5) * geo.dw) / geo.W - 0.5];
}

/** Clamp to the image's extent [-0.5, H - 0.5] x [-0.5, W - 0.5] (what the kernel accepts). */
export function clampToImage(row, col, geo) {
  const c = (v, n) => Math.min(n - 0.5, Math.max(-0.5, v));
  return [c(row, geo.H), c(col, geo.W)];
}

export const EMPTY = [0, 0, 0, 0];
/** The union of box b and [y0, y1, x0, x1] (empty boxes ignored; null is empty). */
export const grow = (b, y0, y1, x0, x1) =>
  y0 >= y1 || x0 >= x1 ? b : b ? [Math.min(b[0], y0), Math.max(b[1], y1), Math.min(b[2], x0), Math.max(b[3], x1)] : [y0, y1, x0, x1];

/**
 * The only label an edit may change, or -1 (any): maskbench.widgets._painter_traits.paint_target.
 * paintOver -1: every label; k: only pixels labelled k (0: napari's "preserve labels"); the eraser
 * with paintOver 0 removes only the active class.
 */
export function paintTarget(paintOver, erase, active) {
  if (paintOver < 0) return -1;
  return erase && paintOver === 0 ? active : paintOver;
}

/** Round brush along flat [r, c, ...] (pixel centres) on labels (w x h); the kernel's capsule rule.
 * Only pixels labelled `keep` change (-1: any). `labels` may be a window of a larger image whose
 * top-left pixel is (oy, ox): points stay in image coordinates, so each pixel gets exactly the
 * kernel's arithmetic (a tile at native zoom matches the kernel pixel for pixel). Returns the
 * window's box [y0, y1, x0, x1] it covered, or null. */
export function rasterStroke(labels, w, h, pts, radius, value, keep = -1, oy = 0, ox = 0) {
  const n = pts.length >> 1;
  const r2 = radius * radius;
  let box = null;
  for (let i = 0; i < Math.max(1, n - 1); i++) {
    const ar = pts[2 * i], ac = pts[2 * i + 1];
    const br = n > 1 ? pts[2 * i + 2] : ar, bc = n > 1 ? pts[2 * i + 3] : ac;
    const y0 = Math.max(oy, Math.ceil(Math.min(ar, br) - radius)), y1 = Math.min(oy + h, Math.floor(Math.max(ar, br) + radius) + 1);
    const x0 = Math.max(ox, Math.ceil(Math.min(ac, bc) - radius)), x1 = Math.min(ox + w, Math.floor(Math.max(ac, bc) + radius) + 1);
    if (y0 >= y1 || x0 >= x1) continue;
    const dr = br - ar, dc = bc - ac, inv = 1 / Math.max(dr * dr + dc * dc, 1e-12);
    for (let y = y0; y < y1; y++) {
      for (let x = x0, i = (y - oy) * w + x0 - ox; x < x1; x++, i++) {
        const t = Math.min(1, Math.max(0, ((y - ar) * dr + (x - ac) * dc) * inv));
        const er = y - ar - t * dr, ec = x - ac - t * dc;
        if (er * er + ec * ec <= r2 && (keep < 0 || labels[i] === keep)) labels[i] = value;
      }
    }
    box = grow(box, y0 - oy, y1 - oy, x0 - ox, x1 - ox);
  }
  return box;
}

/** Even-odd polygon fill of flat [r, c, ...] vertices (the kernel's half-open crossing rule); a
 * window at (oy, ox) as in rasterStroke. */
export function rasterPolygon(labels, w, h, verts, value, keep = -1, oy = 0, ox = 0) {
  const n = verts.length >> 1;
  if (n < 3) return null;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) { lo = Math.min(lo, verts[2 * i]); hi = Math.max(hi, verts[2 * i]); }
  const y0 = Math.max(oy, Math.ceil(lo)), y1 = Math.min(oy + h, Math.floor(hi) + 1);
  let box = null;
  const xs = [];
  for (let y = y0; y < y1; y++) {
    xs.length = 0;
    for (let i = 0; i < n; i++) {
      const ar = verts[2 * i], ac = verts[2 * i + 1], j = (i + 1) % n, br = verts[2 * j], bc = verts[2 * j + 1];
      if ((ar > y) !== (br > y)) xs.push(((bc - ac) * (y - ar)) / (br - ar) + ac);
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixel x is inside when an odd number of crossings lie strictly right of it
      const x0 = Math.max(ox, Math.ceil(xs[k])), x1 = Math.min(ox + w, Math.ceil(xs[k + 1]));
      const row = (y - oy) * w - ox;
      for (let x = x0; x < x1; x++) if (keep < 0 || labels[row + x] === keep) labels[row + x] = value;
      box = grow(box, y - oy, y + 1 - oy, x0 - ox, x1 - ox);
    }
  }
  return box;
}

/**
 * Paint bucket: the 4-connected region equal to labels[row, col] (or, `global`, every pixel with that
 * label) becomes `value`, unless the clicked label is not `keep` (-1: any). Returns the changed box.
 */
export function floodFill(labels, w, h, row, col, value, keep = -1, global = false) {
  if (row < 0 || col < 0 || row >= h || col >= w) return null;
  const target = labels[row * w + col];
  if (target === value || (keep >= 0 && target !== keep)) return null;
  let box = null;
  if (global) {
    for (let y = 0; y < h; y++) {
      for (let x = 0, i = y * w; x < w; x++, i++) if (labels[i] === target) { labels[i] = value; box = grow(box, y, y + 1, x, x + 1); }
    }
    return box;
  }
  const stack = [row * w + col];
  while (stack.length) {
    const p = stack.pop(), y = (p / w) | 0;
    let x0 = p - y * w, x1 = x0;
    if (labels[p] !== target) continue;
    while (x0 > 0 && labels[y * w + x0 - 1] === target) x0--;
    while (x1 < w - 1 && labels[y * w + x1 + 1] === target) x1++;
    for (let x = x0; x <= x1; x++) {
      labels[y * w + x] = value;
      if (y > 0 && labels[(y - 1) * w + x] === target) stack.push((y - 1) * w + x);
      if (y < h - 1 && labels[(y + 1) * w + x] === target) stack.push((y + 1) * w + x);
    }
    box = grow(box, y, y + 1, x0, x1 + 1);
  }
  return box;
}

/** The palette to draw with: hidden classes (visible[k] false) get alpha 0. A copy. */
export function visiblePalette(palette, visible) {
  const out = new Uint8Array(palette);
  if (visible) for (let k = 0; k < visible.length && 4 * k + 3 < out.length; k++) if (!visible[k]) out[4 * k + 3] = 0;
  return out;
}

/** The brush ring's radius in CSS px: brush_size / 2 image pixels at the current zoom (>= 1.5 to stay visible). */
export function cursorRadius(brushSize, geo, scale) {
  return Math.max(1.5, ((brushSize / 2) * geo.dw * scale) / geo.W);
}

/** Write palette colours (K x 4 bytes) of labels into RGBA pixels over box [y0, y1, x0, x1]. */
export function colorize(rgba, labels, w, palette, box) {
  const k = palette.length >> 2;
  for (let y = box[0]; y < box[1]; y++) {
    for (let x = box[2], i = y * w + box[2]; x < box[3]; x++, i++) {
      const v = labels[i] < k ? labels[i] * 4 : 0;
      rgba[4 * i] = palette[v]; rgba[4 * i + 1] = palette[v + 1]; rgba[4 * i + 2] = palette[v + 2]; rgba[4 * i + 3] = palette[v + 3];
    }
  }
}

/** Paint one edit `op` ({kind: "stroke" | "lasso" | "fill", value, ...} in proxy coordinates). */
export function applyOp(labels, w, h, op) {
  const keep = op.keep ?? -1;
  if (op.kind === "stroke") return rasterStroke(labels, w, h, op.proxy, op.proxyRadius, op.value, keep);
  if (op.kind === "lasso") return rasterPolygon(labels, w, h, op.proxy, op.value, keep);
  return floodFill(labels, w, h, op.row, op.col, op.value, keep, op.global === true);
}

/**
 * The Painter's preview / confirm state, free of the DOM. `truth` holds the kernel's labels on the
 * (dh, dw) display proxy; `shown` is truth plus the previews of the edits sent but not yet confirmed
 * and of the stroke in progress. Edits are painted into `shown` at once (painting feels instant);
 * the kernel's patch then replaces them. Methods return the box [y0, y1, x0, x1] of `shown` that
 * changed (to recolour), or null. geo = {H, W, dh, dw}: full-resolution and proxy sizes.
 */
export function createEdits(geo, truth) {
  const { dh, dw } = geo;
  truth = new Uint8Array(truth);
  const shown = new Uint8Array(truth);
  const pending = new Map(); // edit id -> op awaiting the kernel's patch
  let active = null, nextId = 1;
  const full = [0, dh, 0, dw];

  // copy the kernel's truth over `box`, then repaint every preview still in flight
  function restore(box) {
    if (box) for (let y = box[0]; y < box[1]; y++) shown.set(truth.subarray(y * dw + box[2], y * dw + box[3]), y * dw + box[2]);
    let dirty = box;
    for (const op of pending.values()) dirty = grow(dirty, ...(applyOp(shown, dw, dh, op) || EMPTY));
    if (active && active.kind === "stroke") dirty = grow(dirty, ...(applyOp(shown, dw, dh, active) || EMPTY));
    return dirty;
  }

  return {
    geo, truth, shown, pending,
    get active() { return active; },
    /** Start a stroke or lasso: op = {kind, value, proxyRadius?}; points come with extend(). */
    begin(op) {
      active = Object.assign(op, { image: [], proxy: [], box: null });
      return active;
    },
    /** Add the full-resolution point (row, col) to the gesture; false when too close to the last. */
    extend(row, col) {
      const op = active, n = op.image.length;
      if (n && Math.abs(op.image[n - 2] - row) + Math.abs(op.image[n - 1] - col) < 0.25) return { added: false, box: null };
      op.image.push(row, col);
      op.proxy.push(...imageToProxy(row, col, geo));
      if (op.kind !== "stroke") return { added: true, box: null };
      const k = op.proxy.length;
      const box = rasterStroke(shown, dw, dh, op.proxy.slice(Math.max(0, k - 4)), op.proxyRadius, op.value, op.keep ?? -1);
      if (box) op.box = grow(op.box, ...box);
      return { added: true, box };
    },
    /** End the gesture: the op to send (a lasso is filled now), or null (a lasso of < 3 points). */
    finish() {
      const op = active;
      active = null;
      if (!op) return null;
      if (op.kind === "lasso") {
        if (op.image.length < 6) return null;
        op.box = rasterPolygon(shown, dw, dh, op.proxy, op.value, op.keep ?? -1);
      }
      return op;
    },
    /** Drop the gesture in progress (a second finger turned it into a pinch): its preview goes. */
    cancel() {
      const op = active;
      active = null;
      return op && op.box ? restore(op.box) : null;
    },
    /** A finished op goes to the kernel: its id. A fill is previewed here, at submit time. */
    submit(op) {
      const id = nextId++;
      if (op.kind === "fill") op.box = applyOp(shown, dw, dh, op);
      pending.set(id, op);
      return id;
    },
    /**
     * The kernel's patch {id, done, y, x, h, w} with its (h, w) labels: truth takes it; when `done`,
     * edit `id` is confirmed (its preview may have painted outside the patch: all it touched is
     * restored). Returns {box, op}: op is the confirmed edit or undefined.
     */
    patch(msg, data) {
      const has = msg.h > 0 && msg.w > 0 && data;
      if (has) for (let y = 0; y < msg.h; y++) truth.set(data.subarray(y * msg.w, (y + 1) * msg.w), (msg.y + y) * dw + msg.x);
      const op = msg.done ? pending.get(msg.id) : undefined;
      if (op) pending.delete(msg.id);
      const box = has ? [msg.y, msg.y + msg.h, msg.x, msg.x + msg.w] : null;
      return { box: restore(op && op.box ? grow(box, ...op.box) : box), op };
    },
    /** The kernel refused edit `id`: its preview goes. Returns {box, op}. */
    reject(id) {
      const op = pending.get(id);
      pending.delete(id);
      return { box: restore(op && op.box ? op.box : full), op };
    },
    /** The kernel's full labels (at start and in answer to "hello"): previews are re-applied. */
    reset(labels) {
      truth.set(labels);
      restore(full);
      return full;
    },
  };
}

/** Every key of the Painter, as the "?" overlay lists them (node tests check painterKey handles each). */
export const KEYS = [
  ["B E F L", "brush, eraser, fill, lasso"], ["1–9 0", "active class"], ["Alt+click / I", "pick the label under the cursor"],
  ["G", "fill: contiguous ↔ global"], ["[ ]", "brush size"], ["Ctrl+Z", "undo"], ["Ctrl+Shift+Z / Ctrl+Y", "redo"],
  ["wheel / + −", "zoom"], ["space+drag / right-drag", "pan"], ["R", "fit the image"], ["P", "pixel grid (from 800%)"],
  ["?", "this help"], ["Esc", "close it"],
];

/**
 * What a key pressed on the Painter does: {type: "undo" | "redo" | "tool" | "class" | "size" | "zoom"
 * | "pan" | "fit" | "pick" | "fillMode" | "grid" | "help" | "closeHelp" | "swallow", value?} or null (leave the
 * key alone). `onControl`: a button or slider has the focus, so Space and Enter belong to it (they
 * press the button) and arrows move the slider. `helpOpen`: Esc closes the help overlay.
 */
export function painterKey(key, { mod = false, shift = false, alt = false, onControl = false, helpOpen = false } = {}) {
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (key === "Escape") return helpOpen ? { type: "closeHelp" } : null;
  if (mod && lower === "z") return { type: shift ? "redo" : "undo" };
  if (mod && lower === "y") return { type: "redo" };
  if (mod || alt) return null;
  if (onControl && (key === " " || key === "Enter" || key.startsWith("Arrow") || key === "Home" || key === "End" || key.startsWith("Page"))) return null;
  const tools = { b: "brush", e: "eraser", f: "fill", l: "lasso" };
  if (tools[lower]) return { type: "tool", value: tools[lower] };
  if (/^[0-9]$/.test(key)) return { type: "class", value: Number(key) };
  if (key === "[" || key === "]") return { type: "size", value: key === "]" ? 1 : -1 };
  if (key === "+" || key === "=") return { type: "zoom", value: 1.25 };
  if (key === "-" || key === "_") return { type: "zoom", value: 0.8 };
  if (key === " ") return { type: "pan" };
  if (lower === "r") return { type: "fit" };
  if (lower === "i") return { type: "pick" };
  if (lower === "g") return { type: "fillMode" };
  if (lower === "p") return { type: "grid" };
  if (key === "?") return { type: "help" };
  return key.length === 1 ? { type: "swallow" } : null; // plain keys must not reach notebook shortcuts
}

/** The brush size after a [ or ] step (x1.25, at least 1 px apart), clamped to [1, 4096]. */
export function stepSize(size, direction) {
  return Math.min(4096, Math.max(1, direction > 0 ? Math.ceil(size * 1.25) : Math.floor(size / 1.25)));
}
