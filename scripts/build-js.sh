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

# The browser core without WebAssembly (React Native's Hermes, locked-down webviews): the same
# js-browser build converted to JavaScript by binaryen's wasm2js. wasm2js takes one table and no
# multi-value, so this build is for the MVP feature set (its own target dir: other RUSTFLAGS);
# the precompiled std still says +reference-types in its feature section, which would make
# wasm-bindgen use an externref table, hence --strip-target-features first. The bundler target's
# glue imports the module as ES exports: the wasm2js output provides exactly those.
echo "build-js: browser core as JavaScript (wasm2js, for runtimes without WebAssembly)"
mvp_dir="$target_dir/mvp"
RUSTFLAGS="-C target-cpu=mvp" CARGO_TARGET_DIR="$mvp_dir" cargo rustc --quiet -p tokenwarden --lib \
  --profile js-browser --target wasm32-unknown-unknown --no-default-features --features js-browser \
  --crate-type cdylib
nowasm="$out/wasm/browser-js"
mkdir -p "$nowasm"
"$wasm_opt" --strip-target-features -o "$nowasm/input.wasm" "$mvp_dir/wasm32-unknown-unknown/js-browser/tokenwarden.wasm"
"$wasm_bindgen" --target bundler --out-dir "$nowasm" --out-name tokenwarden \
  --remove-name-section --remove-producers-section "$nowasm/input.wasm"
# std's bulk-memory, saturating float-to-int and sign-extension ops, lowered to MVP for wasm2js.
mvp_features="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"
# shellcheck disable=SC2086
"$wasm_opt" -Oz $mvp_features --llvm-memory-copy-fill-lowering --llvm-nontrapping-fptoint-lowering \
  --signext-lowering -o "$nowasm/lowered.wasm" "$nowasm/tokenwarden_bg.wasm"
"$root/node_modules/.bin/wasm2js" -Oz "$nowasm/lowered.wasm" -o "$nowasm/tokenwarden_bg.wasm.js"
sed -i 's#"./tokenwarden_bg.wasm"#"./tokenwarden_bg.wasm.js"#' "$nowasm/tokenwarden.js"
grep -q '"./tokenwarden_bg.wasm.js"' "$nowasm/tokenwarden.js" || { echo "build-js: the wasm2js glue's import was not rewritten" >&2; exit 1; }
rm -f "$nowasm"/*.wasm "$nowasm/tokenwarden_bg.wasm.d.ts"

echo "build-js: TypeScript"
"$root/node_modules/.bin/tsc" -p js/tsconfig.json
# The Deno entry's `import source` of the wasm: plain JavaScript, which tsc cannot emit.
cp js/deno-wasm.js "$out/deno-wasm.js"
for name in browser full; do
  printf 'build-js: %-10s %7d bytes wasm, %6d bytes JS glue\n' "$name" \
    "$(stat -c %s "$out/wasm/$name/tokenwarden_bg.wasm")" "$(stat -c %s "$out/wasm/$name/tokenwarden.js")"
done
printf 'build-js: %-10s %7d bytes JS (wasm2js), %6d bytes JS glue\n' browser-js \
  "$(stat -c %s "$nowasm/tokenwarden_bg.wasm.js")" "$(stat -c %s "$nowasm/tokenwarden_bg.js")"
