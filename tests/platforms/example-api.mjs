// The generic API guide (shared/reference/002): sk_live_/sk_test_ keys as Bearer tokens, HS256
// JWTs without `iss` or `aud` carrying a `scope` string ("read write"), and typed error bodies
// (`invalid_api_key` also for a missing key, `expired_token`, `insufficient_scope`,
// `rate_limit_exceeded`).

import { hs256 } from '../e2e/lib/jwt.mjs';
import { profileJson } from './profile.mjs';

const KEYS = {
  live: 'sk_live_1234567890abcdef',
  test: 'sk_test_1234567890abcdef',
  readOnly: 'sk_live_readonly7Hq2Lm9Xc4',
  revoked: 'sk_live_revoked3Nw8Pz1Kd6',
};
const typed = (type, code, message) => ({ error: { type, code, message } });
const INVALID_API_KEY = typed('authentication_error', 'invalid_api_key', 'The API key provided is invalid');
// The guide lists these codes with a description and no body: the typed shape with the
// description as the message, and the `type` its authentication example uses (or the usual
// permission_error / rate_limit_error for 403 and 429).
const EXPIRED_TOKEN = typed('authentication_error', 'expired_token', 'Access token has expired');
const INSUFFICIENT_SCOPE = typed('permission_error', 'insufficient_scope', "Token doesn't have required permissions");
const RATE_LIMITED = typed('rate_limit_error', 'rate_limit_exceeded', 'Too many requests made');

const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** A token shaped as the guide's JWT structure: HS256, sub, iat, exp, scope; no iss, no aud. */
function tokenOf({ kid, secret }, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  return hs256({ kid }, { sub: 'user_123', iat: now, exp: now + 86400, scope: 'read write', ...claims }, secret);
}

export default {
  name: 'generic API guide (shared/reference 002)',
  dir: 'example-api',
  context: () => {
    const jwk = profileJson('example-api', 'gateway.json').providers[0].jwks.inline.keys[0];
    return { kid: jwk.kid, secret: Buffer.from(jwk.k, 'base64url') };
  },
  documents: () => ({ '/keys.json': profileJson('example-api', 'keys.json') }),
  warmup: () => ({ path: '/v1/users', headers: bearer(KEYS.test) }),
  cases: (ctx) => {
    const now = Math.floor(Date.now() / 1000);
    const token = (claims) => tokenOf(ctx, claims);
    return [
      { name: 'a live key (the curl example)', request: { path: '/v1/users', headers: bearer(KEYS.live) }, expect: { status: 200, upstream: { 'x-auth-env': 'live', authorization: undefined } } },
      { name: 'a test key reaches the same API in sandbox mode', request: { path: '/v1/users', headers: bearer(KEYS.test) }, expect: { status: 200, upstream: { 'x-auth-env': 'test' } } },
      {
        name: 'an invalid key: the documented body',
        request: { path: '/v1/users', headers: bearer('sk_live_0000000000000000') },
        expect: { status: 401, body: INVALID_API_KEY, headers: { 'www-authenticate': /^Bearer realm="api.example.com", error="invalid_token"/ } },
      },
      { name: 'a missing key: invalid_api_key too ("API key is missing or invalid")', request: { path: '/v1/users' }, expect: { status: 401, body: INVALID_API_KEY } },
      { name: 'a revoked key: invalid_api_key', request: { path: '/v1/users', headers: bearer(KEYS.revoked) }, expect: { status: 401, body: INVALID_API_KEY } },
      { name: 'a read-only key reads', request: { path: '/v1/users/42', headers: bearer(KEYS.readOnly) }, expect: { status: 200 } },
      { name: 'a read-only key cannot write', request: { method: 'POST', path: '/v1/users', headers: bearer(KEYS.readOnly) }, expect: { status: 403, body: INSUFFICIENT_SCOPE } },
      {
        name: 'a JWT with scope "read write" and no iss or aud reads',
        request: { path: '/v1/users', headers: bearer(token()) },
        expect: { status: 200, upstream: { 'x-auth-sub': 'user_123', 'x-auth-scopes': 'read write' } },
      },
      { name: 'the same JWT writes', request: { method: 'POST', path: '/v1/users', headers: bearer(token()) }, expect: { status: 200 } },
      { name: 'a JWT with scope "read" cannot write: insufficient_scope', request: { method: 'POST', path: '/v1/users', headers: bearer(token({ scope: 'read' })) }, expect: { status: 403, body: INSUFFICIENT_SCOPE, headers: { 'www-authenticate': /error="insufficient_scope".*scope="write:users"/ } } },
      { name: 'an expired JWT: expired_token', request: { path: '/v1/users', headers: bearer(token({ iat: now - 90000, exp: now - 3600 })) }, expect: { status: 401, body: EXPIRED_TOKEN } },
      {
        name: 'over 100 requests a minute: rate_limit_exceeded with Retry-After',
        burst: { count: 110, limit: 100, windowMs: 60000 },
        request: { path: '/v1/users', headers: bearer(KEYS.live) },
        expect: { status: 429, body: RATE_LIMITED, headers: { 'retry-after': /^\d+$/ } },
      },
    ];
  },
};
