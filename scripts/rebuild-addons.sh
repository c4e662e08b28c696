#!/usr/bin/env bash
# Compiles the native addons in ./node_modules (better-sqlite3, ssh2, cpu-features) from source for
# the `node` on PATH, then checks that each one loads. Run from the checkout's root after
# `npm ci --ignore-scripts`, or to repair a Node 24 install (see below); scripts/test-on-node.sh and
# the Dockerfile use it.
#
# Node 24: from 24.19.0 on, Node's node_object_wrap.h registers an environment cleanup hook in every
# node::ObjectWrap and removes it in the destructor, which aborts the process when a wrapped object is
# garbage-collected while no Node environment is current (nodejs/node#65446). The header is compiled
# into the addon, so better-sqlite3 12 (whose Database and Statement are node::ObjectWrap) built
# against 24.19+ headers aborts, also during normal operation. better-sqlite3's prebuilt binaries are
# built against 24.0.0's headers; from source, build against 24.18.1's: the same ABI as every 24.x.
set -euo pipefail
major=$(node -p 'process.versions.node.split(".")[0]')
case $major in
  24) headers_version=24.18.1 ;;
  *) headers_version= ;;
esac

platform=$(node -p 'process.platform + "-" + process.arch')
nodedir=
if [ -n "$headers_version" ]; then
  # The npm registry's node-<platform>-<arch> package is a Node release with its include/ directory.
  headers_dir=$(mktemp -d)
  trap 'rm -rf "$headers_dir"' EXIT
  npm install --prefix "$headers_dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "node-$platform@$headers_version" >/dev/null
  nodedir=$headers_dir/node_modules/node-$platform
else
  # The running Node's own headers: beside its binary (Debian's /usr, the Docker image's /usr/local),
  # or in the platform package inside the npm registry's node package that holds it.
  node_home=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  for candidate in "$node_home" "$node_home/node_modules/node-$platform"; do
    if grep -qs "define NODE_MAJOR_VERSION $major\$" "$candidate/include/node/node_version.h"; then
      nodedir=$candidate
      break
    fi
  done
fi
if [ ! -s "$nodedir/include/node/node_version.h" ]; then
  echo "rebuild-addons.sh: no Node $major headers found" >&2
  exit 1
fi

mapfile -t natives < <(node scripts/installed.mjs native-packages)
# From source (no prebuilt download), against exactly these headers, whatever an npmrc names; JOBS:
# node-gyp compiles an addon's files in parallel.
JOBS=${JOBS:-max} npm_config_build_from_source=true npm_config_nodedir=$nodedir \
  npm rebuild --no-audit --no-fund --loglevel=error "${natives[@]}" >/dev/null
node scripts/installed.mjs addons
