/**
 * The host's half of a delegated signature check (the core's `signature_check`): WebCrypto
 * verifies RSA and ECDSA in native code, several times faster than the core in wasm. The core
 * has already parsed the token, bound the algorithm, chosen the keys and checked the signature's
 * length, and gives WebCrypto's parameters for the algorithm; it reads the claims only after the
 * verdict. Ed25519 and HMAC stay in the core, which is faster at them (docs/benchmarks.md).
 */
import { fullCore } from './core.js';
import type { VerifyStep } from './wasm/full/tokenwarden.js';

/** WebCrypto's algorithm identifiers for a JWS algorithm, as the core gives them. */
interface Params {
  import: RsaHashedImportParams | EcKeyImportParams;
  verify: AlgorithmIdentifier | RsaPssParams | EcdsaParams;
}

const params = new Map<string, Params | undefined>();

function paramsOf(alg: string): Params | undefined {
  if (!params.has(alg)) {
    const json = fullCore().webCrypto(alg);
    params.set(alg, json === undefined ? undefined : (JSON.parse(json) as Params));
  }
  return params.get(alg);
}

/** Imported keys by the core's key id (unique in the process) and algorithm; `null`: refused. */
const imported = new Map<string, CryptoKey | null>();
/** Keys kept imported; past it the cache starts again (key sets hold a handful). */
const MAX_IMPORTED = 256;

/** `jwk` imported for `alg`, or `undefined` when this runtime does not take the algorithm or key. */
export function importNativeKey(alg: string, jwk: JsonWebKey): Promise<CryptoKey | undefined> {
  const subtle = globalThis.crypto?.subtle;
  const p = paramsOf(alg);
  if (!subtle || !p) return Promise.resolve(undefined);
  return subtle.importKey('jwk', jwk, p.import, false, ['verify']).then(
    (key) => key,
    () => undefined,
  );
}

/** WebCrypto's verdict on one signature; `undefined` when it cannot give one. Never rejects. */
export function verifyNativeSignature(alg: string, key: CryptoKey, signature: Uint8Array<ArrayBuffer>, input: Uint8Array<ArrayBuffer>): Promise<boolean | undefined> {
  const p = paramsOf(alg);
  if (!p) return Promise.resolve(undefined);
  try {
    // Only a boolean is a verdict (a patched or polyfilled subtle could answer anything).
    return globalThis.crypto.subtle.verify(p.verify, key, signature, input).then(
      (ok: unknown) => (typeof ok === 'boolean' ? ok : undefined),
      () => undefined,
    );
  } catch {
    return Promise.resolve(undefined);
  }
}

/**
 * WebCrypto's verdict on a step's signature: true if one candidate key verifies it. `undefined`
 * when this runtime cannot decide (no WebCrypto, an algorithm or a key it does not take): the core
 * then verifies. Never rejects. Promise chains rather than `await`s: this is the hot path of
 * `verifyJwt`, and a key already imported is used without waiting.
 */
export function verifyNatively(step: VerifyStep): Promise<boolean | undefined> {
  const alg = step.alg();
  if (alg === undefined || !globalThis.crypto?.subtle || !paramsOf(alg)) return Promise.resolve(undefined);
  const ids = step.keyIds();
  // Copies out of wasm memory: plain ArrayBuffers.
  const input = step.input() as Uint8Array<ArrayBuffer>;
  const signature = step.signature() as Uint8Array<ArrayBuffer>;
  const attempt = (n: number): Promise<boolean | undefined> => {
    if (n >= ids.length) return Promise.resolve(false);
    const id = `${ids[n]} ${alg}`;
    const verify = (key: CryptoKey | null) =>
      key === null ? Promise.resolve(undefined) : verifyNativeSignature(alg, key, signature, input).then((ok) => (ok === false ? attempt(n + 1) : ok));
    const key = imported.get(id);
    if (key !== undefined) return verify(key);
    // `step` lives until this settles (then `complete` consumes it).
    return importNativeKey(alg, JSON.parse(step.keyJwk(n) ?? '{}') as JsonWebKey).then((k) => {
      if (imported.size >= MAX_IMPORTED) imported.clear();
      imported.set(id, k ?? null);
      return verify(k ?? null);
    });
  };
  return attempt(0);
}
