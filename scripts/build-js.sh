#!/usr/bin/env bash
# Builds the npm package in pkg/: two wasm builds of the core (browser: `js-browser`, full: `js`),
# their wasm-bindgen glue (--target web), wasm-opt -Oz, and the TypeScript layer (tsc --strict).
# Needs scripts/setup.sh first (wasm-bindgen-cli in .tools/, typescript and binaryen in node_modules).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
wasm_bindgen="$root/.tools/bin/wasm-bindgen"
# binaryen 132 from npm: Debian's older wasm-opt emits modules that fail to load.
wasm_opt="$root/node_modules/.bin/wasm-opt"
out="$root/pkg/dist"

rm -rf "$out"
# name:feature:profile — the browser build is optimised for size, the full one for speed.
for build in browser:js-browser:js-browser full:js:release; do
  IFS=: read -r name feature profile <<<"$build"
  echo "build-js: $name wasm (feature $feature, profile $profile)"
  # The library is an rlib for everything else; ask for a cdylib here only.
  cargo rustc --quiet -p tokenwarden --lib --profile "$profile" --target wasm32-unknown-unknown \
    --no-default-features --features "$feature" --crate-type cdylib
  "$wasm_bindgen" --target web --out-dir "$out/wasm/$name" --out-name tokenwarden \
    --remove-name-section --remove-producers-section \
    "$target_dir/wasm32-unknown-unknown/$profile/tokenwarden.wasm"
  # The features rustc enables by default for wasm32-unknown-unknown.
  "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$out/wasm/$name/tokenwarden_bg.wasm" "$out/wasm/$name/tokenwarden_bg.wasm"
done

echo "build-js: TypeScript"
"$root/node_modules/.bin/tsc" -p js/tsconfig.json
# The Deno entry's `import source` of the wasm: plain JavaScript, which tsc cannot emit.
cp js/deno-wasm.js "$out/deno-wasm.js"
for name in browser full; do
  printf 'build-js: %-7s %7d bytes wasm, %6d bytes JS glue\n' "$name" \
    "$(stat -c %s "$out/wasm/$name/tokenwarden_bg.wasm")" "$(stat -c %s "$out/wasm/$name/tokenwarden.js")"
done
