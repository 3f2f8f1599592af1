// Import a widget's front-end modules (maskbench/widgets/static/) for node tests.
// static/package.json says "type": "module", so node imports the files with their real
// `import ... from "./shared.js"` lines. loadWidget("painter") merges shared.js, tiles.js, probes.js,
// painter_core.js and painter.js into one namespace (what the assembled module exports);
// loadWidget("tuner_core") leaves out the DOM wiring. assembled(name) imports exactly what the
// widget's Python class sends as `_esm` (maskbench.widgets._frontend.assemble).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const STATIC = new URL("../../maskbench/widgets/static/", import.meta.url);
const ROOT = new URL("../../", import.meta.url);

export async function loadWidget(name) {
  const base = name.replace(/_core$/, "");
  const parts = ["shared", "tiles", "probes", `${base}_core`, ...(base === name ? [base] : [])];
  const mods = await Promise.all(parts.map((p) => import(new URL(`${p}.js`, STATIC))));
  return Object.assign({}, ...mods);
}

function python() {
  if (process.env.MASKBENCH_PYTHON) return process.env.MASKBENCH_PYTHON;
  const venv = new URL(".venv/bin/python", ROOT);
  return existsSync(venv) ? venv.pathname : "python3";
}

export async function assembled(name) {
  const code = `import sys; from maskbench.widgets._frontend import assemble; sys.stdout.write(assemble(${JSON.stringify(name)}))`;
  const r = spawnSync(python(), ["-c", code], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`assemble(${name}) failed: ${r.stderr}`);
  return import(`data:text/javascript;base64,${Buffer.from(r.stdout).toString("base64")}`);
}
