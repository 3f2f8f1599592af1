// maskbench Painter front end (anywidget ESM, self-contained: no imports, no CDN, no build).
// The kernel holds the full-resolution labels; this view paints every frame on its own display-proxy
// label canvas, sends one compact edit per gesture (points in FULL-resolution image coordinates,
// pixel centres on integers), and replaces its preview with the kernel's patch when it comes back.

// ---- 1. pure helpers (exported for node --test) --------------------------------------------------

/** {buffer: DataView|ArrayBuffer|TypedArray, dtype, shape} -> {data: Uint8Array (a copy), shape}. */
export function decodeArray(value) {
  if (!value || !value.buffer) return null;
  const b = value.buffer;
  const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return { data: new Uint8Array(bytes), shape: value.shape.map(Number) };
}

/** Flat [row, col, row, col, ...] -> little-endian Float32 bytes, the wire format of strokes. */
export function packPoints(flat) {
  return Float32Array.from(flat);
}

/** The view that fits a (dh, dw) proxy in a (stageW, stageH) stage, centred. */
export function fitView(stageW, stageH, dw, dh) {
  const scale = Math.min(stageW / dw, stageH / dh);
  return { scale, tx: (stageW - dw * scale) / 2, ty: (stageH - dh * scale) / 2 };
}

/** Zoom by `factor` keeping the point under (sx, sy) fixed; scale clamped to [lo, hi]. */
export function zoomAt(view, sx, sy, factor, lo = 0.05, hi = 64) {
  const scale = Math.min(hi, Math.max(lo, view.scale * factor));
  const f = scale / view.scale;
  return { scale, tx: sx - (sx - view.tx) * f, ty: sy - (sy - view.ty) * f };
}

/** Stage point (CSS px) -> full-resolution [row, col]; geo = {H, W, dh, dw}. */
export function screenToImage(view, sx, sy, geo) {
  const px = (sx - view.tx) / view.scale;
  const py = (sy - view.ty) / view.scale; // proxy coordinates, pixel edges on integers
  return [(py * geo.H) / geo.dh - 0.5, (px * geo.W) / geo.dw - 0.5];
}

/** Full-resolution [row, col] -> stage point [sx, sy] (inverse of screenToImage). */
export function imageToScreen(view, row, col, geo) {
  return [view.tx + (((col + 0.5) * geo.dw) / geo.W) * view.scale, view.ty + (((row + 0.5) * geo.dh) / geo.H) * view.scale];
}

/** Full-resolution [row, col] -> proxy [row, col], both with pixel centres on integers. */
export function imageToProxy(row, col, geo) {
  return [((row + 0.5) * geo.dh) / geo.H - 0.5, ((col + 0.5) * geo.dw) / geo.W - 0.5];
}

/** Clamp to the image's extent [-0.5, H - 0.5] x [-0.5, W - 0.5] (what the kernel accepts). */
export function clampToImage(row, col, geo) {
  const c = (v, n) => Math.min(n - 0.5, Math.max(-0.5, v));
  return [c(row, geo.H), c(col, geo.W)];
}

const EMPTY = [0, 0, 0, 0];
const grow = (b, y0, y1, x0, x1) =>
  y0 >= y1 || x0 >= x1 ? b : b ? [Math.min(b[0], y0), Math.max(b[1], y1), Math.min(b[2], x0), Math.max(b[3], x1)] : [y0, y1, x0, x1];

/** Round brush along flat [r, c, ...] (pixel centres) on labels (w x h); the kernel's capsule rule.
 * Returns the changed box [y0, y1, x0, x1] or null. */
export function rasterStroke(labels, w, h, pts, radius, value) {
  const n = pts.length >> 1;
  const r2 = radius * radius;
  let box = null;
  for (let i = 0; i < Math.max(1, n - 1); i++) {
    const ar = pts[2 * i], ac = pts[2 * i + 1];
    const br = n > 1 ? pts[2 * i + 2] : ar, bc = n > 1 ? pts[2 * i + 3] : ac;
    const y0 = Math.max(0, Math.ceil(Math.min(ar, br) - radius)), y1 = Math.min(h, Math.floor(Math.max(ar, br) + radius) + 1);
    const x0 = Math.max(0, Math.ceil(Math.min(ac, bc) - radius)), x1 = Math.min(w, Math.floor(Math.max(ac, bc) + radius) + 1);
    const dr = br - ar, dc = bc - ac, inv = 1 / Math.max(dr * dr + dc * dc, 1e-12);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const t = Math.min(1, Math.max(0, ((y - ar) * dr + (x - ac) * dc) * inv));
        const er = y - ar - t * dr, ec = x - ac - t * dc;
        if (er * er + ec * ec <= r2) labels[y * w + x] = value;
      }
    }
    box = grow(box, y0, y1, x0, x1);
  }
  return box;
}

/** Even-odd polygon fill of flat [r, c, ...] vertices (the kernel's half-open crossing rule). */
export function rasterPolygon(labels, w, h, verts, value) {
  const n = verts.length >> 1;
  if (n < 3) return null;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) { lo = Math.min(lo, verts[2 * i]); hi = Math.max(hi, verts[2 * i]); }
  const y0 = Math.max(0, Math.ceil(lo)), y1 = Math.min(h, Math.floor(hi) + 1);
  let box = null;
  const xs = [];
  for (let y = y0; y < y1; y++) {
    xs.length = 0;
    for (let i = 0; i < n; i++) {
      const ar = verts[2 * i], ac = verts[2 * i + 1], j = (i + 1) % n, br = verts[2 * j], bc = verts[2 * j + 1];
      if ((ar > y) !== (br > y)) xs.push(((bc - ac) * (y - ar)) / (br - ar) + ac);
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixel x is inside when an odd number of crossings lie strictly right of it
      const x0 = Math.max(0, Math.ceil(xs[k])), x1 = Math.min(w, Math.ceil(xs[k + 1]));
      for (let x = x0; x < x1; x++) labels[y * w + x] = value;
      box = grow(box, y, y + 1, x0, x1);
    }
  }
  return box;
}

/** 4-connected flood fill of the region equal to labels[row, col]; returns the changed box. */
export function floodFill(labels, w, h, row, col, value) {
  if (row < 0 || col < 0 || row >= h || col >= w) return null;
  const target = labels[row * w + col];
  if (target === value) return null;
  let box = null;
  const stack = [row * w + col];
  while (stack.length) {
    const p = stack.pop(), y = (p / w) | 0;
    let x0 = p - y * w, x1 = x0;
    if (labels[p] !== target) continue;
    while (x0 > 0 && labels[y * w + x0 - 1] === target) x0--;
    while (x1 < w - 1 && labels[y * w + x1 + 1] === target) x1++;
    for (let x = x0; x <= x1; x++) {
      labels[y * w + x] = value;
      if (y > 0 && labels[(y - 1) * w + x] === target) stack.push((y - 1) * w + x);
      if (y < h - 1 && labels[(y + 1) * w + x] === target) stack.push((y + 1) * w + x);
    }
    box = grow(box, y, y + 1, x0, x1 + 1);
  }
  return box;
}

/** Write palette colours (K x 4 bytes) of labels into RGBA pixels over box [y0, y1, x0, x1]. */
export function colorize(rgba, labels, w, palette, box) {
  const k = palette.length >> 2;
  for (let y = box[0]; y < box[1]; y++) {
    for (let x = box[2], i = y * w + box[2]; x < box[3]; x++, i++) {
      const v = labels[i] < k ? labels[i] * 4 : 0;
      rgba[4 * i] = palette[v]; rgba[4 * i + 1] = palette[v + 1]; rgba[4 * i + 2] = palette[v + 2]; rgba[4 * i + 3] = palette[v + 3];
    }
  }
}

// ---- 2. the view ----------------------------------------------------------------------------------

const TOOLS = [["brush", "Brush", "B"], ["eraser", "Eraser", "E"], ["fill", "Fill", "F"], ["lasso", "Lasso", "L"]];
const HELP = [["B E F L", "tools"], ["1–9 0", "class"], ["[ ]", "size"], ["Ctrl+Z", "undo"],
  ["Ctrl+Shift+Z / Ctrl+Y", "redo"], ["wheel", "zoom"], ["space / right-drag", "pan"], ["R", "fit"]];

function node(tag, cls, text, props) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return Object.assign(e, props);
}

function render({ model, el }) {
  const root = node("div", "mb-painter", undefined, { tabIndex: 0 });
  root.dataset.lmSuppressShortcuts = "true";
  const bar = node("div", "mb-bar"), stage = node("div", "mb-stage"), canvas = node("canvas", "mb-canvas");
  const legend = node("div", "mb-legend"), row = node("div", "mb-row"), status = node("div", "mb-status"), help = node("div", "mb-help");
  stage.appendChild(canvas), root.append(bar, stage, row, status, help), el.appendChild(root);
  const ctx = canvas.getContext("2d");

  // toolbar ----------------------------------------------------------------------------------------
  const toolButtons = {};
  const group = node("div", "mb-group");
  for (const [name, label, key] of TOOLS) {
    const b = node("button", "mb-tool", undefined, { title: `${label} (${key})`, onclick: () => setTrait("tool", name) });
    toolButtons[name] = b;
    b.append(node("span", "", label), node("kbd", "", key)), group.appendChild(b);
  }
  const slider = (label, min, max, step, trait) => {
    const wrap = node("label", "mb-slider"), out = node("output");
    const input = node("input", "", undefined, { type: "range", min, max, step, oninput: () => setTrait(trait, Number(input.value)) });
    wrap.append(node("span", "", label), input, out);
    return [wrap, input, out];
  };
  const [sizeWrap, sizeInput, sizeOut] = slider("Size", 1, 256, 1, "brush_size");
  const [opWrap, opInput, opOut] = slider("Opacity", 0, 1, 0.05, "opacity");
  const undoBtn = node("button", "mb-act", "↶", { title: "Undo (Ctrl+Z)", onclick: () => model.send({ type: "undo" }) });
  const redoBtn = node("button", "mb-act", "↷", { title: "Redo (Ctrl+Shift+Z or Ctrl+Y)", onclick: () => model.send({ type: "redo" }) });
  const fitBtn = node("button", "mb-act", "⤢", { title: "Fit the image (R)", onclick: () => resetView() });
  const acts = node("div", "mb-acts");
  acts.append(undoBtn, redoBtn, fitBtn), bar.append(group, sizeWrap, opWrap), row.append(legend, acts);
  for (const [keys, what] of HELP) { const s = node("span"); s.append(node("kbd", "", keys), ` ${what}`); help.appendChild(s); }
  const readout = node("span", "mb-readout"), timing = node("span", "mb-timing");
  const errorBox = node("span", "mb-error", "", { title: "click to dismiss", onclick: () => setTrait("error", "") });
  status.append(readout, timing, errorBox);

  // state ------------------------------------------------------------------------------------------
  let geo = null, truth = null, shown = null, palette = new Uint8Array(8), rgba = null, labImage = null;
  const imgCanvas = document.createElement("canvas"), labCanvas = document.createElement("canvas");
  const labCtx = labCanvas.getContext("2d");
  let view = { scale: 1, tx: 0, ty: 0 }, userView = false, frame = 0, firstPaint = false;
  let active = null, pan = null, space = false, hover = null, nextId = 1, acks = 0, rejects = 0;
  const pending = new Map(); // edit id -> {op, t} awaiting the kernel's patch

  function setTrait(name, value) { model.set(name, value); model.save_changes(); }
  const classes = () => model.get("class_names") || [];
  const radius = () => model.get("brush_size") / 2;
  const draw = () => { if (!frame) frame = requestAnimationFrame(paint); };

  function rebuild() {
    const img = decodeArray(model.get("_image")), shape = model.get("image_shape"), pal = decodeArray(model.get("_palette"));
    if (pal) palette = pal.data;
    if (!img || !shape || shape.length !== 2) return;
    const [dh, dw] = img.shape;
    geo = { H: shape[0], W: shape[1], dh, dw };
    imgCanvas.width = labCanvas.width = dw;
    imgCanvas.height = labCanvas.height = dh;
    imgCanvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(img.data.buffer), dw, dh), 0, 0);
    labImage = new ImageData(dw, dh);
    rgba = labImage.data;
    setLabels();
    resize();
  }

  function setLabels() { // the kernel's full proxy labels (at start, and in answer to "hello")
    const lab = decodeArray(model.get("_labels"));
    if (!geo || !lab || lab.data.length !== geo.dh * geo.dw) return;
    truth = lab.data;
    refresh([0, geo.dh, 0, geo.dw]);
  }

  // shown = truth + previews still in flight; copy the kernel's truth over `box` and recolour
  function refresh(box) {
    if (!geo) return;
    const { dw } = geo;
    if (!shown || shown.length !== truth.length) { shown = new Uint8Array(truth); box = [0, geo.dh, 0, dw]; }
    else if (box) for (let y = box[0]; y < box[1]; y++) shown.set(truth.subarray(y * dw + box[2], y * dw + box[3]), y * dw + box[2]);
    let dirty = box;
    for (const { op } of pending.values()) dirty = grow(dirty, ...(applyOp(op) || EMPTY));
    if (active && active.kind === "stroke") dirty = grow(dirty, ...(applyOp(active) || EMPTY));
    if (dirty) paintBox(dirty);
  }

  function paintBox(box) {
    colorize(rgba, shown, geo.dw, palette, box);
    labCtx.putImageData(labImage, 0, 0, box[2], box[0], box[3] - box[2], box[1] - box[0]);
    draw();
  }

  function applyOp(op) {
    const { dw, dh } = geo;
    if (op.kind === "stroke") return rasterStroke(shown, dw, dh, op.proxy, op.proxyRadius, op.value);
    if (op.kind === "lasso") return rasterPolygon(shown, dw, dh, op.proxy, op.value);
    return floodFill(shown, dw, dh, op.row, op.col, op.value);
  }

  function paint() {
    frame = 0;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!geo) return;
    const s = dpr * view.scale;
    ctx.setTransform(s, 0, 0, s, dpr * view.tx, dpr * view.ty);
    ctx.imageSmoothingEnabled = view.scale < 1; // smooth the photo when shrunk, crisp pixels when zoomed in
    ctx.drawImage(imgCanvas, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = model.get("opacity");
    ctx.drawImage(labCanvas, 0, 0);
    ctx.globalAlpha = 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (active && active.kind === "lasso" && active.screen.length > 2) {
      ctx.beginPath();
      ctx.moveTo(active.screen[0], active.screen[1]);
      for (let i = 2; i < active.screen.length; i += 2) ctx.lineTo(active.screen[i], active.screen[i + 1]);
      ctx.closePath();
      ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]); ctx.strokeStyle = "#fff"; ctx.stroke();
      ctx.lineDashOffset = 5; ctx.strokeStyle = "#111"; ctx.stroke(); ctx.setLineDash([]);
    }
    const tool = model.get("tool");
    if (hover && !pan && (tool === "brush" || tool === "eraser")) {
      ctx.beginPath();
      ctx.arc(hover[0], hover[1], Math.max(1.5, ((radius() * geo.dw) / geo.W) * view.scale), 0, 2 * Math.PI);
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.stroke();
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(0,0,0,0.5)"; ctx.setLineDash([2, 2]); ctx.stroke(); ctx.setLineDash([]);
    }
    root.dataset.view = `${view.scale},${view.tx},${view.ty}`;
    if (!firstPaint) { firstPaint = true; root.dataset.firstPaint = String(Date.now()); root.dataset.ready = "1"; }
  }

  function resize() {
    const width = Math.max(160, stage.clientWidth || 640);
    const height = geo ? Math.round(Math.min(640, Math.max(240, (width * geo.dh) / geo.dw))) : 320;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${width}px`; canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
    if (!userView) resetView(); else draw();
  }

  function resetView() {
    userView = false;
    if (geo) view = fitView(parseFloat(canvas.style.width), parseFloat(canvas.style.height), geo.dw, geo.dh);
    root.dataset.zoom = "fit";
    draw();
  }

  // UI state from traits --------------------------------------------------------------------------
  function syncUI() {
    const tool = model.get("tool");
    for (const [name, b] of Object.entries(toolButtons)) b.classList.toggle("mb-on", name === tool);
    sizeInput.value = model.get("brush_size"); sizeOut.textContent = `${model.get("brush_size")} px`;
    opInput.value = model.get("opacity"); opOut.textContent = `${Math.round(model.get("opacity") * 100)}%`;
    undoBtn.disabled = !model.get("can_undo"); redoBtn.disabled = !model.get("can_redo");
    const err = model.get("error");
    errorBox.textContent = err ? `⚠ ${err}` : ""; errorBox.hidden = !err;
    const ms = model.get("last_edit_ms");
    timing.textContent = ms ? `kernel edit ${ms.toFixed(1)} ms` : "";
    stage.dataset.tool = tool;
    legend.replaceChildren();
    const cur = model.get("active_class");
    classes().forEach((name, i) => {
      const item = node("button", i === cur ? "mb-class mb-on" : "mb-class", undefined, { onclick: () => setTrait("active_class", i) });
      const sw = node("span", "mb-swatch");
      const c = palette.subarray(4 * i, 4 * i + 4);
      if (i) sw.style.background = `rgb(${c[0]},${c[1]},${c[2]})`; // class 0 keeps the "none" slash
      item.append(node("kbd", "", i < 10 ? String(i) : ""), sw, node("span", "", name));
      item.title = `Paint ${name}${i < 10 ? ` (key ${i})` : ""}`;
      legend.appendChild(item);
    });
    draw();
  }

  // pointer ----------------------------------------------------------------------------------------
  const local = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const toImage = (sx, sy) => clampToImage(...screenToImage(view, sx, sy, geo), geo);

  function onDown(e) {
    root.focus({ preventScroll: true });
    if (!geo) return;
    const [sx, sy] = local(e);
    canvas.setPointerCapture(e.pointerId);
    if (e.button === 1 || e.button === 2 || space) { pan = { sx, sy, view }; e.preventDefault(); return; }
    if (e.button !== 0) return;
    const tool = model.get("tool"), label = model.get("active_class");
    const [row, col] = screenToImage(view, sx, sy, geo);
    if (tool === "fill") {
      if (row < -0.5 || col < -0.5 || row > geo.H - 0.5 || col > geo.W - 0.5) return;
      const r = Math.min(geo.H - 1, Math.round(row)), c = Math.min(geo.W - 1, Math.round(col));
      const [pr, pc] = imageToProxy(r, c, geo);
      const op = { kind: "fill", value: label, row: Math.round(pr), col: Math.round(pc) };
      return send(op, { type: "edit", tool, label, row: r, col: c });
    }
    const kind = tool === "lasso" ? "lasso" : "stroke";
    active = { kind, tool, value: tool === "eraser" ? 0 : label, image: [], proxy: [], screen: [], box: null };
    active.proxyRadius = (radius() * geo.dw) / geo.W;
    addPoint(sx, sy);
  }

  function addPoint(sx, sy) {
    const [row, col] = toImage(sx, sy);
    const n = active.image.length;
    if (n && Math.abs(active.image[n - 2] - row) + Math.abs(active.image[n - 1] - col) < 0.25) return;
    active.image.push(row, col);
    active.proxy.push(...imageToProxy(row, col, geo));
    active.screen.push(sx, sy);
    if (active.kind === "stroke") {
      const k = active.proxy.length;
      const seg = active.proxy.slice(Math.max(0, k - 4));
      const box = rasterStroke(shown, geo.dw, geo.dh, seg, active.proxyRadius, active.value);
      if (box) { active.box = grow(active.box, ...box); paintBox(box); }
    }
    draw();
  }

  function onMove(e) {
    if (!geo) return;
    const [sx, sy] = local(e);
    hover = [sx, sy];
    const [row, col] = screenToImage(view, sx, sy, geo);
    const r = Math.round(row), c = Math.round(col);
    readout.textContent = r >= 0 && c >= 0 && r < geo.H && c < geo.W ? `row ${r}, col ${c}` : "";
    if (pan) {
      view = { ...pan.view, tx: pan.view.tx + sx - pan.sx, ty: pan.view.ty + sy - pan.sy };
      userView = true; root.dataset.zoom = "user";
    } else if (active) {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const ev of events.length ? events : [e]) addPoint(...local(ev));
    }
    draw();
  }

  function onUp() {
    pan = null;
    if (!active) return;
    const op = active;
    active = null;
    if (op.kind === "lasso") {
      if (op.image.length < 6) return draw();
      op.box = rasterPolygon(shown, geo.dw, geo.dh, op.proxy, op.value);
      if (op.box) paintBox(op.box);
    }
    const head = { type: "edit", tool: op.tool, label: op.value, n: op.image.length / 2 };
    if (op.kind === "stroke") head.radius = radius();
    send(op, head, [packPoints(op.image).buffer]);
  }

  function send(op, head, buffers) {
    const id = nextId++;
    pending.set(id, { op, t: performance.now() });
    if (op.kind === "fill") { op.box = applyOp(op); if (op.box) paintBox(op.box); }
    model.send({ ...head, id, t0: Date.now() }, undefined, buffers);
    draw();
  }

  function onWheel(e) {
    if (!geo) return;
    e.preventDefault();
    const [sx, sy] = local(e);
    view = zoomAt(view, sx, sy, Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)));
    userView = true; root.dataset.zoom = "user";
    draw();
  }

  // keyboard ---------------------------------------------------------------------------------------
  function onKey(e) {
    const k = e.key, mod = e.ctrlKey || e.metaKey;
    let handled = true;
    if (mod && (k === "z" || k === "Z")) model.send({ type: e.shiftKey ? "redo" : "undo" });
    else if (mod && (k === "y" || k === "Y")) model.send({ type: "redo" });
    else if (mod || e.altKey) handled = false;
    else if ("bBeEfFlL".includes(k)) setTrait("tool", { b: "brush", e: "eraser", f: "fill", l: "lasso" }[k.toLowerCase()]);
    else if (/^[0-9]$/.test(k)) { if (Number(k) < classes().length) setTrait("active_class", Number(k)); }
    else if (k === "[" || k === "]") {
      const s = model.get("brush_size");
      setTrait("brush_size", Math.min(4096, Math.max(1, k === "]" ? Math.ceil(s * 1.25) : Math.floor(s / 1.25))));
    } else if (k === " ") { space = true; stage.classList.add("mb-panning"); }
    else if (k === "r" || k === "R") resetView();
    else handled = k.length === 1; // swallow other plain keys so notebook shortcuts do not fire here
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }
  // clicking elsewhere hands the keyboard back to the notebook (a non-focusable target would not)
  function onOutside(e) { if (!root.contains(e.target) && root.contains(document.activeElement)) document.activeElement.blur(); }
  function onKeyUp(e) { if (e.key === " ") { space = false; stage.classList.remove("mb-panning"); e.stopPropagation(); } }

  // kernel messages --------------------------------------------------------------------------------
  function onCustom(msg, buffers) {
    if (!msg || !geo || !truth) return;
    if (msg.type === "patch") {
      if (msg.h && msg.w && buffers && buffers.length) {
        const b = buffers[0], data = new Uint8Array(b.buffer || b, b.byteOffset || 0, msg.h * msg.w);
        for (let y = 0; y < msg.h; y++) truth.set(data.subarray(y * msg.w, (y + 1) * msg.w), (msg.y + y) * geo.dw + msg.x);
      }
      const mine = msg.done && pending.get(msg.id);
      if (mine) {
        pending.delete(msg.id);
        acks++;
        root.dataset.acks = String(acks);
        root.dataset.lastRoundtripMs = (performance.now() - mine.t).toFixed(1);
      }
      // the finished preview may have painted outside the patch: restore all it touched
      const box = msg.h && msg.w ? [msg.y, msg.y + msg.h, msg.x, msg.x + msg.w] : null;
      refresh(mine && mine.op.box ? grow(box, ...mine.op.box) : box);
    } else if (msg.type === "reject") {
      const mine = pending.get(msg.id);
      pending.delete(msg.id);
      rejects++;
      root.dataset.rejects = String(rejects);
      refresh(mine && mine.op.box ? mine.op.box : [0, geo.dh, 0, geo.dw]);
    }
  }

  // wiring -----------------------------------------------------------------------------------------
  const listeners = [
    [canvas, "pointerdown", onDown], [canvas, "pointermove", onMove], [canvas, "pointerup", onUp],
    [canvas, "pointercancel", onUp], [canvas, "pointerleave", () => { hover = null; draw(); }],
    [canvas, "wheel", onWheel, { passive: false }], [canvas, "contextmenu", (e) => { e.preventDefault(); e.stopPropagation(); }],
    [root, "keydown", onKey], [root, "keyup", onKeyUp], [document, "pointerdown", onOutside, true],
  ];
  for (const [target, type, fn, opts] of listeners) target.addEventListener(type, fn, opts);
  const traitEvents = [
    ["change:_image change:image_shape", rebuild],
    ["change:_labels", setLabels],
    ["change:_palette change:class_names", () => { rebuild(); syncUI(); }],
    ["change:tool change:active_class change:brush_size change:opacity change:error", syncUI],
    ["change:can_undo change:can_redo change:last_edit_ms", syncUI],
    ["msg:custom", onCustom],
  ];
  for (const [names, fn] of traitEvents) model.on(names, fn);
  const observer = new ResizeObserver(() => resize());
  observer.observe(stage);
  rebuild();
  syncUI();
  model.send({ type: "hello" }); // labels may have changed since this state was saved: ask for the truth

  return () => {
    for (const [target, type, fn, opts] of listeners) target.removeEventListener(type, fn, opts);
    for (const [names, fn] of traitEvents) model.off(names, fn);
    observer.disconnect();
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  };
}

export default { render };
