#!/usr/bin/env bash
# Installs what `make test` and `make demo` need. Idempotent: installed parts are skipped.
set -euo pipefail

need_targets=(wasm32-unknown-unknown wasm32-wasip1)
installed=$(rustup target list --installed)
for t in "${need_targets[@]}"; do
  if ! grep -qx "$t" <<<"$installed"; then
    echo "setup: adding rust target $t"
    rustup target add "$t"
  fi
done
for c in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$c"; then
    echo "setup: adding rust component $c"
    rustup component add "$c"
  fi
done
vectors="$(dirname "$0")/../../shared/vectors/wycheproof"
if [ ! -d "$vectors" ]; then
  echo "setup: Wycheproof vectors not found at $vectors (shared/ must sit beside the repository)" >&2
  exit 1
fi
