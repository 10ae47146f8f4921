/**
 * `BackendTokenClient`: the app's own backend as the token source (GoPie's `createPublicToken`
 * behind `POST /api/gopie-token` → `{ token }`). What an answer means and when to ask again are
 * the core's (`oauth::token_source`, `Session::renewalDue`); this class fetches, shares one
 * request between callers, and between tabs through a Web Lock and a BroadcastChannel.
 */
import { call, core, nowSecs, sleep } from './core.js';
import type { Session } from './wasm/browser/tokenwarden.js';
import { ConfigError, NetworkError } from './errors.js';
import type { Fetch } from './http.js';
import type { FetchOptions } from './auth-client.js';

/** Where the backend hands out tokens. */
export interface TokenSource {
  /** Absolute, or relative to the page (`/api/gopie-token`). */
  endpoint: string;
  /** Default `POST`. */
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Default `same-origin`: the backend knows the user by its session cookie. */
  credentials?: RequestCredentials;
}

export interface BackendTokenClientConfig {
  tokenSource: TokenSource;
  /** Names the Web Lock and the BroadcastChannel; default `tokenwarden:<endpoint>`. */
  storageKey?: string;
  fetch?: Fetch;
}

type Message = { type: 'token'; tokens: string; offset: number };

/**
 * BroadcastChannel and Web Locks are not ordered with each other: the tab that fetched keeps the
 * lock this long after broadcasting, so a tab waiting for it finds the token already delivered
 * instead of asking the backend again. Its own callers get the token at once.
 */
const HANDOFF_HOLD_MS = 100;

export class BackendTokenClient {
  private readonly source: TokenSource;
  private readonly url: string;
  private readonly name: string;
  private readonly fetchImpl: Fetch;
  private readonly channel: BroadcastChannel | undefined;
  private session: Session | undefined;
  private inflight: Promise<Session> | undefined;

  constructor(config: BackendTokenClientConfig) {
    this.source = config.tokenSource;
    let url: string;
    try {
      url = new URL(this.source.endpoint, globalThis.location?.href).href;
    } catch {
      throw new ConfigError('invalid_config', 'tokenSource.endpoint must be a URL, or a path on a page', 503);
    }
    this.url = url;
    call(() => core().requireSecureEndpoint(url));
    this.name = config.storageKey ?? `tokenwarden:${url}`;
    this.fetchImpl = config.fetch ?? globalThis.fetch.bind(globalThis);
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`${this.name}:tabs`) : undefined;
    this.channel?.addEventListener('message', (e: MessageEvent<Message>) => this.onMessage(e.data));
  }

  /** A token the core does not consider due for renewal; one backend request for all callers and tabs. */
  async getToken(): Promise<string> {
    return (await this.current()).accessToken();
  }

  /**
   * `fetch` with `Authorization: Bearer`. A `401` drops the token, gets a new one and retries
   * once; non-idempotent requests are not sent twice unless `replayNonIdempotent` is set.
   */
  async fetch(input: RequestInfo | URL, init: RequestInit = {}, options: FetchOptions = {}): Promise<Response> {
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const replay = core().mayReplay(method, options.replayNonIdempotent ?? false);
    for (let attempt = 0; ; attempt++) {
      const session = await this.current();
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set('Authorization', `Bearer ${session.accessToken()}`);
      const res = await this.fetchImpl(input, { ...init, headers });
      if (res.status !== 401 || attempt > 0) return res;
      // The refused token is not used again, whether or not this request may be replayed.
      if (this.session === session) this.session = undefined;
      if (!replay) return res;
      await this.current(session.accessToken());
    }
  }

  /** Forgets the token here (the user signed out of the backend). */
  clear(): void {
    this.session = undefined;
  }

  /** Stops listening to other tabs. */
  close(): void {
    this.channel?.close();
  }

  private current(refused?: string): Promise<Session> {
    const session = this.session;
    if (session && !session.renewalDue(nowSecs())) return Promise.resolve(session);
    this.inflight ??= this.obtain(refused).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Under the tabs' lock: another tab's fresh token if one arrived meanwhile, else the backend's. */
  private obtain(refused: string | undefined): Promise<Session> {
    const locks = (globalThis.navigator as Navigator | undefined)?.locks;
    return new Promise<Session>((resolve, reject) => {
      const run = async (): Promise<void> => {
        const held = this.session;
        if (held && !held.renewalDue(nowSecs()) && held.accessToken() !== refused) return resolve(held);
        const session = await this.request();
        this.session = session;
        resolve(session);
        if (!this.channel) return;
        this.channel.postMessage({ type: 'token', tokens: session.tokens(), offset: session.clockOffset() } satisfies Message);
        if (locks) await sleep(HANDOFF_HOLD_MS);
      };
      const done = locks ? locks.request(`${this.name}:token`, run) : run();
      done.catch(reject);
    });
  }

  private async request(): Promise<Session> {
    const s = this.source;
    let res: Response;
    try {
      res = await this.fetchImpl(this.url, { method: s.method ?? 'POST', headers: { Accept: 'application/json', ...s.headers }, body: s.body, credentials: s.credentials ?? 'same-origin' });
    } catch (e) {
      throw new NetworkError(`the token source could not be reached: ${(e as Error).message}`);
    }
    const body = new Uint8Array(await res.arrayBuffer());
    const now = nowSecs();
    const date = res.headers.get('date');
    const offset = date ? core().clockOffsetFromDate(date, now) : 0;
    return call(() => core().Session.fromTokenSource(res.status, body, now, offset));
  }

  private onMessage(message: Message): void {
    if (message.type !== 'token') return;
    const session = call(() => core().Session.restore(message.tokens, message.offset));
    if (!session.renewalDue(nowSecs())) this.session = session;
  }
}
