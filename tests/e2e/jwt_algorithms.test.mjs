// JWTs of every supported family in a real Envoy: RS256, ES256, EdDSA and HS256, each with an
// inline JWKS (algorithm pinned in the provider) and a remote one (served by a local HTTP server
// through an Envoy cluster, algorithms left to the keys). For each: a valid token passes with its
// identity; an expired, not-yet-valid, tampered, wrong-audience and wrong-issuer token is refused
// with 401, its stable code and a WWW-Authenticate challenge; algorithm confusion (HS256 keyed
// with the RSA public key) and `alg: none` are refused. One Envoy for the whole file.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startGateway, stopGateway } from './lib/envoy.mjs';
import { bearer, errorCode, eventually, request, startDocumentServer, startEchoServer } from './lib/http.mjs';
import { b64url, hs256, issuerFor, signingInput } from './lib/jwt.mjs';

const AUD = 'https://api.e2e.test';
const REALM = 'jwt-e2e';
const ALGS = ['RS256', 'ES256', 'EdDSA', 'HS256'];

// Two issuers per algorithm: `inline` pins the algorithm, `remote` accepts what its keys allow.
const issuers = ALGS.flatMap((alg) =>
  ['inline', 'remote'].map((where) => {
    const name = `${alg.toLowerCase()}-${where}`;
    return { name, where, ...issuerFor(alg, { issuer: `https://${name}.e2e.test`, kid: `${name}-1` }) };
  }),
);

const provider = (idp) => ({
  name: idp.name,
  issuer: idp.issuer,
  audiences: [AUD],
  algorithms: idp.where === 'inline' ? [idp.alg] : [],
  jwks:
    idp.where === 'inline'
      ? { inline: idp.jwks }
      : { remote: { cluster: 'jwks', authority: 'keys.e2e.test', path: `/${idp.name}/jwks`, refresh_secs: 300, timeout_ms: 1000 } },
  claim_headers: { org: 'x-auth-org' },
});

let upstream;
let docs;
let envoy;
before(async () => {
  upstream = await startEchoServer();
  docs = await startDocumentServer(Object.fromEntries(issuers.filter((i) => i.where === 'remote').map((i) => [`/${i.name}/jwks`, i.jwks])));
  envoy = await startGateway({
    upstreamPort: upstream.port,
    pluginConfig: { realm: REALM, providers: issuers.map(provider), cache: { max_entries: 0 } },
    clusters: { jwks: docs.port },
  });
  // The remote key sets are fetched at the first tick: wait until each issuer's tokens pass.
  for (const idp of issuers.filter((i) => i.where === 'remote')) {
    const ok = await eventually(async () => (await send(idp.token({ sub: 'warmup', aud: AUD }))).status === 200, 10000);
    assert.ok(ok, `${idp.name}: the remote JWKS was not loaded`);
  }
});
after(async () => {
  await stopGateway(envoy);
  await docs?.stop();
  await upstream?.stop();
});

const send = (token, path = '/resource') => request(envoy.listenerPort, { path, headers: bearer(token) });

/** A 401 with `code`, the realm's invalid_token challenge, and nothing sent upstream. */
async function refused(token, code) {
  const before = upstream.requests;
  const res = await send(token);
  assert.equal(res.status, 401, `${code}: ${res.status} ${res.body}`);
  assert.equal(errorCode(res), code, res.body);
  assert.match(res.headers['www-authenticate'] ?? '', new RegExp(`^Bearer realm="${REALM}", error="invalid_token", error_description="[^"]+"$`));
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(upstream.requests, before, 'a refused token must not reach the upstream');
  return res;
}

/** The token with one byte of its signature flipped (the signature stays valid base64url). */
function flipSignature(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[Math.floor(sig.length / 2)] ^= 0x01;
  return `${h}.${p}.${b64url(sig)}`;
}

const now = () => Math.floor(Date.now() / 1000);

for (const idp of issuers) {
  describe(`${idp.alg}, ${idp.where} JWKS`, () => {
    test('a valid token reaches the upstream with the verified identity', async () => {
      const before = upstream.requests;
      const token = idp.token({ sub: `user-${idp.name}`, aud: AUD, scope: 'read:datasets write:reports', org: 'acme' });
      const res = await send(token);
      assert.equal(res.status, 200, res.body);
      assert.equal(upstream.requests, before + 1);
      const seen = JSON.parse(res.body).headers;
      assert.equal(seen['x-auth-sub'], `user-${idp.name}`);
      assert.equal(seen['x-auth-issuer'], idp.issuer);
      assert.equal(seen['x-auth-scopes'], 'read:datasets write:reports');
      assert.equal(seen['x-auth-credential'], 'jwt');
      assert.equal(seen['x-auth-org'], 'acme');
      assert.equal(seen['x-auth-key-id'], undefined);
      // An audience array containing ours passes too.
      assert.equal((await send(idp.token({ sub: 'u', aud: ['https://other.test', AUD] }))).status, 200);
    });

    test('expired (beyond the 60 s leeway) → expired_token', async () => {
      const t = now() - 7200;
      await refused(idp.token({ sub: 'u', aud: AUD, iat: t, exp: t + 3600 }), 'expired_token');
      // Within the leeway it still passes: the check is the documented one, not a stricter one.
      assert.equal((await send(idp.token({ sub: 'u', aud: AUD, exp: now() - 5 }))).status, 200);
    });

    test('not yet valid (nbf an hour ahead) → token_not_yet_valid', async () => {
      await refused(idp.token({ sub: 'u', aud: AUD, nbf: now() + 3600 }), 'token_not_yet_valid');
    });

    test('tampered signature or payload → invalid_signature', async () => {
      const good = idp.token({ sub: 'u', aud: AUD });
      await refused(flipSignature(good), 'invalid_signature');
      // The payload changed (sub → admin) under the original signature.
      const [h, , s] = good.split('.');
      const forged = `${h}.${b64url(JSON.stringify({ iss: idp.issuer, aud: AUD, sub: 'admin', iat: now(), exp: now() + 3600 }))}.${s}`;
      await refused(forged, 'invalid_signature');
    });

    test('wrong audience → invalid_audience; no audience → invalid_audience', async () => {
      await refused(idp.token({ sub: 'u', aud: 'https://other-api.e2e.test' }), 'invalid_audience');
      await refused(idp.token({ sub: 'u' }), 'invalid_audience');
    });

    test('wrong issuer → invalid_issuer', async () => {
      await refused(idp.token({ sub: 'u', aud: AUD, iss: 'https://evil.e2e.test' }), 'invalid_issuer');
    });

    test('`alg: none` (any spelling) is refused', async () => {
      for (const alg of ['none', 'None', 'NONE']) {
        const input = signingInput({ alg, typ: 'JWT', kid: idp.kid }, { iss: idp.issuer, aud: AUD, sub: 'u', iat: now(), exp: now() + 600 });
        await refused(`${input}.`, 'unsupported_algorithm');
      }
    });
  });
}

describe('algorithm confusion', () => {
  const claims = () => ({ sub: 'attacker', aud: AUD, iat: now(), exp: now() + 600 });
  for (const idp of issuers.filter((i) => i.alg === 'RS256')) {
    test(`HS256 keyed with the RSA public key's bytes is refused (${idp.where})`, async () => {
      const pem = idp.publicKey.export({ type: 'spki', format: 'pem' });
      const der = idp.publicKey.export({ type: 'spki', format: 'der' });
      const pkcs1 = idp.publicKey.export({ type: 'pkcs1', format: 'pem' });
      for (const secret of [pem, der, pkcs1, JSON.stringify(idp.jwks.keys[0])]) {
        const token = hs256({ kid: idp.kid }, { iss: idp.issuer, ...claims() }, secret);
        await refused(token, 'unsupported_algorithm');
        // Without a kid, the filter must not try the RSA key as an HMAC secret either.
        await refused(hs256({}, { iss: idp.issuer, ...claims() }, secret), 'unsupported_algorithm');
      }
    });
  }

  test("a token signed with another provider's key, claiming this issuer, is refused", async () => {
    const [rs, es] = [issuers.find((i) => i.name === 'rs256-inline'), issuers.find((i) => i.name === 'es256-inline')];
    // RS256-signed, claiming the ES256 issuer: that provider accepts ES256 only.
    await refused(rs.token({ iss: es.issuer, aud: AUD, sub: 'u' }), 'unsupported_algorithm');
    // ES256-signed with a second key under the ES issuer's kid: the signature does not verify.
    const imposter = issuerFor('ES256', { issuer: es.issuer, kid: es.kid });
    await refused(imposter.token({ aud: AUD, sub: 'u' }), 'invalid_signature');
    // HS256 with a secret of our own, claiming the HS256 issuer and its kid.
    const hs = issuers.find((i) => i.name === 'hs256-inline');
    await refused(hs256({ kid: hs.kid }, { iss: hs.issuer, ...claims() }, Buffer.alloc(32, 7)), 'invalid_signature');
  });

  test('Envoy and the filter are still serving after all refusals', async () => {
    for (const idp of issuers) assert.equal((await send(idp.token({ sub: 'after', aud: AUD }))).status, 200, idp.name);
  });
});
