/** Sending the requests the core builds, and reading what comes back. */
import { NetworkError } from './errors.js';

/** An `HttpRequest` of the core, as its serde JSON. */
export interface CoreRequest {
  method: string;
  url: string;
  headers: [string, string][];
  body: string;
}

export interface CoreResponse {
  status: number;
  body: Uint8Array;
  date: string | null;
}

export type Fetch = typeof globalThis.fetch;

/** Sends a core request; a failure without an HTTP answer becomes a `NetworkError`. */
export async function send(fetchImpl: Fetch, requestJson: string): Promise<CoreResponse> {
  const req = JSON.parse(requestJson) as CoreRequest;
  let res: Response;
  try {
    res = await fetchImpl(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.method === 'GET' ? undefined : req.body,
    });
  } catch (e) {
    throw new NetworkError(`${req.method} ${req.url} failed: ${(e as Error).message}`);
  }
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), date: res.headers.get('date') };
}

/** A `GET` of a JSON document (discovery, JWKS). */
export async function getDocument(fetchImpl: Fetch, url: string): Promise<CoreResponse> {
  return send(fetchImpl, JSON.stringify({ method: 'GET', url, headers: [['Accept', 'application/json']], body: '' }));
}

/**
 * Request parameters that carry a credential: a provider answering such a request with an error
 * may echo one (Spring Security OAuth's "Invalid refresh token: <token>").
 */
const CREDENTIAL_PARAMS = ['code', 'code_verifier', 'refresh_token', 'access_token', 'client_secret', 'client_assertion', 'password', 'token', 'assertion', 'subject_token', 'actor_token'];

/**
 * The credentials a request the core built carries: its credential parameters (form or JSON
 * body), its `Authorization` header's credential (and, for Basic, the client secret in it), and
 * `also` (a credential under a configured field name).
 */
export function credentialsOf(requestJson: string, also: string[] = []): string[] {
  const out = [...also];
  try {
    const req = JSON.parse(requestJson) as CoreRequest;
    const header = (name: string) => req.headers.find(([n]) => n.toLowerCase() === name)?.[1];
    const json = header('content-type')?.includes('json');
    const body = (json ? JSON.parse(req.body || '{}') : Object.fromEntries(new URLSearchParams(req.body))) as Record<string, unknown>;
    for (const name of CREDENTIAL_PARAMS) if (typeof body[name] === 'string') out.push(body[name]);
    const [scheme, credential] = (header('authorization') ?? '').split(' ');
    if (credential) out.push(credential);
    if (credential && scheme?.toLowerCase() === 'basic') {
      const pair = atob(credential);
      const secret = pair.slice(pair.indexOf(':') + 1);
      out.push(pair, secret, new URLSearchParams(`s=${secret}`).get('s')!);
    }
  } catch {
    // Not a request of the core's: nothing more is known to be a credential.
  }
  return out.filter((c) => c.length > 0);
}
