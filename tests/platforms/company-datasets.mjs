// The company datasets API (shared/reference/001): long-lived HS256 JWTs that customers create
// and delete in the UI as "API keys", sent as `Authorization: Bearer`, for
// `GET /api/v1/companies/{company_id}/datasets/`; every invalid or expired token answers the
// documented error-list body. A deleted key is on the revoked-tokens list the gateway polls.

import { hs256 } from '../e2e/lib/jwt.mjs';
import { profileJson } from './profile.mjs';

const INVALID = { type: 'client_error', errors: [{ code: 'invalid_token', detail: 'The provided token is expired or invalid.', attr: null, extra: null }] };
// The guide shows no body for these two; they are what the error-list shape (drf-standardized-
// errors) answers for them in Django REST framework's words.
const NOT_AUTHENTICATED = { type: 'client_error', errors: [{ code: 'not_authenticated', detail: 'Authentication credentials were not provided.', attr: null, extra: null }] };
const PERMISSION_DENIED = { type: 'client_error', errors: [{ code: 'permission_denied', detail: 'You do not have permission to perform this action.', attr: null, extra: null }] };

const datasets = (company = 'c-123') => `/api/v1/companies/${company}/datasets/`;
const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** A token as the platform's UI creates one: 90 days, a `jti` per key, the company. */
function tokenOf({ kid, secret }, claims = {}, s = secret) {
  const now = Math.floor(Date.now() / 1000);
  return hs256({ kid }, { sub: 'user_7', company_id: 'c-123', jti: 'key-1', iat: now - 86400, exp: now + 90 * 86400, ...claims }, s);
}

export default {
  name: 'company datasets API (shared/reference 001)',
  dir: 'company-datasets',
  context: () => {
    const jwk = profileJson('company-datasets', 'gateway.json').providers[0].jwks.inline.keys[0];
    return { kid: jwk.kid, secret: Buffer.from(jwk.k, 'base64url') };
  },
  documents: () => ({ '/internal/revoked-tokens.json': { version: 1, jti: ['key-deleted-in-ui'], subjects: [] } }),
  // A deleted key is refused only once the list is loaded: wait for it.
  warmup: (ctx) => ({ path: datasets(), headers: bearer(tokenOf(ctx)) }),
  cases: (ctx) => {
    const now = Math.floor(Date.now() / 1000);
    const token = (claims, s) => tokenOf(ctx, claims, s);
    return [
      {
        name: 'a long-lived token lists its company datasets (the trailing slash kept)',
        request: { path: datasets(), headers: bearer(token()) },
        expect: { status: 200, url: datasets(), upstream: { 'x-company-id': 'c-123', 'x-auth-sub': 'user_7', authorization: undefined } },
      },
      { name: 'a numeric company id in the token', request: { path: datasets('4711'), headers: bearer(token({ company_id: 4711 })) }, expect: { status: 200 } },
      { name: "another company's datasets", request: { path: datasets('c-999'), headers: bearer(token()) }, expect: { status: 403, body: PERMISSION_DENIED } },
      {
        name: 'an expired token: the documented body',
        request: { path: datasets(), headers: bearer(token({ exp: now - 60 })) },
        expect: { status: 401, body: INVALID, headers: { 'www-authenticate': /^Bearer realm="company-api", error="invalid_token"/ } },
      },
      { name: 'a token signed with another secret: the documented body', request: { path: datasets(), headers: bearer(token({}, Buffer.alloc(32, 7))) }, expect: { status: 401, body: INVALID } },
      { name: 'a value that is no token: the documented body', request: { path: datasets(), headers: bearer('not-a-token') }, expect: { status: 401, body: INVALID } },
      { name: 'a key deleted in the UI (its jti revoked): the documented body', request: { path: datasets(), headers: bearer(token({ jti: 'key-deleted-in-ui' })) }, expect: { status: 401, body: INVALID } },
      { name: 'a token without company_id: the documented body', request: { path: datasets(), headers: bearer(token({ company_id: undefined })) }, expect: { status: 401, body: INVALID } },
      { name: 'no token', request: { path: datasets() }, expect: { status: 401, body: NOT_AUTHENTICATED, headers: { 'www-authenticate': 'Bearer realm="company-api"' } } },
      { name: 'a path of no company', request: { path: '/api/v1/admin/', headers: bearer(token()) }, expect: { status: 403, body: PERMISSION_DENIED } },
    ];
  },
};
