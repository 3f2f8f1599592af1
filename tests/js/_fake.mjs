// A fake anywidget model and a minimal DOM, enough to run a widget's render() under node
// (lonboard's fake-widget-model pattern; no jsdom). The model records set / save_changes / send
// calls and, like marimo's, keeps listeners under the exact event string (so "change:a change:b"
// in one on() call would never fire: the fake refuses it outright).

export class FakeModel {
  constructor(state) {
    this.state = { ...state };
    this.listeners = new Map();
    this.calls = []; // ["set", name, value] | ["save_changes"] | ["send", msg, buffers]
  }
  get(name) { return this.state[name]; }
  set(name, value) {
    this.calls.push(["set", name, value]);
    this.#change(name, value);
  }
  save_changes() { this.calls.push(["save_changes"]); }
  send(msg, callbacks, buffers) { this.calls.push(["send", msg, buffers]); }
  on(name, fn) {
    if (/\s/.test(name)) throw new Error(`model.on("${name}"): one event name per call (marimo)`);
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
  }
  off(name, fn) { this.listeners.get(name)?.delete(fn); }
  /** The kernel changes a trait (what arrives over the comm). */
  kernelSet(name, value) { this.#change(name, value); }
  /** The kernel sends a custom message. */
  kernelSend(msg, buffers = []) { for (const fn of this.listeners.get("msg:custom") || []) fn(msg, buffers); }
  listenerCount() { let n = 0; for (const s of this.listeners.values()) n += s.size; return n; }
  /** The set calls since the last clear, then clear. */
  take() { const c = this.calls; this.calls = []; return c; }
  #change(name, value) {
    if (this.state[name] === value) return;
    this.state[name] = value;
    for (const fn of this.listeners.get(`change:${name}`) || []) fn();
  }
}

class FakeContext {
  constructor(canvas) { this.canvas = canvas; this.puts = []; }
  // copies, as a real canvas does (callers may reuse one ImageData for many tiles)
  putImageData(img, x, y) {
    const copy = { data: img.data.slice(), width: img.width, height: img.height };
    this.puts.push({ img: copy, x, y });
    this.canvas.pixels = copy.data;
  }
  getImageData(x, y, w, h) { return new globalThis.ImageData(w, h); }
}
// every other 2D-context call (drawImage, arc, stroke, setTransform, ...) is accepted and ignored
const contextProxy = (canvas) => new Proxy(new FakeContext(canvas), {
  get: (t, k) => (k in t ? t[k] : () => {}),
  set: (t, k, v) => { t[k] = v; return true; },
});

let listenerTotal = 0;

export class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.parent = null;
    this.attributes = new Map();
    this.dataset = {};
    this.style = {};
    this.handlers = new Map();
    this.className = "";
    this._text = "";
    this._value = null;
    this.checked = false;
    this.disabled = false;
    this.width = 300;
    this.height = 150;
    const self = this;
    this.classList = {
      add: (...c) => { for (const x of c) if (!self.classList.contains(x)) self.className = `${self.className} ${x}`.trim(); },
      remove: (...c) => { self.className = self.className.split(/\s+/).filter((x) => !c.includes(x)).join(" "); },
      toggle: (c, on = !self.classList.contains(c)) => { if (on) self.classList.add(c); else self.classList.remove(c); return on; },
      contains: (c) => self.className.split(/\s+/).includes(c),
    };
  }
  setAttribute(k, v) {
    this.attributes.set(k.toLowerCase(), String(v));
    if (k.startsWith("data-")) this.dataset[k.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = String(v);
  }
  getAttribute(k) { return this.attributes.has(k.toLowerCase()) ? this.attributes.get(k.toLowerCase()) : null; }
  // a range input without a value shows the middle of its range (the HTML rule)
  get value() {
    if (this._value !== null) return this._value;
    if (this.getAttribute("type") === "range") {
      const lo = Number(this.getAttribute("min") ?? 0), hi = Number(this.getAttribute("max") ?? 100);
      return String(lo + (hi - lo) / 2);
    }
    return "";
  }
  set value(v) { this._value = String(v); }
  get min() { return this.getAttribute("min"); }
  set min(v) { this.setAttribute("min", v); }
  get max() { return this.getAttribute("max"); }
  set max(v) { this.setAttribute("max", v); }
  get options() { return this.children.filter((c) => c.tagName === "OPTION"); }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set textContent(t) { this.children = []; this._text = String(t); }
  append(...nodes) {
    for (const n of nodes) {
      if (typeof n === "string") { this._text += n; continue; }
      n.remove();
      n.parent = this;
      this.children.push(n);
    }
  }
  appendChild(n) { this.append(n); return n; }
  replaceChildren(...nodes) { for (const c of this.children) c.parent = null; this.children = []; this._text = ""; this.append(...nodes); }
  remove() { if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this); this.parent = null; }
  contains(n) { for (let p = n; p; p = p.parent) if (p === this) return true; return false; }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  querySelectorAll(sel) { // ".a.b" class selectors only
    const want = sel.split(".").filter(Boolean);
    const out = [];
    const walk = (e) => { for (const c of e.children) { if (want.every((w) => c.classList.contains(w))) out.push(c); walk(c); } };
    walk(this);
    return out;
  }
  addEventListener(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    if (!this.handlers.get(type).has(fn)) listenerTotal++;
    this.handlers.get(type).add(fn);
  }
  removeEventListener(type, fn) { if (this.handlers.get(type)?.delete(fn)) listenerTotal--; }
  /** Fire `type` here and on the ancestors (bubbling), with `props` on the event. */
  dispatch(type, props = {}) {
    const e = { type, target: this, timeStamp: performance.now(), defaultPrevented: false, stopped: false,
      preventDefault() { this.defaultPrevented = true; }, stopPropagation() { this.stopped = true; }, ...props };
    for (let n = this; n && !e.stopped; n = n.parent) {
      if (typeof n[`on${type}`] === "function") n[`on${type}`](e); // handler properties (el({onclick}))
      for (const fn of n.handlers.get(type) || []) fn(e);
    }
    return e;
  }
  click() { if (!this.disabled) this.dispatch("click"); }
  focus() { globalThis.document.activeElement = this; this.dispatch("focusin"); }
  blur() { if (globalThis.document.activeElement === this) globalThis.document.activeElement = null; }
  setPointerCapture() {}
  getBoundingClientRect() { return { left: 0, top: 0, x: 0, y: 0, width: 400, height: 300 }; }
  get clientWidth() { return 400; }
  get clientHeight() { return 300; }
  getContext() { return (this._ctx ||= contextProxy(this)); }
}

/** Install the fake DOM globals; returns {frames(), flush()} for requestAnimationFrame. */
export function installDom() {
  const frames = new Map();
  let next = 1;
  const doc = new FakeElement("#document");
  doc.createElement = (tag) => new FakeElement(tag);
  doc.activeElement = null;
  globalThis.document = doc;
  globalThis.window = globalThis;
  globalThis.devicePixelRatio = 1;
  globalThis.ImageData = class {
    constructor(a, b, c) {
      if (typeof a === "number") { this.width = a; this.height = b; this.data = new Uint8ClampedArray(a * b * 4); }
      else { this.data = a; this.width = b; this.height = c ?? a.length / 4 / b; }
    }
  };
  globalThis.requestAnimationFrame = (fn) => { const id = next++; frames.set(id, fn); return id; };
  globalThis.cancelAnimationFrame = (id) => frames.delete(id);
  const observers = new Set(); // ResizeObservers made since: dom.resize() runs their callbacks, as a layout would
  globalThis.ResizeObserver = class {
    constructor(callback) { this.callback = callback; observers.add(this); }
    observe() {} unobserve() {}
    disconnect() { observers.delete(this); }
  };
  globalThis.getComputedStyle = () => ({ getPropertyValue: () => "" });
  return {
    /** Run the pending animation frames (and the microtasks queued before them). */
    async flush() {
      await Promise.resolve();
      const due = [...frames.values()];
      frames.clear();
      for (const fn of due) fn(performance.now());
      await Promise.resolve();
    },
    listeners: () => listenerTotal,
    /** A layout changed sizes: every ResizeObserver's callback runs now (before the next frame). */
    resize() { for (const o of [...observers]) o.callback([]); },
  };
}

/** {buffer: DataView, dtype, shape}: what the kernel's array traits look like in the browser. */
export function payload(typed, dtype, shape) {
  return { buffer: new DataView(typed.buffer, typed.byteOffset, typed.byteLength), dtype, shape };
}
