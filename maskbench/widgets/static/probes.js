// Latency probes read by the browser tests (tests/browser), kept apart from the drawing code: a view
// calls probes.start(key) where an input happens and probes.end(key) where its pixels are on screen;
// the numbers land in the widget root's dataset (data-<name>-ms, data-<name>-frames).

const MAX_OPEN = 256;

export function createProbes(root) {
  const open = new Map(); // key -> start time (performance.now() time base, like event.timeStamp)
  const count = (name) => { root.dataset[name] = String(Number(root.dataset[name] || 0) + 1); };
  return {
    /** Start timing `key` unless it is already running (the first input of a burst counts). */
    start(key, t = performance.now()) {
      if (open.has(key)) return;
      open.set(key, t);
      if (open.size > MAX_OPEN) open.delete(open.keys().next().value);
    },
    /** Start timing `key` afresh. */
    restart(key, t = performance.now()) { open.delete(key); this.start(key, t); },
    /** Stop timing `key`: data-<name>-ms = elapsed, data-<name>-frames += 1. False when not running. */
    end(key, name = key) {
      const t = open.get(key);
      if (t === undefined) return false;
      open.delete(key);
      root.dataset[`${name}Ms`] = (performance.now() - t).toFixed(2);
      count(`${name}Frames`);
      return true;
    },
    count,
    set(name, value) { root.dataset[name] = String(value); },
  };
}
