// Secrets never leak from the SDK (its share of the robustness issue; the CLI and both edges are
// tests/e2e/no_secret_leaks.test.mjs). Every client is run through every path it has with known
// secrets — a client secret, a password, an authorization code, the PKCE verifier, access, refresh
// and ID tokens, private_key_jwt assertions, an API key, a webhook secret, private key material —
// against local servers that, on their failure paths, echo what they were sent back into
// `error_description` (as some real providers do: Spring Security OAuth's "Invalid refresh token:
// <token>"), and everything the SDK itself emits is collected:
//   - AuthClient's debug lines (the function form; console.debug for `debug: true`),
//   - everything written to console.* and every process warning while a path runs,
//   - every error thrown or handed to an `error` listener: message, code, String(), stack,
//     JSON.stringify, util.inspect (what `console.error(err)` prints) and any cause; what the
//     other events carry,
//   - whatever the SDK writes to storage besides the session itself.
// No secret may appear whole in any of it, raw or in the encodings a request carries it in
// (percent- and form-encoded, base64, the Basic credential). Each path must collect something:
// a path that collected nothing could not fail.
//
// Not collected, because they hold secrets by design: the session in storage (`:tokens`) and what
// is broadcast to other tabs (the tokens), the sign-in transaction (`:tx`, the PKCE verifier until
// the callback), what a method returns to its caller (a token, a TokenSet, WebClient's
// transaction, a signed JWT), and the requests the SDK sends (their credentials are their purpose).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import util from 'node:util';
import {
  AuthClient, BackendTokenClient, ServiceClient, WebClient, ApiKeyClient, OAuthError, InvalidCredentialsError, SessionExpiredError, NetworkError,
  verifyJwt, signJwt, generateSigningKey, publicJwk, mintScopedToken, parseApiKey, requirePublishableKey, hashApiKey, generateApiKey,
  verifyWebhook, signWebhook,
} from 'tokenwarden';
import { serve } from './helpers.mjs';

// ---- the secrets, and every form of them that counts as the whole secret ----

/** Text that must never be emitted → what it is. */
const SECRETS = new Map();
const rand = () => randomBytes(18).toString('base64url');
const b64 = (s) => Buffer.from(s).toString('base64');
const formEncoded = (s) => new URLSearchParams({ s }).toString().slice(2);
function known(label, value) {
  for (const form of [value, encodeURIComponent(value), formEncoded(value), b64(value), Buffer.from(value).toString('base64url')]) SECRETS.set(form, label);
  // As the core cleans a provider's description (RFC 6749's characters only, others as spaces).
  SECRETS.set(value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/gu, ' '), `${label} (as the core cleans descriptions)`);
  return value;
}
/** The HTTP Basic credential a client_secret_basic request carries (RFC 6749 §2.3.1). */
const basic = (id, secret) => known('Basic credential', `${formEncoded(id)}:${formEncoded(secret)}`);

const CLIENT_ID = 'web-app';
const CLIENT_SECRET = known('client secret', `cs+${rand()}/p@ss:word`);
// A quote, a backslash and a non-ASCII letter: the core cleans them out of an echoed description.
const PASSWORD = known('password', `pw "${rand()}\\é!`);
const CODE = known('authorization code', `ac-${rand()}`);
const QUERY_SECRET = known('secret in a query', `qs-${rand()}`);
const CSRF = known('token source header', `csrf-${rand()}`);
const API_KEY = known('API key', generateApiKey('sk', 'live').key);
const WEBHOOK_SECRET = known('webhook secret', `whsec_${rand()}`);
const SIGNING_KEY = generateSigningKey('ES256', 'leak-es');
known('ES256 private key d', SIGNING_KEY.d);
const HMAC_KEY = generateSigningKey('HS256', 'leak-hs');
known('HMAC key k', HMAC_KEY.k);
known('HMAC key bytes', Buffer.from(HMAC_KEY.k, 'base64url').toString('latin1'));
basic(CLIENT_ID, CLIENT_SECRET);

// ---- collection ----

const CONSOLE = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table'];
/** Everything collected, over all paths: { path, where, text }. */
const everything = [];

function leaksIn(entries) {
  const leaks = [];
  for (const { path, where, text } of entries) {
    for (const [secret, label] of SECRETS) if (text.includes(secret)) leaks.push(`${path} — ${where}: ${label} (${secret.slice(0, 6)}…)`);
  }
  return leaks;
}

/**
 * One path: console.* and process warnings are collected while it runs; `run` gets helpers to
 * collect debug lines, errors and storage writes. Afterwards the path must have collected
 * something (and each kind it declares in `expect`), and nothing collected may hold a secret.
 */
function path(name, run, expect = []) {
  test(name, async () => {
    const mine = [];
    const emit = (where, text) => mine.push({ path: name, where, text: String(text) });
    const saved = Object.fromEntries(CONSOLE.map((m) => [m, console[m]]));
    for (const m of CONSOLE) console[m] = (...args) => emit(`console.${m}`, util.format(...args));
    const onWarning = (w) => emit('process warning', util.inspect(w));
    process.on('warning', onWarning);
    const ctx = {
      debug: (line) => emit('debug', line),
      error(where, e, depth = 0) {
        emit(`${where}: message`, e?.message);
        emit(`${where}: code`, e?.code);
        emit(`${where}: String()`, String(e));
        emit(`${where}: stack`, e?.stack);
        emit(`${where}: JSON.stringify`, JSON.stringify(e));
        emit(`${where}: util.inspect`, util.inspect(e, { depth: 6 }));
        if (e?.cause !== undefined && depth < 5) ctx.error(`${where}: cause`, e.cause, depth + 1);
      },
      /** Runs `fn`, which must throw or reject; collects and returns the error. */
      async rejects(where, fn) {
        let error;
        try {
          await fn();
        } catch (e) {
          error = e;
        }
        assert.ok(error, `${where}: expected an error`);
        ctx.error(where, error);
        return error;
      },
      /** Collects what an AuthClient's events carry: errors as errors, the others' details as JSON. */
      listen(client) {
        client.on('error', (e) => ctx.error('error event', e));
        for (const event of ['tokens_updated', 'session_expired', 'logout', 'revocation_skipped']) client.on(event, (detail) => emit(`${event} event`, JSON.stringify(detail ?? null)));
      },
      /** A storage adapter: what the SDK writes besides the session and the transaction is collected. */
      storage(initial = {}) {
        const items = new Map(Object.entries(initial));
        return {
          items,
          getItem: (k) => items.get(k) ?? null,
          setItem: (k, v) => {
            items.set(k, v);
            if (!/:(tokens|tx)$/.test(k)) emit(`storage ${k}`, v);
          },
          removeItem: (k) => void items.delete(k),
        };
      },
    };
    op.next = undefined;
    try {
      await run(ctx);
      assert.equal(op.next, undefined, 'every refusal set up was sent');
    } finally {
      Object.assign(console, saved);
      process.off('warning', onWarning);
    }
    everything.push(...mine);
    assert.ok(mine.length > 0, 'nothing was collected on this path');
    for (const kind of expect) assert.ok(mine.some((m) => m.where.startsWith(kind)), `nothing collected from ${kind}`);
    assert.deepEqual(op.emptyEchoes, [], 'a refusal echoed no credential: it tested nothing');
    assert.deepEqual(leaksIn(mine), []);
  });
}

// ---- a provider that checks what it gets, and echoes it back when it refuses ----

const REDIRECT = 'http://localhost:3000/cb';
const params = (req) => (req.headers['content-type']?.includes('json') ? JSON.parse(req.body || '{}') : Object.fromEntries(new URLSearchParams(req.body)));
/**
 * What a refused request carried, as a provider that echoes it would put it in its description:
 * as many of its credentials as fit whole in the 512 characters of a description the core keeps.
 */
function echoed(req, p) {
  const sent = ['client_secret', 'password', 'pwd', 'refresh_token', 'token', 'code', 'code_verifier', 'client_assertion'].filter((k) => p[k]).map((k) => `${k}=${p[k]}`);
  if (req.headers.authorization) sent.unshift(`authorization=${req.headers.authorization}`);
  let text = 'rejected';
  for (const s of sent) if (text.length + 1 + s.length <= 512) text += ` ${s}`;
  if (text === 'rejected') op.emptyEchoes.push(req.path);
  op.echoes++;
  return text;
}
const echo = (status, error) => (req, p) => ({ status, body: { error, error_description: echoed(req, p) } });
const jwtPart = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

const op = {
  /** The next answer of the token, sign-in or refresh endpoint, instead of the normal one. */
  next: undefined,
  challenge: undefined,
  nonce: undefined,
  access: new Set(),
  refresh: new Set(),
  /** The body of the last pushed authorization request. */
  pushed: undefined,
  refuseApi: 0,
  limitedOnce: false,
  echoes: 0,
  /** Echoes that carried no secret (a request without credentials): each would test nothing. */
  emptyEchoes: [],
};
function issue({ refresh = true } = {}) {
  const access_token = known('access token', `at.${rand()}`);
  op.access.add(access_token);
  const body = { access_token, token_type: 'Bearer', expires_in: 3600 };
  if (refresh) {
    body.refresh_token = known('refresh token', `rt.${rand()}`);
    op.refresh.add(body.refresh_token);
  }
  if (op.nonce) body.id_token = known('ID token', `${jwtPart({ alg: 'none' })}.${jwtPart({ sub: 'alice', nonce: op.nonce })}.c2ln`);
  return { body };
}
const BASIC = `Basic ${b64(`${formEncoded(CLIENT_ID)}:${formEncoded(CLIENT_SECRET)}`)}`;
/** Public clients (`spa`) need nothing; the confidential one its secret or an assertion. */
function clientOk(req, p) {
  const id = p.client_id ?? (req.headers.authorization?.startsWith('Basic ') ? CLIENT_ID : undefined);
  return id !== CLIENT_ID || req.headers.authorization === BASIC || p.client_secret === CLIENT_SECRET || !!p.client_assertion;
}

const server = await serve({
  'GET /.well-known/openid-configuration': () => ({ status: 500, body: `<html>${QUERY_SECRET}</html>` }),
  'POST /token': (req) => {
    const p = params(req);
    if (p.code_verifier) known('PKCE verifier', p.code_verifier);
    if (p.client_assertion) known('private_key_jwt assertion', p.client_assertion);
    const next = op.next;
    op.next = undefined;
    if (next) return next(req, p);
    if (!clientOk(req, p)) return echo(401, 'invalid_client')(req, p);
    switch (p.grant_type) {
      case 'authorization_code': {
        const pkce = !p.code_verifier || createHash('sha256').update(p.code_verifier).digest('base64url') === op.challenge;
        return p.code === CODE && pkce && p.redirect_uri === REDIRECT ? issue() : echo(400, 'invalid_grant')(req, p);
      }
      case 'refresh_token':
        return op.refresh.delete(p.refresh_token) ? issue() : echo(400, 'invalid_grant')(req, p);
      case 'password':
        return p.password === PASSWORD ? issue() : echo(400, 'invalid_grant')(req, p);
      case 'client_credentials':
        return issue({ refresh: false });
      default:
        return echo(400, 'unsupported_grant_type')(req, p);
    }
  },
  // A platform's own sign-in and token-only refresh (Olytix-like), field names `email` and `pwd`.
  'POST /login': (req) => {
    const p = params(req);
    const next = op.next;
    op.next = undefined;
    if (next) return next(req, p);
    return p.email === 'user@company.example' && p.pwd === PASSWORD ? issue() : { status: 401, body: { detail: echoed(req, p) } };
  },
  'POST /refresh': (req) => {
    const p = params(req);
    const next = op.next;
    op.next = undefined;
    if (next) return next(req, p);
    return op.refresh.delete(p.refresh_token) ? issue() : echo(400, 'invalid_grant')(req, p);
  },
  'POST /par': (req) => {
    op.pushed = req.body;
    return { status: 201, body: { request_uri: `urn:ietf:params:oauth:request_uri:${rand()}`, expires_in: 60 } };
  },
  'POST /revoke': (req) => echo(400, 'invalid_request')(req, params(req)),
  'GET /userinfo': (req) => ({ status: 401, headers: { 'www-authenticate': `Bearer error="invalid_token"` }, body: { error: 'invalid_token', error_description: echoed(req, {}) } }),
  'GET /api': (req) => {
    if (op.refuseApi > 0) return op.refuseApi--, { status: 401, body: { error: 'invalid_token' } };
    return { status: op.access.has(req.headers.authorization?.replace(/^Bearer /, '')) ? 200 : 401, body: {} };
  },
  'GET /limited': () => (op.limitedOnce ? { body: {} } : ((op.limitedOnce = true), { status: 429, headers: { 'retry-after': '1' } })),
  'GET /jwks': () => ({ status: 500, body: `${HMAC_KEY.k}` }),
});
after(() => server.close());
const origin = server.origin;
const endpoints = { authorization: `${origin}/authorize`, token: `${origin}/token`, revocation: `${origin}/revoke`, userinfo: `${origin}/userinfo` };
const fetchFailingFor = (suffix) => (input, init) =>
  String(input instanceof Request ? input.url : input).split('?')[0].endsWith(suffix)
    ? Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) }))
    : fetch(input, init);

/** PKCE sign-in as the browser would come back from the provider; returns the callback URL. */
async function signIn(auth) {
  const url = new URL(await auth.buildAuthorizeUrl());
  // Through PAR the URL carries only client_id and request_uri; the rest was pushed.
  const request = url.searchParams.has('request_uri') ? new URLSearchParams(op.pushed) : url.searchParams;
  op.challenge = request.get('code_challenge');
  op.nonce = request.get('nonce') ?? undefined;
  const callback = `${REDIRECT}?code=${encodeURIComponent(CODE)}&state=${request.get('state')}`;
  await auth.handleRedirectCallback(callback);
  return callback;
}

// ---- the paths ----

path('AuthClient (debug): PKCE sign-in, callback, refresh on 401, 429, a query secret, userinfo, revocation refused', async (ctx) => {
  const storage = ctx.storage();
  const auth = new AuthClient({ endpoints, clientId: 'spa', redirectUri: REDIRECT, scopes: ['openid', 'read'], storage, debug: ctx.debug });
  ctx.listen(auth);
  try {
    const callback = await signIn(auth);
    assert.equal(await auth.isAuthenticated(), true);
    await ctx.rejects('replayed callback', () => auth.handleRedirectCallback(callback));
    await ctx.rejects('forged state', () => auth.handleRedirectCallback(`${REDIRECT}?code=${CODE}&state=forged`));
    op.refuseApi = 1;
    assert.equal((await auth.fetch(`${origin}/api?access_token=${QUERY_SECRET}`)).status, 200, 'refreshed after the 401 and retried');
    op.limitedOnce = false;
    assert.equal((await auth.fetch(`${origin}/limited?password=${QUERY_SECRET}`)).status, 200, 'waited out the 429');
    await ctx.rejects('userinfo refused', () => auth.userinfo());
    const echoes = op.echoes;
    await auth.logout();
    assert.equal(op.echoes, echoes + 1, 'the revocation endpoint refused, echoing the refresh token');
  } finally {
    auth.close();
    op.nonce = undefined;
  }
}, ['debug', 'replayed callback', 'userinfo refused', 'error event']);

path('AuthClient (debug): code exchange refused, refresh refused, unanswered and failing, unreadable storage', async (ctx) => {
  const storage = ctx.storage();
  let offline = false;
  const flaky = (input, init) => (offline ? fetchFailingFor('/token')(input, init) : fetch(input, init));
  const auth = new AuthClient({ endpoints, clientId: 'spa', redirectUri: REDIRECT, scopes: ['read'], storage, debug: ctx.debug, fetch: flaky });
  ctx.listen(auth);
  try {
    op.next = echo(400, 'invalid_grant');
    const refused = await ctx.rejects('code exchange refused', () => signIn(auth));
    assert.ok(refused instanceof OAuthError, String(refused));
    assert.equal(refused.errorDescription, 'rejected code=[redacted] code_verifier=[redacted]', "the provider's words stay, the request's credentials do not");
    // An echo the core's 512-character cap cuts inside the verifier: its start goes too.
    op.next = (req, p) => ({ status: 400, body: { error: 'invalid_grant', error_description: `${'x'.repeat(490)} v=${p.code_verifier}` } });
    const cut = await ctx.rejects('code exchange refused, the echo cut', () => signIn(auth));
    assert.equal(cut.errorDescription, `${'x'.repeat(490)} v=[redacted]`);
    // Each failure on a fresh session, so no backoff from the one before holds the refresh back.
    await signIn(auth);
    offline = true;
    op.refuseApi = 1;
    assert.equal((await auth.fetch(`${origin}/api`)).status, 401, 'no refresh without the token endpoint');
    offline = false;
    await signIn(auth);
    op.refuseApi = 1;
    op.next = (req, p) => ({ status: 500, body: `<html>${echoed(req, p)}</html>` });
    assert.equal((await auth.fetch(`${origin}/api`)).status, 401);
    await signIn(auth);
    op.refuseApi = 1;
    op.next = echo(400, 'invalid_grant');
    assert.equal((await auth.fetch(`${origin}/api`)).status, 401);
    assert.equal(await auth.isAuthenticated(), false, 'invalid_grant ended the session');
    await ctx.rejects('session over', () => auth.getAccessToken());
  } finally {
    auth.close();
  }
  const garbage = ctx.storage({ 'tokenwarden:spa:tokens': JSON.stringify({ tokens: `{"access_token":"${QUERY_SECRET}",`, offset: 0 }) });
  const restored = new AuthClient({ endpoints, clientId: 'spa', redirectUri: REDIRECT, storage: garbage, debug: ctx.debug });
  ctx.listen(restored);
  try {
    assert.equal(await restored.isAuthenticated(), false);
  } finally {
    restored.close();
  }
}, ['debug', 'code exchange refused', 'error event', 'session over']);

path('AuthClient with debug: true writes to console.debug; a sign-in through PAR', async () => {
  const auth = new AuthClient({ endpoints: { ...endpoints, par: `${origin}/par` }, par: true, clientId: 'spa', redirectUri: REDIRECT, scopes: ['read'], debug: true });
  try {
    await signIn(auth);
    op.refuseApi = 1;
    await auth.fetch(`${origin}/api?access_token=${QUERY_SECRET}`);
    await auth.logout({ revoke: false });
  } finally {
    auth.close();
  }
  assert.ok(op.pushed, 'the sign-in went through PAR');
}, ['console.debug']);

path('AuthClient (debug): credential login at a platform endpoint, token-only refresh, refusals', async (ctx) => {
  const auth = new AuthClient({
    clientId: 'olytix-web',
    credentialLogin: { endpoint: `${origin}/login`, usernameField: 'email', passwordField: 'pwd' },
    refreshEndpoint: `${origin}/refresh`,
    refreshBody: 'token-only',
    bodyStyle: 'json',
    storage: ctx.storage(),
    debug: ctx.debug,
  });
  ctx.listen(auth);
  const creds = { username: 'user@company.example', password: PASSWORD };
  try {
    const wrong = await ctx.rejects('wrong password', () => auth.loginWithCredentials({ ...creds, password: known('wrong password', `nope-${rand()}`) }));
    assert.ok(wrong instanceof InvalidCredentialsError, String(wrong));
    op.next = echo(400, 'invalid_request');
    await ctx.rejects('login refused with a description', () => auth.loginWithCredentials(creds));
    await auth.loginWithCredentials(creds);
    op.refuseApi = 1;
    assert.equal((await auth.fetch(`${origin}/api`)).status, 200);
    op.refuseApi = 1;
    op.next = echo(400, 'invalid_grant');
    await auth.fetch(`${origin}/api`);
    await ctx.rejects('session over', () => auth.getAccessToken());
  } finally {
    auth.close();
  }
}, ['debug', 'wrong password', 'login refused with a description', 'error event']);

path('AuthClient (debug): the password grant, accepted and refused', async (ctx) => {
  const auth = new AuthClient({ clientId: 'spa', endpoints: { token: `${origin}/token` }, credentialLogin: { passwordGrant: true }, scopes: ['read'], debug: ctx.debug });
  ctx.listen(auth);
  try {
    await ctx.rejects('invalid_grant', () => auth.loginWithCredentials({ username: 'johndoe', password: known('wrong password', `nope-${rand()}`) }));
    op.next = echo(400, 'invalid_request');
    await ctx.rejects('invalid_request', () => auth.loginWithCredentials({ username: 'johndoe', password: PASSWORD }));
    op.next = echo(401, 'invalid_client');
    await ctx.rejects('invalid_client', () => auth.loginWithCredentials({ username: 'johndoe', password: PASSWORD }));
    await auth.loginWithCredentials({ username: 'johndoe', password: PASSWORD });
    op.refuseApi = 1;
    assert.equal((await auth.fetch(`${origin}/api`)).status, 200);
  } finally {
    auth.close();
  }
}, ['debug', 'invalid_grant', 'invalid_request']);

path('BackendTokenClient: token, 401 and a new token, the backend refusing, failing and unreachable', async (ctx) => {
  let answer;
  const backend = await serve({
    'POST /api/token': (req) => {
      if (answer) return answer(req);
      return req.headers['x-csrf-token'] === CSRF ? { body: { token: issue({ refresh: false }).body.access_token, expires_in: 600 } } : { status: 403, body: {} };
    },
  });
  const c = new BackendTokenClient({ tokenSource: { endpoint: `${backend.origin}/api/token`, headers: { 'x-csrf-token': CSRF }, body: JSON.stringify({ csrf: CSRF }) } });
  const gone = new BackendTokenClient({ tokenSource: { endpoint: `${backend.origin}/api/token`, headers: { 'x-csrf-token': CSRF } }, storageKey: 'unreachable', fetch: fetchFailingFor('/api/token') });
  try {
    assert.ok(await c.getToken());
    op.refuseApi = 1;
    assert.equal((await c.fetch(`${origin}/api`)).status, 200);
    c.clear();
    answer = (req) => ({ status: 401, body: { error: `no session for ${req.headers['x-csrf-token']} ${req.body}` } });
    await ctx.rejects('backend 401', () => c.getToken());
    answer = (req) => ({ status: 503, body: `<html>${req.headers['x-csrf-token']}</html>` });
    await ctx.rejects('backend 503', () => c.getToken());
    answer = () => ({ body: { token: `not a token ${QUERY_SECRET}` } });
    await ctx.rejects('backend garbage', () => c.getToken());
    await ctx.rejects('backend unreachable', () => gone.getToken());
  } finally {
    c.close();
    gone.close();
    await backend.close();
  }
});

path('ServiceClient: client_secret_basic, client_secret_post and private_key_jwt, accepted and refused', async (ctx) => {
  const base = { tokenEndpoint: `${origin}/token`, clientId: CLIENT_ID, scopes: ['read'] };
  for (const credentials of [{ clientSecret: CLIENT_SECRET }, { clientSecret: CLIENT_SECRET, clientAuth: 'client_secret_post' }, { privateKey: SIGNING_KEY }]) {
    const name = credentials.clientAuth ?? (credentials.privateKey ? 'private_key_jwt' : 'client_secret_basic');
    assert.ok(await new ServiceClient({ ...base, ...credentials }).getToken(), name);
    op.next = echo(401, 'invalid_client');
    await ctx.rejects(`${name} refused`, () => new ServiceClient({ ...base, ...credentials }).getToken());
    op.next = (req, p) => ({ status: 500, body: `<html>${echoed(req, p)}</html>` });
    await ctx.rejects(`${name} provider failing`, () => new ServiceClient({ ...base, ...credentials }).getToken());
  }
  await ctx.rejects('unreachable', () => new ServiceClient({ ...base, clientSecret: CLIENT_SECRET, fetch: fetchFailingFor('/token') }).getToken());
  await ctx.rejects('an HMAC key as private key', () => new ServiceClient({ ...base, privateKey: HMAC_KEY }).getToken());
  await ctx.rejects('discovery failing', () => new ServiceClient({ issuer: origin, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }).getToken());
}, ['client_secret_basic refused', 'client_secret_post refused', 'private_key_jwt refused']);

path('WebClient: code exchange with a client secret, refresh, and their refusals', async (ctx) => {
  for (const credentials of [{ clientSecret: CLIENT_SECRET }, { clientSecret: CLIENT_SECRET, clientAuth: 'client_secret_post' }, { privateKey: SIGNING_KEY }]) {
    const name = credentials.clientAuth ?? (credentials.privateKey ? 'private_key_jwt' : 'client_secret_basic');
    const web = new WebClient({ endpoints, clientId: CLIENT_ID, redirectUri: REDIRECT, scopes: ['read'], ...credentials });
    const begin = async () => {
      const { url, transaction } = await web.authorizationUrl();
      const u = new URL(url);
      op.challenge = u.searchParams.get('code_challenge');
      return { path: `/cb?code=${encodeURIComponent(CODE)}&state=${u.searchParams.get('state')}`, transaction };
    };
    const ok = await begin();
    const tokens = await web.callback(ok.path, ok.transaction);
    assert.ok((await web.refresh(tokens.refresh_token)).access_token);
    await ctx.rejects(`${name} refresh refused`, () => web.refresh(tokens.refresh_token));
    const refused = await begin();
    op.next = echo(400, 'invalid_grant');
    await ctx.rejects(`${name} code exchange refused`, () => web.callback(refused.path, refused.transaction));
    const forged = await begin();
    await ctx.rejects(`${name} forged state`, () => web.callback(`/cb?code=${CODE}&state=forged`, forged.transaction));
  }
}, ['client_secret_basic code exchange refused', 'client_secret_post refresh refused', 'private_key_jwt code exchange refused']);

path('ApiKeyClient: the key as Bearer and in its own header, 503 and 429 retried, 500, timeout, unreachable, malformed', async (ctx) => {
  let flaky = 0;
  let limited = 0;
  const api = await serve({
    'GET /v1/me': (r) => ({ status: r.headers.authorization === `Bearer ${API_KEY}` || r.headers['x-api-key'] === API_KEY ? 200 : 401, body: {} }),
    'GET /v1/flaky': () => (++flaky === 1 ? { status: 503, body: `<html>${API_KEY}</html>` } : { body: {} }),
    'GET /v1/limited': () => (++limited === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { body: {} }),
    'GET /v1/broken': (r) => ({ status: 500, body: { error: `bad key ${r.headers.authorization}` } }),
    'GET /v1/hang': () => new Promise(() => {}),
  });
  const client = (extra = {}) => new ApiKeyClient({ apiKey: API_KEY, baseUrl: `${api.origin}/v1/`, ...extra });
  try {
    assert.equal((await client().fetch('me')).status, 200);
    assert.equal((await client({ header: 'x-api-key' }).fetch(`me?api_key=${API_KEY}`)).status, 200);
    const [flakyRes, limitedRes] = await Promise.all([client({ retries: 1 }).fetch('flaky'), client({ retries: 1 }).fetch('limited')]);
    assert.deepEqual([flakyRes.status, limitedRes.status], [200, 200], 'retried');
    assert.equal((await client().fetch('broken')).status, 500);
    await ctx.rejects('timeout', () => client({ timeoutMs: 100, retries: 0 }).fetch(`hang?key=${API_KEY}`));
    await ctx.rejects('unreachable', () => client({ retries: 0, fetch: fetchFailingFor('/v1/me') }).fetch('me'));
    await ctx.rejects('malformed key', () => new ApiKeyClient({ apiKey: `${API_KEY} ${QUERY_SECRET}` }));
    await ctx.rejects('bad header name', () => new ApiKeyClient({ apiKey: API_KEY, header: `x-${QUERY_SECRET}:` }));
  } finally {
    await api.close();
  }
}, ['timeout', 'unreachable', 'malformed key']);

path('webhooks: a valid signature, a wrong secret, a tampered body, malformed headers, a stale timestamp', async (ctx) => {
  const body = '{"event":"key.created"}';
  const sig = signWebhook(body, WEBHOOK_SECRET);
  verifyWebhook(body, sig, WEBHOOK_SECRET);
  const now = Math.floor(Date.now() / 1000);
  const stamped = signWebhook(body, WEBHOOK_SECRET, { timestamp: now - 1000 });
  await ctx.rejects('wrong secret', () => verifyWebhook(body, sig, known('other webhook secret', `whsec_${rand()}`)));
  await ctx.rejects('tampered body', () => verifyWebhook(`${body} `, sig, WEBHOOK_SECRET));
  await ctx.rejects('the secret as the header', () => verifyWebhook(body, WEBHOOK_SECRET, WEBHOOK_SECRET));
  await ctx.rejects('the secret in the header', () => verifyWebhook(body, `sha256=${WEBHOOK_SECRET}`, WEBHOOK_SECRET));
  await ctx.rejects('stale timestamp', () => verifyWebhook(body, stamped, WEBHOOK_SECRET, { timestamp: String(now - 1000) }));
  await ctx.rejects('timestamp not a number', () => verifyWebhook(body, stamped, WEBHOOK_SECRET, { timestamp: WEBHOOK_SECRET }));
  await ctx.rejects('empty secret', () => signWebhook(body, ''));
}, ['wrong secret', 'stale timestamp']);

path('verifyJwt failures and the key helpers, with private keys and valid tokens at hand', async (ctx) => {
  const now = Math.floor(Date.now() / 1000);
  const iss = 'https://issuer.example';
  const aud = 'https://api.example';
  const hs = known('HS256 token', signJwt({ iss, aud, sub: 'u', exp: now + 600 }, HMAC_KEY));
  const es = known('ES256 token', signJwt({ iss, aud, sub: 'u', exp: now + 600 }, SIGNING_KEY, { typ: 'at+jwt' }));
  const jwks = { keys: [publicJwk(SIGNING_KEY)] };
  const hmac = { keys: [HMAC_KEY] };
  assert.equal((await verifyJwt(hs, { jwks: hmac, issuer: iss, audience: aud })).sub, 'u');
  assert.equal((await verifyJwt(es, { jwks, issuer: iss, audience: aud })).sub, 'u');
  await ctx.rejects('wrong audience', () => verifyJwt(es, { jwks, issuer: iss, audience: 'https://other.example' }));
  await ctx.rejects('wrong issuer', () => verifyJwt(hs, { jwks: hmac, issuer: 'https://other.example', audience: aud }));
  await ctx.rejects('expired', () => verifyJwt(hs, { jwks: hmac, audience: aud, now: now + 7200 }));
  await ctx.rejects('wrong typ', () => verifyJwt(hs, { jwks: hmac, audience: aud, typ: 'at+jwt' }));
  await ctx.rejects('shared secret beside public keys', () => verifyJwt(hs, { jwks: { keys: [HMAC_KEY, publicJwk(SIGNING_KEY)] }, audience: aud }));
  await ctx.rejects('algorithm not allowed', () => verifyJwt(es, { jwks, audience: aud, algorithms: ['HS256'] }));
  await ctx.rejects('forged', () => verifyJwt(`${hs.slice(0, hs.lastIndexOf('.'))}.${Buffer.from('x'.repeat(32)).toString('base64url')}`, { jwks: hmac, audience: aud }));
  await ctx.rejects('unknown kid', () => verifyJwt(es, { jwks: { keys: [publicJwk(generateSigningKey('ES256', 'other'))] }, audience: aud }));
  await ctx.rejects('malformed token', () => verifyJwt(`${hs}.${HMAC_KEY.k}`, { jwks: hmac, audience: aud }));
  await ctx.rejects('a token as the key set', () => verifyJwt(hs, { jwks: hs, audience: aud }));
  await ctx.rejects('a private key in the key set', () => verifyJwt(es, { jwks: { keys: [{ ...SIGNING_KEY, x: SIGNING_KEY.y }] }, audience: aud }));
  await ctx.rejects('key set unavailable', () => verifyJwt(es, { jwksUrl: `${origin}/jwks`, audience: aud }));
  await ctx.rejects('key set unreachable', () => verifyJwt(es, { jwksUrl: `${origin}/unreachable-jwks`, audience: aud, fetch: fetchFailingFor('/unreachable-jwks') }));
  await ctx.rejects('discovery failing', () => verifyJwt(es, { issuer: origin, audience: aud }));
  await ctx.rejects('publicJwk of a key without alg', () => publicJwk({ ...SIGNING_KEY, alg: undefined }));
  await ctx.rejects('publicJwk of a key with a foreign alg', () => publicJwk({ ...SIGNING_KEY, alg: 'RS256' }));
  await ctx.rejects('signJwt with a broken key', () => signJwt({ sub: 'u' }, { ...SIGNING_KEY, d: `${SIGNING_KEY.d}x` }));
  await ctx.rejects('unknown algorithm', () => generateSigningKey('XS256'));
  const grant = { scopes: ['read:datasets'], maxTtl: 600 };
  assert.ok(mintScopedToken({ privateKey: SIGNING_KEY, issuer: iss, audience: aud, grant, subject: 'u', scopes: ['read:datasets'] }));
  await ctx.rejects('grant exceeded', () => mintScopedToken({ privateKey: SIGNING_KEY, issuer: iss, audience: aud, grant, subject: 'u', scopes: ['write:datasets'] }));
  await ctx.rejects('mint with an HMAC key', () => mintScopedToken({ privateKey: { ...HMAC_KEY, alg: 'ES256' }, issuer: iss, audience: aud, grant, subject: 'u', scopes: ['read:datasets'] }));
  assert.match(hashApiKey(API_KEY), /^sha256:/);
  const typo = known('API key with a typo', API_KEY.slice(0, 20) + (API_KEY[20] === 'a' ? 'b' : 'a') + API_KEY.slice(21));
  await ctx.rejects('API key checksum', () => parseApiKey(typo));
  await ctx.rejects('secret key where only publishable ones go', () => requirePublishableKey(API_KEY));
  await ctx.rejects('not an API key', () => parseApiKey(`${API_KEY}${QUERY_SECRET}`));
}, ['wrong audience', 'key set unavailable', 'API key checksum']);

test('over all paths: debug lines, console.debug, error events and echoed secrets were collected; no secret is in any of it', () => {
  for (const source of ['debug', 'console.debug', 'error event']) assert.ok(everything.some((e) => e.where.startsWith(source)), `nothing from ${source}`);
  // Nothing is expected from storage: the SDK keeps no log there, and what it would is collected above.
  assert.ok(everything.some((e) => e.where.endsWith('util.inspect') && /errorDescription: 'rejected .*\[redacted\]/.test(e.text)), 'echoing descriptions were collected');
  assert.ok(op.echoes >= 10, `the servers echoed secrets back ${op.echoes} times`);
  assert.deepEqual(leaksIn(everything), []);
});
