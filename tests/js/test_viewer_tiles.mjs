// The Viewer past its display proxy (issue 12): view maths of the linked panels, the per-tile
// composition (the proxy path's functions on a tile), and the tile view's wiring with a fake model.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
const V = await loadWidget("viewer");
const PALETTE = new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255, 86, 180, 233, 100]);

test("maxZoom reaches PIXEL_ZOOM screen pixels per image pixel on big images, never below MAX_ZOOM", () => {
  assert.equal(V.maxZoom(100, 400), V.MAX_ZOOM);
  assert.equal(V.maxZoom(8192, 256), (V.PIXEL_ZOOM * 8192) / 256);
  const z = V.zoomAt({ s: 1, tx: 0, ty: 0 }, 1e9, 0.5, 0.5, V.maxZoom(8192, 256));
  assert.equal(z.s, 1024);
  assert.deepEqual(V.zoomAt({ s: 1, tx: 0, ty: 0 }, 1e9, 0.5, 0.5), { s: V.MAX_ZOOM, tx: -15.5, ty: -15.5 }); // default cap
  assert.equal(V.panBy({ s: 1000, tx: -10, ty: -10 }, 0.5, 0).s, 1000); // panning never clamps a deep zoom away
});

test("canvasView: canvas = t + scale * image pixel, the tile protocol's view", () => {
  const g = V.canvasView({ s: 4, tx: -1.5, ty: -0.5 }, 200, 100, 800);
  assert.deepEqual(g, { scale: 1, tx: -300, ty: -50 });
});

test("viewAtScale: native resolution about a panel point, offsets on whole canvas pixels", () => {
  const [cw, ch, W] = [265, 265, 8192];
  const v = V.viewAtScale({ s: 1, tx: 0, ty: 0 }, 1, 0.5, 0.5, cw, ch, W, V.maxZoom(W, cw));
  const g = V.canvasView(v, cw, ch, W);
  assert.ok(Math.abs(g.scale - 1) < 1e-12, `scale ${g.scale}`);
  assert.ok(Math.abs(g.tx - Math.round(g.tx)) < 1e-6 && Math.abs(g.ty - Math.round(g.ty)) < 1e-6);
  assert.ok(Math.abs(g.tx + (W / 2 - cw / 2)) <= 1); // the image centre stays under the panel centre
  assert.equal(V.zoomText(1), "100%");
  assert.equal(V.zoomText(0.0323), "3.2%");
  assert.equal(V.zoomText(8), "800%");
});

test("needsTiles: only when a proxy pixel covers more than one canvas pixel", () => {
  assert.equal(V.needsTiles(265 / 8192, 8192, 1024), false);
  assert.equal(V.needsTiles(0.25, 8192, 1024), true);
  assert.equal(V.needsTiles(0.125, 8192, 1024), false); // exactly the proxy's resolution
});

test("panelLayers: what each panel is composed from, per mode and contours", () => {
  assert.deepEqual(V.panelLayers("image", "keep", true), ["image"]);
  assert.deepEqual(V.panelLayers("mask", "inpaint", true), ["mask"]);
  assert.deepEqual(V.panelLayers("overlay", "inpaint", false), ["image", "mask"]);
  assert.deepEqual(V.panelLayers("overlay", "keep", true), ["image", "mask", "edges"]);
  assert.deepEqual(V.panelLayers("result", "remove", false), ["image", "mask"]);
  assert.deepEqual(V.panelLayers("result", "inpaint", false), ["result"]);
  assert.deepEqual(V.panelLayers("result", "weighted", true), ["result", "mask", "edges"]);
});

test("tilePixels: each panel's tile is the proxy path's function on the tile", () => {
  const image = new Uint8Array(Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 255 : 17 * i)));
  const mask = new Uint8Array([0, 1, 2, 1]);
  const edges = new Uint8Array([0, 1, 0, 0]);
  const fills = new Uint8Array([9, 8, 7, 255, 1, 2, 3, 255]);
  const p = { mode: "remove", kind: "labels", palette: PALETTE, fills, opacity: 0.4 };
  const t = { image, mask };
  assert.deepEqual(Array.from(V.tilePixels("image", t, p)), Array.from(image));
  assert.deepEqual(V.tilePixels("mask", t, p), V.colorizeMask(mask, PALETTE));
  assert.deepEqual(V.tilePixels("overlay", t, p), V.blendOverlay(image, mask, PALETTE, 0.4));
  assert.deepEqual(V.tilePixels("result", t, p), V.composeResult(image, mask, fills, "remove"));
  const withEdges = V.drawEdges(V.composeResult(image, mask, fills, "remove"), mask, edges, PALETTE);
  assert.deepEqual(V.tilePixels("result", { ...t, edges }, p), withEdges);
  const result = image.map((v) => 255 - v);
  assert.deepEqual(Array.from(V.tilePixels("result", { result }, { ...p, mode: "inpaint" })), Array.from(result));
  // into a reused buffer: the same pixels; the cached tiles are never written (image / kernel result: views)
  const before = [image.slice(), mask.slice(), result.slice()];
  for (const [panel, tt, pp] of [["mask", t, p], ["overlay", t, p], ["result", t, p], ["result", { ...t, edges }, p],
    ["result", { result, mask, edges }, { ...p, mode: "inpaint" }]]) {
    const out = new Uint8ClampedArray(16).fill(77);
    const got = V.tilePixels(panel, tt, pp, out);
    assert.equal(got, out, panel);
    assert.deepEqual(Array.from(got), Array.from(V.tilePixels(panel, tt, pp)), panel);
  }
  const view = V.tilePixels("image", t, p, new Uint8ClampedArray(16));
  assert.ok(view.buffer === image.buffer && view instanceof Uint8ClampedArray);
  assert.equal(V.tilePixels("result", { result }, { ...p, mode: "inpaint" }).buffer, result.buffer);
  assert.deepEqual([image, mask, result], before);
  assert.notEqual(V.tilePixels("mask", t, p, new Uint8ClampedArray(3)).length, 3); // a buffer of the wrong size is not used
});

test("tileRect: a level-k tile covers 2^k image pixels per tile pixel", () => {
  const g = { scale: 0.5, tx: 10, ty: -4 };
  assert.deepEqual(V.tileRect(g, 0, 0, 0, 256, 256), [10, -4, 128, 128]);
  assert.deepEqual(V.tileRect(g, 2, 1, 3, 100, 256), [10 + 3 * 256 * 2, -4 + 256 * 2, 512, 200]);
});

// ---- the tile view under node: a fake model, the fake DOM, replies sent by hand ----------------

const [H, W] = [3000, 4000]; // full resolution; the proxy is 300 x 400, as wide as the fake panels
function viewer(state = {}) {
  const proxy = new Uint8Array(300 * 400 * 4).fill(255);
  const model = new FakeModel({
    _image: payload(proxy, "uint8", [300, 400, 4]), _labels: payload(new Uint8Array(300 * 400), "uint8", [300, 400]),
    _result: null, _palette: payload(PALETTE.slice(0, 8), "uint8", [2, 4]), _edges: null,
    _fills: payload(new Uint8Array([0, 0, 0, 255, 5, 5, 5, 255]), "uint8", [2, 4]), _mean_full: null,
    _kind: "bool", _classes: ["mask"], _modes: ["keep", "remove"], _full_size: [H, W], panel_layout: "grid",
    mode: "keep", fill: 0, opacity: 0.5, contours: false, index: 0, batch_size: 1, error: "",
    _tiles_info: { tile: 256, shape: [H, W], levels: 5, layers: {
      image: { dtype: "uint8", channels: 4, version: 0 }, mask: { dtype: "uint8", channels: 1, version: 0 },
      edges: { dtype: "uint8", channels: 1, version: 0 }, result: { dtype: "uint8", channels: 4, version: 0 } } },
    ...state,
  });
  const host = document.createElement("div");
  const cleanup = V.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  return { model, host, cleanup, q };
}

const requests = (model) => model.take().filter((c) => c[0] === "send" && c[1].type === "tiles").map((c) => c[1]);
// Answer the first request sent, then the first of each next batch, until none is sent (at most `rounds` times).
async function answer(model, sent, rounds) {
  for (let i = 0; i < rounds && sent.length; i++) { reply(model, sent[0]); await dom.flush(); sent = requests(model); }
}

test("zoomed past the proxy the panels ask for the tiles in view, once, and panel_layout is a trait", async () => {
  const { model, q, cleanup } = viewer();
  await dom.flush();
  assert.deepEqual(requests(model), []); // the fitted view shows no more than the proxy
  const frame = q("mb-viewer-frame");
  frame.dispatch("keydown", { key: "1" }); // native resolution
  await dom.flush();
  const sent = requests(model);
  assert.equal(sent.length, 1); // one request in flight
  const layers = new Set(sent[0].keys.map((k) => k[0]));
  assert.deepEqual([...layers].sort(), ["image", "mask"]); // keep mode: composed here
  assert.ok(sent[0].keys.every((k) => k[1] === 0)); // level 0 at native resolution
  const frames = q("mb-viewer-grid").querySelectorAll(".mb-viewer-frame");
  assert.equal(frames.length, 4);
  assert.equal(new Set(frames.map((f) => f.dataset.view)).size, 1); // the four panels share one view
  assert.equal(new Set(frames.map((f) => f.dataset.level)).size, 1);
  assert.match(q("mb-viewer-zoom").textContent, /%$/);
  model.take();
  q("mb-viewer-title").click(); // the image panel's title: enlarge it
  assert.deepEqual(model.take(), [["set", "panel_layout", "image"], ["save_changes"]]);
  model.kernelSet("panel_layout", "image");
  assert.equal(q("mb-viewer-grid").dataset.layout, "image");
  q("mb-viewer-title").click();
  assert.deepEqual(model.take(), [["set", "panel_layout", "grid"], ["save_changes"]]);
  cleanup();
});

test("a wheel burst asks for its last view's tiles once it is still; a zoom-in at native asks at once", async () => {
  const { model, q, cleanup } = viewer();
  const frame = q("mb-viewer-frame");
  await dom.flush();
  model.take();
  const wheel = (deltaY) => frame.dispatch("wheel", { deltaY, clientX: 200, clientY: 150, preventDefault() {} });
  for (let i = 0; i < 3; i++) { wheel(-200); await dom.flush(); } // zooming in past the proxy: tiles needed
  const level = frame.dataset.level;
  assert.ok(level !== "" && level !== "0"); // below native resolution
  assert.deepEqual(requests(model), []); // still moving: nothing asked yet
  await new Promise((r) => setTimeout(r, 60)); // still for TILE_SETTLE_MS
  await dom.flush();
  let sent = requests(model);
  assert.equal(sent.length, 1);
  assert.ok(sent[0].keys.every((k) => k[1] === Number(level))); // the last view's level only
  await answer(model, sent, 10); // and its margin
  frame.dispatch("keydown", { key: "1" }); // a key zoom is final: asked at once
  await dom.flush();
  sent = requests(model);
  assert.equal(sent.length, 1);
  assert.ok(sent[0].keys.every((k) => k[1] === 0));
  await answer(model, sent, 10);
  wheel(-200); // a zoom-in from native resolution: a subset of the tiles (and margin) it has, sharp at once
  await dom.flush();
  assert.equal(frame.dataset.level, "0");
  assert.equal(q("mb-viewer").dataset.tilesComplete, "1");
  assert.deepEqual(requests(model), []);
  for (let i = 0; i < 3; i++) { wheel(300); await dom.flush(); } // zooming out widens the view: it waits
  assert.equal(q("mb-viewer").dataset.tilesComplete, "0");
  assert.deepEqual(requests(model), []);
  await new Promise((r) => setTimeout(r, 60));
  await dom.flush();
  assert.equal(requests(model).length, 1);
  cleanup();
});

test("enlarged: a zoom-in with the big panel at native asks at once, though its thumbnails are coarser", async () => {
  const { model, q, cleanup } = viewer({ panel_layout: "image" });
  const frames = q("mb-viewer-grid").querySelectorAll(".mb-viewer-frame");
  for (const f of frames.slice(1)) Object.defineProperties(f, { clientWidth: { value: 100 }, clientHeight: { value: 75 } });
  const big = frames[0], wheel = (deltaY) => big.dispatch("wheel", { deltaY, clientX: 200, clientY: 150, preventDefault() {} });
  await dom.flush();
  model.take();
  big.dispatch("keydown", { key: "1" });
  await dom.flush();
  let sent = requests(model);
  await answer(model, sent, 20);
  assert.equal(big.dataset.level, "0");
  assert.ok(frames.slice(1).every((f) => Number(f.dataset.level) > 0)); // the thumbnails show the view coarser
  wheel(-200); // zoom in: the thumbnails need finer tiles (level 2 -> 1), the big panel a subset of its own
  await dom.flush();
  assert.deepEqual(frames.map((f) => f.dataset.level), ["0", "1", "1", "1"]);
  sent = requests(model);
  assert.equal(sent.length, 1); // asked at once, not after TILE_SETTLE_MS
  assert.ok(sent[0].keys.every((k) => k[1] === 1)); // only the thumbnails' tiles were missing
  cleanup();
});

// Wheel in about panel point (100, 200) until the view is at level 0 (short of native): the aimed request.
async function wheelToLevel0(model, frame) {
  const wheel = (deltaY) => frame.dispatch("wheel", { deltaY, clientX: 100, clientY: 200, preventDefault() {} });
  for (let i = 0; i < 20 && frame.dataset.level !== "0"; i++) {
    assert.deepEqual(requests(model), []); // coarser than level 0 and moving: nothing asked
    wheel(-200);
    await dom.flush();
  }
  return wheel;
}
const tilesOf = (req) => new Set(req.keys.map((k) => `${k[2]}/${k[3]}`));

test("a wheel zoom-in at level 0 asks at once for the native view about its point: the burst's end asks nothing more", async () => {
  const { model, q, cleanup } = viewer();
  const frame = q("mb-viewer-frame");
  await dom.flush();
  model.take();
  const wheel = await wheelToLevel0(model, frame);
  const scale = Number(frame.dataset.scale);
  assert.ok(scale > 0.5 && scale < 1, `scale ${scale}`);
  const [aimed, ...more] = requests(model); // while the burst goes on (no settle wait)
  assert.ok(aimed);
  assert.deepEqual(more, []);
  assert.ok(aimed.keys.every((k) => k[1] === 0 && ["image", "mask"].includes(k[0])));
  // exactly the tiles the native view about the wheel's point shows (u = 100 / 400, v = 200 / 300)
  const target = V.viewAtScale(JSON.parse(frame.dataset.view), 1, 0.25, 2 / 3, 400, 300, W, V.maxZoom(W, 400));
  const g = V.canvasView(target, 400, 300, W);
  assert.deepEqual(tilesOf(aimed), new Set(V.visibleTiles(g, 400, 300, [H, W], 0, 0).map(([r, c]) => `${r}/${c}`)));
  for (let i = 0; i < 10 && Number(frame.dataset.scale) < 1; i++) { // on to native about the same point
    wheel(-200);
    await dom.flush();
    assert.deepEqual(requests(model), []); // its tiles are in flight already
  }
  assert.ok(Number(frame.dataset.scale) >= 1);
  assert.equal(q("mb-viewer").dataset.tilesComplete, "0");
  reply(model, aimed); // the one reply makes every panel sharp
  await dom.flush();
  assert.equal(q("mb-viewer").dataset.tilesComplete, "1");
  cleanup();
});

test("a burst that stops short of native asks for the rest of its view once still; zoom-outs and coarser levels aim at nothing", async () => {
  const { model, q, cleanup } = viewer();
  const frame = q("mb-viewer-frame");
  await dom.flush();
  model.take();
  const wheel = await wheelToLevel0(model, frame);
  const [aimed] = requests(model);
  await new Promise((r) => setTimeout(r, 60)); // still for TILE_SETTLE_MS
  await dom.flush();
  const [rest, ...more] = requests(model); // the view's other tiles (beside the aimed request in flight)
  assert.deepEqual(more, []);
  const shown = V.visibleTiles(V.canvasView(JSON.parse(frame.dataset.view), 400, 300, W), 400, 300, [H, W], 0, 0);
  const asked = new Set([...tilesOf(aimed), ...tilesOf(rest)]);
  assert.ok(shown.every(([r, c]) => asked.has(`${r}/${c}`)));
  for (const k of rest.keys) { // a tile asked again only for more of it than its part in flight
    const a = aimed.keys.find((x) => x[0] === k[0] && x[2] === k[2] && x[3] === k[3]);
    assert.ok(!a || (a.length === 8 && (k.length === 4 || !(a[4] <= k[4] && k[5] <= a[5] && a[6] <= k[6] && k[7] <= a[7]))), `${k} asked twice`);
  }
  reply(model, aimed);
  reply(model, rest);
  await dom.flush();
  await answer(model, requests(model), 20); // the margin
  wheel(50); // a zoom-out at level 0 widens the view: it waits to be still
  await dom.flush();
  assert.equal(frame.dataset.level, "0");
  assert.deepEqual(requests(model), []);
  cleanup();
});

test("a new view's tiles are asked at once while a margin request is in flight (two in flight at most)", async () => {
  const { model, q, cleanup } = viewer();
  const frame = q("mb-viewer-frame");
  await dom.flush();
  model.take();
  frame.dispatch("keydown", { key: "1" });
  await dom.flush();
  const [urgent] = requests(model);
  reply(model, urgent);
  await dom.flush();
  const [margin] = requests(model); // the margin, LATER_KEYS a request: left unanswered
  assert.ok(margin && margin.keys.length <= V.LATER_KEYS);
  frame.dispatch("keydown", { key: "-" }); // zoom out (a key zoom is final): level 1 now
  await dom.flush();
  const [next, ...more] = requests(model);
  assert.ok(next && next.keys.every((k) => k[1] === 1)); // sent without waiting for the margin's reply
  assert.deepEqual(more, []);
  frame.dispatch("keydown", { key: "-" }); // two in flight: a third view waits for a slot
  await dom.flush();
  assert.deepEqual(requests(model), []);
  reply(model, margin);
  await dom.flush();
  const after = requests(model); // a slot freed: the newest view's tiles
  assert.equal(after.length, 1);
  assert.ok(after[0].keys.every((k) => k[1] === 2));
  cleanup();
});

// The kernel's reply to a request: every asked tile, filled with `value`.
function reply(model, req, value = 7) {
  const info = model.get("_tiles_info");
  const tiles = [], buffers = [];
  for (const [layer, level, row, col] of req.keys) {
    const [h, w] = [Math.min(256, Math.ceil(H / 2 ** level) - 256 * row), Math.min(256, Math.ceil(W / 2 ** level) - 256 * col)];
    const channels = info.layers[layer].channels;
    tiles.push({ layer, level, row, col, h, w, dtype: "uint8", channels, version: info.layers[layer].version });
    const data = new Uint8Array(h * w * channels).fill(value);
    buffers.push(new DataView(data.buffer));
  }
  model.kernelSend({ type: "tiles", id: req.id, tiles, dropped: 0 }, buffers);
}

test("replies fill the view until every panel is sharp; a new item's versions ask again", async () => {
  const { model, q, cleanup } = viewer({ contours: true });
  const root = q("mb-viewer");
  q("mb-viewer-frame").dispatch("keydown", { key: "1" });
  await dom.flush();
  let sent = requests(model);
  assert.ok(new Set(sent[0].keys.map((k) => k[0])).has("edges")); // contours at native zoom: edge tiles
  assert.equal(root.dataset.tilesComplete, "0");
  for (let i = 0; i < 10 && sent.length; i++) { // one request in flight: answer until nothing is missing
    reply(model, sent[0]);
    if (i === 0) assert.equal(root.dataset.tilesComplete, "1"); // the tiles in view, drawn at once (no frame wait)
    await dom.flush();
    sent = requests(model);
  }
  assert.equal(root.dataset.tilesComplete, "1");
  assert.ok(Number(root.dataset.sharpMs) >= 0); // the probe the browser test logs
  const tileCanvas = q("mb-viewer-tiles");
  assert.ok(tileCanvas.width > 0 && tileCanvas.height > 0);
  const info = model.get("_tiles_info");
  const bumped = Object.fromEntries(Object.entries(info.layers).map(([k, l]) => [k, { ...l, version: l.version + 10 }]));
  model.kernelSet("_tiles_info", { ...info, layers: bumped }); // a new batch item
  await dom.flush();
  assert.equal(root.dataset.tilesComplete, "0"); // the old item's tiles are not drawn
  assert.equal(requests(model).length, 1);
  cleanup();
});

test("shownPart: the rectangle of a tile a panel shows (+2 px), null when it shows most of it", () => {
  const g = { scale: 1, tx: -100, ty: -50 }; // native resolution: image x 100..500, y 50..350 in a 400 x 300 canvas
  assert.deepEqual(V.shownPart(g, 400, 300, [H, W], 0, 0, 0), { shows: [50, 256, 100, 256], ask: [48, 256, 98, 256] });
  assert.equal(V.shownPart(g, 400, 300, [H, W], 0, 0, 1), null); // 206 x 244 of 256 x 256: the whole tile
  assert.deepEqual(V.shownPart(g, 400, 300, [H, W], 0, 1, 1).shows, [0, 94, 0, 244]);
  assert.deepEqual(V.shownPart({ scale: 0.5, tx: 0, ty: 0 }, 100, 100, [H, W], 1, 0, 0).shows, [0, 100, 0, 100]); // level 1
});

test("edge tiles come as the part each panel shows first: the panels are sharp with them; the whole tiles next", async () => {
  const { model, q, cleanup } = viewer();
  const root = q("mb-viewer");
  q("mb-viewer-frame").dispatch("keydown", { key: "1" });
  await dom.flush();
  const [first] = requests(model);
  const parts = first.keys.filter((k) => k.length === 8);
  assert.ok(parts.length > 0 && parts.every(([, k, , , y0, y1, x0, x1]) => k === 0 && y0 < y1 && x0 < x1));
  const tiles = [], buffers = [], info = model.get("_tiles_info");
  for (const [layer, level, row, col, y0, y1, x0, x1] of first.keys) {
    const part = y0 !== undefined, h = part ? y1 - y0 : Math.min(256, H - 256 * row), w = part ? x1 - x0 : Math.min(256, W - 256 * col);
    const channels = info.layers[layer].channels;
    tiles.push({ layer, level, row, col, h, w, dtype: "uint8", channels, version: info.layers[layer].version, ...(part ? { part: [y0, x0] } : {}) });
    buffers.push(new DataView(new Uint8Array(h * w * channels).fill(3).buffer));
  }
  model.kernelSend({ type: "tiles", id: first.id, tiles, dropped: 0 }, buffers);
  assert.equal(root.dataset.tilesComplete, "1"); // parts in place: every panel sharp
  await dom.flush();
  const next = []; // the whole tiles and the margin, LATER_KEYS a request (one in flight), answered until none is missing
  for (let sent = requests(model); sent.length && next.length < 100; sent = requests(model)) {
    next.push(...sent);
    reply(model, sent[0]);
    await dom.flush();
  }
  assert.ok(next.length > 1 && next.every((r) => r.keys.length <= V.LATER_KEYS));
  const wholes = new Set(next.flatMap((r) => r.keys).map(String));
  for (const [layer, level, row, col] of parts) assert.ok(wholes.has(String([layer, level, row, col])), `${layer} ${row} ${col}`);
  assert.ok(next.every((r) => r.keys.every((k) => k.length === 4))); // nothing asked twice as a part
  assert.equal(wholes.size, next.reduce((n, r) => n + r.keys.length, 0)); // nor twice at all
  cleanup();
});

test("inpaint at native zoom asks for the kernel's result tiles; keep composes from image and mask", async () => {
  const { model, q, cleanup } = viewer({ _modes: ["keep", "inpaint"], mode: "inpaint" });
  q("mb-viewer-frame").dispatch("keydown", { key: "1" });
  await dom.flush();
  const layers = new Set(requests(model)[0].keys.map((k) => k[0]));
  assert.deepEqual([...layers].sort(), ["image", "mask", "result"]); // result: only the result panel's
  cleanup();
});


test("the Painter's keys work here too: R fits, P (or g) toggles the pixel grid", async () => {
  const { q, cleanup } = viewer();
  await dom.flush();
  const frame = q("mb-viewer-frame"), grid = q("mb-viewer-pixelgrid");
  const fitted = frame.dataset.view;
  frame.dispatch("keydown", { key: "1" });
  await dom.flush();
  assert.notEqual(frame.dataset.view, fitted);
  frame.dispatch("keydown", { key: "R" });
  await dom.flush();
  assert.equal(frame.dataset.view, fitted);
  assert.equal(grid.checked, false);
  frame.dispatch("keydown", { key: "P" });
  assert.equal(grid.checked, true);
  frame.dispatch("keydown", { key: "g" });
  assert.equal(grid.checked, false);
  frame.dispatch("keydown", { key: "x" }); // other keys: nothing
  assert.equal(grid.checked, false);
  cleanup();
});
