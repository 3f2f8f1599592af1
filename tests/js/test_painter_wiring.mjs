// The Painter's DOM wiring under node with a fake model and a fake DOM (tests/js/_fake.mjs): a stroke
// becomes one edit message, the kernel's patch is acknowledged, trait changes reach the buttons
// (listeners are registered one event name per on() call, as marimo needs: issue 13 #7).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
const P = await loadWidget("painter");
const N = 4; // a 4 x 4 image shown 1:1

function painter(state = {}) {
  const model = new FakeModel({
    _image: payload(new Uint8Array(N * N * 4).fill(128), "uint8", [N, N, 4]), image_shape: [N, N],
    _labels: payload(new Uint8Array(N * N), "uint8", [N, N]),
    _palette: payload(new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255]), "uint8", [2, 4]),
    class_names: ["background", "cell"], tool: "brush", active_class: 1, brush_size: 1, opacity: 0.5,
    can_undo: false, can_redo: false, last_edit_ms: 0, error: "", ...state,
  });
  const host = document.createElement("div");
  const cleanup = P.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  return { model, host, cleanup, q, root: q("mb-painter") };
}

test("render asks the kernel for the truth, and kernel traits reach the buttons and status line", () => {
  const { model, q, cleanup } = painter();
  assert.deepEqual(model.take().filter((c) => c[0] === "send").map((c) => c[1]), [{ type: "hello" }]);
  const [undo, redo] = q("mb-acts").children;
  assert.equal(undo.disabled, true);
  model.kernelSet("can_undo", true);
  model.kernelSet("last_edit_ms", 6.25);
  assert.equal(undo.disabled, false);
  assert.equal(redo.disabled, true);
  assert.equal(q("mb-timing").textContent, "kernel edit 6.3 ms");
  undo.click();
  assert.deepEqual(model.take(), [["send", { type: "undo" }, undefined]]);
  cleanup();
});

test("a brush stroke is previewed, sent as one edit, and acknowledged by the kernel's patch", async () => {
  const { model, q, root, cleanup } = painter();
  model.take();
  const canvas = q("mb-canvas"); // 400 x 400 CSS px over the 4 x 4 image: 100 px per pixel
  canvas.dispatch("pointerdown", { button: 0, pointerId: 1, clientX: 150, clientY: 150 });
  canvas.dispatch("pointermove", { button: 0, pointerId: 1, clientX: 350, clientY: 150 });
  canvas.dispatch("pointerup", { button: 0, pointerId: 1, clientX: 350, clientY: 150 });
  const sent = model.take().filter((c) => c[0] === "send");
  assert.equal(sent.length, 1);
  const [, msg, buffers] = sent[0];
  assert.equal(msg.type, "edit");
  assert.equal(msg.tool, "brush");
  assert.equal(msg.label, 1);
  assert.equal(msg.n, 2);
  assert.deepEqual(Array.from(new Float32Array(buffers[0])), [1, 1, 1, 3]); // (row, col) pixel centres
  const labels = new Uint8Array(N * N);
  labels.set([1, 1, 1], N + 1); // what the kernel painted: row 1, cols 1..3
  model.kernelSend({ type: "patch", id: msg.id, done: true, y: 0, x: 0, h: N, w: N }, [new DataView(labels.buffer)]);
  assert.equal(root.dataset.acks, "1");
  assert.ok(Number(root.dataset.lastRoundtripMs) >= 0);
  await dom.flush();
  cleanup();
});

test("keys: tools and zoom on the root; Space pans on the root but presses a focused button", async () => {
  const { model, q, root, cleanup } = painter();
  model.take();
  const e = root.dispatch("keydown", { key: "e" });
  assert.ok(e.defaultPrevented);
  assert.deepEqual(model.take(), [["set", "tool", "eraser"], ["save_changes"]]);
  await dom.flush();
  const fit = root.dataset.view.split(",").map(Number);
  root.dispatch("keydown", { key: "+" }); // zoom keys zoom about the canvas centre
  const zoomed = root.dataset.zoom === "user" && P.zoomAt({ scale: fit[0], tx: fit[1], ty: fit[2] }, 200, 200, 1.25);
  await dom.flush();
  assert.deepEqual(root.dataset.view.split(",").map(Number), [zoomed.scale, zoomed.tx, zoomed.ty]);
  root.dispatch("keydown", { key: "r" });
  await dom.flush();
  assert.deepEqual(root.dataset.view.split(",").map(Number), fit);
  const space = root.dispatch("keydown", { key: " " });
  assert.ok(space.defaultPrevented && q("mb-stage").classList.contains("mb-panning"));
  root.dispatch("keyup", { key: " " });
  assert.ok(!q("mb-stage").classList.contains("mb-panning"));
  const button = q("mb-tool");
  button.focus();
  assert.equal(button.getAttribute("data-lm-suppress-shortcuts"), ""); // notebook shortcuts skip it
  const onButton = button.dispatch("keydown", { key: " " });
  assert.ok(!onButton.defaultPrevented); // the browser presses the button
  assert.ok(!q("mb-stage").classList.contains("mb-panning"));
  const arrow = q("mb-slider").children[1].dispatch("keydown", { key: "ArrowRight" });
  assert.ok(!arrow.defaultPrevented && !arrow.stopped); // the slider moves itself
  cleanup();
});

test("cleanup removes every model and DOM listener", () => {
  const start = dom.listeners();
  const { model, cleanup } = painter();
  cleanup();
  assert.equal(model.listenerCount(), 0);
  assert.equal(dom.listeners(), start);
});

test("a two-finger pinch zooms and pans and paints nothing (issue 13 #4)", async () => {
  const { model, q, root, cleanup } = painter();
  await dom.flush();
  const fit = root.dataset.view.split(",").map(Number);
  model.take();
  const canvas = q("mb-canvas");
  const touch = (type, id, x, y) => canvas.dispatch(type, { pointerType: "touch", button: 0, pointerId: id, clientX: x, clientY: y });
  touch("pointerdown", 1, 100, 100); // the first finger starts a stroke ...
  touch("pointermove", 1, 120, 100);
  touch("pointerdown", 2, 300, 300); // ... which the second finger turns into a pinch
  touch("pointermove", 2, 400, 400);
  touch("pointermove", 1, 110, 90);
  touch("pointerup", 1, 110, 90);
  touch("pointermove", 2, 390, 390); // one finger left: neither pinch nor paint
  touch("pointerup", 2, 390, 390);
  await dom.flush();
  assert.deepEqual(model.take().filter((c) => c[0] === "send"), []);
  assert.equal(root.dataset.zoom, "user");
  const expected = P.pinchView({ scale: fit[0], tx: fit[1], ty: fit[2] }, [[120, 100], [300, 300]], [[110, 90], [400, 400]]);
  assert.deepEqual(root.dataset.view.split(",").map(Number), [expected.scale, expected.tx, expected.ty]);
  touch("pointerdown", 3, 150, 150); // afterwards one finger paints again
  touch("pointerup", 3, 150, 150);
  assert.equal(model.take().filter((c) => c[0] === "send" && c[1].type === "edit").length, 1);
  cleanup();
});
