/**
 * `AuthClient`: PKCE sign-in, refresh and expiry for browsers and mobile webviews. Every
 * decision (PKCE, state, when to refresh, what a refresh answer means, how long to back off)
 * is the core's; this class does the I/O around it: fetch, redirects, timers, storage, Web
 * Locks and BroadcastChannel between tabs, events.
 */
import { call, core, jitter, nowSecs, sleep } from './core.js';
import type { Client, Session } from './wasm/browser/tokenwarden.js';
import { ConfigError, NetworkError, SessionExpiredError, TokenwardenError } from './errors.js';
import { discoverMetadata, type ProviderMetadata } from './discovery.js';
import { getDocument, send, type Fetch } from './http.js';
import { MemoryStorage, webStorage, type StorageAdapter, type StoragePolicy } from './storage.js';

/** Explicit endpoints; beside an `issuer`, each one given overrides the discovered one. */
export interface Endpoints {
  authorization?: string;
  token?: string;
  /** RFC 9126 pushed authorization requests. */
  par?: string;
  /** RFC 7009 token revocation, used by `logout()`. */
  revocation?: string;
  /** OpenID Connect UserInfo, used by `userinfo()`. */
  userinfo?: string;
  /** OpenID RP-initiated logout, used by `logout({ endSession: true })`. */
  endSession?: string;
}

/**
 * How `loginWithCredentials` signs in: a platform's own endpoint taking a username and a
 * password (Olytix: `POST …/api/v1/auth/token`, JSON `{"username","password"}`), or the legacy
 * RFC 6749 §4.3 password grant at the token endpoint.
 */
export type CredentialLogin =
  | {
      endpoint: string;
      /** Default `json`. */
      bodyStyle?: 'form' | 'json';
      /** Field names; default `username` and `password`. */
      usernameField?: string;
      passwordField?: string;
    }
  | { passwordGrant: true };

export interface AuthClientConfig {
  /** OpenID issuer: endpoints come from its discovery document. */
  issuer?: string;
  /** Explicit endpoints, instead of (or overriding) discovery. */
  endpoints?: Endpoints;
  /** The registered client; with a platform's own credential login, any name for this app (storage keys). */
  clientId: string;
  /** `https://…`, `http://localhost…`, or a custom scheme such as `app://callback`; for `login()` only. */
  redirectUri?: string;
  /** Enables `loginWithCredentials`. */
  credentialLogin?: CredentialLogin;
  scopes?: string[];
  audience?: string;
  /** RFC 8707 resource indicator. */
  resource?: string;
  /** Token request bodies: `form` (RFC 6749, default) or `json`. */
  bodyStyle?: 'form' | 'json';
  /** Refreshes go here instead of the token endpoint (a platform's own `/auth/refresh`). */
  refreshEndpoint?: string;
  /** `token-only`: a refresh sends `refresh_token` alone (no `grant_type`, no `client_id`), as Olytix's `/auth/refresh` wants. */
  refreshBody?: 'grant' | 'token-only';
  storage?: StoragePolicy;
  /** Prefix of storage keys, lock and channel names; one per app and provider. */
  storageKey?: string;
  /** Send authorization requests through PAR (RFC 9126) when the provider advertises it; always when it requires it. */
  par?: boolean;
  /** Where the provider sends the browser after `logout({ endSession: true })`; must be registered there. */
  postLogoutRedirectUri?: string;
  /** Log requests and decisions, secrets redacted to a short prefix. */
  debug?: boolean | ((line: string) => void);
  fetch?: Fetch;
}

/**
 * `revocation_skipped`: `logout()` found no revocation endpoint (neither in the OpenID discovery
 * document nor in the RFC 8414 one, nor configured), so the refresh token was not revoked.
 */
export type AuthEvent = 'tokens_updated' | 'session_expired' | 'logout' | 'error' | 'revocation_skipped';
type Listener = (detail?: unknown) => void;

interface Decision {
  action: 'use' | 'refresh' | 'wait' | 'expired';
  retry_at?: number;
}

type Message =
  | { type: 'tokens'; tokens: string; offset: number; seq: number }
  | { type: 'logout' }
  | { type: 'expired' }
  | { type: 'hello' };

/** The user's claims (ID token, UserInfo): `sub` and whatever the provider releases. */
export type UserClaims = Record<string, unknown> & { sub: string };

/** RP-initiated logout: where the provider sends the browser back to, and a `state` for that page. */
export interface EndSessionOptions {
  postLogoutRedirectUri?: string;
  state?: string;
}

export interface FetchOptions {
  /** Replay a non-idempotent request (POST, PATCH) after a 401 refresh or a 429. */
  replayNonIdempotent?: boolean;
}

/** How long a new tab waits for a signed-in tab to share its session. */
const HELLO_WAIT_MS = 150;
/**
 * BroadcastChannel and Web Locks are not ordered with each other: a tab can get the refresh lock
 * before the message with the tokens the previous holder got. A shared counter of refreshes in
 * localStorage (not secret) tells it that newer tokens exist; it then waits this long for them.
 */
const HANDOFF_WAIT_MS = 2000;
/** Without localStorage, the refreshing tab keeps the lock this long after broadcasting instead. */
const HANDOFF_HOLD_MS = 100;

export class AuthClient {
  private readonly config: AuthClientConfig;
  private readonly fetchImpl: Fetch;
  private readonly tokens: StorageAdapter;
  private readonly transactions: StorageAdapter;
  private readonly keepAccessToken: boolean;
  private readonly prefix: string;
  private readonly channel: BroadcastChannel | undefined;
  private readonly listeners = new Map<AuthEvent, Set<Listener>>();
  private metadataPromise: Promise<ProviderMetadata> | undefined;
  private clientPromise: Promise<Client> | undefined;
  private session: Session | undefined;
  private generation = 0;
  /** The shared refresh counter's value for the tokens this tab holds. */
  private seq = 0;
  private seqWaiters: (() => void)[] = [];
  private inflight: Promise<void> | undefined;
  private readonly ready: Promise<void>;

  constructor(config: AuthClientConfig) {
    const given = config.endpoints;
    const secret = config as { clientSecret?: unknown; privateKey?: unknown };
    if (secret.clientSecret !== undefined || secret.privateKey !== undefined) {
      throw new ConfigError('invalid_config', 'AuthClient is a public client: a client secret or private key belongs on a server (WebClient or ServiceClient, Node or workerd entry)', 503);
    }
    const login = config.credentialLogin;
    const platformLogin = login && 'endpoint' in login ? login.endpoint : undefined;
    // A platform's own sign-in needs only somewhere to refresh; the password grant, a token endpoint.
    const codeFlow = !!(config.issuer || (given?.authorization && given.token));
    const credentials = !!((platformLogin && (given?.token || config.refreshEndpoint)) || (login && given?.token));
    if (!codeFlow && !credentials) {
      throw new ConfigError('invalid_config', 'AuthClient needs an issuer, the authorization and token endpoints, or a credentialLogin with a token or refresh endpoint', 503);
    }
    for (const url of [config.issuer, given?.authorization, given?.token, given?.par, given?.revocation, given?.userinfo, given?.endSession, config.refreshEndpoint, platformLogin]) {
      if (url) call(() => core().requireSecureEndpoint(url));
    }
    this.config = config;
    this.fetchImpl = config.fetch ?? globalThis.fetch.bind(globalThis);
    this.prefix = config.storageKey ?? `tokenwarden:${config.clientId}`;
    const policy = config.storage ?? 'memory';
    const stored = policy === 'memory' ? undefined : typeof policy === 'string' ? webStorage(policy === 'session' ? 'session' : 'local') : policy;
    if (policy !== 'memory' && !stored) throw new ConfigError('invalid_config', `storage "${String(policy)}" is not available here`, 503);
    this.tokens = stored ?? new MemoryStorage();
    this.keepAccessToken = policy !== 'refresh-token';
    // The transaction must survive the redirect even when tokens stay in memory.
    this.transactions = typeof policy === 'object' ? policy : (webStorage('session') ?? this.tokens);
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`${this.prefix}:tabs`) : undefined;
    this.channel?.addEventListener('message', (e: MessageEvent<Message>) => this.onMessage(e.data));
    this.ready = this.restore();
  }

  on(event: AuthEvent, listener: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * The authorization URL; the transaction (verifier, state, nonce) is stored for one use. With
   * PAR (RFC 9126) the core builds the push and reads its answer; the URL then carries only
   * `client_id` and `request_uri`.
   */
  async buildAuthorizeUrl(options: { prompt?: string; extraParams?: Record<string, string> } = {}): Promise<string> {
    const meta = await this.metadata();
    const c = this.config;
    const authorize = meta.authorization_endpoint;
    if (!authorize) throw new ConfigError('invalid_config', 'the provider has no authorization endpoint', 503);
    const redirectUri = c.redirectUri ?? '';
    const extra = Object.entries(options.extraParams ?? {}).flat();
    const scope = c.scopes?.join(' ');
    const par = meta.pushed_authorization_request_endpoint;
    if (par && (c.par === true || meta.require_pushed_authorization_requests === true)) {
      const begun = JSON.parse(
        call(() => core().beginPushedLogin(par, authorize, c.clientId, redirectUri, scope, c.resource, c.audience, options.prompt, extra)),
      ) as { request: unknown; transaction: unknown };
      await this.transactions.setItem(`${this.prefix}:tx`, JSON.stringify(begun.transaction));
      this.log(`login: pushed authorization request to ${par}`);
      const res = await this.send('pushed authorization request', JSON.stringify(begun.request));
      return call(() => core().pushedAuthorizationUrl(res.status, res.body, authorize, c.clientId));
    }
    const begun = JSON.parse(
      call(() => core().beginLogin(authorize, c.clientId, redirectUri, scope, c.resource, c.audience, options.prompt, extra)),
    ) as { url: string; transaction: unknown };
    await this.transactions.setItem(`${this.prefix}:tx`, JSON.stringify(begun.transaction));
    this.log(`login: authorization request to ${authorize}`);
    return begun.url;
  }

  /** Sends the browser to the provider's sign-in page. */
  async login(options: { prompt?: string; extraParams?: Record<string, string> } = {}): Promise<void> {
    globalThis.location.assign(await this.buildAuthorizeUrl(options));
  }

  /**
   * Finishes the sign-in at the redirect URL: checks `state` (a tampered or replayed redirect
   * is refused), turns provider errors into `OAuthError`, exchanges the code with the
   * verifier, stores the tokens and removes the code and state from the address bar.
   */
  async handleRedirectCallback(url: string = globalThis.location.href): Promise<void> {
    const key = `${this.prefix}:tx`;
    const transaction = await this.transactions.getItem(key);
    await this.transactions.removeItem(key);
    this.cleanUrl(url);
    const meta = await this.metadata();
    const client = await this.client();
    const issuer = meta.authorization_response_iss_parameter_supported ? meta.issuer : undefined;
    const request = call(() => client.completeLogin(url, transaction ?? undefined, issuer));
    const res = await this.send('code exchange', request);
    const now = nowSecs();
    const offset = res.date ? core().clockOffsetFromDate(res.date, now) : 0;
    const session = call(() => core().Session.fromExchange(res.status, res.body, transaction!, now, offset), request);
    await this.adopt(session, true);
  }

  /**
   * Signs in with a username and password (`credentialLogin` says where and how). The session
   * then refreshes, persists and is shared across tabs as one from `login()`. A refusal of the
   * credentials throws `InvalidCredentialsError` (`invalid_credentials`). The password is sent
   * once and never stored or logged.
   */
  async loginWithCredentials(credentials: { username: string; password: string }): Promise<void> {
    const login = this.config.credentialLogin;
    if (!login) throw new ConfigError('invalid_config', 'loginWithCredentials needs the credentialLogin option', 503);
    const { username, password } = credentials;
    let request: string;
    if ('endpoint' in login) {
      request = call(() =>
        core().credentialLoginRequest(login.endpoint, (login.bodyStyle ?? 'json') === 'json', login.usernameField ?? 'username', login.passwordField ?? 'password', username, password),
      );
    } else {
      const client = await this.client();
      request = call(() => client.passwordGrantRequest(username, password));
    }
    const res = await this.send('credential login', request);
    const now = nowSecs();
    const offset = res.date ? core().clockOffsetFromDate(res.date, now) : 0;
    const session = call(() => core().Session.fromCredentialLogin(res.status, res.body, now, offset), request, [password]);
    this.log(`credential login: access token ${core().redact(session.accessToken())}`);
    await this.adopt(session, true);
  }

  /**
   * The ID token's claims, decoded, or undefined when not signed in or without `openid`. The
   * ID token came from the token endpoint over TLS and its `nonce` was checked at sign-in
   * (OpenID Connect Core §3.1.3.7); it is not re-verified.
   */
  async getUser(): Promise<UserClaims | undefined> {
    await this.ready;
    const claims = this.session ? call(() => this.session!.idTokenClaims()) : undefined;
    return claims === undefined ? undefined : (JSON.parse(claims) as UserClaims);
  }

  /**
   * The provider's UserInfo answer for the signed-in user (GET with the access token). The core
   * refuses an answer whose `sub` is not the ID token's (OpenID Connect Core §5.3.4).
   */
  async userinfo(): Promise<UserClaims> {
    const url = (await this.metadata()).userinfo_endpoint;
    if (!url) throw new ConfigError('invalid_config', 'the provider has no userinfo_endpoint', 503);
    await this.getAccessToken();
    const session = this.session!;
    const res = await this.send('userinfo', call(() => session.userinfoRequest(url)));
    return JSON.parse(call(() => session.userinfoClaims(res.status, res.body))) as UserClaims;
  }

  /**
   * The provider's logout URL (OpenID RP-Initiated Logout 1.0): `id_token_hint`, `client_id`,
   * `post_logout_redirect_uri` (option or config) and `state`. `logout({ endSession: true })`
   * goes there; call this instead to open it yourself, before `logout()` drops the ID token.
   */
  async buildLogoutUrl(options: EndSessionOptions = {}): Promise<string> {
    await this.ready;
    const endpoint = (await this.metadata()).end_session_endpoint;
    if (!endpoint) throw new ConfigError('invalid_config', 'the provider has no end_session_endpoint', 503);
    const back = options.postLogoutRedirectUri ?? this.config.postLogoutRedirectUri;
    const hint = this.session?.idToken();
    return call(() => core().endSessionUrl(endpoint, this.config.clientId, hint, back, options.state));
  }

  /** Whether a session is held (it may still need a refresh). */
  async isAuthenticated(): Promise<boolean> {
    await this.ready;
    return !!this.session && !this.session.isEnded();
  }

  /** A valid access token, refreshed first when the core says so; one refresh for all callers and tabs. */
  async getAccessToken(): Promise<string> {
    await this.ready;
    for (;;) {
      const session = this.session;
      if (!session) throw new SessionExpiredError('session_expired', 'Not signed in', 401);
      const decision = JSON.parse(session.decide(nowSecs())) as Decision;
      this.log(`decide: ${decision.action}`);
      switch (decision.action) {
        case 'use':
          return session.accessToken();
        case 'expired':
          await this.expire(true);
          throw new SessionExpiredError('session_expired', 'The session has expired', 401);
        case 'wait': {
          const wait = Math.max(0, decision.retry_at! - nowSecs());
          throw new NetworkError(`the token endpoint could not be reached; the session is kept and retried in ${wait} s`);
        }
        case 'refresh':
          try {
            await this.refresh();
          } catch (e) {
            // A refresh that failed for a retryable reason leaves the session: a still-valid
            // access token is used, an expired one turns into `wait` on the next turn.
            if (!(e instanceof NetworkError) && !(e instanceof TokenwardenError && e.retryAfter !== undefined)) throw e;
          }
          if (this.session && (JSON.parse(this.session.decide(nowSecs())) as Decision).action === 'use') return this.session.accessToken();
      }
    }
  }

  /**
   * `fetch` with `Authorization: Bearer`. A 401 refreshes once and retries once; a 429 is
   * waited out per `Retry-After` (bounded, with jitter). Non-idempotent requests are not sent
   * twice unless `replayNonIdempotent` is set. Pass a replayable body (string, bytes, FormData).
   */
  async fetch(input: RequestInfo | URL, init: RequestInit = {}, options: FetchOptions = {}): Promise<Response> {
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const replay = core().mayReplay(method, options.replayNonIdempotent ?? false);
    const recovery = new (core().Recovery)();
    try {
      for (let rateLimited = 0; ; ) {
        const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
        headers.set('Authorization', `Bearer ${await this.getAccessToken()}`);
        const res = await this.fetchImpl(input, { ...init, headers });
        this.log(`fetch: ${method} ${withoutQuery(input)} → ${res.status}`);
        const date = res.headers.get('date');
        if (date) this.session?.observeDate(date, nowSecs());
        if (res.status === 429 && replay) {
          const delay = core().rateLimitDelay(res.headers.get('retry-after') ?? undefined, ++rateLimited, nowSecs(), jitter());
          if (delay === undefined) return res;
          this.log(`fetch: 429, waiting ${delay} s`);
          await sleep(delay * 1000);
          continue;
        }
        const session = this.session;
        if (!session || recovery.onResponse(res.status, session, nowSecs()) !== 'refresh') return res;
        let ok = true;
        try {
          await this.refresh(true);
        } catch {
          ok = false;
        }
        if (recovery.onRefreshed(ok) !== 'retry' || !replay) return res;
      }
    } finally {
      recovery.free();
    }
  }

  /**
   * Ends the session here and in the other tabs; tokens are removed from storage. The refresh
   * token is revoked at the provider's revocation endpoint (RFC 7009) when it has one, so a copy
   * left behind stops working; `{ revoke: false }` skips that. The session ends locally even when
   * the provider cannot be reached (an `error` event says so). `endSession` then sends the
   * browser to the provider's end-session endpoint, so its login session ends too.
   */
  async logout(options: { revoke?: boolean; endSession?: boolean | EndSessionOptions } = {}): Promise<void> {
    await this.ready;
    const end = options.endSession;
    const endSessionUrl = end ? await this.buildLogoutUrl(end === true ? {} : end) : undefined;
    const session = this.session;
    const revoked = session && options.revoke !== false ? this.revocationRequest(session) : undefined;
    this.dropSession();
    await this.tokens.removeItem(`${this.prefix}:tokens`);
    this.channel?.postMessage({ type: 'logout' } satisfies Message);
    this.emit('logout');
    try {
      const request = await revoked;
      if (request) {
        const res = await this.send('revoke', request);
        call(() => core().checkRevocationResponse(res.status, res.body), request);
      }
    } catch (e) {
      this.emit('error', e);
    }
    if (endSessionUrl) globalThis.location.assign(endSessionUrl);
  }

  /** The revocation request, built before the session is dropped; undefined when there is nothing to revoke. */
  private async revocationRequest(session: Session): Promise<string | undefined> {
    const tokens = session.tokens();
    const url = (await this.metadata()).revocation_endpoint ?? (await this.rfc8414RevocationEndpoint());
    if (!url) {
      // Never pretend: the refresh token stays valid at the provider until it expires.
      this.log('logout: the provider publishes no revocation_endpoint; the refresh token was not revoked');
      this.emit('revocation_skipped', { reason: 'no_revocation_endpoint' });
      return undefined;
    }
    const copy = call(() => core().Session.restore(tokens, 0));
    try {
      return call(() => copy.revocationRequest(this.config.clientId, url)) ?? undefined;
    } finally {
      copy.free();
    }
  }

  /** When the refresh token expires (unix seconds, server clock), when the provider said. */
  refreshExpiresAt(): number | undefined {
    return this.session?.refreshExpiresAt();
  }

  /** Stops listening to other tabs. */
  close(): void {
    this.channel?.close();
  }

  private refresh(force = false): Promise<void> {
    this.inflight ??= this.refreshOnce(force).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** One refresh across tabs: under a Web Lock, and only if no other tab refreshed meanwhile. */
  private async refreshOnce(force: boolean): Promise<void> {
    const seen = this.generation;
    const run = async (): Promise<void> => {
      if (this.generation !== seen) return;
      const shared = this.sharedCounter();
      if (shared !== undefined && shared > this.seq && (await this.tokensArrive(shared))) return;
      await this.refreshNow(force);
    };
    const locks = (globalThis.navigator as Navigator | undefined)?.locks;
    if (locks) await locks.request(`${this.prefix}:refresh`, run);
    else await run();
  }

  private async refreshNow(force: boolean): Promise<void> {
    const session = this.session;
    if (!session) throw new SessionExpiredError('session_expired', 'Not signed in', 401);
    if (!force && !session.canRefresh(nowSecs())) return;
    const client = await this.client();
    const request = call(() => session.refreshRequest(client, nowSecs()));
    let res;
    try {
      res = await this.send('refresh', request);
    } catch (e) {
      const delay = session.onRefreshNetworkFailure(nowSecs(), jitter());
      this.log(`refresh: no answer, next attempt in ${delay} s`);
      this.emit('error', e);
      throw e;
    }
    if (res.date) session.observeDate(res.date, nowSecs());
    try {
      call(() => session.onRefreshResponse(res.status, res.body, nowSecs(), jitter()), request);
    } catch (e) {
      this.emit('error', e);
      if (session.isEnded()) await this.expire(true);
      throw e;
    }
    this.log(`refresh: new tokens, access token ${core().redact(session.accessToken())}`);
    await this.adopt(session, true);
    if (this.channel && this.sharedCounter() === undefined) await sleep(HANDOFF_HOLD_MS);
  }

  /** The number of sign-ins and refreshes of this client in any tab, or undefined without localStorage. */
  private sharedCounter(): number | undefined {
    const value = webStorage('local')?.getItem(`${this.prefix}:refreshes`);
    return value === undefined ? undefined : Number(value ?? 0) || 0;
  }

  /** Whether another tab's tokens numbered `seq` arrive within HANDOFF_WAIT_MS. */
  private tokensArrive(seq: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), HANDOFF_WAIT_MS);
      const check = (): void => {
        if (this.seq < seq) return void this.seqWaiters.push(check);
        clearTimeout(timer);
        resolve(true);
      };
      check();
    });
  }

  /**
   * Replaced sessions are left to the garbage collector rather than freed: a refresh in
   * flight may still hold one when another tab's tokens arrive.
   */
  private async adopt(session: Session, announce: boolean, seq?: number): Promise<void> {
    this.session = session;
    this.generation++;
    if (announce) {
      // Advanced under the refresh lock (or at sign-in), so tabs agree on the order.
      const next = (this.sharedCounter() ?? this.seq) + 1;
      webStorage('local')?.setItem(`${this.prefix}:refreshes`, String(next));
      this.seq = next;
    } else if (seq !== undefined) {
      this.seq = Math.max(this.seq, seq);
    }
    for (const waiter of this.seqWaiters.splice(0)) waiter();
    const stored = this.keepAccessToken ? session.tokens() : session.tokensWithoutAccess();
    await this.tokens.setItem(`${this.prefix}:tokens`, JSON.stringify({ tokens: stored, offset: session.clockOffset() }));
    if (announce) this.channel?.postMessage({ type: 'tokens', tokens: session.tokens(), offset: session.clockOffset(), seq: this.seq } satisfies Message);
    this.emit('tokens_updated', { accessTokenExpiresAt: session.accessExpiresAt(), refreshTokenExpiresAt: session.refreshExpiresAt() });
  }

  private async expire(announce: boolean): Promise<void> {
    if (!this.session) return;
    this.dropSession();
    await this.tokens.removeItem(`${this.prefix}:tokens`);
    if (announce) this.channel?.postMessage({ type: 'expired' } satisfies Message);
    this.emit('session_expired');
  }

  private dropSession(): void {
    this.session?.end();
    this.session = undefined;
    this.generation++;
  }

  private onMessage(message: Message): void {
    switch (message.type) {
      case 'tokens':
        this.log('tabs: tokens from another tab');
        void this.adopt(call(() => core().Session.restore(message.tokens, message.offset)), false, message.seq);
        break;
      case 'hello':
        if (this.session) this.channel?.postMessage({ type: 'tokens', tokens: this.session.tokens(), offset: this.session.clockOffset(), seq: this.seq } satisfies Message);
        break;
      case 'logout':
        this.dropSession();
        this.emit('logout');
        break;
      case 'expired':
        void this.expire(false);
    }
  }

  /** Stored tokens first; with none, a signed-in tab may share its session. */
  private async restore(): Promise<void> {
    const key = `${this.prefix}:tokens`;
    const stored = await this.tokens.getItem(key);
    if (stored) {
      try {
        const { tokens, offset } = JSON.parse(stored) as { tokens: string; offset: number };
        this.session = call(() => core().Session.restore(tokens, offset));
        this.seq = this.sharedCounter() ?? 0;
        return;
      } catch (e) {
        // Unreadable storage (another version, tampering) is no session, not a client that fails forever.
        this.log('restore: stored tokens unreadable, discarded');
        await this.tokens.removeItem(key);
        this.emit('error', e);
      }
    }
    if (!this.channel) return;
    this.channel.postMessage({ type: 'hello' } satisfies Message);
    await sleep(HELLO_WAIT_MS);
  }

  private metadata(): Promise<ProviderMetadata> {
    this.metadataPromise ??= this.discover().catch((e: unknown) => {
      this.metadataPromise = undefined;
      throw e;
    });
    return this.metadataPromise;
  }

  /** Some providers list the revocation endpoint only in their RFC 8414 metadata. */
  private async rfc8414RevocationEndpoint(): Promise<string | undefined> {
    const issuer = this.config.issuer;
    if (!issuer) return undefined;
    try {
      const res = await getDocument(this.fetchImpl, call(() => core().authorizationServerMetadataUrl(issuer)));
      if (res.status !== 200) return undefined;
      const meta = JSON.parse(call(() => core().parseDiscovery(res.status, res.body, issuer))) as ProviderMetadata;
      return meta.revocation_endpoint ?? undefined;
    } catch (e) {
      this.log(`logout: the RFC 8414 metadata could not be read (${(e as Error).message})`);
      return undefined;
    }
  }

  private async discover(): Promise<ProviderMetadata> {
    const given = this.config.endpoints ?? {};
    const meta = await discoverMetadata(this.fetchImpl, this.config.issuer);
    // Field by field: an endpoint given overrides the discovered one, the others stay.
    meta.authorization_endpoint = given.authorization ?? meta.authorization_endpoint;
    meta.token_endpoint = given.token ?? meta.token_endpoint;
    meta.pushed_authorization_request_endpoint = given.par ?? meta.pushed_authorization_request_endpoint;
    meta.revocation_endpoint = given.revocation ?? meta.revocation_endpoint;
    meta.userinfo_endpoint = given.userinfo ?? meta.userinfo_endpoint;
    meta.end_session_endpoint = given.endSession ?? meta.end_session_endpoint;
    if (!meta.token_endpoint && !this.config.refreshEndpoint) {
      throw new ConfigError('invalid_config', 'the provider has no token endpoint', 503);
    }
    return meta;
  }

  private client(): Promise<Client> {
    this.clientPromise ??= this.metadata().then((meta) => {
      const c = this.config;
      const tokenUrl = meta.token_endpoint ?? c.refreshEndpoint!;
      return call(() => new (core().Client)(c.clientId, tokenUrl, c.refreshEndpoint, c.bodyStyle === 'json', c.refreshBody === 'token-only', c.scopes?.join(' '), c.resource, c.audience));
    });
    return this.clientPromise;
  }

  private async send(what: string, request: string) {
    const res = await send(this.fetchImpl, request);
    this.log(`${what}: HTTP ${res.status}`);
    return res;
  }

  private cleanUrl(url: string): void {
    const history = globalThis.history;
    const location = globalThis.location;
    if (!history || !location || location.href !== url) return;
    const clean = new URL(url);
    for (const p of ['code', 'state', 'error', 'error_description', 'error_uri', 'iss', 'session_state']) clean.searchParams.delete(p);
    history.replaceState(history.state, '', clean.toString());
  }

  private emit(event: AuthEvent, detail?: unknown): void {
    this.log(`event: ${event}`);
    for (const l of this.listeners.get(event) ?? []) l(detail);
  }

  private log(line: string): void {
    const debug = this.config.debug;
    if (!debug) return;
    if (typeof debug === 'function') debug(`tokenwarden: ${line}`);
    else console.debug(`tokenwarden: ${line}`);
  }
}

/** A URL for the debug log: a query may carry credentials (`access_token=`, signed URLs). */
function withoutQuery(input: RequestInfo | URL): string {
  const url = String(input instanceof Request ? input.url : input);
  const cut = url.search(/[?#]/);
  return cut < 0 ? url : `${url.slice(0, cut)}?…`;
}
