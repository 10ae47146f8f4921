// The conformance table: one gateway configuration per group, and per case a request with the
// answer both edges must give — status, body error code, selected response headers, and for a
// forwarded request what reached the origin (`upstream`: header → value, null = absent; `url`).
// conformance.test.mjs runs every case against Envoy + the filter and workerd + the Worker and
// also requires the two answers to be identical.
//
// Requests: { method = GET, path = '/', headers }. Every request also carries
// `cf-connecting-ip: 127.0.0.1`, so the Worker's client address (CF-Connecting-IP) is Envoy's
// TCP peer; cases about addresses configure `client_ip.header: x-client-ip`, read by both.
// Cases of a group run in order (rate-limit buckets carry over), each on both edges at once.
//
// Remote documents are served by the suite on 127.0.0.1: each remote source names an Envoy
// cluster (`docs`, `introspection`, `dead`) and the Worker's URL for the same server, so one
// configuration serves both hosts. `config(ports)` receives those servers' ports.

import { createHash } from 'node:crypto';

import { es256Issuer, issuerFor } from '../e2e/lib/jwt.mjs';

export const AUD = 'https://api.conformance.test';
const now = () => Math.floor(Date.now() / 1000);

export const idp = es256Issuer({ issuer: 'https://idp.conformance.test', kid: 'c-1' });
/** Same issuer, a key the JWKS does not have. */
const stranger = es256Issuer({ issuer: 'https://idp.conformance.test', kid: 'c-unknown' });
/** Same kid and issuer as `idp`, another key: its signatures do not verify. */
const forger = es256Issuer({ issuer: 'https://idp.conformance.test', kid: 'c-1' });
/** HS256 with a shared secret and no issuer in its tokens (shared/reference 002). */
const legacy = issuerFor('HS256', { kid: 'legacy-1' });
const legacyForger = issuerFor('HS256', { kid: 'legacy-1' });
/** A strict provider: typ at+jwt, a required claim, a short maximum lifetime. */
export const strict = es256Issuer({ issuer: 'https://strict.conformance.test', kid: 's-1' });
export const remoteIdp = es256Issuer({ issuer: 'https://remote.conformance.test', kid: 'r-1' });
export const discIdp = es256Issuer({ issuer: 'https://disc.conformance.test', kid: 'd-1' });

/** `Authorization: Bearer` with a token of `issuer` (aud, sub and an hour of validity by default). */
const bearer = (issuer, claims = {}, header = {}) => ({
  authorization: `Bearer ${issuer.token({ sub: 'user-1', aud: AUD, ...claims }, header)}`,
});

// API keys made by `tokenwarden keys create` for this table only; stores hold their SHA-256.
export const KEYS = {
  plain: 'sk_live_lp30IhnkLkWYLLDKAEgoyleJO8SlBb1F1FtUWe',
  revoked: 'sk_live_y5zs38m311lnZA4Sa3SnfPv1MLQ2x9af4Y6TGM',
  expired: 'sk_live_oMuG2AkXkpWTQvEMgR9CHX7i8AKZsGpY0lRs4y',
  pinned: 'sk_live_srvcVDZWvFj7ee1gQIQNrWk4J9PsuBRG2EYsHR',
  limited: 'sk_live_tplaPQrFmUcNSD7Z41J7fK9ZIKd7H8BX0BABNR',
  restricted: 'rk_live_ky31ejrF0VTolpfo0mAsAuV31PUCYqIl4EMPAb',
  publishable: 'pk_live_se0vnVliGqpbLnxgl5C6QBauZ5xRKF7O3naDVG',
  test: 'sk_test_YysU845z4ALSc1e1yGlyTlDwHOx40I1F09UYi4',
  // `--type rk --env live --prefix dp_live_`: valid only where `api_keys.prefixes` names dp_live_.
  custom: 'dp_live_utkRPdrAzhdFAyEGu6HeztViGwEGCb5q4LoklJ',
};
/** Well-formed (valid checksum) but in no store. */
const UNKNOWN_KEY = 'sk_live_2Z37W8lEezk5AQv122CN5ey24L2Y9ew12EuJDe';
/** The last character changed: the checksum fails. */
const BAD_CHECKSUM = `${KEYS.plain.slice(0, -1)}${KEYS.plain.endsWith('a') ? 'b' : 'a'}`;

const record = (name, fields = {}) => {
  const key = KEYS[name];
  const [type, env] = key.split('_');
  return {
    id: `key_${name}`,
    name,
    type,
    env,
    display_prefix: key.slice(0, 12),
    hash: `sha256:${createHash('sha256').update(key).digest('hex')}`,
    permissions: [],
    datasets: [],
    expires_at: null,
    revoked: false,
    revoked_at: null,
    allowed_ips: [],
    rate_limit: null,
    created_at: 1735689600,
    rotated_from: null,
    roles: [],
    ...fields,
  };
};

/**
 * Keys the platforms issued before tokenwarden, in their own formats (shared/reference 000, 003,
 * 004): imported by hash (`tokenwarden keys import`), accepted where a prefix says so.
 */
const IMPORTED = {
  gopie: 'sk_live_abc123def456ghi789',
  datapulse: 'dp_live_8f3k29dQz81mLk0aP2',
  olytix: 'olytix-core_key_abc123xyz789',
};
const importedRecord = (name, prefix, type, fields = {}) => ({
  ...record('plain'),
  id: `key_${name}`,
  name,
  type,
  display_prefix: `${prefix}****`,
  hash: `sha256:${createHash('sha256').update(IMPORTED[name]).digest('hex')}`,
  ...fields,
});

export const keyStore = () => ({
  version: 1,
  keys: [
    record('plain', { permissions: ['read:datasets'] }),
    record('revoked', { revoked: true, revoked_at: 1735689700 }),
    record('expired', { expires_at: 1735689700 }),
    record('pinned', { allowed_ips: ['203.0.113.0/24'], permissions: ['read:datasets'] }),
    record('limited', { rate_limit: '2/minute' }),
    record('restricted', { permissions: ['read:datasets'], datasets: ['sales'] }),
    record('publishable', { permissions: ['read:datasets.public'] }),
    record('test'),
    record('custom', { type: 'rk', permissions: ['read:datasets'] }),
  ],
});

/**
 * The key service of lookup-on-miss API keys: `GET /v1/keys/<sha256 hex>` answers the record of
 * `keyStore()` with that hash, or 404; the `pinned` key's lookup fails (500) and the
 * `publishable` key's answers the record of another key.
 */
export const keyService = (url) => {
  const hash = /^\/v1\/keys\/([0-9a-f]{64})$/.exec(url)?.[1];
  const of = (name) => `sha256:${createHash('sha256').update(KEYS[name]).digest('hex')}`;
  if (!hash) return { status: 400 };
  if (`sha256:${hash}` === of('pinned')) return { status: 500 };
  const wanted = `sha256:${hash}` === of('publishable') ? of('plain') : `sha256:${hash}`;
  const record = keyStore().keys.find((k) => k.hash === wanted);
  return record ? { status: 200, record } : { status: 404 };
};

const provider = (name, issuer, extra = {}) => ({
  name,
  issuer: issuer.issuer,
  audiences: [AUD],
  algorithms: ['ES256'],
  jwks: { inline: issuer.jwks },
  ...extra,
});

/** A remote source for both hosts: Envoy's cluster + path, the Worker's URL of the same server. */
const remote = (cluster, port, path, extra = {}) => ({
  cluster,
  path,
  url: `http://127.0.0.1:${port}`,
  timeout_ms: 1000,
  ...extra,
});

const policy = {
  unmatched: 'deny',
  roles: { analyst: { inherits: ['viewer'], permissions: ['execute:queries'] } },
  rules: [
    { name: 'health', method: 'GET', path: '/health', anonymous: true },
    { name: 'datasets-read', method: 'GET', path: '/v1/{org}/datasets/{dataset}', require: ['read:datasets.{dataset}'] },
    { name: 'queries', method: 'POST', path: '/v1/{org}/queries', require: ['execute:queries'] },
    { name: 'billing', method: 'GET', path: '/v1/{org}/billing', require: ['manage:billing'] },
  ],
};

const FORGED = { 'x-auth-sub': 'admin', 'x-auth-key-id': 'key_forged', 'x-auth-scopes': '*', 'x-auth-rule': 'forged', 'x-auth-org': 'forged' };
const past = () => now() - 7200;

/** Tokens reused by ordered cases (the same credential must hit the same bucket). */
const tokens = {
  a: bearer(idp, { sub: 'limit-a' }).authorization,
  b: bearer(idp, { sub: 'limit-b' }).authorization,
};

export const groups = [
  {
    name: 'JWT verification and the Authorization header',
    config: () => ({
      realm: 'conformance',
      providers: [
        provider('idp', idp, { claim_headers: { org: 'x-auth-org' } }),
        provider('strict', strict, { typ: 'at+jwt', required_claims: ['tenant'], max_lifetime: 3600 }),
      ],
    }),
    cases: [
      { name: 'no credential', expect: { status: 401, code: 'missing_credentials', headers: { 'www-authenticate': 'Bearer realm="conformance"' } } },
      {
        name: 'a valid token reaches the origin with the verified identity',
        request: { path: '/items?x=1', headers: bearer(idp, { sub: 'user-42', scope: 'read:items write:items', org: 'acme' }) },
        expect: {
          status: 200,
          upstream: { 'x-auth-sub': 'user-42', 'x-auth-scopes': 'read:items write:items', 'x-auth-issuer': idp.issuer, 'x-auth-credential': 'jwt', 'x-auth-org': 'acme', 'x-auth-key-id': null },
          url: '/items?x=1',
        },
      },
      {
        name: 'forged identity headers are replaced or removed',
        request: { headers: { ...bearer(idp, { sub: 'user-42' }), ...FORGED } },
        expect: { status: 200, upstream: { 'x-auth-sub': 'user-42', 'x-auth-key-id': null, 'x-auth-scopes': '', 'x-auth-rule': null, 'x-auth-org': null } },
      },
      { name: 'the token is forwarded by default', request: { headers: bearer(idp) }, expect: { status: 200, upstreamHas: ['authorization'] } },
      { name: 'the scheme is case-insensitive', request: { headers: { authorization: bearer(idp).authorization.replace('Bearer', 'bEaReR') } }, expect: { status: 200 } },
      { name: 'an expired token', request: { headers: bearer(idp, { iat: past(), exp: past() + 60 }) }, expect: { status: 401, code: 'expired_token', headers: { 'www-authenticate': /^Bearer realm="conformance", error="invalid_token"/ } } },
      { name: 'a token not valid yet', request: { headers: bearer(idp, { nbf: now() + 3600 }) }, expect: { status: 401, code: 'token_not_yet_valid' } },
      { name: 'another audience', request: { headers: bearer(idp, { aud: 'https://other.test' }) }, expect: { status: 401, code: 'invalid_audience' } },
      { name: 'no audience', request: { headers: bearer(idp, { aud: undefined }) }, expect: { status: 401, code: 'invalid_audience' } },
      { name: 'an unknown issuer', request: { headers: bearer(es256Issuer({ issuer: 'https://evil.test' })) }, expect: { status: 401, code: 'invalid_issuer' } },
      { name: 'a signature by another key with the same kid', request: { headers: bearer(forger) }, expect: { status: 401, code: 'invalid_signature' } },
      {
        name: 'a tampered payload',
        request: { headers: { authorization: (() => { const [h, , s] = idp.token({ sub: 'u', aud: AUD }).split('.'); return `Bearer ${h}.${Buffer.from(JSON.stringify({ iss: idp.issuer, sub: 'admin', aud: AUD, exp: now() + 600 })).toString('base64url')}.${s}`; })() } },
        expect: { status: 401, code: 'invalid_signature' },
      },
      { name: 'an unknown kid (inline keys: nothing to refetch)', request: { headers: bearer(stranger) }, expect: { status: 401, code: 'unknown_key' } },
      { name: 'an algorithm the provider does not allow', request: { headers: bearer(idp, {}, { alg: 'HS256' }) }, expect: { status: 401, code: 'unsupported_algorithm' } },
      { name: 'alg none', request: { headers: bearer(idp, {}, { alg: 'none' }) }, expect: { status: 401, code: 'unsupported_algorithm' } },
      { name: 'a JWT-shaped value that does not parse', request: { headers: { authorization: 'Bearer eyJub3Q.anNvbg.c2ln' } }, expect: { status: 401, code: 'malformed_token' } },
      { name: 'an opaque value without introspection or API keys', request: { headers: { authorization: 'Bearer opaque-value' } }, expect: { status: 401, code: 'malformed_token' } },
      { name: 'a token over 16 KiB', request: { headers: { authorization: `Bearer eyJ${'a'.repeat(17000)}.e30.c2ln` } }, expect: { status: 401, code: 'token_too_large' } },
      { name: 'a wrong typ', request: { headers: bearer(strict, { tenant: 't1' }) }, expect: { status: 401, code: 'invalid_token_type' } },
      { name: 'a missing required claim', request: { headers: bearer(strict, {}, { typ: 'at+jwt' }) }, expect: { status: 401, code: 'invalid_claim' } },
      { name: 'a lifetime over max_lifetime', request: { headers: bearer(strict, { tenant: 't1', exp: now() + 7200 }, { typ: 'at+jwt' }) }, expect: { status: 401, code: 'token_too_old' } },
      { name: 'the strict provider accepts a conforming token', request: { headers: bearer(strict, { tenant: 't1', exp: now() + 600 }, { typ: 'at+jwt' }) }, expect: { status: 200, upstream: { 'x-auth-issuer': strict.issuer } } },
      { name: 'Bearer without a token', request: { headers: { authorization: 'Bearer' } }, expect: { status: 400, code: 'invalid_request' } },
      { name: 'Bearer with two tokens', request: { headers: { authorization: 'Bearer a b' } }, expect: { status: 400, code: 'invalid_request' } },
      { name: 'the Authorization header twice', request: { headers: { authorization: [bearer(idp).authorization, bearer(idp).authorization] } }, expect: { status: 400, code: 'invalid_request' } },
      { name: 'another scheme is no credential', request: { headers: { authorization: 'Basic dXNlcjpwYXNz' } }, expect: { status: 401, code: 'missing_credentials' } },
    ],
  },
  {
    name: 'credential sources, API keys and stripping',
    config: () => ({
      providers: [provider('idp', idp)],
      api_keys: { store: { inline: keyStore() }, prefixes: [{ prefix: 'dp_live_', type: 'rk', env: 'live' }] },
      sources: [
        { type: 'bearer' },
        { type: 'header', name: 'x-api-key' },
        { type: 'cookie', name: 'tw_session' },
        { type: 'query', name: 'api_key' },
      ],
      strip_credential: true,
    }),
    cases: [
      {
        name: 'an API key in its header, stripped before the origin',
        request: { headers: { 'x-api-key': KEYS.plain, 'x-other': 'kept' } },
        expect: { status: 200, upstream: { 'x-api-key': null, 'x-other': 'kept', 'x-auth-key-id': 'key_plain', 'x-auth-credential': 'api_key', 'x-auth-scopes': 'read:datasets', 'x-auth-sub': null } },
      },
      { name: 'an API key as a Bearer token, stripped', request: { headers: { authorization: `Bearer ${KEYS.plain}` } }, expect: { status: 200, upstream: { authorization: null, 'x-auth-key-id': 'key_plain' } } },
      { name: 'an API key in the query, removed from the forwarded URL', request: { path: `/items?api_key=${KEYS.plain}&page=2` }, expect: { status: 200, url: '/items?page=2', upstream: { 'x-auth-key-id': 'key_plain' } } },
      { name: 'the query key alone leaves no query', request: { path: `/items?api_key=${KEYS.plain}` }, expect: { status: 200, url: '/items' } },
      { name: 'a JWT in the cookie', request: { headers: { cookie: `theme=dark; tw_session=${idp.token({ sub: 'cookie-user', aud: AUD })}` } }, expect: { status: 200, upstream: { 'x-auth-sub': 'cookie-user', 'x-auth-credential': 'jwt' } } },
      { name: 'a JWT as Bearer, stripped', request: { headers: bearer(idp, { sub: 'u-9' }) }, expect: { status: 200, upstream: { authorization: null, 'x-auth-sub': 'u-9' } } },
      { name: 'a restricted (rk_) key', request: { headers: { 'x-api-key': KEYS.restricted } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_restricted' } } },
      { name: 'a publishable (pk_) key', request: { headers: { 'x-api-key': KEYS.publishable } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_publishable' } } },
      { name: 'a key with a configured custom prefix', request: { headers: { 'x-api-key': KEYS.custom } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_custom', 'x-auth-credential': 'api_key' } } },
      { name: 'two different credentials', request: { headers: { ...bearer(idp), 'x-api-key': KEYS.plain } }, expect: { status: 400, code: 'invalid_request' } },
      { name: 'the same key in two places is one credential', request: { path: `/items?api_key=${KEYS.plain}`, headers: { 'x-api-key': KEYS.plain } }, expect: { status: 200 } },
      { name: 'a key with a bad checksum', request: { headers: { 'x-api-key': BAD_CHECKSUM } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a well-formed key in no store', request: { headers: { 'x-api-key': UNKNOWN_KEY } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a revoked key', request: { headers: { 'x-api-key': KEYS.revoked } }, expect: { status: 401, code: 'revoked_api_key' } },
      { name: 'an expired key', request: { headers: { 'x-api-key': KEYS.expired } }, expect: { status: 401, code: 'expired_api_key' } },
      { name: 'a test key in a live deployment', request: { headers: { 'x-api-key': KEYS.test } }, expect: { status: 401, code: 'wrong_environment' } },
      { name: 'an opaque value with API keys configured', request: { headers: { 'x-api-key': 'not-a-key' } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'an empty key header is no credential', request: { headers: { 'x-api-key': ' ' } }, expect: { status: 401, code: 'missing_credentials' } },
      { name: 'an unknown cookie is no credential', request: { headers: { cookie: `session=${KEYS.plain}` } }, expect: { status: 401, code: 'missing_credentials' } },
    ],
  },
  {
    name: 'route rules, roles, datasets and client addresses',
    config: () => ({
      providers: [provider('idp', idp)],
      api_keys: { store: { inline: keyStore() } },
      sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
      policy,
      client_ip: { header: 'x-client-ip' },
    }),
    cases: [
      { name: 'an anonymous rule passes without a credential', request: { path: '/health' }, expect: { status: 200, upstream: { 'x-auth-rule': 'health', 'x-auth-sub': null } } },
      { name: 'forged identity headers are removed on an anonymous rule', request: { path: '/health', headers: FORGED }, expect: { status: 200, upstream: { 'x-auth-sub': null, 'x-auth-key-id': null, 'x-auth-scopes': null, 'x-auth-rule': 'health' } } },
      { name: 'a protected rule without a credential', request: { path: '/v1/acme/datasets/sales' }, expect: { status: 401, code: 'missing_credentials' } },
      {
        name: 'the exact dataset permission',
        request: { path: '/v1/acme/datasets/sales', headers: bearer(idp, { scope: 'read:datasets.sales' }) },
        expect: { status: 200, upstream: { 'x-auth-rule': 'datasets-read', 'x-auth-dataset': 'sales' } },
      },
      {
        name: 'another dataset is insufficient_scope',
        request: { path: '/v1/acme/datasets/hr', headers: bearer(idp, { scope: 'read:datasets.sales' }) },
        expect: { status: 403, code: 'insufficient_scope', headers: { 'www-authenticate': /error="insufficient_scope"/ } },
      },
      { name: 'a parent permission covers the dataset', request: { path: '/v1/acme/datasets/hr', headers: bearer(idp, { scope: 'read:datasets' }) }, expect: { status: 200 } },
      { name: 'a wildcard action covers it', request: { path: '/v1/acme/datasets/hr', headers: bearer(idp, { scope: 'read:*' }) }, expect: { status: 200 } },
      { name: 'a role inherited from viewer', request: { path: '/v1/acme/datasets/hr', headers: bearer(idp, { roles: ['analyst'] }) }, expect: { status: 200 } },
      { name: 'a role with the rule permission', request: { method: 'POST', path: '/v1/acme/queries', headers: bearer(idp, { roles: ['analyst'] }) }, expect: { status: 200, upstream: { 'x-auth-rule': 'queries' } } },
      { name: 'a role without it', request: { method: 'POST', path: '/v1/acme/queries', headers: bearer(idp, { roles: ['viewer'] }) }, expect: { status: 403, code: 'insufficient_scope' } },
      { name: 'the admin role has billing', request: { path: '/v1/acme/billing', headers: bearer(idp, { roles: ['admin'] }) }, expect: { status: 200 } },
      { name: 'an editor has no billing', request: { path: '/v1/acme/billing', headers: bearer(idp, { roles: ['editor'] }) }, expect: { status: 403, code: 'insufficient_scope' } },
      { name: 'a dataset outside the credential datasets', request: { path: '/v1/acme/datasets/hr', headers: bearer(idp, { scope: 'read:datasets', datasets: ['sales'] }) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'a key restricted to one dataset, on it', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.restricted } }, expect: { status: 200, upstream: { 'x-auth-dataset': 'sales' } } },
      { name: 'a key restricted to one dataset, on another', request: { path: '/v1/acme/datasets/hr', headers: { 'x-api-key': KEYS.restricted } }, expect: { status: 403, code: 'access_denied' } },
      { name: 'an unmatched route is denied', request: { path: '/v2/anything', headers: bearer(idp, { scope: '*' }) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'another method does not match the rule', request: { method: 'DELETE', path: '/v1/acme/datasets/sales', headers: bearer(idp, { scope: '*' }) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'paths compare case-sensitively', request: { path: '/V1/acme/datasets/sales', headers: bearer(idp, { scope: '*' }) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'an encoded slash in the path', request: { path: '/v1/acme/datasets/sa%2Fles', headers: bearer(idp, { scope: '*' }) }, expect: { status: 400, code: 'invalid_request' } },
      { name: 'a semicolon in the path', request: { path: '/v1/acme/datasets/sales;x', headers: bearer(idp, { scope: '*' }) }, expect: { status: 400, code: 'invalid_request' } },
      { name: 'the query does not take part in matching', request: { path: '/v1/acme/datasets/sales?q=/admin', headers: bearer(idp, { scope: 'read:datasets.sales' }) }, expect: { status: 200, url: '/v1/acme/datasets/sales?q=/admin' } },
      {
        name: 'a CORS preflight passes without a credential',
        request: { method: 'OPTIONS', path: '/v1/acme/datasets/sales', headers: { origin: 'https://app.test', 'access-control-request-method': 'GET' } },
        expect: { status: 200 },
      },
      { name: 'OPTIONS without preflight headers is not a preflight', request: { method: 'OPTIONS', path: '/v1/acme/datasets/sales' }, expect: { status: 403, code: 'access_denied' } },
      { name: 'a custom-prefix key where the prefix is not configured', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.custom } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a pinned key from its network', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.pinned, 'x-client-ip': '203.0.113.9' } }, expect: { status: 200 } },
      { name: 'a pinned key from elsewhere', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.pinned, 'x-client-ip': '198.51.100.1' } }, expect: { status: 403, code: 'ip_not_allowed' } },
      { name: 'a pinned key without a client address', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.pinned } }, expect: { status: 403, code: 'ip_not_allowed' } },
      { name: 'a pinned key with an unparsable address', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.pinned, 'x-client-ip': 'nonsense' } }, expect: { status: 403, code: 'ip_not_allowed' } },
    ],
  },
  {
    name: 'rate limits and failed attempts (ordered)',
    config: () => ({
      providers: [provider('idp', idp)],
      api_keys: { store: { inline: keyStore() } },
      sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
      policy: {
        unmatched: 'authenticated',
        rules: [
          { name: 'costly', method: 'POST', path: '/costly', require: [] },
          { name: 'cheap', method: 'GET', path: '/{rest}', require: [] },
        ],
      },
      rate_limits: [{ limit: '3/minute' }, { rule: 'costly', limit: '1/minute' }],
      failed_attempts: '3/minute',
      client_ip: { header: 'x-client-ip' },
    }),
    cases: [
      ...[1, 2, 3].map((i) => ({
        name: `token A, request ${i} of 3: allowed, with the limit headers`,
        request: { path: '/a', headers: { authorization: tokens.a } },
        expect: { status: 200, headers: { 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': String(3 - i) } },
      })),
      {
        name: 'token A, request 4: 429 with Retry-After and the limit headers',
        request: { path: '/a', headers: { authorization: tokens.a } },
        expect: { status: 429, code: 'rate_limited', headers: { 'retry-after': /^[1-9][0-9]*$/, 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0' } },
      },
      { name: 'token B has its own bucket', request: { path: '/a', headers: { authorization: tokens.b } }, expect: { status: 200 } },
      { name: 'token B, costly rule 1 of 1', request: { method: 'POST', path: '/costly', headers: { authorization: tokens.b } }, expect: { status: 200 } },
      { name: 'token B, costly rule 2: the rule limit', request: { method: 'POST', path: '/costly', headers: { authorization: tokens.b } }, expect: { status: 429, code: 'rate_limited', headers: { 'x-ratelimit-limit': '1' } } },
      { name: 'a key with its own limit, 1 of 2', request: { path: '/a', headers: { 'x-api-key': KEYS.limited } }, expect: { status: 200 } },
      { name: 'a key with its own limit, 2 of 2', request: { path: '/a', headers: { 'x-api-key': KEYS.limited } }, expect: { status: 200 } },
      { name: 'a key with its own limit, 3: refused', request: { path: '/a', headers: { 'x-api-key': KEYS.limited } }, expect: { status: 429, code: 'rate_limited', headers: { 'x-ratelimit-limit': '2' } } },
      ...[1, 2, 3].map((i) => ({
        name: `failed attempt ${i} from 192.0.2.50`,
        request: { path: '/a', headers: { ...bearer(forger), 'x-client-ip': '192.0.2.50' } },
        expect: { status: 401, code: 'invalid_signature' },
      })),
      { name: 'missing credentials do not count as failures', request: { path: '/a', headers: { 'x-client-ip': '192.0.2.51' } }, expect: { status: 401, code: 'missing_credentials' } },
      { name: 'after 3 failures a valid token from that address is refused', request: { path: '/a', headers: { ...bearer(idp, { sub: 'c' }), 'x-client-ip': '192.0.2.50' } }, expect: { status: 429, code: 'rate_limited' } },
      { name: 'another address is not affected', request: { path: '/a', headers: { ...bearer(idp, { sub: 'c' }), 'x-client-ip': '192.0.2.51' } }, expect: { status: 200 } },
    ],
  },
  {
    name: 'error styles and realms',
    config: () => ({ realm: 'typed-api', error_style: 'typed', providers: [provider('idp', idp)] }),
    cases: [
      {
        name: 'typed: missing credentials',
        expect: { status: 401, code: 'missing_credentials', body: '{"error":{"code":"missing_credentials","message":"No credentials were provided","type":"authentication_error"}}', headers: { 'www-authenticate': 'Bearer realm="typed-api"', 'content-type': 'application/json' } },
      },
      { name: 'typed: an expired token', request: { headers: bearer(idp, { iat: past(), exp: past() + 60 }) }, expect: { status: 401, code: 'expired_token' } },
    ],
  },
  {
    name: 'error_list style',
    config: () => ({ error_style: 'error_list', providers: [provider('idp', idp)] }),
    cases: [
      {
        name: 'error_list: missing credentials',
        expect: { status: 401, code: 'missing_credentials', body: '{"errors":[{"attr":null,"code":"missing_credentials","detail":"No credentials were provided","extra":null}],"type":"client_error"}' },
      },
      { name: 'error_list: a bad request', request: { headers: { authorization: 'Bearer a b' } }, expect: { status: 400, code: 'invalid_request' } },
    ],
  },
  {
    name: 'remote JWKS, discovery, key store and introspection',
    config: ({ docs, introspection }) => ({
      providers: [
        provider('remote', remoteIdp, { jwks: { remote: remote('docs', docs, '/remote/jwks') } }),
        provider('disc', discIdp, { jwks: { discovery: remote('docs', docs, '/disc/.well-known/openid-configuration') } }),
      ],
      api_keys: { store: { remote: remote('docs', docs, '/keys.json') } },
      revoked_tokens: { remote: remote('docs', docs, '/revoked.json') },
      sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
      introspection: {
        endpoint: remote('introspection', introspection, '/oauth/introspect'),
        client_id: 'gateway',
        client_secret: 'conformance-secret',
        claim_headers: { client_id: 'x-auth-client' },
        client_ids: ['reporting', 'mobile-app'],
      },
    }),
    // Envoy fetches on its first tick after start: wait until every source answers.
    warmup: [{ headers: bearer(remoteIdp) }, { headers: bearer(discIdp) }, { headers: { 'x-api-key': KEYS.plain } }],
    cases: [
      { name: 'a token signed by the remote JWKS', request: { headers: bearer(remoteIdp, { sub: 'remote-user' }) }, expect: { status: 200, upstream: { 'x-auth-sub': 'remote-user' } } },
      { name: 'a token signed by the discovered JWKS', request: { headers: bearer(discIdp, { sub: 'disc-user' }) }, expect: { status: 200, upstream: { 'x-auth-sub': 'disc-user', 'x-auth-issuer': discIdp.issuer } } },
      { name: 'a key from the remote store', request: { headers: { 'x-api-key': KEYS.plain } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_plain' } } },
      { name: 'a revoked key in the remote store', request: { headers: { 'x-api-key': KEYS.revoked } }, expect: { status: 401, code: 'revoked_api_key' } },
      { name: 'a valid JWT whose jti is on the polled revoked-tokens list', request: { headers: bearer(remoteIdp, { jti: 'deleted-api-token' }) }, expect: { status: 401, code: 'revoked_token' } },
      { name: 'a JWT of the same issuer with another jti', request: { headers: bearer(remoteIdp, { jti: 'live-api-token' }) }, expect: { status: 200 } },
      { name: 'an active opaque token', request: { headers: { authorization: 'Bearer opaque-good' } }, expect: { status: 200, upstream: { 'x-auth-sub': 'svc-7', 'x-auth-scopes': 'read:reports', 'x-auth-credential': 'opaque_token' } } },
      { name: 'an active opaque token again (cached)', request: { headers: { authorization: 'Bearer opaque-good' } }, expect: { status: 200, upstream: { 'x-auth-sub': 'svc-7' } } },
      { name: 'an inactive opaque token', request: { headers: { authorization: 'Bearer opaque-revoked' } }, expect: { status: 401, code: 'inactive_token' } },
      { name: 'the introspection endpoint failing', request: { headers: { authorization: 'Bearer opaque-outage' } }, expect: { status: 503, code: 'keys_unavailable' } },
      { name: 'a minimal RFC 7662 answer (no sub) forwards the username', request: { headers: { authorization: 'Bearer opaque-minimal' } }, expect: { status: 200, upstream: { 'x-auth-sub': 'jdoe', 'x-auth-client': 'mobile-app', 'x-auth-credential': 'opaque_token' } } },
      { name: 'an active token issued to a client this API does not accept', request: { headers: { authorization: 'Bearer opaque-other-client' } }, expect: { status: 401, code: 'invalid_claim' } },
    ],
  },
  {
    // Lookup-on-miss API keys: each key asked of the key service by its SHA-256 and cached by
    // the edges (the CLI asks on every run); revocations come through the polled list.
    name: 'API keys looked up in a key service',
    config: ({ docs, keyservice }) => ({
      api_keys: { store: { lookup: { cluster: 'keyservice', url: `http://127.0.0.1:${keyservice}`, path: '/v1/keys/{hash}', timeout_ms: 1000 } } },
      revoked_tokens: { remote: remote('docs', docs, '/revoked-keys.json') },
      sources: [{ type: 'header', name: 'x-api-key' }],
      policy,
    }),
    // The revoked-tokens list must be loaded before any key passes.
    warmup: [{ path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.plain } }],
    cases: [
      { name: 'a key the service knows', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.plain } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_plain', 'x-auth-credential': 'api_key', 'x-auth-env': 'live' } } },
      { name: 'the same key again', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.plain } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_plain' } } },
      { name: 'a key the service does not know (404)', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': UNKNOWN_KEY } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'the unknown key again', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': UNKNOWN_KEY } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a bad checksum, refused without a lookup', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': BAD_CHECKSUM } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a looked-up record marked revoked', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.revoked } }, expect: { status: 401, code: 'revoked_api_key' } },
      { name: 'a looked-up record past its expiry', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.expired } }, expect: { status: 401, code: 'expired_api_key' } },
      { name: 'a looked-up test key on a live gateway', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.test } }, expect: { status: 401, code: 'wrong_environment' } },
      { name: "a looked-up key's datasets hold", request: { path: '/v1/acme/datasets/hr', headers: { 'x-api-key': KEYS.restricted } }, expect: { status: 403, code: 'access_denied' } },
      { name: 'a key revoked by id on the polled list', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.limited } }, expect: { status: 401, code: 'revoked_api_key' } },
      { name: 'the key service failing (500)', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.pinned } }, expect: { status: 503, code: 'keys_unavailable' } },
      { name: 'the key service answering the record of another key', request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': KEYS.publishable } }, expect: { status: 503, code: 'keys_unavailable' } },
    ],
  },
  {
    name: 'keys never loaded',
    config: ({ dead }) => ({ providers: [provider('down', remoteIdp, { jwks: { remote: remote('dead', dead, '/jwks', { timeout_ms: 300 }) } })] }),
    cases: [
      { name: 'a token for a provider whose JWKS never loaded', request: { headers: bearer(remoteIdp) }, expect: { status: 503, code: 'keys_unavailable' } },
      { name: 'no credential is still missing_credentials', expect: { status: 401, code: 'missing_credentials' } },
    ],
  },
  {
    name: 'keys never loaded, answered 401',
    config: ({ dead }) => ({
      keys_unavailable_status: 401,
      providers: [provider('down', remoteIdp, { jwks: { remote: remote('dead', dead, '/jwks', { timeout_ms: 300 }) } })],
    }),
    cases: [{ name: 'keys_unavailable as 401', request: { headers: bearer(remoteIdp) }, expect: { status: 401, code: 'keys_unavailable' } }],
  },
  {
    name: 'renamed and disabled identity headers',
    config: () => ({
      providers: [provider('idp', idp, { claim_headers: { email: 'x-user-email' }, forward_token: false })],
      identity_headers: { sub: 'x-user', scopes: null, issuer: null },
    }),
    cases: [
      {
        name: 'the renamed header carries the subject; forged copies are removed',
        request: { headers: { ...bearer(idp, { sub: 'u-7', email: 'u7@example.test', scope: 'a b' }), 'x-user': 'admin', 'x-user-email': 'forged@example.test' } },
        expect: { status: 200, upstream: { 'x-user': 'u-7', 'x-user-email': 'u7@example.test', 'x-auth-scopes': null, 'x-auth-issuer': null, 'x-auth-credential': 'jwt' } },
      },
      { name: 'forward_token false removes the token', request: { headers: bearer(idp) }, expect: { status: 200, upstream: { authorization: null } } },
      { name: 'a default name no longer configured passes through untouched', request: { headers: { ...bearer(idp, { sub: 'u-8' }), 'x-auth-sub': 'client-value' } }, expect: { status: 200, upstream: { 'x-user': 'u-8', 'x-auth-sub': 'client-value' } } },
      { name: 'a claim that is absent sets no header', request: { headers: { ...bearer(idp), 'x-user-email': 'forged@example.test' } }, expect: { status: 200, upstream: { 'x-user-email': null } } },
    ],
  },
  {
    // Guide 002's HS256 tokens carry no iss; and a JWS is recognised by shape, also when its
    // header JSON starts with white space (RFC 7515 allows it).
    name: 'a provider without an issuer, and a JWS told by its shape',
    config: () => ({
      providers: [provider('idp', idp), { name: 'legacy', algorithms: ['HS256'], jwks: { inline: legacy.jwks } }],
    }),
    cases: [
      { name: 'an HS256 token without iss, chosen by its key', request: { headers: { authorization: `Bearer ${legacy.token({ iss: undefined, sub: 'u-002', scope: 'read write' })}` } }, expect: { status: 200, upstream: { 'x-auth-sub': 'u-002', 'x-auth-issuer': null } } },
      { name: 'an HS256 token signed with another secret', request: { headers: { authorization: `Bearer ${legacyForger.token({ iss: undefined, sub: 'u-002' })}` } }, expect: { status: 401, code: 'invalid_signature' } },
      {
        name: 'a header JSON that starts with white space',
        request: { headers: { authorization: `Bearer ${idp.signRaw(' {"alg":"ES256","kid":"c-1"}', JSON.stringify({ iss: idp.issuer, aud: AUD, sub: 'ws-user', exp: now() + 600 }))}` } },
        expect: { status: 200, upstream: { 'x-auth-sub': 'ws-user' } },
      },
    ],
  },
  {
    // GoPie's /v1/{org}/… and 001's /companies/{company_id}/…: the tenant in the path must be
    // the credential's own; some routes take only one kind of credential.
    name: 'tenancy and credential kinds per route',
    config: () => ({
      providers: [provider('idp', idp, { denied_claim: 'denied_operations' })],
      api_keys: { store: { inline: keyStore() } },
      policy: {
        unmatched: 'deny',
        rules: [
          { name: 'org-data', method: 'GET', path: '/v1/{org}/datasets/{dataset}', require: ['read:datasets.{dataset}'], bind: { org: 'org' }, credentials: ['jwt:idp'] },
          { name: 'company', method: 'GET', path: '/companies/{company_id}/datasets/', bind: { company_id: 'company_id' } },
          { name: 'keys-only', method: 'GET', path: '/v1/usage', credentials: ['api_key'] },
          { name: 'org-delete', method: 'DELETE', path: '/v1/{org}/datasets/{dataset}', require: ['delete:datasets.{dataset}'], bind: { org: 'org' } },
        ],
      },
    }),
    cases: [
      { name: "a token for the path's organisation", request: { path: '/v1/acme/datasets/sales', headers: bearer(idp, { org: 'acme', scope: 'read:datasets.sales' }) }, expect: { status: 200, upstream: { 'x-auth-rule': 'org-data' } } },
      { name: 'a token of another organisation', request: { path: '/v1/globex/datasets/sales', headers: bearer(idp, { org: 'acme', scope: 'read:datasets.sales' }) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'a company-scoped token on its company', request: { path: '/companies/c-7/datasets/', headers: bearer(idp, { company_id: 'c-7' }) }, expect: { status: 200 } },
      { name: 'a company-scoped token on another company', request: { path: '/companies/c-8/datasets/', headers: bearer(idp, { company_id: 'c-7' }) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'an API key on a JWT-only route', request: { path: '/v1/acme/datasets/sales', headers: { authorization: `Bearer ${KEYS.plain}` } }, expect: { status: 403, code: 'access_denied' } },
      { name: 'an API key on a keys-only route', request: { path: '/v1/usage', headers: { authorization: `Bearer ${KEYS.plain}` } }, expect: { status: 200 } },
      { name: 'a JWT on a keys-only route', request: { path: '/v1/usage', headers: bearer(idp) }, expect: { status: 403, code: 'access_denied' } },
      { name: 'a delete scope without a deny list', request: { method: 'DELETE', path: '/v1/acme/datasets/sales', headers: bearer(idp, { org: 'acme', scope: 'delete:datasets' }) }, expect: { status: 200 } },
      { name: "the token's denied_operations beat its scope", request: { method: 'DELETE', path: '/v1/acme/datasets/sales', headers: bearer(idp, { org: 'acme', scope: 'delete:datasets', denied_operations: ['delete:*', 'write:sensitive_data'] }) }, expect: { status: 403, code: 'access_denied' } },
    ],
  },
  {
    name: 'keys a platform issued before tokenwarden',
    config: () => ({
      api_keys: {
        store: {
          inline: {
            version: 1,
            keys: [
              record('plain', { permissions: ['read:datasets'] }),
              importedRecord('gopie', 'sk_live_', 'sk'),
              importedRecord('datapulse', 'dp_live_', 'rk', { permissions: ['read:datasets'] }),
              importedRecord('olytix', 'olytix-core_key_', 'sk'),
            ],
          },
        },
        prefixes: [
          { prefix: 'sk_live_', type: 'sk', env: 'live', imported: { min_length: 8, max_length: 64 } },
          { prefix: 'dp_live_', type: 'rk', env: 'live', imported: {} },
          { prefix: 'olytix-core_key_', type: 'sk', env: 'live', imported: { min_length: 8 } },
        ],
      },
      sources: [{ type: 'bearer' }, { type: 'query', name: 'api_key' }],
    }),
    cases: [
      { name: "GoPie's own sk_live_ key", request: { headers: { authorization: `Bearer ${IMPORTED.gopie}` } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_gopie', 'x-auth-credential': 'api_key' } } },
      { name: "DataPulse's dp_live_ key", request: { headers: { authorization: `Bearer ${IMPORTED.datapulse}` } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_datapulse', 'x-auth-scopes': 'read:datasets' } } },
      { name: "Olytix's key as ?api_key=", request: { path: `/v1/query?api_key=${IMPORTED.olytix}` }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_olytix' } } },
      { name: 'a minted key beside them keeps working', request: { headers: { authorization: `Bearer ${KEYS.plain}` } }, expect: { status: 200, upstream: { 'x-auth-key-id': 'key_plain' } } },
      { name: 'an imported-format key that is not in the store', request: { headers: { authorization: `Bearer ${IMPORTED.gopie.slice(0, -1)}X` } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a body shorter than the configured minimum', request: { headers: { authorization: 'Bearer sk_live_abc' } }, expect: { status: 401, code: 'invalid_api_key' } },
      { name: 'a body with characters outside the format', request: { headers: { authorization: 'Bearer dp_live_8f3k29d!z81mLk0aP2' } }, expect: { status: 401, code: 'invalid_api_key' } },
    ],
  },
  {
    // GoPie's documented answers (shared/reference 000), with 401 and 403 otherwise in Olytix's
    // words (003): the error catalogue. WWW-Authenticate stays RFC 6750 and the stable code
    // stays in audit lines; the client sees the platform's code and message.
    name: "a platform's own error words",
    config: () => ({
      realm: 'gopie',
      providers: [provider('idp', idp)],
      api_keys: { store: { inline: keyStore() } },
      rate_limits: [{ rule: 'datasets-read', limit: '1/hour' }],
      policy,
      errors: {
        invalid_api_key: { code: 'INVALID_API_KEY', message: 'The provided API key is invalid or has been revoked' },
        revoked_api_key: { code: 'INVALID_API_KEY', message: 'The provided API key is invalid or has been revoked' },
        insufficient_scope: { code: 'INSUFFICIENT_PERMISSIONS', message: "This API key doesn't have permission to access this dataset" },
        rate_limited: { code: 'RATE_LIMITED', message: 'Rate limit exceeded. Retry after {retry_after} seconds' },
        401: { code: 'UNAUTHORIZED', message: 'Invalid or missing authentication' },
        403: { code: 'FORBIDDEN', message: 'Insufficient permissions for this resource' },
      },
    }),
    cases: [
      {
        name: 'an unknown key, in the platform words, with an RFC 6750 challenge',
        request: { headers: { authorization: `Bearer ${UNKNOWN_KEY}` } },
        expect: { status: 401, body: '{"error":{"code":"INVALID_API_KEY","message":"The provided API key is invalid or has been revoked"}}', headers: { 'www-authenticate': /^Bearer realm="gopie", error="invalid_token"/ } },
      },
      { name: 'a revoked key answers the same words', request: { headers: { authorization: `Bearer ${KEYS.revoked}` } }, expect: { status: 401, code: 'INVALID_API_KEY' } },
      {
        name: 'an expired token falls back to the 401 entry',
        request: { headers: bearer(idp, { iat: past(), exp: past() + 60 }) },
        expect: { status: 401, body: '{"error":{"code":"UNAUTHORIZED","message":"Invalid or missing authentication"}}' },
      },
      {
        name: 'a missing permission',
        request: { path: '/v1/acme/billing', headers: { authorization: `Bearer ${KEYS.plain}` } },
        expect: { status: 403, body: `{"error":{"code":"INSUFFICIENT_PERMISSIONS","message":"This API key doesn't have permission to access this dataset"}}` },
      },
      { name: 'a dataset outside the key falls back to the 403 entry', request: { path: '/v1/acme/datasets/finance', headers: { authorization: `Bearer ${KEYS.restricted}` } }, expect: { status: 403, code: 'FORBIDDEN' } },
      { name: 'the first request within the limit', request: { path: '/v1/acme/datasets/sales', headers: { authorization: `Bearer ${KEYS.restricted}` } }, expect: { status: 200 } },
      {
        name: 'over the limit: the message carries the real Retry-After',
        request: { path: '/v1/acme/datasets/sales', headers: { authorization: `Bearer ${KEYS.restricted}` } },
        expect: { status: 429, code: 'RATE_LIMITED', retryAfterInBody: true },
      },
    ],
  },
];


/**
 * Where the two edges genuinely differ, because the runtimes hand the host different requests.
 * Each is run and asserted per edge (so a change on either side is noticed) and documented in
 * docs/configuration.md ("Worker notes"); none is a difference of the shared decision.
 */
export const differences = {
  name: 'documented differences between the runtimes',
  config: () => ({
    providers: [provider('idp', idp)],
    api_keys: { store: { inline: keyStore() } },
    sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
    policy,
  }),
  cases: [
    {
      name: 'a credential header sent twice',
      why: 'Envoy hands the filter both headers (refused as repeated); the Workers runtime joins them with ", " (Fetch standard), so the Worker sees one value that is no key',
      request: { path: '/v1/acme/datasets/sales', headers: { 'x-api-key': [KEYS.plain, KEYS.plain] } },
      envoy: { status: 400, code: 'invalid_request' },
      worker: { status: 401, code: 'invalid_api_key' },
    },
    {
      name: 'a dot-dot segment in the path',
      why: 'Envoy (without normalize_path) passes the raw path, refused as invalid_request; workerd parses the URL first, so the Worker decides on, and forwards, the resolved path',
      request: { path: '/v1/acme/x/../datasets/sales', headers: bearer(idp, { scope: 'read:datasets.sales' }) },
      envoy: { status: 400, code: 'invalid_request' },
      worker: { status: 200, url: '/v1/acme/datasets/sales' },
    },
  ],
};
