// The Tuner's DOM wiring under node (fake model + fake DOM, tests/js/_fake.mjs): slider positions
// get exact metrics from the counts in the next frame with no kernel message (issue 11 item 4), and
// the dataset panel follows the slider and loads a clicked image (issue 15 item 3).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeElement, FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
// what the fake DOM lacks and the Tuner uses (real browsers have them)
globalThis.MutationObserver = class { observe() {} disconnect() {} };
globalThis.addEventListener = () => {}; // window (pointerup anywhere ends a drag)
globalThis.removeEventListener = () => {};
FakeElement.prototype.after = function (n) {
  const p = this.parent;
  n.remove();
  n.parent = p;
  p.children.splice(p.children.indexOf(this) + 1, 0, n);
};
FakeElement.prototype.closest = function (sel) {
  const tag = sel.split("[")[0].toUpperCase();
  for (let e = this; e; e = e.parent) if (e.tagName === tag && e.getAttribute("data-item") !== null) return e;
  return null;
};
const T = { ...(await loadWidget("tuner_core")), ...(await loadWidget("tuner")) };
const D = await import(new URL("../../maskbench/widgets/static/tuner_dataset.js", import.meta.url));

const GRID = Float64Array.from({ length: 1001 }, (_, j) => j / 1000);
const PROBS = new Float32Array([0.1, 0.505, 0.52, 0.9, 0.283, 0.6]);
const TARGET = [0, 1, 1, 1, 0, 0];
function counts(p, g) {
  const out = new Int32Array(4 * GRID.length);
  GRID.forEach((t, j) => { for (let i = 0; i < p.length; i++) out[4 * j + (p[i] > Math.fround(t) ? (g[i] ? 0 : 1) : (g[i] ? 2 : 3))]++; });
  return out;
}
const COUNTS = counts(PROBS, TARGET);

function tuner(state = {}) {
  const model = new FakeModel({
    _probs: payload(PROBS, "float32", [2, 3]), _image: null, _target_edges: null, _curve: null,
    _hist: payload(new Int32Array(200), "int32", [2, 100]), _mask: payload(new Uint8Array(1), "uint8", [1]),
    _grid: payload(GRID, "float64", [1001]), _counts: payload(COUNTS, "int32", [1001, 4]),
    metrics: { threshold: 0.5, ...T.metricsFromCounts(COUNTS, 500, true), cleaned: false }, threshold: 0.5,
    method: "manual", _methods: ["manual", "otsu"], index: 0, batch_size: 1, min_size: 0, fill_holes: false,
    opening_radius: 0, opacity: 0.5, show_target: true, best: {}, error: "", _full_size: [2, 3], _compute_ms: 1,
    _dataset_info: {}, dataset_item: -1, dataset_metric: "iou", worst_k: 10, _per_image: null, _pooled: null,
    _scores_now: null, ...state,
  });
  const host = document.createElement("div");
  const cleanup = T.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  const cards = () => Object.fromEntries(["iou", "dice", "precision", "recall", "foreground"].map((k) => [k, Number(q(`mb-tuner-metric-${k}`).dataset.value)]));
  return { model, host, cleanup, q, cards, root: q("mb-tuner") };
}

test("a key press shows the exact metrics from the counts in the next frame; the kernel hears on key up", async () => {
  const { model, q, cards, root, cleanup } = tuner();
  await dom.flush();
  model.take();
  q("mb-tuner-slider").dispatch("keydown", { key: "ArrowRight" });
  assert.deepEqual(model.take(), []); // no clean-up: nothing for the kernel until the key is released
  await dom.flush();
  assert.equal(root.dataset.threshold, "0.51");
  assert.equal(root.dataset.metricsSource, "client");
  assert.deepEqual(cards(), T.metricsFromCounts(COUNTS, 510, true));
  // by hand: at t = 0.51 the mask is {0.52, 0.9, 0.6}: tp 2, fp 1, fn 1
  assert.deepEqual(cards(), { iou: 2 / 4, dice: 4 / 6, precision: 2 / 3, recall: 2 / 3, foreground: 3 / 6 });
  q("mb-tuner-slider").dispatch("keyup", { key: "ArrowRight" });
  assert.deepEqual(model.take().slice(0, 1), [["set", "threshold", 0.51]]);
  cleanup();
});

test("dragging snaps to the grid; with clean-up on the kernel gets it throttled and the cards say stale", async () => {
  const { model, q, root, cleanup } = tuner({ min_size: 5, metrics: { threshold: 0.5, iou: 0.25, cleaned: true } });
  await dom.flush();
  model.take();
  const slider = q("mb-tuner-slider");
  slider.dispatch("pointerdown");
  slider.value = "0.28349";
  slider.dispatch("input");
  assert.deepEqual(model.take().slice(0, 1), [["set", "threshold", 0.283]]); // sent at once (leading edge)
  await dom.flush();
  assert.equal(root.dataset.threshold, "0.283");
  assert.equal(root.dataset.metricsSource, "before-clean-up");
  assert.ok(q("mb-tuner-metric-iou").classList.contains("mb-tuner-stale"));
  cleanup();
});

test("dataset panel: scores, mean, pooled and worst follow the slider; a click asks for that image", async () => {
  const n = 3, t = 1001;
  const per = new Int32Array(n * t * 3);
  const probs = [PROBS, PROBS.map((p) => 1 - p), PROBS.map((p) => p / 2)];
  probs.forEach((p, i) => { const c = counts(p, TARGET); for (let j = 0; j < t; j++) per.set([c[4 * j], c[4 * j + 1], c[4 * j + 2]], 3 * (i * t + j)); });
  const pooled = Float64Array.from({ length: t * 3 }, (_, k) => per[k] + per[3 * t + k] + per[6 * t + k]);
  const { model, q, host, root, cleanup } = tuner({
    _dataset_info: { size: n, tier: "counts", ids: ["a", "b", "c"] }, _per_image: payload(per, "int32", [n, t, 3]),
    _pooled: payload(pooled, "float64", [t, 3]), dataset_item: 0, worst_k: 2,
  });
  await dom.flush();
  const panel = q("mb-tuner-dataset");
  assert.equal(panel.style.display, "");
  const check = (j) => {
    const s = D.perImageScores(per, "counts", n, t, j, "iou");
    assert.equal(panel.dataset.worst, D.worstK(s, 2).join(","));
    assert.equal(Number(panel.dataset.mean), D.meanScore(s));
    assert.equal(Number(panel.dataset.pooled), D.pooledScore(pooled, j, "iou"));
  };
  check(500);
  q("mb-tuner-slider").dispatch("keydown", { key: "PageDown" });
  await dom.flush();
  assert.equal(root.dataset.threshold, "0.4");
  check(400);
  model.take();
  const buttons = host.querySelectorAll("mb-tuner-worst-item");
  assert.equal(buttons.length, 2);
  buttons[1].click();
  assert.deepEqual(model.take(), [["set", "dataset_item", Number(buttons[1].getAttribute("data-item"))], ["save_changes"]]);
  cleanup();
});
