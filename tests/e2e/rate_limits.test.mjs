// Rate limits in a real Envoy (GCRA buckets in proxy-wasm shared data): a per-rule limit reaches
// 429 with Retry-After and the X-RateLimit-* headers and recovers after the interval; an API
// key's own limit; the X-RateLimit-* headers on allowed responses; failed-attempt throttling per
// client address (from X-Forwarded-For, one trusted hop). One Envoy for the file. Limits refill
// one request every 2 s: slow enough for a noisy machine, fast enough to test recovery.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiKey, keyStore } from './lib/apikeys.mjs';
import { startGateway, stats, stopGateway } from './lib/envoy.mjs';
import { bearer, errorCode, request, sleep, startEchoServer } from './lib/http.mjs';
import { issuerFor } from './lib/jwt.mjs';

const AUD = 'https://api.e2e.test';
const idp = issuerFor('ES256', { issuer: 'https://limits.e2e.test' });
const limitedKey = apiKey({ rate_limit: '2/4s' });

let upstream;
let envoy;
let port;
before(async () => {
  upstream = await startEchoServer();
  envoy = await startGateway({
    upstreamPort: upstream.port,
    pluginConfig: {
      realm: 'limits-e2e',
      providers: [{ name: 'idp', issuer: idp.issuer, audiences: [AUD], jwks: { inline: idp.jwks } }],
      api_keys: { store: { inline: keyStore(limitedKey) } },
      policy: {
        unmatched: 'authenticated',
        rules: [
          { name: 'limited', method: 'GET', path: '/limited' },
          { name: 'free', method: 'GET', path: '/free' },
        ],
      },
      rate_limits: [{ rule: 'limited', limit: '3/6s' }],
      failed_attempts: '3/6s',
      client_ip: { header: 'x-forwarded-for', trusted_hops: 1 },
    },
  });
  port = envoy.listenerPort;
});
after(async () => {
  await stopGateway(envoy);
  await upstream?.stop();
});

const token = (sub) => idp.token({ sub, aud: AUD });
const from = (ip, credential, path = '/limited') => ({
  path,
  headers: credential ? bearer(credential, { 'x-forwarded-for': ip }) : { 'x-forwarded-for': ip },
});

/** A 429 with every header a client needs to back off; returns Retry-After in seconds. */
function assertLimited(res, limit) {
  assert.equal(res.status, 429, res.body);
  assert.equal(errorCode(res), 'rate_limited');
  const retry = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 3, `Retry-After: ${res.headers['retry-after']}`);
  assert.equal(res.headers['x-ratelimit-limit'], String(limit));
  assert.equal(res.headers['x-ratelimit-remaining'], '0');
  assert.ok(Number(res.headers['x-ratelimit-reset']) >= 1, `X-RateLimit-Reset: ${res.headers['x-ratelimit-reset']}`);
  return retry;
}

describe('per-rule and per-key limits', () => {
  test('3/6s on a rule: three pass, the fourth gets 429, and the bucket refills', async () => {
    const t = token('rl-rule');
    const before = upstream.requests;
    for (let i = 0; i < 3; i++) assert.equal((await request(port, from('192.0.2.10', t))).status, 200);
    const limited = await request(port, from('192.0.2.10', t));
    const retry = assertLimited(limited, 3);
    assert.equal(upstream.requests, before + 3, 'the limited request did not reach the upstream');
    // Other rules and other credentials are not affected.
    assert.equal((await request(port, from('192.0.2.10', t, '/free'))).status, 200);
    assert.equal((await request(port, from('192.0.2.10', token('rl-other')))).status, 200);
    // After Retry-After, one more request passes (GCRA refills one every 2 s here).
    await sleep(retry * 1000 + 150);
    assert.equal((await request(port, from('192.0.2.10', t))).status, 200);
    assertLimited(await request(port, from('192.0.2.10', t)), 3);
    const s = await stats(envoy.adminPort);
    assert.ok(s.get('wasmcustom.tokenwarden.rate_limited') >= 2, s.text);
  });

  test('allowed responses carry X-RateLimit-Limit/Remaining/Reset', async () => {
    const t = token('rl-headers');
    const remaining = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(port, from('192.0.2.11', t));
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['x-ratelimit-limit'], '3', JSON.stringify(res.headers));
      assert.ok(Number(res.headers['x-ratelimit-reset']) >= 1);
      remaining.push(res.headers['x-ratelimit-remaining']);
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    // A route without a limit adds none.
    const free = await request(port, from('192.0.2.11', t, '/free'));
    assert.equal(free.headers['x-ratelimit-limit'], undefined);
  });

  test("an API key's own rate_limit (2/4s) applies on every route", async () => {
    for (let i = 0; i < 2; i++) assert.equal((await request(port, from('192.0.2.12', limitedKey.key, '/free'))).status, 200);
    const retry = assertLimited(await request(port, from('192.0.2.12', limitedKey.key, '/free')), 2);
    await sleep(retry * 1000 + 150);
    assert.equal((await request(port, from('192.0.2.12', limitedKey.key, '/free'))).status, 200);
  });
});

describe('failed-attempt throttling per client address', () => {
  test('three failures from one address: even a valid credential gets 429 there, not elsewhere', async () => {
    const good = token('fa-user');
    const bad = `${good.slice(0, -6)}AAAAAA`;
    for (let i = 0; i < 3; i++) {
      const res = await request(port, from('198.51.100.1', bad, '/free'));
      assert.equal(res.status, 401, res.body);
    }
    const before = upstream.requests;
    const blocked = await request(port, from('198.51.100.1', good, '/free'));
    const retry = assertLimited(blocked, 3);
    assert.equal(upstream.requests, before);
    // The same credential from another address passes; the spoofable leftmost entry is ignored.
    assert.equal((await request(port, from('198.51.100.2', good, '/free'))).status, 200);
    assert.equal((await request(port, from('198.51.100.2, 198.51.100.1', good, '/free'))).status, 429);
    assert.equal((await request(port, from('198.51.100.1, 198.51.100.2', good, '/free'))).status, 200);
    // It recovers as the bucket refills.
    await sleep(retry * 1000 + 150);
    assert.equal((await request(port, from('198.51.100.1', good, '/free'))).status, 200);
  });

  test('requests without a credential and successful ones do not count', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await request(port, from('198.51.100.3', null, '/free'));
      assert.equal(errorCode(res), 'missing_credentials');
    }
    for (let i = 0; i < 5; i++) assert.equal((await request(port, from('198.51.100.3', token('fa-ok'), '/free'))).status, 200);
  });
});
