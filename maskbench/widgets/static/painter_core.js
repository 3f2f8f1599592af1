// maskbench Painter: pure helpers (the DOM wiring is painter.js; decodeArray is in shared.js).
// Rasterisers follow maskbench.kernels.paint's rules so the preview matches the kernel's edit;
// createEdits holds what the view shows before the kernel confirms an edit. node tests import this
// file: tests/js/test_painter.mjs.
import { zoomAbout } from "./shared.js";
import { TILE, tileKey } from "./tiles.js";

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

// ---- label tiles at native zoom: previews painted with the kernel's rules, then the kernel's truth ----

/**
 * Paint a stroke or lasso `op` into a level-k label tile (h x w level pixels at (oy, ox)); a stroke's
 * points from flat index `from` on (one more segment). Level 0 uses the Float32 points the kernel gets
 * and its rules: pixel for pixel what the kernel will paint. Coarser levels scale points and radius
 * by 2**-k (an approximation until the kernel's tiles come). Fills are not previewed here.
 */
export function paintTileOp(labels, w, h, k, oy, ox, op, from = 0) {
  if (op.kind !== "stroke" && op.kind !== "lasso") return null;
  const s = 2 ** k, src = op.image, pts = new Array(src.length - from);
  for (let i = from; i < src.length; i++) { const v = Math.fround(src[i]); pts[i - from] = k ? (v + 0.5) / s - 0.5 : v; }
  if (op.kind === "stroke") return rasterStroke(labels, w, h, pts, op.radius / s, op.value, op.keep ?? -1, oy, ox);
  return rasterPolygon(labels, w, h, pts, op.value, op.keep ?? -1, oy, ox);
}

/** [r0, r1, c0, c1] full-resolution bounds of a stroke or lasso op (null for fills). */
export function opBounds(op) {
  if (op.kind !== "stroke" && op.kind !== "lasso") return null;
  const r = op.kind === "stroke" ? op.radius + 1 : 1, p = op.image;
  let b = null;
  for (let i = 0; i + 1 < p.length; i += 2) b = grow(b, Math.floor(p[i] - r), Math.ceil(p[i] + r) + 1, Math.floor(p[i + 1] - r), Math.ceil(p[i + 1] + r) + 1);
  return b;
}

/** Full-resolution footprint [y0, y1, x0, x1] of tile (row, col) of level k with h x w pixels. */
export function tileFootprint(k, row, col, h, w) {
  const s = 2 ** k, y0 = row * TILE * s, x0 = col * TILE * s;
  return [y0, y0 + h * s, x0, x0 + w * s];
}

const overlaps = (a, b) => a[0] < b[1] && b[0] < a[1] && a[2] < b[3] && b[2] < a[3];

/**
 * A kernel change {from, version, box: [r0, c0, h, w]} on a level-k label tile's `data`: true when
 * `data` is (now) that tile at the new version: the box misses the tile, or level 0 with the box's
 * full-resolution labels `full` (written into `data`). False: fetch it again.
 */
export function applyChange(k, row, col, h, w, data, change, full) {
  const [r0, c0, bh, bw] = change.box, f = tileFootprint(k, row, col, h, w);
  const y0 = Math.max(r0, f[0]), y1 = Math.min(r0 + bh, f[1]), x0 = Math.max(c0, f[2]), x1 = Math.min(c0 + bw, f[3]);
  if (y0 >= y1 || x0 >= x1) return true;
  if (k !== 0 || !full) return false;
  for (let y = y0; y < y1; y++) data.set(full.subarray((y - r0) * bw + x0 - c0, (y - r0) * bw + x1 - c0), (y - f[0]) * w + x0 - f[2]);
  return true;
}

/** Cached label tiles of version change.from that applyChange keeps exact are cached again as change.version. */
export function rekeyLabelTiles(cache, change, full) {
  let moved = 0;
  for (const key of cache.keys()) {
    const p = key.split("/");
    if (p[0] !== "labels" || p[4] !== String(change.from)) continue;
    const t = cache.get(key), foot = tileFootprint(t.level, t.row, t.col, t.h, t.w);
    const [r0, c0, bh, bw] = change.box, hit = overlaps(foot, [r0, r0 + bh, c0, c0 + bw]);
    const data = hit ? new Uint8Array(t.data) : t.data; // untouched tiles share their bytes
    if (!applyChange(t.level, t.row, t.col, t.h, t.w, data, change, full)) continue;
    cache.set(tileKey("labels", t.level, t.row, t.col, change.version), { ...t, data, version: change.version }, data.byteLength);
    moved++;
  }
  return moved;
}

/**
 * Label tiles with previews: a copy {k, row, col, h, w, base, shown, version, extra, dirty} of a
 * cached label tile (`base`, the kernel's labels at `version`) with the edits in flight painted over
 * (`shown`). `extra`: edits the kernel confirmed that `base` does not hold yet (a coarser tile the
 * change touched), painted until a fresh tile rebases the copy. ops = the edits in flight, oldest first.
 */
export function createTileEdits() {
  const copies = new Map();
  const keyOf = (k, row, col) => `${k}/${row}/${col}`;
  const paintAll = (cp, ops, from) => { let hit = false; for (const op of ops) if (paintTileOp(cp.shown, cp.w, cp.h, cp.k, cp.row * TILE, cp.col * TILE, op, from)) hit = true; return hit; };
  function repaint(cp, ops) {
    cp.shown.set(cp.base);
    paintAll(cp, [...cp.extra, ...ops], 0);
    cp.dirty = true;
  }
  return {
    copies,
    get: (k, row, col) => copies.get(keyOf(k, row, col)),
    /** A copy of cached label tile `tile` with `ops` painted over. */
    make(tile, ops) {
      const cp = { k: tile.level, row: tile.row, col: tile.col, h: tile.h, w: tile.w, version: tile.version, extra: [],
        base: new Uint8Array(tile.data), shown: new Uint8Array(tile.data.length), dirty: true };
      repaint(cp, ops);
      copies.set(keyOf(cp.k, cp.row, cp.col), cp);
      return cp;
    },
    /** The stroke in progress got a point: its newest segment goes into every copy. */
    extend(op) { for (const cp of copies.values()) if (paintAll(cp, [op], Math.max(0, op.image.length - 4))) cp.dirty = true; },
    /** A finished lasso goes into every copy. */
    paint(op) { for (const cp of copies.values()) if (paintAll(cp, [op], 0)) cp.dirty = true; },
    /** The kernel's change (see applyChange) for confirmed edit `done` (or undefined); ops = still in flight. */
    confirm(change, full, done, ops) {
      for (const cp of copies.values()) {
        if (cp.version === change.from) {
          if (applyChange(cp.k, cp.row, cp.col, cp.h, cp.w, cp.base, change, full)) cp.version = change.version;
          else if (done) cp.extra.push(done);
        }
        repaint(cp, ops);
      }
    },
    /** A fresh tile of the current version came: it becomes the copy's base. */
    rebase(cp, tile, ops) {
      cp.base = new Uint8Array(tile.data);
      cp.version = tile.version;
      cp.extra = [];
      repaint(cp, ops);
    },
    /** The edit with op `gone` was refused or cancelled: repaint without it. */
    drop(gone, ops) { for (const cp of copies.values()) { cp.extra = cp.extra.filter((o) => o !== gone); repaint(cp, ops); } },
    /** With no edit in flight, copies whose base is the current version are the cached tiles again: dropped. */
    prune(current, busy) {
      for (const [key, cp] of copies) if (!busy && !cp.extra.length && cp.version === current) copies.delete(key);
    },
    clear: () => copies.clear(),
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
