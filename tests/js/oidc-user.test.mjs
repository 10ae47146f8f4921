// What users of oidc-client-ts / auth0-spa-js expect of AuthClient, against a real OpenID
// provider (oidc-provider) whose pages are driven with plain HTTP by a small cookie-keeping
// user agent: getUser() (the ID token's claims), userinfo() (checked against the ID token's
// sub by the core), and RP-initiated logout (end_session_endpoint with id_token_hint,
// client_id, post_logout_redirect_uri and state), after which the provider's session is over.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { AuthClient } from 'tokenwarden';
import { providerUserAgent, serve } from './helpers.mjs';

const REDIRECT = 'http://localhost:3000/callback';
const BYE = 'http://localhost:3000/signed-out';
let op;

before(async () => {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const free = await serve({});
  await free.close();
  const issuer = free.origin;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], post_logout_redirect_uris: [BYE],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    }],
    jwks: { keys: [{ ...(await jose.exportJWK(privateKey)), kid: 'op', alg: 'RS256', use: 'sig' }] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: `${sub}@example.com`, email_verified: true, name: 'Alice' }) }),
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  });
  const http = provider.listen(Number(new URL(issuer).port), '127.0.0.1');
  await new Promise((resolve) => http.once('listening', resolve));
  op = { issuer, close: () => new Promise((resolve) => http.close(resolve)) };
});
after(() => op.close());

test('getUser, userinfo and RP-initiated logout against oidc-provider', async () => {
  const visit = providerUserAgent(op.issuer);
  const auth = new AuthClient({ issuer: op.issuer, clientId: 'spa', redirectUri: REDIRECT, scopes: ['openid', 'email', 'profile'], postLogoutRedirectUri: BYE });
  assert.equal(await auth.getUser(), undefined, 'no user before sign-in');
  await auth.handleRedirectCallback(await visit(await auth.buildAuthorizeUrl()));

  const user = await auth.getUser();
  assert.equal(user.sub, 'alice');
  assert.equal(user.iss, op.issuer);
  assert.equal(user.aud, 'spa');
  assert.ok(user.nonce, 'the ID token as issued (its nonce checked at sign-in)');

  const info = await auth.userinfo();
  assert.equal(info.sub, 'alice');
  assert.equal(info.email, 'alice@example.com');
  assert.equal(info.name, 'Alice');

  const logoutUrl = new URL(await auth.buildLogoutUrl({ state: 'bye-1' }));
  assert.equal(logoutUrl.origin + logoutUrl.pathname, `${op.issuer}/session/end`);
  assert.equal(jose.decodeJwt(logoutUrl.searchParams.get('id_token_hint')).sub, 'alice');
  assert.equal(logoutUrl.searchParams.get('client_id'), 'spa');
  assert.equal(logoutUrl.searchParams.get('post_logout_redirect_uri'), BYE);

  await auth.logout();
  assert.equal(await auth.getUser(), undefined);
  const back = new URL(await visit(logoutUrl.href));
  assert.equal(back.origin + back.pathname, BYE, 'the provider sent the browser back');
  assert.equal(back.searchParams.get('state'), 'bye-1');

  // The provider's own session is over: a silent sign-in needs a login now.
  const silent = new URL(await visit(await auth.buildAuthorizeUrl({ prompt: 'none' })));
  assert.equal(silent.searchParams.get('error'), 'login_required');
  auth.close();
});

test('a provider without the endpoints: clear configuration errors', async () => {
  const auth = new AuthClient({ endpoints: { authorization: 'https://op.example/authorize', token: 'https://op.example/token' }, clientId: 'spa', redirectUri: REDIRECT });
  await assert.rejects(auth.userinfo(), { code: 'invalid_config' });
  await assert.rejects(auth.buildLogoutUrl(), { code: 'invalid_config' });
  auth.close();
  const bad = new AuthClient({ endpoints: { authorization: 'https://op.example/authorize', token: 'https://op.example/token', endSession: 'https://op.example/logout' }, clientId: 'spa', redirectUri: REDIRECT });
  await assert.rejects(bad.buildLogoutUrl({ postLogoutRedirectUri: 'javascript:alert(1)' }), { code: 'invalid_config' });
  assert.equal(await bad.buildLogoutUrl(), 'https://op.example/logout?client_id=spa');
  bad.close();
});
