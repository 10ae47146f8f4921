// The PKCE sign-in in real Chromium (Debian's, driven by playwright-core) against a real OpenID
// provider (oidc-provider): login form, callback, protected API, silent refresh after expiry,
// one refresh for two tabs, and refused tampered and replayed redirects. `make test` runs it twice:
// with the provider at the server root, and mounted under a path (TOKENWARDEN_OIDC_MOUNT), so
// that its issuer has a path as Keycloak realms and Okta authorization servers do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, sleep, startBrowserSuite } from './browser.mjs';
import { API_AUDIENCE } from './provider.mjs';

const ACCESS_TTL = 6;

let provider, app, callbackUrl, suite;

before(async () => {
  suite = await startBrowserSuite({ accessTokenTtl: ACCESS_TTL });
  ({ provider, app } = suite);
});

after(async () => suite?.close());

const openApp = () => suite.openApp();

let tab1;

test('sign in through the provider\'s login form and call the protected API', async () => {
  tab1 = await openApp();
  tab1.on('framenavigated', (f) => {
    if (f === tab1.mainFrame() && f.url().includes('/callback?')) callbackUrl = f.url();
  });
  await signIn(tab1);
  assert.ok(callbackUrl?.includes('code='), 'the provider redirected with a code');
  assert.equal(new URL(tab1.url()).search, '', 'code and state are removed from the address bar');
  assert.equal(provider.counts.code, 1);

  const res = await tab1.evaluate(() => window.app.callApi());
  assert.equal(res.status, 200);
  assert.equal(res.body.sub, 'alice');
  assert.match(res.body.scope, /api:read/);
});

test('after the access token expires, the next call refreshes silently', async () => {
  await sleep((ACCESS_TTL + 1) * 1000);
  const before = provider.counts.refresh;
  const res = await tab1.evaluate(() => window.app.callApi());
  assert.equal(res.status, 200);
  assert.equal(provider.counts.refresh, before + 1);
  assert.equal(provider.counts.refreshErrors, 0);
  assert.equal(app.apiCalls.filter((c) => !c.ok).length, 0, 'the expired token was never sent');
});

test('two tabs share the session and make a single refresh between them', async () => {
  const tab2 = await openApp();
  assert.equal(await tab2.evaluate(() => window.app.isAuthenticated()), true, 'tab 2 got the session over BroadcastChannel');
  await sleep((ACCESS_TTL + 1) * 1000);
  const before = provider.counts.refresh;
  const [t1, t2] = await Promise.all([tab1.evaluate(() => window.app.token()), tab2.evaluate(() => window.app.token())]);
  assert.equal(provider.counts.refresh, before + 1, 'exactly one refresh for both tabs');
  assert.equal(t1, t2);
  assert.equal(provider.counts.refreshErrors, 0, 'no tab reused a rotated refresh token');
  const res = await tab2.evaluate(() => window.app.callApi());
  assert.equal(res.status, 200);
  await tab2.close();
});

test('logout revokes the refresh token at the provider (RFC 7009)', async () => {
  let revocation;
  let answered;
  tab1.on('response', (r) => {
    if (r.request().method() === 'POST' && r.url().endsWith('/token/revocation')) {
      revocation = new URLSearchParams(r.request().postData());
      answered = r.status();
    }
  });
  await tab1.evaluate(() => window.app.logout());
  assert.equal(await tab1.evaluate(() => window.app.isAuthenticated()), false);
  assert.equal(answered, 200, 'the provider revoked the token');
  assert.equal(revocation?.get('token_type_hint'), 'refresh_token');
  assert.equal(revocation?.get('client_id'), 'spa');
  // The revoked refresh token, replayed by someone who copied it, is refused.
  const res = await fetch(`${provider.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: revocation.get('token'), client_id: 'spa' }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, 'invalid_grant');
});

test('a tampered state and a replayed callback are refused', async () => {
  const tab = await openApp();
  await tab.evaluate(() => window.app.buildAuthorizeUrl());
  await tab.goto(`${app.origin}/callback?code=stolen&state=tampered`);
  await tab.waitForFunction(() => document.getElementById('status')?.textContent.startsWith('callback refused'));
  assert.equal(await tab.textContent('#status'), 'callback refused: state_mismatch');

  await tab.goto(callbackUrl);
  await tab.waitForFunction(() => document.getElementById('status')?.textContent.startsWith('callback refused'));
  assert.equal(await tab.textContent('#status'), 'callback refused: state_mismatch');
  assert.equal(provider.counts.code, 1, 'neither redirect reached the token endpoint');
  await tab.close();
});

test('PAR: with par: true the browser carries only client_id and request_uri', async () => {
  const { AuthClient } = await import('tokenwarden');
  const client = new AuthClient({ issuer: provider.issuer, clientId: 'spa', redirectUri: `${app.origin}/callback`, scopes: ['openid', 'api:read'], resource: API_AUDIENCE, par: true });
  try {
    const url = new URL(await client.buildAuthorizeUrl());
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.match(url.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 303);
    const mount = new URL(provider.issuer).pathname.replace(/\/$/, '');
    assert.ok(res.headers.get('location').startsWith(`${mount}/interaction/`), 'the provider accepted the pushed request');
  } finally {
    client.close();
  }
});

test('credential login (Olytix) in the browser entry: stored per `local`, restored after a reload and in a new tab; a secret is a ConfigError', async () => {
  const page = await openApp();
  const make = (storage) => `new (await import('tokenwarden')).AuthClient({ clientId: 'olytix-web', credentialLogin: { endpoint: location.origin + '/api/v1/auth/token' }, refreshEndpoint: location.origin + '/api/v1/auth/refresh', refreshBody: 'token-only', bodyStyle: 'json', storage: '${storage}' })`;
  const signedIn = await page.evaluate(`(async () => {
    const auth = ${make('local')};
    const wrong = await auth.loginWithCredentials({ username: 'user@company.com', password: 'wrong' }).catch((e) => e.name + ':' + e.code);
    await auth.loginWithCredentials({ username: 'user@company.com', password: 'your-password' });
    const stored = localStorage.getItem('tokenwarden:olytix-web:tokens');
    return { wrong, token: await auth.getAccessToken(), storedPassword: stored.includes('your-password') };
  })()`);
  assert.equal(signedIn.wrong, 'InvalidCredentialsError:invalid_credentials');
  assert.equal(signedIn.storedPassword, false);
  assert.equal(app.olytix.logins, 1);

  await page.reload();
  await page.waitForFunction(() => window.app !== undefined);
  const restored = await page.evaluate(`(async () => (await ${make('local')}.getAccessToken()))()`);
  assert.equal(restored, signedIn.token, 'the session survived the reload');
  const tab = await openApp();
  assert.equal(await tab.evaluate(`(async () => (await ${make('local')}.getAccessToken()))()`), signedIn.token, 'and is there in a new tab');
  assert.equal(app.olytix.logins, 1);

  const refused = await page.evaluate(`(async () => {
    const { AuthClient } = await import('tokenwarden');
    try {
      new AuthClient({ clientId: 'web', clientSecret: 's', endpoints: { authorization: location.origin + '/a', token: location.origin + '/t' }, redirectUri: location.origin + '/cb' });
      return 'accepted';
    } catch (e) {
      return e.name + ':' + e.code;
    }
  })()`);
  assert.equal(refused, 'ConfigError:invalid_config');
  assert.equal(await page.evaluate(`import('tokenwarden').then((m) => typeof m.WebClient)`), 'undefined', 'no confidential client in the browser entry');
  await page.evaluate(`(async () => ${make('local')}.logout())()`);
  await tab.close();
  await page.close();
});
