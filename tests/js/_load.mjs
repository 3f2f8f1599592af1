// Import a widget's ESM file (maskbench/widgets/static/<name>.js) for node tests.
// The widget files are plain .js without a package.json "type": "module", so node 20 would read
// them as CommonJS: load them through a data: URL instead (they have no imports of their own).
import { readFileSync } from "node:fs";

export async function loadWidget(name) {
  const url = new URL(`../../maskbench/widgets/static/${name}.js`, import.meta.url);
  const source = readFileSync(url, "utf8");
  return import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
}
