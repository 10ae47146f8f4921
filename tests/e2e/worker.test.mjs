// The Worker (filters/worker) in a real workerd: forwards a verified identity to the origin with
// forged copies removed, fetches a remote JWKS by URL and refetches it on an unknown kid,
// introspects opaque tokens by URL, writes audit lines, and refuses every request with
// invalid_config when its configuration is bad. The shared behaviour is in tests/conformance.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { KEYS, keyStore } from '../conformance/cases.mjs';
import { cleanup, freePort } from './lib/envoy.mjs';
import { request, startDocumentServer, startEchoServer } from './lib/http.mjs';
import { es256Issuer } from './lib/jwt.mjs';
import { startWorkerd } from './lib/workerd.mjs';

const AUD = 'https://api.e2e.test';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin;
before(async () => {
  origin = await startEchoServer();
});
after(async () => {
  await origin?.stop();
});

async function workerWith(gatewayConfig) {
  const port = await freePort();
  return startWorkerd({ port, origin: `http://127.0.0.1:${origin.port}`, gatewayConfig });
}

async function stop(w) {
  await w?.stop();
  await cleanup(w?.dir);
}

describe('remote keys by URL, introspection by URL, audit lines', () => {
  const rot = es256Issuer({ issuer: 'https://rot.e2e.test', kid: 'rot-1' });
  const rotNext = es256Issuer({ issuer: 'https://rot.e2e.test', kid: 'rot-2' });
  let docs;
  let endpoint;
  let worker;
  const calls = [];
  before(async () => {
    docs = await startDocumentServer({ '/jwks': rot.jwks });
    endpoint = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls.push({ url: req.url, headers: req.headers, body });
        const token = new URLSearchParams(body).get('token');
        const active = token === 'opaque-good';
        const answer = active ? { active, sub: 'svc-7', scope: 'read:reports', exp: Math.floor(Date.now() / 1000) + 600 } : { active };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    endpoint.listen(0, '127.0.0.1');
    await once(endpoint, 'listening');
    worker = await workerWith({
      providers: [
        {
          name: 'rot',
          issuer: rot.issuer,
          audiences: [AUD],
          algorithms: ['ES256'],
          // refresh_secs is long: only the unknown-kid refetch can explain a rotated key passing.
          jwks: { remote: { url: `http://127.0.0.1:${docs.port}`, path: '/jwks', refresh_secs: 3600 } },
        },
      ],
      introspection: {
        endpoint: { url: `http://127.0.0.1:${endpoint.address().port}/oauth/introspect`, timeout_ms: 1000 },
        client_id: 'gateway',
        client_secret: 'not-in-logs',
      },
    });
  });
  after(async () => {
    await stop(worker);
    await docs?.stop();
    endpoint?.closeAllConnections();
    endpoint?.close();
  });

  test('the JWKS is fetched by URL on the first request, then cached', async () => {
    const token = rot.token({ sub: 'user-1', aud: AUD });
    const res = await request(worker.port, { headers: { authorization: `Bearer ${token}`, 'x-auth-sub': 'forged' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).headers['x-auth-sub'], 'user-1');
    assert.equal((await request(worker.port, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal(docs.count('/jwks'), 1);
  });

  test('an unknown kid is refused and refetches the JWKS; the rotated key then passes', async () => {
    docs.docs['/jwks'] = { keys: [...rot.jwks.keys, ...rotNext.jwks.keys] };
    const authorization = `Bearer ${rotNext.token({ sub: 'user-2', aud: AUD })}`;
    const first = await request(worker.port, { headers: { authorization } });
    assert.equal(first.status, 401, first.body);
    assert.equal(JSON.parse(first.body).error.code, 'unknown_key');
    let res;
    for (let i = 0; i < 40; i++) {
      res = await request(worker.port, { headers: { authorization } });
      if (res.status === 200) break;
      await sleep(100);
    }
    assert.equal(res.status, 200, res.body);
    assert.equal(docs.count('/jwks'), 2, 'one refetch');
  });

  test('an opaque token is introspected at the URL; the secret stays out of the logs', async () => {
    const res = await request(worker.port, { headers: { authorization: 'Bearer opaque-good' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).headers['x-auth-sub'], 'svc-7');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, '/oauth/introspect');
    assert.equal(calls[0].headers.authorization, `Basic ${Buffer.from('gateway:not-in-logs').toString('base64')}`);
    const inactive = await request(worker.port, { headers: { authorization: 'Bearer opaque-revoked' } });
    assert.equal(inactive.status, 401);
    assert.equal(JSON.parse(inactive.body).error.code, 'inactive_token');
    assert.ok(!worker.output.includes('not-in-logs'));
  });

  test('every decision writes one audit line; tokens never reach the log', async () => {
    await request(worker.port, { path: '/audited', headers: { 'cf-connecting-ip': '198.51.100.4' } });
    let line;
    for (let i = 0; i < 30 && !line; i++) {
      line = worker.lines().find((l) => l.includes('"path":"/audited"'));
      if (!line) await sleep(50);
    }
    assert.ok(line, 'an audit line');
    const event = JSON.parse(line.slice(line.indexOf('{')));
    assert.equal(event.error_code, 'missing_credentials');
    assert.equal(event.client_ip, '198.51.100.4', 'the client address is CF-Connecting-IP');
    assert.ok(!worker.output.includes('eyJ'), 'no token in the output');
  });
});

test('a bad configuration refuses every request with invalid_config, one line naming the field, and a count of each', async () => {
  // (A provider without an issuer is valid since the platform work: one without keys is not.)
  const port = await freePort();
  const w = await startWorkerd({ port, origin: `http://127.0.0.1:${origin.port}`, gatewayConfig: { providers: [{ name: 'idp', issuer: 'https://idp.e2e.test' }] }, metrics: true });
  try {
    const before = origin.requests;
    for (let i = 0; i < 2; i++) {
      const res = await request(w.port, { headers: { authorization: 'Bearer x' } });
      assert.equal(res.status, 503);
      assert.equal(JSON.parse(res.body).error.code, 'invalid_config');
    }
    assert.equal(origin.requests, before);
    await sleep(100);
    const lines = w.lines().filter((l) => l.includes('invalid configuration'));
    assert.equal(lines.length, 1, w.output);
    assert.match(lines[0], /providers\[0\]: missing field `jwks`/);
    // Envoy counts tokenwarden.denied.invalid_config per refused request; so does the Worker.
    const points = w.lines().filter((l) => l.includes('analytics-engine ')).map((l) => JSON.parse(l.slice(l.indexOf('analytics-engine ') + 17)));
    assert.equal(points.filter((p) => p.blobs[0] === 'tokenwarden.denied.invalid_config').length, 2, w.output);
  } finally {
    await stop(w);
  }
});

test('without an ORIGIN binding every request is refused with invalid_config', async () => {
  const port = await freePort();
  const idp = es256Issuer();
  const w = await startWorkerd({ port, gatewayConfig: { providers: [{ name: 'idp', issuer: idp.issuer, jwks: { inline: idp.jwks } }] } });
  try {
    const res = await request(port, { headers: { authorization: `Bearer ${idp.token({ sub: 'u' })}` } });
    assert.equal(res.status, 503, res.body);
    assert.equal(JSON.parse(res.body).error.code, 'invalid_config');
    await sleep(100);
    assert.match(w.output, /invalid configuration: ORIGIN: not set or not a URL/);
  } finally {
    await stop(w);
  }
});

test('a source with only an Envoy cluster: keys_unavailable, and one log line however many requests', async () => {
  const idp = es256Issuer();
  const w = await workerWith({ providers: [{ name: 'envoy-only', issuer: idp.issuer, jwks: { remote: { cluster: 'idp', path: '/jwks' } } }] });
  try {
    const authorization = `Bearer ${idp.token({ sub: 'u' })}`;
    for (let i = 0; i < 3; i++) {
      const res = await request(w.port, { headers: { authorization } });
      assert.equal(res.status, 503, res.body);
      assert.equal(JSON.parse(res.body).error.code, 'keys_unavailable');
    }
    await sleep(100);
    const lines = w.lines().filter((l) => l.includes('jwks:envoy-only'));
    assert.equal(lines.length, 1, w.output);
    assert.match(lines[0], /jwks:envoy-only: no url \(a cluster works only in Envoy\)/);
  } finally {
    await stop(w);
  }
});

test('IP allow-lists read CF-Connecting-IP when no client_ip header is configured', async () => {
  const w = await workerWith({ api_keys: { store: { inline: keyStore() } }, sources: [{ type: 'header', name: 'x-api-key' }] });
  try {
    const status = async (extra) => (await request(w.port, { headers: { 'x-api-key': KEYS.pinned, ...extra } })).status;
    assert.equal(await status({ 'cf-connecting-ip': '203.0.113.5' }), 200);
    assert.equal(await status({ 'cf-connecting-ip': '198.51.100.1' }), 403);
    assert.equal(await status({}), 403, 'no address: refused');
    assert.equal(await status({ 'cf-connecting-ip': 'not-an-address' }), 403);
  } finally {
    await stop(w);
  }
});
