// maskbench Painter front end (DOM wiring; pure helpers in painter_core.js and shared.js, assembled
// into one ES module by maskbench/widgets/_frontend.py). The kernel holds the full-resolution labels;
// this view paints every frame on its own display-proxy label canvas, sends one compact edit per
// gesture (points in FULL-resolution image coordinates, pixel centres on integers), and replaces its
// preview with the kernel's patch when it comes back (createEdits keeps that state).
import { decodeArray, el, listen, subscribe, suppressShortcuts } from "./shared.js";
import { createProbes } from "./probes.js";
import {
  clampToImage, colorize, createEdits, fitView, imageToProxy, packPoints, painterKey, pinchView, screenToImage, stepSize,
  zoomAt,
} from "./painter_core.js";

const TOOLS = [["brush", "Brush", "B"], ["eraser", "Eraser", "E"], ["fill", "Fill", "F"], ["lasso", "Lasso", "L"]];
const HELP = [["B E F L", "tools"], ["1–9 0", "class"], ["[ ]", "size"], ["Ctrl+Z", "undo"],
  ["Ctrl+Shift+Z / Ctrl+Y", "redo"], ["wheel / + −", "zoom"], ["space / right-drag", "pan"], ["R", "fit"]];

/** The widget's DOM; `act` = {setTrait, send, fit} handles the buttons and sliders. */
function buildDom(root, act) {
  const ui = { root };
  const bar = el("div", "mb-bar");
  ui.stage = el("div", "mb-stage");
  ui.canvas = el("canvas", "mb-canvas");
  ui.legend = el("div", "mb-legend");
  const row = el("div", "mb-row"), status = el("div", "mb-status"), help = el("div", "mb-help");
  ui.stage.appendChild(ui.canvas);
  root.append(bar, ui.stage, row, status, help);
  ui.toolButtons = {};
  const group = el("div", "mb-group");
  for (const [name, label, key] of TOOLS) {
    const b = el("button", "mb-tool", { title: `${label} (${key})`, onclick: () => act.setTrait("tool", name) });
    b.append(el("span", "", {}, label), el("kbd", "", {}, key));
    ui.toolButtons[name] = b;
    group.appendChild(b);
  }
  const slider = (label, min, max, step, trait) => {
    const wrap = el("label", "mb-slider"), out = el("output");
    const input = el("input", "", { type: "range", min, max, step, oninput: () => act.setTrait(trait, Number(input.value)) });
    wrap.append(el("span", "", {}, label), input, out);
    return [wrap, input, out];
  };
  let sizeWrap, opWrap;
  [sizeWrap, ui.sizeInput, ui.sizeOut] = slider("Size", 1, 256, 1, "brush_size");
  [opWrap, ui.opInput, ui.opOut] = slider("Opacity", 0, 1, 0.05, "opacity");
  ui.undoBtn = el("button", "mb-act", { title: "Undo (Ctrl+Z)", onclick: () => act.send({ type: "undo" }) }, "↶");
  ui.redoBtn = el("button", "mb-act", { title: "Redo (Ctrl+Shift+Z or Ctrl+Y)", onclick: () => act.send({ type: "redo" }) }, "↷");
  const fitBtn = el("button", "mb-act", { title: "Fit the image (R)", onclick: () => act.fit() }, "⤢");
  const acts = el("div", "mb-acts");
  acts.append(ui.undoBtn, ui.redoBtn, fitBtn);
  bar.append(group, sizeWrap, opWrap);
  row.append(ui.legend, acts);
  for (const [keys, what] of HELP) { const s = el("span"); s.append(el("kbd", "", {}, keys), ` ${what}`); help.appendChild(s); }
  ui.readout = el("span", "mb-readout");
  ui.timing = el("span", "mb-timing");
  ui.errorBox = el("span", "mb-error", { title: "click to dismiss", onclick: () => act.setTrait("error", "") });
  status.append(ui.readout, ui.timing, ui.errorBox);
  return ui;
}

/**
 * The drawing surface: the photo and the label proxy on offscreen canvases, composed with the view
 * transform in one animation frame. `g` is the gesture state the overlay draws (lasso, brush ring).
 */
function createSurface(ui, model) {
  const s = { geo: null, edits: null, palette: new Uint8Array(8), view: { scale: 1, tx: 0, ty: 0 }, userView: false };
  s.g = { active: null, pan: null, hover: null, screen: [], touches: new Map(), pinch: null };
  const ctx = ui.canvas.getContext("2d");
  const imgCanvas = document.createElement("canvas"), labCanvas = document.createElement("canvas");
  const labCtx = labCanvas.getContext("2d");
  let labImage = null, frame = 0, firstPaint = false;

  s.draw = () => { if (!frame) frame = requestAnimationFrame(paint); };
  s.cancel = () => { if (frame) cancelAnimationFrame(frame); };

  s.rebuild = () => {
    const img = decodeArray(model.get("_image")), shape = model.get("image_shape"), pal = decodeArray(model.get("_palette"));
    if (pal) s.palette = pal.data;
    if (!img || !shape || shape.length !== 2) return;
    const [dh, dw] = img.shape;
    s.geo = { H: shape[0], W: shape[1], dh, dw };
    s.edits = null;
    imgCanvas.width = labCanvas.width = dw;
    imgCanvas.height = labCanvas.height = dh;
    imgCanvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(img.data.buffer), dw, dh), 0, 0);
    labImage = new ImageData(dw, dh);
    s.setLabels();
    s.resize();
  };

  // the kernel's full proxy labels (at start, and in answer to "hello")
  s.setLabels = () => {
    const lab = decodeArray(model.get("_labels"));
    if (!s.geo || !lab || lab.data.length !== s.geo.dh * s.geo.dw) return;
    if (!s.edits) { s.edits = createEdits(s.geo, lab.data); s.paintBox([0, s.geo.dh, 0, s.geo.dw]); }
    else s.paintBox(s.edits.reset(lab.data));
  };

  s.paintBox = (box) => {
    if (!box || !labImage) return;
    colorize(labImage.data, s.edits.shown, s.geo.dw, s.palette, box);
    labCtx.putImageData(labImage, 0, 0, box[2], box[0], box[3] - box[2], box[1] - box[0]);
    s.draw();
  };

  function paint() {
    frame = 0;
    const dpr = window.devicePixelRatio || 1, { view, geo, g } = s;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, ui.canvas.width, ui.canvas.height);
    if (!geo) return;
    const k = dpr * view.scale;
    ctx.setTransform(k, 0, 0, k, dpr * view.tx, dpr * view.ty);
    ctx.imageSmoothingEnabled = view.scale < 1; // smooth the photo when shrunk, crisp pixels when zoomed in
    ctx.drawImage(imgCanvas, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = model.get("opacity");
    ctx.drawImage(labCanvas, 0, 0);
    ctx.globalAlpha = 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (g.active && g.active.kind === "lasso" && g.screen.length > 2) {
      ctx.beginPath();
      ctx.moveTo(g.screen[0], g.screen[1]);
      for (let i = 2; i < g.screen.length; i += 2) ctx.lineTo(g.screen[i], g.screen[i + 1]);
      ctx.closePath();
      ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]); ctx.strokeStyle = "#fff"; ctx.stroke();
      ctx.lineDashOffset = 5; ctx.strokeStyle = "#111"; ctx.stroke(); ctx.setLineDash([]);
    }
    const tool = model.get("tool");
    if (g.hover && !g.pan && (tool === "brush" || tool === "eraser")) {
      ctx.beginPath();
      ctx.arc(g.hover[0], g.hover[1], Math.max(1.5, ((model.get("brush_size") / 2) * geo.dw / geo.W) * view.scale), 0, 2 * Math.PI);
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.stroke();
      ctx.strokeStyle = "rgba(0,0,0,0.5)"; ctx.setLineDash([2, 2]); ctx.stroke(); ctx.setLineDash([]);
    }
    ui.root.dataset.view = `${view.scale},${view.tx},${view.ty}`;
    if (!firstPaint) { firstPaint = true; ui.root.dataset.firstPaint = String(Date.now()); ui.root.dataset.ready = "1"; }
  }

  s.resize = () => {
    const width = Math.max(160, ui.stage.clientWidth || 640);
    const height = s.geo ? Math.round(Math.min(640, Math.max(240, (width * s.geo.dh) / s.geo.dw))) : 320;
    const dpr = window.devicePixelRatio || 1;
    ui.canvas.style.width = `${width}px`; ui.canvas.style.height = `${height}px`;
    ui.canvas.width = Math.round(width * dpr); ui.canvas.height = Math.round(height * dpr);
    if (!s.userView) s.resetView(); else s.draw();
  };

  s.resetView = () => {
    s.userView = false;
    if (s.geo) s.view = fitView(parseFloat(ui.canvas.style.width), parseFloat(ui.canvas.style.height), s.geo.dw, s.geo.dh);
    ui.root.dataset.zoom = "fit";
    s.draw();
  };
  s.userMoved = (view) => { s.view = view; s.userView = true; ui.root.dataset.zoom = "user"; s.draw(); };
  return s;
}

function render({ model, el: host }) {
  const root = el("div", "mb-painter", { tabIndex: 0 });
  host.appendChild(root);
  const probes = createProbes(root);
  const setTrait = (name, value) => { model.set(name, value); model.save_changes(); };
  let s = null;
  const ui = buildDom(root, { setTrait, send: (msg) => model.send(msg), fit: () => s.resetView() });
  s = createSurface(ui, model);
  const { g } = s;
  let space = false, acks = 0, rejects = 0;
  const classes = () => model.get("class_names") || [];
  const radius = () => model.get("brush_size") / 2;

  function syncUI() {
    const tool = model.get("tool");
    for (const [name, b] of Object.entries(ui.toolButtons)) b.classList.toggle("mb-on", name === tool);
    ui.sizeInput.value = model.get("brush_size"); ui.sizeOut.textContent = `${model.get("brush_size")} px`;
    ui.opInput.value = model.get("opacity"); ui.opOut.textContent = `${Math.round(model.get("opacity") * 100)}%`;
    ui.undoBtn.disabled = !model.get("can_undo"); ui.redoBtn.disabled = !model.get("can_redo");
    const err = model.get("error");
    ui.errorBox.textContent = err ? `⚠ ${err}` : ""; ui.errorBox.hidden = !err;
    const ms = model.get("last_edit_ms");
    ui.timing.textContent = ms ? `kernel edit ${ms.toFixed(1)} ms` : "";
    ui.stage.dataset.tool = tool;
    const cur = model.get("active_class");
    ui.legend.replaceChildren(...classes().map((name, i) => {
      const item = el("button", i === cur ? "mb-class mb-on" : "mb-class", { onclick: () => setTrait("active_class", i) });
      const sw = el("span", "mb-swatch");
      const c = s.palette.subarray(4 * i, 4 * i + 4);
      if (i) sw.style.background = `rgb(${c[0]},${c[1]},${c[2]})`; // class 0 keeps the "none" slash
      item.append(el("kbd", "", {}, i < 10 ? String(i) : ""), sw, el("span", "", {}, name));
      item.title = `Paint ${name}${i < 10 ? ` (key ${i})` : ""}`;
      return item;
    }));
    s.draw();
  }

  // pointer ----------------------------------------------------------------------------------------
  const local = (e) => { const r = ui.canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };

  function sendEdit(op, head, buffers) {
    const id = s.edits.submit(op);
    probes.start(`edit:${id}`);
    if (op.kind === "fill") s.paintBox(op.box); // strokes and lassos are on screen already
    model.send({ ...head, id, t0: Date.now() }, undefined, buffers);
    s.draw();
  }

  // touch: one finger paints; a second finger turns the gesture into a pinch (zoom + pan), and the
  // stroke the first finger began is dropped
  function onTouch(e, type) {
    const t = g.touches, p = local(e);
    if (type === "down") t.set(e.pointerId, p);
    else if (type === "move" && t.has(e.pointerId)) t.set(e.pointerId, p);
    else if (type === "up") t.delete(e.pointerId);
    if (type === "down" && t.size === 2) {
      s.paintBox(s.edits.cancel());
      g.active = null;
      g.pinch = { view: s.view, start: [...t.values()] };
    } else if (g.pinch && t.size === 2 && type === "move") s.userMoved(pinchView(g.pinch.view, g.pinch.start, [...t.values()]));
    else if (g.pinch && t.size === 0) g.pinch = null;
    return g.pinch !== null || t.size > 1;
  }

  function onDown(e) {
    root.focus({ preventScroll: true });
    if (!s.edits) return;
    const [sx, sy] = local(e), geo = s.geo;
    ui.canvas.setPointerCapture(e.pointerId);
    if (e.pointerType === "touch" && onTouch(e, "down")) return;
    if (e.button === 1 || e.button === 2 || space) { g.pan = { sx, sy, view: s.view }; e.preventDefault(); return; }
    if (e.button !== 0) return;
    const tool = model.get("tool"), label = model.get("active_class");
    const [row, col] = screenToImage(s.view, sx, sy, geo);
    if (tool === "fill") {
      if (row < -0.5 || col < -0.5 || row > geo.H - 0.5 || col > geo.W - 0.5) return;
      const r = Math.min(geo.H - 1, Math.round(row)), c = Math.min(geo.W - 1, Math.round(col));
      const [pr, pc] = imageToProxy(r, c, geo);
      return sendEdit({ kind: "fill", value: label, row: Math.round(pr), col: Math.round(pc) }, { type: "edit", tool, label, row: r, col: c });
    }
    const kind = tool === "lasso" ? "lasso" : "stroke";
    g.active = s.edits.begin({ kind, tool, value: tool === "eraser" ? 0 : label, proxyRadius: (radius() * geo.dw) / geo.W });
    g.screen = [];
    addPoint(sx, sy);
  }

  function addPoint(sx, sy) {
    const { added, box } = s.edits.extend(...clampToImage(...screenToImage(s.view, sx, sy, s.geo), s.geo));
    if (added) g.screen.push(sx, sy);
    if (box) s.paintBox(box); else s.draw();
  }

  function onMove(e) {
    if (!s.geo) return;
    if (e.pointerType === "touch" && onTouch(e, "move")) return;
    const [sx, sy] = local(e), geo = s.geo;
    g.hover = [sx, sy];
    const [row, col] = screenToImage(s.view, sx, sy, geo);
    const r = Math.round(row), c = Math.round(col);
    ui.readout.textContent = r >= 0 && c >= 0 && r < geo.H && c < geo.W ? `row ${r}, col ${c}` : "";
    if (g.pan) s.userMoved({ ...g.pan.view, tx: g.pan.view.tx + sx - g.pan.sx, ty: g.pan.view.ty + sy - g.pan.sy });
    else if (g.active) {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const ev of events.length ? events : [e]) addPoint(...local(ev));
    }
    s.draw();
  }

  function onUp(e) {
    if (e && e.pointerType === "touch" && onTouch(e, "up")) return;
    g.pan = null;
    if (!g.active) return;
    g.active = null;
    const op = s.edits.finish();
    if (!op) return s.draw();
    if (op.kind === "lasso") s.paintBox(op.box);
    const head = { type: "edit", tool: op.tool, label: op.value, n: op.image.length / 2 };
    if (op.kind === "stroke") head.radius = radius();
    sendEdit(op, head, [packPoints(op.image).buffer]);
  }

  function onWheel(e) {
    if (!s.geo) return;
    e.preventDefault();
    const [sx, sy] = local(e);
    s.userMoved(zoomAt(s.view, sx, sy, Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015))));
  }

  // keyboard ---------------------------------------------------------------------------------------
  const canvasCentre = () => [parseFloat(ui.canvas.style.width) / 2, parseFloat(ui.canvas.style.height) / 2];
  function onKey(e) {
    const onControl = e.target !== root && /^(BUTTON|INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName || "");
    const a = painterKey(e.key, { mod: e.ctrlKey || e.metaKey, shift: e.shiftKey, alt: e.altKey, onControl });
    if (!a) return;
    if (a.type === "undo" || a.type === "redo") model.send({ type: a.type });
    else if (a.type === "tool") setTrait("tool", a.value);
    else if (a.type === "class") { if (a.value < classes().length) setTrait("active_class", a.value); }
    else if (a.type === "size") setTrait("brush_size", stepSize(model.get("brush_size"), a.value));
    else if (a.type === "zoom") s.userMoved(zoomAt(s.view, ...canvasCentre(), a.value));
    else if (a.type === "pan") { space = true; ui.stage.classList.add("mb-panning"); }
    else if (a.type === "fit") s.resetView();
    e.preventDefault();
    e.stopPropagation();
  }
  function onKeyUp(e) { if (e.key === " " && space) { space = false; ui.stage.classList.remove("mb-panning"); e.stopPropagation(); } }

  // kernel messages --------------------------------------------------------------------------------
  function onCustom(msg, buffers) {
    if (!msg || !s.edits) return;
    if (msg.type === "patch") {
      let data = null;
      if (msg.h && msg.w && buffers && buffers.length) {
        const b = buffers[0];
        data = new Uint8Array(b.buffer || b, b.byteOffset || 0, msg.h * msg.w);
      }
      const { box, op } = s.edits.patch(msg, data);
      if (op) {
        root.dataset.acks = String(++acks);
        probes.end(`edit:${msg.id}`, "lastRoundtrip");
      }
      s.paintBox(box);
    } else if (msg.type === "reject") {
      s.paintBox(s.edits.reject(msg.id).box);
      root.dataset.rejects = String(++rejects);
    }
  }

  const unlisten = listen([
    [ui.canvas, "pointerdown", onDown], [ui.canvas, "pointermove", onMove], [ui.canvas, "pointerup", onUp],
    [ui.canvas, "pointercancel", onUp], [ui.canvas, "pointerleave", () => { g.hover = null; s.draw(); }],
    [ui.canvas, "wheel", onWheel, { passive: false }], [ui.canvas, "contextmenu", (e) => { e.preventDefault(); e.stopPropagation(); }],
    [root, "keydown", onKey], [root, "keyup", onKeyUp],
  ]);
  const unsuppress = suppressShortcuts(root);
  const unsubscribe = subscribe(model, [
    ["change:_image change:image_shape", s.rebuild],
    ["change:_labels", s.setLabels],
    ["change:_palette change:class_names", () => { s.rebuild(); syncUI(); }],
    ["change:tool change:active_class change:brush_size change:opacity change:error", syncUI],
    ["change:can_undo change:can_redo change:last_edit_ms", syncUI],
    ["msg:custom", onCustom],
  ]);
  const observer = new ResizeObserver(() => s.resize());
  observer.observe(ui.stage);
  s.rebuild();
  syncUI();
  model.send({ type: "hello" }); // labels may have changed since this state was saved: ask for the truth

  return () => {
    unlisten();
    unsuppress();
    unsubscribe();
    observer.disconnect();
    s.cancel();
    root.remove();
  };
}

export default { render };
