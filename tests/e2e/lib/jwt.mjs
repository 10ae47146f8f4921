// Test issuers: key pairs (or a shared secret) from node:crypto — an implementation independent of
// the core — their JWKS, and compact JWS tokens signed with them. Also raw token assembly, for
// tokens no honest issuer would make (alg confusion, `alg: none`, broken encodings).

import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

export const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** `header.payload` from two JSON values (objects are serialised, strings taken as they are). */
export function signingInput(header, payload) {
  const part = (v) => b64url(typeof v === 'string' ? v : JSON.stringify(v));
  return `${part(header)}.${part(payload)}`;
}

/** An HS256 JWS over `header` and `payload` with `secret` (any bytes). */
export function hs256(header, payload, secret) {
  const input = signingInput({ alg: 'HS256', typ: 'JWT', ...header }, payload);
  return `${input}.${b64url(createHmac('sha256', secret).update(input).digest())}`;
}

/** The signing step of each algorithm, given the private key (or the secret for HS256). */
const signers = {
  RS256: (key, data) => sign('sha256', data, key),
  ES256: (key, data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
  EdDSA: (key, data) => sign(null, data, key),
  HS256: (key, data) => createHmac('sha256', key).update(data).digest(),
};

/** A fresh key (pair) for `alg`: `{ privateKey, publicKey, jwk }` (`jwk` is the public JWK). */
function keyFor(alg) {
  switch (alg) {
    case 'RS256': {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return { publicKey, privateKey, jwk: publicKey.export({ format: 'jwk' }) };
    }
    case 'ES256': {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return { publicKey, privateKey, jwk: publicKey.export({ format: 'jwk' }) };
    }
    case 'EdDSA': {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      return { publicKey, privateKey, jwk: publicKey.export({ format: 'jwk' }) };
    }
    case 'HS256': {
      const secret = randomBytes(32);
      return { privateKey: secret, publicKey: null, jwk: { kty: 'oct', k: b64url(secret) } };
    }
    default:
      throw new Error(`no test issuer for ${alg}`);
  }
}

/**
 * An issuer signing with `alg` (RS256, ES256, EdDSA or HS256). `jwks` holds its public key (the
 * shared secret for HS256) with `kid`, `alg` and `use`. `token(claims, header)` signs a token whose
 * claims default to iss, iat and exp (one hour from now).
 */
export function issuerFor(alg, { issuer = `https://${alg.toLowerCase()}.e2e.test`, kid = `${alg.toLowerCase()}-1` } = {}) {
  const { privateKey, publicKey, jwk } = keyFor(alg);
  const sign = signers[alg];
  return {
    alg,
    issuer,
    kid,
    publicKey,
    privateKey,
    jwks: { keys: [{ ...jwk, kid, alg, use: 'sig' }] },
    /** A token over exactly these header and payload bytes (strings or Buffers), correctly signed. */
    signRaw(headerBytes, payloadBytes) {
      const input = `${b64url(headerBytes)}.${b64url(payloadBytes)}`;
      return `${input}.${b64url(sign(privateKey, Buffer.from(input)))}`;
    },
    token(claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      const input = signingInput({ alg, typ: 'JWT', kid, ...header }, { iss: issuer, iat: now, exp: now + 3600, ...claims });
      return `${input}.${b64url(sign(privateKey, Buffer.from(input)))}`;
    },
  };
}

/** The ES256 issuer the first tests were written with. */
export function es256Issuer({ issuer = 'https://idp.e2e.test', kid = 'e2e-1' } = {}) {
  return issuerFor('ES256', { issuer, kid });
}
