#!/usr/bin/env bash
# Measures verification natively (criterion, tokenwarden vs jsonwebtoken in one run) and compiled to
# wasm32-wasip1 under Node's V8, then writes docs/benchmarks.md. Figures are medians; compare ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-run
mkdir -p "$out"
rm -rf "${CARGO_TARGET_DIR:-target}"/criterion/verify_*

echo "bench: criterion (native, tokenwarden vs jsonwebtoken)"
cargo bench --bench verify -- --warm-up-time 2 --measurement-time 4 | tee "$out/criterion.txt"

echo "bench: the same verification loop, native and wasm32-wasip1 under node"
cargo build --quiet --release --example verify_loop
cargo build --quiet --release --example verify_loop --target wasm32-wasip1
tgt="${CARGO_TARGET_DIR:-target}"
"$tgt/release/examples/verify_loop" 2000 > "$out/native.jsonl"
node --no-warnings scripts/run-wasi.mjs "$tgt/wasm32-wasip1/release/examples/verify_loop.wasm" 2000 > "$out/wasm.jsonl"

echo "bench: one gateway decision (cached JWT, API key), native and wasm32-wasip1 under node"
cargo build --quiet --release --example decide_loop
cargo build --quiet --release --example decide_loop --target wasm32-wasip1
"$tgt/release/examples/decide_loop" 1500 > "$out/decide-native.jsonl"
node --no-warnings scripts/run-wasi.mjs "$tgt/wasm32-wasip1/release/examples/decide_loop.wasm" 1500 > "$out/decide-wasm.jsonl"

echo "bench: Envoy with the filter vs jwt_authn vs no auth vs the V8 floor (wrk, interleaved rounds)"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } || { echo "bench: wrk is needed (apt-get install wrk)" >&2; exit 1; }
cargo build --quiet --bin tokenwarden
make -s filter
cargo build --quiet -p tokenwarden-envoy --example floor --target wasm32-wasip1 --profile filter
BENCH_OUT="$out" node scripts/bench-envoy.mjs > /dev/null

echo "bench: a 100k-key polled store in the Envoy filter (load time, memory) beside a 1-key store"
BENCH_OUT="$out" node scripts/bench-keystore.mjs > /dev/null

# The report replaces docs/benchmarks.md; its hand-filled soak section is taken from this copy.
cp docs/benchmarks.md "$out/benchmarks.previous.md" 2>/dev/null || true
python3 scripts/bench_report.py "$out" "${CARGO_TARGET_DIR:-target}" > docs/benchmarks.md

echo "bench: the npm package (sizes beside oauth4webapi, oidc-client-ts, auth0-spa-js; instantiation; verifyJwt vs jose)"
scripts/build-js.sh
node scripts/bench-js.mjs > "$out/js.md"

echo "bench: the Worker's cache-miss decision beside a jose Worker (one workerd)"
make -s worker
node scripts/bench-worker.mjs > "$out/worker.md"
echo "bench: wrote docs/benchmarks.md"
