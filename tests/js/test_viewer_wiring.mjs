// The Viewer's DOM wiring under node with a fake model and a fake DOM (tests/js/_fake.mjs):
// what render() draws and which model calls a user's input makes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
const V = await loadWidget("viewer");
const [W, H] = [3, 2];
const IMAGE = new Uint8Array(Array.from({ length: W * H * 4 }, (_, i) => (i % 4 === 3 ? 255 : (37 * i) % 256)));
const LABELS = new Uint8Array([0, 1, 1, 0, 1, 0]);
const PALETTE = new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255]);

function viewer(state = {}) {
  const model = new FakeModel({
    _image: payload(IMAGE, "uint8", [H, W, 4]), _labels: payload(LABELS, "uint8", [H, W]),
    _result: payload(IMAGE, "uint8", [H, W, 4]), _palette: payload(PALETTE, "uint8", [2, 4]), _edges: null,
    _kind: "labels", _classes: ["cell"], _modes: ["zero", "fill", "mean"], _full_size: [H, W],
    mode: "zero", fill: 0, opacity: 0.3, contours: false, index: 0, batch_size: 3, error: "", ...state,
  });
  const host = document.createElement("div");
  const cleanup = V.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  return { model, host, cleanup, q };
}

const overlayPixels = (q) => Array.from(q("mb-viewer-canvas-overlay").pixels);
const expected = (opacity) => Array.from(V.blendOverlay(IMAGE, LABELS, PALETTE, opacity));

test("the first overlay uses the model's opacity, not the slider's unsynced default (issue 13 #1)", () => {
  const { q, cleanup } = viewer({ opacity: 0.3 });
  assert.deepEqual(overlayPixels(q), expected(0.3)); // an unset range input would read 0.5
  assert.equal(q("mb-viewer-opacity").value, "0.3");
  cleanup();
});

test("moving the opacity slider sets the trait once and redraws the overlay in the next frame", async () => {
  const { model, q, cleanup } = viewer();
  model.take();
  const slider = q("mb-viewer-opacity");
  slider.value = "0.8";
  slider.dispatch("input");
  assert.deepEqual(model.take(), [["set", "opacity", 0.8], ["save_changes"]]);
  assert.deepEqual(overlayPixels(q), expected(0.3)); // not yet: blended in the next animation frame
  await dom.flush();
  assert.deepEqual(overlayPixels(q), expected(0.8));
  assert.equal(q("mb-viewer-value").textContent, "0.80");
  assert.ok(Number(q("mb-viewer").dataset.overlayMs) >= 0); // the latency probe saw it
  cleanup();
});

test("kernel trait changes update the controls; batch buttons set the index", async () => {
  const { model, q, cleanup } = viewer();
  model.kernelSet("index", 2);
  assert.equal(q("mb-viewer-next").disabled, true);
  assert.equal(q("mb-viewer-prev").disabled, false);
  model.take();
  q("mb-viewer-prev").click();
  assert.deepEqual(model.take(), [["set", "index", 1], ["save_changes"]]);
  q("mb-viewer-next").click();
  assert.deepEqual(model.take(), [["set", "index", 2], ["save_changes"]]);
  assert.equal(q("mb-viewer-index").value, "3"); // items count from 1 in the UI (issue 13 #8)
  assert.equal(q("mb-viewer-count").textContent, "/ 3");
  model.kernelSet("index", 2);
  const index = q("mb-viewer-index");
  index.value = "1";
  index.dispatch("change");
  assert.deepEqual(model.take(), [["set", "index", 0], ["save_changes"]]);
  index.value = "0"; // not an item: nothing is sent and the input shows the current item again
  index.dispatch("change");
  assert.deepEqual(model.take(), []);
  assert.equal(index.value, "1");
  model.kernelSet("mode", "mean");
  assert.equal(q("mb-viewer-fill").disabled, true);
  model.kernelSet("error", "mode: bad");
  assert.equal(q("mb-viewer-error").textContent, "mode: bad");
  q("mb-viewer-mode").value = "fill";
  q("mb-viewer-mode").dispatch("change");
  assert.deepEqual(model.take(), [["set", "mode", "fill"], ["save_changes"]]);
  cleanup();
});

test("a new result from the kernel redraws the result panel once per message", async () => {
  const { model, q, cleanup } = viewer();
  const root = q("mb-viewer");
  const before = Number(root.dataset.resultVersion);
  const other = IMAGE.map((v) => 255 - v);
  model.kernelSet("_result", payload(other, "uint8", [H, W, 4]));
  await Promise.resolve();
  assert.equal(Number(root.dataset.resultVersion), before + 1);
  assert.deepEqual(Array.from(q("mb-viewer-canvas-result").pixels), Array.from(other));
  cleanup();
});

test("keep / remove / mean are composed here at once; inpaint waits for the kernel's result of this item", async () => {
  const fills = new Uint8Array([9, 9, 9, 255, 200, 100, 50, 255]);
  const { model, q, cleanup } = viewer({
    _modes: ["keep", "remove", "mean", "inpaint"], _mode_text: ["keep the mask, fill the rest", "", "", ""],
    mode: "keep", _fills: payload(fills, "uint8", [2, 4]), _result: null, _result_for: "",
  });
  const root = q("mb-viewer");
  const shown = () => Array.from(q("mb-viewer-canvas-result").pixels);
  assert.deepEqual(shown(), Array.from(V.composeResult(IMAGE, LABELS, fills, "keep")));
  assert.equal(q("mb-viewer-mode").children[0].textContent, "keep \u2014 keep the mask, fill the rest");
  for (const mode of ["remove", "mean"]) {
    model.take();
    q("mb-viewer-mode").value = mode;
    q("mb-viewer-mode").dispatch("change");
    assert.deepEqual(model.take(), [["set", "mode", mode], ["save_changes"]]);
    await Promise.resolve();
    assert.deepEqual(shown(), Array.from(V.composeResult(IMAGE, LABELS, fills, mode)), mode); // no kernel reply needed
    assert.ok(Number(root.dataset.resultMs) >= 0);
  }
  const before = shown();
  q("mb-viewer-mode").value = "inpaint";
  q("mb-viewer-mode").dispatch("change");
  await Promise.resolve();
  assert.deepEqual(shown(), before); // nothing to draw yet
  const inpainted = IMAGE.map((v) => v ^ 1);
  model.kernelSet("_result", payload(inpainted, "uint8", [H, W, 4]));
  model.kernelSet("_result_for", "inpaint:1"); // another item's: still waiting
  await Promise.resolve();
  assert.deepEqual(shown(), before);
  model.kernelSet("_result_for", "inpaint:0");
  await Promise.resolve();
  assert.deepEqual(shown(), Array.from(inpainted));
  // the kernel sends only the mask pixels' colours ((n, 4), raster order): the rest is the image
  const colours = new Uint8Array([1, 1, 1, 255, 2, 2, 2, 255, 3, 3, 3, 255]); // LABELS has 3 mask pixels
  model.kernelSet("_result", payload(colours, "uint8", [3, 4]));
  await Promise.resolve();
  assert.deepEqual(shown(), Array.from(V.fillMaskPixels(IMAGE, LABELS, colours)));
  model.kernelSet("_fills", payload(new Uint8Array([1, 2, 3, 255, 4, 5, 6, 255]), "uint8", [2, 4]));
  model.kernelSet("mode", "remove");
  await Promise.resolve();
  assert.deepEqual(shown(), Array.from(V.composeResult(IMAGE, LABELS, new Uint8Array([1, 2, 3, 255, 4, 5, 6, 255]), "remove")));
  cleanup();
});

test("going back to a batch item seen in this view draws it at once, before the kernel's reply", () => {
  const fills = new Uint8Array([9, 9, 9, 255, 200, 100, 50, 255]);
  const { model, q, cleanup } = viewer({ _modes: ["keep", "remove"], mode: "remove", _fills: payload(fills, "uint8", [2, 4]), _shown_item: 0 });
  const shown = (panel) => Array.from(q(`mb-viewer-canvas-${panel}`).pixels);
  const first = shown("image");
  const other = IMAGE.map((v, i) => (i % 4 === 3 ? 255 : 255 - v));
  const otherLabels = new Uint8Array([1, 0, 0, 1, 1, 1]);
  q("mb-viewer-next").click(); // item 1: not seen yet, nothing to draw until the kernel answers
  assert.deepEqual(shown("image"), first);
  model.kernelSet("_image", payload(other, "uint8", [H, W, 4]));
  model.kernelSet("_labels", payload(otherLabels, "uint8", [H, W]));
  model.kernelSet("_shown_item", 1);
  return Promise.resolve().then(() => {
    assert.deepEqual(shown("image"), Array.from(other));
    model.take();
    q("mb-viewer-prev").click(); // item 0 was seen: drawn now, from this view's copy
    assert.deepEqual(model.take(), [["set", "index", 0], ["save_changes"]]);
    assert.deepEqual(shown("image"), first);
    assert.deepEqual(shown("result"), Array.from(V.composeResult(IMAGE, LABELS, fills, "remove")));
    cleanup();
  });
});

test("cleanup removes every model and DOM listener and the view", () => {
  const start = dom.listeners();
  const { model, host, cleanup } = viewer();
  assert.ok(model.listenerCount() > 0 && dom.listeners() > start);
  cleanup();
  assert.equal(model.listenerCount(), 0);
  assert.equal(dom.listeners(), start);
  assert.equal(host.children.length, 0);
});
