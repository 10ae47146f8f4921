// Username-and-password sign-in against a local "Olytix" (reference guide 003) that implements
// its two endpoints exactly as documented and refuses any other body shape: the session it
// starts refreshes, persists and is shared like a PKCE one. Also the legacy password grant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AuthClient, InvalidCredentialsError, ConfigError, MemoryStorage } from 'tokenwarden';
import { serve } from './helpers.mjs';

const token = (p) => `${p}_${randomBytes(18).toString('base64url')}`;
const keysAre = (obj, keys) => obj && typeof obj === 'object' && JSON.stringify(Object.keys(obj).sort()) === JSON.stringify([...keys].sort());

/** Olytix's `/api/v1/auth/token` and `/api/v1/auth/refresh`: JSON in, JSON out, nothing extra accepted. */
async function olytix({ expiresIn = 3600 } = {}) {
  const state = { access: undefined, refresh: undefined, expiresIn, bodies: [] };
  const unauthorized = { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'Invalid or missing authentication' } } };
  const json = (req) => {
    if (req.headers['content-type'] !== 'application/json') return undefined;
    try {
      return JSON.parse(req.body);
    } catch {
      return undefined;
    }
  };
  const issue = () => {
    state.access = token('eyJhbGciOiJIUzI1NiJ9');
    state.refresh = token('refresh');
    return { body: { access_token: state.access, token_type: 'bearer', expires_in: state.expiresIn, refresh_token: state.refresh } };
  };
  const server = await serve({
    'POST /api/v1/auth/token': (req) => {
      const body = json(req);
      state.bodies.push(body);
      if (!keysAre(body, ['username', 'password'])) return { status: 422, body: { detail: 'body must be exactly {username, password}' } };
      if (body.username !== 'user@company.com' || body.password !== 'your-password') return unauthorized;
      return issue();
    },
    'POST /api/v1/auth/refresh': (req) => {
      const body = json(req);
      state.bodies.push(body);
      if (!keysAre(body, ['refresh_token'])) return { status: 422, body: { detail: 'body must be exactly {refresh_token}' } };
      if (body.refresh_token !== state.refresh) return unauthorized;
      return issue();
    },
    'POST /api/v1/query': (req) => ({ status: req.headers.authorization === `Bearer ${state.access}` ? 200 : 401, body: { error: { code: 'UNAUTHORIZED' } } }),
  });
  return { server, state };
}

const olytixClient = (origin, extra = {}) =>
  new AuthClient({
    clientId: 'olytix-web',
    credentialLogin: { endpoint: `${origin}/api/v1/auth/token` },
    refreshEndpoint: `${origin}/api/v1/auth/refresh`,
    refreshBody: 'token-only',
    bodyStyle: 'json',
    ...extra,
  });

test('Olytix: sign in, call the API, refresh an expired token with exactly {"refresh_token"}', async () => {
  // 4 s: the core refreshes once less than 2 s remain; after 3.1 s that is so whatever the second.
  const { server, state } = await olytix({ expiresIn: 4 });
  const lines = [];
  const auth = olytixClient(server.origin, { debug: (l) => lines.push(l) });
  try {
    await auth.loginWithCredentials({ username: 'user@company.com', password: 'your-password' });
    assert.deepEqual(state.bodies[0], { username: 'user@company.com', password: 'your-password' });
    const login = server.requests[0];
    assert.equal(login.headers['content-type'], 'application/json');
    assert.equal(login.headers.authorization, undefined);
    const first = state.access;
    assert.equal(await auth.getAccessToken(), first);
    assert.equal((await auth.fetch(`${server.origin}/api/v1/query`, { method: 'POST', body: '{"metrics":["monthly_revenue"]}' })).status, 200);

    const firstRefresh = state.refresh;
    await new Promise((r) => setTimeout(r, 3100));
    const renewed = await auth.getAccessToken();
    assert.notEqual(renewed, first, 'refreshed near expiry');
    assert.equal(renewed, state.access);
    assert.equal(server.count('POST', '/api/v1/auth/refresh'), 1);
    const refresh = server.requests.find((r) => r.path === '/api/v1/auth/refresh');
    assert.equal(refresh.body, JSON.stringify({ refresh_token: firstRefresh }), 'the body is the refresh token alone');
    assert.equal(refresh.headers.authorization, undefined);
    for (const secret of ['your-password', first, firstRefresh, renewed]) {
      assert.ok(!lines.some((l) => l.includes(secret)), 'no password or token in the debug log');
    }
  } finally {
    auth.close();
    await server.close();
  }
});

test('Olytix: a wrong password is InvalidCredentialsError (invalid_credentials), no session', async () => {
  const { server } = await olytix();
  const auth = olytixClient(server.origin);
  try {
    const err = await auth.loginWithCredentials({ username: 'user@company.com', password: 'wrong' }).catch((e) => e);
    assert.ok(err instanceof InvalidCredentialsError, String(err));
    assert.equal(err.code, 'invalid_credentials');
    assert.equal(err.status, 401);
    assert.ok(!err.message.includes('wrong'));
    assert.equal(await auth.isAuthenticated(), false);
    const empty = await auth.loginWithCredentials({ username: 'user@company.com', password: '' }).catch((e) => e);
    assert.equal(empty.code, 'invalid_request');
    assert.equal(server.requests.length, 1, 'an empty password is not sent');
  } finally {
    auth.close();
    await server.close();
  }
});

test('Olytix: the session persists in the storage policy and a new client restores it', async () => {
  const { server, state } = await olytix();
  const storage = new MemoryStorage();
  const auth = olytixClient(server.origin, { storage });
  try {
    await auth.loginWithCredentials({ username: 'user@company.com', password: 'your-password' });
    const stored = storage.getItem('tokenwarden:olytix-web:tokens');
    assert.ok(stored && !stored.includes('your-password'), 'tokens stored, the password never');
    const again = olytixClient(server.origin, { storage });
    assert.equal(await again.getAccessToken(), state.access, 'restored without a new sign-in');
    assert.equal(server.count('POST', '/api/v1/auth/token'), 1);
    again.close();
    await auth.logout();
    assert.equal(storage.getItem('tokenwarden:olytix-web:tokens'), null);
  } finally {
    auth.close();
    await server.close();
  }
});

test('field names and form bodies are configurable; the legacy password grant is RFC 6749 §4.3', async () => {
  const server = await serve({
    'POST /login': (req) => ({ status: req.body === 'email=a%40b.example&pass=p%26ss' ? 200 : 400, body: { access_token: 'at1', token_type: 'Bearer', expires_in: 60 } }),
    'POST /token': (req) => {
      const form = new URLSearchParams(req.body);
      if (form.get('password') !== 'A3ddj3w') return { status: 400, body: { error: 'invalid_grant' } };
      return { body: { access_token: 'at2', token_type: 'Bearer', expires_in: 60 } };
    },
  });
  try {
    const form = new AuthClient({ clientId: 'app', endpoints: { token: `${server.origin}/token` }, credentialLogin: { endpoint: `${server.origin}/login`, bodyStyle: 'form', usernameField: 'email', passwordField: 'pass' } });
    await form.loginWithCredentials({ username: 'a@b.example', password: 'p&ss' });
    assert.equal(await form.getAccessToken(), 'at1');
    form.close();

    const grant = new AuthClient({ clientId: 'app', endpoints: { token: `${server.origin}/token` }, credentialLogin: { passwordGrant: true }, scopes: ['read'] });
    await grant.loginWithCredentials({ username: 'johndoe', password: 'A3ddj3w' });
    assert.equal(await grant.getAccessToken(), 'at2');
    assert.equal(server.requests.at(-1).body, 'grant_type=password&username=johndoe&password=A3ddj3w&scope=read&client_id=app');
    const err = await grant.loginWithCredentials({ username: 'johndoe', password: 'nope' }).catch((e) => e);
    assert.ok(err instanceof InvalidCredentialsError);
    assert.equal(err.code, 'invalid_credentials');
    grant.close();
  } finally {
    await server.close();
  }
});

test('AuthClient is a public client: a secret or private key is a ConfigError', () => {
  const base = { clientId: 'spa', endpoints: { authorization: 'https://as.example/a', token: 'https://as.example/t' }, redirectUri: 'https://app.example/cb' };
  for (const extra of [{ clientSecret: 's' }, { privateKey: { kty: 'EC' } }]) {
    assert.throws(() => new AuthClient({ ...base, ...extra }), (e) => e instanceof ConfigError && /belongs on a server/.test(e.message));
  }
  assert.throws(() => new AuthClient({ clientId: 'x', credentialLogin: { endpoint: 'http://olytix.example/api/v1/auth/token' }, refreshEndpoint: 'https://o.example/r' }), ConfigError, 'the password only over TLS');
});
