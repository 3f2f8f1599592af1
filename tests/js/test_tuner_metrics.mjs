// The Tuner's browser-side metrics (issue 11 item 4) and dataset helpers (issue 15 item 3):
// tuner_core.js grid / count helpers and tuner_dataset.js, against plain per-pixel references.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadWidget } from "./_load.mjs";

const T = await loadWidget("tuner_core");
const D = await import(new URL("../../maskbench/widgets/static/tuner_dataset.js", import.meta.url));
const GRID = Float64Array.from({ length: 1001 }, (_, j) => j / 1000);

function rng(seed) { let s = seed >>> 0; return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32); }

// What the kernel's grid_counts gives, the slow way: threshold at every step and count.
function countsRef(p, g, grid) {
  const out = new Int32Array(4 * grid.length);
  grid.forEach((t, j) => {
    const tf = Math.fround(t); // float32 probabilities compare with t rounded to float32
    for (let i = 0; i < p.length; i++) { const m = p[i] > tf; out[4 * j + (m ? (g[i] ? 0 : 1) : (g[i] ? 2 : 3))]++; }
  });
  return out;
}

test("metricsFromCounts == metrics counted on the thresholded pixels, at every step", () => {
  const r = rng(7), n = 500;
  const p = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? Math.round(r() * 1000) / 1000 : r()));
  const g = Uint8Array.from({ length: n }, () => (r() > 0.5 ? 1 : 0));
  const counts = countsRef(p, g, GRID);
  for (let j = 0; j < GRID.length; j += 7) {
    const got = T.metricsFromCounts(counts, j, true);
    const mask = T.thresholdProxy(p, GRID[j]); // what the overlay shows
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < n; i++) { tp += mask[i] & g[i]; fp += mask[i] & (1 - g[i]); fn += (1 - mask[i]) & g[i]; }
    const q = (a, b) => (b ? a / b : 1);
    assert.deepEqual(got, { foreground: (tp + fp) / n, iou: q(tp, tp + fp + fn), dice: q(2 * tp, 2 * tp + fp + fn), precision: q(tp, tp + fp), recall: q(tp, tp + fn) });
  }
  assert.deepEqual(T.metricsFromCounts(Int32Array.from([0, 0, 0, 9]), 0, true), { foreground: 0, iou: 1, dice: 1, precision: 1, recall: 1 }); // empty: 1.0
  assert.deepEqual(T.metricsFromCounts(Int32Array.from([0, 3, 0, 1]), 0, false), { foreground: 0.75 });
});

test("grid helpers: nearest step, exact position, keyboard steps on the grid", () => {
  assert.equal(T.snapToGrid(GRID, 0.28349), 0.283);
  assert.equal(T.snapToGrid(GRID, 0.2835), 0.283); // a tie goes to the lower step
  assert.equal(T.snapToGrid(GRID, -1), 0);
  assert.equal(T.snapToGrid(GRID, 7), 1);
  assert.equal(T.snapToGrid(null, 0.1234), 0.1234);
  assert.equal(T.gridIndex(GRID, 0.3), 300); // Number("0.3") === 300 / 1000
  assert.equal(T.gridIndex(GRID, 0.3000001), -1);
  assert.equal(T.stepOnGrid(GRID, 0.283, "ArrowRight"), 0.29);
  assert.equal(T.stepOnGrid(GRID, 0.29, "ArrowLeft", true), 0.2); // on the 0.1 grid, like stepThreshold
  const coarse = Float64Array.from({ length: 11 }, (_, j) => j / 10); // coarser than a 0.01 key step
  assert.equal(T.stepOnGrid(coarse, 0.5, "ArrowRight"), 0.6); // still moves one step
  assert.equal(T.stepOnGrid(coarse, 0.5, "ArrowLeft"), 0.4);
  assert.equal(T.stepOnGrid(coarse, 1, "ArrowRight"), 1);
  assert.equal(T.stepOnGrid(coarse, 0.5, "x"), null);
  const f64 = new Float64Array([0.1, 0.25, 1 / 3]);
  const bytes = new Uint8Array(f64.buffer);
  const backing = new Uint8Array(bytes.length + 3);
  backing.set(bytes, 3); // unaligned, as a DataView from the comm may be
  assert.deepEqual(Array.from(T.decodeFloat64({ buffer: new DataView(backing.buffer, 3, 24), dtype: "float64", shape: [3] }).data), [0.1, 0.25, 1 / 3]);
});

test("dataset helpers: per-image and pooled scores, histogram, mean, worst k", () => {
  const r = rng(3), n = 40, t = 6;
  const per = Int32Array.from({ length: n * t * 3 }, () => Math.floor(r() * 5));
  for (let j = 0; j < t; j++) {
    const s = D.perImageScores(per, "counts", n, t, j, "iou");
    for (let i = 0; i < n; i++) {
      const o = 3 * (i * t + j), [tp, fp, fn] = [per[o], per[o + 1], per[o + 2]];
      assert.equal(s[i], tp + fp + fn ? tp / (tp + fp + fn) : 1);
    }
    const pooled = Float64Array.from({ length: t * 3 }, (_, k) => { let a = 0; for (let i = 0; i < n; i++) a += per[3 * (i * t) + k]; return a; });
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < n; i++) { const o = 3 * (i * t + j); tp += per[o]; fp += per[o + 1]; fn += per[o + 2]; }
    assert.equal(D.pooledScore(pooled, j, "dice"), 2 * tp + fp + fn ? (2 * tp) / (2 * tp + fp + fn) : 1);
  }
  const scores = Float64Array.from({ length: n * t }, () => r());
  assert.deepEqual(Array.from(D.perImageScores(scores, "scores", n, t, 2, "iou")), Array.from({ length: n }, (_, i) => scores[i * t + 2]));
  assert.deepEqual(Array.from(D.scoreHistogram([0, 0.05, 0.5, 1, NaN, 0.999], 4)), [2, 0, 1, 2]);
  assert.equal(D.meanScore([0.5, NaN, 1]), 0.75);
  assert.ok(Number.isNaN(D.meanScore([])));
  assert.deepEqual(D.worstK([0.5, 0.2, NaN, 0.2, 0.9], 4), [1, 3, 0, 4]); // ties keep order, NaN last
});
