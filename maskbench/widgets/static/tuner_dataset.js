// maskbench ThresholdTuner, dataset mode (ThresholdTuner.from_sweep): the per-image scores at the
// slider's threshold as a histogram (mean and pooled value marked) and the k worst images; a click
// on one loads it in the same widget (`dataset_item`). Everything follows the slider in the browser:
// the kernel sent the per-image counts (N, T, 3) once (or, for large N, one metric's (N, T) scores).
// Pure helpers first (node tests: tests/js/test_tuner_dataset.mjs), then the panel's DOM.
import { el } from "./shared.js";
import { PAD, axis, fitCanvas, histogramBars, marker, scoreFromCounts, valueToX } from "./tuner_core.js";

export const SCORE_BINS = 20;
const METRIC_NAMES = { iou: "IoU", dice: "Dice", precision: "Precision", recall: "Recall" };

/**
 * (N,) per-image scores at grid position j. tier "counts": perImage is (N, T, 3) tp / fp / fn
 * (scores_from_counts' formula, in doubles); tier "scores": (N, T) scores of the metric already.
 */
export function perImageScores(perImage, tier, n, t, j, metric, out = new Float64Array(n)) {
  if (tier === "counts") {
    for (let i = 0; i < n; i++) { const o = 3 * (i * t + j); out[i] = scoreFromCounts(perImage[o], perImage[o + 1], perImage[o + 2], metric); }
  } else {
    for (let i = 0; i < n; i++) out[i] = perImage[i * t + j];
  }
  return out;
}

/** The pooled score at grid position j from (T, 3) pooled tp / fp / fn. */
export function pooledScore(pooled, j, metric) {
  return scoreFromCounts(pooled[3 * j], pooled[3 * j + 1], pooled[3 * j + 2], metric);
}

/** Counts of scores in `bins` equal bins of [0, 1] (1.0 in the last); NaN is left out. */
export function scoreHistogram(scores, bins = SCORE_BINS) {
  const out = new Int32Array(bins);
  for (const s of scores) if (s === s) out[Math.min(bins - 1, Math.max(0, Math.floor(s * bins)))]++;
  return out;
}

/** Mean of the non-NaN scores (NaN when there are none). */
export function meanScore(scores) {
  let sum = 0, n = 0;
  for (const s of scores) if (s === s) { sum += s; n++; }
  return n ? sum / n : NaN;
}

/** Positions of the k lowest scores, worst first; ties keep the sweep's order, NaN goes last. */
export function worstK(scores, k) {
  const idx = Array.from(scores, (_, i) => i);
  const key = (i) => (scores[i] === scores[i] ? scores[i] : Infinity);
  idx.sort((a, b) => key(a) - key(b) || a - b);
  return idx.slice(0, k);
}

/** The dataset panel; inert (hidden, draws nothing) unless the kernel sent a dataset. */
export function createDatasetPanel({ model, side, after, curveTitle, muted, decode, pick }) {
  const box = el("div", "mb-tuner-card mb-tuner-dataset");
  const head = el("div", "mb-tuner-card-head");
  const title = el("span", "mb-tuner-card-title");
  const metric = el("select", "mb-tuner-dataset-metric", { title: "Per-image score" });
  metric.append(...Object.entries(METRIC_NAMES).map(([k, v]) => el("option", "", { value: k }, v)));
  head.append(title, metric);
  const canvas = el("canvas", "mb-tuner-chart mb-tuner-dataset-chart");
  const summary = el("div", "mb-tuner-dataset-summary");
  const showing = el("div", "mb-tuner-dataset-showing");
  const list = el("ol", "mb-tuner-worst");
  box.append(head, canvas, summary, el("div", "mb-tuner-dataset-sub", {}, "Worst images (click to show)"), list, showing);
  box.style.display = "none";
  after.after(box);
  const onMetric = () => { model.set("dataset_metric", metric.value); model.save_changes(); };
  metric.addEventListener("change", onMetric);
  const onClick = (e) => { const b = e.target.closest && e.target.closest("button[data-item]"); if (b) pick(Number(b.dataset.item)); };
  list.addEventListener("click", onClick);
  const resize = new ResizeObserver(() => last !== null && draw(last, true));
  resize.observe(canvas);

  let d = null, last = null, scores = null, lastKey = "";
  function load() {
    const info = model.get("_dataset_info") || {};
    if (!info.size) { d = null; box.style.display = "none"; return; }
    const pooled = decode(model.get("_pooled"));
    const per = decode(model.get("_per_image"));
    const now = decode(model.get("_scores_now"));
    const t = pooled ? pooled.shape[0] : 0;
    d = { n: info.size, t, tier: info.tier, ids: info.ids || [], pooled: pooled && pooled.data, per: per && per.data, now: now && now.data, grid: null };
    scores = new Float64Array(d.n);
    box.style.display = "";
    metric.value = model.get("dataset_metric");
    curveTitle.textContent = "Pooled IoU / Dice vs threshold (all images)";
    lastKey = "";
  }
  const name = (i) => (d.ids[i] !== undefined ? d.ids[i] : `#${i}`);

  /** Redraw for threshold `current` at grid position j (-1 off the grid). */
  function draw(current, force = false, j = -1, kernelThreshold = null) {
    last = current;
    if (!d) return;
    const m = model.get("dataset_metric");
    let fresh = true;
    if (j >= 0 && d.tier !== "kernel" && d.per) perImageScores(d.per, d.tier, d.n, d.t, j, m, scores);
    else if (d.now && d.now.length === d.n) { scores.set(d.now); fresh = kernelThreshold === current; }
    else fresh = false;
    const key = `${current}|${m}|${model.get("dataset_item")}|${fresh}|${d.now ? d.now[0] : ""}`;
    if (key === lastKey && !force) return;
    lastKey = key;
    const pooled = j >= 0 && d.pooled ? pooledScore(d.pooled, j, m) : NaN;
    const mean = meanScore(scores);
    const worst = worstK(scores, model.get("worst_k"));
    title.textContent = `Per-image ${METRIC_NAMES[m]} at t = ${current.toFixed(3)}`;
    summary.textContent = `mean ${mean.toFixed(3)} \u00b7 pooled ${Number.isFinite(pooled) ? pooled.toFixed(3) : "\u2013"} \u00b7 ${d.n} images`;
    box.classList.toggle("mb-tuner-stale", !fresh);
    const item = model.get("dataset_item");
    list.replaceChildren(...worst.map((i) => {
      const b = el("button", `mb-tuner-worst-item${i === item ? " mb-tuner-worst-current" : ""}`, { type: "button", "data-item": i, title: `Show image ${name(i)}` });
      b.append(el("span", "mb-tuner-worst-id", {}, name(i)), el("span", "mb-tuner-worst-score", {}, scores[i].toFixed(3)));
      const li = el("li");
      li.append(b);
      return li;
    }));
    showing.textContent = `Showing image ${name(item)} (${item + 1} / ${d.n})`;
    Object.assign(box.dataset, { worst: worst.join(","), mean: String(mean), pooled: String(pooled), at: String(current), item: String(item) });
    const fit = fitCanvas(canvas);
    if (!fit) return;
    const { ctx, w, h } = fit;
    const counts = scoreHistogram(scores);
    ctx.fillStyle = "rgba(25, 118, 210, 0.75)";
    for (const b of histogramBars(counts, 1, SCORE_BINS, w, h, { log: false })[0]) if (b.h > 0) ctx.fillRect(b.x + 0.5, b.y, Math.max(0.5, b.w - 1), b.h);
    axis(ctx, w, h, muted());
    if (Number.isFinite(mean)) marker(ctx, valueToX(mean, w), PAD.t, h - PAD.b, "#cc79a7", [3, 3]);
    if (Number.isFinite(pooled)) marker(ctx, valueToX(pooled, w), PAD.t, h - PAD.b, "rgb(230, 159, 0)");
  }
  return {
    load,
    draw,
    get active() { return d !== null; },
    destroy() { metric.removeEventListener("change", onMetric); list.removeEventListener("click", onClick); resize.disconnect(); box.remove(); },
  };
}
