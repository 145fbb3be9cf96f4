#!/usr/bin/env bash
# Register the npm solc-js compiler with py-solc-x (and so brownie) as `solc-v<version>`, pointing at
# this checkout's launcher. Idempotent; rewritten on every `make setup` so that a moved or freshly
# cloned checkout never uses a stale path. Nothing is downloaded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(node -e "console.log(require('$root/node_modules/solc/package.json').version)")"
dir="${SOLCX_BINARY_PATH:-$HOME/.solcx}"
mkdir -p "$dir"
target="$dir/solc-v$version"
content="#!/bin/sh
# gridshare: solc-js launcher (see toolchain/solc-launcher.js)
GRIDSHARE_ROOT=\"\${GRIDSHARE_ROOT:-$root}\" exec node \"$root/toolchain/solc-launcher.js\" \"\$@\""
if [ ! -f "$target" ] || [ "$(cat "$target")" != "$content" ]; then
  printf '%s\n' "$content" > "$target"
  chmod +x "$target"
fi
"$target" --version | grep -q "Version: $version" || { echo "solc launcher at $target does not answer --version" >&2; exit 1; }
