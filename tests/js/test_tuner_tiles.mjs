// The Tuner's tiles past its proxy (issue 12): which tiles it asks for, and the overlay it composes
// from the kernel's tiles: p > t per frame on real values, the cleaned mask + what clean-up removed,
// the target's outline across tile boundaries (from the neighbouring tiles), drawn at their place.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeElement, FakeModel, installDom } from "./_fake.mjs";

installDom();
const T = {
  ...(await import(new URL("../../maskbench/widgets/static/shared.js", import.meta.url))),
  ...(await import(new URL("../../maskbench/widgets/static/probes.js", import.meta.url))),
  ...(await import(new URL("../../maskbench/widgets/static/tuner_core.js", import.meta.url))),
  ...(await import(new URL("../../maskbench/widgets/static/tuner_dom.js", import.meta.url))),
  ...(await import(new URL("../../maskbench/widgets/static/tuner_stage.js", import.meta.url))),
  ...(await import(new URL("../../maskbench/widgets/static/tuner_tiles.js", import.meta.url))),
};

const H = 300, W = 280; // level 0: 2 x 2 tiles (256 + 44 rows, 256 + 24 cols); level 1 is one tile
const P = new Float32Array(H * W), G = new Uint8Array(H * W), M = new Uint8Array(H * W);
for (let y = 0; y < H; y++) {
  for (let x = 0; x < W; x++) {
    const i = y * W + x;
    P[i] = [0.25, 0.5, 0.5000001, 0.75][(x * 7 + y * 3) % 4]; // 0.5 itself is not in: p > t
    // a disc across the tile boundary at row 256, and dots on the first row / column of the next tiles
    G[i] = (y - 256) ** 2 + (x - 200) ** 2 < 40 ** 2 || (y === 256 && x % 3 === 0) || (x === 256 && y % 4 === 0) ? 1 : 0;
    // bands along the boundaries: the outline of row / column 255 depends on the next tile's dots
    if ((y >= 250 && y <= 255 && x < 150) || (x >= 250 && x <= 255 && y < 100)) G[i] = 1;
    M[i] = P[i] > 0.5 && x % 5 !== 0 ? 1 : 0; // "cleaned": some of p > t removed
  }
}
const box = (r, c) => [r * 256, Math.min(H, (r + 1) * 256), c * 256, Math.min(W, (c + 1) * 256)];
function cut(src, r, c) {
  const [r0, r1, c0, c1] = box(r, c), w = c1 - c0, out = new src.constructor((r1 - r0) * w);
  for (let y = r0; y < r1; y++) out.set(src.subarray(y * W + c0, y * W + c1), (y - r0) * w);
  return { data: out, h: r1 - r0, w };
}
// the whole-map outline rule (_tuner_core.outline): set, with a 4-neighbour unset or outside the image
const edgeAt = (y, x) => G[y * W + x] === 1 && [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]]
  .some(([v, u]) => v < 0 || u < 0 || v >= H || u >= W || !G[v * W + u]);

function setup(layers, look) {
  const model = new FakeModel({ _tiles_info: { tile: 256, shape: [H, W], levels: 2, layers } });
  const root = new FakeElement("div");
  const stage = { size: [400, 300], schedule() {}, paints: 0, paint() { this.paints++; } };
  const overlay = T.createTileOverlay({ model, root, probes: T.createProbes(root), stage, look: () => look });
  const draws = [];
  const ctx = new Proxy({}, { get: (_, k) => (k === "drawImage" ? (...a) => draws.push(a) : () => {}) });
  const reply = (keys) => {
    const tiles = [], buffers = [];
    for (const [layer, level, r, c] of keys) {
      assert.equal(level, 0);
      const src = { prob: P, target: G, mask: M }[layer], t = cut(src, r, c);
      tiles.push({ layer, level, row: r, col: c, h: t.h, w: t.w, dtype: layer === "prob" ? "float32" : "uint8", channels: 1, version: layers[layer].version });
      buffers.push(new DataView(t.data.buffer));
    }
    return [{ type: "tiles", id: model.calls.at(-1)[1].id, tiles, dropped: 0 }, buffers];
  };
  return { model, root, overlay, ctx, draws, reply, stage };
}
const LOOK = { t: 0.5, opacity: 0.5, useKernel: false, cleaned: false, showTarget: true, proxy: [140, 150], exact: true };
const VIEW = { scale: 2, tx: 0, ty: 0 }; // 2 screen px per image px: rows 0..149, cols 0..199 in view

test("past the proxy: the tiles in view are asked for first (centre first), then a margin around them", () => {
  const { model, root, overlay, ctx, reply, stage } = setup({ prob: { version: 3 }, target: { version: 4 } }, LOOK);
  assert.equal(overlay.prepare(VIEW), false); // nothing here yet: the proxy shows
  overlay.draw(ctx);
  const sent = () => model.calls.filter((c) => c[0] === "send").map((c) => c[1].keys);
  // tile (0, 0) is in view: its probabilities and target, and the target's neighbours (its outline)
  assert.deepEqual(sent(), [[["prob", 0, 0, 0], ["target", 0, 0, 0], ["target", 0, 0, 1], ["target", 0, 1, 0], ["target", 0, 1, 1]]]);
  assert.equal(root.dataset.tileLevel, "0");
  assert.equal(root.dataset.tilesMissing, "1");
  overlay.receive(...reply(sent()[0]));
  assert.equal(stage.paints, 1); // a reply is drawn at once, not in a later animation frame
  assert.equal(overlay.prepare(VIEW), true);
  assert.deepEqual(sent()[1], [["prob", 0, 0, 1], ["prob", 0, 1, 0], ["prob", 0, 1, 1]]); // then the margin
  // at the fitted scale the float32 proxy is as fine as level 1: the proxy alone, no request
  const fitted = setup({ prob: { version: 1 } }, LOOK);
  fitted.overlay.prepare({ scale: 0.5, tx: 0, ty: 0 }); fitted.overlay.draw(fitted.ctx);
  assert.equal(fitted.root.dataset.tileLevel, "proxy");
  assert.equal(fitted.model.calls.length, 0);
  // ... unless it is uint8 levels (p > t not exact there): then level 1's float32 tiles are asked for
  const levels = setup({ prob: { version: 1 } }, { ...LOOK, exact: false });
  levels.overlay.prepare({ scale: 0.5, tx: 0, ty: 0 }); levels.overlay.draw(levels.ctx);
  assert.deepEqual(levels.model.calls[0][1].keys, [["prob", 1, 0, 0]]);
});

// the first differing pixel (a deepEqual diff of 65536 numbers would take the reporter minutes)
function samePixels(got, want) {
  assert.equal(got.length, want.length);
  const i = got.findIndex((v, k) => v !== want[k]);
  assert.equal(i, -1, i < 0 ? "" : `pixel ${i} (row ${i >> 8}, col ${i & 255}): ${got[i]} != ${want[i]}`);
}

function pixelsOf(canvas) {
  const px = canvas.getContext("2d").puts.at(-1).img.data;
  return new Uint32Array(px.buffer, px.byteOffset, px.length / 4);
}

test("the composed tile: p > t at the slider's value, the target outline across tile boundaries", () => {
  const s = setup({ prob: { version: 3 }, target: { version: 4 } }, { ...LOOK });
  s.overlay.prepare(VIEW); s.overlay.draw(s.ctx);
  // only tile (0, 0)'s own tiles first: its bottom row borders a tile not here yet (no outline there)
  const first = s.model.calls.at(-1)[1].keys.slice(0, 2);
  s.overlay.receive(...s.reply(first));
  s.draws.length = 0;
  assert.equal(s.overlay.prepare(VIEW), true); // every tile in view is here: the stage skips the proxy
  s.overlay.draw(s.ctx);
  assert.equal(s.draws.length, 1);
  const [canvas, sx, sy, sw, sh, dx, dy, dw, dh] = s.draws[0];
  assert.deepEqual([sx, sy, sw, sh, dx, dy, dw, dh], [0, 0, 256, 256, 0, 0, 256, 256]); // image px (the view transform is the stage's)
  const base = (i) => { const g = Math.round(P[i] * 255); return [g, g, g, 255]; };
  const tint = (i) => T.tintPixels(new Uint8ClampedArray(base(i)), T.MASK_RGBA, 0.5);
  const edge = T.packColour([...T.EDGE_RGB, 255]);
  const expect = (t, outline) => {
    const out = new Uint32Array(256 * 256);
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) {
        const i = y * W + x;
        out[y * 256 + x] = outline(y, x) ? edge : T.packColour(Array.from(P[i] > Math.fround(t) ? tint(i) : base(i)));
      }
    }
    return out;
  };
  // the next tiles' pixels (row / column 256) count as set until they come
  const alone = (y, x) => G[y * W + x] === 1 && (y === 0 || x === 0 || !G[(y - 1) * W + x] || !G[y * W + x - 1]
    || (x < 255 && !G[y * W + x + 1]) || (y < 255 && !G[(y + 1) * W + x]));
  samePixels(pixelsOf(canvas), expect(0.5, alone));
  // the neighbours arrive: the outline along row 255 is the whole map's
  s.overlay.receive(...s.reply(s.model.calls.at(-1)[1].keys));
  s.overlay.prepare(VIEW); s.overlay.draw(s.ctx);
  samePixels(pixelsOf(s.draws.at(-1)[0]), expect(0.5, edgeAt));
  assert.equal(s.root.dataset.tilesMissing, "0");
});

test("a slider value re-thresholds the same tiles; the cleaned mask shows what clean-up removed", () => {
  const look = { ...LOOK, showTarget: false };
  const s = setup({ prob: { version: 1 }, mask: { version: 9 } }, look);
  s.overlay.prepare(VIEW); s.overlay.draw(s.ctx);
  s.overlay.receive(...s.reply(s.model.calls.at(-1)[1].keys));
  s.overlay.prepare(VIEW); // the margin's tiles
  s.overlay.receive(...s.reply(s.model.calls.at(-1)[1].keys));
  const base = (i) => { const g = Math.round(P[i] * 255); return new Uint8ClampedArray([g, g, g, 255]); };
  const colour = (i, rgba) => T.packColour(Array.from(T.tintPixels(base(i), rgba, 0.5)));
  const check = (fn) => {
    s.overlay.prepare(VIEW); s.overlay.draw(s.ctx);
    const px = pixelsOf(s.draws.at(-1)[0]);
    for (let y = 0; y < 256; y += 3) for (let x = 0; x < 256; x += 5) assert.equal(px[y * 256 + x], fn(y * W + x), `${y},${x}`);
  };
  for (const t of [0.5, 0.3, 0.5000001]) {
    look.t = t;
    check((i) => (P[i] > Math.fround(t) ? colour(i, T.MASK_RGBA) : T.packColour(Array.from(base(i)))));
  }
  Object.assign(look, { t: 0.5, useKernel: true, cleaned: true }); // the kernel's cleaned mask at this threshold
  s.draws.length = 0;
  s.overlay.prepare(VIEW); s.overlay.draw(s.ctx); // its tiles are asked for; until they come, nothing is drawn over the proxy
  assert.equal(s.draws.length, 0);
  assert.deepEqual(s.model.calls.at(-1)[1].keys[0], ["mask", 0, 0, 0]);
  s.overlay.receive(...s.reply(s.model.calls.at(-1)[1].keys));
  check((i) => (M[i] ? colour(i, T.MASK_RGBA) : P[i] > 0.5 ? colour(i, T.REMOVED_RGBA) : T.packColour(Array.from(base(i)))));
});

test("tileOutline equals the whole-map outline on every tile once the neighbours are known", () => {
  for (const [r, c] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
    const t = cut(G, r, c), [r0, , c0] = box(r, c);
    const nb = (rr, cc) => (rr < 0 || cc < 0 || rr > 1 || cc > 1 ? null : cut(G, rr, cc));
    const up = nb(r - 1, c), down = nb(r + 1, c), left = nb(r, c - 1), right = nb(r, c + 1);
    const col = (x, k) => Uint8Array.from({ length: x.h }, (_, y) => x.data[y * x.w + k]);
    const got = T.tileOutline(t.data, t.w, t.h, {
      up: up && up.data.subarray((up.h - 1) * up.w), down: down && down.data.subarray(0, down.w),
      left: left && col(left, left.w - 1), right: right && col(right, 0),
    });
    const want = [];
    for (let y = 0; y < t.h; y++) for (let x = 0; x < t.w; x++) if (edgeAt(r0 + y, c0 + x)) want.push(y * t.w + x);
    assert.deepEqual(Array.from(got), want, `tile ${r},${c}`);
  }
});
