// maskbench Painter: its DOM (toolbar, legend with per-class visibility and colour, keyboard help
// overlay). painter.js wires it to the model; assembled between painter_core.js and painter.js by
// maskbench/widgets/_frontend.py.
import { el } from "./shared.js";
import { KEYS } from "./painter_core.js";

const TOOLS = [["brush", "Brush", "B"], ["eraser", "Eraser", "E"], ["fill", "Fill", "F"], ["lasso", "Lasso", "L"]];
const SHORT_HELP = [["B E F L", "tools"], ["1–9 0", "class"], ["Alt+click / I", "pick"], ["[ ]", "size"],
  ["Ctrl+Z", "undo"], ["wheel / + −", "zoom"], ["space / right-drag", "pan"], ["?", "all keys"]];

/** The widget's DOM; `act` = {setTrait, send, fit, help} handles the buttons and controls. */
export function buildDom(root, act) {
  const ui = { root };
  const bar = el("div", "mb-bar");
  ui.stage = el("div", "mb-stage");
  ui.canvas = el("canvas", "mb-canvas");
  ui.legend = el("div", "mb-legend");
  const row = el("div", "mb-row"), status = el("div", "mb-status"), help = el("div", "mb-help");
  ui.helpBox = buildHelpBox(act);
  ui.stage.append(ui.canvas, ui.helpBox);
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
  // the paint bucket's mode and the "paint over" rule (preserve labels)
  const choice = (label, cls, title, onchange) => {
    const wrap = el("label", "mb-choice", { title }), select = el("select", cls);
    select.onchange = () => onchange(select.value);
    wrap.append(el("span", "", {}, label), select);
    return [wrap, select];
  };
  let fillWrap, overWrap;
  [fillWrap, ui.fillMode] = choice("Fill", "mb-fillmode", "Fill the connected region, or every pixel with the clicked label (G)",
    (v) => act.setTrait("fill_mode", v));
  ui.fillMode.append(el("option", "", { value: "contiguous" }, "contiguous"), el("option", "", { value: "global" }, "global"));
  [overWrap, ui.paintOver] = choice("Paint over", "mb-paintover", "Which pixels brush, lasso and fill may change",
    (v) => act.setTrait("paint_over", Number(v)));
  ui.undoBtn = el("button", "mb-act", { title: "Undo (Ctrl+Z)", onclick: () => act.send({ type: "undo" }) }, "↶");
  ui.redoBtn = el("button", "mb-act", { title: "Redo (Ctrl+Shift+Z or Ctrl+Y)", onclick: () => act.send({ type: "redo" }) }, "↷");
  const fitBtn = el("button", "mb-act", { title: "Fit the image (R)", onclick: () => act.fit() }, "⤢");
  const helpBtn = el("button", "mb-act mb-help-btn", { title: "Keyboard help (?)", onclick: () => act.help(true) }, "?");
  const acts = el("div", "mb-acts");
  acts.append(ui.undoBtn, ui.redoBtn, fitBtn, helpBtn);
  bar.append(group, sizeWrap, opWrap, fillWrap, overWrap);
  row.append(ui.legend, acts);
  for (const [keys, what] of SHORT_HELP) { const s = el("span"); s.append(el("kbd", "", {}, keys), ` ${what}`); help.appendChild(s); }
  ui.readout = el("span", "mb-readout");
  ui.timing = el("span", "mb-timing");
  ui.errorBox = el("span", "mb-error", { title: "click to dismiss", onclick: () => act.setTrait("error", "") });
  status.append(ui.readout, ui.timing, ui.errorBox);
  return ui;
}

/** The "?" overlay: every key (KEYS) in a table; Esc or its button closes it. */
function buildHelpBox(act) {
  const box = el("div", "mb-helpbox", { role: "dialog", "aria-label": "Painter keyboard help" });
  box.hidden = true;
  const head = el("div", "mb-helpbox-head");
  head.append(el("strong", "", {}, "Keyboard"), el("button", "mb-act mb-helpbox-close", { title: "Close (Esc)", onclick: () => act.help(false) }, "×"));
  const table = el("div", "mb-helpbox-keys");
  for (const [keys, what] of KEYS) table.append(el("kbd", "", {}, keys), el("span", "", {}, what));
  box.append(head, table);
  return box;
}

/** "Paint over" options: every label, or one class (0 = only the background). */
export function fillPaintOver(select, names, value) {
  const opts = [el("option", "", { value: "-1" }, "every label")];
  names.forEach((name, i) => opts.push(el("option", "", { value: String(i) }, i === 0 ? `only ${name} (preserve)` : `only ${name}`)));
  select.replaceChildren(...opts);
  select.value = String(value);
}

/**
 * The legend: per class a button making it active, an eye toggling its visibility (hidden classes
 * are not drawn; the mask keeps them) and a colour picker (setting `class_colors`, validated in the
 * kernel). `st` = {names, colors, visible, active}.
 */
export function fillLegend(legend, st, act) {
  legend.replaceChildren(...st.names.map((name, i) => {
    const item = el("span", "mb-item");
    const pick = el("button", i === st.active ? "mb-class mb-on" : "mb-class", { onclick: () => act.setTrait("active_class", i) });
    const sw = el("span", "mb-swatch");
    if (i) sw.style.background = st.colors[i] || ""; // class 0 keeps the "none" slash
    pick.append(el("kbd", "", {}, i < 10 ? String(i) : ""), sw, el("span", "", {}, name));
    pick.title = `Paint ${name}${i < 10 ? ` (key ${i})` : ""}`;
    item.append(pick);
    if (i) {
      const shown = st.visible[i] !== false;
      const eye = el("button", shown ? "mb-eye" : "mb-eye mb-off", {
        title: `${shown ? "Hide" : "Show"} ${name}`, "aria-pressed": String(!shown),
        onclick: () => act.setTrait("class_visible", st.visible.map((v, k) => (k === i ? !shown : v))),
      }, shown ? "◉" : "○"); // geometric shapes: in every font (an emoji eye is a box without an emoji font)
      const colour = el("input", "mb-color", { type: "color", title: `Colour of ${name}` });
      colour.value = st.colors[i] || "#000000";
      colour.onchange = () => act.setTrait("class_colors", st.colors.map((c, k) => (k === i ? colour.value : c)));
      item.append(eye, colour);
    }
    return item;
  }));
}
