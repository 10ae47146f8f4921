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
