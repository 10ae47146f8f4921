/**
 * `ServiceClient`: a server's own token by client credentials (RFC 6749 §4.4), cached until the
 * core says it is due for renewal, fetched once however many callers wait for it.
 */
import { call, core, nowSecs } from './core.js';
import type { Client, Session } from './wasm/browser/tokenwarden.js';
import { ConfigError } from './errors.js';
import { getDocument, send, type Fetch } from './http.js';

export interface ServiceClientConfig {
  /** The token endpoint, or an `issuer` to discover it. */
  tokenEndpoint?: string;
  issuer?: string;
  clientId: string;
  clientSecret: string;
  scopes?: string[];
  audience?: string;
  resource?: string;
  bodyStyle?: 'form' | 'json';
  fetch?: Fetch;
}

export class ServiceClient {
  private readonly config: ServiceClientConfig;
  private readonly fetchImpl: Fetch;
  private client: Promise<Client> | undefined;
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
    const client = await this.endpoint();
    const res = await send(this.fetchImpl, call(() => client.clientCredentialsRequest()));
    const now = nowSecs();
    const offset = res.date ? core().clockOffsetFromDate(res.date, now) : 0;
    const session = call(() => core().Session.fromTokenResponse(res.status, res.body, now, offset));
    this.session = session;
    return session;
  }

  private endpoint(): Promise<Client> {
    this.client ??= this.resolve().catch((e: unknown) => {
      this.client = undefined;
      throw e;
    });
    return this.client;
  }

  private async resolve(): Promise<Client> {
    const c = this.config;
    let url = c.tokenEndpoint;
    if (!url) {
      const issuer = c.issuer!;
      const res = await getDocument(this.fetchImpl, call(() => core().discoveryUrl(issuer)));
      url = (JSON.parse(call(() => core().parseDiscovery(res.status, res.body, issuer))) as { token_endpoint?: string }).token_endpoint;
      if (!url) throw new ConfigError('invalid_config', 'the provider has no token endpoint', 503);
    }
    const tokenUrl = url;
    return call(() => new (core().Client)(c.clientId, tokenUrl, undefined, c.bodyStyle === 'json', c.clientSecret, c.scopes?.join(' '), c.resource, c.audience));
  }
}
