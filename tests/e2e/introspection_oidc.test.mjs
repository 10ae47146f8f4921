// RFC 7662 introspection against a real OpenID provider (oidc-provider 9, on 127.0.0.1) through
// an Envoy cluster: an application client obtains opaque access tokens by client credentials;
// the filter, holding the gateway's own client credentials, accepts an active token, refuses an
// unknown and a revoked one (RFC 7009 revocation at the provider), and caches both answers
// (introspection calls counted at the provider) no longer than configured.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import Provider from 'oidc-provider';

import { freePort, startGateway, stopGateway } from './lib/envoy.mjs';
import { bearer, errorCode, request, sleep, startEchoServer } from './lib/http.mjs';

const REALM = 'introspection-e2e';
const APP = { client_id: 'reporting-app', client_secret: 'app-secret-0123456789abcdef0123456789' };
const GATEWAY = { client_id: 'envoy-gateway', client_secret: 'gw-secret-0123456789abcdef0123456789' };
/** A second gateway client that authenticates in the form body (client_secret_post). */
const GATEWAY_POST = { client_id: 'envoy-gateway-post', client_secret: 'gw-post-secret-0123456789abcdef01234' };
// Cache entries end on whole seconds: 2 s leaves at least 1 s of reuse for the cached requests.
const CACHE_SECS = 2;

let upstream;
let idp;
let issuer;
let envoy;
/** Introspection requests that reached the provider, with their parsed form bodies. */
const introspections = [];

before(async () => {
  upstream = await startEchoServer();
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      { ...APP, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'read:reports write:reports' },
      // The gateway only introspects.
      { ...GATEWAY, grant_types: [], redirect_uris: [], response_types: [] },
      { ...GATEWAY_POST, grant_types: [], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
    ],
    scopes: ['read:reports', 'write:reports'],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Only the gateway client may introspect; an application revokes only its own tokens.
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client) => [GATEWAY.client_id, GATEWAY_POST.client_id].includes(client.clientId),
      },
      revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    },
  });
  const callback = provider.callback();
  idp = http.createServer((req, res) => {
    if (req.url.startsWith('/token/introspection')) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => introspections.push({ headers: req.headers, form: new URLSearchParams(body) }));
    }
    callback(req, res);
  });
  idp.listen(port, '127.0.0.1');
  await once(idp, 'listening');
  envoy = await gatewayFor({});
});
/** An Envoy whose filter introspects at the provider as GATEWAY, with `overrides`. */
function gatewayFor(overrides) {
  const port = Number(new URL(issuer).port);
  return startGateway({
    upstreamPort: upstream.port,
    pluginConfig: {
      realm: REALM,
      introspection: {
        endpoint: { cluster: 'idp', authority: `127.0.0.1:${port}`, path: '/token/introspection', timeout_ms: 3000 },
        client_id: GATEWAY.client_id,
        client_secret: GATEWAY.client_secret,
        cache_secs: CACHE_SECS,
        negative_cache_secs: CACHE_SECS,
        ...overrides,
      },
    },
    clusters: { idp: port },
  });
}

after(async () => {
  await stopGateway(envoy);
  idp?.closeAllConnections();
  await new Promise((resolve) => (idp ? idp.close(resolve) : resolve()));
  await upstream?.stop();
});

/** POSTs a form to the provider as the application client (client_secret_basic). */
async function asApp(path, form) {
  const res = await fetch(`${issuer}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${APP.client_id}:${APP.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** A fresh opaque access token by client credentials. */
async function clientCredentialsToken(scope = 'read:reports') {
  const answer = await asApp('/token', { grant_type: 'client_credentials', scope });
  assert.equal(answer.token_type, 'Bearer');
  // Opaque: not a JWT (no resource indicators, so the provider issues its own reference format).
  assert.ok(!answer.access_token.startsWith('eyJ') && answer.access_token.split('.').length === 1, answer.access_token);
  return answer.access_token;
}

const revoke = (token) => asApp('/token/revocation', { token, token_type_hint: 'access_token' });
const send = (token) => request(envoy.listenerPort, { path: '/reports/2026', headers: bearer(token) });

async function refusedInactive(token) {
  const before = upstream.requests;
  const res = await send(token);
  assert.equal(res.status, 401, res.body);
  assert.equal(errorCode(res), 'inactive_token');
  assert.match(res.headers['www-authenticate'], new RegExp(`^Bearer realm="${REALM}", error="invalid_token"`));
  assert.equal(upstream.requests, before);
}

describe('opaque tokens from oidc-provider, introspected through Envoy', () => {
  test('an active token passes with its scopes; the provider sees the gateway client', async () => {
    const token = await clientCredentialsToken('read:reports write:reports');
    const calls = introspections.length;
    const res = await send(token);
    assert.equal(res.status, 200, res.body);
    const seen = JSON.parse(res.body).headers;
    assert.equal(seen['x-auth-scopes'], 'read:reports write:reports');
    assert.equal(seen['x-auth-issuer'], issuer);
    assert.equal(seen['x-auth-credential'], 'opaque_token');
    assert.equal(seen['x-auth-key-id'], undefined);
    assert.equal(introspections.length, calls + 1);
    const call = introspections.at(-1);
    assert.equal(call.form.get('token'), token);
    assert.equal(call.headers.authorization, `Basic ${Buffer.from(`${GATEWAY.client_id}:${GATEWAY.client_secret}`).toString('base64')}`);
  });

  test('active answers are cached, then asked again after cache_secs', async () => {
    const token = await clientCredentialsToken();
    const calls = introspections.length;
    for (let i = 0; i < 4; i++) assert.equal((await send(token)).status, 200);
    assert.equal(introspections.length, calls + 1, 'one introspection for four requests');
    await sleep(CACHE_SECS * 1000 + 1100);
    assert.equal((await send(token)).status, 200);
    assert.equal(introspections.length, calls + 2, 'introspected again once the cache entry expired');
  });

  test('an unknown token is refused (inactive_token), and the negative answer cached', async () => {
    const calls = introspections.length;
    const unknown = 'x'.repeat(43);
    await refusedInactive(unknown);
    await refusedInactive(unknown);
    assert.equal(introspections.length, calls + 1);
  });

  test('a token revoked at the provider is refused', async () => {
    const token = await clientCredentialsToken();
    await revoke(token);
    await refusedInactive(token);
  });

  test('a token revoked after use is refused once its cache entry expires', async () => {
    const token = await clientCredentialsToken();
    assert.equal((await send(token)).status, 200);
    await revoke(token);
    const revokedAt = Date.now();
    // Within cache_secs the cached answer may still be used: that is the configured trade-off.
    const deadline = revokedAt + CACHE_SECS * 1000 + 1500;
    let res;
    do {
      res = await send(token);
      if (res.status === 401) break;
      assert.equal(res.status, 200, res.body);
      await sleep(200);
    } while (Date.now() < deadline);
    assert.equal(res.status, 401, `still accepted ${Date.now() - revokedAt} ms after revocation`);
    assert.equal(errorCode(res), 'inactive_token');
  });

  test('an opaque token over the 16 KiB token cap is refused without asking the provider', async () => {
    const calls = introspections.length;
    const before = upstream.requests;
    const res = await send('o'.repeat(17 * 1024));
    assert.equal(res.status, 401, res.body);
    assert.equal(errorCode(res), 'token_too_large');
    assert.equal(introspections.length, calls, 'no introspection call for an oversized token');
    assert.equal(upstream.requests, before);
    // Just under the cap it is an ordinary (unknown) opaque token.
    await refusedInactive('o'.repeat(16 * 1024 - 1));
  });
});

describe('the gateway client’s own authentication at the provider', () => {
  test('client_secret_post: credentials in the form body, none in a header', async () => {
    const post = await gatewayFor({ ...GATEWAY_POST, auth_method: 'client_secret_post' });
    try {
      const token = await clientCredentialsToken();
      const res = await request(post.listenerPort, { headers: bearer(token) });
      assert.equal(res.status, 200, res.body);
      const call = introspections.at(-1);
      assert.equal(call.form.get('token'), token);
      assert.equal(call.form.get('client_id'), GATEWAY_POST.client_id);
      assert.equal(call.form.get('client_secret'), GATEWAY_POST.client_secret);
      assert.equal(call.headers.authorization, undefined);
    } finally {
      await stopGateway(post);
    }
  });

  test('a wrong gateway secret: the provider refuses the call and the filter fails closed (503), uncached', async () => {
    const wrong = await gatewayFor({ client_secret: 'not-the-secret-0123456789abcdef0123' });
    try {
      const token = await clientCredentialsToken();
      const calls = introspections.length;
      const before = upstream.requests;
      for (let i = 0; i < 2; i++) {
        const res = await request(wrong.listenerPort, { headers: bearer(token) });
        assert.equal(res.status, 503, res.body);
        assert.equal(errorCode(res), 'keys_unavailable');
      }
      assert.equal(upstream.requests, before);
      assert.equal(introspections.length, calls + 2, 'an endpoint failure is not cached');
    } finally {
      await stopGateway(wrong);
    }
  });
});

