// The Tuner's zoom / pan (issue 12 item 2): the view helpers appended to shared.js, the stage's keys,
// and the stage wiring under node (fake model + fake DOM, tests/js/_fake.mjs): wheel zoom keeps the
// point under the cursor fixed, a drag pans, keys zoom / pan / fit, the indicator follows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeElement, FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
globalThis.MutationObserver = class { observe() {} disconnect() {} };
globalThis.addEventListener = () => {};
globalThis.removeEventListener = () => {};
FakeElement.prototype.after = function (n) { const p = this.parent; n.remove(); n.parent = p; p.children.splice(p.children.indexOf(this) + 1, 0, n); };
const T = { ...(await loadWidget("tuner_core")), ...(await loadWidget("tuner")) };

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test("viewFit centres the image; viewToImage inverts screen = t + scale * p", () => {
  const v = T.viewFit(400, 300, 8192, 4096);
  assert.equal(v.scale, 400 / 8192);
  close(v.tx, 0);
  close(v.ty, (300 - 4096 * v.scale) / 2);
  const [x, y] = T.viewToImage(v, 200, 150);
  close(x, 4096); close(y, 2048);
});

test("viewZoom keeps the point under the cursor fixed and clamps the scale", () => {
  const v = { scale: 0.5, tx: 10, ty: -20 };
  const before = T.viewToImage(v, 123, 77);
  const z = T.viewZoom(v, 123, 77, 3);
  assert.equal(z.scale, 1.5);
  const after = T.viewToImage(z, 123, 77);
  close(after[0], before[0]); close(after[1], before[1]);
  assert.equal(T.viewZoom(v, 0, 0, 1000, 0.1, 64).scale, 64);
  assert.equal(T.viewZoom(v, 0, 0, 1e-6, 0.1, 64).scale, 0.1);
  assert.deepEqual(T.viewPan(v, 5, 6), { scale: 0.5, tx: 15, ty: -14 });
});

test("viewKeep never lets the image leave the stage", () => {
  // a 100 x 100 image at scale 2 (200 px) in a 400 x 300 stage: at least 32 px stay in view
  assert.deepEqual(T.viewKeep({ scale: 2, tx: 1000, ty: -1000 }, 400, 300, 100, 100), { scale: 2, tx: 368, ty: -168 });
  const inside = { scale: 2, tx: 50, ty: 40 };
  assert.deepEqual(T.viewKeep(inside, 400, 300, 100, 100), inside);
});

test("viewPercent and stageKey", () => {
  assert.deepEqual([4, 1, 0.5, 0.125, 0.0123].map(T.viewPercent), ["400%", "100%", "50%", "12.5%", "1.2%"]);
  assert.deepEqual(T.stageKey("+"), { type: "zoom", value: 1.25 });
  assert.deepEqual(T.stageKey("-"), { type: "zoom", value: 0.8 });
  assert.deepEqual([T.stageKey("0"), T.stageKey("f")], [{ type: "fit" }, { type: "fit" }]);
  for (const k of ["r", "R", "F"]) assert.deepEqual(T.stageKey(k), { type: "fit" }, k); // the Painter's R too
  for (const k of ["g", "G", "p", "P"]) assert.deepEqual(T.stageKey(k), { type: "grid" }, k); // and its P
  for (const k of ["", "x", "Shift", "Tab", "Enter"]) assert.equal(T.stageKey(k), null, k);
  assert.deepEqual(T.stageKey("ArrowRight"), { type: "pan", dx: -64, dy: 0 }); // the view moves right
  assert.deepEqual(T.stageKey("ArrowUp", true), { type: "pan", dx: 0, dy: 256 });
  assert.equal(T.stageKey("a"), null);
});

test("the grid key", () => {
  assert.deepEqual(T.stageKey("g"), { type: "grid" });
});

function tuner() {
  const grid = Float64Array.from({ length: 1001 }, (_, j) => j / 1000);
  const model = new FakeModel({
    _probs: payload(new Float32Array(8 * 4).fill(0.7), "float32", [4, 8]), _image: null, _target_edges: null, _curve: null,
    _hist: payload(new Int32Array(100), "int32", [1, 100]), _mask: payload(new Uint8Array(4), "uint8", [4]),
    _grid: payload(grid, "float64", [1001]), _counts: payload(new Int32Array(4004), "int32", [1001, 4]),
    metrics: { threshold: 0.5, foreground: 1, cleaned: false }, threshold: 0.5, method: "manual", _methods: ["manual"],
    index: 0, batch_size: 1, min_size: 0, fill_holes: false, opening_radius: 0, opacity: 0.5, show_target: true, best: {},
    error: "", _full_size: [400, 800], _compute_ms: 1, _dataset_info: {}, dataset_item: -1, dataset_metric: "iou",
    worst_k: 10, _per_image: null, _pooled: null, _scores_now: null, _tiles_info: {},
  });
  const host = document.createElement("div");
  const cleanup = T.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  const view = () => q("mb-tuner").dataset.view.split(",").map(Number);
  return { model, q, view, cleanup, root: q("mb-tuner") };
}

test("the first layout paints the stage in that frame (its ResizeObserver), not one frame later", async () => {
  const rect = FakeElement.prototype.getBoundingClientRect;
  FakeElement.prototype.getBoundingClientRect = () => ({ left: 0, top: 0, x: 0, y: 0, width: 0, height: 0 }); // not laid out yet
  const { root, cleanup } = tuner();
  await dom.flush();
  assert.equal(root.dataset.firstPaint, undefined); // nothing to paint into yet
  FakeElement.prototype.getBoundingClientRect = rect; // laid out: the observer reports the size
  dom.resize();
  assert.ok(Number(root.dataset.firstPaint) > 0); // painted at once, no animation frame run
  assert.equal(root.dataset.view, "0.5,0,50");
  cleanup();
});

test("the stage: fit at start, wheel zooms about the cursor, drag pans, keys and the Fit button", async () => {
  const { q, view, root, cleanup } = tuner();
  await dom.flush();
  // an 800 x 400 (full-resolution) image in the fake 400 x 300 frame: fitted at scale 0.5
  assert.deepEqual(view(), [0.5, 0, 50]);
  assert.equal(root.dataset.zoom, "fit");
  assert.equal(q("mb-tuner-zoom").textContent, "50%");
  const screen = q("mb-tuner-screen");
  const at = (x, y) => { const [s, tx, ty] = view(); return [(x - tx) / s, (y - ty) / s]; };
  const p0 = at(100, 120);
  screen.dispatch("wheel", { deltaY: -400, deltaMode: 0, clientX: 100, clientY: 120 });
  await dom.flush();
  close(view()[0], 0.5 * Math.exp(0.6));
  const p1 = at(100, 120);
  close(p1[0], p0[0]); close(p1[1], p0[1]);
  assert.equal(root.dataset.zoom, "user");
  // drag: the image follows the pointer
  const [, tx, ty] = view();
  screen.dispatch("pointerdown", { button: 0, pointerId: 1, clientX: 50, clientY: 50 });
  screen.dispatch("pointermove", { pointerId: 1, clientX: 80, clientY: 40 });
  screen.dispatch("pointerup", { pointerId: 1, clientX: 80, clientY: 40 });
  await dom.flush();
  close(view()[1], tx + 30); close(view()[2], ty - 10);
  // keys on the focused image: + zooms about the centre, arrows pan, 0 fits; the event is consumed
  const s0 = view()[0];
  const e = screen.dispatch("keydown", { key: "+" });
  assert.ok(e.defaultPrevented && e.stopped);
  await dom.flush();
  close(view()[0], s0 * 1.25);
  const [, tx2] = view();
  screen.dispatch("keydown", { key: "ArrowLeft" });
  await dom.flush();
  close(view()[1], tx2 + 64);
  assert.equal(screen.dispatch("keydown", { key: "x" }).defaultPrevented, false); // other keys pass
  screen.dispatch("keydown", { key: "0" });
  await dom.flush();
  assert.deepEqual(view(), [0.5, 0, 50]);
  screen.dispatch("keydown", { key: "+" });
  q("mb-tuner-fit").click();
  await dom.flush();
  assert.deepEqual(view(), [0.5, 0, 50]);
  assert.equal(root.dataset.zoom, "fit");
  // g toggles the pixel grid (also a checkbox)
  assert.equal(q("mb-tuner-grid").checked, false);
  screen.dispatch("keydown", { key: "g" });
  assert.equal(q("mb-tuner-grid").checked, true);
  screen.dispatch("keydown", { key: "g" });
  assert.equal(q("mb-tuner-grid").checked, false);
  // the slider keeps its own arrows: they step the threshold, the view does not move
  q("mb-tuner-slider").dispatch("keydown", { key: "ArrowRight" });
  await dom.flush();
  assert.equal(root.dataset.threshold, "0.51");
  assert.deepEqual(view(), [0.5, 0, 50]);
  cleanup();
});
