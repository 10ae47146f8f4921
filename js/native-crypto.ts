/**
 * The host's half of a delegated signature check (the core's `signature_check`): WebCrypto
 * verifies RSA and ECDSA in native code, several times faster than the core in wasm. The core
 * has already parsed the token, bound the algorithm, chosen the keys and checked the signature's
 * length; it reads the claims only after the verdict. Ed25519 and HMAC stay in the core, which
 * is faster at them (docs/benchmarks.md).
 */
import type { VerifyStep } from './wasm/full/tokenwarden.js';

/** The algorithms handed to WebCrypto (the core's `native` argument). */
export const NATIVE_ALGORITHMS = 'RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512';

interface Params {
  key: RsaHashedImportParams | EcKeyImportParams;
  verify: AlgorithmIdentifier | RsaPssParams | EcdsaParams;
}

const pkcs1 = (hash: string): Params => ({ key: { name: 'RSASSA-PKCS1-v1_5', hash }, verify: { name: 'RSASSA-PKCS1-v1_5' } });
// RFC 7518 §3.5: the salt is as long as the hash output.
const pss = (hash: string, saltLength: number): Params => ({ key: { name: 'RSA-PSS', hash }, verify: { name: 'RSA-PSS', saltLength } });
const ecdsa = (namedCurve: string, hash: string): Params => ({ key: { name: 'ECDSA', namedCurve }, verify: { name: 'ECDSA', hash } });

const PARAMS: Record<string, Params> = {
  RS256: pkcs1('SHA-256'),
  RS384: pkcs1('SHA-384'),
  RS512: pkcs1('SHA-512'),
  PS256: pss('SHA-256', 32),
  PS384: pss('SHA-384', 48),
  PS512: pss('SHA-512', 64),
  ES256: ecdsa('P-256', 'SHA-256'),
  ES384: ecdsa('P-384', 'SHA-384'),
  ES512: ecdsa('P-521', 'SHA-512'),
};

/** Imported keys of one key set, by the core's key id and algorithm; `undefined`: refused. */
export type NativeKeys = Map<string, Promise<CryptoKey | undefined>>;

/** `jwk` imported for `alg`, or `undefined` when this runtime does not take the algorithm or key. */
export function importNativeKey(alg: string, jwk: JsonWebKey): Promise<CryptoKey | undefined> {
  const subtle = globalThis.crypto?.subtle;
  const params = PARAMS[alg];
  if (!subtle || !params) return Promise.resolve(undefined);
  return subtle.importKey('jwk', jwk, params.key, false, ['verify']).then(
    (key) => key,
    () => undefined,
  );
}

/** WebCrypto's verdict on one signature; `undefined` when it cannot give one. Never throws. */
export async function verifyNativeSignature(alg: string, key: CryptoKey, signature: Uint8Array<ArrayBuffer>, input: Uint8Array<ArrayBuffer>): Promise<boolean | undefined> {
  const params = PARAMS[alg];
  if (!params) return undefined;
  try {
    return await globalThis.crypto.subtle.verify(params.verify, key, signature, input);
  } catch {
    return undefined;
  }
}

/**
 * WebCrypto's verdict on a step's signature: true if one candidate key verifies it. `undefined`
 * when this runtime cannot decide (no WebCrypto, an algorithm or a key it does not take): the core
 * then verifies. Never throws.
 */
export async function verifyNatively(step: VerifyStep, keys: NativeKeys): Promise<boolean | undefined> {
  const alg = step.alg();
  if (alg === undefined || !globalThis.crypto?.subtle || !PARAMS[alg]) return undefined;
  const ids = step.keyIds();
  // Copies out of wasm memory: plain ArrayBuffers.
  const input = step.input() as Uint8Array<ArrayBuffer>;
  const signature = step.signature() as Uint8Array<ArrayBuffer>;
  for (let n = 0; n < ids.length; n++) {
    const id = `${ids[n]} ${alg}`;
    let imported = keys.get(id);
    if (!imported) {
      imported = importNativeKey(alg, JSON.parse(step.keyJwk(n) ?? '{}') as JsonWebKey);
      keys.set(id, imported);
    }
    const key = await imported;
    const verdict = key && (await verifyNativeSignature(alg, key, signature, input));
    if (verdict !== false) return verdict;
  }
  return false;
}
