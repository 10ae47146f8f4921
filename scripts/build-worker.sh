#!/usr/bin/env bash
# Builds the Worker's wasm: the core with its wasm-bindgen exports (feature `js`), then
# wasm-bindgen's ES module glue into filters/worker/dist/ (git-ignored), which
# filters/worker/src/worker.mjs imports. wasm-bindgen-cli comes from scripts/setup.sh (.tools/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
out="$root/filters/worker/dist"

echo "building the Worker's wasm (feature js, wasm32-unknown-unknown)"
# The same invocation as the npm package's full build (scripts/build-js.sh): cargo builds it once.
(cd "$root" && cargo rustc --quiet -p tokenwarden --lib --profile release --target wasm32-unknown-unknown \
  --no-default-features --features js --crate-type cdylib)
rm -rf "$out"
# --target web: an ES module whose initSync({ module }) takes the WebAssembly.Module that workerd
# hands over for a `wasm` module (workerd does not compile wasm from bytes).
"$root/.tools/bin/wasm-bindgen" --target web --remove-name-section --remove-producers-section \
  --out-dir "$out" --out-name tokenwarden "$target_dir/wasm32-unknown-unknown/release/tokenwarden.wasm"
ls -l "$out/tokenwarden_bg.wasm" | awk '{print "  " $9 ": " $5 " bytes"}'
