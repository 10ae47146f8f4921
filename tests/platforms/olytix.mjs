// Olytix Core (shared/reference/003): `olytix-core_key_…` keys in the Authorization header or as
// `?api_key=`, scopes read / write / admin, HS256 tokens from its own login endpoint (which, with
// the refresh endpoint, needs no credential), and UNAUTHORIZED / FORBIDDEN for every 401 and 403.

import { hs256 } from '../e2e/lib/jwt.mjs';
import { profileJson } from './profile.mjs';

const KEYS = {
  read: 'olytix-core_key_abc123xyz789',
  full: 'olytix-core_key_full4Rw8Ty2Ui6',
  expired: 'olytix-core_key_expired9Gh3Jk',
};
const UNAUTHORIZED = { error: { code: 'UNAUTHORIZED', message: 'Invalid or missing authentication' } };
const FORBIDDEN = { error: { code: 'FORBIDDEN', message: 'Insufficient permissions for this resource' } };

const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** An access token as /api/v1/auth/token answers it: HS256, an hour (`expires_in: 3600`). */
function tokenOf({ kid, secret }, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  return hs256({ kid }, { sub: 'user@company.com', iat: now, exp: now + 3600, ...claims }, secret);
}

export default {
  name: 'Olytix Core (shared/reference 003)',
  dir: 'olytix',
  context: () => {
    const jwk = profileJson('olytix', 'gateway.json').providers[0].jwks.inline.keys[0];
    return { kid: jwk.kid, secret: Buffer.from(jwk.k, 'base64url') };
  },
  documents: () => ({ '/internal/api-keys.json': profileJson('olytix', 'keys.json') }),
  warmup: () => ({ method: 'POST', path: '/api/v1/query', headers: bearer(KEYS.read) }),
  cases: (ctx) => {
    const now = Math.floor(Date.now() / 1000);
    const token = (claims) => tokenOf(ctx, claims);
    return [
      {
        name: 'a key in the Authorization header (recommended) queries',
        request: { method: 'POST', path: '/api/v1/query', headers: { ...bearer(KEYS.read), 'content-type': 'application/json' } },
        expect: { status: 200, upstream: { authorization: undefined, 'x-auth-scopes': 'read' } },
      },
      {
        name: 'a key as ?api_key= queries, and the key does not reach the origin',
        request: { path: `/api/v1/query?api_key=${KEYS.read}` },
        expect: { status: 200, url: '/api/v1/query' },
      },
      { name: 'a read key reads metadata', request: { path: '/api/v1/metadata/metrics/monthly_revenue', headers: bearer(KEYS.read) }, expect: { status: 200 } },
      { name: 'a read key cannot modify definitions: FORBIDDEN', request: { method: 'PUT', path: '/api/v1/models/orders', headers: bearer(KEYS.read) }, expect: { status: 403, body: FORBIDDEN } },
      { name: 'a read key cannot reach security: FORBIDDEN', request: { path: '/api/v1/security/users', headers: bearer(KEYS.read) }, expect: { status: 403, body: FORBIDDEN } },
      { name: 'a read,write,admin key runs models', request: { method: 'POST', path: '/api/v1/models/orders/run', headers: bearer(KEYS.full) }, expect: { status: 200 } },
      { name: 'a read,write,admin key reaches security', request: { path: '/api/v1/security/users', headers: bearer(KEYS.full) }, expect: { status: 200 } },
      {
        name: 'a missing Authorization header: UNAUTHORIZED',
        request: { method: 'POST', path: '/api/v1/query' },
        expect: { status: 401, body: UNAUTHORIZED, headers: { 'www-authenticate': 'Bearer realm="olytix-core"' } },
      },
      { name: 'an invalid API key: UNAUTHORIZED', request: { method: 'POST', path: '/api/v1/query', headers: bearer('olytix-core_key_doesnotexist1') }, expect: { status: 401, body: UNAUTHORIZED } },
      { name: 'an invalid key as ?api_key=: UNAUTHORIZED', request: { path: '/api/v1/query?api_key=olytix-core_key_doesnotexist1' }, expect: { status: 401, body: UNAUTHORIZED } },
      { name: 'an expired key (created --expires 365d a year ago): UNAUTHORIZED', request: { method: 'POST', path: '/api/v1/query', headers: bearer(KEYS.expired) }, expect: { status: 401, body: UNAUTHORIZED } },
      { name: 'the login endpoint needs no credential', request: { method: 'POST', path: '/api/v1/auth/token' }, expect: { status: 200 } },
      { name: 'the refresh endpoint needs no credential', request: { method: 'POST', path: '/api/v1/auth/refresh' }, expect: { status: 200 } },
      { name: 'a token from login with scope read queries', request: { method: 'POST', path: '/api/v1/query', headers: bearer(token({ scope: 'read' })) }, expect: { status: 200, upstream: { 'x-auth-sub': 'user@company.com' } } },
      { name: 'an expired token: UNAUTHORIZED', request: { method: 'POST', path: '/api/v1/query', headers: bearer(token({ iat: now - 7200, exp: now - 3600 })) }, expect: { status: 401, body: UNAUTHORIZED } },
      { name: 'a user with the admin role reaches security', request: { path: '/api/v1/security/users', headers: bearer(token({ roles: ['admin'] })) }, expect: { status: 200 } },
      { name: 'a user lacking the required role: FORBIDDEN', request: { path: '/api/v1/security/users', headers: bearer(token({ roles: ['reader'] })) }, expect: { status: 403, body: FORBIDDEN } },
    ];
  },
};
