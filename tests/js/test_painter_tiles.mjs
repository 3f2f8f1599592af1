// The Painter's level-of-detail tiles (issue 12): previews painted into label tiles with the kernel's
// rules (windowed rasterisers), the kernel's change re-keying cached tiles, the tile layer asking for
// and drawing tiles only when the proxy is magnified, and its wiring in the widget (fake model + DOM).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
const P = await loadWidget("painter");
const D = await import("../../maskbench/widgets/static/painter_dom.js");
const T = await import("../../maskbench/widgets/static/tiles.js");

function rng(seed) {
  let x = seed >>> 0;
  return () => ((x = (x * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test("windowed rasterStroke / rasterPolygon equal the window of the whole-image raster", () => {
  const rand = rng(7), H = 90, W = 120;
  for (let trial = 0; trial < 40; trial++) {
    const n = 1 + Math.floor(rand() * 6), pts = [];
    for (let i = 0; i < 2 * n; i++) pts.push(rand() * (i % 2 ? W : H) - 0.5);
    const radius = [0, 0.5, 1, 2.5, 6][trial % 5], lasso = trial % 4 === 3 && n >= 3;
    const whole = new Uint8Array(H * W);
    if (lasso) P.rasterPolygon(whole, W, H, pts, 2); else P.rasterStroke(whole, W, H, pts, radius, 2);
    const oy = Math.floor(rand() * 60), ox = Math.floor(rand() * 80), h = 30, w = 40;
    const win = new Uint8Array(h * w);
    const box = lasso ? P.rasterPolygon(win, w, h, pts, 2, -1, oy, ox) : P.rasterStroke(win, w, h, pts, radius, 2, -1, oy, ox);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      assert.equal(win[y * w + x], whole[(y + oy) * W + x + ox], `trial ${trial} at ${y + oy},${x + ox}`);
      if (win[y * w + x]) assert.ok(box && y >= box[0] && y < box[1] && x >= box[2] && x < box[3]);
    }
  }
});

test("paintTileOp at level 0 uses the Float32 points the kernel gets", () => {
  const op = { kind: "stroke", image: [10.3000001, 5.1, 10.3000001, 40.7], radius: 2, value: 3 };
  const a = new Uint8Array(256 * 256), b = new Uint8Array(256 * 256);
  D.paintTileOp(a, 256, 256, 0, 0, 0, op);
  P.rasterStroke(b, 256, 256, Array.from(Float32Array.from(op.image)), 2, 3);
  assert.deepEqual(a, b);
  assert.equal(D.paintTileOp(a, 256, 256, 0, 0, 0, { kind: "fill", row: 1, col: 1, value: 1 }), null);
  assert.deepEqual(D.opBounds(op), [7, 15, 2, 45]);
});

test("a kernel change re-keys untouched tiles, writes its box into level-0 tiles, and drops touched coarse ones", () => {
  const cache = P.createTileCache(1 << 20);
  const tile = (level, row, col, fill) => ({ layer: "labels", level, row, col, h: 256, w: 256, dtype: "uint8", channels: 1, version: 4, data: new Uint8Array(65536).fill(fill) });
  for (const t of [tile(0, 0, 0, 0), tile(0, 0, 1, 0), tile(1, 0, 0, 0)]) cache.set(P.tileKey("labels", t.level, t.row, t.col, 4), t, 65536);
  const full = new Uint8Array(2 * 3).fill(1); // rows 10..11, cols 20..22 become 1
  const moved = D.rekeyLabelTiles(cache, { from: 4, version: 5, box: [10, 20, 2, 3] }, full);
  assert.equal(moved, 2);
  const a = cache.get(P.tileKey("labels", 0, 0, 0, 5)), b = cache.get(P.tileKey("labels", 0, 0, 1, 5));
  assert.equal(a.data[10 * 256 + 20], 1);
  assert.equal(a.data[11 * 256 + 22], 1);
  assert.equal(a.data[12 * 256 + 20], 0);
  assert.equal(a.data.reduce((s, v) => s + v, 0), 6);
  assert.equal(cache.get(P.tileKey("labels", 0, 0, 0, 4)).data[10 * 256 + 20], 0); // the old version is untouched
  assert.equal(b.data, cache.get(P.tileKey("labels", 0, 0, 1, 4)).data); // untouched: the same bytes
  assert.equal(cache.has(P.tileKey("labels", 1, 0, 0, 5)), false); // level 1 over the box: fetched again
  assert.equal(D.rekeyLabelTiles(cache, { from: 5, version: 6, box: [10, 20, 2, 3] }, null), 1); // no labels: only untouched
});

test("tile copies show the edits in flight and the kernel's truth afterwards", () => {
  const edits = D.createTileEdits();
  const base = { level: 0, row: 0, col: 0, h: 256, w: 256, version: 2, data: new Uint8Array(65536) };
  const op = { kind: "stroke", image: [5, 5], radius: 1, value: 1 };
  const cp = edits.make(base, [op]);
  assert.equal(cp.shown[5 * 256 + 5], 1);
  assert.equal(cp.shown[5 * 256 + 7], 0);
  op.image.push(5, 9); // the stroke goes on
  edits.extend(op);
  assert.equal(cp.shown[5 * 256 + 7], 1);
  // the kernel painted rows 4..6, cols 4..10 (say): a change with the box's labels
  const full = new Uint8Array(3 * 7);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 7; x++) full[y * 7 + x] = cp.shown[(4 + y) * 256 + 4 + x];
  edits.confirm({ from: 2, version: 3, box: [4, 4, 3, 7] }, full, op, []);
  assert.equal(cp.version, 3);
  assert.deepEqual(cp.shown, cp.base);
  edits.prune(3, false);
  assert.equal(edits.copies.size, 0);
  // a coarse copy the change touched keeps the confirmed edit painted until a fresh tile comes
  const coarse = edits.make({ ...base, level: 1 }, [op]);
  edits.confirm({ from: 2, version: 4, box: [4, 4, 3, 7] }, null, op, []);
  assert.equal(coarse.version, 2);
  assert.equal(coarse.extra.length, 1);
  assert.ok(coarse.shown.some((v) => v === 1));
  edits.prune(4, false);
  assert.equal(edits.copies.size, 1);
  edits.rebase(coarse, { ...base, level: 1, version: 4 }, []);
  edits.prune(4, false);
  assert.equal(edits.copies.size, 0);
});

function layerWith(shape = [2048, 2048], levels = 4, settleMs = 0) {
  const sent = [];
  const layer = D.createTileLayer((msg) => sent.push(msg), () => {}, settleMs);
  layer.setInfo({ tile: 256, shape, levels, layers: { image: { dtype: "uint8", channels: 4, version: 1 }, labels: { dtype: "uint8", channels: 1, version: 2 } } });
  return { layer, sent };
}
const ctx = () => document.createElement("canvas").getContext("2d");
const geo = { H: 2048, W: 2048, dh: 256, dw: 256 };

test("the tile layer asks for nothing while the proxy is enough, and for level-k tiles in view once magnified", () => {
  const { layer, sent } = layerWith();
  const s = { view: { scale: 1, tx: 0, ty: 0 }, geo, dpr: 1, width: 400, height: 300, opacity: 0.5, labCanvas: null, ops: [] };
  assert.equal(layer.draw(ctx(), s), false);
  assert.equal(sent.length, 0);
  s.view = { scale: 8, tx: -100, ty: -50 }; // 1 screen px per image px: level 0
  assert.equal(layer.draw(ctx(), s), true);
  assert.equal(layer.state.level, 0);
  assert.equal(sent.length, 1);
  const keys = sent[0].keys;
  assert.deepEqual(keys.slice(0, 2), [["image", 0, 0, 1], ["labels", 0, 0, 1]]); // the centre tile first
  assert.ok(keys.every(([, k]) => k === 0));
  assert.equal(layer.state.sharp, false);
  // the kernel answers: every tile in view is drawn at level 0
  const tiles = [], buffers = [];
  for (const [name, k, row, col] of keys) {
    const channels = name === "image" ? 4 : 1;
    tiles.push({ layer: name, level: k, row, col, h: 256, w: 256, dtype: "uint8", channels, version: name === "image" ? 1 : 2 });
    buffers.push(new DataView(new Uint8Array(256 * 256 * channels).buffer));
  }
  layer.receive({ type: "tiles", id: sent[0].id, tiles, dropped: 0 }, buffers);
  layer.draw(ctx(), s);
  assert.equal(layer.state.sharp, true);
  assert.ok(layer.cache.bytes <= D.PAINTER_TILE_BYTES);
  s.view = { scale: 2, tx: 0, ty: 0 }; // 1/4 screen px per image px: level 2
  layer.draw(ctx(), s);
  assert.equal(layer.state.level, 2);
  layer.close();
});

test("tile requests wait until the view has settled (a wheel burst asks once)", async () => {
  const { layer, sent } = layerWith(undefined, undefined, 30);
  const s = { view: { scale: 4, tx: 0, ty: 0 }, geo, dpr: 1, width: 400, height: 300, opacity: 0.5, labCanvas: null, ops: [] };
  for (const scale of [1.5, 2, 3, 4]) { s.view = { scale, tx: 0, ty: 0 }; layer.draw(ctx(), s); } // levels 2, 2, 1, 1
  assert.equal(layer.state.level, 1);
  assert.equal(sent.length, 0);
  await new Promise((r) => setTimeout(r, 40));
  layer.draw(ctx(), s);
  assert.equal(sent.length, 1);
  assert.ok(sent[0].keys.every(([, k]) => k === 1));
  layer.close();
});

test("a zoom-in that reaches native resolution asks at once (later zoom-ins need a subset); zoom-outs and pans wait", async () => {
  const { layer, sent } = layerWith(undefined, undefined, 10_000);
  const s = { view: { scale: 4, tx: 0, ty: 0 }, geo, dpr: 1, width: 400, height: 300, opacity: 0.5, labCanvas: null, ops: [] };
  const zoom = (scale, x = 200, y = 150) => { // about the screen point (x, y), as the wheel does
    const f = scale / s.view.scale;
    s.view = { scale, tx: x - (x - s.view.tx) * f, ty: y - (y - s.view.ty) * f };
    layer.draw(ctx(), s);
  };
  layer.draw(ctx(), s); // fx 0.5: level 1, waits for the settle
  assert.equal(sent.length, 0);
  zoom(6); // fx 0.75: level 0, but a zoom to 1:1 would need a quarter of its area: it waits too
  assert.equal(layer.state.level, 0);
  assert.equal(sent.length, 0);
  zoom(8); // fx 1: native resolution, no settle wait
  assert.equal(sent.length, 1);
  const tile = (key) => String(key.slice(0, 4)); // [layer, level, row, col] (a part key has its rectangle after)
  const first = new Set(sent[0].keys.map(tile));
  for (const scale of [12, 20]) zoom(scale); // deeper: nothing new to ask (in flight)
  assert.equal(sent.length, 1);
  layer.receive({ type: "tiles", id: sent[0].id, tiles: [], dropped: 0 }, []); // free the slot (tiles not sent)
  zoom(24);
  assert.ok(sent.slice(1).every((m) => m.keys.every((k) => first.has(tile(k))))); // within the first view's tiles
  const n = sent.length;
  zoom(10); // a zoom-out at level 0 widens the view: it waits for the settle
  s.view = { ...s.view, tx: s.view.tx - 600 };
  layer.draw(ctx(), s); // and so does a pan
  assert.equal(sent.length, n);
  layer.close();
});

test("a wheel zoom-in at level 0 short of 1:1 asks at once for the 1:1 view about its point; the burst's end asks nothing more", () => {
  const { layer, sent } = layerWith(undefined, undefined, 10_000);
  const s = { view: { scale: 4, tx: 0, ty: 0 }, geo, dpr: 1, width: 400, height: 300, opacity: 0.5, labCanvas: null, ops: [] };
  const wheel = (scale, x = 300, y = 100) => { // about the screen point (x, y), as the wheel does (and tells the layer)
    const f = scale / s.view.scale;
    s.view = { scale, tx: x - (x - s.view.tx) * f, ty: y - (y - s.view.ty) * f };
    if (f > 1) layer.aim(s.view, x, y);
    layer.draw(ctx(), s);
  };
  layer.draw(ctx(), s); // fx 0.5: level 1, waits for the settle
  assert.equal(sent.length, 0);
  wheel(5); // fx 0.625: level 0, short of 1:1
  assert.equal(layer.state.level, 0);
  const [aimed] = sent;
  assert.equal(sent.length, 1); // asked during the burst
  const native = { scale: 1, tx: 300 - (300 - s.view.tx) * 1.6, ty: 100 - (100 - s.view.ty) * 1.6 }; // fx 1 about (300, 100)
  const tiles = new Set(aimed.keys.map((k) => `${k[2]}/${k[3]}`));
  assert.deepEqual(tiles, new Set(T.visibleTiles(native, 400, 300, [2048, 2048], 0, 0).map(([r, c]) => `${r}/${c}`)));
  assert.ok(aimed.keys.every(([, k]) => k === 0));
  for (const scale of [6, 7, 8]) wheel(scale); // on to 1:1 about the same point: in flight already
  assert.equal(sent.length, 1);
  layer.draw(ctx(), { ...s, view: { ...s.view } }); // the same view from elsewhere (not the wheel's): no aim, nothing asked
  assert.equal(sent.length, 1);
  s.view = { scale: 2, tx: 0, ty: 0 }; // level 1, then a zoom-in at level 1: nothing asked while moving
  layer.draw(ctx(), s);
  wheel(3);
  assert.equal(layer.state.level, 1);
  assert.equal(sent.length, 1);
  layer.close();
});

test("settle(): where a gesture ended the tiles are asked for at once, without the stillness wait", () => {
  const { layer, sent } = layerWith(undefined, undefined, 10_000);
  const s = { view: { scale: 8, tx: -100, ty: -50 }, geo, dpr: 1, width: 400, height: 300, opacity: 0.5, labCanvas: null, ops: [] };
  layer.draw(ctx(), s);
  assert.equal(sent.length, 0); // still moving, as far as the layer knows
  layer.settle(); // e.g. pointer-up after a drag: the same view is final
  layer.draw(ctx(), s);
  assert.equal(sent.length, 1);
  s.view = { scale: 8, tx: -900, ty: -50 };
  layer.draw(ctx(), s); // a new view without settle(): waits again
  assert.equal(sent.length, 1);
  layer.close();
});

test("edge tiles of the view are asked for as the part in view first; parts make the view sharp, drawn in place", () => {
  const { layer, sent } = layerWith();
  // 1 screen px per image px; the view shows image x 100..500, y 50..350: tile (0, 1) mostly, three others in part
  const s = { view: { scale: 8, tx: -100, ty: -50 }, geo, dpr: 1, width: 400, height: 300, opacity: 0.5, labCanvas: null, ops: [] };
  layer.settle();
  layer.draw(ctx(), s);
  assert.deepEqual(sent[0].keys, [
    ["image", 0, 0, 1], ["labels", 0, 0, 1], // 208 x 246 of 256 x 256 shows: >= PART_MAX, the whole tile
    ["image", 0, 0, 0, 48, 256, 98, 256], ["labels", 0, 0, 0], // rows 50.., cols 100.. (- 2 px)
    ["image", 0, 1, 1, 0, 96, 0, 246], ["labels", 0, 1, 1],
    ["image", 0, 1, 0, 0, 96, 98, 256], ["labels", 0, 1, 0],
  ]);
  const tiles = [], buffers = [];
  for (const [name, k, row, col, y0, y1, x0, x1] of sent[0].keys) {
    const part = y0 !== undefined, h = part ? y1 - y0 : 256, w = part ? x1 - x0 : 256, channels = name === "image" ? 3 : 1;
    tiles.push({ layer: name, level: k, row, col, h, w, dtype: "uint8", channels, version: name === "image" ? 1 : 2, ...(part ? { part: [y0, x0] } : {}) });
    buffers.push(new DataView(new Uint8Array(h * w * channels).fill(7).buffer));
  }
  layer.receive({ type: "tiles", id: sent[0].id, tiles, dropped: 0 }, buffers);
  const draws = [], rec = new Proxy({}, { get: (t, k) => (k === "drawImage" ? (...a) => draws.push(a) : () => {}), set: () => true });
  layer.draw(rec, s);
  assert.equal(layer.state.sharp, true);
  assert.equal(draws.length, 8); // the images (a whole tile and three parts, in place), then the label tiles
  assert.deepEqual(draws.slice(0, 4).map((a) => [a[0].width, a[0].height, ...a.slice(-4)]),
    [[256, 256, 256, 0, 256, 256], [158, 208, 98, 48, 158, 208], [246, 96, 256, 256, 246, 96], [158, 96, 98, 256, 158, 96]]);
  // then the whole of those three tiles, then the margin
  assert.deepEqual(sent[1].keys.slice(0, 3), [["image", 0, 0, 0], ["image", 0, 1, 1], ["image", 0, 1, 0]]);
  assert.ok(sent[1].keys.slice(3).every(([, , row, col]) => row > 1 || col > 1));
  // a small pan inside the parts stays sharp and asks for no new part; past them (before the whole
  // tiles come) it is not sharp
  s.view = { scale: 8, tx: -101, ty: -50 };
  layer.settle();
  layer.draw(rec, s);
  assert.equal(layer.state.sharp, true);
  assert.ok(layer.client.wanted.every((key) => key.length === 4));
  s.view = { scale: 8, tx: -60, ty: -50 };
  layer.settle();
  layer.draw(rec, s);
  assert.equal(layer.state.sharp, false);
  layer.close();
});

test("uniform tiles are drawn from one pixel; a uniform label tile of a transparent class is not drawn", () => {
  const { layer, sent } = layerWith();
  layer.setPalette(new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255])); // class 0 transparent, class 1 orange
  const s = { view: { scale: 8, tx: 0, ty: 0 }, geo, dpr: 1, width: 200, height: 200, opacity: 0.5, labCanvas: null, ops: [] };
  layer.settle();
  layer.draw(ctx(), s);
  const keys = sent[0].keys; // image + labels of tile (0, 0): the view shows only it, 200 x 200 px of it (+ 2 px)
  assert.deepEqual(keys, [["image", 0, 0, 0, 0, 202, 0, 202], ["labels", 0, 0, 0]]);
  const meta = (name, channels) => ({ layer: name, level: 0, row: 0, col: 0, h: 256, w: 256, dtype: "uint8", channels, version: name === "image" ? 1 : 2, uniform: true });
  const draws = [], rec = new Proxy({}, { get: (t, k) => (k === "drawImage" ? (...a) => draws.push(a) : () => {}), set: () => true });
  for (const [label, drawn] of [[0, 1], [1, 2]]) {
    layer.cache.clear();
    layer.receive({ type: "tiles", id: sent[sent.length - 1].id, tiles: [meta("image", 4), meta("labels", 1)], dropped: 0 },
      [Uint8Array.of(10, 20, 30, 255), Uint8Array.of(label)]);
    draws.length = 0;
    layer.draw(rec, s);
    assert.equal(layer.state.sharp, true);
    assert.equal(draws.length, drawn, `label ${label}`); // the image, and the labels unless transparent
    for (const [canvas, sx, sy, sw, sh, dx, dy, dw, dh] of draws) {
      assert.deepEqual([canvas.width, canvas.height, sx, sy, sw, sh], [1, 1, 0, 0, 1, 1]);
      assert.deepEqual([dx, dy, dw, dh], [0, 0, 256, 256]); // stretched over the whole tile
    }
    const img = layer.cache.get(T.tileKey("image", 0, 0, 0, 1));
    assert.equal(img.data.length, 256 * 256 * 4);
    layer.settle();
  }
  layer.close();
});

test("the widget wires tiles: a magnified view requests them, replies are drawn sharp, P toggles the grid", async () => {
  const N = 64, H = 1024;
  const model = new FakeModel({
    _image: payload(new Uint8Array(N * N * 4).fill(128), "uint8", [N, N, 4]), image_shape: [H, H],
    _labels: payload(new Uint8Array(N * N), "uint8", [N, N]),
    _palette: payload(new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255]), "uint8", [2, 4]),
    _tiles_info: { tile: 256, shape: [H, H], levels: 3, layers: { image: { dtype: "uint8", channels: 4, version: 1 }, labels: { dtype: "uint8", channels: 1, version: 2 } } },
    class_names: ["background", "cell"], tool: "brush", active_class: 1, brush_size: 4, opacity: 0.5,
    can_undo: false, can_redo: false, last_edit_ms: 0, error: "",
  });
  const host = document.createElement("div");
  const cleanup = P.default.render({ model, el: host });
  const root = host.querySelector(".mb-painter"), canvas = host.querySelector(".mb-canvas");
  const reply = (req) => {
    const { id, keys } = req[1];
    const tiles = keys.map(([name, k, row, col]) => ({ layer: name, level: k, row, col, h: 256, w: 256, dtype: "uint8", channels: name === "image" ? 4 : 1, version: name === "image" ? 1 : 2 }));
    model.kernelSend({ type: "tiles", id, tiles, dropped: 0 }, tiles.map((t) => new DataView(new Uint8Array(256 * 256 * t.channels).buffer)));
  };
  const requests = () => model.take().filter((c) => c[0] === "send" && c[1].type === "tiles");
  const settle = async () => { await new Promise((r) => setTimeout(r, 60)); await dom.flush(); };
  await dom.flush();
  await settle();
  let req = requests(); // the 64-px proxy fills the 400-px stage: magnified, so level-1 tiles are asked for
  assert.equal(req.length, 1);
  assert.ok(req[0][1].keys.every(([, k]) => k === 1));
  reply(req[0]);
  await dom.flush();
  for (let i = 0; i < 30; i++) canvas.dispatch("wheel", { deltaY: -200, deltaMode: 0, clientX: 200, clientY: 150, preventDefault() {} });
  await dom.flush();
  req = requests(); // a zoom-in burst that ends at level 0 asks at once (no settle wait)
  assert.equal(req.length, 1);
  assert.equal(root.dataset.level, "0");
  assert.equal(root.dataset.sharp, "0");
  reply(req[0]);
  assert.equal(root.dataset.sharp, "1"); // drawn at once, not in a later animation frame
  await dom.flush();
  assert.equal(root.dataset.sharp, "1");
  assert.ok(Number(root.dataset.sharpFrames) >= 1);
  assert.match(host.querySelector(".mb-zoom").textContent, /% · level 0$/);
  // the tiles in view came alone (a smaller first reply); the one-tile margin is the next request
  const margin = requests();
  assert.equal(margin.length, 1);
  const asked = new Set(req[0][1].keys.map((k) => k.join("/")));
  assert.ok(margin[0][1].keys.length > 0 && margin[0][1].keys.every((k) => !asked.has(k.join("/"))));
  reply(margin[0]);
  await dom.flush();
  // a kernel change (undo from Python, say) with the box's labels: level-0 tiles move to the new
  // version without being fetched again, and show the new labels
  const info = model.get("_tiles_info");
  const [row, col] = [req[0][1].keys[0][2], req[0][1].keys[0][3]];
  const box = [row * 256 + 10, col * 256 + 20, 2, 2];
  model.kernelSend({ type: "patch", id: null, y: 0, x: 0, h: 0, w: 0, done: true, from: 2, version: 3, box, full: true },
    [new DataView(new ArrayBuffer(0)), new DataView(new Uint8Array([1, 1, 1, 1]).buffer)]);
  model.kernelSet("_tiles_info", { ...info, layers: { ...info.layers, labels: { ...info.layers.labels, version: 3 } } });
  await settle();
  assert.equal(requests().length, 0);
  assert.equal(root.dataset.sharp, "1");
  const t = root.mbTiles().cache.get(P.tileKey("labels", 0, row, col, 3)); // the test hook
  assert.equal(t.data[10 * 256 + 20], 1);
  assert.equal(t.data[11 * 256 + 21], 1);
  assert.equal(t.data[12 * 256 + 20], 0);
  root.dispatch("keydown", { key: "p" });
  assert.equal(root.dataset.grid, "1");
  cleanup();
});

test("image tiles of 1, 3 or 4 channels become opaque RGBA (4 kept as sent)", () => {
  const out = new Uint8ClampedArray(8);
  T.toRGBA(out, new Uint8Array([10, 20]), 1);
  assert.deepEqual(Array.from(out), [10, 10, 10, 255, 20, 20, 20, 255]);
  T.toRGBA(out, new Uint8Array([1, 2, 3, 4, 5, 6]), 3);
  assert.deepEqual(Array.from(out), [1, 2, 3, 255, 4, 5, 6, 255]);
  T.toRGBA(out, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 4);
  assert.deepEqual(Array.from(out), [1, 2, 3, 4, 5, 6, 7, 8]);
  // random tiles against the per-byte rule, aligned (32-bit writes) and at an odd offset (byte writes);
  // a 1 x 1 canvas of a uniform tile takes the first pixel of the expanded data
  for (const channels of [1, 3, 4]) {
    const n = 257, px = Uint8Array.from({ length: n * channels }, (_, i) => (i * 97 + 13) & 255);
    const want = [];
    for (let i = 0; i < n; i++) for (let c = 0; c < 4; c++) want.push(c === 3 ? (channels === 4 ? px[4 * i + 3] : 255) : px[i * channels + (channels === 1 ? 0 : c)]);
    for (const offset of [0, 1]) for (const from of [0, 1]) { // from 1: the source at an odd offset (RGB: byte reads)
      const rgba = new Uint8ClampedArray(new ArrayBuffer(4 * n + 4), offset, 4 * n);
      const src = from ? new Uint8Array(new ArrayBuffer(px.length + 1), 1).fill(0) : px;
      if (from) src.set(px);
      T.toRGBA(rgba, src, channels);
      assert.deepEqual(Array.from(rgba), want, `channels ${channels}, offset ${offset}, source offset ${from}`);
    }
    const one = new Uint8ClampedArray(4);
    T.toRGBA(one, px, channels);
    assert.deepEqual(Array.from(one), want.slice(0, 4));
  }
});
