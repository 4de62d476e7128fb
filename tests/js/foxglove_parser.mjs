// Foxglove's own jsonschema parser, the one its viewer runs on every json channel it opens.
//
// `parseJsonSchema` lives in Foxglove's (and Lichtblick's) mcap-support package, which is not
// published on npm. The published @foxglove/studio-base (pinned in package.json) ships it
// compiled into a webpack chunk of its MCAP player; this module finds that function's text in
// the chunk, as built, and makes it callable: its one dependency, @protobufjs/base64, is
// protobufjs's own `util.base64`. Lichtblick's copy of the function is the same code.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const START = ";// CONCATENATED MODULE: ../mcap-support/src/parseJsonSchema.ts";
const ENDS = ["\n// EXTERNAL MODULE:", ";// CONCATENATED MODULE:"];

/** { parseJsonSchema, source } or { parseJsonSchema: null, reason }. */
export function loadFoxgloveParser() {
  let pkgDir;
  try {
    pkgDir = dirname(require.resolve("@foxglove/studio-base/package.json"));
  } catch {
    return { parseJsonSchema: null, reason: "@foxglove/studio-base not installed in tests/js" };
  }
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
  const assets = join(pkgDir, "assets");
  for (const name of readdirSync(assets)) {
    const file = join(assets, name);
    if (!name.endsWith(".js") || statSync(file).size > 8_000_000) continue; // index.js: the whole app
    const text = readFileSync(file, "utf8");
    const at = text.indexOf(START);
    if (at < 0) continue;
    const from = at + START.length;
    const end = Math.min(...ENDS.map((m) => text.indexOf(m, from)).filter((i) => i > 0));
    const base64 = require("protobufjs/minimal.js").util.base64;
    const parseJsonSchema = new Function("base64", `${text.slice(from, end)}\nreturn parseJsonSchema;`)(base64);
    return { parseJsonSchema, source: `@foxglove/studio-base ${version} ${name}` };
  }
  return { parseJsonSchema: null, reason: `no parseJsonSchema in @foxglove/studio-base ${version}` };
}
