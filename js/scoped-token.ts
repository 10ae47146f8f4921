/**
 * `mintScopedToken`: a backend hands its browser a short-lived token limited to what the backend
 * itself is granted (GoPie's `createPublicToken`). The subset check, the lifetime cap and the
 * claims are the core's (`scoped_token`); server entries only.
 */
import { call, fullCore, nowSecs } from './core.js';

/** What the backend may hand out: permissions (`read:datasets` covers `read:datasets.sales`), datasets (none: any), the longest lifetime in seconds (≤ 86400). */
export interface ScopedTokenGrant {
  scopes: string[];
  datasets?: string[];
  maxTtl: number;
  /** String claims every token carries, e.g. `{ org: 'acme' }` for GoPie's `/v1/{org}/…` binding. */
  claims?: Record<string, string>;
}

export interface MintScopedTokenOptions {
  /** A private JWK with `alg` (see `generateSigningKey`); its public half is what the edge trusts for `issuer`. */
  privateKey: JsonWebKey;
  issuer: string;
  audience: string;
  grant: ScopedTokenGrant;
  /** The user the token is for (`sub`). */
  subject: string;
  scopes: string[];
  /** Required when the grant lists datasets. */
  datasets?: string[];
  /** Seconds; default and cap: `grant.maxTtl`. */
  expiresIn?: number;
}

/**
 * A JWT (`typ: at+jwt`) with `iss`, `aud`, `sub`, a fresh `jti`, `iat`, `exp`, `scope` and
 * `datasets`. Scopes or datasets beyond the grant throw `TokenwardenError` `grant_exceeded`.
 */
export function mintScopedToken(options: MintScopedTokenOptions): string {
  const { privateKey, grant } = options;
  const grantJson = JSON.stringify({ scopes: grant.scopes, datasets: grant.datasets ?? [], max_ttl: grant.maxTtl, claims: grant.claims ?? {} });
  const request = JSON.stringify({
    issuer: options.issuer,
    audience: options.audience,
    subject: options.subject,
    scopes: options.scopes,
    datasets: options.datasets ?? [],
    ttl: options.expiresIn,
  });
  return call(() => fullCore().mintScopedToken(JSON.stringify(privateKey), grantJson, request, nowSecs()));
}
