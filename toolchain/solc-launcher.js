#!/usr/bin/env node
// A `solc` command-line front for solc-js (the npm `solc` package, the official compiler built to
// WebAssembly), so brownie / py-solc-x and Slither (crytic-compile) compile with no binary download.
// It answers three calls:
//   --version                   the version line py-solc-x and crytic-compile parse;
//   --standard-json             input on stdin, output JSON only on stdout (py-solc-x, brownie);
//   FILE... --combined-json LIST the legacy combined output solc 0.8 prints (crytic-compile's solc
//                               mode, which Slither uses): built from one standard-JSON compile of
//                               the files, with `prefix=target` remappings, --evm-version,
//                               --optimize / --optimize-runs and --via-ir honoured; other options
//                               (--allow-paths, --base-path, ...) are accepted and ignored.
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

// Options of solc's command line that take a value (so the value is not taken for a file).
const VALUED = new Set([
  "--allow-paths", "--base-path", "--include-path", "--evm-version", "--optimize-runs",
  "--output-dir", "-o", "--libraries", "--metadata-hash", "--revert-strings", "--debug-info",
  "--model-checker-engine", "--model-checker-targets", "--model-checker-timeout",
]);

// What each --combined-json item is, read from a standard-JSON contract output.
const ITEMS = {
  abi: (c) => c.abi,
  bin: (c) => c.evm.bytecode.object,
  "bin-runtime": (c) => c.evm.deployedBytecode.object,
  srcmap: (c) => c.evm.bytecode.sourceMap,
  "srcmap-runtime": (c) => c.evm.deployedBytecode.sourceMap,
  userdoc: (c) => c.userdoc,
  devdoc: (c) => c.devdoc,
  hashes: (c) => c.evm.methodIdentifiers,
  metadata: (c) => c.metadata,
  "storage-layout": (c) => c.storageLayout,
};
const SELECTION = {
  abi: ["abi"],
  bin: ["evm.bytecode.object"],
  "bin-runtime": ["evm.deployedBytecode.object"],
  srcmap: ["evm.bytecode.sourceMap"],
  "srcmap-runtime": ["evm.deployedBytecode.sourceMap"],
  userdoc: ["userdoc"],
  devdoc: ["devdoc"],
  hashes: ["evm.methodIdentifiers"],
  metadata: ["metadata"],
  "storage-layout": ["storageLayout"],
};

function combinedJson(args) {
  const files = [];
  const remappings = [];
  const settings = { outputSelection: { "*": { "*": [], "": [] } } };
  let items = null;
  for (let i = 0; i < args.length; ++i) {
    const arg = args[i];
    if (arg === "--combined-json") items = args[++i].split(",").filter((x) => x !== "compact-format");
    else if (arg === "--evm-version") settings.evmVersion = args[++i];
    else if (arg === "--optimize") settings.optimizer = { ...(settings.optimizer || {}), enabled: true };
    else if (arg === "--optimize-runs") settings.optimizer = { ...(settings.optimizer || {}), runs: Number(args[++i]) };
    else if (arg === "--via-ir" || arg === "--experimental-via-ir") settings.viaIR = true;
    else if (VALUED.has(arg)) ++i;
    else if (arg.startsWith("-")) continue;
    else if (arg.includes("=")) remappings.push(arg);
    else files.push(arg);
  }
  if (items === null || files.length === 0) {
    process.stderr.write("solc-launcher: --combined-json needs a list and at least one file\n");
    process.exit(2);
  }
  for (const item of items) {
    if (item !== "ast" && !ITEMS[item]) {
      process.stderr.write(`solc-launcher: --combined-json item not supported: ${item}\n`);
      process.exit(2);
    }
  }
  settings.remappings = remappings;
  settings.outputSelection["*"]["*"] = items.flatMap((item) => SELECTION[item] || []);
  if (items.includes("ast")) settings.outputSelection["*"][""] = ["ast"];
  const sources = {};
  for (const file of files) sources[file] = { content: fs.readFileSync(file, "utf8") };
  const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings }), { import: readImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(`${e.formattedMessage || e.message}\n`);
  if (errors.length) process.exit(1);
  const result = { contracts: {}, sourceList: [], sources: {}, version: solc.version() };
  const byId = Object.entries(output.sources || {}).sort((a, b) => a[1].id - b[1].id);
  for (const [name, source] of byId) {
    result.sourceList.push(name);
    result.sources[name] = items.includes("ast") ? { AST: source.ast, id: source.id } : { id: source.id };
  }
  for (const [file, contracts] of Object.entries(output.contracts || {})) {
    for (const [name, contract] of Object.entries(contracts)) {
      const entry = {};
      for (const item of items) if (ITEMS[item]) entry[item] = ITEMS[item](contract);
      result.contracts[`${file}:${name}`] = entry;
    }
  }
  process.stdout.write(JSON.stringify(result));
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (args.includes("--standard-json")) {
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: readImport }));
} else if (args.includes("--combined-json")) {
  combinedJson(args);
} else {
  process.stderr.write("solc-launcher: only --version, --standard-json and --combined-json are supported\n");
  process.exit(2);
}
