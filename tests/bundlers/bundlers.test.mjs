// Where frontend developers build (issue 15): the package as npm publishes it (`npm pack` of pkg/),
// checked by publint, @arethetypeswrong/cli and tsc per export condition, then installed from the
// tarball into one small app (app/) per bundler — Vite (build and dev server), webpack 5, Rollup,
// esbuild — each built with its JS API (from the root node_modules) with only the configuration
// docs/js.md ("Bundlers") tells users to add, served from its own output folder, where it signs in
// against oidc-provider in Chromium. One provider and one Chromium serve them all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as jose from 'jose';
import { freePort, launchChromium, signIn } from '../browser/browser.mjs';
import { API_AUDIENCE, startProvider } from '../browser/provider.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (name) => `${root}node_modules/.bin/${name}`;
const work = `${root}.tmp/bundlers/`;
const appSource = `${root}tests/bundlers/app/`;
const browserWasm = readFileSync(`${root}pkg/dist/wasm/browser/tokenwarden_bg.wasm`);
const version = (name) => JSON.parse(readFileSync(`${root}node_modules/${name}/package.json`)).version;

/**
 * One app per bundler. `build(dir, out)` builds `dir` (the app, with the tarball in its
 * node_modules) into `out`, which is then served as a static host serves it; `start(dir, port)`
 * serves the app itself (a dev server). Both add what the tool warns about to `warnings`, which
 * must stay empty. What is passed beyond entry and output is what a user has to configure for
 * tokenwarden, and docs/js.md ("Bundlers") says so.
 */
const apps = {
  // index.html is Vite's entry; `new URL('…wasm', import.meta.url)` becomes a hashed asset.
  vite: {
    tool: 'vite',
    async build(dir, out, warnings) {
      const { build } = await import('vite');
      await build({ root: dir, configFile: false, logLevel: 'silent', customLogger: await viteLogger(warnings), build: { outDir: out, emptyOutDir: true } });
    },
  },
  // `vite` while developing: the dependency optimizer pre-bundles tokenwarden into
  // node_modules/.vite and rewrites the wasm's URL to the original file.
  'vite dev server': {
    tool: 'vite',
    async start(dir, port, warnings) {
      const { createServer } = await import('vite');
      const server = await createServer({ root: dir, configFile: false, logLevel: 'silent', customLogger: await viteLogger(warnings), server: { host: '127.0.0.1', port, strictPort: true, hmr: false } });
      await server.listen();
      return () => server.close();
    },
  },
  // webpack 5 emits the wasm as an asset module by itself; top-level await is on by default.
  webpack: {
    tool: 'webpack',
    async build(dir, out, warnings) {
      const { default: webpack } = await import('webpack');
      const compiler = webpack({ mode: 'production', context: dir, entry: './main.js', output: { path: out, filename: 'main.js', clean: true } });
      const stats = await new Promise((resolve, reject) => compiler.run((e, s) => (e ? reject(e) : resolve(s))));
      await new Promise((resolve) => compiler.close(resolve));
      if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
      warnings.push(...stats.toJson('errors-warnings').warnings.map((w) => w.message));
      copyFileSync(`${dir}index.html`, `${out}index.html`);
    },
  },
  // Rollup resolves bare imports only with @rollup/plugin-node-resolve, and leaves
  // `new URL('…', import.meta.url)` alone: @web/rollup-plugin-import-meta-assets emits the file.
  rollup: {
    tool: 'rollup',
    async build(dir, out, warnings) {
      const { rollup } = await import('rollup');
      const { nodeResolve } = await import('@rollup/plugin-node-resolve');
      const { importMetaAssets } = await import('@web/rollup-plugin-import-meta-assets');
      const bundle = await rollup({ input: `${dir}main.js`, plugins: [nodeResolve(), importMetaAssets()], onwarn: (w) => warnings.push(w.message) });
      await bundle.write({ dir: out, format: 'es' });
      await bundle.close();
      copyFileSync(`${dir}index.html`, `${out}index.html`);
    },
  },
  // esbuild leaves `new URL('tokenwarden_bg.wasm', import.meta.url)` as it is, relative to the
  // bundle, and copies nothing: the wasm goes next to the bundle. Top-level await needs format esm.
  esbuild: {
    tool: 'esbuild',
    async build(dir, out, warnings) {
      const esbuild = await import('esbuild');
      const result = await esbuild.build({ entryPoints: [`${dir}main.js`], bundle: true, format: 'esm', minify: true, outdir: out, logLevel: 'silent' });
      warnings.push(...result.warnings.map((w) => w.text));
      copyFileSync(`${dir}node_modules/tokenwarden/dist/wasm/browser/tokenwarden_bg.wasm`, `${out}tokenwarden_bg.wasm`);
      copyFileSync(`${dir}index.html`, `${out}index.html`);
    },
  },
};

/** Vite's logger, quiet, with its warnings and errors kept in `warnings`. */
async function viteLogger(warnings) {
  const { createLogger } = await import('vite');
  const logger = createLogger('silent');
  logger.warn = logger.warnOnce = logger.error = (msg) => warnings.push(msg);
  return logger;
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** Serves a build folder as a static host does; every other path gets index.html (/callback). */
async function serve(dir, port) {
  const server = http.createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = !path.includes('..') && statSync(dir + path.slice(1), { throwIfNoEntry: false })?.isFile() ? path.slice(1) : 'index.html';
    const ext = file.slice(file.lastIndexOf('.'));
    res.writeHead(200, { 'content-type': types[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(await readFile(dir + file));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  // Chromium keeps (and preconnects) sockets that close() alone would wait for.
  return () => new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections();
  });
}

const filesUnder = (dir) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

let tarball, provider, chromium;
/** The app built for runtimes without WebAssembly (the `react-native` condition). */
const NO_WASM = 'no WebAssembly';
const ports = {};

before(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const { stdout } = await run('npm', ['pack', `${root}pkg`, '--pack-destination', work, '--json', '--silent']);
  tarball = work + JSON.parse(stdout)[0].filename;
  for (const name of [...Object.keys(apps), NO_WASM]) ports[name] = await freePort();
  const redirectUri = Object.values(ports).map((p) => `http://127.0.0.1:${p}/callback`);
  provider = await startProvider({ port: await freePort(), redirectUri, accessTokenTtl: 300 });
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  await provider?.close();
});

test('the packed tarball passes publint and @arethetypeswrong/cli (ESM-only profile)', async () => {
  // --strict: publint's warnings fail too.
  const publint = await run(bin('publint'), ['run', '--strict', tarball]);
  assert.match(publint.stdout, /All good!/, publint.stdout);
  // The package is ESM only (`type: module`, no `require` condition, top-level await in the
  // browser entry). attw's esm-only profile leaves out the two CommonJS resolution modes — node10,
  // which ignores `exports`, and require() from CommonJS under node16 — and checks the others.
  const attw = await run(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'json']).then((r) => ({ ...r, code: 0 }), (e) => e);
  const problems = JSON.parse(attw.stdout).analysis.problems ?? [];
  const cjsModes = ['node10', 'node16-cjs'];
  assert.deepEqual(problems.filter((p) => !cjsModes.includes(p.resolutionKind)), [], 'no problem for ESM importers (node16 from ESM, bundler)');
  assert.equal(attw.code, 0, attw.stderr);
});

test('TypeScript finds the declarations of each export condition\'s entry in the tarball; require() loads the Node entry', async () => {
  const dir = `${work}types/`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}package.json`, JSON.stringify({ name: 'types', private: true, type: 'module' }));
  await run('npm', ['install', '--no-save', '--offline', '--no-package-lock', '--no-audit', '--no-fund', '--silent', tarball], { cwd: dir });
  writeFileSync(`${dir}browser.ts`, [
    "import { AuthClient, BackendTokenClient, parseApiKey, requirePublishableKey } from 'tokenwarden';",
    '// @ts-expect-error the browser entry does not verify signatures',
    "import { verifyJwt } from 'tokenwarden';",
    'export const used = [AuthClient, BackendTokenClient, parseApiKey, requirePublishableKey, verifyJwt];',
  ].join('\n'));
  writeFileSync(`${dir}server.ts`, [
    "import { AuthClient, WebClient, ServiceClient, verifyJwt, signWebhook, hashApiKey } from 'tokenwarden';",
    'export const used = [AuthClient, WebClient, ServiceClient, verifyJwt, signWebhook, hashApiKey];',
  ].join('\n'));
  // The Node and workerd declarations name DOM types (RequestInfo, JsonWebKey, WebAssembly) and
  // Symbol.dispose: lib DOM and ESNext.Disposable, as docs/js.md says. skipLibCheck is off.
  const common = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--types', '', '--target', 'es2022', '--lib', 'es2022,dom,esnext.disposable'];
  const bundler = ['--module', 'esnext', '--moduleResolution', 'bundler'];
  const cases = [
    ['browser', [...bundler, '--customConditions', 'browser'], 'browser.ts'],
    ['default (no condition)', bundler, 'browser.ts'],
    ['workerd', [...bundler, '--customConditions', 'workerd'], 'server.ts'],
    ['node', ['--module', 'nodenext', '--moduleResolution', 'nodenext'], 'server.ts'],
  ];
  for (const [condition, options, file] of cases) {
    const tsc = await run(bin('tsc'), [...common, ...options, file], { cwd: dir }).catch((e) => e);
    assert.equal(tsc.code ?? 0, 0, `${condition}: ${tsc.stdout}`);
  }
  // ESM only, but the Node entry has no top-level await: require(esm) (Node 20.19+, 22.12+) loads it.
  if (process.features.require_module) {
    const { stdout } = await run(process.execPath, ['--input-type=commonjs', '-e', "process.stdout.write(typeof require('tokenwarden').verifyJwt)"], { cwd: dir });
    assert.equal(stdout, 'function');
  }
});

for (const [name, { tool, build, start }] of Object.entries(apps)) {
  test(`${name} (${tool} ${version(tool)}): the app, tokenwarden from the tarball, signs in against oidc-provider in Chromium`, async (t) => {
    const dir = `${work}${name.replace(/ /g, '-')}/`;
    const out = `${dir}dist/`;
    cpSync(appSource, dir, { recursive: true });
    writeFileSync(`${dir}package.json`, JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // The package has no dependencies: installing the tarball needs no registry.
    await run('npm', ['install', '--no-save', '--offline', '--no-package-lock', '--no-audit', '--no-fund', '--silent', tarball], { cwd: dir });
    assert.ok(lstatSync(`${dir}node_modules/tokenwarden`).isDirectory(), 'the tarball is unpacked into the app, not linked');

    const warnings = [];
    const started = performance.now();
    let close;
    if (build) {
      await build(dir, out, warnings);
      const wasm = filesUnder(out).filter((f) => f.endsWith('.wasm'));
      assert.equal(wasm.length, 1, `one wasm file in the build: ${wasm}`);
      assert.ok(readFileSync(wasm[0]).equals(browserWasm), 'the browser build\'s, byte for byte');
      close = await serve(out, ports[name]);
    } else {
      close = await start(dir, ports[name], warnings);
    }
    t.diagnostic(`${name}: ${build ? 'built' : 'started'} in ${Math.round(performance.now() - started)} ms`);

    const origin = `http://127.0.0.1:${ports[name]}`;
    const page = await chromium.context.newPage();
    const errors = [];
    const wasmLoads = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Read at once: Chromium drops a body when its page navigates.
    page.on('response', (r) => r.url().endsWith('.wasm') && wasmLoads.push(r.body().then((body) => ({ url: r.url(), type: r.headers()['content-type'], body }))));
    try {
      const codes = provider.counts.code;
      await page.goto(`${origin}/#issuer=${encodeURIComponent(provider.issuer)}`);
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
      await signIn(page);
      assert.equal(provider.counts.code, codes + 1, 'one code exchanged at the provider');

      const shown = JSON.parse(await page.textContent('#user'));
      assert.equal(shown.sub, 'alice', 'the ID token\'s user');
      assert.equal(shown.token.sub, 'alice');
      assert.equal(shown.token.client_id, 'spa');
      assert.equal(shown.token.iss, provider.issuer);
      assert.equal(shown.token.aud, API_AUDIENCE);
      assert.match(shown.token.scope, /api:read/);
      // The access token the page holds is the provider's, signature and all.
      const token = await page.evaluate(() => window.app.token());
      const { payload } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(`${provider.issuer}/jwks`)), { issuer: provider.issuer, audience: API_AUDIENCE });
      assert.equal(payload.jti, shown.token.jti);

      // Both pages (the app, then /callback) instantiated the browser build from the app's origin.
      const loads = await Promise.all(wasmLoads);
      assert.equal(loads.length, 2, `wasm fetched: ${loads.map((r) => r.url)}`);
      for (const { url, type, body } of loads) {
        assert.equal(new URL(url).origin, origin);
        assert.equal(type, 'application/wasm');
        assert.ok(body.equals(browserWasm), `${url} is the browser build`);
      }
      assert.deepEqual(errors, []);
      assert.deepEqual(warnings, [], `${name} warned`);
    } finally {
      await page.close();
      await close();
    }
  });
}

// The `react-native` entry (the browser core converted by wasm2js) in Chromium pages with no
// WebAssembly, as Hermes and locked-down webviews: esbuild with the condition a React Native
// bundler sets, no wasm file anywhere, and the same sign-in. V8's --no-expose-wasm does not remove
// the global from Chromium pages (Blink installs it itself: tried), so an init script deletes it
// before any of the page's scripts run, as tests/js/no-wasm.mjs does in Node.
test('no WebAssembly: the react-native entry, bundled by esbuild, signs in against oidc-provider in a Chromium without WebAssembly', async () => {
  const dir = `${work}no-wasm/`;
  const out = `${dir}dist/`;
  cpSync(appSource, dir, { recursive: true });
  writeFileSync(`${dir}package.json`, JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-save', '--offline', '--no-package-lock', '--no-audit', '--no-fund', '--silent', tarball], { cwd: dir });
  const esbuild = await import('esbuild');
  const result = await esbuild.build({ entryPoints: [`${dir}main.js`], bundle: true, format: 'esm', minify: true, conditions: ['react-native'], outdir: out, logLevel: 'silent' });
  assert.deepEqual(result.warnings, []);
  copyFileSync(`${dir}index.html`, `${out}index.html`);
  assert.deepEqual(filesUnder(out).filter((f) => f.endsWith('.wasm')), [], 'no wasm file in the build');
  const close = await serve(out, ports[NO_WASM]);
  const noWasm = await launchChromium();
  await noWasm.context.addInitScript(() => delete globalThis.WebAssembly);
  const page = await noWasm.context.newPage();
  const errors = [];
  const wasmRequests = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => r.url().endsWith('.wasm') && wasmRequests.push(r.url()));
  try {
    const origin = `http://127.0.0.1:${ports[NO_WASM]}`;
    const codes = provider.counts.code;
    await page.goto(`${origin}/#issuer=${encodeURIComponent(provider.issuer)}`);
    assert.equal(await page.evaluate(() => typeof WebAssembly), 'undefined', 'the page has no WebAssembly');
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    await signIn(page);
    assert.equal(provider.counts.code, codes + 1, 'one code exchanged at the provider');
    const shown = JSON.parse(await page.textContent('#user'));
    assert.equal(shown.sub, 'alice');
    assert.equal(shown.token.client_id, 'spa');
    const token = await page.evaluate(() => window.app.token());
    const { payload } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(`${provider.issuer}/jwks`)), { issuer: provider.issuer, audience: API_AUDIENCE });
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(wasmRequests, []);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await noWasm.close();
    await close();
  }
});
