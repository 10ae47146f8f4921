#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with the stable toolchain and runs each for a bounded
# time (FUZZ_SECONDS, default 60) or number of runs (FUZZ_RUNS), from its committed seeds.
# cargo-fuzz is not needed: the coverage instrumentation it asks nightly for is LLVM's
# sanitizer-coverage pass, which stable rustc runs with -C passes / -C llvm-args; libfuzzer-sys
# builds libFuzzer itself with the C++ compiler. No sanitizer: a panic, an abort or a failed
# assertion is the finding. Not part of CI (CI runs the seeds: tests/fuzz_bodies.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-verify_token jwks gateway_decide gateway_config key_store policy oauth_responses webhook cidr_and_rate_limit}"
out="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
export RUSTFLAGS="-C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=4 \
  -C llvm-args=-sanitizer-coverage-inline-8bit-counters -C llvm-args=-sanitizer-coverage-pc-table \
  -C llvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -C debug-assertions -C overflow-checks"
# An explicit --target keeps the instrumentation out of build scripts and proc macros.
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --quiet --release --manifest-path fuzz/Cargo.toml --target-dir "$out" --target "$host" --bins
for target in $targets; do
  mkdir -p "fuzz/corpus/$target"
  limit=(-max_total_time="$secs")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  echo "fuzz: $target"
  "$out/$host/release/$target" "fuzz/corpus/$target" "fuzz/seeds/$target" "${limit[@]}" -max_len=17000 \
    -print_final_stats=1 2>&1 | tee "$out/$target.log" | grep -E '^(#[0-9]+[[:space:]]+DONE|stat::|==|SUMMARY|INFO: seed)' || true
  if grep -qE 'panicked|deadly signal|ERROR: libFuzzer' "$out/$target.log"; then
    echo "fuzz: $target found a crash; the input is in ./crash-* (see $out/$target.log)" >&2
    exit 1
  fi
done
