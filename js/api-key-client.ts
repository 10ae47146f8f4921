/**
 * `ApiKeyClient`: a server calling an API with its API key (DataPulse's SDK promise: retries
 * with backoff, `429` + `Retry-After`, timeouts). Server entries only (Node, workerd): an API key
 * in a page is everybody's key, so the browser build has no such class and this one refuses to
 * run where there is a `document`. When to retry and how long to wait is the core's
 * (`retryDelay`); this sends, times out and waits.
 */
import { core, fullCore, jitter, nowSecs, sleep } from './core.js';
import { ConfigError, NetworkError } from './errors.js';
import type { Fetch } from './http.js';

export interface ApiKeyClientConfig {
  apiKey: string;
  /** Relative request URLs resolve against it (`https://api.datapulse.ai/v1/`). */
  baseUrl?: string;
  /** `Authorization: Bearer <key>` by default, or a header of the key alone (`x-api-key`). */
  header?: string;
  /** Per attempt; default 30 s. */
  timeoutMs?: number;
  /** Retries of a transient failure (no answer, 502, 503, 504) or a `429`; default 3. */
  retries?: number;
  fetch?: Fetch;
}

export interface ApiKeyFetchOptions {
  /** Send a non-idempotent request (POST, PATCH) again after a failure; off by default. */
  replayNonIdempotent?: boolean;
}

export class ApiKeyClient {
  private readonly config: ApiKeyClientConfig;
  private readonly fetchImpl: Fetch;

  constructor(config: ApiKeyClientConfig) {
    if ('document' in globalThis) throw new ConfigError('invalid_config', 'ApiKeyClient runs on servers only: an API key in a page is public', 503);
    if (!/^[\x21-\x7e]{1,512}$/.test(config.apiKey ?? '')) throw new ConfigError('invalid_config', 'apiKey must be 1-512 printable ASCII characters, no spaces', 503);
    if (config.header !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(config.header)) throw new ConfigError('invalid_config', 'header must be an HTTP header name', 503);
    if ((config.retries ?? 3) < 0 || (config.timeoutMs ?? 30_000) <= 0) throw new ConfigError('invalid_config', 'retries must be ≥ 0 and timeoutMs > 0', 503);
    this.config = config;
    this.fetchImpl = config.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * `fetch` with the key. A `429` waits out its `Retry-After`; no answer within `timeoutMs`, a
   * 502, 503 or 504 is retried after a growing, jittered wait, up to `retries` times — for a
   * non-idempotent method only with `replayNonIdempotent`. The last answer is returned;
   * no answer at all throws `NetworkError`. Pass a replayable body (string, bytes, FormData).
   */
  async fetch(input: string | URL, init: RequestInit = {}, options: ApiKeyFetchOptions = {}): Promise<Response> {
    const url = new URL(input, this.config.baseUrl);
    const method = init.method ?? 'GET';
    const replay = core().mayReplay(method, options.replayNonIdempotent ?? false);
    const retries = replay ? (this.config.retries ?? 3) : 0;
    const headers = new Headers(init.headers);
    const header = this.config.header;
    if (header) headers.set(header, this.config.apiKey);
    else headers.set('Authorization', `Bearer ${this.config.apiKey}`);
    for (let attempt = 1; ; attempt++) {
      let res: Response | undefined;
      let failure: Error | undefined;
      try {
        res = await this.fetchImpl(url, { ...init, headers, signal: AbortSignal.timeout(this.config.timeoutMs ?? 30_000) });
      } catch (e) {
        failure = e as Error;
      }
      const delay = fullCore().retryDelay(res?.status ?? 0, res?.headers.get('retry-after') ?? undefined, attempt, retries, nowSecs(), jitter());
      if (delay === undefined) {
        if (res) return res;
        throw new NetworkError(`${method} ${url.origin}${url.pathname} got no answer: ${failure?.message ?? 'unknown'}`);
      }
      await res?.body?.cancel();
      await sleep(delay * 1000);
    }
  }
}
