// AuthClient's I/O around the core, in Node against a real token endpoint on 127.0.0.1 (the
// browser-only parts — redirects, Web Locks across tabs — are tested in Chromium: tests/browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { AuthClient, OAuthError, StateMismatchError, SessionExpiredError, NetworkError, ConfigError } from 'tokenwarden';
import { serve, sleep } from './helpers.mjs';

const REDIRECT = 'http://localhost:3000/cb';
const token = (p) => `${p}.${randomBytes(24).toString('base64url')}`;

/** A token endpoint that checks PKCE and rotates refresh tokens. */
async function provider({ accessTtl = 3600, routes = {} } = {}) {
  const state = { challenge: undefined, refresh: undefined, refreshes: 0, accessTtl, refreshReply: undefined, access: undefined };
  const issue = () => {
    state.refresh = token('rt');
    state.access = token('at');
    return { body: { access_token: state.access, token_type: 'Bearer', expires_in: state.accessTtl, refresh_token: state.refresh, refresh_expires_in: 86400 } };
  };
  const server = await serve({
    'POST /token': async (req) => {
      const form = new URLSearchParams(req.body);
      if (form.get('grant_type') === 'authorization_code') {
        const s256 = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
        if (form.get('code') !== 'good-code' || s256 !== state.challenge || form.get('redirect_uri') !== REDIRECT) return { status: 400, body: { error: 'invalid_grant' } };
        return issue();
      }
      state.refreshes++;
      await sleep(30);
      if (state.refreshReply) return state.refreshReply;
      if (form.get('refresh_token') !== state.refresh) return { status: 400, body: { error: 'invalid_grant' } };
      return issue();
    },
    'GET /api': (req) => ({ status: req.headers.authorization === `Bearer ${state.access}` ? 200 : 401, body: {} }),
    'POST /api': (req) => ({ status: req.headers.authorization === `Bearer ${state.access}` ? 200 : 401, body: {} }),
    ...routes,
  });
  return { server, state };
}

async function signIn(client, state) {
  const url = new URL(await client.buildAuthorizeUrl());
  state.challenge = url.searchParams.get('code_challenge');
  const callback = `${REDIRECT}?code=good-code&state=${url.searchParams.get('state')}`;
  await client.handleRedirectCallback(callback);
  return { url, callback };
}

function newClient(origin, extra = {}) {
  return new AuthClient({ endpoints: { authorization: `${origin}/authorize`, token: `${origin}/token` }, clientId: 'spa', redirectUri: REDIRECT, scopes: ['read'], ...extra });
}

test('PKCE sign-in; a replayed, tampered or refused redirect is a typed error', async () => {
  const { server, state } = await provider();
  const client = newClient(server.origin);
  try {
    const { url, callback } = await signIn(client, state);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('nonce'), null, 'no nonce without openid');
    assert.equal(await client.getAccessToken(), state.access);
    await assert.rejects(client.handleRedirectCallback(callback), StateMismatchError);

    const next = new URL(await client.buildAuthorizeUrl());
    await assert.rejects(client.handleRedirectCallback(`${REDIRECT}?code=good-code&state=forged`), StateMismatchError);
    await assert.rejects(client.handleRedirectCallback(`${REDIRECT}?code=good-code&state=${next.searchParams.get('state')}`), StateMismatchError, 'the tampered attempt used the transaction up');

    const denied = new URL(await client.buildAuthorizeUrl());
    const err = await client.handleRedirectCallback(`${REDIRECT}?error=access_denied&error_description=User+said+no&state=${denied.searchParams.get('state')}`).catch((e) => e);
    assert.ok(err instanceof OAuthError);
    assert.equal(err.error, 'access_denied');
    assert.equal(err.errorDescription, 'User said no');
  } finally {
    client.close();
    await server.close();
  }
});

// A 4 s lifetime is refreshed once 2 s remain (the core's margin is capped at half the lifetime),
// so a refreshed token stays usable for a whole second even on a loaded machine; with 1 s the
// new token could expire before the waiting callers read it and honestly cause a second refresh.
const TTL = 4;
const DUE_MS = 3100;

test('concurrent callers share one refresh; the rotated refresh token is used next', async () => {
  const { server, state } = await provider({ accessTtl: TTL });
  const client = newClient(server.origin);
  const updates = [];
  client.on('tokens_updated', (d) => updates.push(d));
  try {
    await signIn(client, state);
    await sleep(DUE_MS);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => client.getAccessToken()));
    assert.equal(state.refreshes, 1);
    assert.deepEqual(new Set(tokens), new Set([state.access]));
    await sleep(DUE_MS);
    await client.getAccessToken();
    assert.equal(state.refreshes, 2, 'the second refresh used the rotated token (else invalid_grant)');
    assert.equal(updates.length, 3);
    assert.ok(client.refreshExpiresAt() > Date.now() / 1000 + 86000, 'refresh_expires_in is known ahead');
  } finally {
    client.close();
    await server.close();
  }
});

test('fetch: 401 refreshes once and retries a GET once; a POST is not replayed unless asked', async () => {
  const { server, state } = await provider();
  const client = newClient(server.origin);
  try {
    await signIn(client, state);
    state.access = 'revoked-early';
    const res = await client.fetch(`${server.origin}/api`);
    assert.equal(res.status, 200);
    assert.equal(state.refreshes, 1);
    assert.equal(server.count('GET', '/api'), 2);

    state.access = 'revoked-again';
    const post = await client.fetch(`${server.origin}/api`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 401, 'the POST is not sent twice');
    assert.equal(server.count('POST', '/api'), 1);
    state.access = 'revoked-once-more';
    const allowed = await client.fetch(`${server.origin}/api`, { method: 'POST', body: '{}' }, { replayNonIdempotent: true });
    assert.equal(allowed.status, 200);
  } finally {
    client.close();
    await server.close();
  }
});

test('fetch waits out a 429 per Retry-After', async () => {
  const { server, state } = await provider();
  let limited = true;
  const limitedServer = await serve({ 'GET /limited': () => (limited ? ((limited = false), { status: 429, headers: { 'retry-after': '1' } }) : { body: {} }) });
  const client = newClient(server.origin);
  try {
    await signIn(client, state);
    const start = Date.now();
    const res = await client.fetch(`${limitedServer.origin}/limited`);
    assert.equal(res.status, 200);
    assert.ok(Date.now() - start >= 1000, 'waited for Retry-After');
    assert.equal(limitedServer.count('GET', '/limited'), 2);
  } finally {
    client.close();
    await server.close();
    await limitedServer.close();
  }
});

test('a rejected refresh ends the session with session_expired; a network failure keeps it', async () => {
  const { server, state } = await provider({ accessTtl: 1 });
  let offline = false;
  const flaky = (input, init) => (offline && String(input).endsWith('/token') ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init));
  const client = newClient(server.origin, { fetch: flaky });
  const events = [];
  client.on('session_expired', () => events.push('session_expired'));
  client.on('error', (e) => events.push(e.code));
  try {
    await signIn(client, state);
    await sleep(1100);
    offline = true;
    const refreshesBefore = state.refreshes;
    await assert.rejects(client.getAccessToken(), NetworkError);
    await assert.rejects(client.getAccessToken(), NetworkError, 'backing off');
    assert.equal(state.refreshes, refreshesBefore, 'offline: nothing reached the token endpoint');
    offline = false;
    // Back online: the next call after the backoff (1-2 s, longer if a loaded machine let a
    // second attempt fail) refreshes and the session goes on.
    let token;
    for (let waited = 0; token === undefined; waited += 250) {
      token = await client.getAccessToken().catch((e) => {
        if (!(e instanceof NetworkError) || waited > 10_000) throw e;
        return sleep(250).then(() => undefined);
      });
    }
    assert.equal(token, state.access, 'the session survived');
    assert.equal(state.refreshes, refreshesBefore + 1);

    await sleep(1100);
    state.refreshReply = { status: 400, body: { error: 'invalid_grant' } };
    await assert.rejects(client.getAccessToken(), SessionExpiredError);
    assert.ok(events.length >= 3 && events.slice(0, -2).every((e) => e === 'network_error'), events.join());
    assert.deepEqual(events.slice(-2), ['session_expired', 'session_expired']);
    assert.equal(await client.isAuthenticated(), false);
  } finally {
    client.close();
    await server.close();
  }
});

test('a storage adapter restores the session; debug logs never show whole tokens', async () => {
  const { server, state } = await provider();
  const items = new Map();
  const adapter = { getItem: async (k) => items.get(k) ?? null, setItem: async (k, v) => void items.set(k, v), removeItem: async (k) => void items.delete(k) };
  const lines = [];
  const client = newClient(server.origin, { storage: adapter, debug: (l) => lines.push(l) });
  try {
    await signIn(client, state);
    state.access = undefined;
    await client.fetch(`${server.origin}/api`);
    const restored = newClient(server.origin, { storage: adapter });
    assert.equal(await restored.getAccessToken(), JSON.parse(JSON.parse(items.get('tokenwarden:spa:tokens')).tokens).access_token);
    restored.close();
    const log = lines.join('\n');
    assert.match(log, /refresh: new tokens, access token at\.[\w-]{3}…/);
    for (const [, v] of items) for (const secret of Object.values(JSON.parse(JSON.parse(v).tokens ?? '{}'))) {
      if (typeof secret === 'string' && secret.length > 10) assert.ok(!log.includes(secret), 'a token reached the log');
    }
    await client.logout();
    assert.equal(items.size, 0);
  } finally {
    client.close();
    await server.close();
  }
});

test('insecure endpoints are refused; app schemes are fine redirect URIs', async () => {
  assert.throws(() => new AuthClient({ issuer: 'http://as.example', clientId: 'a', redirectUri: REDIRECT }), ConfigError);
  const client = new AuthClient({ endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' }, clientId: 'a', redirectUri: 'app://callback', scopes: ['openid'] });
  const url = new URL(await client.buildAuthorizeUrl());
  assert.equal(url.searchParams.get('redirect_uri'), 'app://callback');
  assert.ok(url.searchParams.get('nonce'), 'openid asks for a nonce');
  client.close();
  const bad = new AuthClient({ endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' }, clientId: 'a', redirectUri: 'javascript:alert(1)' });
  await assert.rejects(bad.buildAuthorizeUrl(), ConfigError);
  bad.close();
});

test('without BroadcastChannel (and Web Locks, as in Node) the client still works in its own context', async () => {
  const saved = globalThis.BroadcastChannel;
  globalThis.BroadcastChannel = undefined;
  const { server, state } = await provider({ accessTtl: TTL });
  const client = newClient(server.origin);
  try {
    await signIn(client, state);
    await sleep(DUE_MS);
    const tokens = await Promise.all([client.getAccessToken(), client.getAccessToken()]);
    assert.equal(state.refreshes, 1);
    assert.equal(tokens[0], tokens[1]);
    await client.logout();
    assert.equal(await client.isAuthenticated(), false);
  } finally {
    globalThis.BroadcastChannel = saved;
    client.close();
    await server.close();
  }
});

test('PAR (RFC 9126): the core builds the push and reads its answer; the URL carries only client_id and request_uri', async () => {
  let answer = { status: 201, body: { request_uri: 'urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c', expires_in: 60 } };
  const server = await serve({ 'POST /par': () => answer });
  const client = new AuthClient({
    endpoints: { authorization: `${server.origin}/authorize`, token: `${server.origin}/token`, par: `${server.origin}/par` },
    clientId: 'spa',
    redirectUri: REDIRECT,
    scopes: ['openid', 'read'],
    par: true,
  });
  try {
    const url = new URL(await client.buildAuthorizeUrl({ extraParams: { ui_locales: 'de' } }));
    assert.deepEqual([...url.searchParams.keys()], ['client_id', 'request_uri']);
    assert.equal(url.searchParams.get('request_uri'), answer.body.request_uri);
    const push = server.requests.find((r) => r.path === '/par');
    assert.equal(push.headers['content-type'], 'application/x-www-form-urlencoded');
    const sent = new URLSearchParams(push.body);
    assert.deepEqual(
      [...sent.keys()],
      ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'nonce', 'ui_locales'],
    );
    assert.equal(sent.get('client_id'), 'spa');
    answer = { status: 400, body: { error: 'invalid_request', error_description: 'redirect_uri not registered' } };
    await assert.rejects(client.buildAuthorizeUrl(), (e) => e instanceof OAuthError && e.error === 'invalid_request');
    answer = { status: 500, body: '<html>' };
    await assert.rejects(client.buildAuthorizeUrl(), (e) => e.code === 'invalid_response' && e.status === 502);
  } finally {
    client.close();
    await server.close();
  }
});

/** Discovery routes for an issuer at `origin`, with `extra` members in the OpenID document. */
const discovery = (origin, extra = {}) => ({
  'GET /.well-known/openid-configuration': () => ({
    body: { issuer: origin(), authorization_endpoint: `${origin()}/authorize`, token_endpoint: `${origin()}/token`, ...extra },
  }),
});

test('logout finds a revocation endpoint published only in the RFC 8414 metadata', async () => {
  let origin;
  const revoked = [];
  const { server, state } = await provider({
    routes: {
      ...discovery(() => origin),
      'GET /.well-known/oauth-authorization-server': () => ({ body: { issuer: origin, revocation_endpoint: `${origin}/revoke` } }),
      'POST /revoke': (req) => {
        revoked.push(new URLSearchParams(req.body));
        return { body: {} };
      },
    },
  });
  origin = server.origin;
  const client = new AuthClient({ issuer: origin, clientId: 'spa', redirectUri: REDIRECT, scopes: ['read'] });
  try {
    await signIn(client, state);
    const refresh = state.refresh;
    await client.logout();
    assert.equal(revoked.length, 1, 'the refresh token was revoked');
    assert.equal(revoked[0].get('token'), refresh);
    assert.equal(revoked[0].get('token_type_hint'), 'refresh_token');
  } finally {
    client.close();
    await server.close();
  }
});

test('logout without any revocation endpoint says so (an event and a debug line) and never pretends', async () => {
  let origin;
  const { server, state } = await provider({ routes: discovery(() => origin) });
  origin = server.origin;
  const lines = [];
  const client = new AuthClient({ issuer: origin, clientId: 'spa', redirectUri: REDIRECT, scopes: ['read'], debug: (l) => lines.push(l) });
  const skipped = [];
  client.on('revocation_skipped', (detail) => skipped.push(detail));
  try {
    await signIn(client, state);
    await client.logout();
    assert.deepEqual(skipped, [{ reason: 'no_revocation_endpoint' }]);
    assert.ok(lines.some((l) => /no revocation_endpoint; the refresh token was not revoked/.test(l)), lines.join('\n'));
    assert.ok(server.requests.some((r) => r.path === '/.well-known/oauth-authorization-server'), 'the RFC 8414 document was asked');
  } finally {
    client.close();
    await server.close();
  }
});

test('endpoints beside an issuer override field by field; the others stay discovered', async () => {
  let origin;
  const revoked = [];
  const { server, state } = await provider({
    routes: {
      ...discovery(() => origin),
      'POST /custom/revoke': (req) => {
        revoked.push(new URLSearchParams(req.body));
        return { body: {} };
      },
    },
  });
  origin = server.origin;
  const client = new AuthClient({ issuer: origin, endpoints: { revocation: `${origin}/custom/revoke` }, clientId: 'spa', redirectUri: REDIRECT, scopes: ['read'] });
  try {
    const { url } = await signIn(client, state);
    assert.equal(url.origin + url.pathname, `${origin}/authorize`, 'the discovered authorization endpoint is kept');
    assert.equal(await client.getAccessToken(), state.access, 'the discovered token endpoint is kept');
    await client.logout();
    assert.equal(revoked.length, 1);
  } finally {
    client.close();
    await server.close();
  }
  assert.throws(() => new AuthClient({ endpoints: { revocation: 'https://as.example/revoke' }, clientId: 'a', redirectUri: REDIRECT }), ConfigError);
});

// GoPie's PKCE snippet (shared/reference 000, "PKCE Flow"), in the SDK's words: a public client
// whose token endpoint takes JSON `{grant_type, code, client_id, code_verifier, redirect_uri}`.
// The local server plays auth.gopie.app's /oauth/token and accepts exactly those fields as JSON.
test("GoPie's PKCE flow: the code exchange is the guide's JSON body, nothing more", async () => {
  let challenge;
  const bodies = [];
  const server = await serve({
    'POST /oauth/token': (req) => {
      let body;
      try {
        body = JSON.parse(req.body);
      } catch {
        return { status: 400, body: { error: 'invalid_request' } };
      }
      bodies.push({ type: req.headers['content-type'], body });
      const fields = Object.keys(body).sort().join(' ');
      if (fields !== 'client_id code code_verifier grant_type redirect_uri') return { status: 400, body: { error: 'invalid_request', error_description: fields } };
      if (createHash('sha256').update(body.code_verifier).digest('base64url') !== challenge) return { status: 400, body: { error: 'invalid_grant' } };
      return { body: { access_token: token('gp'), token_type: 'Bearer', expires_in: 3600 } };
    },
  });
  const client = new AuthClient({
    endpoints: { authorization: `${server.origin}/oauth/authorize`, token: `${server.origin}/oauth/token` },
    clientId: 'YOUR_CLIENT_ID',
    redirectUri: 'app://callback',
    scopes: ['read:data'],
    bodyStyle: 'json',
  });
  try {
    const url = new URL(await client.buildAuthorizeUrl());
    assert.deepEqual(
      [url.searchParams.get('response_type'), url.searchParams.get('scope'), url.searchParams.get('code_challenge_method')],
      ['code', 'read:data', 'S256'],
    );
    challenge = url.searchParams.get('code_challenge');
    await client.handleRedirectCallback(`app://callback?code=the-code&state=${url.searchParams.get('state')}`);
    assert.match(await client.getAccessToken(), /^gp\./);
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0].type, 'application/json');
    assert.deepEqual({ ...bodies[0].body, code_verifier: undefined }, { grant_type: 'authorization_code', code: 'the-code', client_id: 'YOUR_CLIENT_ID', redirect_uri: 'app://callback', code_verifier: undefined });
  } finally {
    client.close();
    await server.close();
  }
});
