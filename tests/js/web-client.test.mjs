// Confidential clients on a server (full build): WebClient's code exchange with
// client_secret_basic, client_secret_post and private_key_jwt (always with PKCE), and
// ServiceClient's client credentials with each method, against a real OpenID provider
// (oidc-provider) whose login and consent pages are driven with plain HTTP. Then the platform
// guides' own snippets: DataPulse (004) and GoPie (000) against local servers that accept only
// the body shapes their guides document.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { WebClient, ServiceClient, OAuthError, StateMismatchError, ConfigError, generateSigningKey, publicJwk } from 'tokenwarden';
import { providerUserAgent, serve } from './helpers.mjs';

const REDIRECT = 'http://localhost:3000/callback';
const privateKey = generateSigningKey('ES256', 'web-key-1');
let op;

before(async () => {
  const { privateKey: opKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const web = (client_id, method, extra = {}) => ({
    client_id, token_endpoint_auth_method: method, redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], ...extra,
  });
  const svc = (client_id, method, extra = {}) => ({
    client_id, token_endpoint_auth_method: method, redirect_uris: [], response_types: [], grant_types: ['client_credentials'], ...extra,
  });
  const server = await serve({});
  await server.close();
  const issuer = server.origin; // a free port, reused below
  const provider = new Provider(issuer, {
    clients: [
      web('web-basic', 'client_secret_basic', { client_secret: 'basic-secret:with/odd=chars' }),
      web('web-post', 'client_secret_post', { client_secret: 'post-secret' }),
      web('web-jwt', 'private_key_jwt', { jwks: { keys: [publicJwk(privateKey)] } }),
      svc('svc-basic', 'client_secret_basic', { client_secret: 'svc-basic-secret' }),
      svc('svc-post', 'client_secret_post', { client_secret: 'svc-post-secret' }),
      svc('svc-jwt', 'private_key_jwt', { jwks: { keys: [publicJwk(privateKey)] } }),
    ],
    jwks: { keys: [{ ...(await jose.exportJWK(opKey)), kid: 'op', alg: 'RS256', use: 'sig' }] },
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    scopes: ['openid', 'offline_access', 'api:read'],
    features: { devInteractions: { enabled: true }, clientCredentials: { enabled: true } },
  });
  const { port } = new URL(issuer);
  const http = provider.listen(Number(port), '127.0.0.1');
  await new Promise((resolve) => http.once('listening', resolve));
  op = { issuer, close: () => new Promise((resolve) => http.close(resolve)) };
});
after(() => op.close());

/** The sign-in as a browser would make it; resolves to the callback URL. */
const userSignsIn = (url) => providerUserAgent(op.issuer)(url);

for (const [clientId, credentials] of [
  ['web-basic', { clientSecret: 'basic-secret:with/odd=chars' }],
  ['web-post', { clientSecret: 'post-secret', clientAuth: 'client_secret_post' }],
  ['web-jwt', { privateKey }],
]) {
  test(`WebClient ${clientId}: authorization URL, callback, code + PKCE + client authentication, refresh`, async () => {
    const web = new WebClient({ issuer: op.issuer, clientId, redirectUri: REDIRECT, scopes: ['openid', 'offline_access'], ...credentials });
    const { url, transaction } = await web.authorizationUrl({ prompt: 'consent' });
    const authorize = new URL(url);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(authorize.searchParams.get('nonce'));
    const callback = await userSignsIn(url);
    const path = callback.slice(new URL(callback).origin.length);
    const tokens = await web.callback(path, transaction);
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
    assert.ok(tokens.expires_at > Date.now() / 1000);
    assert.equal(jose.decodeJwt(tokens.id_token).sub, 'alice');
    await assert.rejects(web.callback(callback, JSON.stringify({ ...JSON.parse(transaction), state: 'other' })), StateMismatchError);

    const renewed = await web.refresh(tokens.refresh_token);
    assert.ok(renewed.access_token && renewed.access_token !== tokens.access_token);
  });
}

test('WebClient: a wrong secret is the provider\'s invalid_client', async () => {
  const web = new WebClient({ issuer: op.issuer, clientId: 'web-basic', clientSecret: 'wrong', redirectUri: REDIRECT, scopes: ['openid'] });
  const { url, transaction } = await web.authorizationUrl();
  const err = await web.callback(await userSignsIn(url), transaction).catch((e) => e);
  assert.ok(err instanceof OAuthError, String(err));
  assert.equal(err.error, 'invalid_client');
});

for (const [clientId, credentials] of [
  ['svc-basic', { clientSecret: 'svc-basic-secret' }],
  ['svc-post', { clientSecret: 'svc-post-secret', clientAuth: 'client_secret_post' }],
  ['svc-jwt', { privateKey: JSON.stringify(privateKey), clientAuth: 'private_key_jwt' }],
]) {
  test(`ServiceClient ${clientId}: client credentials at the provider`, async () => {
    const svc = new ServiceClient({ issuer: op.issuer, clientId, ...credentials });
    assert.ok(await svc.getToken());
  });
}

test('a confidential client needs its credential; HMAC keys are not private keys', async () => {
  const base = { tokenEndpoint: 'https://as.example/token', clientId: 'svc' };
  await assert.rejects(new ServiceClient({ ...base, clientAuth: 'client_secret_post' }).getToken(), ConfigError);
  await assert.rejects(new ServiceClient({ ...base, clientAuth: 'private_key_jwt' }).getToken(), ConfigError);
  await assert.rejects(new ServiceClient({ ...base, privateKey: generateSigningKey('HS256') }).getToken(), ConfigError);
});

/** A platform token endpoint that accepts JSON bodies of exactly `fields` (and checks PKCE when it gets a verifier). */
async function jsonPlatform(fields, optional = []) {
  const state = { challenge: undefined, body: undefined };
  const server = await serve({
    'POST /oauth/token': (req) => {
      if (req.headers['content-type'] !== 'application/json') return { status: 415, body: { error: 'invalid_request' } };
      const body = (state.body = JSON.parse(req.body));
      const keys = Object.keys(body).filter((k) => !optional.includes(k)).sort();
      if (JSON.stringify(keys) !== JSON.stringify([...fields].sort())) return { status: 400, body: { error: 'invalid_request', error_description: `fields: ${keys}` } };
      if (body.code_verifier && createHash('sha256').update(body.code_verifier).digest('base64url') !== state.challenge) return { status: 400, body: { error: 'invalid_grant' } };
      return { body: { access_token: 'dp-access', token_type: 'Bearer', expires_in: 86400, refresh_token: 'dp-refresh' } };
    },
  });
  return { server, state };
}

async function platformSignIn(server, state, clientOptions) {
  const web = new WebClient({ endpoints: { authorization: `${server.origin}/oauth/authorize`, token: `${server.origin}/oauth/token` }, redirectUri: 'https://yourapp.com/callback', ...clientOptions });
  const { url, transaction } = await web.authorizationUrl();
  const authorize = new URL(url);
  state.challenge = authorize.searchParams.get('code_challenge');
  return web.callback(`/callback?code=AUTH_CODE_FROM_REDIRECT&state=${authorize.searchParams.get('state')}`, transaction);
}

test('DataPulse (004): the code exchange is JSON {grant_type, client_id, client_secret, code, redirect_uri, code_verifier}', async () => {
  const { server, state } = await jsonPlatform(['grant_type', 'client_id', 'client_secret', 'code', 'redirect_uri', 'code_verifier']);
  try {
    const tokens = await platformSignIn(server, state, { clientId: 'YOUR_CLIENT_ID', clientSecret: 'YOUR_CLIENT_SECRET', clientAuth: 'client_secret_post', bodyStyle: 'json', scopes: ['analytics:read', 'pipelines:write'] });
    assert.equal(tokens.access_token, 'dp-access');
    assert.equal(tokens.refresh_token, 'dp-refresh');
    assert.deepEqual({ ...state.body, code_verifier: undefined }, { grant_type: 'authorization_code', code: 'AUTH_CODE_FROM_REDIRECT', redirect_uri: 'https://yourapp.com/callback', code_verifier: undefined, client_id: 'YOUR_CLIENT_ID', client_secret: 'YOUR_CLIENT_SECRET' });
    assert.equal(server.requests[0].headers.authorization, undefined);
  } finally {
    await server.close();
  }
});

test('GoPie (000): the code exchange is JSON {grant_type, code, client_id, client_secret, redirect_uri}, PKCE left out', async () => {
  const { server, state } = await jsonPlatform(['grant_type', 'code', 'client_id', 'client_secret', 'redirect_uri']);
  try {
    const tokens = await platformSignIn(server, state, { clientId: 'YOUR_CLIENT_ID', clientSecret: 'YOUR_CLIENT_SECRET', clientAuth: 'client_secret_post', bodyStyle: 'json', pkce: false });
    assert.equal(state.challenge, null, 'no code_challenge in the authorization URL');
    assert.equal(tokens.access_token, 'dp-access');
    assert.equal(state.body.client_secret, 'YOUR_CLIENT_SECRET');
  } finally {
    await server.close();
  }
});

test('GoPie (000): client credentials as the form {grant_type, client_id, client_secret, scope}', async () => {
  const server = await serve({
    'POST /oauth/token': (req) => {
      const form = new URLSearchParams(req.body);
      const exact = JSON.stringify([...form.keys()].sort()) === JSON.stringify(['client_id', 'client_secret', 'grant_type', 'scope']);
      const ok = exact && req.headers['content-type'] === 'application/x-www-form-urlencoded' && form.get('grant_type') === 'client_credentials'
        && form.get('client_secret') === 'YOUR_CLIENT_SECRET' && form.get('scope') === 'read:data write:data' && !req.headers.authorization;
      return ok ? { body: { access_token: 'gopie-svc', token_type: 'Bearer', expires_in: 3600 } } : { status: 400, body: { error: 'invalid_request' } };
    },
  });
  try {
    const svc = new ServiceClient({ tokenEndpoint: `${server.origin}/oauth/token`, clientId: 'YOUR_CLIENT_ID', clientSecret: 'YOUR_CLIENT_SECRET', clientAuth: 'client_secret_post', scopes: ['read:data', 'write:data'] });
    assert.equal(await svc.getToken(), 'gopie-svc');
  } finally {
    await server.close();
  }
});
