// DataPulse (shared/reference/004): `dp_live_…` keys with the permission levels read_only ⊂
// read_write ⊂ admin, per-key limits by plan (Starter 100/minute, Business 1,000, Enterprise up
// to 10k) answered 429 with Retry-After, and OAuth tokens (authorization code + PKCE) from
// auth.datapulse.ai with scopes such as `analytics:read pipelines:write`, found by discovery.
// The guide documents no error bodies: the profile keeps tokenwarden's default shape.

import { issuerFor } from '../e2e/lib/jwt.mjs';
import { profileJson } from './profile.mjs';

const KEYS = {
  starter: 'dp_live_8f3k29dQz81mLk0aP2',
  business: 'dp_live_etl5Vb7Nm2Qw9Er4Ty',
  enterprise: 'dp_live_ops1Zx3Cv5Bn7Ml9Kj',
};
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const AUD = 'https://api.datapulse.ai';

export default {
  name: 'DataPulse (shared/reference 004)',
  dir: 'datapulse',
  context: () => ({ auth: issuerFor('RS256', { issuer: 'https://auth.datapulse.ai', kid: 'dp-2026' }) }),
  documents: ({ auth }) => ({
    '/.well-known/openid-configuration': { issuer: auth.issuer, jwks_uri: `${auth.issuer}/.well-known/jwks.json` },
    '/.well-known/jwks.json': auth.jwks,
    '/keys.json': profileJson('datapulse', 'keys.json'),
  }),
  warmup: ({ auth }) => ({ path: '/v1/auth/verify', headers: bearer(auth.token({ aud: AUD, sub: 'warmup' })) }),
  cases: ({ auth }) => {
    const now = Math.floor(Date.now() / 1000);
    const token = (claims = {}) => bearer(auth.token({ aud: AUD, sub: 'analyst@acme.io', scope: 'analytics:read pipelines:write', ...claims }));
    return [
      {
        // First, while the Starter key's bucket is full.
        name: 'Starter: 100 requests a minute, then 429 with Retry-After',
        burst: { count: 105, limit: 100, windowMs: 60000, fresh: true },
        request: { path: '/v1/datasets/sales', headers: bearer(KEYS.starter) },
        expect: { status: 429, code: 'rate_limited', headers: { 'retry-after': /^[1-9]\d*$/, 'x-ratelimit-limit': '100' } },
      },
      { name: 'client.auth.verify() with a key', request: { path: '/v1/auth/verify', headers: bearer(KEYS.business) }, expect: { status: 200, upstream: { authorization: undefined, 'x-auth-credential': 'api_key' } } },
      { name: 'Business: 1,000 a minute', request: { path: '/v1/dashboards/revenue', headers: bearer(KEYS.business) }, expect: { status: 200, headers: { 'x-ratelimit-limit': '1000' } } },
      { name: 'Enterprise: 10k a minute', request: { path: '/v1/reports/q1', headers: bearer(KEYS.enterprise) }, expect: { status: 200, headers: { 'x-ratelimit-limit': '10000' } } },
      { name: 'read_write runs ETL pipelines', request: { method: 'POST', path: '/v1/pipelines/ingest/runs', headers: bearer(KEYS.business) }, expect: { status: 200 } },
      { name: 'read_write is no user manager', request: { path: '/v1/users', headers: bearer(KEYS.business) }, expect: { status: 403, code: 'insufficient_scope' } },
      { name: 'admin manages users', request: { method: 'POST', path: '/v1/users/invite', headers: bearer(KEYS.enterprise) }, expect: { status: 200 } },
      { name: 'the /auth/refresh endpoint needs no credential (the refresh token is in the body)', request: { method: 'POST', path: '/auth/refresh' }, expect: { status: 200 } },
      { name: 'an unknown key', request: { path: '/v1/datasets/sales', headers: bearer('dp_live_8f3k29dQz81mLk0aP3') }, expect: { status: 401, code: 'invalid_api_key' } },
      {
        name: 'an OAuth token with analytics:read pipelines:write reads and writes pipelines',
        request: { method: 'POST', path: '/v1/pipelines/ingest/runs', headers: token() },
        expect: { status: 200, upstream: { 'x-auth-sub': 'analyst@acme.io', 'x-auth-issuer': 'https://auth.datapulse.ai' } },
      },
      { name: 'an OAuth token with analytics:read only cannot write pipelines', request: { method: 'POST', path: '/v1/pipelines/ingest/runs', headers: token({ scope: 'analytics:read' }) }, expect: { status: 403, code: 'insufficient_scope' } },
      { name: 'an OAuth token past its 24 hours', request: { path: '/v1/datasets/sales', headers: token({ iat: now - 90000, exp: now - 3600 }) }, expect: { status: 401, code: 'expired_token' } },
      { name: 'a token claiming more than 24 hours of life', request: { path: '/v1/datasets/sales', headers: token({ iat: now, exp: now + 7 * 86400 }) }, expect: { status: 401, code: 'token_too_old' } },
    ];
  },
};
