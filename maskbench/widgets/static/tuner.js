// maskbench ThresholdTuner front end (the DOM and its wiring; pure helpers are in tuner_core.js and
// shared.js, assembled with this file into one ES module by maskbench/widgets/_frontend.py).
// Once per image the kernel sends a display proxy of the probabilities (float32, or uint8
// round(p * 255) when large), an optional RGBA image, a fixed-bin histogram, the IoU/Dice curves
// and the confusion counts at every step of the slider's grid. Every slider movement is snapped to
// the grid, thresholded, blended and its metrics computed from the counts HERE in the next
// animation frame (no kernel round trip). The kernel gets the value on release (with clean-up on,
// also throttled while dragging: only it can clean up at full resolution) and answers with the
// authoritative metrics and mask (packed bits).
import { batchIndex, batchView, decodeArray, el, listen, subscribe, suppressShortcuts, tintPixels, unpackBits } from "./shared.js";
import { buildDom } from "./tuner_dom.js";
import { createStage } from "./tuner_stage.js";
import { createTileOverlay } from "./tuner_tiles.js";
import { createProbes } from "./probes.js";
import {
  EDGE_RGB, MASK_RGBA, REMOVED_RGBA, composeOverlay, createThrottle, decodeFloat64, drawCurves, drawHistogram,
  formatMetric, greyPixels, gridIndex, indicesOf, metricsFromCounts, packColour, snapToGrid, stepOnGrid,
  thresholdProxy, xToValue,
} from "./tuner_core.js";
import { createDatasetPanel } from "./tuner_dataset.js";

function render({ model, el: host }) {
  const root = el("div", "mb-tuner");
  host.appendChild(root);
  const ui = buildDom(root);
  const s = { probs: null, w: 0, h: 0, base: null, base32: null, tint32: null, removed32: null, out: null, out32: null,
    img: null, preview: null, kernelMask: null, edges: null, hist: null, curve: null, grid: null, counts: null };
  const EDGE32 = packColour([...EDGE_RGB, 255]);
  let current = Number(model.get("threshold"));
  let dragging = false, frame = 0;
  const probes = createProbes(root);
  let proxyDirty = true;
  const stage = createStage({ ui, root, onMove: () => probes.restart("sharp"), proxy: () => composeProxy() });
  const send0 = (name, value) => { model.set(name, value); model.save_changes(); };
  const panel = createDatasetPanel({ model, after: ui.curveBox, curveTitle: ui.curveTitle, muted: () => muted(),
    decode: decodeFloat64, pick: (i) => { probes.restart("item"); send0("dataset_item", i); } });
  // read at every draw (cheap), never cached: after a theme switch the next draw has the new colour
  const muted = () => getComputedStyle(root).getPropertyValue("--mb-muted").trim() || "#59636e";

  const send = send0;
  const sender = createThrottle((v) => {
    probes.start(`metrics:${v}`);
    model.set("threshold", v);
    if (model.get("method") !== "manual") model.set("method", "manual");
    model.save_changes();
  });
  // Without clean-up the browser has every number a slider position needs: the kernel gets the
  // value once, on release. With clean-up it also gets it throttled while dragging.
  const cleanOn = () => model.get("min_size") > 1 || !!model.get("fill_holes") || model.get("opening_radius") > 0;
  let deferred = null;
  function toKernel(v, final) {
    if (final || cleanOn()) { deferred = null; sender.push(v); if (final) sender.flush(); } else deferred = v;
  }
  function commit() {
    if (deferred !== null) { const v = deferred; deferred = null; sender.push(v); }
    sender.flush();
  }

  function retint() {
    if (!s.base) return;
    const o = Number(model.get("opacity"));
    s.tint32 = new Uint32Array(tintPixels(s.base, MASK_RGBA, o).buffer);
    s.removed32 = new Uint32Array(tintPixels(s.base, REMOVED_RGBA, o).buffer);
  }

  function loadItem() {
    s.probs = decodeArray(model.get("_probs"));
    if (!s.probs) return;
    probes.end("item", "itemSwitch"); // batch / dataset item asked for -> its data here (drawn next frame)
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
    const grid = decodeFloat64(model.get("_grid")), counts = decodeArray(model.get("_counts"));
    s.grid = grid ? grid.data : null;
    s.counts = counts ? counts.data : null;
    ui.canvas.width = s.w; ui.canvas.height = s.h;
    ui.frame.style.aspectRatio = `${s.w} / ${s.h}`;
    const [fh, fw] = model.get("_full_size");
    stage.setImage(fw, fh);
    retint();
    loadMask();
  }

  function loadMask() {
    const m = decodeArray(model.get("_mask"));
    s.kernelMask = m && s.probs ? unpackBits(m.data, s.w * s.h, s.kernelMask && s.kernelMask.length === s.w * s.h ? s.kernelMask : undefined) : null;
  }

  const metricsNow = () => model.get("metrics") || {};
  const confirmed = () => metricsNow().threshold === current;
  // what the tiles show: the same choices as the proxy overlay (drawOverlay)
  const look = () => ({
    t: current, opacity: Number(model.get("opacity")), useKernel: !dragging && s.kernelMask !== null && confirmed(),
    cleaned: !!metricsNow().cleaned, showTarget: !!model.get("show_target"), proxy: [s.w, s.h],
    exact: !!s.probs && s.probs.data instanceof Float32Array,
  });
  const tiles = createTileOverlay({ model, root, probes, stage, look });
  stage.overlay = tiles;

  // The proxy overlay (ui.canvas), composed only when the stage shows it: not while tiles cover the view.
  function composeProxy() {
    if (!proxyDirty || !s.probs || !s.tint32) return;
    proxyDirty = false;
    const useKernel = look().useKernel;
    thresholdProxy(s.probs.data, current, s.preview);
    const extra = {};
    if (useKernel && metricsNow().cleaned) Object.assign(extra, { removed32: s.removed32, removedMask: s.preview });
    if (s.edges && model.get("show_target")) Object.assign(extra, { edgeIndex: s.edges, edge32: EDGE32 });
    composeOverlay(s.out32, s.base32, s.tint32, useKernel ? s.kernelMask : s.preview, extra);
    ui.canvas.getContext("2d").putImageData(s.img, 0, 0);
  }

  function drawOverlay() {
    frame = 0;
    if (!s.probs || !s.tint32) return;
    proxyDirty = true;
    stage.paint(); // the proxy overlay under the view (zoom / pan), tiles on top
    probes.end("overlay");
    root.dataset.shown = look().useKernel ? "kernel" : "preview";
    paintMetrics();
    drawHist();
    drawCurve();
    panel.draw(current, false, gridIndex(s.grid, current), metricsNow().threshold);
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(drawOverlay); };

  function drawHist() {
    drawHistogram(ui.hist, s.hist, current, muted());
  }

  function drawCurve() {
    ui.curveBox.style.display = s.curve ? "" : "none";
    if (s.curve) drawCurves(ui.curve, s.curve, current, model.get("best") || {}, muted());
  }

  // What the cards show: the kernel's metrics once it answered for this value; before that, on the
  // grid, the browser's own from the counts (exact; without clean-up, final); else the last known.
  function metricValues() {
    const m = metricsNow();
    if (!dragging && confirmed()) return { values: m, source: "kernel" };
    const j = gridIndex(s.grid, current);
    if (j >= 0 && s.counts && s.counts.length >= 4 * (j + 1)) {
      const hasTarget = !!(s.hist && s.hist.shape[0] === 2);
      return { values: metricsFromCounts(s.counts, j, hasTarget), source: cleanOn() ? "before-clean-up" : "client" };
    }
    return { values: m, source: "stale" };
  }

  function paintMetrics() {
    const { values: m, source } = metricValues();
    const hasTarget = typeof m.iou === "number";
    for (const [key, { card, v }] of Object.entries(ui.cards)) {
      const value = m[key];
      v.textContent = key === "foreground" ? (typeof value === "number" ? `${(100 * value).toFixed(1)}%` : "\u2013") : formatMetric(value);
      card.style.display = key === "foreground" || hasTarget ? "" : "none";
      card.dataset.value = String(value); // the unrounded number (tests compare it with the kernel's)
      card.classList.toggle("mb-tuner-stale", source === "stale" || source === "before-clean-up");
    }
    ui.metrics.classList.toggle("mb-tuner-no-target", !hasTarget);
    root.dataset.metricsSource = source;
    root.dataset.metricsAt = String(current);
    if (source === "client") probes.end("values", "clientMetrics"); // input -> exact metrics on screen
  }

  function showMetrics() {
    const m = metricsNow();
    paintMetrics();
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
    probes.restart("values", t0 || performance.now());
    syncThreshold();
    schedule();
    toKernel(current, final);
  }
  const controls = [];
  const on = (target, type, fn, opts) => controls.push([target, type, fn, opts]);
  const release = () => { if (dragging) { dragging = false; commit(); schedule(); } };
  on(ui.slider, "pointerdown", () => { dragging = true; });
  on(window, "pointerup", release);
  on(window, "pointercancel", release);
  on(ui.slider, "input", (e) => userSet(snapToGrid(s.grid, Number(ui.slider.value)), e.timeStamp, false));
  on(ui.slider, "change", () => { commit(); release(); });
  on(ui.slider, "keydown", (e) => {
    const v = stepOnGrid(s.grid, current, e.key, e.shiftKey);
    if (v === null) return;
    e.preventDefault(); // our own steps: a native step="any" range would move by 1 %
    userSet(v, e.timeStamp, false);
  });
  on(ui.slider, "keyup", () => commit());
  on(ui.value, "change", (e) => userSet(Number(ui.value.value), e.timeStamp, true));
  let scrub = null;
  on(ui.hist, "pointerdown", (e) => { scrub = e.pointerId; ui.hist.setPointerCapture(e.pointerId); dragging = true; userSet(snapToGrid(s.grid, xToValue(e.offsetX, ui.hist.clientWidth)), e.timeStamp, false); });
  on(ui.hist, "pointermove", (e) => { if (scrub === e.pointerId) userSet(snapToGrid(s.grid, xToValue(e.offsetX, ui.hist.clientWidth)), e.timeStamp, false); });
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
  const goTo = (i) => { const b = model.get("batch_size"); if (Number.isInteger(i) && i >= 0 && i < b) { probes.restart("item"); send("index", i); } else syncControls(); };
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
    if (dragging || v === current || sender.pending || deferred !== null) return; // the user is ahead of the kernel
    current = v;
    syncThreshold();
    schedule();
  };
  const unsubscribe = subscribe(model, [
    ["change:_probs change:_image change:_hist change:_curve change:_target_edges change:_counts change:_grid", mark("item")],
    ["change:_mask change:metrics", mark("mask")],
    ["change:threshold", onThreshold],
    ["change:opacity", () => { retint(); syncControls(); schedule(); }],
    ["change:_tiles_info", () => tiles.setInfo()],
    ["msg:custom", (msg, buffers) => tiles.receive(msg, buffers)],
    ["change:_dataset_info change:_per_image change:_pooled change:_scores_now", () => { panel.load(); schedule(); }],
    ["change:dataset_metric change:dataset_item change:worst_k", () => { panel.load(); schedule(); }],
    [["method", "index", "min_size", "fill_holes", "opening_radius", "show_target", "best", "error", "batch_size"]
      .map((k) => `change:${k}`).join(" "), () => { syncControls(); schedule(); }],
  ]);
  const unlisten = listen(controls);
  const unsuppress = suppressShortcuts(root);
  // charts follow their boxes (both canvases: one may resize alone)
  const resize = new ResizeObserver(() => schedule());
  resize.observe(ui.hist);
  resize.observe(ui.curve);
  // A JupyterLab theme switch flips body attributes, but the new theme's CSS may land a few frames
  // later: redraw on each frame until the axis colour read from the CSS variables changes (2 s at most).
  let themeWatch = 0;
  const theme = new MutationObserver(() => {
    const was = muted();
    let frames = 120;
    cancelAnimationFrame(themeWatch);
    const tick = () => { if (muted() !== was || --frames <= 0) { themeWatch = 0; schedule(); } else themeWatch = requestAnimationFrame(tick); };
    schedule();
    themeWatch = requestAnimationFrame(tick);
  });
  theme.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });

  dirty.item = true; // render() may run after Python changed traits: draw what is there now
  panel.load();
  flush();
  syncThreshold();
  return () => {
    unsubscribe();
    unlisten();
    unsuppress();
    sender.cancel();
    resize.disconnect();
    theme.disconnect();
    if (themeWatch) cancelAnimationFrame(themeWatch);
    panel.destroy();
    stage.destroy();
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  };
}

export default { render };
