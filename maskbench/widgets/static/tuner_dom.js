// maskbench ThresholdTuner: its DOM (toolbar, stage, metric cards, chart cards, clean-up, footer) and
// the image stage (createStage: zoom / pan over the proxy overlay, tiles on top); the wiring is in
// tuner.js. buildDom returns the elements the wiring needs, by name.
import { el, listen, tintPixels, viewFit, viewKeep, viewPan, viewPercent, viewZoom } from "./shared.js";
import { TILE, createTileCache, createTileClient, levelFor, levelShape, tileKey, visibleTiles } from "./tiles.js";
import {
  EDGE_RGB, MASK_RGBA, REMOVED_RGBA, composeOverlay, greyPixels, gridLines, packColour, stageKey, thresholdProxy, tileOutline,
} from "./tuner_core.js";

export function buildDom(root) {
  const ui = {};
  const bar = el("div", "mb-tuner-toolbar");
  const thr = el("div", "mb-tuner-thr");
  ui.slider = el("input", "mb-tuner-slider", { type: "range", min: "0", max: "1", step: "any", "aria-label": "Threshold" });
  ui.value = el("input", "mb-tuner-value", { type: "number", min: "0", max: "1", step: "0.01", title: "Threshold" });
  thr.append(el("span", "mb-tuner-label", {}, "Threshold"), ui.slider, ui.value);
  ui.method = el("select", "mb-tuner-method", { title: "Automatic method: moves the slider to its value" });
  const method = el("label", "mb-tuner-field");
  method.append(el("span", "mb-tuner-label", {}, "Method"), ui.method);
  ui.batch = el("div", "mb-tuner-batch");
  ui.prev = el("button", "mb-tuner-prev", { type: "button", title: "Previous image" }, "\u2039");
  ui.index = el("input", "mb-tuner-index", { type: "number", min: "1", step: "1", title: "Image in the batch (from 1)" });
  ui.count = el("span", "mb-tuner-count");
  ui.next = el("button", "mb-tuner-next", { type: "button", title: "Next image" }, "\u203a");
  ui.batch.append(ui.prev, ui.index, ui.count, ui.next);
  bar.append(thr, method, ui.batch);

  const body = el("div", "mb-tuner-body");
  const stage = el("div", "mb-tuner-stage");
  ui.frame = el("div", "mb-tuner-frame");
  ui.canvas = el("canvas", "mb-tuner-canvas"); // the proxy overlay (composed by tuner.js, not shown itself)
  ui.screen = el("canvas", "mb-tuner-screen", { tabindex: "0", "aria-label": "Image: wheel or + - to zoom, drag or arrows to pan, 0 or f to fit" });
  ui.frame.append(ui.canvas, ui.screen);
  const view = el("div", "mb-tuner-view");
  ui.opacity = el("input", "mb-tuner-opacity", { type: "range", min: "0", max: "1", step: "0.01", title: "Overlay opacity" });
  ui.showTarget = el("input", "mb-tuner-show-target", { type: "checkbox" });
  const op = el("label", "mb-tuner-field");
  op.append(el("span", "mb-tuner-label", {}, "Opacity"), ui.opacity);
  ui.targetField = el("label", "mb-tuner-field");
  ui.targetField.append(ui.showTarget, el("span", "", {}, "Target outline"));
  ui.legend = el("div", "mb-tuner-legend");
  const zoom = el("span", "mb-tuner-zoom-box");
  ui.fit = el("button", "mb-tuner-fit", { type: "button", title: "Fit the image (0 or f)" }, "Fit");
  ui.zoom = el("span", "mb-tuner-zoom", { title: "Screen pixels per image pixel (wheel or + - to zoom)" }, "100%");
  ui.grid = el("input", "mb-tuner-grid", { type: "checkbox" });
  const grid = el("label", "mb-tuner-field", { title: "Pixel grid from 8 screen px per image px (g)" });
  grid.append(ui.grid, el("span", "", {}, "Grid"));
  zoom.append(ui.fit, ui.zoom, grid);
  view.append(op, ui.targetField, zoom);
  stage.append(ui.frame, view, ui.legend);

  const side = el("div", "mb-tuner-side");
  ui.metrics = el("div", "mb-tuner-metrics");
  ui.cards = {};
  for (const [key, label] of [["iou", "IoU"], ["dice", "Dice"], ["precision", "Precision"], ["recall", "Recall"], ["foreground", "Area"]]) {
    const card = el("div", `mb-tuner-metric mb-tuner-metric-${key}`, key === "foreground" ? { title: "Share of the pixels in the mask" } : {});
    const v = el("div", "mb-tuner-metric-value", {}, "\u2013");
    card.append(v, el("div", "mb-tuner-metric-label", {}, label));
    ui.metrics.append(card);
    ui.cards[key] = { card, v };
  }
  const chart = (title, cls) => {
    const box = el("div", `mb-tuner-card ${cls}`);
    const head = el("div", "mb-tuner-card-head");
    const name = el("span", "mb-tuner-card-title", {}, title);
    head.append(name);
    const canvas = el("canvas", "mb-tuner-chart");
    box.append(head, canvas);
    side.append(box);
    return { box, head, canvas, name };
  };
  side.append(ui.metrics);
  const hist = chart("Probability histogram", "mb-tuner-hist");
  ui.hist = hist.canvas;
  ui.histKey = el("span", "mb-tuner-key");
  hist.head.append(ui.histKey);
  const curve = chart("IoU / Dice vs threshold", "mb-tuner-curve");
  ui.curveNote = el("span", "mb-tuner-key", { title: "threshold_sweep counts the thresholded mask, without clean-up" });
  curve.head.append(ui.curveNote);
  ui.curve = curve.canvas;
  ui.curveBox = curve.box;
  ui.curveTitle = curve.name;
  ui.best = el("div", "mb-tuner-best");
  ui.bestText = el("span", "mb-tuner-best-text");
  ui.useBest = el("button", "mb-tuner-use-best", { type: "button", title: "Move the slider to the best-IoU threshold" }, "Use");
  ui.best.append(ui.bestText, ui.useBest);
  curve.box.append(ui.best);
  const clean = el("div", "mb-tuner-card mb-tuner-clean");
  clean.append(el("div", "mb-tuner-card-head", {}, "Clean-up"));
  const row = el("div", "mb-tuner-clean-row");
  const num = (label, cls, max, title) => {
    const f = el("label", "mb-tuner-field", { title });
    const input = el("input", cls, { type: "number", min: "0", max: String(max), step: "1" });
    f.append(el("span", "mb-tuner-label", {}, label), input);
    row.append(f);
    return input;
  };
  ui.opening = num("Opening r", "mb-tuner-opening", 64, "Opening radius: removes specks and thin bridges");
  ui.minSize = num("Min size", "mb-tuner-min-size", 1e9, "Remove objects with fewer pixels");
  const fh = el("label", "mb-tuner-field", { title: "Fill holes inside objects" });
  ui.fillHoles = el("input", "mb-tuner-fill-holes", { type: "checkbox" });
  fh.append(ui.fillHoles, el("span", "", {}, "Fill holes"));
  row.append(fh);
  clean.append(row);
  side.append(clean);
  body.append(stage, side);

  const foot = el("div", "mb-tuner-footer");
  ui.status = el("span", "mb-tuner-status");
  ui.info = el("span", "mb-tuner-info");
  foot.append(ui.status, ui.info);
  ui.error = el("div", "mb-tuner-error", { role: "status" });
  root.append(bar, body, foot, ui.error);
  return ui;
}

// ---- the image stage ----------------------------------------------------------------------------
export const MAX_ZOOM = 64; // screen px per image px
const MIN_ZOOM = 0.5; // times the fitted scale (or 1:1, when the image is smaller than the stage)

/**
 * The image stage: the screen canvas shows `ui.canvas` (the proxy overlay, dw x dh for a W x H image;
 * `proxy()` composes it first) under a view {scale, tx, ty} in FULL-resolution image px, then the
 * tiles on top (`overlay` = {prepare(view) -> true when they cover the view, draw(ctx)}: the proxy is
 * then neither composed nor drawn). Wheel zooms about the cursor, a drag pans; keys on the focused
 * image: + - zoom, 0 / f fit, g grid, arrows pan (the slider keeps its arrows).
 * `onMove(view)` runs after every user zoom / pan. The view is in root.dataset.view ("scale,tx,ty").
 */
export function createStage({ ui, root, onMove = () => {}, proxy = () => {} }) {
  const st = { view: { scale: 1, tx: 0, ty: 0 }, W: 0, H: 0, w: 0, h: 0, user: false, frame: 0, overlay: null };
  const ctx = ui.screen.getContext("2d");
  let drag = null;
  const dpr = () => window.devicePixelRatio || 1;
  const limits = () => { const fit = viewFit(st.w, st.h, st.W, st.H).scale; return [Math.min(fit, 1) * MIN_ZOOM, MAX_ZOOM]; };

  function paint() {
    if (st.frame) cancelAnimationFrame(st.frame);
    st.frame = 0;
    const k = dpr(), v = st.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ui.screen.width, ui.screen.height);
    if (!st.W || !st.w || !ui.canvas.width) return;
    ctx.setTransform(k * v.scale, 0, 0, k * v.scale, k * v.tx, k * v.ty);
    if (!(st.overlay && st.overlay.prepare(v))) { // tiles do not cover the view: the proxy under them
      proxy();
      ctx.imageSmoothingEnabled = (v.scale * st.W) / ui.canvas.width < 1; // shrunk: smooth; enlarged: crisp proxy pixels
      ctx.drawImage(ui.canvas, 0, 0, st.W, st.H);
    }
    ctx.imageSmoothingEnabled = false;
    if (st.overlay) st.overlay.draw(ctx);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (ui.grid.checked) drawGrid(k, v);
    root.dataset.view = `${v.scale},${v.tx},${v.ty}`;
    if (!root.dataset.firstPaint) root.dataset.firstPaint = String(Date.now()); // the open latency's end
    ui.zoom.textContent = viewPercent(v.scale);
  }
  const schedule = () => { if (!st.frame) st.frame = requestAnimationFrame(paint); };

  // one-device-pixel lines on the image pixels' edges (at half pixels: crisp), light over dark
  function drawGrid(k, v) {
    const { xs, ys } = gridLines(v, st.w, st.h, st.W, st.H);
    if (!xs.length || !ys.length) return;
    const at = (s) => Math.round(k * s) + 0.5;
    ctx.beginPath();
    for (const x of xs) { ctx.moveTo(at(x), at(ys[0])); ctx.lineTo(at(x), at(ys[ys.length - 1])); }
    for (const y of ys) { ctx.moveTo(at(xs[0]), at(y)); ctx.lineTo(at(xs[xs.length - 1]), at(y)); }
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(128, 128, 128, 0.45)";
    ctx.stroke();
  }

  function fit() {
    st.user = false;
    if (st.W && st.w) st.view = viewFit(st.w, st.h, st.W, st.H);
    root.dataset.zoom = "fit";
    onMove(st.view);
    schedule();
  }
  function moved(v) {
    st.view = viewKeep(v, st.w, st.h, st.W, st.H);
    st.user = true;
    root.dataset.zoom = "user";
    onMove(st.view);
    schedule();
  }
  function resize() {
    // whole CSS px: the backing store is then exactly dpr x the box (a fractional box would stretch
    // the canvas on screen by a hair, and with it every image pixel's place)
    const box = ui.frame.getBoundingClientRect(), w = Math.floor(box.width), h = Math.floor(box.height);
    if (!(w > 0 && h > 0)) return;
    const k = dpr();
    if (ui.screen.width !== Math.round(w * k) || ui.screen.height !== Math.round(h * k) || st.w !== w || st.h !== h) {
      ui.screen.width = Math.round(w * k);
      ui.screen.height = Math.round(h * k);
      ui.screen.style.width = `${w}px`;
      ui.screen.style.height = `${h}px`;
    }
    if (st.user && st.w) {
      const f = w / st.w; // keep what is in view as the frame grows or shrinks
      st.view = { scale: st.view.scale * f, tx: st.view.tx * f, ty: st.view.ty * f };
    }
    st.w = w; st.h = h;
    if (!st.user) fit(); else { onMove(st.view); schedule(); }
  }
  /** A new image of W x H full-resolution px: a new size refits, the same size keeps the view. */
  function setImage(W, H) {
    if (W === st.W && H === st.H) return schedule();
    st.W = W; st.H = H;
    resize();
    fit();
  }

  const local = (e) => { const r = ui.screen.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const centre = () => [st.w / 2, st.h / 2];
  const lo = () => limits()[0], hi = () => limits()[1];
  function onWheel(e) {
    if (!st.W) return;
    e.preventDefault();
    moved(viewZoom(st.view, ...local(e), Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), lo(), hi()));
  }
  function onDown(e) {
    if (e.button !== 0 && e.button !== 1) return;
    ui.screen.focus({ preventScroll: true });
    drag = { id: e.pointerId, at: local(e), view: st.view };
    ui.screen.setPointerCapture(e.pointerId);
    ui.frame.classList.add("mb-tuner-panning");
    e.preventDefault();
  }
  function onDrag(e) {
    if (!drag || drag.id !== e.pointerId) return;
    const [x, y] = local(e);
    moved(viewPan(drag.view, x - drag.at[0], y - drag.at[1]));
  }
  function onUp(e) {
    if (!drag || drag.id !== e.pointerId) return;
    drag = null;
    ui.frame.classList.remove("mb-tuner-panning");
  }
  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const a = stageKey(e.key, e.shiftKey);
    if (!a) return;
    if (a.type === "zoom") moved(viewZoom(st.view, ...centre(), a.value, lo(), hi()));
    else if (a.type === "pan") moved(viewPan(st.view, a.dx, a.dy));
    else if (a.type === "grid") { ui.grid.checked = !ui.grid.checked; schedule(); }
    else fit();
    e.preventDefault();
    e.stopPropagation(); // JupyterLab's command-mode shortcuts must not see it
  }
  const unlisten = listen([
    [ui.screen, "wheel", onWheel, { passive: false }], [ui.screen, "pointerdown", onDown], [ui.screen, "pointermove", onDrag],
    [ui.screen, "pointerup", onUp], [ui.screen, "pointercancel", onUp], [ui.screen, "keydown", onKey],
    [ui.screen, "dblclick", fit], [ui.fit, "click", fit], [ui.grid, "change", schedule],
  ]);
  const observer = new ResizeObserver(() => resize());
  observer.observe(ui.frame);
  return {
    paint, schedule, fit, resize, setImage,
    get view() { return st.view; },
    get size() { return [st.w, st.h]; },
    set overlay(fn) { st.overlay = fn; },
    destroy() { unlisten(); observer.disconnect(); if (st.frame) cancelAnimationFrame(st.frame); },
  };
}

// ---- tiles past the proxy -------------------------------------------------------------------------
const MAX_COMPOSED = 36; // composed tile canvases kept (a screenful at native zoom, ~1.3 MB each)
const EDGE32 = packColour([...EDGE_RGB, 255]);

/**
 * Full resolution on the stage: where the view shows more than the proxy has (or the proxy is uint8
 * levels, whose p > t is not exact), the visible tiles of level levelFor(view) are composed like the
 * proxy overlay from the kernel's tiles (_tuner_tiles.py): the image (or grey from p), p > t at the
 * slider's value in every frame (the kernel's rule on real input values), or the kernel's cleaned
 * mask and what clean-up removed, and the target's outline (from each tile and its neighbours). A
 * tile still on its way leaves the proxy showing there. `look()` = {t, opacity, useKernel, cleaned,
 * showTarget, proxy: [dw, dh], exact}. root.dataset.tileLevel = the level drawn ("proxy": none);
 * probes "sharp" ends when every tile in view is drawn at that level.
 */
export function createTileOverlay({ model, root, probes, stage, look }) {
  const cache = createTileCache();
  const client = createTileClient({ send: (msg) => model.send(msg), cache, info: model.get("_tiles_info") || {} });
  const composed = new Map(); // "k/r/c" -> {canvas, ctx, img, out32, pre, sig, baseSig, base32, tint32, removed32}
  let info = model.get("_tiles_info") || {};
  const has = (layer) => !!(info.layers && info.layers[layer]);
  const version = (layer) => info.layers[layer].version;
  const get = (layer, k, r, c) => (has(layer) && cache.get(tileKey(layer, k, r, c, version(layer)))) || null;
  const setInfo = () => { info = model.get("_tiles_info") || {}; client.setInfo(info); stage.schedule(); };
  const receive = (msg, buffers) => {
    const ok = !!msg && msg.type === "tiles" && client.receive(msg, buffers);
    if (ok) stage.schedule();
    return ok;
  };

  // the row / column of the target tile beside (r, c) that touches it: null past the image's edge,
  // undefined while that tile is not here
  function neighbour(k, r, c, [rows, cols], side) {
    const rr = r + ({ up: -1, down: 1 }[side] || 0), cc = c + ({ left: -1, right: 1 }[side] || 0);
    if (rr < 0 || cc < 0 || rr >= rows || cc >= cols) return null;
    const t = get("target", k, rr, cc);
    if (!t) return undefined;
    const { data, w, h } = t, x = side === "left" ? w - 1 : 0;
    if (side === "up" || side === "down") return side === "up" ? data.subarray((h - 1) * w, h * w) : data.subarray(0, w);
    return Uint8Array.from({ length: h }, (_, y) => data[y * w + x]);
  }

  /** The composed canvas of tile (k, r, c), or null while a tile it needs is not here. */
  function compose(k, r, c, grid, L) {
    const prob = get("prob", k, r, c);
    const image = has("image") ? get("image", k, r, c) : null;
    if (!prob || (has("image") && !image)) return null;
    const useMask = L.useKernel && L.cleaned && has("mask");
    const mask = useMask ? get("mask", k, r, c) : null;
    if (useMask && !mask) return null;
    const target = L.showTarget && has("target") ? get("target", k, r, c) : null;
    const { w, h } = prob, id = `${k}/${r}/${c}`;
    let e = composed.get(id);
    if (!e || e.w !== w || e.h !== h) {
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      const img = new ImageData(w, h);
      e = { canvas, ctx: canvas.getContext("2d"), img, out32: new Uint32Array(img.data.buffer), pre: new Uint8Array(w * h), w, h };
    }
    composed.delete(id);
    composed.set(id, e); // most recently used last
    const baseSig = `${prob.version}|${image ? image.version : ""}|${L.opacity}`;
    if (e.baseSig !== baseSig) {
      const base = image ? new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, w * h * 4) : greyPixels(prob.data);
      e.base32 = new Uint32Array(Uint8ClampedArray.from(base).buffer);
      e.tint32 = new Uint32Array(tintPixels(base, MASK_RGBA, L.opacity).buffer);
      e.removed32 = new Uint32Array(tintPixels(base, REMOVED_RGBA, L.opacity).buffer);
      e.baseSig = baseSig;
      e.sig = "";
    }
    const sides = target ? ["up", "down", "left", "right"].map((side) => neighbour(k, r, c, grid, side)) : [];
    const edgeSig = target ? `${target.version}:${sides.map((x) => (x === null ? "e" : x === undefined ? "?" : "n")).join("")}` : "-";
    const sig = `${L.t}|${useMask ? mask.version : "p"}|${edgeSig}`;
    if (e.sig === sig) return e;
    thresholdProxy(prob.data, L.t, e.pre);
    const extra = {};
    if (useMask) Object.assign(extra, { removed32: e.removed32, removedMask: e.pre });
    if (target) {
      const [up, down, left, right] = sides;
      Object.assign(extra, { edgeIndex: tileOutline(target.data, w, h, { up, down, left, right }), edge32: EDGE32 });
    }
    composeOverlay(e.out32, e.base32, e.tint32, useMask ? mask.data : e.pre, extra);
    e.ctx.putImageData(e.img, 0, 0);
    e.sig = sig;
    while (composed.size > MAX_COMPOSED) composed.delete(composed.keys().next().value);
    return e;
  }

  let ready = []; // [composed, dx, dy, dw, dh] of the tiles in view, from prepare()

  /** Ask for and compose the tiles in view; true when every one is here (they cover the view). */
  function prepare(view) {
    ready = [];
    const L = look();
    if (!info.shape || !info.layers || !info.layers.prob) { root.dataset.tileLevel = "proxy"; return false; }
    const shape = info.shape, [sw, sh] = stage.size;
    const k = levelFor(view.scale, info.levels);
    const [lh, lw] = levelShape(shape, k), [dw, dh] = L.proxy;
    const finer = lw > dw || lh > dh, same = lw >= dw && lh >= dh;
    if (!(finer || (same && !L.exact))) {
      root.dataset.tileLevel = "proxy";
      probes.end("sharp");
      return false;
    }
    const layers = ["prob"];
    if (has("image")) layers.push("image");
    if (L.showTarget && has("target")) layers.push("target");
    if (L.useKernel && L.cleaned && has("mask")) layers.push("mask");
    // the tiles in view first (a smaller reply comes sooner), with the target's neighbours (its outline
    // at their seams; small uint8 tiles); the margin's other layers once those are all here
    const inView = visibleTiles(view, sw, sh, shape, k, 0), margin = visibleTiles(view, sw, sh, shape, k, 1);
    const keys = (tiles, names) => tiles.flatMap(([r, c]) => names.map((layer) => [layer, k, r, c]));
    const first = [...keys(inView, layers), ...keys(margin, layers.filter((l) => l === "target"))];
    const here = first.every(([layer, , r, c]) => cache.has(tileKey(layer, k, r, c, version(layer))));
    client.want(here ? [...first, ...keys(margin, layers)] : first);
    const grid = [Math.ceil(lh / TILE), Math.ceil(lw / TILE)], s = 2 ** k;
    let missing = 0;
    for (const [r, c] of inView) {
      const e = compose(k, r, c, grid, L);
      if (e) ready.push([e, c * TILE * s, r * TILE * s, e.w * s, e.h * s]);
      else missing++;
    }
    root.dataset.tileLevel = String(k);
    root.dataset.tilesMissing = String(missing);
    if (!missing) probes.end("sharp");
    return !missing && ready.length > 0;
  }

  /** Draw the prepared tiles under the stage's transform (full-resolution px). */
  function draw(ctx) {
    if (!ready.length || !info.shape) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, info.shape[1], info.shape[0]); // edge tiles' last block may stick out of the image
    ctx.clip();
    for (const [e, dx, dy, dw, dh] of ready) ctx.drawImage(e.canvas, 0, 0, e.w, e.h, dx, dy, dw, dh);
    ctx.restore();
  }

  return { prepare, draw, receive, setInfo, cache, get composedCount() { return composed.size; } };
}
