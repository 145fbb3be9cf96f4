#!/usr/bin/env node
// A `solc` command-line front for solc-js (the npm `solc` package, the official compiler built to
// WebAssembly), so brownie / py-solc-x compile with no binary download. It answers the two calls
// py-solc-x makes: `--version` and `--standard-json` (input on stdin, output JSON only on stdout).
// Imports are read relative to the project root (GRIDSHARE_ROOT, else this file's parent folder),
// which is how brownie's `@openzeppelin=node_modules/@openzeppelin` remapping resolves.
"use strict";
const fs = require("fs");
const path = require("path");

const root = process.env.GRIDSHARE_ROOT || path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));

function readImport(importPath) {
  const candidates = [path.resolve(root, importPath), path.resolve(process.cwd(), importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `File not found: ${importPath}` };
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (args.includes("--standard-json")) {
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: readImport }));
} else {
  process.stderr.write("solc-launcher: only --version and --standard-json are supported\n");
  process.exit(2);
}
