// Test issuer: an ES256 key pair from node:crypto (an implementation independent of the core),
// its public JWKS, and compact JWS tokens signed with it.

import { generateKeyPairSync, sign } from 'node:crypto';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function es256Issuer({ issuer = 'https://idp.e2e.test', kid = 'e2e-1' } = {}) {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
  return {
    issuer,
    jwks: { keys: [jwk] },
    /** A signed token; `claims` override iss, iat and exp (one hour from now). */
    token(claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      const h = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid, ...header }));
      const p = b64url(JSON.stringify({ iss: issuer, iat: now, exp: now + 3600, ...claims }));
      const signature = sign('sha256', Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${h}.${p}.${b64url(signature)}`;
    },
  };
}
