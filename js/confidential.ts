/**
 * How a server's client authenticates to the token endpoint (full build only): a secret sent
 * as HTTP Basic (`client_secret_basic`, the default) or in the body (`client_secret_post`), or
 * an RFC 7523 assertion signed with its private key (`private_key_jwt`).
 */
import { call, fullCore, nowSecs } from './core.js';
import type { Client } from './wasm/full/tokenwarden.js';
import { ConfigError } from './errors.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface ClientCredentials {
  clientId: string;
  clientSecret?: string;
  /** A private JWK (object or JSON text) whose public half the provider has registered. */
  privateKey?: JsonWebKey | string;
  /** Default: `private_key_jwt` with a `privateKey`, else `client_secret_basic`. */
  clientAuth?: ClientAuthMethod;
}

export interface TokenRequestOptions {
  tokenUrl: string;
  refreshUrl?: string;
  bodyStyle?: 'form' | 'json';
  scope?: string;
  resource?: string;
  audience?: string;
}

/**
 * The core's client for one request: a `private_key_jwt` assertion is minted now, for a minute,
 * so build one per request and free it after.
 */
export function confidentialClient(c: ClientCredentials, o: TokenRequestOptions): Client {
  const method = c.clientAuth ?? (c.privateKey !== undefined ? 'private_key_jwt' : 'client_secret_basic');
  const key = typeof c.privateKey === 'string' ? c.privateKey : c.privateKey && JSON.stringify(c.privateKey);
  const credential = method === 'private_key_jwt' ? key : c.clientSecret;
  if (!credential) throw new ConfigError('invalid_config', method === 'private_key_jwt' ? 'private_key_jwt needs privateKey (a private JWK)' : `${method} needs clientSecret`, 503);
  return call(() =>
    fullCore().confidentialClient(c.clientId, o.tokenUrl, o.refreshUrl, o.bodyStyle === 'json', method, credential, nowSecs(), o.scope, o.resource, o.audience),
  );
}
