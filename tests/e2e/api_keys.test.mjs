// API keys in a real Envoy: every type (sk, pk, rk) and environment, a custom prefix, keys of an
// environment this deployment does not serve (wrong_environment), revoked and expired keys, the
// permissions each type may hold enforced on routes, and IP allow-lists against the connection's
// address and against X-Forwarded-For with two trusted hops (spoofed leftmost entries ignored).
// Keys and stores are made in the documented format by lib/apikeys.mjs. Two Envoys: a live-only
// one that reads the peer address, and a test-only one behind two proxies.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiKey, keyStore, mintKey } from './lib/apikeys.mjs';
import { startGateway, stopGateway } from './lib/envoy.mjs';
import { bearer, errorCode, request, startEchoServer } from './lib/http.mjs';

const REALM = 'keys-e2e';
const now = () => Math.floor(Date.now() / 1000);

const policy = {
  unmatched: 'deny',
  rules: [
    { name: 'health', method: 'GET', path: '/health', anonymous: true },
    { name: 'datasets-read', method: 'GET', path: '/datasets/{dataset}', require: ['read:datasets.{dataset}'] },
    { name: 'datasets-update', method: 'PUT', path: '/datasets/{dataset}', require: ['update:datasets.{dataset}'] },
    { name: 'datasets-delete', method: 'DELETE', path: '/datasets/{dataset}', require: ['delete:datasets.{dataset}'] },
    { name: 'keys-admin', method: 'POST', path: '/api-keys', require: ['manage:api_keys'] },
  ],
};

let upstream;
before(async () => {
  upstream = await startEchoServer();
});
after(async () => {
  await upstream?.stop();
});

/** Expects a refusal with `status` and `code`, and nothing sent upstream. */
async function refused(port, req, status, code) {
  const before = upstream.requests;
  const res = await request(port, req);
  assert.equal(res.status, status, `${code}: ${res.status} ${res.body}`);
  assert.equal(errorCode(res), code, res.body);
  assert.ok(res.headers['www-authenticate']?.startsWith(`Bearer realm="${REALM}"`), JSON.stringify(res.headers));
  assert.equal(upstream.requests, before, 'a refused request must not reach the upstream');
  return res;
}

/** Expects the request to pass; returns the headers the upstream saw. */
async function passes(port, req) {
  const res = await request(port, req);
  assert.equal(res.status, 200, `${req.method ?? 'GET'} ${req.path}: ${res.body}`);
  return JSON.parse(res.body).headers;
}

describe('a live-only edge deployment (client address = connection peer, 127.0.0.1; use_remote_address)', () => {
  const keys = {
    sk: apiKey({ type: 'sk' }),
    pk: apiKey({ type: 'pk' }),
    // A pk key cannot hold more than read, whatever its record lists.
    pkWrite: apiKey({ type: 'pk', permissions: ['read:datasets.sales', 'update:datasets.sales'] }),
    rk: apiKey({ type: 'rk', permissions: ['read:datasets.sales'] }),
    rkNothing: apiKey({ type: 'rk' }),
    rkEditor: apiKey({ type: 'rk', roles: ['editor'] }),
    custom: apiKey({ type: 'rk', prefix: 'acme-core_key_', permissions: ['read:datasets'] }),
    customTest: apiKey({ type: 'sk', env: 'test', prefix: 'dp_test_' }),
    skTest: apiKey({ type: 'sk', env: 'test' }),
    revoked: apiKey({ revoked: true, revoked_at: now() - 30 }),
    expired: apiKey({ expires_at: now() - 10 }),
    expiresLater: apiKey({ expires_at: now() + 3600 }),
    salesOnly: apiKey({ datasets: ['sales'] }),
    ipLoopback: apiKey({ allowed_ips: ['127.0.0.1'] }),
    ipLoopbackNet: apiKey({ allowed_ips: ['203.0.113.0/24', '127.0.0.0/8'] }),
    ipElsewhere: apiKey({ allowed_ips: ['203.0.113.0/24', '2001:db8::/32'] }),
  };
  let port;
  let envoy;
  before(async () => {
    envoy = await startGateway({
      upstreamPort: upstream.port,
      pluginConfig: {
        realm: REALM,
        api_keys: {
          store: { inline: keyStore(...Object.values(keys)) },
          environments: ['live'],
          prefixes: [
            { prefix: 'acme-core_key_', type: 'rk', env: 'live' },
            { prefix: 'dp_test_', type: 'sk', env: 'test' },
          ],
        },
        sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
        policy,
      },
      // An edge Envoy: the downstream address is the TCP peer, never a client's X-Forwarded-For.
      hcm: { use_remote_address: true },
    });
    port = envoy.listenerPort;
  });
  after(() => stopGateway(envoy));

  const get = (k, path = '/datasets/sales', method = 'GET') => ({ method, path, headers: bearer(k.key) });

  test('sk_live_: full access; identity headers name the key', async () => {
    const seen = await passes(port, get(keys.sk));
    assert.equal(seen['x-auth-key-id'], keys.sk.id);
    assert.equal(seen['x-auth-credential'], 'api_key');
    assert.equal(seen['x-auth-scopes'], '*');
    assert.equal(seen['x-auth-rule'], 'datasets-read');
    assert.equal(seen['x-auth-dataset'], 'sales');
    assert.equal(seen['x-auth-sub'], undefined);
    await passes(port, get(keys.sk, '/datasets/hr', 'DELETE'));
    await passes(port, get(keys.sk, '/api-keys', 'POST'));
    // The x-api-key header works as well as Authorization.
    assert.equal((await passes(port, { path: '/datasets/sales', headers: { 'x-api-key': keys.sk.key } }))['x-auth-key-id'], keys.sk.id);
    // Even a full-access key is refused on a route no rule covers (unmatched: deny).
    await refused(port, get(keys.sk, '/elsewhere'), 403, 'access_denied');
  });

  test('pk_live_: read-only, also when its record lists more', async () => {
    assert.equal((await passes(port, get(keys.pk)))['x-auth-scopes'], 'read:*');
    await passes(port, get(keys.pk, '/datasets/hr'));
    const res = await refused(port, get(keys.pk, '/datasets/sales', 'PUT'), 403, 'insufficient_scope');
    assert.equal(
      res.headers['www-authenticate'],
      `Bearer realm="${REALM}", error="insufficient_scope", error_description="rule 'datasets-update' requires update:datasets.sales", scope="update:datasets.sales"`,
    );
    await passes(port, get(keys.pkWrite));
    await refused(port, get(keys.pkWrite, '/datasets/sales', 'PUT'), 403, 'insufficient_scope');
    await refused(port, get(keys.pkWrite, '/datasets/hr'), 403, 'insufficient_scope');
  });

  test('rk_live_: exactly its permissions, or its roles; nothing when it lists none', async () => {
    await passes(port, get(keys.rk));
    const hr = await refused(port, get(keys.rk, '/datasets/hr'), 403, 'insufficient_scope');
    assert.match(hr.headers['www-authenticate'], /scope="read:datasets\.hr"/);
    await refused(port, get(keys.rk, '/datasets/sales', 'PUT'), 403, 'insufficient_scope');
    await refused(port, get(keys.rkNothing), 403, 'insufficient_scope');
    // editor = viewer + update:datasets (…), but not delete:datasets nor manage:api_keys.
    await passes(port, get(keys.rkEditor, '/datasets/hr', 'PUT'));
    await passes(port, get(keys.rkEditor, '/datasets/hr'));
    await refused(port, get(keys.rkEditor, '/datasets/hr', 'DELETE'), 403, 'insufficient_scope');
    await refused(port, get(keys.rkEditor, '/api-keys', 'POST'), 403, 'insufficient_scope');
  });

  test('a custom prefix maps to its type and environment', async () => {
    assert.ok(keys.custom.key.startsWith('acme-core_key_'));
    assert.equal((await passes(port, get(keys.custom, '/datasets/hr')))['x-auth-key-id'], keys.custom.id);
    await refused(port, get(keys.custom, '/datasets/hr', 'PUT'), 403, 'insufficient_scope');
  });

  test('test-environment keys (standard and custom prefix) → wrong_environment', async () => {
    await refused(port, get(keys.skTest), 401, 'wrong_environment');
    await refused(port, get(keys.customTest), 401, 'wrong_environment');
  });

  test('revoked → revoked_api_key; expired → expired_api_key; not yet expired passes', async () => {
    await refused(port, get(keys.revoked), 401, 'revoked_api_key');
    await refused(port, get(keys.expired), 401, 'expired_api_key');
    await passes(port, get(keys.expiresLater));
  });

  test('unknown, mistyped and foreign keys → invalid_api_key', async () => {
    // Well formed, right checksum, not in the store.
    await refused(port, get({ key: mintKey('sk_live_') }), 401, 'invalid_api_key');
    // One character changed: the checksum no longer matches.
    const k = keys.sk.key;
    const typo = `${k.slice(0, 20)}${k[20] === 'a' ? 'b' : 'a'}${k.slice(21)}`;
    await refused(port, get({ key: typo }), 401, 'invalid_api_key');
    // A key whose prefix this deployment does not know.
    await refused(port, get({ key: mintKey('zz_live_') }), 401, 'invalid_api_key');
  });

  test('a key limited to a dataset is refused on another one', async () => {
    await passes(port, get(keys.salesOnly));
    await refused(port, get(keys.salesOnly, '/datasets/hr'), 403, 'access_denied');
  });

  test('IP allow-list against the connection address: hit and miss', async () => {
    await passes(port, get(keys.ipLoopback));
    await passes(port, get(keys.ipLoopbackNet));
    await refused(port, get(keys.ipElsewhere), 403, 'ip_not_allowed');
    // client_ip is not configured and Envoy uses the TCP peer: a client cannot talk its way in
    // with X-Forwarded-For.
    await refused(port, { path: '/datasets/sales', headers: bearer(keys.ipElsewhere.key, { 'x-forwarded-for': '203.0.113.5' }) }, 403, 'ip_not_allowed');
  });

  test('an anonymous route needs no key', async () => {
    const before = upstream.requests;
    assert.equal((await request(port, { path: '/health' })).status, 200);
    assert.equal(upstream.requests, before + 1);
    await refused(port, { path: '/datasets/sales' }, 401, 'missing_credentials');
  });
});

describe('a test-only deployment behind two trusted proxies (X-Forwarded-For, trusted_hops 2)', () => {
  const keys = {
    test: apiKey({ type: 'sk', env: 'test' }),
    live: apiKey({ type: 'sk', env: 'live' }),
    ipHost: apiKey({ type: 'sk', env: 'test', allowed_ips: ['203.0.113.7'] }),
    ipNet: apiKey({ type: 'rk', env: 'test', allowed_ips: ['198.51.100.0/24'], permissions: ['read:datasets'] }),
  };
  let port;
  let envoy;
  before(async () => {
    envoy = await startGateway({
      upstreamPort: upstream.port,
      pluginConfig: {
        realm: REALM,
        api_keys: { store: { inline: keyStore(...Object.values(keys)) }, environments: ['test'] },
        client_ip: { header: 'x-forwarded-for', trusted_hops: 2 },
      },
    });
    port = envoy.listenerPort;
  });
  after(() => stopGateway(envoy));

  // Proxy 1 appended the client's address, proxy 2 appended proxy 1's (10.0.0.1).
  const via = (k, xff) => ({ path: '/datasets/sales', headers: bearer(k.key, xff === undefined ? {} : { 'x-forwarded-for': xff }) });

  test('sk_test_ passes; sk_live_ → wrong_environment', async () => {
    assert.equal((await passes(port, via(keys.test, '192.0.2.1, 10.0.0.1')))['x-auth-key-id'], keys.test.id);
    await refused(port, via(keys.live, '192.0.2.1, 10.0.0.1'), 401, 'wrong_environment');
  });

  test('the client is the second entry from the right: hit and miss', async () => {
    await passes(port, via(keys.ipHost, '203.0.113.7, 10.0.0.1'));
    await passes(port, via(keys.ipNet, '198.51.100.44, 10.0.0.1'));
    await refused(port, via(keys.ipHost, '198.51.100.44, 10.0.0.1'), 403, 'ip_not_allowed');
    await refused(port, via(keys.ipNet, '203.0.113.7, 10.0.0.1'), 403, 'ip_not_allowed');
  });

  test('spoofed leftmost entries do not help', async () => {
    // The client wrote "203.0.113.7" itself; proxy 1 appended its real address.
    await refused(port, via(keys.ipHost, '203.0.113.7, 198.51.100.44, 10.0.0.1'), 403, 'ip_not_allowed');
    await refused(port, via(keys.ipHost, '203.0.113.7, 203.0.113.7, 198.51.100.44, 10.0.0.1'), 403, 'ip_not_allowed');
    // ...while the key whose network the real address is in passes with the same header.
    await passes(port, via(keys.ipNet, '203.0.113.7, 198.51.100.44, 10.0.0.1'));
  });

  test('too few entries, garbage, or no header: the address is unknown and allow-lists refuse', async () => {
    await refused(port, via(keys.ipHost, '203.0.113.7'), 403, 'ip_not_allowed');
    await refused(port, via(keys.ipHost, 'not-an-ip, 10.0.0.1'), 403, 'ip_not_allowed');
    await refused(port, via(keys.ipHost), 403, 'ip_not_allowed');
    // A key without an allow-list does not depend on the address.
    await passes(port, via(keys.test));
  });
});

describe('an edge Envoy (use_remote_address) behind one proxy: trusted_hops counts Envoy’s own entry', () => {
  const key = apiKey({ allowed_ips: ['203.0.113.7'] });
  let envoy;
  before(async () => {
    envoy = await startGateway({
      upstreamPort: upstream.port,
      pluginConfig: {
        realm: REALM,
        api_keys: { store: { inline: keyStore(key) } },
        client_ip: { header: 'x-forwarded-for', trusted_hops: 2 },
      },
      hcm: { use_remote_address: true },
    });
  });
  after(() => stopGateway(envoy));

  test('the proxy’s entry is the client; Envoy appended the next one (docs/envoy.md)', async () => {
    const via = (xff) => ({ path: '/', headers: bearer(key.key, { 'x-forwarded-for': xff }) });
    // The proxy appended 203.0.113.7; Envoy appends the peer's (or for loopback its own) address.
    const seen = await passes(envoy.listenerPort, via('203.0.113.7'));
    assert.equal(seen['x-forwarded-for'].split(',').length, 2, seen['x-forwarded-for']);
    await refused(envoy.listenerPort, via('203.0.113.7, 198.51.100.44'), 403, 'ip_not_allowed');
    await refused(envoy.listenerPort, { path: '/', headers: bearer(key.key) }, 403, 'ip_not_allowed');
  });
});

