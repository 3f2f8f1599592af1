// maskbench Painter front end (DOM wiring; pure helpers in painter_core.js and shared.js, assembled
// into one ES module by maskbench/widgets/_frontend.py). The kernel holds the full-resolution labels;
// this view paints every frame on its own display-proxy label canvas, sends one compact edit per
// gesture (points in FULL-resolution image coordinates, pixel centres on integers), and replaces its
// preview with the kernel's patch when it comes back (createEdits keeps that state).
import { decodeArray, el, listen, subscribe, suppressShortcuts } from "./shared.js";
import { createProbes } from "./probes.js";
import {
  clampToImage, colorize, createEdits, cursorRadius, fitView, imageToProxy, packPoints, paintTarget, painterKey, pinchView,
  screenToImage, stepSize, visiblePalette, zoomAt,
} from "./painter_core.js";
import { buildDom, createTileLayer, fillLegend, fillPaintOver } from "./painter_dom.js";

/**
 * The drawing surface: the photo and the label proxy on offscreen canvases, composed with the view
 * transform in one animation frame. `g` is the gesture state the overlay draws (lasso, brush ring).
 */
function createSurface(ui, model, probes) {
  const s = { geo: null, edits: null, palette: new Uint8Array(8), drawPalette: new Uint8Array(8), view: { scale: 1, tx: 0, ty: 0 }, userView: false };
  s.g = { active: null, pan: null, hover: null, screen: [], touches: new Map(), pinch: null };
  const ctx = ui.canvas.getContext("2d");
  const imgCanvas = document.createElement("canvas"), labCanvas = document.createElement("canvas");
  const labCtx = labCanvas.getContext("2d");
  let labImage = null, frame = 0, firstPaint = false;
  // level-of-detail tiles over the proxy once it is magnified (painter_dom.js createTileLayer)
  s.tiles = createTileLayer((msg) => model.send(msg), () => s.draw());
  s.tiles.setInfo(model.get("_tiles_info"));
  // the edits the tiles preview: sent and not confirmed, then the stroke in progress
  s.ops = () => (s.edits ? [...s.edits.pending.values(), ...(s.edits.active && s.edits.active.kind === "stroke" ? [s.edits.active] : [])] : []);
  // the largest zoom (proxy scale): 32 screen px per image pixel, whatever the proxy's size
  s.maxScale = () => (s.geo ? Math.max(64, (32 * s.geo.W) / s.geo.dw) : 64);

  s.draw = () => { if (!frame) frame = requestAnimationFrame(paint); };
  s.cancel = () => { if (frame) cancelAnimationFrame(frame); };
  s.drawNow = () => { s.cancel(); paint(); }; // paint() clears `frame`

  // colours (class_colors -> _palette in the kernel) and visibility change only the colouring: the
  // labels (and any preview in flight) stay
  s.setPalette = () => {
    const pal = decodeArray(model.get("_palette"));
    if (pal) s.palette = pal.data;
    s.drawPalette = visiblePalette(s.palette, model.get("class_visible"));
    s.tiles.setPalette(s.drawPalette);
    if (s.edits) s.paintBox([0, s.geo.dh, 0, s.geo.dw]);
  };

  s.rebuild = () => {
    const img = decodeArray(model.get("_image")), shape = model.get("image_shape");
    s.setPalette();
    if (!img || !shape || shape.length !== 2) return;
    const [dh, dw] = img.shape;
    s.geo = { H: shape[0], W: shape[1], dh, dw };
    s.edits = null;
    s.tiles.edits.clear();
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
    colorize(labImage.data, s.edits.shown, s.geo.dw, s.drawPalette, box);
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
    const width = parseFloat(ui.canvas.style.width) || 0, height = parseFloat(ui.canvas.style.height) || 0;
    const tiled = s.tiles.draw(ctx, { view, geo, dpr, width, height, opacity: model.get("opacity"), labCanvas, ops: s.ops() });
    showZoom(tiled);
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
      const r = cursorRadius(model.get("brush_size"), geo, view.scale); // the brush's real footprint on screen
      ui.root.dataset.cursor = `${g.hover[0]},${g.hover[1]},${r}`;
      ctx.beginPath();
      ctx.arc(g.hover[0], g.hover[1], r, 0, 2 * Math.PI);
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.stroke();
      ctx.strokeStyle = "rgba(0,0,0,0.5)"; ctx.setLineDash([2, 2]); ctx.stroke(); ctx.setLineDash([]);
    }
    ui.root.dataset.view = `${view.scale},${view.tx},${view.ty}`;
    if (!firstPaint) { firstPaint = true; ui.root.dataset.firstPaint = String(Date.now()); ui.root.dataset.ready = "1"; }
  }

  // the zoom indicator (screen px per image px, and the tile level drawn) and the tests' probes
  function showZoom(tiled) {
    const st = s.tiles.state, zoom = st.zoom * 100;
    ui.zoom.textContent = `${zoom >= 100 ? Math.round(zoom) : zoom.toFixed(zoom >= 10 ? 0 : 1)}%${tiled ? ` · level ${st.level}` : ""}`;
    ui.root.dataset.level = String(tiled ? st.level : -1);
    ui.root.dataset.sharp = tiled && st.sharp ? "1" : "0";
    if (tiled && st.sharp) probes.end("sharp", "sharp");
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
  // settled: the gesture is over (a key zoom), so tiles are asked for without waiting for stillness
  s.userMoved = (view, settled = false) => {
    s.view = view; s.userView = true; ui.root.dataset.zoom = "user"; probes.restart("sharp");
    if (settled) s.tiles.settle();
    s.draw();
  };
  return s;
}

function render({ model, el: host }) {
  const root = el("div", "mb-painter", { tabIndex: 0 });
  host.appendChild(root);
  const probes = createProbes(root);
  const setTrait = (name, value) => { model.set(name, value); model.save_changes(); };
  let s = null;
  const help = (open) => { ui.helpBox.hidden = !open; root.dataset.help = open ? "open" : "closed"; if (!open) root.focus({ preventScroll: true }); };
  const ui = buildDom(root, { setTrait, send: (msg) => model.send(msg), fit: () => s.resetView(), help: (open) => help(open), grid: () => ui.toggleGrid() });
  ui.toggleGrid = () => { s.tiles.grid = !s.tiles.grid; ui.gridBtn.classList.toggle("mb-on", s.tiles.grid); root.dataset.grid = s.tiles.grid ? "1" : "0"; s.draw(); };
  s = createSurface(ui, model, probes);
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
    ui.fillMode.value = model.get("fill_mode") || "contiguous";
    s.draw();
  }

  // the legend and the "paint over" list change only with the classes (rebuilding them on every
  // sync would close an open colour picker)
  function syncClasses() {
    const names = classes(), colors = model.get("class_colors") || [], visible = model.get("class_visible") || [];
    fillLegend(ui.legend, { names, colors, visible, active: model.get("active_class") }, { setTrait });
    fillPaintOver(ui.paintOver, names, model.get("paint_over") ?? -1);
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
      const gone = s.edits.active;
      s.paintBox(s.edits.cancel());
      if (gone) s.tiles.drop(gone, s.ops());
      g.active = null;
      g.pinch = { view: s.view, start: [...t.values()] };
    } else if (g.pinch && t.size === 2 && type === "move") s.userMoved(pinchView(g.pinch.view, g.pinch.start, [...t.values()]));
    else if (g.pinch && t.size === 0) { g.pinch = null; s.tiles.settle(); s.draw(); }
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
    if (e.altKey) return pick(sx, sy); // Alt+click: the label under the cursor becomes the active class
    const [row, col] = screenToImage(s.view, sx, sy, geo);
    const keep = paintTarget(model.get("paint_over") ?? -1, tool === "eraser", label);
    if (tool === "fill") {
      const rc = pixelAt(sx, sy);
      if (!rc) return;
      const [pr, pc] = imageToProxy(rc[0], rc[1], geo);
      const op = { kind: "fill", value: label, keep, global: model.get("fill_mode") === "global", row: Math.round(pr), col: Math.round(pc) };
      return sendEdit(op, { type: "edit", tool, label, row: rc[0], col: rc[1] });
    }
    const kind = tool === "lasso" ? "lasso" : "stroke";
    g.active = s.edits.begin({ kind, tool, keep, value: tool === "eraser" ? 0 : label, radius: radius(), proxyRadius: (radius() * geo.dw) / geo.W });
    g.screen = [];
    addPoint(sx, sy);
  }

  // the full-resolution pixel [row, col] under a stage point, or null outside the image
  function pixelAt(sx, sy) {
    const geo = s.geo, [row, col] = screenToImage(s.view, sx, sy, geo);
    if (row < -0.5 || col < -0.5 || row > geo.H - 0.5 || col > geo.W - 0.5) return null;
    return [Math.min(geo.H - 1, Math.max(0, Math.round(row))), Math.min(geo.W - 1, Math.max(0, Math.round(col)))];
  }

  // the kernel reads the label at full resolution and sets active_class (the proxy shows a max)
  function pick(sx, sy) {
    const rc = s.geo && pixelAt(sx, sy);
    if (rc) model.send({ type: "pick", row: rc[0], col: rc[1] });
  }

  function addPoint(sx, sy) {
    const { added, box } = s.edits.extend(...clampToImage(...screenToImage(s.view, sx, sy, s.geo), s.geo));
    if (added) g.screen.push(sx, sy);
    if (added && g.active && g.active.kind === "stroke") s.tiles.extend(g.active); // native zoom: the kernel's pixels
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
    if (g.pan) { g.pan = null; s.tiles.settle(); s.draw(); } // the drag is over: its last view is final
    if (!g.active) return;
    g.active = null;
    const op = s.edits.finish();
    if (!op) return s.draw();
    if (op.kind === "lasso") { s.paintBox(op.box); s.tiles.paint(op); }
    const head = { type: "edit", tool: op.tool, label: op.value, n: op.image.length / 2 };
    if (op.kind === "stroke") head.radius = op.radius; // the radius the tiles previewed
    sendEdit(op, head, [packPoints(op.image).buffer]);
  }

  function onWheel(e) {
    if (!s.geo) return;
    e.preventDefault();
    const [sx, sy] = local(e), factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
    const next = zoomAt(s.view, sx, sy, factor, 0.05, s.maxScale());
    if (factor > 1) s.tiles.aim(next, sx, sy); // a zoom-in about (sx, sy): its 1:1 view's tiles may be asked early
    s.userMoved(next);
  }

  // keyboard ---------------------------------------------------------------------------------------
  const canvasCentre = () => [parseFloat(ui.canvas.style.width) / 2, parseFloat(ui.canvas.style.height) / 2];
  function onKey(e) {
    const onControl = e.target !== root && /^(BUTTON|INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName || "");
    const helpOpen = !ui.helpBox.hidden;
    const a = painterKey(e.key, { mod: e.ctrlKey || e.metaKey, shift: e.shiftKey, alt: e.altKey, onControl, helpOpen });
    if (!a) return;
    if (a.type === "undo" || a.type === "redo") model.send({ type: a.type });
    else if (a.type === "tool") setTrait("tool", a.value);
    else if (a.type === "class") { if (a.value < classes().length) setTrait("active_class", a.value); }
    else if (a.type === "size") setTrait("brush_size", stepSize(model.get("brush_size"), a.value));
    else if (a.type === "zoom") s.userMoved(zoomAt(s.view, ...canvasCentre(), a.value, 0.05, s.maxScale()), true);
    else if (a.type === "grid") ui.toggleGrid();
    else if (a.type === "pan") { space = true; ui.stage.classList.add("mb-panning"); }
    else if (a.type === "fit") s.resetView();
    else if (a.type === "pick") { if (g.hover) pick(...g.hover); }
    else if (a.type === "fillMode") setTrait("fill_mode", model.get("fill_mode") === "global" ? "contiguous" : "global");
    else if (a.type === "help") help(helpOpen ? false : true);
    else if (a.type === "closeHelp") help(false);
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
      if (msg.done && msg.version !== undefined && Array.isArray(msg.box)) { // the labels tiles moved on: see _painter_tiles.py
        const b = msg.full && buffers && buffers[1];
        const full = b ? new Uint8Array(b.buffer || b, b.byteOffset || 0, msg.box[2] * msg.box[3]) : null;
        s.tiles.confirm({ from: msg.from, version: msg.version, box: msg.box }, full, op, s.ops());
      } else if (op) s.tiles.drop(op, s.ops()); // confirmed without a change: its preview goes
      if (op) {
        root.dataset.acks = String(++acks);
        probes.end(`edit:${msg.id}`, "lastRoundtrip");
      }
      s.paintBox(box);
    } else if (msg.type === "tiles") {
      s.tiles.receive(msg, buffers || []);
      s.drawNow(); // tiles came: on screen in the next frame, not one frame later
    } else if (msg.type === "reject") {
      const { box, op } = s.edits.reject(msg.id);
      if (op) s.tiles.drop(op, s.ops());
      s.paintBox(box);
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
  // test hook (tests/browser): the labels on screen (truth + previews) and the kernel's truth
  root.mbLabels = () => (s.edits ? { shown: s.edits.shown, truth: s.edits.truth, geo: s.geo } : null);
  root.mbTiles = () => s.tiles; // and the tile layer (its cache, copies and state)
  const unsubscribe = subscribe(model, [
    ["change:_image change:image_shape", s.rebuild],
    ["change:_labels", s.setLabels],
    ["change:_tiles_info", () => { s.tiles.setInfo(model.get("_tiles_info")); s.draw(); }],
    ["change:_palette change:class_visible", s.setPalette],
    ["change:class_names change:class_colors change:class_visible change:active_class change:paint_over", syncClasses],
    ["change:tool change:brush_size change:opacity change:error change:fill_mode", syncUI],
    ["change:can_undo change:can_redo change:last_edit_ms", syncUI],
    // echo the version the view now shows: marimo re-runs cells reading the mask only on browser updates
    ["change:mask_version", () => { model.set("_view_version", model.get("mask_version")); model.save_changes(); }],
    ["msg:custom", onCustom],
  ]);
  const observer = new ResizeObserver(() => s.resize());
  observer.observe(ui.stage);
  s.rebuild();
  syncUI();
  syncClasses();
  model.send({ type: "hello" }); // labels may have changed since this state was saved: ask for the truth

  return () => {
    unlisten();
    unsuppress();
    unsubscribe();
    observer.disconnect();
    s.cancel();
    s.tiles.close();
    root.remove();
  };
}

export default { render };
