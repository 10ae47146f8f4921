/**
 * Typed errors. Every error carries the core's stable `code` (see docs/js.md for the list);
 * `network_error` is the one code of this layer: the request got no HTTP answer.
 */

/** The provider's own RFC 6749 error, cleaned by the core. */
export interface ProviderError {
  error: string;
  error_description: string | null;
  error_uri: string | null;
}

interface CoreErrorJson {
  code: string;
  message: string;
  status: number;
  retry_after: number | null;
  oauth: ProviderError | null;
}

export class TokenwardenError extends Error {
  readonly code: string;
  /** The HTTP status the core maps this code to. */
  readonly status: number;
  /** Seconds after which a retry may succeed, when the core said. */
  readonly retryAfter: number | undefined;

  constructor(code: string, message: string, status = 401, retryAfter?: number) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The authorization server refused (`access_denied`, `invalid_client`, …). */
export class OAuthError extends TokenwardenError {
  readonly error: string;
  readonly errorDescription: string | undefined;
  readonly errorUri: string | undefined;

  constructor(json: CoreErrorJson, provider: ProviderError) {
    super(json.code, json.message, json.status);
    this.error = provider.error;
    this.errorDescription = provider.error_description ?? undefined;
    this.errorUri = provider.error_uri ?? undefined;
  }
}

/** The session is over (refresh token rejected or expired, signed out): sign in again. */
export class SessionExpiredError extends TokenwardenError {}

/** The redirect does not belong to a sign-in this client started (CSRF, replay). */
export class StateMismatchError extends TokenwardenError {}

/** The configuration or an argument is refused (insecure endpoint, secret key in a browser). */
export class ConfigError extends TokenwardenError {}

/** A username and password sign-in was refused (wrong password, unknown or locked user). */
export class InvalidCredentialsError extends TokenwardenError {}

/** A request got no HTTP answer (offline, DNS, CORS, timeout). */
export class NetworkError extends TokenwardenError {
  constructor(message: string) {
    super('network_error', message, 503);
  }
}

/**
 * The forms a credential can take in provider text as the core hands it over: as sent (raw,
 * percent- or form-encoded, escapes in either case, with or without `!'()*` escaped) and as the
 * core cleans a description (every character outside RFC 6749's set becomes a space).
 */
function forms(credential: string): string[] {
  const out = [credential, credential.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/gu, ' ')];
  try {
    const percent = encodeURIComponent(credential);
    const strict = percent.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    out.push(percent, strict, new URLSearchParams({ c: credential }).toString().slice(2));
    out.push(...out.slice(2).map((f) => f.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())));
  } catch {
    // A lone surrogate has no percent-encoding: such a credential was not sent encoded either.
  }
  return out;
}

/** The shortest start of a credential worth redacting where the core cut the text (512 chars). */
const MIN_CUT_PREFIX = 6;

/** Provider text with every credential of the request it answers, in any form it can take there, replaced. */
function redacted(text: string | null, credentials: string[]): string | null {
  if (text === null) return null;
  const all = credentials.filter((c) => c.length > 0).flatMap(forms).sort((a, b) => b.length - a.length);
  for (const form of all) text = text.split(form).join('[redacted]');
  // A credential the core's length cap cut in two: its start ends the text.
  for (const form of all) {
    for (let k = form.length - 1; k >= Math.min(MIN_CUT_PREFIX, form.length); k--) {
      if (text.endsWith(form.slice(0, k))) {
        text = `${text.slice(0, text.length - k)}[redacted]`;
        break;
      }
    }
  }
  return text;
}

/**
 * The typed error for what a wasm export threw (the core's error JSON). `credentials`: those of
 * the request whose answer the export read; a provider's error never carries them back out.
 */
export function fromCore(thrown: unknown, credentials: string[] = []): Error {
  if (typeof thrown !== 'string') return thrown instanceof Error ? thrown : new Error(String(thrown));
  const json = JSON.parse(thrown) as CoreErrorJson;
  const retryAfter = json.retry_after ?? undefined;
  if (json.oauth && json.code === 'oauth_error') {
    const { error, error_description, error_uri } = json.oauth;
    return new OAuthError(json, { error, error_description: redacted(error_description, credentials), error_uri: redacted(error_uri, credentials) });
  }
  switch (json.code) {
    case 'session_expired':
      return new SessionExpiredError(json.code, json.message, json.status, retryAfter);
    case 'state_mismatch':
      return new StateMismatchError(json.code, json.message, json.status, retryAfter);
    case 'invalid_credentials':
      return new InvalidCredentialsError(json.code, json.message, json.status, retryAfter);
    case 'invalid_config':
      return new ConfigError(json.code, json.message, json.status, retryAfter);
    default:
      return new TokenwardenError(json.code, json.message, json.status, retryAfter);
  }
}
