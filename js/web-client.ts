/**
 * `WebClient`: sign-in for a server-side web app, a confidential client (full build only). As
 * with openid-client: `authorizationUrl()` gives the URL and a transaction (PKCE verifier,
 * `state`, `nonce`) for the server to keep in its own session; `callback()` checks the redirect
 * against it and exchanges the code with the client's secret or private key; `refresh()`
 * renews. Tokens are returned, not stored: the server keeps them where it keeps sessions.
 */
import { call, core, fullCore, nowSecs } from './core.js';
import type { Client } from './wasm/full/tokenwarden.js';
import { ConfigError } from './errors.js';
import { discoverMetadata, type ProviderMetadata } from './discovery.js';
import { send, type Fetch } from './http.js';
import { confidentialClient, type ClientCredentials } from './confidential.js';

export interface WebClientConfig extends ClientCredentials {
  /** OpenID issuer: endpoints come from its discovery document. */
  issuer?: string;
  /** Explicit endpoints, instead of (or overriding) discovery. */
  endpoints?: { authorization?: string; token?: string };
  redirectUri: string;
  scopes?: string[];
  audience?: string;
  resource?: string;
  /** Token request bodies: `form` (RFC 6749, default) or `json` (DataPulse, GoPie). */
  bodyStyle?: 'form' | 'json';
  /** Refreshes go here instead of the token endpoint. */
  refreshEndpoint?: string;
  /** `false` leaves PKCE out, for a provider that refuses its parameters (GoPie's exchange has no `code_verifier`). Default `true`. */
  pkce?: boolean;
  fetch?: Fetch;
}

/** What the token endpoint answered, with lifetimes turned into times (unix seconds, this host's clock). */
export interface TokenSet {
  access_token: string;
  token_type: 'Bearer';
  expires_at: number | null;
  refresh_token: string | null;
  refresh_expires_at: number | null;
  id_token: string | null;
  scope: string | null;
}

export class WebClient {
  private readonly config: WebClientConfig;
  private readonly fetchImpl: Fetch;
  private metadataPromise: Promise<ProviderMetadata> | undefined;

  constructor(config: WebClientConfig) {
    const given = config.endpoints;
    if (!config.issuer && !(given?.authorization && given.token)) {
      throw new ConfigError('invalid_config', 'WebClient needs an issuer, or the authorization and token endpoints', 503);
    }
    for (const url of [config.issuer, given?.authorization, given?.token, config.refreshEndpoint]) {
      if (url) call(() => core().requireSecureEndpoint(url));
    }
    this.config = config;
    this.fetchImpl = config.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * The URL to redirect the user to, and the transaction to keep in the server's session (it
   * holds the PKCE verifier: keep it server-side, use it once).
   */
  async authorizationUrl(options: { prompt?: string; extraParams?: Record<string, string> } = {}): Promise<{ url: string; transaction: string }> {
    const meta = await this.metadata();
    const c = this.config;
    const extra = Object.entries(options.extraParams ?? {}).flat();
    const begun = JSON.parse(
      call(() => fullCore().beginConfidentialLogin(meta.authorization_endpoint!, c.clientId, c.redirectUri, c.scopes?.join(' '), c.resource, c.audience, options.prompt, extra, c.pkce !== false)),
    ) as { url: string; transaction: unknown };
    return { url: begun.url, transaction: JSON.stringify(begun.transaction) };
  }

  /**
   * Finishes the sign-in: `url` is the redirect the user arrived at (absolute, or the request's
   * path and query), `transaction` what `authorizationUrl()` returned. A forged or replayed
   * redirect throws `StateMismatchError`, a provider refusal `OAuthError`.
   */
  async callback(url: string, transaction: string): Promise<TokenSet> {
    const meta = await this.metadata();
    const absolute = new URL(url, this.config.redirectUri).href;
    const issuer = meta.authorization_response_iss_parameter_supported ? meta.issuer : undefined;
    const request = this.withClient(meta, (client) => client.completeLogin(absolute, transaction, issuer));
    const res = await send(this.fetchImpl, request);
    return JSON.parse(call(() => fullCore().tokenSet(res.status, res.body, transaction, nowSecs()), request)) as TokenSet;
  }

  /** New tokens for a refresh token (RFC 6749 §6); keep the new refresh token when one comes. */
  async refresh(refreshToken: string): Promise<TokenSet> {
    const meta = await this.metadata();
    const request = this.withClient(meta, (client) => client.refreshTokenRequest(refreshToken));
    const res = await send(this.fetchImpl, request);
    return JSON.parse(call(() => fullCore().tokenSet(res.status, res.body, undefined, nowSecs()), request)) as TokenSet;
  }

  /** Builds the request with a client made for it (a `private_key_jwt` assertion is per request). */
  private withClient(meta: ProviderMetadata, build: (client: Client) => string): string {
    const c = this.config;
    const client = confidentialClient(c, {
      tokenUrl: meta.token_endpoint!,
      refreshUrl: c.refreshEndpoint,
      bodyStyle: c.bodyStyle,
      scope: c.scopes?.join(' '),
      resource: c.resource,
      audience: c.audience,
    });
    try {
      return call(() => build(client));
    } finally {
      client.free();
    }
  }

  private metadata(): Promise<ProviderMetadata> {
    this.metadataPromise ??= this.discover().catch((e: unknown) => {
      this.metadataPromise = undefined;
      throw e;
    });
    return this.metadataPromise;
  }

  private async discover(): Promise<ProviderMetadata> {
    const given = this.config.endpoints ?? {};
    const meta = await discoverMetadata(this.fetchImpl, this.config.issuer);
    meta.authorization_endpoint = given.authorization ?? meta.authorization_endpoint;
    meta.token_endpoint = given.token ?? meta.token_endpoint;
    if (!meta.authorization_endpoint || !meta.token_endpoint) {
      throw new ConfigError('invalid_config', 'the provider has no authorization or token endpoint', 503);
    }
    return meta;
  }
}
