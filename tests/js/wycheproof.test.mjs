// Project Wycheproof's signature vectors (../shared/vectors/wycheproof) through the npm package's
// WebCrypto half of a delegated signature check (js/native-crypto.ts, with the core's WebCrypto
// parameters, which verifyJwt and the Worker use), held to the answers tests/wycheproof.rs requires of the core: every
// `valid` case verifies, every `invalid` one does not, and the `acceptable` ones get the answer
// docs/security.md documents. The two paths therefore answer identically on every vector.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The package entry initialises the core, which gives WebCrypto's parameters for each algorithm.
import 'tokenwarden';
import { importNativeKey, verifyNativeSignature } from '../../pkg/dist/native-crypto.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const vectors = join(root, '../shared/vectors/wycheproof');

/** Wycheproof `acceptable` flags and the answer the core gives them (tests/wycheproof.rs). */
const ACCEPTABLE = { MissingNull: false };

const FILES = {
  'ecdsa_secp256r1_sha256_p1363_test.json': 'ES256',
  'ecdsa_secp384r1_sha384_p1363_test.json': 'ES384',
  'rsa_signature_2048_sha256_test.json': 'RS256',
  'rsa_signature_2048_sha384_test.json': 'RS384',
  'rsa_signature_2048_sha512_test.json': 'RS512',
  'rsa_signature_3072_sha256_test.json': 'RS256',
  'rsa_pss_2048_sha256_mgf1_32_test.json': 'PS256',
};

const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const b64url = (b) => Buffer.from(b).toString('base64url');

/** The group's public key as a JWK without `alg`/`kid` (the core binds the algorithm itself). */
function jwkOf(group) {
  const given = group.publicKeyJwk ?? group.keyJwk;
  if (given) {
    const { alg: _alg, kid: _kid, ...jwk } = given;
    return jwk;
  }
  const point = hex(group.publicKey.uncompressed);
  const size = (point.length - 1) / 2;
  return { kty: 'EC', crv: size === 32 ? 'P-256' : 'P-384', x: b64url(point.slice(1, 1 + size)), y: b64url(point.slice(1 + size)) };
}

for (const [file, alg] of Object.entries(FILES)) {
  test(`${file}: WebCrypto answers every case as the core does (${alg})`, async () => {
    const doc = JSON.parse(readFileSync(join(vectors, file), 'utf8'));
    let cases = 0;
    const wrong = [];
    for (const group of doc.testGroups) {
      const key = await importNativeKey(alg, jwkOf(group));
      assert.ok(key, `${file}: WebCrypto refused a key the core takes`);
      for (const t of group.tests) {
        const verdict = await verifyNativeSignature(alg, key, hex(t.sig), hex(t.msg));
        let expected = t.result === 'valid';
        if (t.result === 'acceptable') {
          const flag = t.flags.find((f) => f in ACCEPTABLE);
          assert.ok(flag, `${file} tc ${t.tcId}: undocumented acceptable case ${t.flags}`);
          expected = ACCEPTABLE[flag];
        }
        cases += 1;
        if (verdict !== expected) wrong.push(`tc ${t.tcId} (${t.result}, ${t.flags}, ${t.comment}): WebCrypto said ${verdict}`);
      }
    }
    assert.deepEqual(wrong, [], `${file}: WebCrypto and the core disagree`);
    assert.ok(cases > 100, `${file}: only ${cases} cases ran`);
  });
}
