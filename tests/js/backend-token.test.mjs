// A backend as the token source (GoPie's createPublicToken, shared/reference/000): a small local
// HTTP server plays the customer's backend, minting real scoped tokens with mintScopedToken at
// POST /api/gopie-token, and an API that verifies them with verifyJwt. BackendTokenClient is the
// SDK's real class over the built package; nothing of the library is mocked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BackendTokenClient, mintScopedToken, generateSigningKey, publicJwk, verifyJwt, NetworkError, SessionExpiredError, TokenwardenError } from 'tokenwarden';
import { serve, sleep } from './helpers.mjs';

const ISSUER = 'https://app.customer.example';
const AUDIENCE = 'https://api.gopie.app';
const key = generateSigningKey('ES256', 'backend-1');
const grant = { scopes: ['read:datasets', 'execute:queries.readonly'], datasets: ['public_data', 'sales'], maxTtl: 3600 };
let backend;
/** How the backend answers next: `expiresIn` (token lifetime), `withExpiresIn` (send expires_in), or a status. */
const mode = { expiresIn: 600, withExpiresIn: true, status: 200, refuseNext: 0 };

before(async () => {
  backend = await serve({
    'POST /api/gopie-token': async () => {
      await sleep(20); // concurrent callers overlap with the request in flight
      if (mode.status !== 200) return { status: mode.status, body: mode.status === 200 ? {} : { error: 'nope' } };
      const token = mintScopedToken({ privateKey: key, issuer: ISSUER, audience: AUDIENCE, grant, subject: 'user_1', scopes: ['read:datasets.public_data'], datasets: ['public_data'], expiresIn: mode.expiresIn });
      return { body: mode.withExpiresIn ? { token, expires_in: mode.expiresIn } : { token } };
    },
    'GET /v1/data': async (req) => {
      if (mode.refuseNext > 0) return mode.refuseNext--, { status: 401, body: {} };
      const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
      try {
        const claims = await verifyJwt(token, { jwks: { keys: [publicJwk(key)] }, issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' });
        return { body: { sub: claims.sub, token } };
      } catch {
        return { status: 401, body: {} };
      }
    },
    'POST /v1/data': () => (mode.refuseNext > 0 ? (mode.refuseNext--, { status: 401, body: {} }) : { body: {} }),
  });
});
after(() => backend.close());

const client = () => new BackendTokenClient({ tokenSource: { endpoint: `${backend.origin}/api/gopie-token` } });
const calls = () => backend.count('POST', '/api/gopie-token');
function reset(m = {}) {
  Object.assign(mode, { expiresIn: 600, withExpiresIn: true, status: 200, refuseNext: 0 }, m);
}

test('ten concurrent callers: one backend request; the token is the backend\'s scoped token', async () => {
  reset();
  const c = client();
  const before = calls();
  const tokens = await Promise.all(Array.from({ length: 10 }, () => c.getToken()));
  assert.equal(calls() - before, 1);
  assert.equal(new Set(tokens).size, 1);
  const claims = await verifyJwt(tokens[0], { jwks: { keys: [publicJwk(key)] }, issuer: ISSUER, audience: AUDIENCE });
  assert.equal(claims.scope, 'read:datasets.public_data');
  assert.deepEqual(claims.datasets, ['public_data']);
  assert.equal(await c.getToken(), tokens[0], 'reused while the core says it is not due');
  assert.equal(calls() - before, 1);
  c.close();
});

for (const withExpiresIn of [true, false]) {
  test(`renewed before expiry, the expiry from ${withExpiresIn ? 'expires_in' : 'the JWT exp (no expires_in)'}`, async () => {
    reset({ expiresIn: 2, withExpiresIn });
    const c = client();
    const before = calls();
    const first = await c.getToken();
    assert.equal(await c.getToken(), first);
    assert.equal(calls() - before, 1);
    await sleep(2100);
    const second = await c.getToken();
    assert.notEqual(second, first);
    assert.equal(calls() - before, 2);
    c.close();
  });
}

test('a 401 from the API drops the token, gets a new one and retries once (GET); POST is not replayed unless asked', async () => {
  reset();
  const c = client();
  const first = await c.getToken();
  const before = calls();
  mode.refuseNext = 1;
  const res = await c.fetch(`${backend.origin}/v1/data`);
  assert.equal(res.status, 200);
  const { token } = await res.json();
  assert.notEqual(token, first, 'retried with a new token');
  assert.equal(calls() - before, 1);
  mode.refuseNext = 2;
  assert.equal((await c.fetch(`${backend.origin}/v1/data`)).status, 401, 'retried once only');
  mode.refuseNext = 1;
  const posts = backend.count('POST', '/v1/data');
  assert.equal((await c.fetch(`${backend.origin}/v1/data`, { method: 'POST', body: '{}' })).status, 401);
  assert.equal(backend.count('POST', '/v1/data') - posts, 1, 'POST sent once');
  const afterPost = calls();
  assert.equal((await c.fetch(`${backend.origin}/v1/data`)).status, 200);
  assert.equal(calls() - afterPost, 1, 'the token the POST got refused with is not used again');
  mode.refuseNext = 1;
  assert.equal((await c.fetch(`${backend.origin}/v1/data`, { method: 'POST', body: '{}' }, { replayNonIdempotent: true })).status, 200);
  c.close();
});

test('the backend\'s refusals and garbage have stable codes; nothing is cached from them', async () => {
  reset({ status: 401 });
  const c = client();
  const e = await c.getToken().catch((x) => x);
  assert.ok(e instanceof SessionExpiredError, String(e));
  assert.equal(e.code, 'session_expired');
  reset({ status: 503 });
  const e2 = await c.getToken().catch((x) => x);
  assert.ok(e2 instanceof TokenwardenError);
  assert.equal(e2.code, 'invalid_response');
  assert.ok(e2.retryAfter >= 1);
  reset();
  assert.ok(await c.getToken(), 'recovers on the next call');
  c.close();
  const gone = new BackendTokenClient({ tokenSource: { endpoint: 'http://127.0.0.1:9/api/gopie-token' } });
  await assert.rejects(gone.getToken(), NetworkError);
  gone.close();
  assert.throws(() => new BackendTokenClient({ tokenSource: { endpoint: 'http://backend.example/api/gopie-token' } }), { code: 'invalid_config' });
  assert.throws(() => new BackendTokenClient({ tokenSource: { endpoint: '/api/gopie-token' } }), { code: 'invalid_config' }, 'a path needs a page');
});
