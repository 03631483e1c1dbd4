#!/usr/bin/env bash
# Runs the Lua binding's and the LuaJIT engine's tests (test/scripting/lua) on an AddressSanitizer
# + UBSan build of the addon, made in a temporary folder (the regular build is left alone). Every
# Lua block gets its own malloc in that build so that ASan sees overflows and uses after free.
# Needs g++'s libasan and the tests compiled (`npm run build`). Run by .ci/run; by hand:
# bash scripts/sanitize-luajit.sh (KEEP_SANITIZE_BUILD=1 keeps the temporary build folder).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap '[ -n "${KEEP_SANITIZE_BUILD:-}" ] || rm -rf "$work"' EXIT
mkdir -p "$work/native/luajit" "$work/scripts"
cp -r native/luajit/binding.gyp native/luajit/src "$work/native/luajit/"
cp scripts/luajit-flags.js "$work/scripts/"

gyp="${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v node)")")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}"
nodedir="$(dirname "$(readlink -f "$(command -v node)")")/.."
(cd "$work/native/luajit" && node "$gyp" rebuild --nodedir="$nodedir" --sanitize=1 >"$work/build.log" 2>&1) || {
  cat "$work/build.log"
  exit 1
}
addon="$work/native/luajit/build/Release/monats_luajit.node"
[ -f "$addon" ] || { echo "sanitizer build produced no addon"; exit 1; }

# node itself is not instrumented: the ASan runtime is preloaded, leaks (node's, at exit) are not
# reported, and a report ends the process with an error
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_odr_violation=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export MONATS_LUAJIT_ADDON="$addon"
node --test "$root"/dist/test/scripting/lua/*.test.js
