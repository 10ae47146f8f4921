/**
 * `ServiceClient`: a server's own token by client credentials (RFC 6749 §4.4), cached until the
 * core says it is due for renewal, fetched once however many callers wait for it.
 */
import { call, core, nowSecs } from './core.js';
import type { Session } from './wasm/browser/tokenwarden.js';
import { ConfigError } from './errors.js';
import { getDocument, send, type Fetch } from './http.js';
import { confidentialClient, type ClientCredentials } from './confidential.js';

export interface ServiceClientConfig extends ClientCredentials {
  /** The token endpoint, or an `issuer` to discover it. */
  tokenEndpoint?: string;
  issuer?: string;
  scopes?: string[];
  audience?: string;
  resource?: string;
  bodyStyle?: 'form' | 'json';
  fetch?: Fetch;
}

export class ServiceClient {
  private readonly config: ServiceClientConfig;
  private readonly fetchImpl: Fetch;
  private tokenUrl: Promise<string> | undefined;
  private session: Session | undefined;
  private inflight: Promise<Session> | undefined;

  constructor(config: ServiceClientConfig) {
    if (!config.tokenEndpoint && !config.issuer) throw new ConfigError('invalid_config', 'ServiceClient needs a tokenEndpoint or an issuer', 503);
    this.config = config;
    this.fetchImpl = config.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** A valid access token, from the cache unless it is due for renewal. */
  async getToken(): Promise<string> {
    const cached = this.session;
    if (cached && !cached.renewalDue(nowSecs())) return cached.accessToken();
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return (await this.inflight).accessToken();
  }

  /** `fetch` with the service token; a 401 drops the cached token and retries once. */
  async fetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      headers.set('Authorization', `Bearer ${await this.getToken()}`);
      const res = await this.fetchImpl(input, { ...init, headers });
      const method = init.method ?? (input instanceof Request ? input.method : 'GET');
      if (res.status !== 401 || attempt > 0 || !core().mayReplay(method, false)) return res;
      this.session = undefined;
    }
  }

  private async fetchToken(): Promise<Session> {
    const c = this.config;
    const client = confidentialClient(c, { tokenUrl: await this.endpoint(), bodyStyle: c.bodyStyle, scope: c.scopes?.join(' '), resource: c.resource, audience: c.audience });
    let request: string;
    try {
      request = call(() => client.clientCredentialsRequest());
    } finally {
      client.free();
    }
    const res = await send(this.fetchImpl, request);
    const now = nowSecs();
    const offset = res.date ? core().clockOffsetFromDate(res.date, now) : 0;
    const session = call(() => core().Session.fromTokenResponse(res.status, res.body, now, offset), request);
    this.session = session;
    return session;
  }

  private endpoint(): Promise<string> {
    this.tokenUrl ??= this.resolve().catch((e: unknown) => {
      this.tokenUrl = undefined;
      throw e;
    });
    return this.tokenUrl;
  }

  private async resolve(): Promise<string> {
    const c = this.config;
    if (c.tokenEndpoint) return c.tokenEndpoint;
    const issuer = c.issuer!;
    const res = await getDocument(this.fetchImpl, call(() => core().discoveryUrl(issuer)));
    const url = (JSON.parse(call(() => core().parseDiscovery(res.status, res.body, issuer))) as { token_endpoint?: string }).token_endpoint;
    if (!url) throw new ConfigError('invalid_config', 'the provider has no token endpoint', 503);
    return url;
  }
}
