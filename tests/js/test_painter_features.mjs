// Painter features of issue 13 in node: the "paint over" rule and fill modes of the preview (vs plain
// loops), the visible palette, the brush ring's size, the keys (every one the "?" overlay lists), and
// the wiring of Alt+click pick, legend eye / colour, fill mode and the help overlay (fake model + DOM).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeModel, installDom, payload } from "./_fake.mjs";
import { loadWidget } from "./_load.mjs";

const dom = installDom();
const P = await loadWidget("painter");

test("paintTarget mirrors the kernel's paint_target", () => {
  assert.deepEqual([P.paintTarget(-1, false, 2), P.paintTarget(0, false, 2), P.paintTarget(0, true, 2), P.paintTarget(3, true, 2)],
    [-1, 0, 2, 3]);
});

test("keep: brush, lasso and fill change only pixels of the kept label (vs a plain loop)", () => {
  const w = 9, h = 7;
  const base = Uint8Array.from({ length: w * h }, (_, i) => (i % 5 === 0 ? 1 : i % 7 === 0 ? 2 : 0));
  for (const keep of [-1, 0, 1, 2]) {
    const any = new Uint8Array(base), kept = new Uint8Array(base);
    P.rasterStroke(any, w, h, [3, 0, 3, 8], 2, 2);
    P.rasterStroke(kept, w, h, [3, 0, 3, 8], 2, 2, keep);
    for (let i = 0; i < w * h; i++) assert.equal(kept[i], keep < 0 || base[i] === keep ? any[i] : base[i]);
    const pa = new Uint8Array(base), pk = new Uint8Array(base);
    P.rasterPolygon(pa, w, h, [0.5, 0.5, 0.5, 6.5, 5.5, 6.5], 1);
    P.rasterPolygon(pk, w, h, [0.5, 0.5, 0.5, 6.5, 5.5, 6.5], 1, keep);
    for (let i = 0; i < w * h; i++) assert.equal(pk[i], keep < 0 || base[i] === keep ? pa[i] : base[i]);
  }
  const f = new Uint8Array(base);
  assert.equal(P.floodFill(f, w, h, 0, 0, 2, 0), null); // (0, 0) is label 1: not the kept label
  assert.deepEqual(f, base);
});

test("global fill: every pixel with the clicked label; contiguous: only its region", () => {
  const w = 6, h = 3;
  const lab = Uint8Array.from([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2, 2, 0, 0, 0]);
  const g = new Uint8Array(lab), c = new Uint8Array(lab);
  assert.deepEqual(P.floodFill(g, w, h, 0, 0, 3, -1, true), [0, 2, 0, 6]);
  assert.deepEqual(Array.from(g), Array.from(lab, (v) => (v === 1 ? 3 : v)));
  P.floodFill(c, w, h, 0, 0, 3);
  assert.deepEqual(Array.from(c), [3, 3, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2, 2, 0, 0, 0]);
});

test("visiblePalette hides classes (alpha 0) in a copy; cursorRadius is the brush footprint on screen", () => {
  const pal = new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255, 86, 180, 233, 255]);
  assert.deepEqual(Array.from(P.visiblePalette(pal, [true, false, true])), [0, 0, 0, 0, 230, 159, 0, 0, 86, 180, 233, 255]);
  assert.equal(pal[7], 255);
  const geo = { H: 4096, W: 4096, dh: 1024, dw: 1024 };
  assert.equal(P.cursorRadius(48, geo, 0.5), 3); // 24 image px -> 6 proxy px -> 3 screen px
  assert.equal(P.cursorRadius(48, geo, 2), 12);
  assert.equal(P.cursorRadius(1, geo, 0.5), 1.5); // never smaller than 1.5 px
});

test("keys: I picks, G toggles the fill mode, ? opens the help, Esc closes it only when open", () => {
  assert.deepEqual(P.painterKey("i"), { type: "pick" });
  assert.deepEqual(P.painterKey("G"), { type: "fillMode" });
  assert.deepEqual(P.painterKey("?", { shift: true }), { type: "help" });
  assert.deepEqual(P.painterKey("Escape", { helpOpen: true }), { type: "closeHelp" });
  assert.equal(P.painterKey("Escape"), null); // Esc belongs to the notebook otherwise
  // every single key the overlay lists does something
  for (const key of ["b", "e", "f", "l", "1", "0", "i", "g", "[", "]", "+", "-", " ", "r", "?"]) {
    const a = P.painterKey(key);
    assert.ok(a && a.type !== "swallow", key);
  }
  assert.ok(P.KEYS.some(([k]) => k.includes("Alt+click")) && P.KEYS.some(([k]) => k === "Esc"));
});

const N = 4;
function painter(state = {}) {
  const model = new FakeModel({
    _image: payload(new Uint8Array(N * N * 4).fill(128), "uint8", [N, N, 4]), image_shape: [N, N],
    _labels: payload(Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 0, 0]), "uint8", [N, N]),
    _palette: payload(new Uint8Array([0, 0, 0, 0, 230, 159, 0, 255, 86, 180, 233, 255]), "uint8", [3, 4]),
    class_names: ["background", "cell", "nucleus"], class_colors: ["#000000", "#e69f00", "#56b4e9"],
    class_visible: [true, true, true], fill_mode: "contiguous", paint_over: -1, tool: "brush", active_class: 1,
    brush_size: 1, opacity: 0.5, can_undo: false, can_redo: false, last_edit_ms: 0, error: "", ...state,
  });
  const host = document.createElement("div");
  const cleanup = P.default.render({ model, el: host });
  const q = (cls) => host.querySelector(`.${cls}`);
  return { model, host, cleanup, q, root: q("mb-painter") };
}

test("Alt+click sends a pick of the full-resolution pixel; I picks under the pointer", () => {
  const { model, q, root, cleanup } = painter();
  model.take();
  const canvas = q("mb-canvas"); // 400 x 400 CSS px over the 4 x 4 image: 100 px per pixel (canvas 300 high: fit)
  const fit = root.dataset.view;
  canvas.dispatch("pointerdown", { button: 0, altKey: true, pointerId: 1, clientX: 150, clientY: 50 });
  canvas.dispatch("pointerup", { button: 0, pointerId: 1, clientX: 150, clientY: 50 });
  const sent = model.take().filter((c) => c[0] === "send").map((c) => c[1]);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].type, "pick");
  const [sx, sy] = P.imageToScreen(P.fitView(400, 300, N, N), sent[0].row, sent[0].col, { H: N, W: N, dh: N, dw: N });
  assert.ok(Math.abs(sx - 150) <= 50 && Math.abs(sy - 50) <= 50, `${fit} ${sent[0].row},${sent[0].col}`);
  canvas.dispatch("pointermove", { pointerId: 1, clientX: 150, clientY: 50 });
  root.dispatch("keydown", { key: "i" });
  assert.deepEqual(model.take().filter((c) => c[0] === "send").map((c) => c[1]), [sent[0]]);
  cleanup();
});

test("legend: the eye hides a class (class_visible), the colour picker sets class_colors", () => {
  const { model, q, cleanup } = painter();
  model.take();
  q("mb-eye").click();
  assert.deepEqual(model.take(), [["set", "class_visible", [true, false, true]], ["save_changes"]]);
  model.kernelSet("class_visible", [true, false, true]);
  assert.ok(q("mb-eye").classList.contains("mb-off"));
  const colour = q("mb-color");
  colour.value = "#ff0000";
  colour.dispatch("change");
  assert.deepEqual(model.take(), [["set", "class_colors", ["#000000", "#ff0000", "#56b4e9"]], ["save_changes"]]);
  cleanup();
});

test("fill mode and paint over reach the edit: a global fill is previewed over every pixel of the label", async () => {
  const { model, q, root, cleanup } = painter({ tool: "fill", fill_mode: "global", active_class: 2 });
  model.take();
  const canvas = q("mb-canvas");
  canvas.dispatch("pointerdown", { button: 0, pointerId: 1, clientX: 100, clientY: 0 + 10 });
  const sent = model.take().filter((c) => c[0] === "send").map((c) => c[1]);
  assert.equal(sent[0].tool, "fill");
  const shown = root.mbLabels().shown;
  assert.deepEqual(Array.from(shown), [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0]);
  q("mb-fillmode").value = "contiguous";
  q("mb-fillmode").dispatch("change");
  q("mb-paintover").value = "0";
  q("mb-paintover").dispatch("change");
  assert.deepEqual(model.take(), [["set", "fill_mode", "contiguous"], ["save_changes"], ["set", "paint_over", 0], ["save_changes"]]);
  root.dispatch("keydown", { key: "g" });
  assert.deepEqual(model.take(), [["set", "fill_mode", "global"], ["save_changes"]]);
  await dom.flush();
  cleanup();
});

test("? opens the keyboard help overlay listing every key; Esc and its button close it", () => {
  const { q, root, cleanup } = painter();
  const box = q("mb-helpbox");
  assert.equal(box.hidden, true);
  root.dispatch("keydown", { key: "?" });
  assert.equal(box.hidden, false);
  assert.equal(root.dataset.help, "open");
  for (const [keys] of P.KEYS) assert.ok(box.textContent.includes(keys), keys);
  const esc = root.dispatch("keydown", { key: "Escape" });
  assert.ok(esc.defaultPrevented && box.hidden);
  root.dispatch("keydown", { key: "?" });
  q("mb-helpbox-close").click();
  assert.equal(box.hidden, true);
  cleanup();
});
