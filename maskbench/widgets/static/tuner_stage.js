// maskbench ThresholdTuner: the image stage (createStage: zoom / pan over the proxy overlay, tiles on
// top; tuner_tiles.js draws the tiles).
import { listen, viewFit, viewKeep, viewPan, viewPercent, viewZoom } from "./shared.js";
import { drawPixelGrid } from "./tiles.js";
import { stageKey } from "./tuner_core.js";

export const MAX_ZOOM = 64; // screen px per image px
const MIN_ZOOM = 0.5; // times the fitted scale (or 1:1, when the image is smaller than the stage)

/**
 * The image stage: the screen canvas shows `ui.canvas` (the proxy overlay, dw x dh for a W x H image;
 * `proxy()` composes it first) under a view {scale, tx, ty} in FULL-resolution image px, then the
 * tiles on top (`overlay` = {prepare(view) -> true when they cover the view, draw(ctx)}: the proxy is
 * then neither composed nor drawn). Wheel zooms about the cursor, a drag pans; keys on the focused
 * image: + - zoom, 0 / f fit, g grid, arrows pan (the slider keeps its arrows).
 * `onMove(view)` runs after every user zoom / pan. The view is in root.dataset.view ("scale,tx,ty").
 */
export function createStage({ ui, root, onMove = () => {}, proxy = () => {} }) {
  const st = { view: { scale: 1, tx: 0, ty: 0 }, W: 0, H: 0, w: 0, h: 0, user: false, frame: 0, overlay: null };
  const ctx = ui.screen.getContext("2d");
  let drag = null;
  const dpr = () => window.devicePixelRatio || 1;
  const limits = () => { const fit = viewFit(st.w, st.h, st.W, st.H).scale; return [Math.min(fit, 1) * MIN_ZOOM, MAX_ZOOM]; };

  function paint() {
    if (st.frame) cancelAnimationFrame(st.frame);
    st.frame = 0;
    const k = dpr(), v = st.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ui.screen.width, ui.screen.height);
    if (!st.W || !st.w || !ui.canvas.width) return;
    ctx.setTransform(k * v.scale, 0, 0, k * v.scale, k * v.tx, k * v.ty);
    if (!(st.overlay && st.overlay.prepare(v))) { // tiles do not cover the view: the proxy under them
      proxy();
      ctx.imageSmoothingEnabled = (v.scale * st.W) / ui.canvas.width < 1; // shrunk: smooth; enlarged: crisp proxy pixels
      ctx.drawImage(ui.canvas, 0, 0, st.W, st.H);
    }
    ctx.imageSmoothingEnabled = false;
    if (st.overlay) st.overlay.draw(ctx);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (ui.grid.checked) drawPixelGrid(ctx, v, st.w, st.h, st.W, st.H, k);
    root.dataset.view = `${v.scale},${v.tx},${v.ty}`;
    if (!root.dataset.firstPaint) root.dataset.firstPaint = String(Date.now()); // the open latency's end
    ui.zoom.textContent = viewPercent(v.scale);
  }
  const schedule = () => { if (!st.frame) st.frame = requestAnimationFrame(paint); };

  function fit() {
    st.user = false;
    if (st.W && st.w) st.view = viewFit(st.w, st.h, st.W, st.H);
    root.dataset.zoom = "fit";
    onMove(st.view);
    schedule();
  }
  function moved(v) {
    st.view = viewKeep(v, st.w, st.h, st.W, st.H);
    st.user = true;
    root.dataset.zoom = "user";
    onMove(st.view);
    schedule();
  }
  function resize() {
    // whole CSS px: the backing store is then exactly dpr x the box (a fractional box would stretch
    // the canvas on screen by a hair, and with it every image pixel's place)
    const box = ui.frame.getBoundingClientRect(), w = Math.floor(box.width), h = Math.floor(box.height);
    if (!(w > 0 && h > 0)) return;
    const k = dpr();
    if (ui.screen.width !== Math.round(w * k) || ui.screen.height !== Math.round(h * k) || st.w !== w || st.h !== h) {
      ui.screen.width = Math.round(w * k);
      ui.screen.height = Math.round(h * k);
      ui.screen.style.width = `${w}px`;
      ui.screen.style.height = `${h}px`;
    }
    if (st.user && st.w) {
      const f = w / st.w; // keep what is in view as the frame grows or shrinks
      st.view = { scale: st.view.scale * f, tx: st.view.tx * f, ty: st.view.ty * f };
    }
    st.w = w; st.h = h;
    if (!st.user) fit(); else { onMove(st.view); schedule(); }
  }
  /** A new image of W x H full-resolution px: a new size refits, the same size keeps the view. */
  function setImage(W, H) {
    if (W === st.W && H === st.H) return schedule();
    st.W = W; st.H = H;
    resize();
    fit();
  }

  const local = (e) => { const r = ui.screen.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const centre = () => [st.w / 2, st.h / 2];
  const lo = () => limits()[0], hi = () => limits()[1];
  function onWheel(e) {
    if (!st.W) return;
    e.preventDefault();
    moved(viewZoom(st.view, ...local(e), Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), lo(), hi()));
  }
  function onDown(e) {
    if (e.button !== 0 && e.button !== 1) return;
    ui.screen.focus({ preventScroll: true });
    drag = { id: e.pointerId, at: local(e), view: st.view };
    ui.screen.setPointerCapture(e.pointerId);
    ui.frame.classList.add("mb-tuner-panning");
    e.preventDefault();
  }
  function onDrag(e) {
    if (!drag || drag.id !== e.pointerId) return;
    const [x, y] = local(e);
    moved(viewPan(drag.view, x - drag.at[0], y - drag.at[1]));
  }
  function onUp(e) {
    if (!drag || drag.id !== e.pointerId) return;
    drag = null;
    ui.frame.classList.remove("mb-tuner-panning");
  }
  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const a = stageKey(e.key, e.shiftKey);
    if (!a) return;
    if (a.type === "zoom") moved(viewZoom(st.view, ...centre(), a.value, lo(), hi()));
    else if (a.type === "pan") moved(viewPan(st.view, a.dx, a.dy));
    else if (a.type === "grid") { ui.grid.checked = !ui.grid.checked; schedule(); }
    else fit();
    e.preventDefault();
    e.stopPropagation(); // JupyterLab's command-mode shortcuts must not see it
  }
  const unlisten = listen([
    [ui.screen, "wheel", onWheel, { passive: false }], [ui.screen, "pointerdown", onDown], [ui.screen, "pointermove", onDrag],
    [ui.screen, "pointerup", onUp], [ui.screen, "pointercancel", onUp], [ui.screen, "keydown", onKey],
    [ui.screen, "dblclick", fit], [ui.fit, "click", fit], [ui.grid, "change", schedule],
  ]);
  // the first size known (the widget was just laid out): paint in this frame (a ResizeObserver runs
  // before the frame is drawn), not in the next one; later sizes wait for the next frame as usual
  const observer = new ResizeObserver(() => { const first = !st.w; resize(); if (first && st.w) paint(); });
  observer.observe(ui.frame);
  return {
    paint, schedule, fit, resize, setImage,
    get view() { return st.view; },
    get size() { return [st.w, st.h]; },
    set overlay(fn) { st.overlay = fn; },
    destroy() { unlisten(); observer.disconnect(); if (st.frame) cancelAnimationFrame(st.frame); },
  };
}
