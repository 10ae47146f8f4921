/**
 * JWT verification by the core, with keys given inline or fetched (JWKS URL or issuer
 * discovery). When a remote key set is fetched — every `cacheMaxAge` seconds, after a failure on
 * the core's retry curve, at once for an unknown `kid` at most once per `cooldown` — is the
 * core's schedule (the same as the edges'); this layer only fetches.
 */
import { call, fullCore, nowSecs } from './core.js';
import type { RemoteKeys, Verifier, VerifyStep } from './wasm/full/tokenwarden.js';
import { ConfigError, TokenwardenError } from './errors.js';
import { getDocument, type Fetch } from './http.js';
import { verifyNatively } from './native-crypto.js';

export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

export interface VerifyOptions {
  /** A JWKS document (object or JSON text). */
  jwks?: object | string;
  jwksUrl?: string;
  /** Expected `iss`; with neither `jwks` nor `jwksUrl`, the keys come from its discovery document. */
  issuer?: string | string[];
  audience?: string | string[];
  /** Accepted algorithms; by default whatever each key's type and `alg` allow. */
  algorithms?: JwtAlgorithm[];
  /** Clock skew tolerated, seconds (default 60). */
  leeway?: number;
  requiredClaims?: string[];
  /** Expected `typ` header, e.g. `at+jwt`. */
  typ?: string;
  /** Verification time in unix seconds (default: now). */
  now?: number;
  fetch?: Fetch;
  /** Seconds a fetched key set is reused (default 600). */
  cacheMaxAge?: number;
  /** Least seconds between fetches caused by unknown `kid`s (default 30). */
  cooldown?: number;
  /** Seconds past `cacheMaxAge` the last good keys stay in use while fetches fail (default 86400). */
  maxStale?: number;
}

export type JwtClaims = Record<string, unknown> & { iss?: string; sub?: string; aud?: string | string[]; exp?: number; iat?: number; nbf?: number; scope?: string };

interface RemoteEntry {
  keys: RemoteKeys;
  /** The fetch out, shared by concurrent callers. */
  pending: Promise<void> | undefined;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const remote = new Map<string, RemoteEntry>();
const inline = new Map<string, Verifier>();
const MAX_INLINE_VERIFIERS = 32;

function policyJson(o: VerifyOptions): string {
  return JSON.stringify({
    algorithms: o.algorithms ?? [],
    issuers: list(o.issuer),
    audiences: list(o.audience),
    leeway: o.leeway ?? 60,
    required_claims: o.requiredClaims ?? [],
    typ: o.typ ?? null,
  });
}

/** Verifies a JWT (signature, then `exp`/`nbf`/`iss`/`aud`/…); returns its claims or throws a `TokenwardenError`. */
export async function verifyJwt(token: string, options: VerifyOptions): Promise<JwtClaims> {
  const policy = policyJson(options);
  const now = options.now ?? nowSecs();
  if (options.jwks !== undefined) {
    const jwks = typeof options.jwks === 'string' ? options.jwks : JSON.stringify(options.jwks);
    const key = `${policy}\n${jwks}`;
    let verifier = inline.get(key);
    if (!verifier) {
      verifier = call(() => new (fullCore().Verifier)(jwks, policy, true));
      if (inline.size >= MAX_INLINE_VERIFIERS) inline.clear();
      inline.set(key, verifier);
    }
    const v = verifier;
    return finish(v, call(() => v.prepare(token, now)), now);
  }
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const url = options.jwksUrl ?? (await jwksUriOf(list(options.issuer)[0], fetchImpl));
  const refresh = options.cacheMaxAge ?? 600;
  const maxStale = options.maxStale ?? 86_400;
  const cacheKey = `${policy}\n${url}\n${refresh}\n${maxStale}`;
  let entry = remote.get(cacheKey);
  if (!entry) {
    const keys = call(() => new (fullCore().RemoteKeys)(policy, refresh, maxStale, FETCH_TIMEOUT_MS, true));
    remote.set(cacheKey, (entry = { keys, pending: undefined }));
  }
  const e = entry;
  if (e.keys.begin(Date.now())) await fetchKeys(e, url, fetchImpl);
  else if (e.pending && e.keys.isEmpty()) await e.pending;
  const prepare = () => call(() => e.keys.prepare(token, now, Date.now()));
  let step: VerifyStep;
  try {
    step = prepare();
  } catch (err) {
    const unknownKid = err instanceof TokenwardenError && err.code === 'unknown_key';
    if (!unknownKid || !e.keys.requestRefetch(Date.now(), options.cooldown ?? 30)) throw err;
    await fetchKeys(e, url, fetchImpl);
    step = prepare();
  }
  return finish(e.keys, step, now);
}

/** The claims of a prepared token: verified by the core already, or once WebCrypto has answered. */
function finish(
  verifier: { complete(step: VerifyStep, verdict: boolean | undefined, now: number): string },
  step: VerifyStep,
  now: number,
): Promise<JwtClaims> {
  const claims = step.claims();
  if (claims !== undefined) {
    step.free();
    return Promise.resolve(JSON.parse(claims) as JwtClaims);
  }
  return verifyNatively(step).then((verdict) => JSON.parse(call(() => verifier.complete(step, verdict, now))) as JwtClaims);
}

/** How long a JWKS fetch may stay out before the schedule lets another one start, ms. */
const FETCH_TIMEOUT_MS = 5000;

/** Fetches the key set the schedule asked for and hands the answer back; concurrent callers share it. */
function fetchKeys(entry: RemoteEntry, url: string, fetchImpl: Fetch): Promise<void> {
  entry.pending ??= (async () => {
    let status = 0;
    let body: Uint8Array = new Uint8Array();
    try {
      ({ status, body } = await getDocument(fetchImpl, url));
    } catch {
      // No answer: status 0.
    }
    entry.keys.fetched(status, body, Date.now());
  })().finally(() => {
    entry.pending = undefined;
  });
  return entry.pending;
}

const discovered = new Map<string, Promise<string>>();

function jwksUriOf(issuer: string | undefined, fetchImpl: Fetch): Promise<string> {
  if (!issuer) return Promise.reject(new ConfigError('invalid_config', 'verifyJwt needs jwks, jwksUrl or issuer', 503));
  let p = discovered.get(issuer);
  if (!p) {
    p = (async () => {
      const res = await getDocument(fetchImpl, call(() => fullCore().discoveryUrl(issuer)));
      const meta = JSON.parse(call(() => fullCore().parseDiscovery(res.status, res.body, issuer))) as { jwks_uri?: string };
      if (!meta.jwks_uri) throw new ConfigError('invalid_config', 'the issuer publishes no jwks_uri', 503);
      return meta.jwks_uri;
    })();
    p.catch(() => discovered.delete(issuer));
    discovered.set(issuer, p);
  }
  return p;
}

/** A new signing key as a private JWK (keep it secret); its public half is `publicJwk(jwk)`. */
export function generateSigningKey(alg: JwtAlgorithm, kid?: string): JsonWebKey & { kid?: string } {
  return JSON.parse(call(() => fullCore().generateSigningKey(alg, kid))) as JsonWebKey;
}

export function publicJwk(privateJwk: JsonWebKey): JsonWebKey & { kid?: string } {
  return JSON.parse(call(() => fullCore().publicJwk(JSON.stringify(privateJwk)))) as JsonWebKey;
}

/** Mints a compact JWS over `claims` with a private JWK (header `alg`, `kid`, optional `typ`). */
export function signJwt(claims: Record<string, unknown>, privateJwk: JsonWebKey, options: { typ?: string } = {}): string {
  return call(() => fullCore().mintJwt(JSON.stringify(privateJwk), JSON.stringify(claims), options.typ));
}
