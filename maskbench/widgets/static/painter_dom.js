// maskbench Painter: its DOM (toolbar, legend with per-class visibility and colour, keyboard help
// overlay). painter.js wires it to the model; assembled between painter_core.js and painter.js by
// maskbench/widgets/_frontend.py.
import { el } from "./shared.js";
import { TILE, bestTile, createTileCache, createTileClient, levelFor, tileKey, visibleTiles } from "./tiles.js";
import { KEYS, colorize, createTileEdits, opBounds, rekeyLabelTiles, tileFootprint } from "./painter_core.js";

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
export function createTileLayer(send) {
  const cache = createTileCache(PAINTER_TILE_BYTES);
  const client = createTileClient({ send, cache, info: {} });
  const edits = createTileEdits();
  const canvases = new WeakMap(); // tile or copy -> {gen, canvas}
  let info = {}, palette = new Uint8Array(8), gen = 1, latest = -1;
  const t = { cache, client, edits, grid: false, state: { level: -1, zoom: 0, sharp: false, drawn: 0 } };
  const labelsVersion = () => Math.max(info.layers?.labels?.version ?? -1, latest);

  // one canvas per tile, made once (label canvases again after a palette change or a repainted copy)
  function canvasOf(obj, labels) {
    const want = labels ? gen : 0, have = canvases.get(obj);
    if (have && have.gen === want && !obj.dirty) return have.canvas;
    const canvas = have ? have.canvas : document.createElement("canvas");
    canvas.width = obj.w; canvas.height = obj.h;
    const img = new ImageData(obj.w, obj.h);
    if (labels) colorize(img.data, obj.shown || obj.data, obj.w, palette, [0, obj.h, 0, obj.w]);
    else img.data.set(obj.data);
    canvas.getContext("2d").putImageData(img, 0, 0);
    obj.dirty = false;
    canvases.set(obj, { gen: want, canvas });
    if (!have && !obj.shown) { // the cache counts the canvas's bytes too
      const key = tileKey(labels ? "labels" : "image", obj.level, obj.row, obj.col, obj.version);
      if (cache.has(key)) cache.set(key, obj, obj.data.byteLength + 4 * obj.w * obj.h);
    }
    return canvas;
  }

  // the part of tile `obj` (level obj.level or obj.k) over position (row, col) of level k
  function drawPart(ctx, obj, labels, k, row, col) {
    const level = obj.level ?? obj.k, s = 2 ** (level - k), canvas = canvasOf(obj, labels);
    const sx = (col % s) * (TILE / s), sy = (row % s) * (TILE / s);
    const sw = Math.min(TILE / s, obj.w - sx), sh = Math.min(TILE / s, obj.h - sy);
    if (sw <= 0 || sh <= 0) return;
    const f = 2 ** level; // full-resolution pixels per pixel of the tile
    ctx.drawImage(canvas, sx, sy, sw, sh, (obj.col * TILE + sx) * f, (obj.row * TILE + sy) * f, sw * f, sh * f);
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
  t.close = () => { client.close(); cache.clear(); edits.clear(); };
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
    if (!info.levels || !info.layers || view.scale <= 1 || (geo.dw >= geo.W && geo.dh >= geo.H)) { client.want([]); return false; }
    const k = levelFor(fx, info.levels), fview = { scale: fx, tx: view.tx, ty: view.ty };
    const pos = visibleTiles(fview, s.width, s.height, info.shape, k, 1);
    client.want(pos.flatMap(([r, c]) => [["image", k, r, c], ["labels", k, r, c]]));
    const inView = new Set(visibleTiles(fview, s.width, s.height, info.shape, k, 0).map(([r, c]) => `${r}/${c}`));
    const bounds = s.ops.map(opBounds).filter(Boolean);
    ctx.setTransform(dpr * fx, 0, 0, dpr * fy, dpr * view.tx, dpr * view.ty); // full-resolution pixels -> device px
    ctx.imageSmoothingEnabled = fx < 1;
    const plan = [];
    let sharp = 0;
    for (const [r, c] of pos) {
      const img = bestTile(cache, "image", info.layers.image.version, k, r, c, info.levels);
      if (!img) continue;
      const lab = labelsAt(k, r, c, s.ops, bounds);
      plan.push([r, c, img.tile, lab]);
      if (inView.has(`${r}/${c}`) && img.level === k && lab && (lab.level ?? lab.k) === k) sharp++;
    }
    for (const [r, c, img] of plan) drawPart(ctx, img, false, k, r, c);
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
    if (t.grid && fx >= 8) drawGrid(ctx, s, fx, fy);
    t.state = { level: k, zoom: fx, sharp: sharp === inView.size, drawn: plan.length };
    return true;
  };
  return t;
}

/** One-pixel lines between image pixels (integer full-resolution coordinates), on device pixels. */
function drawGrid(ctx, s, fx, fy) {
  const { view, geo, dpr } = s;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.beginPath();
  const x0 = Math.max(0, Math.floor(-view.tx / fx)), x1 = Math.min(geo.W, Math.ceil((s.width - view.tx) / fx));
  const y0 = Math.max(0, Math.floor(-view.ty / fy)), y1 = Math.min(geo.H, Math.ceil((s.height - view.ty) / fy));
  for (let x = x0; x <= x1; x++) { const X = Math.round(dpr * (view.tx + x * fx)) + 0.5; ctx.moveTo(X, dpr * (view.ty + y0 * fy)); ctx.lineTo(X, dpr * (view.ty + y1 * fy)); }
  for (let y = y0; y <= y1; y++) { const Y = Math.round(dpr * (view.ty + y * fy)) + 0.5; ctx.moveTo(dpr * (view.tx + x0 * fx), Y); ctx.lineTo(dpr * (view.tx + x1 * fx), Y); }
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(128,128,128,0.45)";
  ctx.stroke();
}
