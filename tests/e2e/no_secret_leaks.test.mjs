// Secrets never leak: every host (Envoy + the filter, workerd + the Worker with its metrics
// dataset, `tokenwarden decide` and the key commands of the CLI) is run with known secrets —
// an HMAC signing secret, an introspection client secret, API keys, JWTs, opaque tokens, a
// password-like query value — over good, bad and failing requests, and everything they emit
// is collected: response bodies and headers, Envoy's log and /stats, the Worker's console and
// data points, the CLI's stdout and stderr. No secret may appear whole in any of it.
//
// Needs `make filter` and `make worker` and the CLI (`cargo build --bin tokenwarden`).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { apiKey, keyStore } from './lib/apikeys.mjs';
import { cleanup, stats, tempDir } from './lib/envoy.mjs';
import { ask, CLI, startHosts } from './lib/hosts.mjs';
import { sleep, startDocumentServer, startEchoServer } from './lib/http.mjs';
import { hs256 } from './lib/jwt.mjs';

const HMAC_SECRET = Buffer.from('leak-test-hmac-secret-0123456789abcdef');
const CLIENT_SECRET = 'leak-test-introspection-client-secret-5f2a';
const live = apiKey({ permissions: ['read:datasets'] });
const revoked = apiKey({ revoked: true, revoked_at: 1735689700 });
const now = Math.floor(Date.now() / 1000);
const token = (claims) => hs256({ kid: 'leak' }, { sub: 'leak-user', exp: now + 600, ...claims }, HMAC_SECRET);
const TOKENS = {
  good: token({ scope: 'read:datasets' }),
  expired: token({ exp: now - 3600 }),
  forged: hs256({ kid: 'leak' }, { sub: 'leak-user', exp: now + 600 }, Buffer.from('another-secret-of-enough-length-000')),
};
const OPAQUE = { active: 'opaque-leak-active-7c1e9d', inactive: 'opaque-leak-inactive-2b8f4a', outage: 'opaque-leak-outage-9d3e1c' };
/** Every value that must never appear whole. */
const SECRETS = [HMAC_SECRET.toString('base64url'), HMAC_SECRET.toString(), CLIENT_SECRET, live.key, revoked.key, ...Object.values(TOKENS), ...Object.values(OPAQUE), 'query-password-1f7b'];

let origin;
let docs;
let introspection;
let started;
let dir;
const emitted = [];

before(async () => {
  origin = await startEchoServer();
  origin.prependListener('request', (req, res) => res.setHeader('x-echo', '1'));
  docs = await startDocumentServer({ '/keys.json': keyStore(live, revoked) });
  introspection = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const t = new URLSearchParams(body).get('token');
      if (t === OPAQUE.outage) return res.writeHead(500).end('upstream trouble');
      const answer = t === OPAQUE.active ? { active: true, sub: 'svc', scope: 'read:datasets', exp: now + 600 } : { active: false };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  introspection.listen(0, '127.0.0.1');
  await once(introspection, 'listening');
  const remote = (cluster, port, p) => ({ cluster, url: `http://127.0.0.1:${port}`, path: p, timeout_ms: 1000 });
  const gatewayConfig = {
    providers: [{ name: 'hs', algorithms: ['HS256'], jwks: { inline: { keys: [{ kty: 'oct', kid: 'leak', alg: 'HS256', k: HMAC_SECRET.toString('base64url') }] } } }],
    api_keys: { store: { remote: remote('docs', docs.port, '/keys.json') } },
    introspection: { endpoint: remote('introspection', introspection.address().port, '/introspect'), client_id: 'gw', client_secret: CLIENT_SECRET },
    sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }, { type: 'query', name: 'api_key' }],
    policy: { unmatched: 'deny', rules: [{ name: 'read', method: 'GET', path: '/v1/{rest*}', require: ['read:datasets'] }] },
  };
  started = await startHosts({ gatewayConfig, originPort: origin.port, clusters: { docs: docs.port, introspection: introspection.address().port }, metrics: true });
  dir = await tempDir('leak-');
});
after(async () => {
  await started?.stop();
  await docs?.stop();
  await origin?.stop();
  introspection?.close();
  await cleanup(dir);
});

const REQUESTS = [
  { path: '/v1/a', headers: { authorization: `Bearer ${TOKENS.good}` } },
  { path: '/v1/a', headers: { authorization: `Bearer ${TOKENS.expired}` } },
  { path: '/v1/a', headers: { authorization: `Bearer ${TOKENS.forged}` } },
  { path: '/admin', headers: { authorization: `Bearer ${TOKENS.good}` } },
  { path: '/v1/a', headers: { 'x-api-key': live.key } },
  { path: '/v1/a', headers: { 'x-api-key': revoked.key } },
  { path: `/v1/a?api_key=${live.key}&password=query-password-1f7b` },
  { path: `/v1/a?api_key=${revoked.key}` },
  { path: '/v1/a', headers: { authorization: `Bearer ${OPAQUE.active}` } },
  { path: '/v1/a', headers: { authorization: `Bearer ${OPAQUE.inactive}` } },
  { path: '/v1/a', headers: { authorization: `Bearer ${OPAQUE.outage}` } },
  { path: '/v1/a', headers: { authorization: `Bearer ${TOKENS.good}`, 'x-api-key': live.key } },
];

test('no host emits a secret whole, in any answer, log, audit line, metric or CLI output', async () => {
  for (const [name, host] of Object.entries(started.hosts)) {
    // The edges load the key store in the background: until then keys get 503.
    for (let i = 0; i < 50 && (await ask(host, REQUESTS[4])).status === 503; i += 1) await sleep(100);
    for (const r of REQUESTS) {
      const res = await ask(host, r);
      // What the origin echoes is the request itself (its own headers): not an emission.
      if (res.headers['x-echo'] !== '1') emitted.push({ where: `${name} answer`, text: JSON.stringify({ headers: res.headers, body: res.body }) });
      else emitted.push({ where: `${name} answer headers`, text: JSON.stringify(Object.entries(res.headers).filter(([h]) => h !== 'x-echo')) });
    }
  }
  // The CLI's key commands: create, list, check (good and bad), with the secret on the command line.
  const store = path.join(dir, 'keys.json');
  const cli = (args) => {
    try {
      return execFileSync(CLI, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return `${e.stdout}${e.stderr}`;
    }
  };
  writeFileSync(store, JSON.stringify(keyStore(live, revoked)));
  emitted.push({ where: 'cli keys list', text: cli(['keys', 'list', '--store', store]) });
  emitted.push({ where: 'cli keys check', text: cli(['keys', 'check', live.key, '--store', store]) });
  emitted.push({ where: 'cli keys check revoked', text: cli(['keys', 'check', revoked.key, '--store', store]) });
  const secretFile = path.join(dir, 'hmac.key');
  writeFileSync(secretFile, HMAC_SECRET);
  emitted.push({ where: 'cli jwt verify', text: cli(['jwt', 'verify', '--secret-file', secretFile, TOKENS.forged]) });
  await sleep(500); // Envoy flushes its log every 100 ms
  emitted.push({ where: 'envoy log', text: await started.envoy.log() });
  emitted.push({ where: 'envoy stats', text: (await stats(started.adminPort)).text });
  emitted.push({ where: 'worker console', text: started.worker.output });
  assert.ok(started.worker.output.includes('analytics-engine'), 'the Worker wrote data points');
  assert.ok((await started.envoy.log()).includes('"decision":"deny"'), 'Envoy wrote audit lines');
  const leaks = [];
  for (const { where, text } of emitted) {
    for (const secret of SECRETS) if (text.includes(secret)) leaks.push(`${where}: ${secret.slice(0, 12)}…`);
  }
  assert.deepEqual(leaks, []);
});
