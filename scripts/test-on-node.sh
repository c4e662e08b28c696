#!/usr/bin/env bash
# Runs the responder's test suite on another Node.js major line, e.g. `bash scripts/test-on-node.sh 24`,
# after `npm ci` has installed this checkout for the machine's own Node. scripts/test-all.sh runs it.
#
# That Node comes from the npm registry's `node` package. The suite runs in a copy of this checkout
# whose node_modules is hard-linked to this one's, except the packages that compile an addon: those are
# real copies, compiled for that Node by scripts/rebuild-addons.sh. This checkout's own node_modules
# stays built for the machine's Node, and the copy lives under node_modules/.cache, so the next
# `npm ci` removes it with everything else it was built from. A copy that is still current (same
# lockfile, addons that load) is reused: nothing is compiled twice.
set -euo pipefail
cd "$(dirname "$0")/.."
major=${1:?usage: test-on-node.sh MAJOR}
checkout=$PWD
cache=$checkout/node_modules/.cache/lokiban-node-$major
copy=$cache/checkout
log=$cache/setup.log
mkdir -p "$cache"

# The newest release of that line; a runtime already installed is replaced only by a newer one.
npm install --prefix "$cache/runtime" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
  "node@$major" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
node_bin=$cache/runtime/node_modules/node/bin
version=$("$node_bin/node" -v)

# Sources: a fresh copy every run (cheap); node_modules: kept while it is current for this Node.
# Beside the copy, what lies beside the checkout (tests may read ../shared).
mkdir -p "$copy"
[ -e "$checkout/../shared" ] && ln -sfn "$(cd "$checkout/.." && pwd)/shared" "$cache/shared"
find "$copy" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
tar -C "$checkout" -cf - --exclude=./.git --exclude=./node_modules --exclude=./grafana-plugin/node_modules \
  --exclude=./dist --exclude=./grafana-plugin/dist --exclude=./data --exclude=./test-results \
  --exclude=./coverage --exclude=./bench/out . | tar -C "$copy" -xf -
cd "$copy"
export PATH="$node_bin:$PATH"
if ! node scripts/installed.mjs check >/dev/null; then
  echo "test-on-node.sh: building node_modules for Node $version (native addons compiled once)"
  rm -rf node_modules
  mkdir node_modules
  shopt -s dotglob
  for entry in "$checkout"/node_modules/*; do
    case ${entry##*/} in
      # .cache holds this copy; .vite is vitest's cache, rewritten in place (a hard link would share it).
      .cache | .vite) ;;
      *) cp -al "$entry" node_modules/ ;;
    esac
  done
  mapfile -t natives < <(node scripts/installed.mjs native-packages)
  for package in "${natives[@]}"; do
    rm -rf "node_modules/$package"
    cp -a "$checkout/node_modules/$package" "node_modules/$package"
  done
  bash scripts/rebuild-addons.sh >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  node scripts/installed.mjs check
fi

echo "responder tests on Node $version"
exec node node_modules/vitest/vitest.mjs run
