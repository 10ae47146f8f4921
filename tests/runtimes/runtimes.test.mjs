// The server entry in every runtime it is tested in: suite.mjs runs in Node, Deno and Bun
// (`main.mjs`, each resolving `tokenwarden` from node_modules by its own export condition) and
// in workerd (bundled with the `workerd` condition, the .wasm kept as a module). This driver plays
// the other side on 127.0.0.1, in this process: a JWKS endpoint whose keys rotate, an OpenID
// discovery document, token endpoints for client_secret_basic, client_secret_post and
// private_key_jwt (the assertion checked by jose), and an API behind an API key that answers 503
// and 429. Fixtures (tokens signed by jose, HMACs and hashes by node:crypto) are served at
// /fixtures; every check POSTs its result to /report. A fresh server for each runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import { generateApiKey } from 'tokenwarden';
import { serve } from '../js/helpers.mjs';
import { bundleForWorkerd } from '../workerd/bundle.mjs';
import { checks } from './suite.mjs';
import { runtimeBinary } from './binaries.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://api.example';
const SECRET = 'p@ss:word';
const API_KEY = 'dp_live_8f3k29dQz81mLk0aP2';

// Keys, once: the JWKS keys (kid <alg>-1), the key the rotation brings (RS256-2), the
// private_key_jwt client's key.
const keys = {};
for (const [kid, alg] of [['RS256-1', 'RS256'], ['ES256-1', 'ES256'], ['EdDSA-1', 'EdDSA'], ['RS256-2', 'RS256'], ['client', 'ES256']]) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  keys[kid] = { alg, privateKey, publicKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
}
const jwks = (...kids) => ({ keys: kids.map((kid) => keys[kid].jwk) });

function mint(kid, { iss = ISSUER, headerKid = kid } = {}) {
  return new jose.SignJWT({ scope: 'read:datasets' }).setProtectedHeader({ alg: keys[kid].alg, kid: headerKid })
    .setIssuer(iss).setAudience(AUDIENCE).setSubject('user_123').setIssuedAt().setExpirationTime('10m')
    .sign(keys[kid].privateKey);
}

const hmac = (secret, data) => `sha256=${createHmac('sha256', secret).update(data).digest('hex')}`;

async function fixtures(origin) {
  const tokens = {};
  for (const alg of ['RS256', 'ES256', 'EdDSA']) tokens[alg] = await mint(`${alg}-1`);
  tokens.none = `${jose.base64url.encode('{"alg":"none","kid":"RS256-1"}')}.${tokens.RS256.split('.')[1]}.`;
  const body = '{"event":"key.created","id":"evt_1"}';
  const secret = 'whsec_runtimes_0123456789';
  const now = Math.floor(Date.now() / 1000);
  const stamped = (ts) => ({ timestamp: String(ts), signature: hmac(secret, `${ts}.${body}`) });
  const rk = generateApiKey('rk', 'test').key;
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    tokens,
    forgedPayload: jose.base64url.encode(JSON.stringify({ ...jose.decodeJwt(tokens.RS256), sub: 'admin' })),
    rotated: await mint('RS256-2'),
    unknownKid: await mint('ES256-1', { headerKid: 'nobody' }),
    discoveryToken: await mint('ES256-1', { iss: origin }),
    service: { secret: SECRET, privateKey: { ...(await jose.exportJWK(keys.client.privateKey)), alg: 'ES256', kid: 'client' } },
    webhook: { body, secret, signature: hmac(secret, body), fresh: stamped(now - 10), stale: stamped(now - 3600) },
    apiKey: { key: rk, hash: `sha256:${createHash('sha256').update(rk).digest('hex')}` },
    apiKeyClient: { key: API_KEY },
  };
}

/** The driver's server for one runtime's run; `reports` gets what the suite POSTs back. */
async function driverServer() {
  const reports = [];
  let origin;
  let fx;
  let rotated = false;
  const issued = { basic: 0, post: 0, pkjwt: 0 };
  let flaky = 0;
  let limited = 0;
  const invalid = (why) => ({ status: 400, body: { error: 'invalid_request', error_description: why } });
  const token = (kind) => ({ body: { access_token: `${kind}-${++issued[kind]}`, token_type: 'Bearer', expires_in: 3600 } });
  const basic = (r) => {
    const form = new URLSearchParams(r.body);
    if (form.get('grant_type') !== 'client_credentials') return invalid(`grant_type ${form.get('grant_type')}`);
    if (form.has('client_secret')) return invalid('client_secret in the body of a client_secret_basic request');
    const expected = `Basic ${Buffer.from(`svc-basic:${encodeURIComponent(SECRET)}`).toString('base64')}`;
    if (r.headers.authorization !== expected) return { status: 401, body: { error: 'invalid_client' } };
    if (form.get('scope') !== null && form.get('scope') !== 'read write') return invalid(`scope ${form.get('scope')}`);
    if (form.get('audience') !== null && form.get('audience') !== AUDIENCE) return invalid(`audience ${form.get('audience')}`);
    return token('basic');
  };
  const keyed = (r, header, answer) => {
    const sent = header === 'authorization' ? r.headers.authorization === `Bearer ${API_KEY}` : r.headers[header] === API_KEY && !r.headers.authorization;
    return sent ? answer() : { status: 401, body: { error: `the key was not in ${header}` } };
  };
  const server = await serve({
    'GET /fixtures': () => ({ body: fx }),
    'GET /stats': (_r, requests) => {
      const counts = {};
      for (const q of requests) counts[`${q.method} ${q.path.split('?')[0]}`] = (counts[`${q.method} ${q.path.split('?')[0]}`] ?? 0) + 1;
      return { body: counts };
    },
    'POST /report': (r) => {
      reports.push(JSON.parse(r.body));
      return { body: {} };
    },
    'GET /jwt/jwks': () => ({ body: jwks('RS256-1', 'ES256-1', 'EdDSA-1') }),
    'GET /forge/jwks': () => ({ body: jwks('RS256-1', 'ES256-1', 'EdDSA-1') }),
    'GET /rot/jwks': () => ({ body: rotated ? jwks('RS256-1', 'RS256-2') : jwks('RS256-1') }),
    'POST /rot/rotate': () => {
      rotated = true;
      return { body: {} };
    },
    'GET /down/jwks': () => ({ status: 500 }),
    'GET /.well-known/openid-configuration': () => ({ body: { issuer: origin, jwks_uri: `${origin}/disc/jwks` } }),
    'GET /disc/jwks': () => ({ body: jwks('ES256-1') }),
    'POST /basic/token': basic,
    'POST /refuse/token': basic,
    'POST /post/token': (r) => {
      const form = new URLSearchParams(r.body);
      if (r.headers.authorization) return invalid('an Authorization header on a client_secret_post request');
      if (form.get('grant_type') !== 'client_credentials') return invalid(`grant_type ${form.get('grant_type')}`);
      if (form.get('client_id') !== 'svc-post' || form.get('client_secret') !== SECRET) return { status: 401, body: { error: 'invalid_client' } };
      return token('post');
    },
    'POST /pkjwt/token': async (r) => {
      const form = new URLSearchParams(r.body);
      if (r.headers.authorization || form.has('client_secret')) return invalid('a secret on a private_key_jwt request');
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return invalid(`client_assertion_type ${form.get('client_assertion_type')}`);
      try {
        const { payload } = await jose.jwtVerify(form.get('client_assertion') ?? '', keys.client.publicKey, {
          issuer: 'svc-jwt', subject: 'svc-jwt', audience: `${origin}/pkjwt/token`, maxTokenAge: 120,
        });
        if (!payload.jti || !payload.exp) return invalid('the assertion has no jti or exp');
      } catch (e) {
        return { status: 401, body: { error: 'invalid_client', error_description: `assertion: ${e.message}` } };
      }
      return token('pkjwt');
    },
    'GET /svc/api': (r) => (r.headers.authorization === 'Bearer basic-1' ? { status: 401 } : { body: { token: r.headers.authorization?.replace(/^Bearer /, '') } }),
    'GET /api/flaky': (r) => keyed(r, 'authorization', () => (++flaky === 1 ? { status: 503 } : { body: { ok: true } })),
    'POST /api/run': (r) => keyed(r, 'authorization', () => ({ status: 503 })),
    'GET /api/limited': (r) => keyed(r, 'x-api-key', () => (++limited === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { body: { ok: true } })),
  });
  origin = server.origin;
  fx = await fixtures(origin);
  return { server, reports };
}

/** Runs a command to its end (async: this process serves its requests meanwhile). */
function exec(bin, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Bundles workerd.mjs as Worker tooling does and writes a config whose only outbound is loopback. */
async function workerdConfig(origin) {
  const out = `${root}.tmp/runtimes/workerd/`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const wasm = await bundleForWorkerd({ worker: `${root}tests/runtimes/workerd.mjs` }, out);
  assert.equal(wasm.length, 1, `one wasm module in the Worker bundle: ${wasm}`);
  writeFileSync(`${out}config.capnp`, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "main", worker = .main), (name = "loopback", network = (allow = ["local"]))]);
const main :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js"), (name = "${wasm[0]}", wasm = embed "${wasm[0]}")],
  compatibilityDate = "2025-01-01",
  bindings = [(name = "ORIGIN", text = "${origin}")],
  globalOutbound = "loopback",
);
`);
  return `${out}config.capnp`;
}

const deno = runtimeBinary('deno');
const bun = runtimeBinary('bun');
const workerdVersion = (await exec(`${root}node_modules/.bin/workerd`, ['--version'])).output.trim();

const runtimes = [
  { name: `Node ${process.versions.node}`, says: /^Node /, entry: /\/dist\/node\.js$/, command: (origin) => [process.execPath, ['tests/runtimes/main.mjs', origin]] },
  // Deno finds node_modules through package.json; --allow-net alone: the deno entry must load its
  // wasm without --allow-read.
  { name: deno?.version.split(' (')[0].replace('deno', 'Deno') ?? 'Deno', missing: !deno, says: /^Deno /, entry: /\/dist\/deno\.js$/,
    command: (origin) => [deno.bin, ['run', '--no-prompt', '--node-modules-dir=manual', `--allow-net=${new URL(origin).host}`, 'tests/runtimes/main.mjs', origin]],
    env: { DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' } },
  { name: `Bun ${bun?.version}`, missing: !bun, says: /^Bun /, entry: /\/dist\/node\.js$/, command: (origin) => [bun.bin, ['tests/runtimes/main.mjs', origin]] },
  { name: workerdVersion, says: /^workerd$/,
    command: async (origin) => [`${root}node_modules/.bin/workerd`, ['test', await workerdConfig(origin)]] },
];

for (const rt of runtimes) {
  test(rt.name, async (t) => {
    assert.ok(!rt.missing, `${rt.name} is not installed (npm install; node tests/runtimes/binaries.mjs)`);
    const { server, reports } = await driverServer();
    try {
      const [bin, args] = await rt.command(server.origin);
      const started = Date.now();
      const run = await exec(bin, args, rt.env);
      assert.equal(reports.length, 1, `one report from ${rt.name} (exit ${run.code ?? run.signal}):\n${run.output}`);
      const report = reports[0];
      t.diagnostic(`${report.runtime}: ${report.results.filter((r) => r.ok).length}/${report.results.length} checks in ${Date.now() - started} ms, entry ${report.entry ?? '(bundled)'}`);
      assert.match(report.runtime, rt.says, 'the suite ran in the runtime named');
      if (rt.entry) assert.match(report.entry ?? '', rt.entry, 'the export condition the runtime picked');
      for (const name of Object.keys(checks)) {
        await t.test(name, () => {
          const result = report.results.find((r) => r.name === name);
          assert.ok(result, `no result for ${name}`);
          assert.ok(result.ok, result.error);
        });
      }
      assert.equal(run.code, 0, `${rt.name} exited ${run.code ?? run.signal}:\n${run.output}`);
    } finally {
      await server.close();
    }
  });
}
