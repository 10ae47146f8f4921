// ServiceClient against a real token endpoint on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceClient, OAuthError, ConfigError } from 'tokenwarden';
import { serve, sleep } from './helpers.mjs';

test('client credentials: one request for concurrent callers, cached, renewed near expiry', async () => {
  let n = 0;
  let expiresIn = 3600;
  const server = await serve({
    'POST /token': async () => {
      await sleep(50);
      return { body: { access_token: `svc-${++n}`, token_type: 'Bearer', expires_in: expiresIn } };
    },
  });
  try {
    const client = new ServiceClient({ tokenEndpoint: `${server.origin}/token`, clientId: 'svc', clientSecret: 'p@ss:word', scopes: ['read', 'write'], audience: 'https://api.example' });
    const tokens = await Promise.all(Array.from({ length: 10 }, () => client.getToken()));
    assert.deepEqual(new Set(tokens), new Set(['svc-1']));
    assert.equal(await client.getToken(), 'svc-1');
    assert.equal(server.count('POST', '/token'), 1);
    const req = server.requests[0];
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('svc:p%40ss%3Aword').toString('base64')}`);
    const form = new URLSearchParams(req.body);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(form.get('scope'), 'read write');
    assert.equal(form.get('audience'), 'https://api.example');

    // 4 s: renewal is due once less than 2 s remain, leaving a whole second of reuse.
    expiresIn = 4;
    const short = new ServiceClient({ tokenEndpoint: `${server.origin}/token`, clientId: 'svc', clientSecret: 's', bodyStyle: 'json' });
    const first = await short.getToken();
    assert.equal(JSON.parse(server.requests.at(-1).body).grant_type, 'client_credentials');
    assert.equal(await short.getToken(), first);
    await sleep(3100);
    assert.notEqual(await short.getToken(), first, 'renewed near expiry');
  } finally {
    await server.close();
  }
});

test('a refused client gets an OAuthError with the provider code; 401 from the API retries once', async () => {
  let calls = 0;
  const server = await serve({
    'POST /token': (req) => req.headers.authorization?.includes(Buffer.from('svc:bad').toString('base64'))
      ? { status: 401, body: { error: 'invalid_client' } }
      : { body: { access_token: `ok${++calls}`, token_type: 'Bearer', expires_in: 3600 } },
    'GET /api': (req) => ({ status: req.headers.authorization === 'Bearer ok1' ? 401 : 200, body: { auth: req.headers.authorization } }),
  });
  try {
    const bad = new ServiceClient({ tokenEndpoint: `${server.origin}/token`, clientId: 'svc', clientSecret: 'bad' });
    const err = await bad.getToken().catch((e) => e);
    assert.ok(err instanceof OAuthError);
    assert.equal(err.error, 'invalid_client');
    const good = new ServiceClient({ tokenEndpoint: `${server.origin}/token`, clientId: 'svc', clientSecret: 'good' });
    const res = await good.fetch(`${server.origin}/api`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).auth, 'Bearer ok2');
  } finally {
    await server.close();
  }
});

test('endpoints must be https or loopback', async () => {
  await assert.rejects(new ServiceClient({ tokenEndpoint: 'http://as.example/token', clientId: 'a', clientSecret: 'b' }).getToken(), ConfigError);
});
