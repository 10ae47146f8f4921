// Project Wycheproof's signature vectors (../shared/vectors/wycheproof) for the algorithms hosts
// hand to WebCrypto, each case with the answer tests/wycheproof.rs requires of the core: `valid`
// verifies, `invalid` does not, and an `acceptable` case gets the answer docs/security.md gives
// its flag. Shared by the Node test and the workerd one (tests/workerd), so WebCrypto in Node
// (OpenSSL) and in workerd (BoringSSL) are held to the same answers.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const vectors = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/vectors/wycheproof');

/** Wycheproof `acceptable` flags and the answer the core gives them. */
const ACCEPTABLE = { MissingNull: false };

export const FILES = {
  'ecdsa_secp256r1_sha256_p1363_test.json': 'ES256',
  'ecdsa_secp384r1_sha384_p1363_test.json': 'ES384',
  'rsa_signature_2048_sha256_test.json': 'RS256',
  'rsa_signature_2048_sha384_test.json': 'RS384',
  'rsa_signature_2048_sha512_test.json': 'RS512',
  'rsa_signature_3072_sha256_test.json': 'RS256',
  'rsa_pss_2048_sha256_mgf1_32_test.json': 'PS256',
};

const b64url = (hex) => Buffer.from(hex, 'hex').toString('base64url');

/** The group's public key as a JWK without `alg`/`kid` (the core binds the algorithm itself). */
function jwkOf(group) {
  const given = group.publicKeyJwk ?? group.keyJwk;
  if (given) {
    const { alg: _alg, kid: _kid, ...jwk } = given;
    return jwk;
  }
  const point = group.publicKey.uncompressed;
  const size = (point.length - 2) / 4;
  return { kty: 'EC', crv: size === 32 ? 'P-256' : 'P-384', x: b64url(point.slice(2, 2 + 2 * size)), y: b64url(point.slice(2 + 2 * size)) };
}

/** One file's cases: `{ alg, groups: [{ jwk, tests: [{ id, msg, sig, expected }] }] }`, msg and sig hex. */
export function signatureCases(file) {
  const doc = JSON.parse(readFileSync(join(vectors, file), 'utf8'));
  return {
    alg: FILES[file],
    groups: doc.testGroups.map((group) => ({
      jwk: jwkOf(group),
      tests: group.tests.map((t) => {
        let expected = t.result === 'valid';
        if (t.result === 'acceptable') {
          const flag = t.flags.find((f) => f in ACCEPTABLE);
          if (!flag) throw new Error(`${file} tc ${t.tcId}: undocumented acceptable case ${t.flags}`);
          expected = ACCEPTABLE[flag];
        }
        return { id: t.tcId, msg: t.msg, sig: t.sig, expected };
      }),
    })),
  };
}
