// maskbench ThresholdTuner: its DOM (toolbar, stage, metric cards, chart cards, clean-up, footer);
// the image stage is in tuner_stage.js, the tiles past the proxy in tuner_tiles.js, the wiring in
// tuner.js. buildDom returns the elements the wiring needs, by name.
import { el } from "./shared.js";

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
  ui.screen = el("canvas", "mb-tuner-screen", { tabindex: "0", "aria-label": "Image: wheel or + - to zoom, drag or arrows to pan, 0, f or R to fit, g or P for the pixel grid" });
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
  ui.fit = el("button", "mb-tuner-fit", { type: "button", title: "Fit the image (0, f or R)" }, "Fit");
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
