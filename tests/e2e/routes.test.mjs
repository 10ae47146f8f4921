// Route permissions in a real Envoy, with JWT credentials: rules with path captures
// (/v1/{org}/datasets/{dataset} requiring read:datasets.{dataset}), grants that cover children,
// roles (default and custom, with inheritance) mapped from the token's `roles` claim, refusals
// (unmatched routes, a dataset outside the token's `datasets`, paths that try to escape a rule),
// anonymous routes, and the CORS preflight bypass. One Envoy for the file.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startGateway, stopGateway } from './lib/envoy.mjs';
import { bearer, errorCode, request, startEchoServer } from './lib/http.mjs';
import { issuerFor } from './lib/jwt.mjs';

const AUD = 'https://api.e2e.test';
const REALM = 'routes-e2e';
const idp = issuerFor('ES256', { issuer: 'https://routes.e2e.test' });

const policy = {
  unmatched: 'deny',
  roles: {
    analyst: { inherits: ['viewer'], permissions: ['execute:queries'] },
    auditor: { permissions: ['read:audit'] },
  },
  rules: [
    { name: 'health', method: 'GET', path: '/health', anonymous: true },
    { name: 'docs', method: 'GET', path: '/docs/{rest*}', anonymous: true },
    { name: 'dataset-read', method: 'GET', path: '/v1/{org}/datasets/{dataset}', require: ['read:datasets.{dataset}'] },
    { name: 'dataset-rows', method: 'GET', path: '/v1/{org}/datasets/{dataset}/rows/{rest*}', require: ['read:datasets.{dataset}'] },
    { name: 'dataset-delete', method: 'DELETE', path: '/v1/{org}/datasets/{dataset}', require: ['delete:datasets.{dataset}'] },
    { name: 'queries', method: 'POST', path: '/v1/{org}/queries', require: ['execute:queries'] },
    { name: 'audit', method: 'GET', path: '/v1/{org}/audit', require: ['read:audit'] },
    { name: 'me', method: '*', path: '/v1/me' },
  ],
};

let upstream;
let envoy;
let port;
before(async () => {
  upstream = await startEchoServer();
  envoy = await startGateway({
    upstreamPort: upstream.port,
    pluginConfig: {
      realm: REALM,
      providers: [{ name: 'idp', issuer: idp.issuer, audiences: [AUD], algorithms: ['ES256'], jwks: { inline: idp.jwks } }],
      policy,
    },
  });
  port = envoy.listenerPort;
});
after(async () => {
  await stopGateway(envoy);
  await upstream?.stop();
});

/** A request with a token carrying `claims` (sub defaults to a fixed user). */
const as = (claims, path, method = 'GET', headers = {}) => ({
  method,
  path,
  headers: bearer(idp.token({ sub: 'user-1', aud: AUD, ...claims }), headers),
});

async function passes(req) {
  const before = upstream.requests;
  const res = await request(port, req);
  assert.equal(res.status, 200, `${req.method} ${req.path}: ${res.body}`);
  assert.equal(upstream.requests, before + 1);
  return req.method === 'HEAD' ? {} : JSON.parse(res.body).headers;
}

async function refused(req, status, code) {
  const before = upstream.requests;
  const res = await request(port, req);
  assert.equal(res.status, status, `${req.method} ${req.path} (${code}): ${res.body}`);
  assert.equal(errorCode(res), code, res.body);
  assert.equal(upstream.requests, before, 'a refused request must not reach the upstream');
  return res;
}

describe('path captures and permissions', () => {
  test('read:datasets.{dataset}: the captured name must be granted', async () => {
    const scope = 'read:datasets.sales';
    const seen = await passes(as({ scope }, '/v1/acme/datasets/sales'));
    assert.equal(seen['x-auth-rule'], 'dataset-read');
    assert.equal(seen['x-auth-dataset'], 'sales');
    // The rest capture matches deeper paths of the same dataset.
    assert.equal((await passes(as({ scope }, '/v1/acme/datasets/sales/rows/2026/01?limit=5')))['x-auth-rule'], 'dataset-rows');
    const res = await refused(as({ scope }, '/v1/acme/datasets/hr'), 403, 'insufficient_scope');
    assert.equal(
      res.headers['www-authenticate'],
      `Bearer realm="${REALM}", error="insufficient_scope", error_description="rule 'dataset-read' requires read:datasets.hr", scope="read:datasets.hr"`,
    );
    await refused(as({ scope }, '/v1/acme/datasets/hr/rows/x'), 403, 'insufficient_scope');
    // Reading is not deleting.
    await refused(as({ scope }, '/v1/acme/datasets/sales', 'DELETE'), 403, 'insufficient_scope');
  });

  test('parents, .* and bare actions cover the dataset; other resources do not', async () => {
    for (const scope of ['read:datasets', 'read:datasets.*', 'read:*', 'read', '*']) {
      await passes(as({ scope }, '/v1/acme/datasets/hr'));
    }
    for (const scope of ['read:datasets.sale', 'read:datasets.sales.q1', 'write:datasets', 'read:reports', '']) {
      await refused(as({ scope }, '/v1/acme/datasets/sales'), 403, 'insufficient_scope');
    }
    // scp (array) and permissions (array) claims count as scopes too.
    await passes(as({ scp: ['read:datasets.sales'] }, '/v1/acme/datasets/sales'));
    await passes(as({ permissions: ['delete:datasets.sales'] }, '/v1/acme/datasets/sales', 'DELETE'));
  });

  test('a GET rule also answers HEAD; other methods fall through to unmatched → deny', async () => {
    await passes(as({ scope: 'read:datasets' }, '/v1/acme/datasets/sales', 'HEAD'));
    await refused(as({ scope: '*' }, '/v1/acme/datasets/sales', 'PATCH'), 403, 'access_denied');
  });
});

describe('roles from the token', () => {
  test('a default role (viewer ⊂ editor ⊂ owner ⊂ admin)', async () => {
    await passes(as({ roles: ['viewer'] }, '/v1/acme/datasets/sales'));
    await refused(as({ roles: ['viewer'] }, '/v1/acme/queries', 'POST'), 403, 'insufficient_scope');
    await passes(as({ roles: ['editor'] }, '/v1/acme/queries', 'POST'));
    // No default role holds delete:datasets, not even admin.
    await refused(as({ roles: ['admin'] }, '/v1/acme/datasets/sales', 'DELETE'), 403, 'insufficient_scope');
  });

  test('custom roles, with inheritance, and several roles at once', async () => {
    await passes(as({ roles: ['analyst'] }, '/v1/acme/queries', 'POST'));
    await passes(as({ roles: ['analyst'] }, '/v1/acme/datasets/hr'), 'inherited from viewer');
    await refused(as({ roles: ['analyst'] }, '/v1/acme/audit'), 403, 'insufficient_scope');
    await passes(as({ roles: ['auditor'] }, '/v1/acme/audit'));
    await refused(as({ roles: ['auditor'] }, '/v1/acme/datasets/hr'), 403, 'insufficient_scope');
    await passes(as({ roles: 'analyst auditor' }, '/v1/acme/audit'));
  });

  test('an unknown role grants nothing', async () => {
    await refused(as({ roles: ['root', 'superuser'] }, '/v1/acme/datasets/sales'), 403, 'insufficient_scope');
  });
});

describe('refusals', () => {
  test('a route no rule matches is refused even for a wildcard grant', async () => {
    await refused(as({ scope: '*', roles: ['admin'] }, '/v1/acme/billing'), 403, 'access_denied');
    await refused(as({ scope: '*' }, '/'), 403, 'access_denied');
  });

  test("a dataset outside the token's datasets claim is refused (access_denied)", async () => {
    await passes(as({ scope: 'read:datasets', datasets: ['sales'] }, '/v1/acme/datasets/sales'));
    await refused(as({ scope: 'read:datasets', datasets: ['sales'] }, '/v1/acme/datasets/hr'), 403, 'access_denied');
    await refused(as({ scope: '*', datasets: ['sales', 'marketing'] }, '/v1/acme/datasets/hr', 'DELETE'), 403, 'access_denied');
  });

  test('paths that try to step out of a rule are invalid_request (400)', async () => {
    const scope = 'read:datasets.sales';
    for (const path of [
      '/v1/acme/datasets/sales/../../audit',
      '/v1/acme/datasets/%2e%2e',
      '/v1/acme/datasets/sales%2Frows',
      '/v1/acme/datasets/sales;x=1',
      '/v1/acme//datasets/sales',
    ]) {
      await refused(as({ scope: '*' }, path), 400, 'invalid_request');
    }
    // A capture that is not a plain name is not spliced into a permission.
    await refused(as({ scope }, '/v1/acme/datasets/sales%20x'), 400, 'invalid_request');
  });

  test('a request with no credential on a protected route: 401 and a bare challenge', async () => {
    const res = await refused({ method: 'GET', path: '/v1/acme/datasets/sales' }, 401, 'missing_credentials');
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${REALM}"`);
  });

  test('a rule without requirements only needs a valid credential', async () => {
    assert.equal((await passes(as({}, '/v1/me', 'POST')))['x-auth-rule'], 'me');
    await refused({ method: 'GET', path: '/v1/me' }, 401, 'missing_credentials');
  });
});

describe('anonymous routes and CORS preflight', () => {
  test('anonymous rules pass without a credential, for their method only', async () => {
    const seen = await passes({ method: 'GET', path: '/health' });
    assert.equal(seen['x-auth-rule'], 'health');
    assert.equal(seen['x-auth-sub'], undefined);
    await passes({ method: 'GET', path: '/docs/guides/start.html' });
    // POST /health matches no rule: unmatched routes are denied, credential or not.
    await refused({ method: 'POST', path: '/health' }, 403, 'access_denied');
  });

  test('an anonymous route with a valid token passes with the identity; a bad token is refused', async () => {
    assert.equal((await passes(as({ sub: 'someone' }, '/health')))['x-auth-sub'], 'someone');
    const t = Math.floor(Date.now() / 1000) - 7200;
    await refused(as({ iat: t, exp: t + 60 }, '/health'), 401, 'expired_token');
  });

  test('a CORS preflight passes without a credential; other OPTIONS do not', async () => {
    const preflight = { origin: 'https://app.e2e.test', 'access-control-request-method': 'DELETE' };
    const before = upstream.requests;
    const res = await request(port, { method: 'OPTIONS', path: '/v1/acme/datasets/sales', headers: preflight });
    assert.equal(res.status, 200, res.body);
    assert.equal(upstream.requests, before + 1);
    const seen = JSON.parse(res.body);
    assert.equal(seen.method, 'OPTIONS');
    assert.equal(seen.headers['x-auth-sub'], undefined);
    // Forged identity headers are stripped on the bypass too.
    const forged = await request(port, { method: 'OPTIONS', path: '/v1/x', headers: { ...preflight, 'x-auth-sub': 'admin' } });
    assert.equal(JSON.parse(forged.body).headers['x-auth-sub'], undefined);
    // Without Origin or Access-Control-Request-Method it is a plain OPTIONS, which no rule allows.
    await refused({ method: 'OPTIONS', path: '/v1/acme/datasets/sales', headers: { origin: 'https://app.e2e.test' } }, 403, 'access_denied');
    await refused(
      { method: 'OPTIONS', path: '/v1/acme/datasets/sales', headers: { 'access-control-request-method': 'GET' } },
      403,
      'access_denied',
    );
    // A preflight does not open the real request.
    await refused({ method: 'DELETE', path: '/v1/acme/datasets/sales', headers: preflight }, 401, 'missing_credentials');
  });
});

test('with cors_preflight: false a preflight needs a credential like any request', async () => {
  const strict = await startGateway({
    upstreamPort: upstream.port,
    pluginConfig: {
      realm: REALM,
      providers: [{ name: 'idp', issuer: idp.issuer, audiences: [AUD], jwks: { inline: idp.jwks } }],
      cors_preflight: false,
    },
  });
  try {
    const preflight = { origin: 'https://app.e2e.test', 'access-control-request-method': 'GET' };
    const before = upstream.requests;
    const res = await request(strict.listenerPort, { method: 'OPTIONS', path: '/v1/acme/datasets/sales', headers: preflight });
    assert.equal(res.status, 401, res.body);
    assert.equal(errorCode(res), 'missing_credentials');
    assert.equal(upstream.requests, before);
    const withToken = bearer(idp.token({ sub: 'u', aud: AUD }), preflight);
    assert.equal((await request(strict.listenerPort, { method: 'OPTIONS', path: '/x', headers: withToken })).status, 200);
  } finally {
    await stopGateway(strict);
  }
});

