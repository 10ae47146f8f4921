# tokenwarden — the two front-door commands are `make demo` and `make test`.
# Every target installs what it needs first, idempotently.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGETS := wasm32-unknown-unknown wasm32-wasip1

.PHONY: test demo demo-headless demo-cli bench fuzz setup lint unit wasm js js-test runtimes bundlers filter worker e2e conformance soak clean

## test: install prerequisites, then lint, unit/vector/CLI tests, the wasm builds, the npm
## package and its tests (Node, workerd, Chromium; the server entry also in Deno and Bun; the
## packed tarball under four bundlers), the end-to-end tests (the filter in a real Envoy, the
## Worker in a real workerd) and the conformance table run against both
test: setup lint unit wasm js js-test runtimes bundlers e2e conformance demo-headless
	@echo "make test: all checks passed"

## demo: a real OpenID provider, a small API, Envoy with the filter and the Worker in workerd in
## front of it, and a page that signs in with PKCE through the SDK; prints the URLs, Ctrl-C stops
## everything. DEMO_HEADLESS=1 runs the scenario in headless Chromium and prints a table.
demo: setup filter js worker
	@$(CARGO) build --quiet --bin tokenwarden
	@node demo/run.mjs

## demo-headless: `DEMO_HEADLESS=1 make demo`, as part of make test (the front door stays working)
demo-headless: setup filter js worker
	@$(CARGO) build --quiet --bin tokenwarden
	@DEMO_HEADLESS=1 node demo/run.mjs

## demo-cli: a CLI walkthrough — API keys into a key store, JWT mint/verify, refusals with codes
demo-cli: setup
	@$(CARGO) build --quiet --bin tokenwarden
	@scripts/demo.sh $(or $(CARGO_TARGET_DIR),target)/debug/tokenwarden

## bench: criterion benchmarks (tokenwarden vs jsonwebtoken) and the wasm32 run; writes docs/benchmarks.md
bench: setup
	@scripts/bench.sh

## fuzz: the libFuzzer targets in fuzz/, built with stable Rust (not part of CI; CI runs their seeds)
fuzz:
	@scripts/fuzz.sh

setup:
	@scripts/setup.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --lib --features js --target wasm32-unknown-unknown -- -D warnings
	$(CARGO) clippy --lib --features js-browser --target wasm32-unknown-unknown -- -D warnings

unit:
	$(CARGO) test --workspace

wasm:
	@for t in $(WASM_TARGETS); do \
		echo "building the core for $$t"; \
		$(CARGO) build --quiet --lib --target $$t || exit 1; \
	done

## js: the npm package in pkg/ (browser and full wasm builds, TypeScript layer)
js: setup
	@scripts/build-js.sh

## js-test: the package under node's test runner, in a real workerd, and in real Chromium
## against oidc-provider; the AuthClient suites again with no WebAssembly at all, on the
## wasm2js build of the browser core (the `react-native` entry). Every node --test run has --test-timeout: a test or hook that hangs
## (an e2e worker file once did, under load) fails after 5 minutes instead of stalling CI.
## The browser suite's public-token path runs through Envoy and the Worker: it needs both builds
js-test: js filter worker
	node --test --test-timeout=300000 --test-reporter=spec tests/js/
	node --import ./tests/js/no-wasm.mjs --conditions=react-native --test --test-timeout=300000 --test-reporter=spec \
		tests/js/auth-client.test.mjs tests/js/credential-login.test.mjs tests/js/oidc-user.test.mjs
	node tests/workerd/run.mjs
	TOKENWARDEN_FILTER_WASM=$(abspath $(FILTER_WASM)) node --test --test-timeout=300000 --test-reporter=spec tests/browser/
	TOKENWARDEN_FILTER_WASM=$(abspath $(FILTER_WASM)) TOKENWARDEN_OIDC_MOUNT=/realms/acme node --test --test-timeout=300000 --test-reporter=spec tests/browser/

## runtimes: the server entry's checks (verifyJwt with a remote JWKS that rotates, ServiceClient
## with client_secret_basic/post and private_key_jwt, webhooks, API keys, ApiKeyClient retries) in
## Node, Deno, Bun and workerd, each resolving `tokenwarden` by its own export condition, against
## servers in the Node driver (tests/runtimes/); Deno and Bun come from npm (devDependencies)
runtimes: js
	node --test --test-timeout=300000 --test-reporter=spec tests/runtimes/

## bundlers: the packed tarball (npm pack) under publint, @arethetypeswrong/cli and tsc per export
## condition, then installed into an app built by Vite (build and dev server), webpack 5, Rollup and
## esbuild, each signing in against oidc-provider in Chromium (docs/js.md, "Bundlers"); and the
## react-native entry (wasm2js) signing in in Chromium pages without WebAssembly
bundlers: js
	node --test --test-timeout=300000 --test-reporter=spec tests/bundlers/

## filter: the Envoy filter, optimised for size (profile `filter` in Cargo.toml)
FILTER_WASM := $(or $(CARGO_TARGET_DIR),target)/wasm32-wasip1/filter/tokenwarden_envoy.wasm
filter:
	@echo "building the Envoy filter for wasm32-wasip1"
	@$(CARGO) build --quiet -p tokenwarden-envoy --target wasm32-wasip1 --profile filter
	@ls -l $(FILTER_WASM) | awk '{print "  " $$9 ": " $$5 " bytes"}'

## worker: the Worker's wasm and its wasm-bindgen glue → filters/worker/dist/
worker: setup
	@scripts/build-worker.sh

## e2e: the filter in a real Envoy (from .venv) and the Worker in a real workerd (npm), driven
## by node's test runner
e2e: setup filter worker
	TOKENWARDEN_FILTER_WASM=$(abspath $(FILTER_WASM)) node --test --test-timeout=300000 --test-reporter=spec tests/e2e/

## conformance: one table of cases against Envoy + the filter, workerd + the Worker and
## `tokenwarden decide`, any disagreement failing; then the five platform profiles
## (examples/platforms) with every request shape their guides document, on the same hosts
conformance: setup filter worker
	@$(CARGO) build --quiet --bin tokenwarden
	TOKENWARDEN_FILTER_WASM=$(abspath $(FILTER_WASM)) node --test --test-timeout=300000 --test-reporter=spec tests/conformance/ tests/platforms/

## soak: load without wrong answers (not part of make test): Envoy + the filter, then workerd +
## the Worker, each SOAK_SECS (60) under SOAK_CONNECTIONS (256) with valid, expired, forged and
## wrong-audience JWTs, every API key type, revoked keys and rate-limited callers; the origin
## checks every forwarded identity. Fails on a wrong decision, a 5xx or an identity mismatch;
## prints req/s, latency and RSS every 5 s, writes target/soak/report.json (docs/benchmarks.md)
soak: setup filter worker
	@$(CARGO) build --quiet --bin tokenwarden
	TOKENWARDEN_FILTER_WASM=$(abspath $(FILTER_WASM)) node scripts/soak.mjs

clean:
	$(CARGO) clean
