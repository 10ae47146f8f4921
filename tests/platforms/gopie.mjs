// GoPie (shared/reference/000): sk_live_/sk_test_/pk_live_/rk_live_ keys issued before
// tokenwarden (imported by hash), RS256 tokens from auth.gopie.app for api.gopie.app, the
// organisation in `/v1/{org}/…` tied to the credential, denied_operations, roles per organisation
// and project, IP allow-lists, per-key rate limits, and the three documented error bodies.
// Public tokens (the guide's createPublicToken): the customer's backend mints them with the
// package's mintScopedToken (ES256, its own issuer, keys at its JWKS URL, the profile's second
// provider) within its grant; the edge holds them to their scopes, datasets and organisation.

import { hs256, issuerFor } from '../e2e/lib/jwt.mjs';
import { profileJson } from './profile.mjs';
import { generateSigningKey, mintScopedToken, publicJwk } from 'tokenwarden';

/** The customer's backend: its signing key and what GoPie lets it hand out (org acme). */
const BACKEND = {
  key: generateSigningKey('ES256', 'customer-backend-1'),
  issuer: 'https://app.customer.example',
  grant: { scopes: ['read:data', 'read:datasets', 'execute:queries.readonly'], datasets: ['public_data', 'sales'], maxTtl: 3600, claims: { org: 'acme' } },
};

/** A public token as the backend's POST /api/gopie-token mints it. */
function publicToken({ key = BACKEND.key, scopes = ['read:datasets'], datasets = ['public_data'] } = {}) {
  const token = mintScopedToken({ privateKey: key, issuer: BACKEND.issuer, audience: 'https://api.gopie.app', grant: BACKEND.grant, subject: 'visitor_9', scopes, datasets, expiresIn: 600 });
  return { authorization: `Bearer ${token}`, 'x-forwarded-for': '192.0.2.10' };
}

/** The demo keys of examples/platforms/gopie/keys.json (README, "Demo keys"). */
export const KEYS = {
  live: 'sk_live_abc123def456ghi789jkl012',
  test: 'sk_test_abc123def456ghi789jkl012',
  publishable: 'pk_live_abc123def456ghi789jkl012',
  dashboard: 'rk_live_abc123def456ghi789jkl012',
  trial: 'rk_live_trial7Qm2Vx9Lp4Rt8Wz3Kd6',
  office: 'rk_live_office5Hn8Jc2Fb7Gy1Ms4Qa',
  webEditor: 'rk_live_editor3Tw6Ue9Ri2Op5As8Df',
  globex: 'sk_live_globex9Zx8Cv7Bn6Nm5Lk4Jh3',
  revoked: 'sk_live_revoked1Qa2Ws3Ed4Rf5Tg6Yh',
  expired: 'sk_live_expired7Uj8Ik9Ol0Pz1Xs2Dc',
};

const INVALID_API_KEY = { error: { code: 'INVALID_API_KEY', message: 'The provided API key is invalid or has been revoked' } };
const INSUFFICIENT_PERMISSIONS = { error: { code: 'INSUFFICIENT_PERMISSIONS', message: "This API key doesn't have permission to access this dataset" } };
// The guide documents no body for a bad token (only "if (response.status === 401) … request new
// one"): the profile answers in the same shape with its own code.
const INVALID_TOKEN = { error: { code: 'INVALID_TOKEN', message: 'The provided token is invalid or has expired' } };

const key = (k, extra = {}) => ({ authorization: `Bearer ${k}`, 'x-forwarded-for': '192.0.2.10', ...extra });

export default {
  name: 'GoPie (shared/reference 000)',
  dir: 'gopie',
  context: () => ({ auth: issuerFor('RS256', { issuer: 'https://auth.gopie.app', kid: 'gopie-2026' }) }),
  documents: (ctx) => ({
    '/.well-known/jwks.json': ctx.auth.jwks,
    '/keys.json': profileJson('gopie', 'keys.json'),
    '/.well-known/tokenwarden-jwks.json': { keys: [publicJwk(BACKEND.key)] },
  }),
  warmup: () => ({ path: '/v1/acme/web/data', headers: key(KEYS.publishable) }),
  cases: ({ auth }) => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = (claims = {}) => ({
      authorization: `Bearer ${auth.token({ sub: 'user_42', aud: 'https://api.gopie.app', org: 'acme', scope: 'read:data', ...claims })}`,
      'x-forwarded-for': '192.0.2.10',
    });
    return [
      // API keys, each type of the guide's table.
      {
        name: 'a secret key (full access) reaches its organisation, in live mode',
        request: { path: '/v1/acme/web/data', headers: key(KEYS.live) },
        expect: { status: 200, upstream: { authorization: undefined, 'x-auth-credential': 'api_key', 'x-auth-env': 'live' } },
      },
      { name: 'a secret key can delete a dataset', request: { method: 'DELETE', path: '/v1/acme/web/datasets/sales', headers: key(KEYS.live) }, expect: { status: 200 } },
      {
        name: 'a test-environment key works, and the origin is told it is a test key',
        request: { path: '/v1/acme/web/data', headers: key(KEYS.test) },
        expect: { status: 200, upstream: { 'x-auth-env': 'test' } },
      },
      { name: 'a public key reads', request: { path: '/v1/acme/web/datasets/sales', headers: key(KEYS.publishable) }, expect: { status: 200 } },
      { name: 'a public key cannot write', request: { method: 'POST', path: '/v1/acme/web/data', headers: key(KEYS.publishable) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      {
        name: 'a restricted key (read:datasets, execute:queries on sales, customers) queries sales',
        request: { method: 'POST', path: '/v1/acme/web/datasets/sales/query', headers: key(KEYS.dashboard) },
        expect: { status: 200, upstream: { 'x-auth-dataset': 'sales' } },
      },
      {
        name: 'a restricted key outside its datasets: the documented 403',
        request: { path: '/v1/acme/web/datasets/finance', headers: key(KEYS.dashboard) },
        expect: { status: 403, body: INSUFFICIENT_PERMISSIONS },
      },
      {
        name: 'a restricted key with denied_operations delete:* cannot delete',
        request: { method: 'DELETE', path: '/v1/acme/web/datasets/sales', headers: key(KEYS.dashboard) },
        expect: { status: 403, body: INSUFFICIENT_PERMISSIONS },
      },
      // The documented 401.
      {
        name: 'a mistyped key: INVALID_API_KEY, with an RFC 6750 challenge',
        request: { path: '/v1/acme/web/data', headers: key(`${KEYS.live.slice(0, -1)}X`) },
        expect: { status: 401, body: INVALID_API_KEY, headers: { 'www-authenticate': /^Bearer realm="gopie", error="invalid_token"/ } },
      },
      { name: 'a revoked key: INVALID_API_KEY', request: { path: '/v1/acme/web/data', headers: key(KEYS.revoked) }, expect: { status: 401, body: INVALID_API_KEY } },
      { name: 'an expired temporary key: INVALID_API_KEY', request: { path: '/v1/acme/web/data', headers: key(KEYS.expired) }, expect: { status: 401, body: INVALID_API_KEY } },
      {
        name: 'no key at all: INVALID_API_KEY (the guide has one 401 for keys)',
        request: { path: '/v1/acme/web/data', headers: { 'x-forwarded-for': '192.0.2.10' } },
        expect: { status: 401, body: INVALID_API_KEY, headers: { 'www-authenticate': 'Bearer realm="gopie"' } },
      },
      // Tenancy: /v1/{org}/… is the credential's organisation.
      { name: "another organisation's data with an acme key", request: { path: '/v1/globex/web/data', headers: key(KEYS.live) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      { name: 'the globex key reaches globex', request: { path: '/v1/globex/web/data', headers: key(KEYS.globex) }, expect: { status: 200 } },
      { name: 'the globex key does not reach acme', request: { path: '/v1/acme/web/data', headers: key(KEYS.globex) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      // Roles per project: editor of acme/web only.
      { name: 'a project editor creates datasets in its project', request: { method: 'POST', path: '/v1/acme/web/datasets', headers: key(KEYS.webEditor) }, expect: { status: 200 } },
      { name: 'a project editor cannot create in another project', request: { method: 'POST', path: '/v1/acme/mobile/datasets', headers: key(KEYS.webEditor) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      { name: 'a project editor is no billing manager', request: { path: '/v1/acme/billing', headers: key(KEYS.webEditor) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      // IP allow-list: 203.0.113.0/24 and 198.51.100.14 (the guide's key_settings).
      { name: 'an allow-listed key from 203.0.113.7', request: { path: '/v1/acme/web/data', headers: key(KEYS.office, { 'x-forwarded-for': '203.0.113.7' }) }, expect: { status: 200 } },
      { name: 'an allow-listed key from 198.51.100.14', request: { path: '/v1/acme/web/data', headers: key(KEYS.office, { 'x-forwarded-for': '198.51.100.14' }) }, expect: { status: 200 } },
      {
        // The guide documents `deny_all_others` but no body for it.
        name: 'an allow-listed key from anywhere else',
        request: { path: '/v1/acme/web/data', headers: key(KEYS.office, { 'x-forwarded-for': '198.51.100.15' }) },
        expect: { status: 403, body: { error: { code: 'IP_NOT_ALLOWED', message: 'This API key cannot be used from this IP address' } } },
      },
      // Rate limits: `--rate-limit 1000/hour` per key; the trial key has 1/hour.
      {
        name: 'a 1000/hour key tells the client its budget',
        request: { path: '/v1/acme/web/data', headers: key(KEYS.live) },
        expect: { status: 200, headers: { 'x-ratelimit-limit': '1000' } },
      },
      { name: 'the trial key, first request of the hour', request: { path: '/v1/acme/web/data', headers: key(KEYS.trial) }, expect: { status: 200 } },
      {
        name: 'the trial key again: RATE_LIMITED, "Retry after 3600 seconds", the real Retry-After',
        request: { path: '/v1/acme/web/data', headers: key(KEYS.trial) },
        expect: {
          status: 429,
          headers: { 'retry-after': /^(3599|3600)$/ },
          body: (v) => ({ error: { code: 'RATE_LIMITED', message: `Rate limit exceeded. Retry after ${v.headers['retry-after']} seconds` } }),
        },
      },
      // RS256 tokens from auth.gopie.app (iss and aud as in the guide's verifyToken).
      {
        name: 'a token of the org reaches its data; the org reaches the origin',
        request: { path: '/v1/acme/web/data', headers: jwt() },
        expect: { status: 200, upstream: { 'x-auth-sub': 'user_42', 'x-gopie-org': 'acme', 'x-auth-credential': 'jwt' } },
      },
      { name: "a token for another org's path", request: { path: '/v1/globex/web/data', headers: jwt() }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      { name: 'an expired token: 401', request: { path: '/v1/acme/web/data', headers: jwt({ iat: now - 7200, exp: now - 3600 }) }, expect: { status: 401, body: INVALID_TOKEN } },
      { name: 'a token for another audience: 401', request: { path: '/v1/acme/web/data', headers: jwt({ aud: 'https://other.gopie.app' }) }, expect: { status: 401, body: INVALID_TOKEN } },
      {
        name: 'a token signed HS256 with the public key as secret (algorithm confusion): 401',
        request: {
          path: '/v1/acme/web/data',
          headers: {
            authorization: `Bearer ${hs256({ kid: auth.kid }, { iss: auth.issuer, aud: 'https://api.gopie.app', sub: 'user_42', org: 'acme', scope: 'read:data', exp: now + 600 }, auth.publicKey.export({ type: 'spki', format: 'pem' }))}`,
          },
        },
        expect: { status: 401, body: INVALID_TOKEN },
      },
      {
        name: 'a scoped token (read:datasets.sales) reads sales',
        request: { path: '/v1/acme/web/datasets/sales', headers: jwt({ scope: 'read:datasets.sales read:datasets.inventory execute:queries' }) },
        expect: { status: 200 },
      },
      {
        name: 'the scoped token cannot read finance',
        request: { path: '/v1/acme/web/datasets/finance', headers: jwt({ scope: 'read:datasets.sales read:datasets.inventory execute:queries' }) },
        expect: { status: 403, body: INSUFFICIENT_PERMISSIONS, headers: { 'www-authenticate': /error="insufficient_scope"/ } },
      },
      {
        name: 'denied_operations delete:* beats a delete scope',
        request: { method: 'DELETE', path: '/v1/acme/web/datasets/sales', headers: jwt({ scope: 'delete:datasets', denied_operations: ['delete:*', 'write:sensitive_data'] }) },
        expect: { status: 403, body: INSUFFICIENT_PERMISSIONS },
      },
      { name: 'an organisation admin (admin@org=acme) sees billing', request: { path: '/v1/acme/billing', headers: jwt({ scope: '', roles: ['admin@org=acme'] }) }, expect: { status: 200 } },
      {
        name: 'an organisation admin reaches every project of acme (all:projects): reads, writes, deletes',
        request: { method: 'DELETE', path: '/v1/acme/mobile/datasets/old', headers: jwt({ scope: '', roles: ['admin@org=acme'] }) },
        expect: { status: 200 },
      },
      { name: 'an organisation admin writes data', request: { method: 'POST', path: '/v1/acme/web/data', headers: jwt({ scope: '', roles: ['admin@org=acme'] }) }, expect: { status: 200 } },
      { name: 'an organisation admin of acme is nothing in globex', request: { path: '/v1/globex/billing', headers: jwt({ scope: '', org: 'globex', roles: ['admin@org=acme'] }) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      {
        name: 'a project viewer (viewer@project=web) runs read-only queries only there',
        request: { path: '/v1/acme/web/datasets/sales', headers: jwt({ scope: '', roles: ['viewer@project=web'] }) },
        expect: { status: 200 },
      },
      { name: 'the project viewer elsewhere', request: { path: '/v1/acme/mobile/datasets/sales', headers: jwt({ scope: '', roles: ['viewer@project=web'] }) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      // Public tokens from the customer's backend (createPublicToken).
      {
        name: 'a public token (read:datasets, datasets [public_data]) reads public_data; its org reaches the origin',
        request: { path: '/v1/acme/web/datasets/public_data', headers: publicToken() },
        expect: { status: 200, upstream: { 'x-auth-sub': 'visitor_9', 'x-gopie-org': 'acme', 'x-auth-credential': 'jwt' } },
      },
      {
        name: 'the public token cannot read sales: read:datasets covers it, its datasets do not',
        request: { path: '/v1/acme/web/datasets/sales', headers: publicToken() },
        expect: { status: 403, body: INSUFFICIENT_PERMISSIONS },
      },
      { name: 'the public token cannot write data', request: { method: 'POST', path: '/v1/acme/web/data', headers: publicToken() }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      { name: 'a read-only query token cannot run a full query', request: { method: 'POST', path: '/v1/acme/web/datasets/public_data/query', headers: publicToken({ scopes: ['execute:queries.readonly'] }) }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      { name: "the public token stays in the backend's organisation", request: { path: '/v1/globex/web/datasets/public_data', headers: publicToken() }, expect: { status: 403, body: INSUFFICIENT_PERMISSIONS } },
      {
        name: "a token in the backend's issuer signed with another key: 401",
        request: { path: '/v1/acme/web/datasets/public_data', headers: publicToken({ key: generateSigningKey('ES256', 'customer-backend-1') }) },
        expect: { status: 401, body: INVALID_TOKEN },
      },
    ];
  },
};
