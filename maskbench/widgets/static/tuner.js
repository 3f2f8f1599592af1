// maskbench ThresholdTuner front end (the DOM and its wiring; pure helpers are in tuner_core.js and
// shared.js, assembled with this file into one ES module by maskbench/widgets/_frontend.py).
// Once per image the kernel sends a display proxy of the probabilities (float32, or uint8
// round(p * 255) when large), an optional RGBA image, a fixed-bin histogram and the IoU/Dice
// curves. Every slider movement is thresholded and blended HERE in the next animation frame (no
// kernel round trip); the kernel gets the value throttled (at most one per THROTTLE_MS while
// dragging, always on release) and answers with metrics and the cleaned mask (packed bits).
import { batchIndex, batchView, decodeArray, el, listen, subscribe, suppressShortcuts, tintPixels, unpackBits } from "./shared.js";
import { createProbes } from "./probes.js";
import {
  EDGE_RGB, MASK_RGBA, REMOVED_RGBA, composeOverlay, createThrottle, drawCurves, drawHistogram, formatMetric,
  greyPixels, indicesOf, packColour, stepThreshold, thresholdProxy, xToValue,
} from "./tuner_core.js";

function buildDom(root) {
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
  ui.canvas = el("canvas", "mb-tuner-canvas");
  ui.frame.append(ui.canvas);
  const view = el("div", "mb-tuner-view");
  ui.opacity = el("input", "mb-tuner-opacity", { type: "range", min: "0", max: "1", step: "0.01", title: "Overlay opacity" });
  ui.showTarget = el("input", "mb-tuner-show-target", { type: "checkbox" });
  const op = el("label", "mb-tuner-field");
  op.append(el("span", "mb-tuner-label", {}, "Opacity"), ui.opacity);
  ui.targetField = el("label", "mb-tuner-field");
  ui.targetField.append(ui.showTarget, el("span", "", {}, "Target outline"));
  ui.legend = el("div", "mb-tuner-legend");
  view.append(op, ui.targetField);
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
    head.append(el("span", "mb-tuner-card-title", {}, title));
    const canvas = el("canvas", "mb-tuner-chart");
    box.append(head, canvas);
    side.append(box);
    return { box, head, canvas };
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

function render({ model, el: host }) {
  const root = el("div", "mb-tuner");
  host.appendChild(root);
  const ui = buildDom(root);
  const s = { probs: null, w: 0, h: 0, base: null, base32: null, tint32: null, removed32: null, out: null, out32: null,
    img: null, preview: null, kernelMask: null, edges: null, hist: null, curve: null };
  const EDGE32 = packColour([...EDGE_RGB, 255]);
  let current = Number(model.get("threshold"));
  let dragging = false, frame = 0;
  const probes = createProbes(root);
  let mutedColour = "";
  const muted = () => (mutedColour = mutedColour || getComputedStyle(root).getPropertyValue("--mb-muted").trim() || "#59636e");

  const send = (name, value) => { model.set(name, value); model.save_changes(); };
  const sender = createThrottle((v) => {
    probes.start(`metrics:${v}`);
    model.set("threshold", v);
    if (model.get("method") !== "manual") model.set("method", "manual");
    model.save_changes();
  });

  function retint() {
    if (!s.base) return;
    const o = Number(model.get("opacity"));
    s.tint32 = new Uint32Array(tintPixels(s.base, MASK_RGBA, o).buffer);
    s.removed32 = new Uint32Array(tintPixels(s.base, REMOVED_RGBA, o).buffer);
  }

  function loadItem() {
    s.probs = decodeArray(model.get("_probs"));
    if (!s.probs) return;
    [s.h, s.w] = s.probs.shape;
    const image = decodeArray(model.get("_image"));
    s.base = image ? new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length) : greyPixels(s.probs.data);
    s.base32 = new Uint32Array(s.base.slice().buffer);
    s.out = new Uint8ClampedArray(s.w * s.h * 4);
    s.out32 = new Uint32Array(s.out.buffer);
    s.img = new ImageData(s.out, s.w, s.h);
    s.preview = new Uint8Array(s.w * s.h);
    const edges = decodeArray(model.get("_target_edges"));
    s.edges = edges ? indicesOf(unpackBits(edges.data, s.w * s.h)) : null;
    s.hist = decodeArray(model.get("_hist"));
    s.curve = decodeArray(model.get("_curve"));
    ui.canvas.width = s.w; ui.canvas.height = s.h;
    ui.frame.style.aspectRatio = `${s.w} / ${s.h}`;
    retint();
    loadMask();
  }

  function loadMask() {
    const m = decodeArray(model.get("_mask"));
    s.kernelMask = m && s.probs ? unpackBits(m.data, s.w * s.h, s.kernelMask && s.kernelMask.length === s.w * s.h ? s.kernelMask : undefined) : null;
  }

  const metricsNow = () => model.get("metrics") || {};
  const confirmed = () => metricsNow().threshold === current;

  function drawOverlay() {
    frame = 0;
    if (!s.probs || !s.tint32) return;
    const m = metricsNow();
    const useKernel = !dragging && s.kernelMask !== null && confirmed();
    thresholdProxy(s.probs.data, current, s.preview);
    const extra = {};
    if (useKernel && m.cleaned) Object.assign(extra, { removed32: s.removed32, removedMask: s.preview });
    if (s.edges && model.get("show_target")) Object.assign(extra, { edgeIndex: s.edges, edge32: EDGE32 });
    composeOverlay(s.out32, s.base32, s.tint32, useKernel ? s.kernelMask : s.preview, extra);
    ui.canvas.getContext("2d").putImageData(s.img, 0, 0);
    probes.end("overlay");
    root.dataset.shown = useKernel ? "kernel" : "preview";
    drawHist();
    drawCurve();
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(drawOverlay); };

  function drawHist() {
    drawHistogram(ui.hist, s.hist, current, muted());
  }

  function drawCurve() {
    ui.curveBox.style.display = s.curve ? "" : "none";
    if (s.curve) drawCurves(ui.curve, s.curve, current, model.get("best") || {}, muted());
  }

  function showMetrics() {
    const m = metricsNow();
    const hasTarget = typeof m.iou === "number";
    for (const [key, { card, v }] of Object.entries(ui.cards)) {
      const value = m[key];
      v.textContent = key === "foreground" ? (typeof value === "number" ? `${(100 * value).toFixed(1)}%` : "\u2013") : formatMetric(value);
      card.style.display = key === "foreground" || hasTarget ? "" : "none";
      card.classList.toggle("mb-tuner-stale", !confirmed());
    }
    ui.metrics.classList.toggle("mb-tuner-no-target", !hasTarget);
    if (probes.end(`metrics:${m.threshold}`, "metrics")) { // threshold sent -> the kernel's metrics shown
      probes.set("metricsFor", m.threshold);
      probes.set("computeMs", model.get("_compute_ms"));
    }
    root.dataset.kernelThreshold = String(m.threshold);
    syncStatus();
  }

  function syncStatus() {
    const ok = confirmed();
    ui.status.classList.toggle("mb-tuner-busy", !ok);
    const ms = Number(model.get("_compute_ms"));
    ui.status.textContent = ok ? `kernel mask at t = ${current.toFixed(4)} \u00b7 computed in ${ms.toFixed(0)} ms` : "updating\u2026";
  }

  function syncThreshold() {
    if (document.activeElement !== ui.value) ui.value.value = current.toFixed(4);
    ui.slider.value = String(current);
    root.dataset.threshold = String(current);
    syncStatus();
  }

  function syncControls() {
    const methods = model.get("_methods");
    if (ui.method.options.length !== methods.length) {
      ui.method.replaceChildren(...methods.map((m) => el("option", "", { value: m }, m === "manual" ? "manual" : m[0].toUpperCase() + m.slice(1))));
    }
    ui.method.value = model.get("method");
    ui.opacity.value = String(model.get("opacity"));
    ui.showTarget.checked = !!model.get("show_target");
    ui.targetField.style.display = s.edges ? "" : "none";
    ui.opening.value = String(model.get("opening_radius"));
    ui.minSize.value = String(model.get("min_size"));
    ui.fillHoles.checked = !!model.get("fill_holes");
    const b = model.get("batch_size"), nav = batchView(model.get("index"), b);
    ui.batch.style.display = b > 1 ? "" : "none";
    Object.assign(ui.index, { min: nav.min, max: nav.max, value: nav.value });
    ui.count.textContent = nav.count;
    ui.prev.disabled = nav.atStart;
    ui.next.disabled = nav.atEnd;
    const best = model.get("best") || {};
    ui.bestText.textContent = typeof best.iou === "number" ? `Best IoU ${best.iou.toFixed(3)} at t = ${best.iou_threshold.toFixed(3)}` : "";
    const split = s.hist && s.hist.shape[0] === 2;
    ui.histKey.replaceChildren(...(split ? [["neg", "target 0"], ["pos", "target 1"]].map(([k, t]) => el("span", `mb-tuner-key-${k}`, {}, t)) : []));
    const m = metricsNow();
    ui.curveNote.textContent = m.cleaned ? "before clean-up" : "";
    const items = [["mask", "mask (p > t)"]];
    if (m.cleaned) items.push(["removed", "removed by clean-up"]);
    if (s.edges) items.push(["edge", "target outline"]);
    ui.legend.replaceChildren(...items.map(([k, t]) => { const e = el("span", "mb-tuner-legend-item"); e.append(el("span", `mb-tuner-swatch mb-tuner-swatch-${k}`), el("span", "", {}, t)); return e; }));
    const err = model.get("error");
    ui.error.textContent = err;
    ui.error.style.display = err ? "" : "none";
    const [fh, fw] = model.get("_full_size");
    ui.info.textContent = `${fw}\u00d7${fh}` + (s.w && (s.w !== fw || s.h !== fh) ? ` \u00b7 shown at ${s.w}\u00d7${s.h}` : "");
  }

  // The user moves the threshold: preview at once, kernel throttled.
  function userSet(v, t0, final) {
    if (!Number.isFinite(v)) return syncThreshold();
    current = Math.min(1, Math.max(0, v));
    probes.start("overlay", t0 || performance.now());
    syncThreshold();
    schedule();
    sender.push(current);
    if (final) sender.flush();
  }
  const controls = [];
  const on = (target, type, fn, opts) => controls.push([target, type, fn, opts]);
  const release = () => { if (dragging) { dragging = false; sender.flush(); schedule(); } };
  on(ui.slider, "pointerdown", () => { dragging = true; });
  on(window, "pointerup", release);
  on(window, "pointercancel", release);
  on(ui.slider, "input", (e) => userSet(Number(ui.slider.value), e.timeStamp, false));
  on(ui.slider, "change", () => { sender.flush(); release(); });
  on(ui.slider, "keydown", (e) => {
    const v = stepThreshold(current, e.key, e.shiftKey);
    if (v === null) return;
    e.preventDefault(); // our own steps: a native step="any" range would move by 1 %
    userSet(v, e.timeStamp, false);
  });
  on(ui.slider, "keyup", () => sender.flush());
  on(ui.value, "change", (e) => userSet(Number(ui.value.value), e.timeStamp, true));
  let scrub = null;
  on(ui.hist, "pointerdown", (e) => { scrub = e.pointerId; ui.hist.setPointerCapture(e.pointerId); dragging = true; userSet(xToValue(e.offsetX, ui.hist.clientWidth), e.timeStamp, false); });
  on(ui.hist, "pointermove", (e) => { if (scrub === e.pointerId) userSet(xToValue(e.offsetX, ui.hist.clientWidth), e.timeStamp, false); });
  on(ui.hist, "pointerup", () => { scrub = null; release(); });
  on(ui.useBest, "click", (e) => { const b = model.get("best") || {}; userSet(b.iou_threshold, e.timeStamp, true); });
  on(ui.method, "change", () => send("method", ui.method.value));
  on(ui.opacity, "input", (e) => { model.set("opacity", Number(ui.opacity.value)); retint(); probes.start("overlay", e.timeStamp); schedule(); model.save_changes(); });
  on(ui.showTarget, "change", () => { send("show_target", ui.showTarget.checked); schedule(); });
  const intField = (input, name) => on(input, "change", () => {
    const v = Number(input.value);
    if (Number.isInteger(v) && v >= 0 && v <= Number(input.max)) send(name, v); else syncControls();
  });
  intField(ui.opening, "opening_radius");
  intField(ui.minSize, "min_size");
  on(ui.fillHoles, "change", () => send("fill_holes", ui.fillHoles.checked));
  const goTo = (i) => { const b = model.get("batch_size"); if (Number.isInteger(i) && i >= 0 && i < b) send("index", i); else syncControls(); };
  on(ui.prev, "click", () => goTo(model.get("index") - 1));
  on(ui.next, "click", () => goTo(model.get("index") + 1));
  on(ui.index, "change", () => { const i = batchIndex(ui.index.value, model.get("batch_size")); if (i === null) syncControls(); else goTo(i); });

  // One kernel message may change several arrays: redraw once, after it is applied.
  const dirty = { item: false, mask: false };
  let queued = false;
  function flush() {
    queued = false;
    if (dirty.item) loadItem(); else if (dirty.mask) loadMask();
    dirty.item = dirty.mask = false;
    syncControls();
    showMetrics();
    schedule();
  }
  const mark = (what) => () => { dirty[what] = true; if (!queued) { queued = true; queueMicrotask(flush); } };
  const onThreshold = () => {
    const v = Number(model.get("threshold"));
    if (dragging || v === current || sender.pending) return; // the user is ahead of the kernel
    current = v;
    syncThreshold();
    schedule();
  };
  const unsubscribe = subscribe(model, [
    ["change:_probs change:_image change:_hist change:_curve change:_target_edges", mark("item")],
    ["change:_mask change:metrics", mark("mask")],
    ["change:threshold", onThreshold],
    ["change:opacity", () => { retint(); syncControls(); schedule(); }],
    [["method", "index", "min_size", "fill_holes", "opening_radius", "show_target", "best", "error", "batch_size"]
      .map((k) => `change:${k}`).join(" "), () => { syncControls(); schedule(); }],
  ]);
  const unlisten = listen(controls);
  const unsuppress = suppressShortcuts(root);
  // charts follow their boxes (both canvases: one may resize alone)
  const resize = new ResizeObserver(() => schedule());
  resize.observe(ui.hist);
  resize.observe(ui.curve);

  dirty.item = true; // render() may run after Python changed traits: draw what is there now
  flush();
  syncThreshold();
  return () => {
    unsubscribe();
    unlisten();
    unsuppress();
    sender.cancel();
    resize.disconnect();
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  };
}

export default { render };
