// Pure helpers of the Painter front end (maskbench/widgets/static/painter.js) against brute-force
// references written out plainly (the same rules as maskbench.kernels.paint).
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadWidget } from "./_load.mjs";

const P = await loadWidget("painter");

// deterministic pseudo-random numbers (mulberry32)
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function strokeReference(w, h, pts, radius) {
  const out = new Uint8Array(w * h);
  const n = pts.length / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let best = Infinity;
      for (let i = 0; i < Math.max(1, n - 1); i++) {
        const [ar, ac] = [pts[2 * i], pts[2 * i + 1]];
        const [br, bc] = n > 1 ? [pts[2 * i + 2], pts[2 * i + 3]] : [ar, ac];
        const [dr, dc] = [br - ar, bc - ac];
        const len2 = dr * dr + dc * dc;
        const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((y - ar) * dr + (x - ac) * dc) / len2));
        best = Math.min(best, (y - ar - t * dr) ** 2 + (x - ac - t * dc) ** 2);
      }
      if (best <= radius * radius) out[y * w + x] = 1;
    }
  }
  return out;
}

function pnpoly(w, h, v) {
  const out = new Uint8Array(w * h);
  const n = v.length / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let inside = false;
      for (let i = 0; i < n; i++) {
        const j = (i + 1) % n;
        const [ar, ac, br, bc] = [v[2 * i], v[2 * i + 1], v[2 * j], v[2 * j + 1]];
        if ((ar > y) !== (br > y) && x < ((bc - ac) * (y - ar)) / (br - ar) + ac) inside = !inside;
      }
      out[y * w + x] = inside ? 1 : 0;
    }
  }
  return out;
}

function boxOf(labels, w) {
  let box = null;
  labels.forEach((v, i) => {
    if (!v) return;
    const y = Math.floor(i / w), x = i % w;
    box = box ? [Math.min(box[0], y), Math.max(box[1], y + 1), Math.min(box[2], x), Math.max(box[3], x + 1)] : [y, y + 1, x, x + 1];
  });
  return box;
}

test("rasterStroke matches the capsule distance rule and reports a box holding every change", () => {
  const rand = rng(1);
  for (let trial = 0; trial < 150; trial++) {
    const w = 1 + Math.floor(rand() * 20), h = 1 + Math.floor(rand() * 20);
    const n = 1 + Math.floor(rand() * 5);
    const pts = Array.from({ length: 2 * n }, () => rand() * 28 - 4);
    const radius = rand() < 0.2 ? Math.floor(rand() * 4) : rand() * 5;
    const got = new Uint8Array(w * h);
    const box = P.rasterStroke(got, w, h, pts, radius, 1);
    const ref = strokeReference(w, h, pts, radius);
    assert.deepEqual(got, ref, JSON.stringify({ w, h, pts, radius }));
    const tight = boxOf(got, w);
    if (tight) assert.ok(box[0] <= tight[0] && box[1] >= tight[1] && box[2] <= tight[2] && box[3] >= tight[3]);
  }
});

test("rasterStroke: a single point paints the digital disc, radius 0 the centre line", () => {
  const disc = new Uint8Array(21 * 21);
  P.rasterStroke(disc, 21, 21, [10, 10], 4, 3);
  assert.equal(disc.filter((v) => v === 3).length, 49);
  const line = new Uint8Array(9 * 5);
  P.rasterStroke(line, 9, 5, [2, 1, 2, 7], 0, 1);
  assert.deepEqual([...line.slice(18, 27)], [0, 1, 1, 1, 1, 1, 1, 1, 0]);
  assert.equal(P.rasterStroke(new Uint8Array(4), 2, 2, [-9, -9], 1, 1), null);
});

test("rasterPolygon matches pnpoly, with float and integer vertices (edges through pixel centres)", () => {
  const rand = rng(2);
  for (let trial = 0; trial < 150; trial++) {
    const w = 1 + Math.floor(rand() * 16), h = 1 + Math.floor(rand() * 16);
    const n = 3 + Math.floor(rand() * 5);
    const integer = trial % 2 === 0;
    const v = Array.from({ length: 2 * n }, () => (integer ? Math.floor(rand() * 18) - 2 : rand() * 22 - 3));
    const got = new Uint8Array(w * h);
    P.rasterPolygon(got, w, h, v, 1);
    assert.deepEqual(got, pnpoly(w, h, v), JSON.stringify({ w, h, v }));
  }
  // a square with edges between pixel centres covers exactly its 3x3 pixels
  const sq = new Uint8Array(25);
  assert.deepEqual(P.rasterPolygon(sq, 5, 5, [0.5, 0.5, 0.5, 3.5, 3.5, 3.5, 3.5, 0.5], 2), [1, 4, 1, 4]);
  assert.equal(sq.filter((x) => x === 2).length, 9);
  assert.equal(P.rasterPolygon(new Uint8Array(4), 2, 2, [0, 0, 1, 1], 1), null);
});

test("floodFill fills exactly the 4-connected region of the seed's label", () => {
  const rand = rng(3);
  for (let trial = 0; trial < 100; trial++) {
    const w = 1 + Math.floor(rand() * 12), h = 1 + Math.floor(rand() * 12);
    const labels = Uint8Array.from({ length: w * h }, () => Math.floor(rand() * 3));
    const r = Math.floor(rand() * h), c = Math.floor(rand() * w);
    // reference: breadth-first search
    const target = labels[r * w + c], seen = new Uint8Array(w * h), queue = [[r, c]];
    seen[r * w + c] = 1;
    while (queue.length) {
      const [y, x] = queue.shift();
      for (const [dy, dx] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w && !seen[yy * w + xx] && labels[yy * w + xx] === target) {
          seen[yy * w + xx] = 1;
          queue.push([yy, xx]);
        }
      }
    }
    const got = Uint8Array.from(labels);
    const box = P.floodFill(got, w, h, r, c, 7);
    const expected = labels.map((v, i) => (seen[i] ? 7 : v));
    if (target === 7) assert.equal(box, null);
    assert.deepEqual(got, expected);
  }
  assert.equal(P.floodFill(new Uint8Array(4), 2, 2, 5, 0, 1), null);
});

test("view transforms: fit centres, screen <-> image are inverse, zoom keeps the cursor's pixel", () => {
  const geo = { H: 4096, W: 2048, dh: 1024, dw: 512 };
  const fit = P.fitView(800, 600, geo.dw, geo.dh);
  assert.equal(fit.scale, 600 / 1024);
  assert.equal(fit.ty, 0);
  assert.equal(fit.tx, (800 - 512 * fit.scale) / 2);
  // the top-left image corner (-0.5, -0.5) sits at the proxy's top-left corner on screen
  assert.deepEqual(P.screenToImage(fit, fit.tx, fit.ty, geo), [-0.5, -0.5]);
  const rand = rng(4);
  let view = fit;
  for (let i = 0; i < 50; i++) {
    const sx = rand() * 800, sy = rand() * 600;
    const before = P.screenToImage(view, sx, sy, geo);
    view = P.zoomAt(view, sx, sy, 0.5 + rand() * 2);
    const after = P.screenToImage(view, sx, sy, geo);
    assert.ok(Math.abs(before[0] - after[0]) < 1e-6 && Math.abs(before[1] - after[1]) < 1e-6);
    const [rx, ry] = P.imageToScreen(view, ...after, geo);
    assert.ok(Math.abs(rx - sx) < 1e-6 && Math.abs(ry - sy) < 1e-6);
  }
  assert.equal(P.zoomAt(fit, 0, 0, 1e9, 0.1, 8).scale, 8);
  assert.equal(P.zoomAt(fit, 0, 0, 1e-9, 0.1, 8).scale, 0.1);
});

test("imageToProxy maps pixel centres to block centres, clampToImage to the accepted extent", () => {
  assert.deepEqual(P.imageToProxy(7, 3, { H: 10, W: 10, dh: 10, dw: 10 }), [7, 3]);
  assert.deepEqual(P.imageToProxy(1.5, 5.5, { H: 8, W: 8, dh: 2, dw: 2 }), [0, 1]);
  const geo = { H: 10, W: 20, dh: 10, dw: 20 };
  assert.deepEqual(P.clampToImage(-3, 25, geo), [-0.5, 19.5]);
  assert.deepEqual(P.clampToImage(4.25, 7, geo), [4.25, 7]);
});

test("codecs: decodeArray copies out of a DataView window, packPoints is little-endian float32", () => {
  const backing = new Uint8Array([9, 9, 1, 2, 3, 4, 5, 6, 9]);
  const value = { buffer: new DataView(backing.buffer, 2, 6), dtype: "uint8", shape: [2, 3] };
  const out = P.decodeArray(value);
  assert.deepEqual([...out.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(out.shape, [2, 3]);
  out.data[0] = 42;
  assert.equal(backing[2], 1); // a copy: painting the proxy never writes into the message
  assert.deepEqual([...P.decodeArray({ buffer: new Uint8Array([7]).buffer, shape: [1] }).data], [7]);
  assert.equal(P.decodeArray(null), null);
  const packed = P.packPoints([1.5, -0.5, 1023.25, 7]);
  assert.equal(packed.byteLength, 16);
  const dv = new DataView(packed.buffer);
  assert.equal(dv.getFloat32(0, true), 1.5);
  assert.equal(dv.getFloat32(8, true), 1023.25);
});

test("colorize writes palette colours inside the box only", () => {
  const palette = new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255, 86, 180, 233, 255]);
  const labels = new Uint8Array([0, 1, 2, 9]);
  const rgba = new Uint8ClampedArray(16).fill(5);
  P.colorize(rgba, labels, 2, palette, [0, 2, 1, 2]); // column 1 only
  assert.deepEqual([...rgba], [5, 5, 5, 5, 230, 159, 0, 255, 5, 5, 5, 5, 0, 0, 0, 0]); // 9 >= K: transparent
});
