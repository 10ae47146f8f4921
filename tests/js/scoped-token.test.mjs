// mintScopedToken (full build): tokens a backend mints for its browser within its own grant,
// checked with jose (the reference JS JWT library) and against the grant's limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { mintScopedToken, generateSigningKey, publicJwk } from 'tokenwarden';

const privateKey = generateSigningKey('ES256', 'backend-1');
const base = {
  privateKey, issuer: 'https://app.customer.example', audience: 'https://api.gopie.app', subject: 'user_1',
  grant: { scopes: ['read:datasets', 'execute:queries.readonly'], datasets: ['public_data', 'sales'], maxTtl: 3600 },
};

test('a token within the grant carries iss, aud, sub, jti, iat, exp, scope and datasets', async () => {
  const token = mintScopedToken({ ...base, scopes: ['read:datasets.public_data'], datasets: ['public_data'], expiresIn: 600 });
  const { payload, protectedHeader } = await jose.jwtVerify(token, await jose.importJWK(publicJwk(privateKey), 'ES256'), { issuer: base.issuer, audience: base.audience });
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.equal(protectedHeader.kid, 'backend-1');
  assert.equal(payload.sub, 'user_1');
  assert.equal(payload.scope, 'read:datasets.public_data');
  assert.deepEqual(payload.datasets, ['public_data']);
  assert.equal(payload.exp - payload.iat, 600);
  assert.ok(payload.jti);
  const other = jose.decodeJwt(mintScopedToken({ ...base, scopes: ['read:datasets.public_data'], datasets: ['public_data'] }));
  assert.notEqual(other.jti, payload.jti, 'a fresh jti per token');
  assert.equal(other.exp - other.iat, 3600, 'default lifetime: the grant\'s maxTtl');
  const capped = jose.decodeJwt(mintScopedToken({ ...base, scopes: ['read:datasets'], datasets: ['sales'], expiresIn: 86400 }));
  assert.equal(capped.exp - capped.iat, 3600, 'capped by the grant');
});

test('scopes or datasets beyond the grant are refused with grant_exceeded', () => {
  for (const [scopes, datasets] of [
    [['write:datasets.public_data'], ['public_data']],
    [['execute:queries'], ['public_data']],
    [['read:datasets.public_data'], ['private']],
    [['read:datasets.public_data'], []],
  ]) {
    assert.throws(() => mintScopedToken({ ...base, scopes, datasets }), { code: 'grant_exceeded', status: 403 }, JSON.stringify([scopes, datasets]));
  }
  assert.throws(() => mintScopedToken({ ...base, scopes: [], datasets: ['sales'] }), { code: 'invalid_request' });
  assert.throws(() => mintScopedToken({ ...base, grant: { ...base.grant, maxTtl: 7 * 86400 }, scopes: ['read:datasets'], datasets: ['sales'] }), { code: 'invalid_config' });
});
