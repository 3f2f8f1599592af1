// The Painter's preview / confirm state (createEdits in painter_core.js) and its key map, driven
// without a DOM: what the view shows before and after the kernel answers an edit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadWidget } from "./_load.mjs";

const P = await loadWidget("painter_core");
const GEO = { H: 8, W: 10, dh: 8, dw: 10 }; // proxy = full resolution here

const count = (a, v) => a.reduce((n, x) => n + (x === v ? 1 : 0), 0);

function stroke(edits, points, value = 1, radius = 1) {
  edits.begin({ kind: "stroke", tool: "brush", value, proxyRadius: radius });
  for (const [r, c] of points) edits.extend(r, c);
  return edits.finish();
}

/** The kernel's answer to `op`: the labels it paints, as a patch over the whole proxy. */
function kernelPatch(edits, id, op) {
  const labels = new Uint8Array(edits.truth);
  P.applyOp(labels, GEO.dw, GEO.dh, op);
  return [{ type: "patch", id, done: true, y: 0, x: 0, h: GEO.dh, w: GEO.dw }, labels];
}

test("a stroke shows at once, the kernel's patch confirms it and leaves shown == truth", () => {
  const edits = P.createEdits(GEO, new Uint8Array(80));
  const op = stroke(edits, [[2, 2], [2, 6]]);
  assert.ok(count(Array.from(edits.shown), 1) > 0); // previewed before any answer
  assert.equal(count(Array.from(edits.truth), 1), 0);
  const id = edits.submit(op);
  assert.equal(edits.pending.size, 1);
  const [msg, data] = kernelPatch(edits, id, op);
  const { box, op: confirmed } = edits.patch(msg, data);
  assert.equal(confirmed, op);
  assert.equal(edits.pending.size, 0);
  assert.deepEqual(box, [0, 8, 0, 10]);
  assert.deepEqual(Array.from(edits.shown), Array.from(edits.truth));
  assert.deepEqual(Array.from(edits.truth), Array.from(data));
});

test("a patch for one edit keeps the preview of the next edit still in flight", () => {
  const edits = P.createEdits(GEO, new Uint8Array(80));
  const a = stroke(edits, [[1, 1], [1, 3]], 1);
  const idA = edits.submit(a);
  const b = stroke(edits, [[6, 6], [6, 8]], 2);
  edits.submit(b);
  const [msg, data] = kernelPatch(edits, idA, a);
  edits.patch(msg, data);
  assert.equal(edits.pending.size, 1);
  assert.ok(count(Array.from(edits.shown), 2) > 0); // b is still shown
  assert.equal(count(Array.from(edits.truth), 2), 0); // ... though the kernel has not painted it
});

test("a rejected edit's preview disappears; reset() keeps previews in flight", () => {
  const edits = P.createEdits(GEO, new Uint8Array(80));
  const id = edits.submit(stroke(edits, [[3, 3]], 1, 2));
  assert.ok(count(Array.from(edits.shown), 1) > 0);
  const { box } = edits.reject(id);
  assert.ok(box);
  assert.equal(count(Array.from(edits.shown), 1), 0);
  edits.submit(stroke(edits, [[3, 3]], 1, 2));
  const kernel = new Uint8Array(80).fill(3); // e.g. an undo elsewhere changed everything
  assert.deepEqual(edits.reset(kernel), [0, 8, 0, 10]);
  assert.equal(count(Array.from(edits.shown), 1), 13); // the preview (a disc of radius 2: 13 pixels) stays
  assert.equal(count(Array.from(edits.shown), 3), 80 - 13);
});

test("fills preview at submit; a lasso of fewer than 3 points sends nothing", () => {
  const edits = P.createEdits(GEO, new Uint8Array(80));
  const fill = { kind: "fill", value: 4, row: 0, col: 0 };
  edits.submit(fill);
  assert.equal(count(Array.from(edits.shown), 4), 80);
  assert.deepEqual(fill.box, [0, 8, 0, 10]);
  edits.begin({ kind: "lasso", tool: "lasso", value: 1 });
  edits.extend(1, 1);
  edits.extend(5, 5);
  assert.equal(edits.finish(), null);
  assert.equal(edits.active, null);
});

test("extend drops points closer than a quarter pixel to the last one", () => {
  const edits = P.createEdits(GEO, new Uint8Array(80));
  edits.begin({ kind: "stroke", tool: "brush", value: 1, proxyRadius: 1 });
  assert.equal(edits.extend(2, 2).added, true);
  assert.equal(edits.extend(2.1, 2.1).added, false);
  assert.equal(edits.extend(3, 2).added, true);
  assert.deepEqual(edits.finish().image, [2, 2, 3, 2]);
});

test("painterKey: tools, classes, undo / redo; Space and arrows belong to a focused control", () => {
  assert.deepEqual(P.painterKey("b"), { type: "tool", value: "brush" });
  assert.deepEqual(P.painterKey("L"), { type: "tool", value: "lasso" });
  assert.deepEqual(P.painterKey("3"), { type: "class", value: 3 });
  assert.deepEqual(P.painterKey("z", { mod: true }), { type: "undo" });
  assert.deepEqual(P.painterKey("Z", { mod: true, shift: true }), { type: "redo" });
  assert.deepEqual(P.painterKey("y", { mod: true }), { type: "redo" });
  assert.deepEqual(P.painterKey("+"), { type: "zoom", value: 1.25 });
  assert.deepEqual(P.painterKey("-"), { type: "zoom", value: 0.8 });
  assert.deepEqual(P.painterKey(" "), { type: "pan" });
  assert.equal(P.painterKey(" ", { onControl: true }), null); // presses the focused button
  assert.equal(P.painterKey("ArrowRight", { onControl: true }), null); // moves the focused slider
  assert.equal(P.painterKey("ArrowRight"), null);
  assert.deepEqual(P.painterKey("q"), { type: "swallow" });
  assert.equal(P.painterKey("c", { alt: true }), null);
  assert.equal(P.stepSize(1, -1), 1);
  assert.equal(P.stepSize(8, 1), 10);
  assert.equal(P.stepSize(4096, 1), 4096);
});

test("pinchView keeps the image point under the fingers' midpoint and scales by their spread", () => {
  const view = { scale: 2, tx: 10, ty: -4 };
  const start = [[100, 100], [200, 100]], now = [[50, 150], [250, 150]]; // spread x2, midpoint moves by (0, 50)
  const v = P.pinchView(view, start, now);
  assert.equal(v.scale, 4);
  const image = (w, x, y) => [(x - w.tx) / w.scale, (y - w.ty) / w.scale];
  assert.deepEqual(image(v, 150, 150), image(view, 150, 100));
  assert.equal(P.pinchView(view, start, [[0, 0], [1e6, 0]], 0.1, 8).scale, 8);
});

test("cancel() drops the gesture in progress and its preview", () => {
  const edits = P.createEdits(GEO, new Uint8Array(80));
  edits.begin({ kind: "stroke", tool: "brush", value: 1, proxyRadius: 1 });
  edits.extend(2, 2);
  assert.ok(count(Array.from(edits.shown), 1) > 0);
  assert.ok(edits.cancel());
  assert.equal(count(Array.from(edits.shown), 1), 0);
  assert.equal(edits.active, null);
  assert.equal(edits.cancel(), null);
});
