// Pure helpers of the Viewer front end (maskbench/widgets/static/viewer.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadWidget } from "./_load.mjs";

const V = await loadWidget("viewer");
// label_palette(3) from maskbench.render, with class 2's alpha lowered to 100
const PALETTE = new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255, 86, 180, 233, 100]);

// The same integer formula as maskbench.render.overlay, written out plainly.
function reference(base, cls, opacity, weight = 1) {
  const a = Math.floor(opacity * PALETTE[4 * cls + 3] * weight + 0.5);
  return [0, 1, 2].map((j) => Math.floor((base[j] * (255 - a) + PALETTE[4 * cls + j] * a + 127) / 255));
}

test("blendOverlay matches the Python overlay formula", () => {
  const rgba = new Uint8ClampedArray([100, 100, 100, 100, 10, 200, 30, 255, 255, 0, 128, 7, 1, 2, 3, 255]);
  const labels = new Uint8Array([0, 1, 2, 1]);
  for (const opacity of [0, 0.25, 0.5, 0.9, 1]) {
    const out = V.blendOverlay(rgba, labels, PALETTE, opacity);
    for (let i = 0; i < 4; i++) {
      const base = Array.from(rgba.slice(4 * i, 4 * i + 4));
      const expected = labels[i] === 0 ? base.slice(0, 3) : reference(base, labels[i], opacity);
      assert.deepEqual(Array.from(out.slice(4 * i, 4 * i + 3)), expected, `pixel ${i} opacity ${opacity}`);
      assert.equal(out[4 * i + 3], rgba[4 * i + 3]); // alpha kept
    }
  }
  // doctest value of maskbench.render.overlay: base 100, class 1, opacity 0.5 -> (165, 130, 50)
  assert.deepEqual(Array.from(V.blendOverlay(rgba, labels, PALETTE, 0.5).slice(0, 3)), [100, 100, 100]);
  const one = V.blendOverlay(new Uint8ClampedArray([100, 100, 100, 100]), new Uint8Array([1]), PALETTE, 0.5);
  assert.deepEqual(Array.from(one), [165, 130, 50, 100]);
});

test("blendOverlay with weights scales the opacity by w = q / 255", () => {
  const rgba = new Uint8ClampedArray([40, 80, 120, 255, 40, 80, 120, 255, 40, 80, 120, 255]);
  const q = new Uint8Array([0, 128, 255]);
  const out = V.blendOverlay(rgba, q, PALETTE, 0.8, "weight");
  assert.deepEqual(Array.from(out.slice(0, 3)), [40, 80, 120]);
  assert.deepEqual(Array.from(out.slice(4, 7)), reference([40, 80, 120], 1, 0.8, 128 / 255));
  assert.deepEqual(Array.from(out.slice(8, 11)), reference([40, 80, 120], 1, 0.8, 1));
});

test("blendOverlay equals the per-pixel formula on random pixels: classes, weights, aligned or not, given out", () => {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const n = 3000, buf = new Uint8ClampedArray(4 * n + 3).map(() => Math.floor(rnd() * 256));
  const ref = (rgba, labels, opacity, weight) => {
    const k = PALETTE.length / 4, out = [];
    for (let i = 0; i < labels.length; i++) {
      const cls = weight ? 1 : labels[i] < k ? labels[i] : 0;
      const a = Math.floor(opacity * PALETTE[4 * cls + 3] * (weight ? labels[i] / 255 : 1) + 0.5);
      for (let j = 0; j < 3; j++) out.push(Math.floor((rgba[4 * i + j] * (255 - a) + PALETTE[4 * cls + j] * a + 127) / 255));
      out.push(rgba[4 * i + 3]);
    }
    return out;
  };
  for (const offset of [0, 1, 2]) {
    const rgba = buf.subarray(offset, offset + 4 * n);
    const ids = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 6)); // ids 3..5: past the palette
    const wide = Uint16Array.from({ length: n }, () => Math.floor(rnd() * 400));
    const q = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
    for (const opacity of [0, 0.37, 1]) {
      assert.deepEqual(Array.from(V.blendOverlay(rgba, ids, PALETTE, opacity)), ref(rgba, ids, opacity, false));
      assert.deepEqual(Array.from(V.blendOverlay(rgba, wide, PALETTE, opacity)), ref(rgba, wide, opacity, false));
      assert.deepEqual(Array.from(V.blendOverlay(rgba, q, PALETTE, opacity, "weight")), ref(rgba, q, opacity, true));
      const out = new Uint8ClampedArray(4 * n + 1).subarray(1); // an unaligned out
      V.blendOverlay(rgba, ids, PALETTE, opacity, "labels", out);
      assert.deepEqual(Array.from(out), ref(rgba, ids, opacity, false));
    }
    assert.deepEqual(Array.from(V.blendOverlay(rgba, Uint16Array.from(q), PALETTE, 0.5, "weight")), ref(rgba, q, 0.5, true));
  }
});

test("blendOverlay treats ids beyond the palette as background", () => {
  const out = V.blendOverlay(new Uint8ClampedArray([9, 9, 9, 255]), new Uint16Array([300]), PALETTE, 1);
  assert.deepEqual(Array.from(out), [9, 9, 9, 255]);
});

test("colorizeMask: class colours on black, weights as grey", () => {
  const out = V.colorizeMask(new Uint8Array([0, 2, 7]), PALETTE);
  assert.deepEqual(Array.from(out), [0, 0, 0, 255, 86, 180, 233, 255, 0, 0, 0, 255]);
  const grey = V.colorizeMask(new Uint8Array([0, 128]), PALETTE, "weight");
  assert.deepEqual(Array.from(grey), [0, 0, 0, 255, 128, 128, 128, 255]);
  // against the per-pixel rule: bytes and uint16 labels (some past the palette), byte weights, into a
  // fresh array, a reused one (table words) and one at an odd offset (byte writes)
  const rule = (labels, kind) => Array.from(labels).flatMap((v) => {
    if (kind === "weight") return [Math.min(v, 255), Math.min(v, 255), Math.min(v, 255), 255];
    return v > 0 && v < PALETTE.length / 4 ? [...PALETTE.slice(4 * v, 4 * v + 3), 255] : [0, 0, 0, 255];
  });
  const n = 301, cases = [
    [Uint8Array.from({ length: n }, (_, i) => (i * 7) % 5), "labels"],
    [Uint16Array.from({ length: n }, (_, i) => (i * 263) % 1000), "labels"],
    [Uint8Array.from({ length: n }, (_, i) => (i * 37) & 255), "weight"],
    [Uint16Array.from({ length: n }, (_, i) => i * 3), "weight"],
  ];
  for (const [labels, kind] of cases) {
    const want = rule(labels, kind), label = `${labels.constructor.name} ${kind}`;
    assert.deepEqual(Array.from(V.colorizeMask(labels, PALETTE, kind)), want, label);
    const reused = new Uint8ClampedArray(4 * n).fill(77);
    assert.equal(V.colorizeMask(labels, PALETTE, kind, reused), reused, label);
    assert.deepEqual(Array.from(reused), want, label);
    const odd = new Uint8ClampedArray(new ArrayBuffer(4 * n + 1), 1, 4 * n).fill(77);
    assert.deepEqual(Array.from(V.colorizeMask(labels, PALETTE, kind, odd)), want, `${label}, odd offset`);
  }
});

test("drawEdges paints only contour pixels of real classes", () => {
  const rgba = new Uint8ClampedArray(12).fill(50);
  V.drawEdges(rgba, new Uint8Array([1, 0, 2]), new Uint8Array([1, 1, 0]), PALETTE);
  assert.deepEqual(Array.from(rgba), [230, 159, 0, 50, 50, 50, 50, 50, 50, 50, 50, 50]);
});

test("unpackBits reads numpy.packbits order (MSB first)", () => {
  assert.deepEqual(Array.from(V.unpackBits(new Uint8Array([0b10100000, 0b1]), 9)), [1, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(V.unpackBits(new Uint8Array([0xff, 0x80]), 9)), [1, 1, 1, 1, 1, 1, 1, 1, 1]);
  // every byte value, odd lengths, into a fresh array (table words) and at an odd offset (a byte at a time)
  for (const n of [1, 7, 8, 9, 2048, 2053]) {
    const packed = Uint8Array.from({ length: Math.ceil(n / 8) }, (_, i) => (i * 37 + 11) & 255);
    const want = Array.from({ length: n }, (_, o) => (packed[o >> 3] >> (7 - (o & 7))) & 1);
    assert.deepEqual(Array.from(V.unpackBits(packed, n)), want, `n ${n}`);
    const odd = new Uint8Array(new ArrayBuffer(n + 1), 1, n);
    assert.equal(V.unpackBits(packed, n, odd), odd);
    assert.deepEqual(Array.from(odd), want, `n ${n}, odd offset`);
  }
});

test("decodeArray handles offsets, uint16 alignment and bad lengths", () => {
  const raw = new Uint8Array([9, 1, 0, 2, 0]);
  const u16 = V.decodeArray({ buffer: new DataView(raw.buffer, 1, 4), dtype: "uint16", shape: [2] });
  assert.deepEqual(Array.from(u16.data), [1, 2]); // odd byteOffset: copied, not misread
  const u8 = V.decodeArray({ buffer: new DataView(raw.buffer, 1, 4), dtype: "uint8", shape: [2, 2] });
  assert.deepEqual(Array.from(u8.data), [1, 0, 2, 0]);
  assert.equal(V.decodeArray(null), null);
  assert.throws(() => V.decodeArray({ buffer: new DataView(raw.buffer), dtype: "uint8", shape: [4] }), /needs 4 items/);
  assert.throws(() => V.decodeArray({ buffer: new DataView(raw.buffer), dtype: "float16", shape: [1] }), /unsupported/);
});

test("zoomAt keeps the point under the cursor fixed and clamps", () => {
  const start = { s: 1, tx: 0, ty: 0 };
  const z = V.zoomAt(start, 2, 0.25, 0.75);
  assert.equal(z.s, 2);
  const before = V.panelToImage(start, 0.25, 0.75, 400, 300);
  const after = V.panelToImage(z, 0.25, 0.75, 400, 300);
  assert.ok(Math.abs(before[0] - after[0]) < 1e-9 && Math.abs(before[1] - after[1]) < 1e-9);
  assert.deepEqual(V.zoomAt(z, 1e-6, 0.5, 0.5), { s: 1, tx: 0, ty: 0 }); // never smaller than the panel
  assert.equal(V.zoomAt(start, 1e6, 0.5, 0.5).s, V.MAX_ZOOM);
  for (const [u, v] of [[0, 0], [1, 1], [0.3, 0.9]]) {
    const w = V.zoomAt(z, 3, u, v);
    assert.ok(w.tx <= 0 && w.tx >= 1 - w.s && w.ty <= 0 && w.ty >= 1 - w.s); // image covers the panel
  }
});

test("panBy moves and clamps; viewTransform renders it", () => {
  const z = { s: 4, tx: -1, ty: -1 };
  assert.deepEqual(V.panBy(z, 0.5, -0.25), { s: 4, tx: -0.5, ty: -1.25 });
  assert.deepEqual(V.panBy(z, 5, -5), { s: 4, tx: 0, ty: -3 });
  assert.deepEqual(V.panBy({ s: 1, tx: 0, ty: 0 }, 0.3, 0.3), { s: 1, tx: 0, ty: 0 });
  assert.equal(V.viewTransform({ s: 2, tx: -0.5, ty: -0.25 }), "translate(-50.0000%, -25.0000%) scale(2.0000)");
});

test("render is the default export, helpers never named render", () => {
  assert.equal(typeof V.default.render, "function");
  assert.equal(V.render, undefined);
});

// composeResult (issue 11 #5): a plain per-pixel reference of the kernel's apply_mask on the proxies
function composeReference(image, labels, fills, mode, kind) {
  const out = [];
  for (let i = 0; i < labels.length; i++) {
    const inMask = kind === "weight" ? labels[i] >= 128 : labels[i] > 0;
    let colour = null;
    if (mode === "keep" && !inMask) colour = fills.slice(0, 4);
    if (mode === "remove" && inMask) colour = fills.slice(0, 4);
    if (mode === "mean" && inMask) colour = fills.slice(4, 8);
    out.push(...(colour ? Array.from(colour) : Array.from(image.slice(4 * i, 4 * i + 4))));
  }
  return out;
}

test("composeResult: keep keeps the mask, remove / mean replace it, for labels and weights", () => {
  const n = 7;
  const image = new Uint8ClampedArray(Array.from({ length: 4 * n }, (_, i) => (53 * i + 11) % 256));
  const fills = new Uint8Array([7, 8, 9, 255, 100, 110, 120, 255]);
  const cases = [
    ["labels", new Uint8Array([0, 1, 2, 0, 3, 0, 1])],
    ["bool", new Uint8Array([1, 0, 0, 1, 1, 0, 0])],
    ["weight", new Uint8Array([0, 127, 128, 255, 12, 200, 128])], // weight >= 0.5 <=> round(w * 255) >= 128
  ];
  for (const [kind, labels] of cases) {
    let out = null;
    for (const mode of ["keep", "remove", "mean", "keep"]) {
      const again = V.composeResult(image, labels, fills, mode, kind, out);
      if (out) assert.equal(again, out); // the buffer is reused
      out = again;
      assert.deepEqual(Array.from(out), composeReference(image, labels, fills, mode, kind), `${kind} ${mode}`);
    }
  }
  assert.deepEqual(V.BROWSER_MODES, ["keep", "remove", "mean"]);
});

test("fillMaskPixels: the image with the mask pixels (raster order) replaced by the kernel's colours", () => {
  const n = 6;
  const image = new Uint8ClampedArray(Array.from({ length: 4 * n }, (_, i) => (29 * i + 5) % 256));
  for (const [kind, labels] of [["labels", new Uint8Array([0, 2, 1, 0, 0, 3])], ["weight", new Uint8Array([0, 200, 128, 127, 0, 255])]]) {
    const colours = new Uint8Array([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]);
    const expected = Array.from(image);
    let q = 0;
    for (let i = 0; i < n; i++) {
      const inMask = kind === "weight" ? labels[i] >= 128 : labels[i] > 0;
      if (inMask) { for (let c = 0; c < 4; c++) expected[4 * i + c] = colours[q + c]; q += 4; }
    }
    assert.deepEqual(Array.from(V.fillMaskPixels(image, labels, colours, kind)), expected, kind);
  }
});

test("composeResult / fillMaskPixels: the same pixels from unaligned views (a reply's buffers) as from aligned arrays", () => {
  const n = 9;
  const at = (src, offset) => { const b = new Uint8Array(src.length + offset); b.set(src, offset); return b.subarray(offset); };
  const image = new Uint8ClampedArray(Array.from({ length: 4 * n }, (_, i) => (31 * i + 7) % 256));
  const labels = new Uint8Array([0, 2, 1, 0, 0, 3, 1, 0, 1]), m = 5;
  const colours = Uint8Array.from({ length: 4 * m }, (_, i) => (11 * i + 3) % 256);
  const fills = new Uint8Array([7, 8, 9, 255, 100, 110, 120, 255]);
  for (const offset of [1, 2, 3]) {
    for (const mode of ["keep", "remove", "mean"]) {
      assert.deepEqual(Array.from(V.composeResult(at(image, offset), labels, fills, mode)), composeReference(image, labels, fills, mode, "labels"));
    }
    const want = Array.from(V.fillMaskPixels(image, labels, colours));
    assert.deepEqual(Array.from(V.fillMaskPixels(at(image, offset), labels, at(colours, offset))), want, `offset ${offset}`);
    const short = Array.from(image); // colours for the first two mask pixels only (pixels 1 and 2): the rest keep the image
    short.splice(4, 8, ...colours.subarray(0, 8));
    assert.deepEqual(Array.from(V.fillMaskPixels(image, labels, at(colours.subarray(0, 8), offset))), short);
  }
});
