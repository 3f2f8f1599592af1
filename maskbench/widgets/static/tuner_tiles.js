// maskbench ThresholdTuner: full-resolution tiles past the proxy (the kernel side is _tuner_tiles.py).
import { tintPixels } from "./shared.js";
import { TILE, createTileCache, createTileClient, levelFor, levelShape, tileKey, visibleTiles } from "./tiles.js";
import { EDGE_RGB, MASK_RGBA, REMOVED_RGBA, composeOverlay, greyPixels, packColour, thresholdProxy, tileOutline } from "./tuner_core.js";

const MAX_COMPOSED = 36; // composed tile canvases kept (a screenful at native zoom, ~1.3 MB each)
const EDGE32 = packColour([...EDGE_RGB, 255]);

/**
 * Full resolution on the stage: where the view shows more than the proxy has (or the proxy is uint8
 * levels, whose p > t is not exact), the visible tiles of level levelFor(view) are composed like the
 * proxy overlay from the kernel's tiles (_tuner_tiles.py): the image (or grey from p), p > t at the
 * slider's value in every frame (the kernel's rule on real input values), or the kernel's cleaned
 * mask and what clean-up removed, and the target's outline (from each tile and its neighbours). A
 * tile still on its way leaves the proxy showing there. `look()` = {t, opacity, useKernel, cleaned,
 * showTarget, proxy: [dw, dh], exact}. root.dataset.tileLevel = the level drawn ("proxy": none);
 * probes "sharp" ends when every tile in view is drawn at that level.
 */
export function createTileOverlay({ model, root, probes, stage, look }) {
  const cache = createTileCache();
  let info = model.get("_tiles_info") || {};
  const client = createTileClient({ send: (msg) => model.send(msg), cache, info, rgba: ["image"] }); // image: grey / RGB on the wire
  const composed = new Map(); // "k/r/c" -> {canvas, ctx, img, out32, pre, sig, baseSig, base32, tint32, removed32}
  const has = (layer) => !!(info.layers && info.layers[layer]);
  const version = (layer) => info.layers[layer].version;
  const get = (layer, k, r, c) => (has(layer) && cache.get(tileKey(layer, k, r, c, version(layer)))) || null;
  const setInfo = () => { info = model.get("_tiles_info") || {}; client.setInfo(info); stage.schedule(); };
  const receive = (msg, buffers) => {
    const ok = !!msg && msg.type === "tiles" && client.receive(msg, buffers);
    if (ok) stage.paint(); // tiles came: drawn now, on screen in the next frame (not one frame later)
    return ok;
  };

  // the row / column of the target tile beside (r, c) that touches it: null past the image's edge,
  // undefined while that tile is not here
  function neighbour(k, r, c, [rows, cols], side) {
    const rr = r + ({ up: -1, down: 1 }[side] || 0), cc = c + ({ left: -1, right: 1 }[side] || 0);
    if (rr < 0 || cc < 0 || rr >= rows || cc >= cols) return null;
    const t = get("target", k, rr, cc);
    if (!t) return undefined;
    const { data, w, h } = t, x = side === "left" ? w - 1 : 0;
    if (side === "up" || side === "down") return side === "up" ? data.subarray((h - 1) * w, h * w) : data.subarray(0, w);
    return Uint8Array.from({ length: h }, (_, y) => data[y * w + x]);
  }

  /** The composed canvas of tile (k, r, c), or null while a tile it needs is not here. */
  function compose(k, r, c, grid, L) {
    const prob = get("prob", k, r, c);
    const image = has("image") ? get("image", k, r, c) : null;
    if (!prob || (has("image") && !image)) return null;
    const useMask = L.useKernel && L.cleaned && has("mask");
    const mask = useMask ? get("mask", k, r, c) : null;
    if (useMask && !mask) return null;
    const target = L.showTarget && has("target") ? get("target", k, r, c) : null;
    const { w, h } = prob, id = `${k}/${r}/${c}`;
    let e = composed.get(id);
    if (!e || e.w !== w || e.h !== h) {
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      const img = new ImageData(w, h);
      e = { canvas, ctx: canvas.getContext("2d"), img, out32: new Uint32Array(img.data.buffer), pre: new Uint8Array(w * h), w, h };
    }
    composed.delete(id);
    composed.set(id, e); // most recently used last
    const baseSig = `${prob.version}|${image ? image.version : ""}|${L.opacity}`;
    if (e.baseSig !== baseSig) {
      const base = image ? new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, w * h * 4) : greyPixels(prob.data);
      e.base32 = new Uint32Array(Uint8ClampedArray.from(base).buffer);
      e.tint32 = new Uint32Array(tintPixels(base, MASK_RGBA, L.opacity).buffer);
      e.removed32 = new Uint32Array(tintPixels(base, REMOVED_RGBA, L.opacity).buffer);
      e.baseSig = baseSig;
      e.sig = "";
    }
    const sides = target ? ["up", "down", "left", "right"].map((side) => neighbour(k, r, c, grid, side)) : [];
    const edgeSig = target ? `${target.version}:${sides.map((x) => (x === null ? "e" : x === undefined ? "?" : "n")).join("")}` : "-";
    const sig = `${L.t}|${useMask ? mask.version : "p"}|${edgeSig}`;
    if (e.sig === sig) return e;
    thresholdProxy(prob.data, L.t, e.pre);
    const extra = {};
    if (useMask) Object.assign(extra, { removed32: e.removed32, removedMask: e.pre });
    if (target) {
      const [up, down, left, right] = sides;
      Object.assign(extra, { edgeIndex: tileOutline(target.data, w, h, { up, down, left, right }), edge32: EDGE32 });
    }
    composeOverlay(e.out32, e.base32, e.tint32, useMask ? mask.data : e.pre, extra);
    e.ctx.putImageData(e.img, 0, 0);
    e.sig = sig;
    while (composed.size > MAX_COMPOSED) composed.delete(composed.keys().next().value);
    return e;
  }

  let ready = []; // [composed, dx, dy, dw, dh] of the tiles in view, from prepare()

  /** Ask for and compose the tiles in view; true when every one is here (they cover the view). */
  function prepare(view) {
    ready = [];
    const L = look();
    if (!info.shape || !info.layers || !info.layers.prob) { root.dataset.tileLevel = "proxy"; return false; }
    const shape = info.shape, [sw, sh] = stage.size;
    const k = levelFor(view.scale, info.levels);
    const [lh, lw] = levelShape(shape, k), [dw, dh] = L.proxy;
    const finer = lw > dw || lh > dh, same = lw >= dw && lh >= dh;
    if (!(finer || (same && !L.exact))) {
      root.dataset.tileLevel = "proxy";
      probes.end("sharp");
      return false;
    }
    const layers = ["prob"];
    if (has("image")) layers.push("image");
    if (L.showTarget && has("target")) layers.push("target");
    if (L.useKernel && L.cleaned && has("mask")) layers.push("mask");
    // the tiles in view first (a smaller reply comes sooner), with the target's neighbours (its outline
    // at their seams; small uint8 tiles); the margin's other layers once those are all here
    const inView = visibleTiles(view, sw, sh, shape, k, 0), margin = visibleTiles(view, sw, sh, shape, k, 1);
    const keys = (tiles, names) => tiles.flatMap(([r, c]) => names.map((layer) => [layer, k, r, c]));
    const first = [...keys(inView, layers), ...keys(margin, layers.filter((l) => l === "target"))];
    const here = first.every(([layer, , r, c]) => cache.has(tileKey(layer, k, r, c, version(layer))));
    client.want(here ? [...first, ...keys(margin, layers)] : first);
    const grid = [Math.ceil(lh / TILE), Math.ceil(lw / TILE)], s = 2 ** k;
    let missing = 0;
    for (const [r, c] of inView) {
      const e = compose(k, r, c, grid, L);
      if (e) ready.push([e, c * TILE * s, r * TILE * s, e.w * s, e.h * s]);
      else missing++;
    }
    root.dataset.tileLevel = String(k);
    root.dataset.tilesMissing = String(missing);
    if (!missing) probes.end("sharp");
    return !missing && ready.length > 0;
  }

  /** Draw the prepared tiles under the stage's transform (full-resolution px). */
  function draw(ctx) {
    if (!ready.length || !info.shape) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, info.shape[1], info.shape[0]); // edge tiles' last block may stick out of the image
    ctx.clip();
    for (const [e, dx, dy, dw, dh] of ready) ctx.drawImage(e.canvas, 0, 0, e.w, e.h, dx, dy, dw, dh);
    ctx.restore();
  }

  return { prepare, draw, receive, setInfo, cache, get composedCount() { return composed.size; } };
}
