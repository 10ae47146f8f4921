// Size and speed of the npm package (make bench; needs make js first). Writes its section of
// docs/benchmarks.md between markers, leaving the other sections as they are.
//   size:  gzip -9 bytes (JS + wasm) of a browser app doing login + refresh, bundled by esbuild,
//          tokenwarden beside oauth4webapi, oidc-client-ts and @auth0/auth0-spa-js;
//   speed: wasm instantiation in Node and Chromium (median of 20), verifyJwt ops/s beside jose.
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import * as jose from 'jose';
import { chromium } from 'playwright-core';
import { verifyJwt } from 'tokenwarden';

import { writeSection } from './bench-doc.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (n) => (n / 1024).toFixed(1);
const version = (p) => JSON.parse(readFileSync(`${root}node_modules/${p}/package.json`)).version;

async function sizes() {
  const peers = [
    ['tokenwarden (AuthClient)', 'tokenwarden', 'pkg'],
    ['oauth4webapi', 'oauth4webapi', 'oauth4webapi'],
    ['oidc-client-ts (UserManager)', 'oidc-client-ts', 'oidc-client-ts'],
    ['oidc-client-ts (OidcClient)', 'oidc-client-ts-oidcclient', 'oidc-client-ts'],
    ['@auth0/auth0-spa-js', 'auth0-spa-js', '@auth0/auth0-spa-js'],
  ];
  const rows = [];
  for (const [name, entry, pkg] of peers) {
    const out = await esbuild.build({
      entryPoints: [`${root}scripts/bench-js/${entry}.mjs`],
      bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'error',
    });
    const js = gz(out.outputFiles[0].contents);
    const wasm = entry === 'tokenwarden' ? gz(readFileSync(`${root}pkg/dist/wasm/browser/tokenwarden_bg.wasm`)) : 0;
    rows.push({ name, version: pkg === 'pkg' ? JSON.parse(readFileSync(`${root}pkg/package.json`)).version : version(pkg), js, wasm, total: js + wasm });
  }
  return rows;
}

/** The app using every browser feature (`tokenwarden-all.mjs`): JS gzip; the wasm is the same file. */
async function allFeaturesSize() {
  const out = await esbuild.build({
    entryPoints: [`${root}scripts/bench-js/tokenwarden-all.mjs`],
    bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'error',
  });
  return gz(out.outputFiles[0].contents);
}

/** The same app on the `react-native` entry: the browser core as JavaScript (wasm2js), no wasm file. */
async function noWasmSize() {
  const out = await esbuild.build({
    entryPoints: [`${root}scripts/bench-js/tokenwarden.mjs`], conditions: ['react-native'],
    bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'error',
  });
  return gz(out.outputFiles[0].contents);
}

/**
 * One sign-in's core work on each browser core (wasm, and wasm2js without WebAssembly): the
 * authorization URL, the callback's code exchange request, the session from the token response,
 * and one refresh. Network and storage are the host's and the same for both, so left out. The
 * first run (cold: wasm compiles lazily, wasm2js JavaScript is parsed and optimised as it goes)
 * and the median of 200 warm runs, rounds interleaved.
 */
async function loginSpeed() {
  const wasmGlue = await import(`${root}pkg/dist/wasm/browser/tokenwarden.js`);
  wasmGlue.initSync({ module: readFileSync(`${root}pkg/dist/wasm/browser/tokenwarden_bg.wasm`) });
  const jsGlue = await import(`${root}pkg/dist/wasm/browser-js/tokenwarden.js`);
  const body = new TextEncoder().encode(JSON.stringify({ access_token: 'at-'.padEnd(40, 'x'), token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-'.padEnd(40, 'y'), scope: 'read offline_access' }));
  const login = (core) => {
    const t = performance.now();
    const now = Date.now();
    const begun = JSON.parse(core.beginLogin('https://as.example/authorize', 'spa', 'https://app.example/callback', 'read offline_access', undefined, undefined, undefined, []));
    const state = new URL(begun.url).searchParams.get('state');
    const client = new core.Client('spa', 'https://as.example/token', undefined, false, false, 'read offline_access', undefined, undefined);
    const tx = JSON.stringify(begun.transaction);
    JSON.parse(client.completeLogin(`https://app.example/callback?code=c0de&state=${state}`, tx, undefined));
    const session = core.Session.fromExchange(200, body, tx, now, 0);
    JSON.parse(session.refreshRequest(client, now));
    session.onRefreshResponse(200, body, now, 0);
    session.free();
    client.free();
    return performance.now() - t;
  };
  const cores = { wasm: wasmGlue, 'wasm2js': jsGlue };
  const result = Object.fromEntries(Object.keys(cores).map((k) => [k, { first: login(cores[k]), warm: [] }]));
  for (let i = 0; i < 200; i++) for (const k of Object.keys(cores)) result[k].warm.push(login(cores[k]));
  for (const r of Object.values(result)) r.warm = median(r.warm);
  return result;
}

async function nodeInstantiation() {
  const result = {};
  for (const build of ['browser', 'full']) {
    const bytes = readFileSync(`${root}pkg/dist/wasm/${build}/tokenwarden_bg.wasm`);
    const times = [];
    for (let i = 0; i < 20; i++) {
      const glue = await import(`${root}pkg/dist/wasm/${build}/tokenwarden.js?run=${i}`);
      const t = performance.now();
      glue.initSync({ module: bytes });
      times.push(performance.now() - t);
    }
    result[build] = { ms: median(times), raw: bytes.length, gzip: gz(bytes) };
  }
  return result;
}

async function chromiumInstantiation() {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>bench</title>');
    try {
      const body = readFileSync(root + path.slice(1));
      res.writeHead(200, { 'content-type': path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tmp = `${root}.tmp/bench-chromium`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = `${root}.tmp`;
  const context = await chromium.launchPersistentContext(tmp, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    const result = {};
    for (const build of ['browser', 'full']) {
      result[build] = await page.evaluate(async (build) => {
        const base = `/pkg/dist/wasm/${build}/`;
        const bytes = await (await fetch(`${base}tokenwarden_bg.wasm`)).arrayBuffer();
        const times = [];
        for (let i = 0; i < 20; i++) {
          const glue = await import(`${base}tokenwarden.js?run=${i}`);
          const t = performance.now();
          await glue.default({ module_or_path: bytes });
          times.push(performance.now() - t);
        }
        return times.sort((a, b) => a - b)[10];
      }, build);
    }
    return result;
  } finally {
    await context.close();
    server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function verifySpeed() {
  const rows = [];
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA', 'HS256']) {
    let key, verifyKey, jwks;
    if (alg === 'HS256') {
      key = verifyKey = crypto.getRandomValues(new Uint8Array(32));
      jwks = { keys: [{ kty: 'oct', k: jose.base64url.encode(key), kid: 'k', alg }] };
    } else {
      const pair = await jose.generateKeyPair(alg, { extractable: true });
      key = pair.privateKey;
      verifyKey = pair.publicKey;
      jwks = { keys: [{ ...(await jose.exportJWK(pair.publicKey)), kid: 'k', alg }] };
    }
    const token = await new jose.SignJWT({ scope: 'read' }).setProtectedHeader({ alg, kid: 'k' }).setIssuer('https://as.example')
      .setAudience('https://api.example').setSubject('user_123').setIssuedAt().setExpirationTime('1h').sign(key);
    const opts = { jwks, issuer: 'https://as.example', audience: 'https://api.example', algorithms: [alg] };
    const impls = {
      tokenwarden: () => verifyJwt(token, opts),
      jose: () => jose.jwtVerify(token, verifyKey, { issuer: opts.issuer, audience: opts.audience, algorithms: [alg] }),
    };
    const rates = { tokenwarden: [], jose: [] };
    for (let round = 0; round < 5; round++) {
      for (const [name, fn] of Object.entries(impls)) {
        for (let i = 0; i < 20; i++) await fn();
        let n = 0;
        const start = performance.now();
        while (performance.now() - start < 400) {
          await fn();
          n++;
        }
        rates[name].push(n / ((performance.now() - start) / 1000));
      }
    }
    rows.push({ alg, tokenwarden: median(rates.tokenwarden), jose: median(rates.jose) });
  }
  return rows;
}

const size = await sizes();
const noWasm = await noWasmSize();
const allJs = await allFeaturesSize();
const loginTimes = await loginSpeed();
const nodeInit = await nodeInstantiation();
const chromeInit = await chromiumInstantiation();
const verify = await verifySpeed();

const tw = size[0].total;
const peer = (name) => size.find((r) => r.name === name).total;
const lines = [
  '<!-- bench-js:begin (written by scripts/bench-js.mjs) -->',
  '## npm package: what a browser app pays for login + refresh (gzip -9)',
  '',
  'Each app does the same job — PKCE login redirect, the callback\'s code exchange, one refresh — bundled by',
  `esbuild ${version('esbuild')} (\`--bundle --minify --format=esm\`, browser platform); tokenwarden adds its browser wasm build,`,
  'fetched beside the bundle. Sources: `scripts/bench-js/*.mjs`. KB = 1024 bytes, zlib level 9.',
  '',
  '| library | version | JS | wasm | total |',
  '|---|---|---:|---:|---:|',
  ...size.map((r) => `| ${r.name} | ${r.version} | ${kb(r.js)} KB | ${r.wasm ? `${kb(r.wasm)} KB` : '—'} | **${kb(r.total)} KB** |`),
  '',
  `Target: at most oidc-client-ts's UserManager (${kb(peer('oidc-client-ts (UserManager)'))} KB here): ${tw <= peer('oidc-client-ts (UserManager)') ? 'met' : `**not met** (${(tw / peer('oidc-client-ts (UserManager)')).toFixed(1)}×)`}.`,
  `Stretch: at most 2× oauth4webapi (${kb(2 * peer('oauth4webapi'))} KB): ${tw <= 2 * peer('oauth4webapi') ? 'met' : '**not met**'}.`,
  '',
  'An app using every browser feature (`scripts/bench-js/tokenwarden-all.mjs`: pushed authorization requests,',
  'the callback, `getUser`, `userinfo`, `fetch` with refresh, credential login, a backend token source, logout',
  `with revocation and end-session): ${kb(allJs)} KB of JS + the same ${kb(size[0].wasm)} KB of wasm = **${kb(allJs + size[0].wasm)} KB**,`,
  `${kb(allJs + size[0].wasm - tw)} KB more than the login + refresh app (the wasm build holds every browser feature either way).`,
  '',
  '## npm package without WebAssembly (the `react-native` entry, wasm2js)',
  '',
  'The same app bundled with the `react-native` condition: the browser core converted to JavaScript by',
  `binaryen's wasm2js, no wasm file. Size, gzip -9: **${kb(noWasm)} KB** (${(noWasm / tw).toFixed(1)}× the wasm build's ${kb(tw)} KB).`,
  'One sign-in\'s core work in Node (authorization URL, code exchange request, session from the token',
  'response, one refresh; no network), the first run and the median of 200 warm runs, interleaved:',
  '',
  '| core | first run | warm median | warm / wasm |',
  '|---|---:|---:|---:|',
  ...Object.entries(loginTimes).map(([k, r]) => `| ${k} | ${r.first.toFixed(2)} ms | ${(r.warm * 1000).toFixed(0)} µs | ${(r.warm / loginTimes.wasm.warm).toFixed(2)}× |`),
  '',
  '## npm package: wasm instantiation (compile + instantiate, median of 20)',
  '',
  'From bytes already in memory (no fetch): `initSync({ module: bytes })` in Node, `init({ module_or_path: bytes })`',
  'in Chromium, each on a fresh import of the glue. V8 compiles wasm lazily (functions are compiled at their',
  'first call), so this is the cost before the first call, not of optimised code.',
  '',
  '| build | wasm bytes | gzip | Node ' + process.versions.node + ' | Chromium |',
  '|---|---:|---:|---:|---:|',
  ...['browser', 'full'].map((b) => `| ${b} | ${nodeInit[b].raw} | ${nodeInit[b].gzip} | ${nodeInit[b].ms.toFixed(2)} ms | ${chromeInit[b].toFixed(2)} ms |`),
  '',
  '## npm package: `verifyJwt` in Node beside jose (same process, interleaved rounds, median ops/s)',
  '',
  `jose ${version('jose')} verifies through Node's WebCrypto (native code). tokenwarden's core parses the token, chooses`,
  'the key and checks the claims in wasm, and hands RSA and ECDSA signatures to the same WebCrypto; Ed25519 and',
  'HMAC it verifies itself (faster there, as the rows show). Both are called as applications call them:',
  'tokenwarden with the JWKS object, jose with an imported key. Target: tokenwarden / jose ≥ 1.0 for RS256,',
  'PS256, ES256 and EdDSA. The machine is shared and noisy: read the ratio, not the absolute rates.',
  '',
  '| alg | tokenwarden ops/s | jose ops/s | tokenwarden / jose |',
  '|---|---:|---:|---:|',
  ...verify.map((r) => {
    const ratio = r.tokenwarden / r.jose;
    const met = r.alg === 'HS256' ? '' : ratio >= 1 ? ' (met)' : ' (not met)';
    return `| ${r.alg} | ${Math.round(r.tokenwarden)} | ${Math.round(r.jose)} | ${ratio.toFixed(2)}${met} |`;
  }),
  '<!-- bench-js:end -->',
];
const section = lines.join('\n');
console.log(section);

writeSection('bench-js', section, '## What the figures rest on');
