// Project Wycheproof's signature vectors through the npm package's WebCrypto half of a delegated
// signature check (js/native-crypto.ts, with the core's WebCrypto parameters, which verifyJwt and
// the Worker use), held to the answers tests/wycheproof.rs requires of the core
// (tests/js/wycheproof-cases.mjs). The two paths therefore answer identically on every vector.
// tests/workerd runs the same cases in workerd.

import assert from 'node:assert/strict';
import { test } from 'node:test';

// The package entry initialises the core, which gives WebCrypto's parameters for each algorithm.
import 'tokenwarden';
import { importNativeKey, verifyNativeSignature } from '../../pkg/dist/native-crypto.js';
import { FILES, signatureCases } from './wycheproof-cases.mjs';

const bytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));

for (const file of Object.keys(FILES)) {
  test(`${file}: WebCrypto answers every case as the core does (${FILES[file]})`, async () => {
    const { alg, groups } = signatureCases(file);
    let cases = 0;
    const wrong = [];
    for (const group of groups) {
      const key = await importNativeKey(alg, group.jwk);
      assert.ok(key, `${file}: WebCrypto refused a key the core takes`);
      for (const t of group.tests) {
        const verdict = await verifyNativeSignature(alg, key, bytes(t.sig), bytes(t.msg));
        cases += 1;
        if (verdict !== t.expected) wrong.push(`tc ${t.id}: WebCrypto said ${verdict}, the core says ${t.expected}`);
      }
    }
    assert.deepEqual(wrong, [], `${file}: WebCrypto and the core disagree`);
    assert.ok(cases > 100, `${file}: only ${cases} cases ran`);
  });
}
