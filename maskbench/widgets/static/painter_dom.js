// maskbench Painter: its DOM (toolbar, legend with per-class visibility and colour, keyboard help
// overlay) and its level-of-detail tile layer (createTileLayer; the pure tile-preview helpers above it
// are node-tested in tests/js/test_painter_tiles.mjs). painter.js wires both to the model; assembled
// between painter_core.js and painter.js by maskbench/widgets/_frontend.py.
import { el } from "./shared.js";
import {
  NATIVE, TILE, TILE_SETTLE_MS, bestTile, cachedPart, createScratchImages, createTileCache, createTileClient, drawPixelGrid, levelFor, partCovers, partKey, shownPart, tileKey,
  toRGBA, visibleTiles,
} from "./tiles.js";
import { KEYS, colorize, grow, rasterPolygon, rasterStroke } from "./painter_core.js";

const TOOLS = [["brush", "Brush", "B"], ["eraser", "Eraser", "E"], ["fill", "Fill", "F"], ["lasso", "Lasso", "L"]];
const SHORT_HELP = [["B E F L", "tools"], ["1–9 0", "class"], ["Alt+click / I", "pick"], ["[ ]", "size"],
  ["Ctrl+Z", "undo"], ["wheel / + −", "zoom"], ["space / right-drag", "pan"], ["?", "all keys"]];

/** The widget's DOM; `act` = {setTrait, send, fit, help} handles the buttons and controls. */
export function buildDom(root, act) {
  const ui = { root };
  const bar = el("div", "mb-bar");
  ui.stage = el("div", "mb-stage");
  ui.canvas = el("canvas", "mb-canvas");
  ui.legend = el("div", "mb-legend");
  const row = el("div", "mb-row"), status = el("div", "mb-status"), help = el("div", "mb-help");
  ui.helpBox = buildHelpBox(act);
  ui.stage.append(ui.canvas, ui.helpBox);
  root.append(bar, ui.stage, row, status, help);
  ui.toolButtons = {};
  const group = el("div", "mb-group");
  for (const [name, label, key] of TOOLS) {
    const b = el("button", "mb-tool", { title: `${label} (${key})`, onclick: () => act.setTrait("tool", name) });
    b.append(el("span", "", {}, label), el("kbd", "", {}, key));
    ui.toolButtons[name] = b;
    group.appendChild(b);
  }
  const slider = (label, min, max, step, trait) => {
    const wrap = el("label", "mb-slider"), out = el("output");
    const input = el("input", "", { type: "range", min, max, step, oninput: () => act.setTrait(trait, Number(input.value)) });
    wrap.append(el("span", "", {}, label), input, out);
    return [wrap, input, out];
  };
  let sizeWrap, opWrap;
  [sizeWrap, ui.sizeInput, ui.sizeOut] = slider("Size", 1, 256, 1, "brush_size");
  [opWrap, ui.opInput, ui.opOut] = slider("Opacity", 0, 1, 0.05, "opacity");
  // the paint bucket's mode and the "paint over" rule (preserve labels)
  const choice = (label, cls, title, onchange) => {
    const wrap = el("label", "mb-choice", { title }), select = el("select", cls);
    select.onchange = () => onchange(select.value);
    wrap.append(el("span", "", {}, label), select);
    return [wrap, select];
  };
  let fillWrap, overWrap;
  [fillWrap, ui.fillMode] = choice("Fill", "mb-fillmode", "Fill the connected region, or every pixel with the clicked label (G)",
    (v) => act.setTrait("fill_mode", v));
  ui.fillMode.append(el("option", "", { value: "contiguous" }, "contiguous"), el("option", "", { value: "global" }, "global"));
  [overWrap, ui.paintOver] = choice("Paint over", "mb-paintover", "Which pixels brush, lasso and fill may change",
    (v) => act.setTrait("paint_over", Number(v)));
  ui.undoBtn = el("button", "mb-act", { title: "Undo (Ctrl+Z)", onclick: () => act.send({ type: "undo" }) }, "↶");
  ui.redoBtn = el("button", "mb-act", { title: "Redo (Ctrl+Shift+Z or Ctrl+Y)", onclick: () => act.send({ type: "redo" }) }, "↷");
  const fitBtn = el("button", "mb-act", { title: "Fit the image (R)", onclick: () => act.fit() }, "⤢");
  ui.gridBtn = el("button", "mb-act mb-grid-btn", { title: "Pixel grid from 800% zoom (P)", onclick: () => act.grid() }, "▦");
  const helpBtn = el("button", "mb-act mb-help-btn", { title: "Keyboard help (?)", onclick: () => act.help(true) }, "?");
  const acts = el("div", "mb-acts");
  acts.append(ui.undoBtn, ui.redoBtn, fitBtn, ui.gridBtn, helpBtn);
  bar.append(group, sizeWrap, opWrap, fillWrap, overWrap);
  row.append(ui.legend, acts);
  for (const [keys, what] of SHORT_HELP) { const s = el("span"); s.append(el("kbd", "", {}, keys), ` ${what}`); help.appendChild(s); }
  ui.readout = el("span", "mb-readout");
  ui.timing = el("span", "mb-timing");
  ui.zoom = el("span", "mb-zoom", { title: "Zoom: screen pixels per image pixel, and the tile level shown" });
  ui.errorBox = el("span", "mb-error", { title: "click to dismiss", onclick: () => act.setTrait("error", "") });
  status.append(ui.readout, ui.zoom, ui.timing, ui.errorBox);
  return ui;
}

/** The "?" overlay: every key (KEYS) in a table; Esc or its button closes it. */
function buildHelpBox(act) {
  const box = el("div", "mb-helpbox", { role: "dialog", "aria-label": "Painter keyboard help" });
  box.hidden = true;
  const head = el("div", "mb-helpbox-head");
  head.append(el("strong", "", {}, "Keyboard"), el("button", "mb-act mb-helpbox-close", { title: "Close (Esc)", onclick: () => act.help(false) }, "×"));
  const table = el("div", "mb-helpbox-keys");
  for (const [keys, what] of KEYS) table.append(el("kbd", "", {}, keys), el("span", "", {}, what));
  box.append(head, table);
  return box;
}

/** "Paint over" options: every label, or one class (0 = only the background). */
export function fillPaintOver(select, names, value) {
  const opts = [el("option", "", { value: "-1" }, "every label")];
  names.forEach((name, i) => opts.push(el("option", "", { value: String(i) }, i === 0 ? `only ${name} (preserve)` : `only ${name}`)));
  select.replaceChildren(...opts);
  select.value = String(value);
}

/**
 * The legend: per class a button making it active, an eye toggling its visibility (hidden classes
 * are not drawn; the mask keeps them) and a colour picker (setting `class_colors`, validated in the
 * kernel). `st` = {names, colors, visible, active}.
 */
export function fillLegend(legend, st, act) {
  legend.replaceChildren(...st.names.map((name, i) => {
    const item = el("span", "mb-item");
    const pick = el("button", i === st.active ? "mb-class mb-on" : "mb-class", { onclick: () => act.setTrait("active_class", i) });
    const sw = el("span", "mb-swatch");
    if (i) sw.style.background = st.colors[i] || ""; // class 0 keeps the "none" slash
    pick.append(el("kbd", "", {}, i < 10 ? String(i) : ""), sw, el("span", "", {}, name));
    pick.title = `Paint ${name}${i < 10 ? ` (key ${i})` : ""}`;
    item.append(pick);
    if (i) {
      const shown = st.visible[i] !== false;
      const eye = el("button", shown ? "mb-eye" : "mb-eye mb-off", {
        title: `${shown ? "Hide" : "Show"} ${name}`, "aria-pressed": String(!shown),
        onclick: () => act.setTrait("class_visible", st.visible.map((v, k) => (k === i ? !shown : v))),
      }, shown ? "◉" : "○"); // geometric shapes: in every font (an emoji eye is a box without an emoji font)
      const colour = el("input", "mb-color", { type: "color", title: `Colour of ${name}` });
      colour.value = st.colors[i] || "#000000";
      colour.onchange = () => act.setTrait("class_colors", st.colors.map((c, k) => (k === i ? colour.value : c)));
      item.append(eye, colour);
    }
    return item;
  }));
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
  let count = 0;
  for (const key of cache.keys()) {
    const p = key.split("/");
    if (p[0] !== "labels" || p[4] !== String(change.from)) continue;
    const t = cache.get(key), foot = tileFootprint(t.level, t.row, t.col, t.h, t.w);
    const [r0, c0, bh, bw] = change.box, hit = overlaps(foot, [r0, r0 + bh, c0, c0 + bw]);
    const data = hit ? new Uint8Array(t.data) : t.data; // untouched tiles share their bytes
    if (!applyChange(t.level, t.row, t.col, t.h, t.w, data, change, full)) continue;
    const moved = { ...t, data, version: change.version };
    if (hit) delete moved.uniform; // an edit may have changed some of its pixels
    cache.set(tileKey("labels", t.level, t.row, t.col, change.version), moved, data.byteLength);
    count++;
  }
  return count;
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
    /** With no edit in flight, copies whose base is the current version are the cached tiles again, and
     * copies of another level than `level` (when given) are not drawn: both dropped. */
    prune(current, busy, level = -1) {
      if (busy) return;
      for (const [key, cp] of copies) if ((!cp.extra.length && cp.version === current) || (level >= 0 && cp.k !== level)) copies.delete(key);
    },
    clear: () => copies.clear(),
  };
}

/** Browser tile cache of the Painter: image + label tiles and their canvases (counted), well under 256 MiB. */
export const PAINTER_TILE_BYTES = 96 * 1024 * 1024;

/**
 * The Painter's level-of-detail layer (issue 12). Once the display proxy is magnified (screen px per
 * proxy px > 1) it asks the kernel for the image and label tiles of level levelFor(zoom) in view (one
 * request in flight, newest view wins: tiles.js), and draws them over the proxy: crisp past 1:1, the
 * nearest coarser cached tile until the right one comes, the proxy's labels where no label tile is
 * there yet, an optional one-pixel grid from 8 screen px per image px. Label tiles are coloured with
 * the draw palette; edits in flight are painted into copies of them (createTileEdits) with the
 * kernel's rules, and the kernel's change replaces them (rekeyLabelTiles: no round trip at level 0).
 */
/** A cached tile sent as one pixel (tiles.js) and not edited since; edit copies (`shown`) never are. */
const isUniform = (obj) => obj.uniform === true && !obj.shown;

export function createTileLayer(send, redraw = () => {}, settleMs = TILE_SETTLE_MS) {
  const cache = createTileCache(PAINTER_TILE_BYTES);
  const client = createTileClient({ send, cache, info: {} }); // one in flight: a superseded view is never asked for
  const edits = createTileEdits();
  const canvases = new WeakMap(); // tile or copy -> {gen, canvas}
  let info = {}, palette = new Uint8Array(8), gen = 1, latest = -1, lastView = "", lastScale = 0, zoomIn = false, movedAt = 0, timer = 0, settled = false;
  let aim = null; // {view, sx, sy}: the last wheel zoom-in's view and screen point (t.aim)
  const t = { cache, client, edits, grid: false, state: { level: -1, zoom: 0, sharp: false, drawn: 0 } };
  const labelsVersion = () => Math.max(info.layers?.labels?.version ?? -1, latest);
  const scratchImage = createScratchImages(); // one ImageData per tile size, reused

  // one canvas per tile, made once (label canvases again after a palette change or a repainted copy);
  // a uniform tile (one colour, e.g. an empty label tile) gets a 1 x 1 canvas, drawn stretched
  function canvasOf(obj, labels) {
    const want = labels ? gen : 0, have = canvases.get(obj);
    if (have && have.gen === want && !obj.dirty) return have.canvas;
    const canvas = have ? have.canvas : document.createElement("canvas");
    const one = isUniform(obj), w = one ? 1 : obj.w, h = one ? 1 : obj.h;
    canvas.width = w; canvas.height = h;
    const img = scratchImage(w, h); // every pixel is written below; putImageData copies it
    if (labels) colorize(img.data, obj.shown || obj.data, w, palette, [0, h, 0, w]);
    else toRGBA(img.data, obj.data, obj.channels || 4);
    canvas.getContext("2d").putImageData(img, 0, 0);
    obj.dirty = false;
    canvases.set(obj, { gen: want, canvas });
    if (!have && !obj.shown) { // the cache counts the canvas's bytes too
      const key = (obj.part ? partKey : tileKey)(labels ? "labels" : "image", obj.level, obj.row, obj.col, obj.version);
      if (cache.has(key)) cache.set(key, obj, obj.data.byteLength + 4 * w * h);
    }
    return canvas;
  }

  // the part of tile `obj` (level obj.level or obj.k) over position (row, col) of level k
  function drawPart(ctx, obj, labels, k, row, col) {
    const level = obj.level ?? obj.k, s = 2 ** (level - k), canvas = canvasOf(obj, labels);
    const sx = (col % s) * (TILE / s), sy = (row % s) * (TILE / s);
    const sw = Math.min(TILE / s, obj.w - sx), sh = Math.min(TILE / s, obj.h - sy);
    if (sw <= 0 || sh <= 0) return;
    const one = isUniform(obj), f = 2 ** level; // f: full-resolution pixels per pixel of the tile
    if (one && labels && palette[4 * (obj.data[0] < palette.length >> 2 ? obj.data[0] : 0) + 3] === 0) return; // transparent
    ctx.drawImage(canvas, one ? 0 : sx, one ? 0 : sy, one ? 1 : sw, one ? 1 : sh, (obj.col * TILE + sx) * f, (obj.row * TILE + sy) * f, sw * f, sh * f);
  }

  // a cached part of an image tile of level k ({part: [y0, x0], h, w}), where it lies
  function drawImagePart(ctx, part, k) {
    const f = 2 ** k;
    ctx.drawImage(canvasOf(part, false), (part.col * TILE + part.part[1]) * f, (part.row * TILE + part.part[0]) * f, part.w * f, part.h * f);
  }

  // labels at position (row, col) of level k: a copy with previews, the current tile, an ancestor, or null
  function labelsAt(k, row, col, ops, bounds) {
    const v = labelsVersion(), cp = edits.get(k, row, col);
    const cur = cache.has(tileKey("labels", k, row, col, v)) ? cache.get(tileKey("labels", k, row, col, v)) : null;
    if (cp) { if (cp.version !== v && cur) edits.rebase(cp, cur, ops); return cp; }
    if (cur) {
      const foot = tileFootprint(k, row, col, cur.h, cur.w);
      const hit = bounds.some((b) => b[0] < foot[1] && foot[0] < b[1] && b[2] < foot[3] && foot[2] < b[3]);
      return hit ? edits.make(cur, ops) : cur;
    }
    const anc = bestTile(cache, "labels", v, k, row, col, info.levels);
    return anc ? anc.tile : null;
  }

  t.setInfo = (next) => { info = next || {}; client.setInfo(info); };
  t.receive = (msg, buffers) => client.receive(msg, buffers);
  t.setPalette = (pal) => { palette = pal; gen++; for (const cp of edits.copies.values()) cp.dirty = true; };
  /** The view the next draw shows is where a gesture ended (pointer-up after a drag, a key zoom): ask at once. */
  t.settle = () => { settled = true; };
  /** `view` is a wheel zoom-in about screen point (sx, sy): a draw of it at level 0 asks for its native view's tiles. */
  t.aim = (view, sx, sy) => { aim = { view, sx, sy }; };

  // The tiles of level k a view shows ({scale: fx, scaleY: fy, tx, ty}: screen px per image px) on a width x
  // height screen, centre first, their parts in view (shownPart) and the keys that make it sharp: in view, the
  // image tile or its part in view and the label tile (labels are edited in whole tiles).
  function viewTiles(screen, k, width, height) {
    const shown = visibleTiles(screen, width, height, info.shape, k, 0);
    const parts = new Map(shown.map(([r, c]) => [`${r}/${c}`, shownPart(screen, width, height, info.shape, k, r, c)]));
    const iv = info.layers.image.version;
    const urgent = shown.flatMap(([r, c]) => {
      const p = parts.get(`${r}/${c}`);
      if (!p) return [["image", k, r, c], ["labels", k, r, c]];
      return partCovers(cachedPart(cache, "image", k, r, c, iv), p.shows) ? [["labels", k, r, c]] : [["image", k, r, c, ...p.ask], ["labels", k, r, c]];
    });
    return { shown, parts, urgent };
  }
  t.close = () => { client.close(); cache.clear(); edits.clear(); clearTimeout(timer); };
  /** The kernel's change {from, version, box} (+ full-resolution labels) for edit `done`; ops still in flight. */
  t.confirm = (change, full, done, ops) => {
    rekeyLabelTiles(cache, change, full);
    edits.confirm(change, full, done, ops);
    latest = Math.max(latest, change.version);
    edits.prune(labelsVersion(), ops.length > 0);
  };
  t.extend = (op) => edits.extend(op);
  t.paint = (op) => edits.paint(op);
  t.drop = (op, ops) => { edits.drop(op, ops); edits.prune(labelsVersion(), ops.length > 0); };

  /**
   * Draw the tiles in view over the proxy (already drawn). `s` = {view, geo, dpr, width, height,
   * opacity, labCanvas, ops}: view in proxy px (screen = t + scale * proxy px), geo = {H, W, dh, dw}.
   * Returns false when the proxy is enough (not magnified, or the proxy is the image).
   */
  t.draw = (ctx, s) => {
    const { view, geo, dpr } = s;
    const fx = (view.scale * geo.dw) / geo.W, fy = (view.scale * geo.dh) / geo.H; // screen px per image px
    t.state = { level: -1, zoom: fx, sharp: false, drawn: 0 };
    const key = `${view.scale},${view.tx},${view.ty},${s.width},${s.height}`, now = performance.now();
    if (key !== lastView) { zoomIn = lastScale > 0 && view.scale > lastScale; lastView = key; lastScale = view.scale; movedAt = now; }
    if (!info.levels || !info.layers || view.scale <= 1 || (geo.dw >= geo.W && geo.dh >= geo.H)) { client.want([]); return false; }
    const k = levelFor(fx, info.levels), screen = { scale: fx, scaleY: fy, tx: view.tx, ty: view.ty };
    const { shown, parts, urgent } = viewTiles(screen, k, s.width, s.height), inView = new Set(shown.map(([r, c]) => `${r}/${c}`));
    // the tiles in view first (centre first), asked for alone (a smaller first reply makes the view sharp
    // sooner), then the one-tile margin as the next request
    const pos = [...shown, ...visibleTiles(screen, s.width, s.height, info.shape, k, 1).filter(([r, c]) => !inView.has(`${r}/${c}`))];
    // coalesce: while the view moves, draw what is cached; ask for tiles once it has settled, or at once
    // where the gesture ended (this view is final) or on a zoom-in at native resolution or past it
    // (fx >= 1, level 0): the view only narrows on a zoom-in about a point in view, so any further
    // zoom-in needs a subset of these tiles, at most as many (below 1:1 level 0 still covers up to 4x
    // the area of the 1:1 view: a burst passing through it would ask for that much first)
    if (settled || (zoomIn && k === 0 && fx >= NATIVE)) { settled = false; movedAt = -Infinity; }
    // in view: the image tiles or their parts in view and the label tiles (viewTiles); then the whole of those
    // image tiles, then the margin
    const iv = info.layers.image.version;
    if (now - movedAt >= settleMs) {
      const whole = shown.filter(([r, c]) => parts.get(`${r}/${c}`)).map(([r, c]) => ["image", k, r, c]);
      const margin = pos.slice(shown.length).flatMap(([r, c]) => [["image", k, r, c], ["labels", k, r, c]]);
      client.want([...urgent, ...whole, ...margin], urgent.length);
    } else {
      clearTimeout(timer);
      timer = setTimeout(redraw, settleMs - (now - movedAt) + 1);
      // a wheel zoom-in at level 0 short of 1:1: every view from here to 1:1 about its point shows the 1:1 view's
      // tiles (the views nest), so those are asked for before the burst ends (the Viewer's aimedKeys)
      if (zoomIn && k === 0 && fx < NATIVE && aim && aim.view === view) {
        const f = 1 / fx, { sx, sy } = aim;
        client.want(viewTiles({ scale: 1, scaleY: fy * f, tx: sx - (sx - view.tx) * f, ty: sy - (sy - view.ty) * f }, 0, s.width, s.height).urgent);
      }
    }
    const bounds = s.ops.map(opBounds).filter(Boolean);
    if (edits.copies.size) edits.prune(labelsVersion(), s.ops.length > 0, k);
    ctx.setTransform(dpr * fx, 0, 0, dpr * fy, dpr * view.tx, dpr * view.ty); // full-resolution pixels -> device px
    ctx.imageSmoothingEnabled = fx < 1;
    const plan = [];
    let sharp = 0;
    for (const [r, c] of shown) { // the margin is off screen: no canvases made for it here
      const img = bestTile(cache, "image", iv, k, r, c, info.levels); // a whole tile, this level's or an ancestor
      const part = img && img.level === k ? null : cachedPart(cache, "image", k, r, c, iv);
      if (!img && !part) continue;
      const lab = labelsAt(k, r, c, s.ops, bounds);
      plan.push([r, c, img ? img.tile : null, lab, part]);
      const p = parts.get(`${r}/${c}`); // null: the view shows (nearly) the whole tile, a part is not enough
      const fine = (img && img.level === k) || (p !== null && partCovers(part, p.shows));
      if (fine && lab && (lab.level ?? lab.k) === k) sharp++;
    }
    for (const [r, c, img, , part] of plan) { // an ancestor, then this level's part over it
      if (img) drawPart(ctx, img, false, k, r, c);
      if (part) drawImagePart(ctx, part, k);
    }
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = s.opacity;
    const bare = plan.filter((p) => !p[3]);
    for (const [r, c, , lab] of plan) if (lab) drawPart(ctx, lab, true, k, r, c);
    if (bare.length) { // no label tile yet: the proxy's labels, only over those tiles
      ctx.save();
      ctx.beginPath();
      for (const [r, c] of bare) { const span = TILE * 2 ** k; ctx.rect(c * span, r * span, span, span); }
      ctx.clip();
      ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.tx, dpr * view.ty);
      ctx.drawImage(s.labCanvas, 0, 0);
      ctx.restore();
    }
    ctx.globalAlpha = 1;
    if (t.grid) drawPixelGrid(ctx, { scale: fx, scaleY: fy, tx: view.tx, ty: view.ty }, s.width, s.height, geo.W, geo.H, dpr);
    t.state = { level: k, zoom: fx, sharp: sharp === inView.size, drawn: plan.length };
    return true;
  };
  return t;
}
