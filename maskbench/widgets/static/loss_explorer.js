// maskbench LossExplorer front end: four canvases (loss and |grad|, maskbench vs naive), the
// excluded region outlined, and the numbers. The kernel sends one float32 (4, dh, dw) proxy per
// batch item / loss; the colour scale (linear / log) and the opacity over the image are applied
// here, per frame, with no kernel round trip. Pure helpers: loss_explorer_core.js and shared.js.
import { batchIndex, batchView, decodeArray, el, listen, subscribe, suppressShortcuts, unpackBits } from "./shared.js";
import { createProbes } from "./probes.js";
import { LUT, PANELS, colorizeMap, drawOutline, finiteMax, formatStat, pixelAt, plane, readout, scaleTicks, verdict } from "./loss_explorer_core.js";

const ROWS = [
  ["value", "loss value"],
  ["excluded", "max |grad| on excluded pixels"],
  ["kept", "max |grad| on kept pixels"],
];

function buildDom(root) {
  const bar = el("div", "mb-lossx-toolbar");
  const field = (label, control, cls = "") => {
    const l = el("label", `mb-lossx-field ${cls}`);
    l.append(el("span", "mb-lossx-label", {}, label), control);
    bar.append(l);
    return l;
  };
  const ui = { root };
  ui.loss = el("select", "mb-lossx-loss", { title: "The loss compared" });
  ui.naive = el("select", "mb-lossx-naive", { title: "The naive recipe it is compared with" });
  for (const [v, t] of [["unmasked", "unmasked mean"], ["multiply", "(loss\u00b7mask).sum() / mask.sum()"]]) {
    ui.naive.append(el("option", "", { value: v }, t));
  }
  ui.log = el("input", "mb-lossx-log", { type: "checkbox", title: "Logarithmic colour scale" });
  ui.opacity = el("input", "mb-lossx-opacity", { type: "range", min: "0", max: "1", step: "0.01" });
  ui.opacityValue = el("span", "mb-lossx-value");
  field("Loss", ui.loss);
  field("Naive", ui.naive);
  field("Log scale", ui.log, "mb-lossx-check");
  field("Opacity", ui.opacity).append(ui.opacityValue);
  ui.batch = el("div", "mb-lossx-batch");
  ui.prev = el("button", "mb-lossx-prev", { type: "button", title: "Previous item" }, "\u2039");
  ui.index = el("input", "mb-lossx-index", { type: "number", min: "1", step: "1", title: "Batch item (from 1)" });
  ui.count = el("span", "mb-lossx-count");
  ui.next = el("button", "mb-lossx-next", { type: "button", title: "Next item" }, "\u203a");
  ui.batch.append(ui.prev, ui.index, ui.count, ui.next);
  bar.append(ui.batch);
  const grid = el("div", "mb-lossx-grid");
  ui.frames = {};
  ui.canvases = {};
  ui.bars = {};
  for (const [key, title, row] of PANELS) {
    const panel = el("div", `mb-lossx-panel mb-lossx-panel-${key}`, { "data-panel": key });
    const frame = el("div", "mb-lossx-frame");
    const canvas = el("canvas", `mb-lossx-canvas mb-lossx-canvas-${key}`, { "data-panel": key });
    frame.append(canvas);
    panel.append(el("div", "mb-lossx-title", {}, title), frame);
    grid.append(panel);
    ui.frames[key] = frame;
    ui.canvases[key] = canvas;
    if (!ui.bars[row]) ui.bars[row] = el("div", `mb-lossx-scale mb-lossx-scale-${row}`);
  }
  const scales = el("div", "mb-lossx-scales");
  for (const row of ["loss", "grad"]) {
    const ramp = el("span", "mb-lossx-ramp");
    const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => { const q = 3 * Math.round(t * 255); return `rgb(${LUT[q]},${LUT[q + 1]},${LUT[q + 2]})`; });
    ramp.style.background = `linear-gradient(90deg, ${stops.join(", ")})`;
    ui.bars[row].append(el("span", "mb-lossx-scale-name", {}, row === "loss" ? "loss" : "|grad|"),
      el("span", "mb-lossx-lo"), ramp, el("span", "mb-lossx-hi"));
    scales.append(ui.bars[row]);
  }
  scales.append(el("span", "mb-lossx-key", {}, "no colour = exactly 0 \u00b7 magenta = NaN \u00b7 white outline = excluded region"));
  ui.verdict = el("div", "mb-lossx-verdict", { role: "status" });
  ui.table = el("table", "mb-lossx-stats");
  ui.cells = {};
  const head = el("tr", "");
  for (const h of ["", "maskbench", "naive"]) head.append(el("th", "", {}, h));
  ui.table.append(head);
  for (const [key, label] of ROWS) {
    const tr = el("tr", `mb-lossx-row-${key}`);
    ui.cells[key] = [el("td", `mb-lossx-cell mb-lossx-${key}-masked`), el("td", `mb-lossx-cell mb-lossx-${key}-naive`)];
    tr.append(el("th", "", {}, label), ...ui.cells[key]);
    ui.table.append(tr);
  }
  ui.readout = el("div", "mb-lossx-readout", {}, "Point at a pixel to read its values.");
  ui.info = el("div", "mb-lossx-info");
  ui.error = el("div", "mb-lossx-error", { role: "alert" });
  root.append(bar, grid, ui.readout, scales, ui.verdict, ui.table, ui.info, ui.error);
  return ui;
}

function putPixels(canvas, data, w, h) {
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.getContext("2d").putImageData(new ImageData(data, w, h), 0, 0);
}

function render({ model, el: host }) {
  const root = el("div", "mb-lossx");
  host.appendChild(root);
  const ui = buildDom(root);
  const probes = createProbes(root);
  const state = { maps: null, image: null, edges: null };
  let frame = 0;
  const send = (name, value) => { model.set(name, value); model.save_changes(); };

  function decodeAll() {
    state.maps = decodeArray(model.get("_maps"));
    state.image = decodeArray(model.get("_image"));
    const packed = decodeArray(model.get("_edges"));
    state.edges = packed && state.maps ? unpackBits(packed.data, state.maps.shape[1] * state.maps.shape[2]) : null;
  }

  // scale and opacity come from the model (never from the controls, which may not be synced yet)
  function draw() {
    frame = 0;
    if (!state.maps) return;
    const [, h, w] = state.maps.shape;
    const scale = model.get("scale"), opacity = Number(model.get("opacity"));
    const planes = PANELS.map((_, k) => plane(state.maps, k));
    const vmax = { loss: finiteMax(planes[0], planes[1]), grad: finiteMax(planes[2], planes[3]) };
    PANELS.forEach(([key, , row], k) => {
      const rgba = colorizeMap(planes[k], vmax[row], { scale, opacity, base: state.image ? state.image.data : null });
      if (state.edges) drawOutline(rgba, state.edges);
      putPixels(ui.canvases[key], rgba, w, h);
      ui.frames[key].style.aspectRatio = `${w} / ${h}`;
    });
    for (const row of ["loss", "grad"]) {
      const [lo, hi] = scaleTicks(vmax[row], scale);
      ui.bars[row].querySelector(".mb-lossx-lo").textContent = lo;
      ui.bars[row].querySelector(".mb-lossx-hi").textContent = hi;
    }
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
    probes.end("maps");
    probes.end("restyle");
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };

  function syncControls() {
    const losses = model.get("_losses");
    if (ui.loss.options.length !== losses.length) ui.loss.replaceChildren(...losses.map((m) => el("option", "", { value: m }, m)));
    ui.loss.value = model.get("loss");
    ui.naive.value = model.get("naive");
    ui.log.checked = model.get("scale") === "log";
    ui.opacity.value = String(model.get("opacity"));
    ui.opacityValue.textContent = Number(model.get("opacity")).toFixed(2);
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
    const shown = state.maps ? [state.maps.shape[2], state.maps.shape[1]] : [fw, fh];
    ui.info.textContent = `${fw}\u00d7${fh}` + (shown[0] !== fw || shown[1] !== fh ? ` \u00b7 shown at ${shown[0]}\u00d7${shown[1]} (max of each block)` : "")
      + " \u00b7 numbers over the whole batch";
  }

  function syncStats() {
    const s = model.get("stats") || {};
    const pairs = { value: ["value_masked", "value_naive"], excluded: ["excluded_max_masked", "excluded_max_naive"], kept: ["kept_max_masked", "kept_max_naive"] };
    for (const [row, [a, b]] of Object.entries(pairs)) {
      ui.cells[row][0].textContent = formatStat(s[a]);
      ui.cells[row][1].textContent = s.naive_error ? "\u2014" : formatStat(s[b]);
    }
    const v = verdict(s);
    ui.verdict.textContent = v.text;
    ui.verdict.classList.toggle("mb-lossx-ok", v.ok);
    ui.verdict.classList.toggle("mb-lossx-bad", !v.ok);
    root.dataset.statsVersion = String(Number(root.dataset.statsVersion || 0) + 1);
  }

  const goTo = (i) => { const b = model.get("batch_size"); if (Number.isInteger(i) && i >= 0 && i < b) { probes.restart("maps"); send("index", i); } else syncControls(); };
  const hover = (frameEl) => (e) => {
    if (!state.maps) return;
    const r = frameEl.getBoundingClientRect();
    const p = pixelAt(state.maps, (e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height, model.get("_full_size"));
    if (p) ui.readout.textContent = readout(p);
  };
  const unlisten = listen([
    ...Object.values(ui.frames).map((f) => [f, "pointermove", hover(f)]),
    [ui.loss, "change", () => { probes.restart("maps"); send("loss", ui.loss.value); }],
    [ui.naive, "change", () => { probes.restart("maps"); send("naive", ui.naive.value); }],
    [ui.log, "change", (e) => { probes.start("restyle", e.timeStamp); send("scale", ui.log.checked ? "log" : "linear"); schedule(); }],
    [ui.opacity, "input", (e) => {
      probes.start("restyle", e.timeStamp);
      send("opacity", Number(ui.opacity.value));
      ui.opacityValue.textContent = Number(ui.opacity.value).toFixed(2);
      schedule(); // instant: blended here, no kernel round trip
    }],
    [ui.prev, "click", () => goTo(model.get("index") - 1)],
    [ui.next, "click", () => goTo(model.get("index") + 1)],
    [ui.index, "change", () => { const i = batchIndex(ui.index.value, model.get("batch_size")); if (i === null) syncControls(); else goTo(i); }],
  ]);
  const unsuppress = suppressShortcuts(root);

  // one kernel message may change several arrays: decode and redraw once, after it is applied
  let queued = false;
  const flush = () => { queued = false; decodeAll(); syncControls(); schedule(); };
  const markArrays = () => { if (!queued) { queued = true; queueMicrotask(flush); } };
  const unsubscribe = subscribe(model, [
    ["change:_maps change:_image change:_edges", markArrays],
    ["change:opacity change:scale", () => { syncControls(); schedule(); }],
    ["change:stats", syncStats],
    ["change:loss change:naive change:index change:error change:batch_size change:_losses", syncControls],
  ]);

  decodeAll(); // render() may run after Python changed traits: draw what is there now
  syncControls();
  syncStats();
  draw();
  return () => {
    unsubscribe();
    unlisten();
    unsuppress();
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  };
}

export default { render };
