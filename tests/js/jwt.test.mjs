// verifyJwt against tokens minted by jose, and tokens minted by the core checked by jose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { verifyJwt, signJwt, generateSigningKey, publicJwk, TokenwardenError } from 'tokenwarden';
import { serve } from './helpers.mjs';

const ISS = 'https://issuer.example';
const AUD = 'https://api.example';
const ALGS = ['RS256', 'ES256', 'EdDSA', 'HS256'];

async function joseKey(alg) {
  if (alg === 'HS256') {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const jwk = { kty: 'oct', k: jose.base64url.encode(secret), kid: 'hs', alg };
    return { privateKey: secret, jwks: { keys: [jwk] } };
  }
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: `${alg}-1`, alg, use: 'sig' };
  return { privateKey, jwks: { keys: [jwk] } };
}

function mint(alg, privateKey, claims = {}, kid = alg === 'HS256' ? 'hs' : `${alg}-1`) {
  return new jose.SignJWT({ scope: 'read:datasets', ...claims })
    .setProtectedHeader({ alg, kid })
    .setIssuer(claims.iss ?? ISS)
    .setAudience(AUD)
    .setSubject('user_123')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(privateKey);
}

for (const alg of ALGS) {
  test(`${alg}: a jose token verifies, and tampering, expiry and audience are refused`, async () => {
    const { privateKey, jwks } = await joseKey(alg);
    const token = await mint(alg, privateKey);
    const claims = await verifyJwt(token, { jwks, issuer: ISS, audience: AUD, algorithms: [alg] });
    assert.equal(claims.sub, 'user_123');
    assert.equal(claims.scope, 'read:datasets');

    const [h, p, s] = token.split('.');
    const forged = jose.base64url.encode(JSON.stringify({ ...jose.decodeJwt(token), sub: 'admin' }));
    await assert.rejects(verifyJwt(`${h}.${forged}.${s}`, { jwks, issuer: ISS, audience: AUD }), { code: 'invalid_signature' });
    await assert.rejects(verifyJwt(token, { jwks, issuer: ISS, audience: 'https://other.example' }), { code: 'invalid_audience' });
    await assert.rejects(verifyJwt(token, { jwks, issuer: 'https://evil.example', audience: AUD }), { code: 'invalid_issuer' });
    const later = Math.floor(Date.now() / 1000) + 3600;
    await assert.rejects(verifyJwt(token, { jwks, audience: AUD, now: later }), { code: 'expired_token' });
    await assert.rejects(verifyJwt(token, { jwks, audience: AUD, requiredClaims: ['tenant'] }), { code: 'invalid_claim' });
    const err = await verifyJwt(`${h}.${p}.AAAA`, { jwks }).catch((e) => e);
    assert.ok(err instanceof TokenwardenError, String(err));
  });

  test(`${alg}: a token minted by the core verifies with jose`, async () => {
    const priv = generateSigningKey(alg, `core-${alg}`);
    const token = signJwt({ iss: ISS, aud: AUD, sub: 'svc', exp: Math.floor(Date.now() / 1000) + 600 }, priv, { typ: 'JWT' });
    const key = alg === 'HS256' ? jose.base64url.decode(priv.k) : await jose.importJWK(publicJwk(priv), alg);
    const { payload, protectedHeader } = await jose.jwtVerify(token, key, { issuer: ISS, audience: AUD, algorithms: [alg] });
    assert.equal(payload.sub, 'svc');
    assert.equal(protectedHeader.kid, `core-${alg}`);
    if (alg !== 'HS256') assert.equal(publicJwk(priv).d, undefined, 'the public JWK has no private part');
    // An HMAC key has no public half: its "public JWK" would be the secret, published.
    else assert.throws(() => publicJwk(priv), { code: 'invalid_key' });
    assert.throws(() => publicJwk({ ...priv, kty: alg === 'HS256' ? 'RSA' : 'oct' }), { code: 'invalid_key' }, 'a kty that is not the alg\'s');
  });
}

test('the algorithm comes from the key, never from the token', async () => {
  const { privateKey, jwks } = await joseKey('RS256');
  const token = await mint('RS256', privateKey);
  await assert.rejects(verifyJwt(token, { jwks, algorithms: ['ES256'], audience: AUD }), { code: 'unsupported_algorithm' });
  const none = `${jose.base64url.encode('{"alg":"none"}')}.${token.split('.')[1]}.`;
  await assert.rejects(verifyJwt(none, { jwks, audience: AUD }), TokenwardenError);
});

test('a remote JWKS is cached, refetched for an unknown kid, and found by discovery', async () => {
  const one = await joseKey('ES256');
  const two = await joseKey('RS256');
  let keys = one.jwks.keys;
  const server = await serve({
    'GET /jwks': () => ({ body: { keys } }),
    'GET /.well-known/openid-configuration': (_req) => ({ body: { issuer: server.origin, jwks_uri: `${server.origin}/jwks` } }),
  });
  try {
    const opts = { jwksUrl: `${server.origin}/jwks`, audience: AUD, cooldown: 0 };
    for (let i = 0; i < 3; i++) await verifyJwt(await mint('ES256', one.privateKey), opts);
    assert.equal(server.count('GET', '/jwks'), 1, 'one fetch for three tokens');

    keys = [...one.jwks.keys, ...two.jwks.keys];
    const rotated = await mint('RS256', two.privateKey);
    assert.equal((await verifyJwt(rotated, opts)).sub, 'user_123');
    assert.equal(server.count('GET', '/jwks'), 2, 'the unknown kid caused one refetch');

    const unknown = await mint('ES256', one.privateKey, {}, 'nobody');
    await assert.rejects(verifyJwt(unknown, { ...opts, cooldown: 3600 }), { code: 'unknown_key' });
    assert.equal(server.count('GET', '/jwks'), 2, 'the cooldown holds back refetches');

    const viaIssuer = await mint('ES256', one.privateKey, { iss: server.origin });
    const claims = await verifyJwt(viaIssuer, { issuer: server.origin, audience: AUD });
    assert.equal(claims.iss, server.origin);
    assert.equal(server.count('GET', '/.well-known/openid-configuration'), 1);
  } finally {
    await server.close();
  }
});

test('an unreachable JWKS is keys_unavailable, never an accept', async () => {
  const { privateKey } = await joseKey('ES256');
  const server = await serve({ 'GET /jwks': () => ({ status: 500 }) });
  try {
    await assert.rejects(verifyJwt(await mint('ES256', privateKey), { jwksUrl: `${server.origin}/jwks`, audience: AUD }), { code: 'keys_unavailable' });
  } finally {
    await server.close();
  }
});

test('a JWKS down at first is retried on the core schedule (after 1 s, not at cacheMaxAge, not on every call)', async () => {
  const { privateKey, jwks } = await joseKey('ES256');
  let up = false;
  const server = await serve({ 'GET /jwks': () => (up ? { body: jwks } : { status: 503 }) });
  try {
    const opts = { jwksUrl: `${server.origin}/jwks`, audience: AUD };
    const token = await mint('ES256', privateKey);
    await assert.rejects(verifyJwt(token, opts), { code: 'keys_unavailable' });
    await assert.rejects(verifyJwt(token, opts), { code: 'keys_unavailable' });
    assert.equal(server.count('GET', '/jwks'), 1, 'the retry waits for the backoff, not the next call');
    up = true;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await verifyJwt(token, opts)).sub, 'user_123');
    assert.equal(server.count('GET', '/jwks'), 2);
  } finally {
    await server.close();
  }
});

test('RSA and ECDSA signatures are verified by WebCrypto, once imported per key; Ed25519 and HMAC by the core', async () => {
  const subtle = globalThis.crypto.subtle;
  const calls = { verify: 0, importKey: 0 };
  const spy = (name) => {
    const original = subtle[name];
    subtle[name] = function (...args) {
      calls[name] += 1;
      return original.apply(this, args);
    };
    return () => {
      subtle[name] = original;
    };
  };
  for (const [alg, native] of [['RS256', true], ['PS256', true], ['ES256', true], ['ES384', true], ['EdDSA', false], ['HS256', false]]) {
    const key = generateSigningKey(alg, 'k');
    const jwks = { keys: [alg === 'HS256' ? key : publicJwk(key)] };
    const token = signJwt({ iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 60 }, key);
    calls.verify = calls.importKey = 0;
    const undo = [spy('verify'), spy('importKey')];
    try {
      for (let i = 0; i < 3; i += 1) await verifyJwt(token, { jwks, issuer: ISS, audience: AUD });
      // Through a remote key set too, which keeps imported keys of its own.
      const server = await serve({ 'GET /jwks': () => ({ body: jwks }) });
      try {
        await verifyJwt(token, { jwksUrl: `${server.origin}/jwks`, issuer: ISS, audience: AUD });
      } finally {
        await server.close();
      }
    } finally {
      undo.forEach((u) => u());
    }
    assert.deepEqual(calls, native ? { verify: 4, importKey: 2 } : { verify: 0, importKey: 0 }, alg);
  }
});
