// maskbench Viewer front end: four linked canvases (image, mask, result, overlay).
// The kernel sends display proxies once per batch item (RGBA image, uint8 labels or weights, the
// colours of replaced pixels); everything per frame happens here: overlay blending while the
// opacity slider moves, the result of the keep / remove / mean modes (composeResult: no kernel
// round trip when the mode changes), and linked zoom (wheel) / pan (drag) through one shared view
// {s, tx, ty} applied as a CSS transform. inpaint / weighted results arrive from the kernel (_result).
// Zoomed past the proxy, a tile canvas over each panel draws 256 x 256 tiles of the full-resolution
// image, mask and result (the LOD protocol of static/tiles.js; viewer_core.js composes them).
// `panel_layout` shows one panel full width (click its title); keys: + / - zoom, 0 / f / R fit, 1 native, g / P grid.
// Pure helpers: viewer_core.js and shared.js (tests/js/test_viewer.mjs).
import { batchIndex, batchView, blendOverlay, decodeArray, el, listen, subscribe, suppressShortcuts, unpackBits } from "./shared.js";
import { createProbes } from "./probes.js";
import {
  BROWSER_MODES, PANELS, clampView, colorizeMask, createTileView, composeResult, drawEdges, fillMaskPixels, maxZoom, panBy, viewAtScale,
  viewTransform, zoomAt, zoomText,
} from "./viewer_core.js";

function buildDom(root) {
  const bar = el("div", "mb-viewer-toolbar");
  const field = (label, control, cls = "") => {
    const l = el("label", `mb-viewer-field ${cls}`);
    l.append(el("span", "mb-viewer-label", {}, label), control);
    bar.append(l);
    return l;
  };
  const mode = el("select", "mb-viewer-mode", { title: "What happens to the mask pixels (True, label > 0 or weight >= 0.5) in the result panel" });
  const fill = el("input", "mb-viewer-fill", { type: "number", step: "0.05", title: "Value of replaced pixels (keep: outside the mask; remove: the mask)" });
  const opacity = el("input", "mb-viewer-opacity", { type: "range", min: "0", max: "1", step: "0.01" });
  const opacityValue = el("span", "mb-viewer-value");
  const contours = el("input", "mb-viewer-contours", { type: "checkbox" });
  const ui = { root, mode, fill, opacity, opacityValue, contours };
  field("Mode", mode);
  ui.fillField = field("Fill", fill);
  field("Opacity", opacity).append(opacityValue);
  field("Contours", contours, "mb-viewer-check");
  ui.pixelGrid = el("input", "mb-viewer-pixelgrid", { type: "checkbox", title: "Outline each image pixel when zoomed in 8x or more" });
  field("Grid", ui.pixelGrid, "mb-viewer-check");
  const batch = el("div", "mb-viewer-batch");
  ui.prev = el("button", "mb-viewer-prev", { type: "button", title: "Previous item" }, "\u2039");
  ui.index = el("input", "mb-viewer-index", { type: "number", min: "1", step: "1", title: "Batch item (from 1)" });
  ui.count = el("span", "mb-viewer-count");
  ui.next = el("button", "mb-viewer-next", { type: "button", title: "Next item" }, "\u203a");
  batch.append(ui.prev, ui.index, ui.count, ui.next);
  ui.batch = batch;
  ui.zoom = el("span", "mb-viewer-zoom", { title: "Screen pixels per image pixel (100%: native resolution)" });
  ui.reset = el("button", "mb-viewer-reset", { type: "button", title: "Fit (keys: 0 or f; 1: native; + / -: zoom; or double-click a panel)" }, "Reset view");
  bar.append(batch, ui.zoom, ui.reset);
  const grid = el("div", "mb-viewer-grid", { "data-layout": "grid" });
  Object.assign(ui, { grid, panels: {}, canvases: {}, tiles: {}, titles: {} });
  for (const [key, title] of PANELS) {
    const panel = el("div", `mb-viewer-panel mb-viewer-panel-${key}`, { "data-panel": key });
    const frame = el("div", "mb-viewer-frame", { tabindex: "0", "data-panel": key });
    const canvas = el("canvas", `mb-viewer-canvas mb-viewer-canvas-${key}`, { "data-panel": key });
    const tiles = el("canvas", `mb-viewer-tiles mb-viewer-tiles-${key}`, { "data-panel": key });
    frame.append(canvas, tiles);
    ui.titles[key] = el("div", "mb-viewer-title", { title: "Click to show this panel full width (click again: all four)" }, title);
    panel.append(ui.titles[key], frame);
    grid.append(panel);
    ui.panels[key] = frame;
    ui.canvases[key] = canvas;
    ui.tiles[key] = tiles;
  }
  const foot = el("div", "mb-viewer-footer");
  ui.legend = el("div", "mb-viewer-legend");
  ui.info = el("div", "mb-viewer-info");
  ui.error = el("div", "mb-viewer-error", { role: "status" });
  foot.append(ui.legend, ui.info);
  root.append(bar, grid, foot, ui.error);
  return ui;
}

const SEEN_ITEMS = 6; // batch items a view keeps (each ~5 bytes per proxy pixel: ~26 MB at 1024 x 1024)

function putPixels(canvas, data, w, h) {
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const img = new ImageData(data instanceof Uint8ClampedArray ? data : new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), w, h);
  canvas.getContext("2d").putImageData(img, 0, 0);
}

function render({ model, el: host }) {
  const root = el("div", "mb-viewer");
  host.appendChild(root);
  const ui = buildDom(root);
  const probes = createProbes(root);
  let view = { s: 1, tx: 0, ty: 0 };
  let frame = 0;
  const state = { image: null, labels: null, edges: null, result: null, palette: null, fills: null };
  // what the tile canvases compose with (the full-resolution mean replaces the proxy's in mean mode)
  const tileParams = () => {
    const mean = decodeArray(model.get("_mean_full"));
    const fills = state.fills ? Uint8Array.from([...state.fills.slice(0, 4), ...(mean ? mean.data : state.fills.slice(4, 8))]) : new Uint8Array(8);
    const p = { mode: model.get("mode"), opacity: Number(model.get("opacity")), contours: !!model.get("contours"), kind: kind(), grid: ui.pixelGrid.checked };
    Object.assign(p, { palette: state.palette || new Uint8Array(4), fills, proxyW: state.image ? state.image.shape[1] : 1 });
    p.stamp = `${p.mode}|${p.opacity}|${p.contours}|${fills.join(",")}|${paletteStamp}`;
    return p;
  };
  let paletteStamp = 0;
  const tiles = createTileView({ model, ui, root, probes, getView: () => view, getParams: tileParams });
  let composed = null; // reused buffer of the browser-composed result

  const size = () => (state.image ? [state.image.shape[1], state.image.shape[0]] : [0, 0]);
  const kind = () => model.get("_kind");
  const send = (name, value) => { model.set(name, value); model.save_changes(); };

  function decodeAll() {
    state.image = decodeArray(model.get("_image"));
    state.labels = decodeArray(model.get("_labels"));
    decodeResult();
    const pal = decodeArray(model.get("_palette"));
    paletteStamp++;
    state.palette = pal ? pal.data : new Uint8Array([0, 0, 0, 0]);
    const packed = decodeArray(model.get("_edges"));
    state.edges = packed && state.labels ? unpackBits(packed.data, state.labels.data.length) : null;
  }

  function decodeResult() {
    state.result = decodeArray(model.get("_result"));
    const fills = decodeArray(model.get("_fills"));
    state.fills = fills ? fills.data : null;
  }

  function withEdges(pixels) {
    if (state.edges) drawEdges(pixels, state.labels.data, state.edges, state.palette, kind());
    return pixels;
  }

  // the opacity comes from the model, never from the slider: the slider may not be synced yet
  function drawOverlay() {
    frame = 0;
    if (!state.image || !state.labels) return;
    const [w, h] = size();
    const out = blendOverlay(state.image.data, state.labels.data, state.palette, Number(model.get("opacity")), kind());
    putPixels(ui.canvases.overlay, withEdges(out), w, h);
    probes.end("overlay");
  }
  const scheduleOverlay = () => { if (!frame) frame = requestAnimationFrame(drawOverlay); };

  // keep / remove / mean: composed here from the proxies; other modes: the kernel's _result, once it
  // is the result of this mode and item (_result_for), else the panel waits for it
  function drawResult() {
    const mode = model.get("mode");
    let pixels, w, h;
    if (BROWSER_MODES.includes(mode) && state.fills && state.image && state.labels) {
      composed = composeResult(state.image.data, state.labels.data, state.fills, mode, kind(), composed);
      [pixels, [w, h]] = [composed, size()];
    } else {
      const key = model.get("_result_for");
      const r = state.result;
      if (!r || (r.shape.length === 3 && !r.data.length) || (key !== undefined && key !== `${mode}:${model.get("index")}`)) return;
      if (r.shape.length === 2) { // (n, 4): the colours of the mask pixels only
        if (!state.image || !state.labels) return;
        composed = fillMaskPixels(state.image.data, state.labels.data, r.data, kind(), composed);
        [pixels, [w, h]] = [composed, size()];
      } else {
        [pixels, w, h] = [new Uint8ClampedArray(r.data), r.shape[1], r.shape[0]];
      }
    }
    putPixels(ui.canvases.result, withEdges(pixels), w, h);
    probes.count("resultVersion");
    probes.end("result");
    if (!root.dataset.firstPaint) root.dataset.firstPaint = String(Date.now()); // the open latency's end: all panels drawn
  }

  // Items seen in this view, by batch index (the kernel tags its proxies with _shown_item): going back to
  // one draws at once from here; the kernel's copy of the same proxies follows and is drawn again.
  const seen = new Map();
  function remember() {
    const i = model.get("_shown_item");
    if (i === undefined || !state.image || !state.labels) return;
    seen.delete(i);
    seen.set(i, { image: state.image, labels: state.labels, edges: state.edges, mean: state.fills ? state.fills.slice(4, 8) : null });
    while (seen.size > SEEN_ITEMS) seen.delete(seen.keys().next().value);
  }
  function drawSeen(i) {
    const item = seen.get(i);
    if (!item) return;
    const fills = state.fills && item.mean ? new Uint8Array([...state.fills.slice(0, 4), ...item.mean]) : null;
    Object.assign(state, { image: item.image, labels: item.labels, edges: model.get("contours") ? item.edges : null, fills });
    drawPanels();
  }

  function drawAll() {
    decodeAll();
    remember();
    drawPanels();
  }

  function drawPanels() {
    if (!state.image || !state.labels) return;
    const [w, h] = size();
    putPixels(ui.canvases.image, state.image.data, w, h);
    putPixels(ui.canvases.mask, colorizeMask(state.labels.data, state.palette, kind()), w, h);
    for (const frameEl of Object.values(ui.panels)) frameEl.style.aspectRatio = `${w} / ${h}`;
    drawOverlay();
    drawResult(); // last: its version bump says all four panels are drawn
    probes.end("batch");
  }

  // the device-pixel width of the narrowest shown panel: the closest zoom shows PIXEL_ZOOM of its
  // pixels per image pixel
  const frames = () => Object.values(ui.panels).filter((f) => f.clientWidth > 0);
  const hiZoom = () => maxZoom(model.get("_full_size")[1], Math.min(...frames().map((f) => f.clientWidth * devicePixelRatio), 1e9));

  function applyView() {
    const t = viewTransform(view);
    for (const [key, canvas] of Object.entries(ui.canvases)) {
      canvas.style.transform = t;
      canvas.classList.toggle("mb-viewer-zoomed", view.s > 1.0001);
      const p = ui.panels[key];
      p.dataset.zoom = view.s.toFixed(4);
      p.dataset.tx = view.tx.toFixed(4);
      p.dataset.ty = view.ty.toFixed(4);
      p.dataset.view = JSON.stringify(view); // full precision (the tile canvases' geometry)
    }
    root.dataset.zoom = view.s.toFixed(4);
    showZoom();
    tiles.schedule();
  }
  // the indicator: screen pixels per image pixel in the widest panel (again when the panels resize)
  function showZoom() {
    const widest = Math.max(...frames().map((f) => f.clientWidth));
    ui.zoom.textContent = widest > 0 ? zoomText((widest * view.s) / model.get("_full_size")[1]) : "";
  }
  const resize = new ResizeObserver(showZoom);
  resize.observe(ui.grid);

  const applyLayout = () => {
    const layout = model.get("panel_layout") || "grid";
    ui.grid.dataset.layout = layout;
    for (const [key, title] of Object.entries(ui.titles)) title.classList.toggle("mb-viewer-enlarged", key === layout);
    view = clampView(view, hiZoom());
    applyView();
  };

  function syncControls() {
    const modes = model.get("_modes");
    const text = model.get("_mode_text") || [];
    if (ui.mode.options.length !== modes.length) {
      ui.mode.replaceChildren(...modes.map((m, i) => el("option", "", { value: m }, text[i] ? `${m} \u2014 ${text[i]}` : m)));
    }
    ui.mode.value = model.get("mode");
    ui.fill.value = String(model.get("fill"));
    const noFill = ["mean", "inpaint"].includes(model.get("mode"));
    ui.fillField.classList.toggle("mb-viewer-disabled", noFill);
    ui.fill.disabled = noFill;
    ui.opacity.value = String(model.get("opacity"));
    ui.opacityValue.textContent = Number(model.get("opacity")).toFixed(2);
    ui.contours.checked = !!model.get("contours");
    const b = model.get("batch_size"), nav = batchView(model.get("index"), b);
    ui.batch.style.display = b > 1 ? "" : "none";
    Object.assign(ui.index, { min: nav.min, max: nav.max, value: nav.value });
    ui.count.textContent = nav.count;
    ui.prev.disabled = nav.atStart;
    ui.next.disabled = nav.atEnd;
    const err = model.get("error");
    ui.error.textContent = err;
    ui.error.style.display = err ? "" : "none";
    const [fh, fw] = model.get("_full_size");
    const [w, h] = size();
    ui.info.textContent = `${fw}\u00d7${fh}` + (w && (w !== fw || h !== fh) ? ` \u00b7 shown at ${w}\u00d7${h}` : "");
  }

  function syncLegend() {
    const names = model.get("_classes");
    const pal = state.palette || new Uint8Array(4);
    const weight = kind() === "weight";
    ui.legend.replaceChildren(...names.map((name, i) => {
      const sw = el("span", "mb-viewer-swatch");
      const [r, g, b] = [pal[4 * (i + 1)], pal[4 * (i + 1) + 1], pal[4 * (i + 1) + 2]];
      sw.style.background = weight ? `linear-gradient(90deg, #000, rgb(${r},${g},${b}))` : `rgb(${r},${g},${b})`;
      const item = el("span", "mb-viewer-legend-item");
      item.append(sw, el("span", "mb-viewer-legend-name", {}, weight ? `${name} (weight 0\u20131)` : name));
      return item;
    }));
  }

  const goTo = (i) => {
    const b = model.get("batch_size");
    if (Number.isInteger(i) && i >= 0 && i < b) {
      probes.restart("batch");
      probes.restart("batchArrive"); // data-batch-arrive-ms: the kernel's proxies are here (the rest is drawing)
      send("index", i);
      drawSeen(i);
    } else syncControls();
  };
  const resetView = () => { view = { s: 1, tx: 0, ty: 0 }; tiles.settle(); applyView(); };
  const setView = (v, final = false) => { probes.restart("sharp"); view = v; if (final) tiles.settle(); applyView(); };
  // + / - zoom about the centre, 0, f or R fit, 1 native resolution (one image pixel per device pixel),
  // g or P the pixel grid (R and P: the Painter's keys, so one set works in every widget)
  const onKey = (frameEl) => (e) => {
    const hi = hiZoom(), one = e.key.length === 1 ? e.key.toLowerCase() : "";
    if (e.key === "+" || e.key === "=") setView(zoomAt(view, 2, 0.5, 0.5, hi), true);
    else if (e.key === "-" || e.key === "_") setView(zoomAt(view, 0.5, 0.5, 0.5, hi), true);
    else if (e.key === "0" || one === "f" || one === "r") resetView();
    else if (one === "g" || one === "p") { ui.pixelGrid.checked = !ui.pixelGrid.checked; tiles.schedule(); }
    else if (e.key === "1") {
      const [cw, ch] = [Math.round(frameEl.clientWidth * devicePixelRatio), Math.round(frameEl.clientHeight * devicePixelRatio)];
      setView(viewAtScale(view, 1, 0.5, 0.5, cw, ch, model.get("_full_size")[1], hi), true);
    } else return;
    e.preventDefault();
  };
  const toggleLayout = (key) => send("panel_layout", model.get("panel_layout") === key ? "grid" : key);
  const controls = [
    [ui.mode, "change", () => { probes.restart("result"); probes.restart("tileResult"); send("mode", ui.mode.value); }],
    [ui.fill, "change", () => { const v = Number(ui.fill.value); if (Number.isFinite(v)) { probes.restart("result"); send("fill", v); } }],
    [ui.opacity, "input", (e) => {
      probes.start("overlay", e.timeStamp);
      send("opacity", Number(ui.opacity.value));
      ui.opacityValue.textContent = Number(ui.opacity.value).toFixed(2);
      scheduleOverlay(); // instant: blended here, no kernel round trip
    }],
    [ui.contours, "change", () => send("contours", ui.contours.checked)],
    [ui.pixelGrid, "change", () => tiles.schedule()],
    [ui.prev, "click", () => goTo(model.get("index") - 1)],
    [ui.next, "click", () => goTo(model.get("index") + 1)],
    [ui.index, "change", () => { const i = batchIndex(ui.index.value, model.get("batch_size")); if (i === null) syncControls(); else goTo(i); }],
    [ui.reset, "click", resetView],
  ];

  let drag = null;
  for (const frameEl of Object.values(ui.panels)) {
    const end = (e) => {
      if (!drag || drag.id !== e.pointerId) return;
      drag = null;
      frameEl.classList.remove("mb-viewer-dragging");
      tiles.settle(); // the drag's last view is final
      tiles.schedule();
    };
    controls.push(
      [frameEl, "wheel", (e) => {
        e.preventDefault();
        const r = frameEl.getBoundingClientRect(), u = (e.clientX - r.left) / r.width, v = (e.clientY - r.top) / r.height;
        const factor = Math.exp(-e.deltaY * 0.0015), next = zoomAt(view, factor, u, v, hiZoom());
        if (factor > 1) tiles.aim(next, u, v); // a zoom-in about (u, v): its native view's tiles may be asked early
        setView(next);
      }, { passive: false }],
      [frameEl, "pointerdown", (e) => {
        if (e.button !== 0) return;
        frameEl.setPointerCapture(e.pointerId);
        drag = { id: e.pointerId, x: e.clientX, y: e.clientY, rect: frameEl.getBoundingClientRect() };
        frameEl.classList.add("mb-viewer-dragging");
      }],
      [frameEl, "pointermove", (e) => {
        if (!drag || drag.id !== e.pointerId) return;
        view = panBy(view, (e.clientX - drag.x) / drag.rect.width, (e.clientY - drag.y) / drag.rect.height);
        drag.x = e.clientX;
        drag.y = e.clientY;
        probes.restart("sharp");
        applyView();
      }],
      [frameEl, "pointerup", end], [frameEl, "pointercancel", end], [frameEl, "dblclick", resetView],
      [frameEl, "keydown", onKey(frameEl)],
    );
  }
  for (const [key, title] of Object.entries(ui.titles)) controls.push([title, "click", () => toggleLayout(key)]);
  const unlisten = listen(controls);
  const unsuppress = suppressShortcuts(root);

  // One state message can change several arrays (an index change sends image, labels, edges and
  // result together): coalesce their redraws into one, after the message is applied.
  const dirty = { full: false, result: false };
  let queued = false;
  function flush() {
    queued = false;
    if (dirty.full) {
      probes.end("batchArrive");
      drawAll();
      syncControls();
      syncLegend();
    } else if (dirty.result) {
      decodeResult();
      drawResult();
    }
    dirty.full = dirty.result = false;
  }
  const mark = (what) => () => { dirty[what] = true; if (!queued) { queued = true; queueMicrotask(flush); } };
  const unsubscribe = subscribe(model, [
    ["change:_image change:_labels change:_edges change:_palette change:_classes", mark("full")],
    ["change:_result change:_result_for change:_fills change:mode", mark("result")],
    ["change:opacity", () => { syncControls(); scheduleOverlay(); tiles.schedule(); }],
    ["change:mode change:fill change:contours change:index change:error change:batch_size change:_modes", syncControls],
    ["change:mode change:contours change:_fills change:_mean_full", () => tiles.schedule()],
    ["change:panel_layout", applyLayout],
  ]);

  dirty.full = true; // render() may run after Python changed traits: draw what is there now
  flush();
  applyLayout();
  return () => {
    resize.disconnect();
    tiles.destroy();
    unsubscribe();
    unlisten();
    unsuppress();
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  };
}

export default { render };
