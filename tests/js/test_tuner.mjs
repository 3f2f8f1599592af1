// Pure helpers of the ThresholdTuner front end (maskbench/widgets/static/tuner_core.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assembled, loadWidget } from "./_load.mjs";

const T = await loadWidget("tuner_core");

// What the kernel sends: {buffer: DataView, dtype, shape} (ipywidgets hands buffers as DataViews).
function payload(typed, dtype, shape, offset = 0) {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  const backing = new Uint8Array(bytes.length + offset);
  backing.set(bytes, offset);
  return { buffer: new DataView(backing.buffer, offset, bytes.length), dtype, shape };
}

test("decodeArray reads uint8 / int32 / float32, aligned or not, and checks the length", () => {
  const f = new Float32Array([0.25, 0.5, 1, 0]);
  for (const offset of [0, 1, 3]) {
    const out = T.decodeArray(payload(f, "float32", [2, 2], offset));
    assert.deepEqual(Array.from(out.data), [0.25, 0.5, 1, 0]);
    assert.deepEqual(out.shape, [2, 2]);
  }
  assert.deepEqual(Array.from(T.decodeArray(payload(new Int32Array([7, -1, 300000]), "int32", [1, 3], 2)).data), [7, -1, 300000]);
  assert.equal(T.decodeArray(null), null);
  assert.throws(() => T.decodeArray(payload(new Uint8Array(5), "uint8", [2, 2])), /needs 4 items, got 5/);
  assert.throws(() => T.decodeArray(payload(new Uint8Array(4), "complex64", [4])), /unsupported dtype/);
});

test("unpackBits follows numpy.packbits (most significant bit first)", () => {
  const bits = [1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0];
  const packed = new Uint8Array(2);
  bits.forEach((b, i) => { packed[i >> 3] |= b << (7 - (i % 8)); });
  assert.deepEqual(Array.from(packed), [0b10110001, 0b11000000]); // numpy.packbits of the same bits
  assert.deepEqual(Array.from(T.unpackBits(packed, bits.length)), bits);
});

test("thresholdProxy on float32 is p > t like torch (t rounded to float32, NaN never in)", () => {
  // maskbench's convention (issue 10 #5): foreground is strictly above the threshold
  const p = new Float32Array([0, 0.3, 0.5, 1, NaN]);
  assert.deepEqual(Array.from(T.thresholdProxy(p, 0.5)), [0, 0, 0, 1, 0]);
  assert.deepEqual(Array.from(T.thresholdProxy(p, 0)), [0, 1, 1, 1, 0]);
  // torch: float32 tensor 0.3 > 0.29999999999 is False (the scalar is compared in float32)
  const justBelow = Math.fround(0.3) - 1e-12;
  assert.ok(p[1] > justBelow);
  assert.equal(T.thresholdProxy(p, justBelow)[1], 0);
  assert.equal(T.thresholdProxy(p, 0.2999999)[1], 1);
});

test("thresholdProxy on uint8 levels is q / 255 > t for every level", () => {
  const q = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (const t of [0, 0.2, 1 / 3, 0.5, 0.7, 128 / 255, 0.999, 1]) {
    const got = T.thresholdProxy(q, t);
    for (let i = 0; i < 256; i++) assert.equal(got[i], i / 255 > t ? 1 : 0, `q=${i} t=${t}`);
  }
  assert.equal(T.levelTable(0.2)[51], 0); // 51 / 255 == 0.2 exactly in doubles, although 0.2 * 255 > 51
  assert.equal(T.levelTable(0.2)[52], 1);
});

test("greyPixels and tintPixels use maskbench.render's formulas", () => {
  assert.deepEqual(Array.from(T.greyPixels(new Float32Array([0, 0.5, 1]))), [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
  assert.deepEqual(Array.from(T.greyPixels(new Uint8Array([7]))), [7, 7, 7, 255]);
  // doctest of maskbench.render.overlay: grey 100, colour (230, 159, 0), opacity 0.5 -> (165, 130, 50)
  const out = T.tintPixels(new Uint8ClampedArray([100, 100, 100, 255]), T.MASK_RGBA, 0.5);
  assert.deepEqual(Array.from(out), [165, 130, 50, 255]);
  const base = new Uint8ClampedArray([10, 200, 30, 77]);
  for (const o of [0, 0.3, 1]) {
    const a = Math.floor(o * 255 + 0.5);
    const ref = [0, 1, 2].map((j) => Math.floor((base[j] * (255 - a) + T.MASK_RGBA[j] * a + 127) / 255));
    assert.deepEqual(Array.from(T.tintPixels(base, T.MASK_RGBA, o)), [...ref, 77]);
  }
});

test("greyPixels and tintPixels equal the plain per-pixel formulas on random pixels, aligned or not", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const n = 5000, buf = new Uint8ClampedArray(4 * n + 3);
  for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rnd() * 256);
  for (const offset of [0, 1, 3]) { // views at an unaligned offset take the byte path
    const base = buf.subarray(offset, offset + 4 * n);
    for (const [colour, o] of [[T.MASK_RGBA, 0.5], [T.REMOVED_RGBA, 0.37], [[12, 250, 99, 200], 1], [[0, 0, 0, 255], 0]]) {
      const a = Math.floor(o * colour[3] + 0.5), got = T.tintPixels(base, colour, o);
      for (let p = 0; p < 4 * n; p++) {
        const want = p % 4 === 3 ? base[p] : Math.floor((base[p] * (255 - a) + colour[p % 4] * a + 127) / 255);
        if (got[p] !== want) assert.fail(`offset ${offset}, colour ${colour}, byte ${p}: ${got[p]} != ${want}`);
      }
    }
  }
  const probs = Float32Array.from({ length: n }, () => rnd() * 1.2 - 0.1); // past [0, 1] too: clamped
  probs.set([NaN, -0, 0.5 / 255, 1.5 / 255, Infinity, -Infinity], 0);
  const grey = T.greyPixels(probs), ref = new Uint8ClampedArray(1);
  for (let i = 0; i < n; i++) {
    ref[0] = Math.round(probs[i] * 255);
    assert.deepEqual(Array.from(grey.subarray(4 * i, 4 * i + 4)), [ref[0], ref[0], ref[0], 255], `probs[${i}] = ${probs[i]}`);
  }
  const levels = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
  assert.deepEqual(Array.from(T.greyPixels(levels)), Array.from(levels).flatMap((v) => [v, v, v, 255]));
});

test("composeOverlay: mask -> tint, removed-by-clean-up, edges on top", () => {
  const px = (r, g, b) => T.packColour([r, g, b, 255]);
  const base = Uint32Array.from([px(1, 1, 1), px(2, 2, 2), px(3, 3, 3), px(4, 4, 4)]);
  const tint = Uint32Array.from([px(9, 0, 0), px(9, 0, 1), px(9, 0, 2), px(9, 0, 3)]);
  const removed = Uint32Array.from([px(0, 9, 0), px(0, 9, 1), px(0, 9, 2), px(0, 9, 3)]);
  const out = new Uint32Array(4);
  T.composeOverlay(out, base, tint, Uint8Array.from([1, 0, 0, 1]));
  assert.deepEqual(Array.from(out), [tint[0], base[1], base[2], tint[3]]);
  T.composeOverlay(out, base, tint, Uint8Array.from([1, 0, 0, 0]), {
    removed32: removed, removedMask: Uint8Array.from([1, 1, 0, 0]), edgeIndex: T.indicesOf([0, 0, 0, 1]), edge32: px(5, 5, 5),
  });
  assert.deepEqual(Array.from(out), [tint[0], removed[1], base[2], px(5, 5, 5)]);
  // against a plain per-pixel reference on random masks (colours with the top bit set included)
  const n = 257;
  const rnd = (k) => Uint32Array.from({ length: n }, (_, i) => (Math.imul(i + k, 2654435761) >>> 0));
  const [b2, t2, r2] = [rnd(1), rnd(2), rnd(3)];
  const m = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
  const rm = Uint8Array.from({ length: n }, (_, i) => (i % 2));
  const got = T.composeOverlay(new Uint32Array(n), b2, t2, m, { removed32: r2, removedMask: rm });
  for (let i = 0; i < n; i++) assert.equal(got[i], m[i] ? t2[i] : rm[i] ? r2[i] : b2[i], `pixel ${i}`);
  assert.deepEqual(Array.from(T.indicesOf(Uint8Array.from([0, 1, 1, 0, 1]))), [1, 2, 4]);
  const bytes = new Uint8ClampedArray(new Uint32Array([T.packColour([1, 2, 3, 4])]).buffer);
  assert.deepEqual(Array.from(bytes), [1, 2, 3, 4]); // canvas byte order on this machine
});

test("valueToX and xToValue are inverse and clamp", () => {
  const pad = { l: 10, r: 5, t: 0, b: 0 };
  for (const v of [0, 0.25, 0.5, 1]) assert.ok(Math.abs(T.xToValue(T.valueToX(v, 215, pad), 215, pad) - v) < 1e-12);
  assert.equal(T.valueToX(0, 215, pad), 10);
  assert.equal(T.valueToX(1, 215, pad), 210);
  assert.equal(T.xToValue(-50, 215, pad), 0);
  assert.equal(T.xToValue(999, 215, pad), 1);
});

test("histogramBars: shared log scale, bars tile the plot width", () => {
  const pad = { l: 4, r: 6, t: 2, b: 8 };
  const counts = Int32Array.from([0, 1, 9, 99, 5, 0, 0, 2]); // 2 rows x 4 bins
  const [neg, pos] = T.histogramBars(counts, 2, 4, 110, 60, { pad });
  const plotH = 60 - 2 - 8;
  assert.equal(neg[3].h, plotH); // the largest count fills the plot, whichever row holds it
  assert.equal(neg[0].h, 0);
  assert.ok(Math.abs(neg[2].h - (Math.log1p(9) / Math.log1p(99)) * plotH) < 1e-9);
  assert.ok(Math.abs(pos[3].h - (Math.log1p(2) / Math.log1p(99)) * plotH) < 1e-9);
  for (const b of neg) assert.ok(Math.abs(b.y + b.h - (pad.t + plotH)) < 1e-9); // bars stand on the axis
  assert.equal(neg[0].x, pad.l);
  assert.ok(Math.abs(neg[3].x + neg[3].w - (110 - pad.r)) < 1e-9);
  const linear = T.histogramBars(counts, 2, 4, 110, 60, { pad, log: false });
  assert.ok(Math.abs(linear[0][2].h - (9 / 99) * plotH) < 1e-9);
  assert.ok(T.histogramBars(new Int32Array(4), 1, 4, 50, 50)[0].every((b) => b.h === 0)); // empty: no NaN
});

test("interpolate and curvePoints", () => {
  const xs = [0, 0.5, 1], ys = [0, 1, 0.5];
  assert.equal(T.interpolate(xs, ys, 0.25), 0.5);
  assert.equal(T.interpolate(xs, ys, 0.75), 0.75);
  assert.equal(T.interpolate(xs, ys, -1), 0);
  assert.equal(T.interpolate(xs, ys, 2), 0.5);
  const pad = { l: 0, r: 0, t: 0, b: 0 };
  assert.deepEqual(T.curvePoints(xs, ys, 100, 10, pad), [[0, 10], [50, 0], [100, 5]]);
});

test("stepThreshold: arrows, shift, pages, ends, clamping and clean decimals", () => {
  assert.equal(T.stepThreshold(0.5, "ArrowRight"), 0.51);
  assert.equal(T.stepThreshold(0.5, "ArrowDown"), 0.49);
  assert.equal(T.stepThreshold(0.2, "ArrowUp", true), 0.3); // not 0.30000000000000004
  assert.equal(T.stepThreshold(0.95, "PageUp"), 1);
  assert.equal(T.stepThreshold(0.004, "ArrowLeft"), 0);
  assert.equal(T.stepThreshold(0.4, "Home"), 0);
  assert.equal(T.stepThreshold(0.4, "End"), 1);
  assert.equal(T.stepThreshold(0.4, "a"), null);
});

function fakeClock() {
  const c = { t: 0, timers: [], now: () => c.t };
  c.set = (fn, ms) => { const id = { fn, at: c.t + ms }; c.timers.push(id); return id; };
  c.clear = (id) => { c.timers = c.timers.filter((x) => x !== id); };
  c.advance = (ms) => {
    c.t += ms;
    for (const id of c.timers.filter((x) => x.at <= c.t)) { c.clear(id); id.fn(); }
  };
  return c;
}

test("createThrottle: leading send, newest value trailing, at most one per interval, flush on release", () => {
  const clock = fakeClock();
  const sent = [];
  const th = T.createThrottle((v) => sent.push([clock.t, v]), 100, clock);
  th.push(0.1); // leading edge: at once
  th.push(0.2);
  th.push(0.3); // only the newest pending value is sent
  assert.deepEqual(sent, [[0, 0.1]]);
  assert.ok(th.pending);
  clock.advance(60);
  assert.equal(sent.length, 1);
  clock.advance(40);
  assert.deepEqual(sent, [[0, 0.1], [100, 0.3]]);
  for (let i = 0; i < 20; i++) { clock.advance(10); th.push(0.4 + i / 100); } // a 200 ms drag
  const times = sent.map(([t]) => t);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 100, `sends ${times}`);
  th.flush(); // pointer released: the last value goes now
  assert.equal(sent.at(-1)[1], 0.4 + 19 / 100);
  const n = sent.length;
  th.flush(); // nothing pending: nothing sent twice
  clock.advance(500);
  assert.equal(sent.length, n);
  th.push(0.9);
  th.push(0.95);
  th.cancel();
  clock.advance(500);
  assert.deepEqual(sent.at(-1), [clock.t - 500, 0.9]);
  assert.ok(!th.pending);
});

test("formatMetric", () => {
  assert.equal(T.formatMetric(0.87349), "0.873");
  assert.equal(T.formatMetric(1), "1.000");
  assert.equal(T.formatMetric(undefined), "\u2013");
  assert.equal(T.formatMetric(NaN), "\u2013");
});

test("the assembled module is valid: what tuner.py sends as _esm", async () => {
  const mod = await assembled("tuner");
  assert.equal(typeof mod.default.render, "function");
  assert.equal(typeof mod.createThrottle, "function");
});

test("fitCanvas leaves a canvas with no box alone (issue 13 #2: charts collapsed to 1x1 on a theme switch)", () => {
  const canvas = { width: 600, height: 224, getBoundingClientRect: () => ({ width: 0, height: 0 }), getContext: () => assert.fail("drawn") };
  assert.equal(T.fitCanvas(canvas), null);
  assert.deepEqual([canvas.width, canvas.height], [600, 224]);
  T.drawHistogram(canvas, { data: new Int32Array(4), shape: [1, 4] }, 0.5, "#888"); // no throw, no drawing
  T.drawCurves(canvas, { data: new Float32Array(6), shape: [3, 2] }, 0.5, {}, "#888");
});
