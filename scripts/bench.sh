#!/usr/bin/env bash
# Measures verification natively (criterion, tokenwarden vs jsonwebtoken in one run) and compiled to
# wasm32-wasip1 under Node's V8, then writes docs/benchmarks.md. Figures are medians; compare ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-run
mkdir -p "$out"
rm -rf target/criterion/verify_*

echo "bench: criterion (native, tokenwarden vs jsonwebtoken)"
cargo bench --bench verify -- --warm-up-time 2 --measurement-time 4 | tee "$out/criterion.txt"

echo "bench: the same verification loop, native and wasm32-wasip1 under node"
cargo build --quiet --release --example verify_loop
cargo build --quiet --release --example verify_loop --target wasm32-wasip1
./target/release/examples/verify_loop 2000 > "$out/native.jsonl"
node --no-warnings scripts/run-wasi.mjs target/wasm32-wasip1/release/examples/verify_loop.wasm 2000 > "$out/wasm.jsonl"

python3 scripts/bench_report.py "$out" > docs/benchmarks.md
echo "bench: wrote docs/benchmarks.md"
