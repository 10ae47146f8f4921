// The server entry's checks, written once for every runtime the package is tested in (Node,
// Deno, Bun, workerd): web-standard APIs and `tokenwarden` only, no node:* module, no test
// framework. The servers these checks talk to (a JWKS endpoint whose keys rotate, an OpenID
// discovery document, token endpoints for client_secret_basic, client_secret_post and
// private_key_jwt, an API behind an API key) run in the Node driver (runtimes.test.mjs) on
// 127.0.0.1; so do the fixtures: tokens signed by jose, webhook signatures and key hashes made by
// node:crypto. The runtime under test is given the driver's origin and nothing else.
import {
  verifyJwt, ServiceClient, ApiKeyClient, parseApiKey, requirePublishableKey, hashApiKey, generateApiKey,
  verifyWebhook, signWebhook, TokenwardenError, ConfigError, OAuthError,
} from 'tokenwarden';

// A tiny assertion helper: every check throws an Error saying what differed.
function ok(cond, what) {
  if (!cond) throw new Error(what);
}

function eq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Runs `fn` (sync or async) and checks it throws an error of `type` with the stable `code`. */
async function refused(fn, code, what, type = TokenwardenError) {
  let error;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  ok(error !== undefined, `${what}: accepted, expected a refusal with ${code}`);
  ok(error instanceof type, `${what}: expected a ${type.name}, got ${error?.name}: ${error?.message}`);
  eq(error.code, code, `${what}: code`);
  return error;
}

const getJson = async (url, init) => {
  const res = await fetch(url, init);
  ok(res.ok, `${init?.method ?? 'GET'} ${url}: ${res.status}`);
  return res.json();
};

/** How many requests the driver's server saw for `METHOD /path`. */
const count = async (f, route) => (await getJson(`${f.origin}/stats`))[route] ?? 0;

export const checks = {
  async 'verifyJwt: RS256, ES256 and EdDSA tokens against a remote JWKS, fetched once'(f) {
    const opts = { jwksUrl: `${f.origin}/jwt/jwks`, issuer: f.issuer, audience: f.audience };
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const claims = await verifyJwt(f.tokens[alg], opts);
      eq(claims.sub, 'user_123', `${alg} sub`);
      eq(claims.scope, 'read:datasets', `${alg} scope`);
      eq(claims.iss, f.issuer, `${alg} iss`);
    }
    eq(await count(f, 'GET /jwt/jwks'), 1, 'JWKS fetches for three tokens');
  },

  async 'verifyJwt: forged, wrong-audience and expired tokens are refused with their codes'(f) {
    const opts = { jwksUrl: `${f.origin}/forge/jwks`, issuer: f.issuer, audience: f.audience };
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const [h, , s] = f.tokens[alg].split('.');
      await refused(() => verifyJwt(`${h}.${f.forgedPayload}.${s}`, opts), 'invalid_signature', `${alg} forged payload`);
      await refused(() => verifyJwt(f.tokens[alg], { ...opts, audience: 'https://other.example' }), 'invalid_audience', `${alg} audience`);
      await refused(() => verifyJwt(f.tokens[alg], { ...opts, now: Math.floor(Date.now() / 1000) + 3600 }), 'expired_token', `${alg} an hour later`);
    }
    await refused(() => verifyJwt(f.tokens.none, opts), 'unsupported_algorithm', 'alg none');
  },

  async 'verifyJwt: an unknown kid refetches the JWKS, finds a rotated key, then the cooldown holds'(f) {
    const opts = { jwksUrl: `${f.origin}/rot/jwks`, issuer: f.issuer, audience: f.audience, cooldown: 0 };
    eq((await verifyJwt(f.tokens.RS256, opts)).sub, 'user_123', 'the first key');
    eq(await count(f, 'GET /rot/jwks'), 1, 'fetches after the first token');
    await refused(() => verifyJwt(f.rotated, opts), 'unknown_key', 'a kid the provider does not publish yet');
    eq(await count(f, 'GET /rot/jwks'), 2, 'the unknown kid caused one refetch');
    await getJson(`${f.origin}/rot/rotate`, { method: 'POST' });
    eq((await verifyJwt(f.rotated, opts)).sub, 'user_123', 'the rotated key');
    eq(await count(f, 'GET /rot/jwks'), 3, 'the new kid caused one refetch');
    await refused(() => verifyJwt(f.unknownKid, { ...opts, cooldown: 3600 }), 'unknown_key', 'a kid nobody publishes');
    eq(await count(f, 'GET /rot/jwks'), 3, 'the cooldown held back a refetch');
  },

  async 'verifyJwt: keys found through the issuer discovery document; an unreachable JWKS is keys_unavailable'(f) {
    const claims = await verifyJwt(f.discoveryToken, { issuer: f.origin, audience: f.audience });
    eq(claims.iss, f.origin, 'iss');
    eq(await count(f, 'GET /.well-known/openid-configuration'), 1, 'discovery fetches');
    eq(await count(f, 'GET /disc/jwks'), 1, 'discovered JWKS fetches');
    await refused(() => verifyJwt(f.tokens.ES256, { jwksUrl: `${f.origin}/down/jwks`, audience: f.audience }), 'keys_unavailable', 'a JWKS answering 500');
  },

  async 'ServiceClient: client_secret_basic, one token request for concurrent callers, 401 retried once'(f) {
    const client = new ServiceClient({ tokenEndpoint: `${f.origin}/basic/token`, clientId: 'svc-basic', clientSecret: f.service.secret, scopes: ['read', 'write'], audience: f.audience });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => client.getToken()));
    ok(tokens.every((t) => t === 'basic-1'), `five callers got ${tokens}`);
    eq(await client.getToken(), 'basic-1', 'cached');
    eq(await count(f, 'POST /basic/token'), 1, 'token requests');
    // The API refuses basic-1 once (as if revoked): the client drops it and retries with a new one.
    const res = await client.fetch(`${f.origin}/svc/api`);
    eq(res.status, 200, 'API status');
    eq((await res.json()).token, 'basic-2', 'the token the API saw');
    eq(await count(f, 'GET /svc/api'), 2, 'API calls');
  },

  async 'ServiceClient: client_secret_post'(f) {
    const client = new ServiceClient({ tokenEndpoint: `${f.origin}/post/token`, clientId: 'svc-post', clientSecret: f.service.secret, clientAuth: 'client_secret_post' });
    eq(await client.getToken(), 'post-1', 'token');
  },

  async 'ServiceClient: private_key_jwt, the assertion checked by jose'(f) {
    const client = new ServiceClient({ tokenEndpoint: `${f.origin}/pkjwt/token`, clientId: 'svc-jwt', privateKey: f.service.privateKey });
    eq(await client.getToken(), 'pkjwt-1', 'token');
  },

  async 'ServiceClient: a refused client secret is an OAuthError with the provider code'(f) {
    const client = new ServiceClient({ tokenEndpoint: `${f.origin}/refuse/token`, clientId: 'svc-basic', clientSecret: 'wrong' });
    const err = await refused(() => client.getToken(), 'oauth_error', 'a wrong secret', OAuthError);
    eq(err.error, 'invalid_client', 'provider error');
  },

  async 'webhooks: valid, tampered, wrong secret, stale and fresh timestamps; signatures agree with node:crypto'(f) {
    const w = f.webhook;
    verifyWebhook(w.body, w.signature, w.secret);
    verifyWebhook(new TextEncoder().encode(w.body), w.signature, new TextEncoder().encode(w.secret));
    eq(signWebhook(w.body, w.secret), w.signature, 'signWebhook vs node:crypto');
    await refused(() => verifyWebhook(`${w.body} `, w.signature, w.secret), 'invalid_webhook_signature', 'a tampered body');
    await refused(() => verifyWebhook(w.body, w.signature, 'whsec_other'), 'invalid_webhook_signature', 'a wrong secret');
    verifyWebhook(w.body, w.fresh.signature, w.secret, { timestamp: w.fresh.timestamp });
    eq(signWebhook(w.body, w.secret, { timestamp: Number(w.fresh.timestamp) }), w.fresh.signature, 'timestamped signWebhook vs node:crypto');
    await refused(() => verifyWebhook(w.body, w.stale.signature, w.secret, { timestamp: w.stale.timestamp, toleranceSec: 300 }), 'webhook_timestamp_out_of_tolerance', 'an hour-old timestamp');
    await refused(() => verifyWebhook(w.body, w.fresh.signature, w.secret, { timestamp: String(Number(w.fresh.timestamp) + 1) }), 'invalid_webhook_signature', 'a changed timestamp');
  },

  async 'API keys: generate, parse, hash (agrees with node:crypto), checksum, publishable only'(f) {
    const { key, display_prefix } = generateApiKey('sk', 'live');
    ok(/^sk_live_[0-9A-Za-z]{38}$/.test(key), `generated ${key.slice(0, 8)}…`);
    const parsed = parseApiKey(key);
    eq(JSON.stringify(parsed), JSON.stringify({ type: 'sk', environment: 'live', prefix: 'sk_live_', display_prefix }), 'parsed');
    ok(/^sha256:[0-9a-f]{64}$/.test(hashApiKey(key)), 'hash format');
    eq(hashApiKey(f.apiKey.key), f.apiKey.hash, 'hash of the driver key');
    eq(parseApiKey(f.apiKey.key).type, 'rk', 'driver key type');
    const typo = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21);
    await refused(() => parseApiKey(typo), 'invalid_api_key', 'a typo');
    eq(requirePublishableKey(generateApiKey('pk', 'test').key).type, 'pk', 'a pk_ key');
    const err = await refused(() => requirePublishableKey(key), 'invalid_config', 'an sk_ key where users read the code', ConfigError);
    ok(!err.message.includes(key), 'the error does not echo the key');
    await refused(() => generateApiKey('xk', 'live'), 'invalid_config', 'an unknown key type', ConfigError);
  },

  async 'ApiKeyClient: a 503 is retried once; a POST is not replayed'(f) {
    const client = new ApiKeyClient({ apiKey: f.apiKeyClient.key, baseUrl: `${f.origin}/api/`, retries: 1 });
    const res = await client.fetch('flaky');
    eq(res.status, 200, 'status after the retry');
    eq((await res.json()).ok, true, 'body');
    eq(await count(f, 'GET /api/flaky'), 2, 'attempts');
    eq((await client.fetch('run', { method: 'POST', body: '{}' })).status, 503, 'POST answer');
    eq(await count(f, 'POST /api/run'), 1, 'POST attempts');
  },

  async 'ApiKeyClient: a 429 waits out Retry-After; the key goes in the named header'(f) {
    const client = new ApiKeyClient({ apiKey: f.apiKeyClient.key, baseUrl: `${f.origin}/api/`, header: 'x-api-key' });
    const started = Date.now();
    const res = await client.fetch('limited');
    eq(res.status, 200, 'status after Retry-After');
    ok(Date.now() - started >= 900, `waited ${Date.now() - started} ms for Retry-After: 1`);
    eq(await count(f, 'GET /api/limited'), 2, 'attempts');
  },
};

/** Which runtime this is, as it says itself. */
export function runtime() {
  if (globalThis.Deno?.version) return `Deno ${globalThis.Deno.version.deno}`;
  if (globalThis.Bun?.version) return `Bun ${globalThis.Bun.version}`;
  if (globalThis.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  if (globalThis.process?.versions?.node) return `Node ${globalThis.process.versions.node}`;
  return globalThis.navigator?.userAgent ?? 'unknown';
}

/** The file `tokenwarden` resolved to, where the runtime can say (not in a bundle). */
function entry() {
  try {
    return import.meta.resolve?.('tokenwarden');
  } catch {
    return undefined;
  }
}

/**
 * Fetches the fixtures from the driver at `origin`, runs every check (concurrently: each has its
 * own routes on the driver), reports the results back to the driver, and returns them.
 */
export async function run(origin) {
  const f = { ...(await getJson(`${origin}/fixtures`)), origin };
  const results = await Promise.all(Object.entries(checks).map(async ([name, check]) => {
    const started = Date.now();
    try {
      await check(f);
      return { name, ok: true, ms: Date.now() - started };
    } catch (e) {
      return { name, ok: false, ms: Date.now() - started, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}` };
    }
  }));
  await getJson(`${origin}/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ runtime: runtime(), entry: entry(), results }) });
  return results;
}
