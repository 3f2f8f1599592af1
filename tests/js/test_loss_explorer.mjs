// The LossExplorer front end: pure helpers (loss_explorer_core.js) against plain references, and the
// DOM wiring under node with a fake model and a fake DOM (tests/js/_fake.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeModel, installDom, payload } from "./_fake.mjs";
import { assembled, loadWidget } from "./_load.mjs";

const dom = installDom();
const L = await loadWidget("loss_explorer");

test("buildLut interpolates the stops: ends exact, midpoint halfway", () => {
  const lut = L.buildLut([[0, 0, 0], [200, 100, 50]], 3);
  assert.deepEqual(Array.from(lut), [0, 0, 0, 100, 50, 25, 200, 100, 50]);
  assert.equal(L.LUT.length, 768);
  assert.deepEqual(Array.from(L.LUT.slice(0, 3)), [68, 1, 84]); // viridis ends
  assert.deepEqual(Array.from(L.LUT.slice(765)), [253, 231, 37]);
});

test("scaleValue: exact zero and NaN are their own cases; linear and log clamp", () => {
  assert.equal(L.scaleValue(0, 2), "zero");
  assert.equal(L.scaleValue(-0, 2), "zero");
  assert.equal(L.scaleValue(NaN, 2), "nan");
  assert.equal(L.scaleValue(1, 2), 0.5);
  assert.equal(L.scaleValue(4, 2), 1);
  assert.equal(L.scaleValue(Infinity, 2), 1);
  assert.equal(L.scaleValue(2, 2, "log"), 1);
  assert.ok(Math.abs(L.scaleValue(2e-2, 2, "log") - (1 - 2 / L.DECADES)) < 1e-12); // two decades down
  assert.equal(L.scaleValue(1e-12, 2, "log"), 0); // below the shown decades: the bottom colour
  assert.equal(L.scaleValue(1e-12, 2), 1e-12 / 2); // linear: tiny but not zero
  assert.equal(L.scaleValue(3, 0), 1); // an all-zero companion map: anything non-zero is the top
});

test("finiteMax ignores NaN and +Inf and is 0 for all-zero maps", () => {
  assert.equal(L.finiteMax(new Float32Array([0, NaN, 3, Infinity]), new Float32Array([2])), 3);
  assert.equal(L.finiteMax(new Float32Array([0, 0])), 0);
});

test("colorizeMap: base kept at exact zeros, NaN magenta, colour blended with shared.js's formula", () => {
  const base = new Uint8ClampedArray([10, 20, 30, 255, 10, 20, 30, 255, 10, 20, 30, 255, 10, 20, 30, 255]);
  const values = new Float32Array([0, NaN, 1, 0.5]);
  const out = L.colorizeMap(values, 1, { opacity: 0.5, base });
  assert.deepEqual(Array.from(out.slice(0, 4)), [10, 20, 30, 255]);
  assert.deepEqual(Array.from(out.slice(4, 8)), [...L.NAN_COLOUR, 255]);
  const a = Math.floor(0.5 * 255 + 0.5);
  const ref = (b, c) => Math.floor((b * (255 - a) + c * a + 127) / 255);
  assert.deepEqual(Array.from(out.slice(8, 11)), [ref(10, 253), ref(20, 231), ref(30, 37)]);
  const q = 3 * Math.round(0.5 * 255);
  assert.deepEqual(Array.from(out.slice(12, 15)), [ref(10, L.LUT[q]), ref(20, L.LUT[q + 1]), ref(30, L.LUT[q + 2])]);
  const opaque = L.colorizeMap(new Float32Array([1]), 1, { opacity: 1 }); // no base: black under it
  assert.deepEqual(Array.from(opaque), [253, 231, 37, 255]);
  const log = L.colorizeMap(new Float32Array([1e-2]), 1, { scale: "log", opacity: 1 });
  const k = 3 * Math.round(0.5 * 255); // 1e-2 of 1 is half of four decades
  assert.deepEqual(Array.from(log.slice(0, 3)), Array.from(L.LUT.slice(k, k + 3)));
});

test("drawOutline, plane, formatStat, verdict, scaleTicks", () => {
  const rgba = new Uint8ClampedArray(8);
  L.drawOutline(rgba, new Uint8Array([0, 1]));
  assert.deepEqual(Array.from(rgba), [0, 0, 0, 0, 255, 255, 255, 0]);
  const maps = { data: new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]), shape: [4, 1, 2] };
  assert.deepEqual(Array.from(L.plane(maps, 2)), [4, 5]);
  assert.equal(L.formatStat(0), "0 (exactly)");
  assert.equal(L.formatStat("nan"), "NaN");
  assert.equal(L.formatStat("inf"), "+Inf");
  assert.equal(L.formatStat(0.012345), "0.01235");
  assert.equal(L.formatStat(1.5e-7), "1.500e-7");
  const stats = { excluded_pixels: 5, pixels: 20, excluded_max_masked: 0, excluded_max_naive: "nan", naive_error: "" };
  assert.deepEqual(L.verdict(stats), { ok: true, text: "Excluded pixels (5 of 20) get exactly zero gradient with maskbench; the naive loss gives up to NaN." });
  assert.equal(L.verdict({ ...stats, excluded_max_masked: 1e-9 }).ok, false);
  assert.match(L.verdict({ ...stats, naive_error: "IndexError: Target 255" }).text, /naive loss fails \(IndexError/);
  assert.equal(L.verdict({ ...stats, excluded_pixels: 0 }).text, "No pixel is excluded by this mask.");
  assert.deepEqual(L.scaleTicks(2, "log"), ["2.0e-4", "2.0e+0"]);
  assert.deepEqual(L.scaleTicks(2), ["0", "2.0e+0"]);
});

test("pixelAt and readout: the proxy pixel under the pointer, scaled back to image pixels", () => {
  const maps = { data: new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, NaN, 17, 18, 19, 20, 21, 22, 23]), shape: [4, 2, 3] };
  const p = L.pixelAt(maps, 0.99, 0.6, [20, 30]);
  assert.deepEqual(p, { row: 10, col: 20, values: [5, 11, 17, 23] });
  assert.equal(L.pixelAt(maps, 1, 0.5), null);
  assert.equal(L.pixelAt(maps, -0.1, 0.5), null);
  assert.deepEqual(L.pixelAt(maps, 0.4, 0.2).values, [1, 7, 13, 19]);
  assert.equal(L.readout(L.pixelAt(maps, 0.1, 0.9)), "pixel (1, 0) \u00b7 loss 3.000 | 9.000 \u00b7 |grad| 15.00 | 21.00 (maskbench | naive)");
  assert.match(L.readout({ row: 0, col: 0, values: [0, 1, 0, NaN] }), /loss 0 \(exactly\) \| 1\.000 .* \| NaN/);
});

// ---- wiring ------------------------------------------------------------------------------------
const [W, H] = [3, 2];
const MAPS = new Float32Array([
  0, 1, 2, 0, 0, 0, // loss masked
  1, 1, 2, 1, 1, 1, // loss naive
  0, 0.5, 1, 0, 0, 0, // grad masked: 0 on the excluded pixels
  0.5, 0.5, 1, NaN, 0.25, 0.25, // grad naive
]);
const EDGES = new Uint8Array([0b00010000]); // pixel 3 outlined
const STATS = { loss: "bce", naive: "unmasked", value_masked: 0.5, value_naive: 0.9, excluded_max_masked: 0, excluded_max_naive: "nan",
  kept_max_masked: 1, kept_max_naive: 1, excluded_pixels: 3, pixels: 12, naive_error: "" };

function explorer(state = {}) {
  const model = new FakeModel({
    _maps: payload(MAPS, "float32", [4, H, W]), _image: null, _edges: payload(EDGES, "uint8", [1]),
    _losses: ["bce", "mse", "l1", "dice"], _full_size: [H, W], stats: STATS,
    loss: "bce", naive: "unmasked", scale: "linear", opacity: 0.6, index: 0, batch_size: 2, error: "", ...state,
  });
  const host = document.createElement("div");
  const cleanup = L.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  return { model, host, cleanup, q };
}

const pixels = (q, key) => Array.from(q(`mb-lossx-canvas-${key}`).pixels);
function expected(k, vmax, opts) {
  const rgba = L.colorizeMap(MAPS.subarray(6 * k, 6 * k + 6), vmax, opts);
  return Array.from(L.drawOutline(rgba, [0, 0, 0, 1, 0, 0]));
}

test("render draws the four maps at the model's scale and opacity, with the outline", () => {
  const { q, cleanup } = explorer();
  assert.deepEqual(pixels(q, "loss_masked"), expected(0, 2, { opacity: 0.6 }));
  assert.deepEqual(pixels(q, "grad_masked"), expected(2, 1, { opacity: 0.6 }));
  assert.deepEqual(pixels(q, "grad_naive"), expected(3, 1, { opacity: 0.6 }));
  assert.deepEqual(pixels(q, "grad_masked").slice(0, 4), [0, 0, 0, 255]); // exact 0: no colour
  assert.equal(q("mb-lossx-opacity").value, "0.6");
  assert.equal(q("mb-lossx-excluded-masked").textContent, "0 (exactly)");
  assert.equal(q("mb-lossx-excluded-naive").textContent, "NaN");
  assert.ok(q("mb-lossx-verdict").classList.contains("mb-lossx-ok"));
  cleanup();
});

test("opacity and log scale are redrawn here in the next frame; loss, naive and batch go to the kernel", async () => {
  const { model, q, cleanup } = explorer();
  model.take();
  const slider = q("mb-lossx-opacity");
  slider.value = "0.25";
  slider.dispatch("input");
  assert.deepEqual(model.take(), [["set", "opacity", 0.25], ["save_changes"]]);
  await dom.flush();
  assert.deepEqual(pixels(q, "grad_naive"), expected(3, 1, { opacity: 0.25 }));
  q("mb-lossx-log").checked = true;
  q("mb-lossx-log").dispatch("change");
  assert.deepEqual(model.take(), [["set", "scale", "log"], ["save_changes"]]);
  await dom.flush();
  assert.deepEqual(pixels(q, "grad_naive"), expected(3, 1, { opacity: 0.25, scale: "log" }));
  assert.ok(Number(q("mb-lossx").dataset.restyleMs) >= 0); // the latency probe saw it
  q("mb-lossx-loss").value = "dice";
  q("mb-lossx-loss").dispatch("change");
  q("mb-lossx-naive").value = "multiply";
  q("mb-lossx-naive").dispatch("change");
  q("mb-lossx-next").click();
  assert.deepEqual(model.take(), [["set", "loss", "dice"], ["save_changes"], ["set", "naive", "multiply"], ["save_changes"],
    ["set", "index", 1], ["save_changes"]]);
  assert.equal(q("mb-lossx-next").disabled, true);
  const index = q("mb-lossx-index");
  index.value = "9"; // not an item: nothing sent, the input shows the current item again
  index.dispatch("change");
  assert.deepEqual(model.take(), []);
  assert.equal(index.value, "2");
  cleanup();
});

test("new maps and stats from the kernel are drawn; errors shown", async () => {
  const { model, q, cleanup } = explorer();
  const root = q("mb-lossx");
  const drawn = Number(root.dataset.drawn);
  const other = MAPS.map((v) => (Number.isNaN(v) ? 0 : 2 * v));
  model.kernelSet("_maps", payload(other, "float32", [4, H, W]));
  model.kernelSet("stats", { ...STATS, excluded_max_masked: 0.1 });
  await dom.flush();
  assert.equal(Number(root.dataset.drawn), drawn + 1);
  assert.equal(q("mb-lossx-excluded-masked").textContent, "0.1000");
  assert.ok(q("mb-lossx-verdict").classList.contains("mb-lossx-bad"));
  q("mb-lossx-frame").dispatch("pointermove", { clientX: 399, clientY: 299 }); // bottom-right pixel of panel 1
  assert.match(q("mb-lossx-readout").textContent, /^pixel \(1, 2\) \u00b7 loss 0 \(exactly\) \| 2\.000/);
  model.kernelSet("error", "loss: bad");
  assert.equal(q("mb-lossx-error").textContent, "loss: bad");
  cleanup();
});

test("cleanup removes every listener and the view; the assembled module is what Python sends", async () => {
  const start = dom.listeners();
  const { model, host, cleanup } = explorer();
  cleanup();
  assert.equal(model.listenerCount(), 0);
  assert.equal(dom.listeners(), start);
  assert.equal(host.children.length, 0);
  const mod = await assembled("loss_explorer");
  assert.equal(typeof mod.default.render, "function");
  assert.equal(L.render, undefined);
});
