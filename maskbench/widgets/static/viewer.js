// maskbench Viewer front end: four linked canvases (image, mask, result, overlay).
// The kernel sends display proxies once (RGBA image, uint8 labels or weights, RGBA result);
// everything per frame happens here: overlay blending while the opacity slider moves, and
// linked zoom (wheel) / pan (drag) through one shared view {s, tx, ty} applied as a CSS transform.
// Pure helpers are exported for `node --test` (tests/js/test_viewer.mjs).

export const MAX_ZOOM = 32;
const PANELS = [
  ["image", "Image"],
  ["mask", "Mask"],
  ["result", "Result"],
  ["overlay", "Overlay"],
];

/** {buffer: DataView, dtype, shape} from the kernel -> {data: TypedArray, shape}. */
export function decodeArray(value) {
  if (!value || !value.buffer) return null;
  const b = value.buffer;
  const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const types = { uint8: Uint8Array, uint16: Uint16Array, int32: Int32Array, float32: Float32Array };
  const T = types[value.dtype];
  if (!T) throw new Error(`viewer: unsupported dtype ${value.dtype}`);
  const aligned = bytes.byteOffset % T.BYTES_PER_ELEMENT === 0;
  const src = aligned ? bytes : bytes.slice();
  const data = new T(src.buffer, src.byteOffset, src.byteLength / T.BYTES_PER_ELEMENT);
  const n = value.shape.reduce((a, s) => a * s, 1);
  if (data.length !== n) throw new Error(`viewer: ${value.dtype}${JSON.stringify(value.shape)} needs ${n} items, got ${data.length}`);
  return { data, shape: value.shape };
}

/** numpy.packbits layout (row-major, most significant bit first) -> Uint8Array of 0/1. */
export function unpackBits(packed, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}

/** The overlay alpha of one class colour, exactly as maskbench.render.overlay computes it. */
export function blendAlpha(opacity, colourAlpha, weight = 1) {
  return Math.floor(opacity * colourAlpha * weight + 0.5);
}

/**
 * Blend class colours over RGBA pixels (same integer formula as maskbench.render.overlay):
 * a = floor(opacity * alpha_k * w + 0.5); c = floor((base * (255 - a) + colour * a + 127) / 255).
 * kind "weight": `labels` holds round(w * 255) and every pixel uses palette[1] scaled by w.
 */
export function blendOverlay(rgba, labels, palette, opacity, kind = "labels", out = null) {
  const n = labels.length;
  out = out || new Uint8ClampedArray(rgba.length);
  const k = palette.length / 4;
  const alphas = new Int32Array(k);
  for (let c = 0; c < k; c++) alphas[c] = blendAlpha(opacity, palette[4 * c + 3]);
  for (let i = 0; i < n; i++) {
    const p = 4 * i;
    let cls = labels[i];
    let a;
    if (kind === "weight") {
      a = blendAlpha(opacity, palette[7], cls / 255);
      cls = 1;
    } else {
      if (cls >= k) cls = 0;
      a = alphas[cls];
    }
    const q = 4 * cls;
    for (let j = 0; j < 3; j++) out[p + j] = Math.floor((rgba[p + j] * (255 - a) + palette[q + j] * a + 127) / 255);
    out[p + 3] = rgba[p + 3];
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
  const s = Math.min(MAX_ZOOM, Math.max(1, view.s * factor));
  const px = (u - view.tx) / view.s; // the image point under the cursor stays under it
  const py = (v - view.ty) / view.s;
  return clampView({ s, tx: u - px * s, ty: v - py * s });
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

function el(tag, cls, attrs = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function buildDom(root) {
  const bar = el("div", "mb-viewer-toolbar");
  const field = (label, control, cls = "") => {
    const l = el("label", `mb-viewer-field ${cls}`);
    const t = el("span", "mb-viewer-label");
    t.textContent = label;
    l.append(t, control);
    bar.append(l);
    return l;
  };
  const mode = el("select", "mb-viewer-mode", { title: "How the result panel applies the mask" });
  const fill = el("input", "mb-viewer-fill", { type: "number", step: "0.05", title: "Value of removed pixels" });
  const opacity = el("input", "mb-viewer-opacity", { type: "range", min: "0", max: "1", step: "0.01" });
  const opacityValue = el("span", "mb-viewer-value");
  const contours = el("input", "mb-viewer-contours", { type: "checkbox" });
  const ui = { root, mode, fill, opacity, opacityValue, contours };
  field("Mode", mode);
  ui.fillField = field("Fill", fill);
  field("Opacity", opacity).append(opacityValue);
  field("Contours", contours, "mb-viewer-check");
  const batch = el("div", "mb-viewer-batch");
  ui.prev = el("button", "mb-viewer-prev", { type: "button", title: "Previous item" });
  ui.prev.textContent = "\u2039";
  ui.index = el("input", "mb-viewer-index", { type: "number", min: "0", step: "1", title: "Batch item" });
  ui.count = el("span", "mb-viewer-count");
  ui.next = el("button", "mb-viewer-next", { type: "button", title: "Next item" });
  ui.next.textContent = "\u203a";
  batch.append(ui.prev, ui.index, ui.count, ui.next);
  ui.batch = batch;
  ui.reset = el("button", "mb-viewer-reset", { type: "button", title: "Reset zoom (or double-click a panel)" });
  ui.reset.textContent = "Reset view";
  bar.append(batch, ui.reset);
  const grid = el("div", "mb-viewer-grid");
  ui.panels = {};
  ui.canvases = {};
  for (const [key, title] of PANELS) {
    const panel = el("div", `mb-viewer-panel mb-viewer-panel-${key}`, { "data-panel": key });
    const head = el("div", "mb-viewer-title");
    head.textContent = title;
    const frame = el("div", "mb-viewer-frame");
    const canvas = el("canvas", `mb-viewer-canvas mb-viewer-canvas-${key}`, { "data-panel": key });
    frame.append(canvas);
    panel.append(head, frame);
    grid.append(panel);
    ui.panels[key] = frame;
    ui.canvases[key] = canvas;
  }
  const foot = el("div", "mb-viewer-footer");
  ui.legend = el("div", "mb-viewer-legend");
  ui.info = el("div", "mb-viewer-info");
  ui.error = el("div", "mb-viewer-error", { role: "status" });
  foot.append(ui.legend, ui.info);
  root.append(bar, grid, foot, ui.error);
  return ui;
}

function putPixels(canvas, data, w, h) {
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const img = new ImageData(data instanceof Uint8ClampedArray ? data : new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), w, h);
  canvas.getContext("2d").putImageData(img, 0, 0);
}

export default {
  render({ model, el: host }) {
    const root = document.createElement("div");
    root.className = "mb-viewer";
    host.appendChild(root);
    const ui = buildDom(root);
    let view = { s: 1, tx: 0, ty: 0 };
    let frame = 0;
    // Latency probes (read by the browser tests): input event -> pixels on the canvas.
    const t0 = { overlay: 0, result: 0 };
    const stamp = (what) => {
      if (!t0[what]) return;
      root.dataset[`${what}Ms`] = (performance.now() - t0[what]).toFixed(2);
      t0[what] = 0;
    };
    const state = { image: null, labels: null, edges: null, result: null, palette: null };

    const size = () => (state.image ? [state.image.shape[1], state.image.shape[0]] : [0, 0]);
    const kind = () => model.get("_kind");

    function decodeAll() {
      state.image = decodeArray(model.get("_image"));
      state.labels = decodeArray(model.get("_labels"));
      state.result = decodeArray(model.get("_result"));
      const pal = decodeArray(model.get("_palette"));
      state.palette = pal ? pal.data : new Uint8Array([0, 0, 0, 0]);
      const packed = decodeArray(model.get("_edges"));
      state.edges = packed && state.labels ? unpackBits(packed.data, state.labels.data.length) : null;
    }

    function withEdges(pixels) {
      if (state.edges) drawEdges(pixels, state.labels.data, state.edges, state.palette, kind());
      return pixels;
    }

    function drawOverlay() {
      frame = 0;
      if (!state.image || !state.labels) return;
      const [w, h] = size();
      const out = blendOverlay(state.image.data, state.labels.data, state.palette, Number(ui.opacity.value), kind());
      putPixels(ui.canvases.overlay, withEdges(out), w, h);
      stamp("overlay");
    }
    const scheduleOverlay = () => { if (!frame) frame = requestAnimationFrame(drawOverlay); };

    function drawResult() {
      if (!state.result) return;
      const [w, h] = [state.result.shape[1], state.result.shape[0]];
      putPixels(ui.canvases.result, withEdges(new Uint8ClampedArray(state.result.data)), w, h);
      root.dataset.resultVersion = String(Number(root.dataset.resultVersion || 0) + 1);
      stamp("result");
    }

    function drawAll() {
      decodeAll();
      if (!state.image || !state.labels) return;
      const [w, h] = size();
      putPixels(ui.canvases.image, state.image.data, w, h);
      putPixels(ui.canvases.mask, colorizeMask(state.labels.data, state.palette, kind()), w, h);
      for (const frameEl of Object.values(ui.panels)) frameEl.style.aspectRatio = `${w} / ${h}`;
      drawResult();
      drawOverlay();
    }

    function applyView() {
      const t = viewTransform(view);
      for (const [key, canvas] of Object.entries(ui.canvases)) {
        canvas.style.transform = t;
        canvas.classList.toggle("mb-viewer-zoomed", view.s > 1.0001);
        const p = ui.panels[key];
        p.dataset.zoom = view.s.toFixed(4);
        p.dataset.tx = view.tx.toFixed(4);
        p.dataset.ty = view.ty.toFixed(4);
      }
      root.dataset.zoom = view.s.toFixed(4);
    }

    function syncControls() {
      const modes = model.get("_modes");
      if (ui.mode.options.length !== modes.length) {
        ui.mode.replaceChildren(...modes.map((m) => { const o = el("option", "", { value: m }); o.textContent = m; return o; }));
      }
      ui.mode.value = model.get("mode");
      ui.fill.value = String(model.get("fill"));
      ui.fillField.classList.toggle("mb-viewer-disabled", ["mean", "inpaint"].includes(model.get("mode")));
      ui.fill.disabled = ["mean", "inpaint"].includes(model.get("mode"));
      ui.opacity.value = String(model.get("opacity"));
      ui.opacityValue.textContent = Number(model.get("opacity")).toFixed(2);
      ui.contours.checked = !!model.get("contours");
      const b = model.get("batch_size");
      ui.batch.style.display = b > 1 ? "" : "none";
      ui.index.max = String(b - 1);
      ui.index.value = String(model.get("index"));
      ui.count.textContent = `/ ${b}`;
      ui.prev.disabled = model.get("index") <= 0;
      ui.next.disabled = model.get("index") >= b - 1;
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
      ui.legend.replaceChildren(...names.map((name, i) => {
        const item = el("span", "mb-viewer-legend-item");
        const sw = el("span", "mb-viewer-swatch");
        const [r, g, b] = [pal[4 * (i + 1)], pal[4 * (i + 1) + 1], pal[4 * (i + 1) + 2]];
        sw.style.background = kind() === "weight" ? `linear-gradient(90deg, #000, rgb(${r},${g},${b}))` : `rgb(${r},${g},${b})`;
        const label = el("span", "mb-viewer-legend-name");
        label.textContent = kind() === "weight" ? `${name} (weight 0\u20131)` : name;
        item.append(sw, label);
        return item;
      }));
    }

    const send = (name, value) => { model.set(name, value); model.save_changes(); };
    const on = (target, type, fn, opts) => { target.addEventListener(type, fn, opts); return () => target.removeEventListener(type, fn, opts); };
    const cleanups = [];
    cleanups.push(on(ui.mode, "change", () => { t0.result = performance.now(); send("mode", ui.mode.value); }));
    cleanups.push(on(ui.fill, "change", () => { const v = Number(ui.fill.value); if (Number.isFinite(v)) { t0.result = performance.now(); send("fill", v); } }));
    cleanups.push(on(ui.opacity, "input", () => {
      ui.opacityValue.textContent = Number(ui.opacity.value).toFixed(2);
      t0.overlay = t0.overlay || performance.now();
      scheduleOverlay(); // instant: blended here, no kernel round trip
      send("opacity", Number(ui.opacity.value));
    }));
    cleanups.push(on(ui.contours, "change", () => send("contours", ui.contours.checked)));
    const goTo = (i) => { const b = model.get("batch_size"); if (Number.isInteger(i) && i >= 0 && i < b) send("index", i); else syncControls(); };
    cleanups.push(on(ui.prev, "click", () => goTo(model.get("index") - 1)));
    cleanups.push(on(ui.next, "click", () => goTo(model.get("index") + 1)));
    cleanups.push(on(ui.index, "change", () => goTo(Number(ui.index.value))));
    cleanups.push(on(ui.reset, "click", () => { view = { s: 1, tx: 0, ty: 0 }; applyView(); }));

    let drag = null;
    for (const frameEl of Object.values(ui.panels)) {
      cleanups.push(on(frameEl, "wheel", (e) => {
        e.preventDefault();
        const r = frameEl.getBoundingClientRect();
        view = zoomAt(view, Math.exp(-e.deltaY * 0.0015), (e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
        applyView();
      }, { passive: false }));
      cleanups.push(on(frameEl, "pointerdown", (e) => {
        if (e.button !== 0) return;
        frameEl.setPointerCapture(e.pointerId);
        drag = { id: e.pointerId, x: e.clientX, y: e.clientY, rect: frameEl.getBoundingClientRect() };
        frameEl.classList.add("mb-viewer-dragging");
      }));
      cleanups.push(on(frameEl, "pointermove", (e) => {
        if (!drag || drag.id !== e.pointerId) return;
        view = panBy(view, (e.clientX - drag.x) / drag.rect.width, (e.clientY - drag.y) / drag.rect.height);
        drag.x = e.clientX;
        drag.y = e.clientY;
        applyView();
      }));
      const end = (e) => { if (drag && drag.id === e.pointerId) { drag = null; frameEl.classList.remove("mb-viewer-dragging"); } };
      cleanups.push(on(frameEl, "pointerup", end), on(frameEl, "pointercancel", end));
      cleanups.push(on(frameEl, "dblclick", () => { view = { s: 1, tx: 0, ty: 0 }; applyView(); }));
    }

    // One state message can change several arrays (an index change sends image, labels, edges and
    // result together): coalesce their redraws into one, after the message is applied.
    const dirty = { full: false, result: false };
    let queued = false;
    function flush() {
      queued = false;
      if (dirty.full) {
        drawAll();
        syncControls();
        syncLegend();
      } else if (dirty.result) {
        state.result = decodeArray(model.get("_result"));
        drawResult();
      }
      dirty.full = dirty.result = false;
    }
    const mark = (what) => () => { dirty[what] = true; if (!queued) { queued = true; queueMicrotask(flush); } };
    const onControls = () => syncControls();
    const onOpacity = () => { syncControls(); scheduleOverlay(); };
    const subs = [
      ["change:_image", mark("full")], ["change:_labels", mark("full")], ["change:_edges", mark("full")],
      ["change:_palette", mark("full")], ["change:_classes", mark("full")], ["change:_result", mark("result")],
      ["change:opacity", onOpacity], ["change:mode", onControls], ["change:fill", onControls],
      ["change:contours", onControls], ["change:index", onControls], ["change:error", onControls],
      ["change:batch_size", onControls], ["change:_modes", onControls],
    ];
    for (const [ev, fn] of subs) model.on(ev, fn);

    dirty.full = true; // render() may run after Python changed traits: draw what is there now
    flush();
    applyView();
    return () => {
      for (const [ev, fn] of subs) model.off(ev, fn);
      for (const off of cleanups) off();
      if (frame) cancelAnimationFrame(frame);
      root.remove();
    };
  },
};
